//! Bumper's rules: what a server chooses ([`BumperConfig`]) and the fixed numbers of
//! bumper-wire.md, turned into the integers a tick needs ([`Settings`]).

use bevy_ecs::prelude::Resource;
use kurve_shared::bumper::POS_SCALE;
use serde::{Deserialize, Serialize};

/// What a server chooses. Stored in every match log (a replay needs it), hence serde;
/// a missing field takes its default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BumperConfig {
    /// Simulation ticks per second.
    pub tick_hz: u32,
    /// The match clock, s (`--bumper-match-secs`).
    pub match_secs: u32,
    /// Points that win at once.
    pub target: u32,
}

impl Default for BumperConfig {
    fn default() -> Self {
        BumperConfig {
            tick_hz: 60,
            match_secs: 120,
            target: 10,
        }
    }
}

impl BumperConfig {
    /// These rules brought into the ranges [`BumperConfig::problem`] accepts.
    pub fn clamped(&self) -> BumperConfig {
        BumperConfig {
            tick_hz: self.tick_hz.clamp(1, 1000),
            match_secs: self.match_secs.clamp(1, 86_400),
            target: self.target.clamp(1, 1_000_000),
        }
    }

    /// Why these rules cannot be played, if they cannot (they come from saved bytes
    /// and logs too): every derived quantity must stay far from overflow.
    pub fn problem(&self) -> Option<&'static str> {
        if !(1..=1000).contains(&self.tick_hz) {
            return Some("tick_hz out of 1..=1000");
        }
        if !(1..=86_400).contains(&self.match_secs) {
            return Some("match_secs out of 1..=86400");
        }
        if !(1..=1_000_000).contains(&self.target) {
            return Some("target out of 1..=1000000");
        }
        None
    }
}

/// Simulated position units per pixel: positions are kept in 1/1024 px and sent in
/// 1/32 px (rounded down).
pub const FINE_PER_PX: i64 = 1024;
/// Simulated units per wire unit.
pub const FINE_PER_WIRE: i64 = FINE_PER_PX / POS_SCALE as i64;

/// The arena, px.
pub const ARENA_W: u32 = 1024;
pub const ARENA_H: u32 = 768;
/// Disc radius, px.
pub const DISC_R_PX: i64 = 20;
/// The floe's radius, px: at first, and at the end of the shrink.
pub const FLOE_R_PX: i64 = 360;
pub const FLOE_FINAL_R_PX: i64 = 200;
/// The floe shrinks over the last this-many ms of the match clock.
pub const SHRINK_MS: u32 = 30_000;
/// Acceleration at a full `move`, px/s².
pub const ACCEL_PX: i64 = 600;
/// Friction: velocity × (1 − 1.5/s) per tick, as per mille per second.
pub const FRICTION_PERMILLE: i64 = 1500;
/// Acceleration stops adding speed above this, px/s (a dash may exceed it).
pub const TOP_SPEED_PX: i64 = 300;
/// A dash's impulse, px/s.
pub const DASH_PX: i64 = 450;
/// No disc is ever faster than this, px/s: a bound for the integer arithmetic whatever
/// the contacts add up to (real play stays below 1,000).
pub const MAX_SPEED_PX: i64 = 4000;
/// A `move` vector's largest length.
pub const MOVE_MAX: i32 = 100;

/// Phase and rule times, ms.
pub const DASH_COOLDOWN_MS: u32 = 1500;
pub const TOUCH_MEMORY_MS: u32 = 3000;
pub const RESPAWN_MS: u32 = 2000;
pub const COUNTDOWN_MS: u32 = 3000;
pub const FINISHED_MS: u32 = 5000;
/// A disconnected player's seat is kept this long.
pub const DISCONNECT_GRACE_MS: u32 = 15_000;

/// The rules as a tick uses them, computed once from a [`BumperConfig`]. Not saved: a
/// restored game derives it again from its config.
#[derive(Resource, Clone, Debug)]
pub struct Settings {
    pub cfg: BumperConfig,
    /// Seats of this room, 2..=8.
    pub max_players: u8,
    pub hz: i64,
    /// The floe's centre, fine units.
    pub centre: [i64; 2],
    pub disc_r: i64,
    pub floe_r: i64,
    pub floe_final_r: i64,
    /// Fine units per second.
    pub accel: i64,
    pub top_speed: i64,
    pub dash: i64,
    pub max_speed: i64,
    /// Ticks.
    pub match_ticks: u64,
    pub shrink_ticks: u64,
    pub dash_cooldown: u64,
    pub touch_memory: u64,
    pub respawn: u64,
    pub countdown: u64,
    pub finished: u64,
    pub grace: u64,
}

/// Milliseconds as ticks, rounded up.
pub fn ms_to_ticks(ms: u32, hz: u32) -> u64 {
    (ms as u64 * hz as u64).div_ceil(1000)
}

impl Settings {
    /// `cfg` must be playable ([`BumperConfig::problem`]).
    pub fn new(cfg: BumperConfig, max_players: u8) -> Settings {
        let hz = cfg.tick_hz;
        let match_ticks = cfg.match_secs as u64 * hz as u64;
        Settings {
            max_players,
            hz: hz as i64,
            centre: [
                ARENA_W as i64 * FINE_PER_PX / 2,
                ARENA_H as i64 * FINE_PER_PX / 2,
            ],
            disc_r: DISC_R_PX * FINE_PER_PX,
            floe_r: FLOE_R_PX * FINE_PER_PX,
            floe_final_r: FLOE_FINAL_R_PX * FINE_PER_PX,
            accel: ACCEL_PX * FINE_PER_PX,
            top_speed: TOP_SPEED_PX * FINE_PER_PX,
            dash: DASH_PX * FINE_PER_PX,
            max_speed: MAX_SPEED_PX * FINE_PER_PX,
            match_ticks,
            shrink_ticks: ms_to_ticks(SHRINK_MS, hz).min(match_ticks),
            dash_cooldown: ms_to_ticks(DASH_COOLDOWN_MS, hz),
            touch_memory: ms_to_ticks(TOUCH_MEMORY_MS, hz),
            respawn: ms_to_ticks(RESPAWN_MS, hz),
            countdown: ms_to_ticks(COUNTDOWN_MS, hz),
            finished: ms_to_ticks(FINISHED_MS, hz),
            grace: ms_to_ticks(DISCONNECT_GRACE_MS, hz),
            cfg,
        }
    }
}

/// Fine units → wire units, rounded down.
pub fn wire(v: i64) -> i32 {
    v.div_euclid(FINE_PER_WIRE) as i32
}
