//! Every number of GAME.md in one struct, and the per-tick quantities derived from it.

use bevy_ecs::prelude::Resource;
use kurve_shared::game::POS_SCALE;
use serde::{Deserialize, Serialize};

use super::trig::{PI_Q62, Q62};

/// Game rules and defaults (GAME.md). Integers only, so the per-tick quantities derived
/// from it are bit-identical on every platform. `Default` is GAME.md's table.
///
/// Part of the input log (it is needed to replay a match), hence serde.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameConfig {
    /// Simulation ticks per second; every per-tick quantity is derived from it.
    pub tick_hz: u32,
    /// Arena width, px.
    pub arena_w: u32,
    /// Arena height, px.
    pub arena_h: u32,
    /// Head speed, px/s (90 → 1.5 px per tick at 60 Hz).
    pub speed_px_per_s: u32,
    /// Turn rate, milliradians per second (2950 → min turning radius ≈ 30.5 px).
    pub turn_rate_mrad_per_s: u32,
    /// Line radius, 1/32 px (96 = 3 px, a 6 px line). The head's collision radius is the
    /// player's current line radius.
    pub line_radius: i32,
    /// Own trail within `own_immunity_permille/1000 · (r_head + r_trail)` of arc length
    /// behind the head is ignored (1500 → 1.5×).
    pub own_immunity_permille: u32,
    /// Countdown before a round, ms.
    pub countdown_ms: u32,
    /// Pause after a round, ms.
    pub round_over_ms: u32,
    /// Pause after a match (`finished`), ms.
    pub match_over_ms: u32,
    /// Shortest solid stretch between gaps, ms.
    pub solid_min_ms: u32,
    /// Longest solid stretch between gaps, ms.
    pub solid_max_ms: u32,
    /// Shortest gap, in line widths of distance.
    pub gap_min_widths: u32,
    /// Longest gap, in line widths of distance.
    pub gap_max_widths: u32,
    /// Points to win per opponent: the target is `points_per_opponent · (N−1)`.
    pub points_per_opponent: u32,
    /// Lead needed over the second to win.
    pub min_lead: u32,
    /// Spawns keep this many minimum turning radii from walls.
    pub spawn_wall_turn_radii: u32,
    /// Spawns are at least this far apart, px.
    pub spawn_apart_px: u32,
    /// Items appear.
    pub items_enabled: bool,
    /// Shortest time between item spawns, ms.
    pub item_spawn_min_ms: u32,
    /// Longest time between item spawns, ms.
    pub item_spawn_max_ms: u32,
    /// Most items on the field at once.
    pub max_items: u32,
    /// Item radius, px.
    pub item_radius_px: u32,
    /// Items never spawn closer than this to a head (edge of item to head centre), px.
    pub item_head_clearance_px: u32,
    /// Length of most effects, ms.
    pub effect_ms: u32,
    /// Length of `ghost_self`, ms.
    pub ghost_ms: u32,
    /// Length of `wrap_all`, ms.
    pub wrap_ms: u32,
    /// A disconnected player's seat is kept this long, ms.
    pub disconnect_grace_ms: u32,
}

impl Default for GameConfig {
    fn default() -> Self {
        Self {
            tick_hz: 60,
            arena_w: 1024,
            arena_h: 768,
            speed_px_per_s: 90,
            turn_rate_mrad_per_s: 2950,
            line_radius: 3 * POS_SCALE,
            own_immunity_permille: 1500,
            countdown_ms: 3000,
            round_over_ms: 2000,
            match_over_ms: 5000,
            solid_min_ms: 2000,
            solid_max_ms: 4000,
            gap_min_widths: 4,
            gap_max_widths: 6,
            points_per_opponent: 10,
            min_lead: 2,
            spawn_wall_turn_radii: 2,
            spawn_apart_px: 80,
            items_enabled: true,
            item_spawn_min_ms: 3000,
            item_spawn_max_ms: 7000,
            max_items: 6,
            item_radius_px: 14,
            item_head_clearance_px: 40,
            effect_ms: 5000,
            ghost_ms: 3000,
            wrap_ms: 6000,
            disconnect_grace_ms: 15_000,
        }
    }
}

/// Sub-pixel units of the simulated position per wire unit: positions are kept in
/// 1/(32·32) px internally and rounded down to wire units for drawing and collision.
pub const FINE_PER_WIRE: i64 = 32;

/// Q16 fixed-point one (speed and radius multipliers).
pub const Q16: i64 = 1 << 16;

/// [`GameConfig`] plus what the systems need per tick, computed once.
#[derive(Resource, Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// The rules.
    pub cfg: GameConfig,
    /// Arena size, wire units.
    pub w: i32,
    /// Arena size, wire units.
    pub h: i32,
    /// Distance per tick at ×1 speed, fine units (1/1024 px).
    pub speed_fine: i64,
    /// Heading change per tick at ×1 speed, binary angle (2^32 per turn).
    pub turn_per_tick: i64,
    /// Minimum turning radius, wire units.
    pub min_turn_radius: i32,
    /// Smallest line radius (1 px), wire units.
    pub min_line_radius: i32,
    /// Item radius, wire units.
    pub item_radius: i32,
    /// Phase lengths, ticks.
    pub countdown_ticks: u64,
    /// Phase lengths, ticks.
    pub round_over_ticks: u64,
    /// Phase lengths, ticks.
    pub match_over_ticks: u64,
    /// Solid stretch bounds, ticks.
    pub solid_min_ticks: u32,
    /// Solid stretch bounds, ticks.
    pub solid_max_ticks: u32,
    /// Item spawn interval bounds, ticks.
    pub item_min_ticks: u32,
    /// Item spawn interval bounds, ticks.
    pub item_max_ticks: u32,
    /// Effect lengths, ticks.
    pub effect_ticks: u64,
    /// Effect lengths, ticks.
    pub ghost_ticks: u64,
    /// Effect lengths, ticks.
    pub wrap_ticks: u64,
    /// Seat kept after a disconnect, ticks.
    pub grace_ticks: u64,
}

fn ms_to_ticks(ms: u32, hz: u32) -> u64 {
    (ms as u64 * hz as u64).div_ceil(1000)
}

impl Settings {
    /// Derives the per-tick quantities.
    pub fn new(cfg: GameConfig) -> Self {
        let hz = cfg.tick_hz.max(1);
        let px = POS_SCALE as i64;
        // speed (px/s) → fine units per tick: px · 32 · 32 / hz.
        let speed_fine =
            (cfg.speed_px_per_s as i64 * px * FINE_PER_WIRE + hz as i64 / 2) / hz as i64;
        // turn (mrad/s) → binary angle per tick: mrad · 2^32 / (2π · 1000 · hz).
        let num: i128 = cfg.turn_rate_mrad_per_s as i128 * (1i128 << 32) * Q62;
        let den: i128 = 2 * PI_Q62 * 1000 * hz as i128;
        let turn_per_tick = ((num + den / 2) / den) as i64;
        // radius = v / ω (px) = speed / (mrad/1000).
        let min_turn_radius =
            (cfg.speed_px_per_s as i64 * 1000 * px / cfg.turn_rate_mrad_per_s.max(1) as i64) as i32;
        Self {
            w: cfg.arena_w as i32 * POS_SCALE,
            h: cfg.arena_h as i32 * POS_SCALE,
            speed_fine,
            turn_per_tick,
            min_turn_radius,
            min_line_radius: POS_SCALE,
            item_radius: cfg.item_radius_px as i32 * POS_SCALE,
            countdown_ticks: ms_to_ticks(cfg.countdown_ms, hz),
            round_over_ticks: ms_to_ticks(cfg.round_over_ms, hz),
            match_over_ticks: ms_to_ticks(cfg.match_over_ms, hz),
            solid_min_ticks: ms_to_ticks(cfg.solid_min_ms, hz).max(1) as u32,
            solid_max_ticks: ms_to_ticks(cfg.solid_max_ms, hz).max(1) as u32,
            item_min_ticks: ms_to_ticks(cfg.item_spawn_min_ms, hz).max(1) as u32,
            item_max_ticks: ms_to_ticks(cfg.item_spawn_max_ms, hz).max(1) as u32,
            effect_ticks: ms_to_ticks(cfg.effect_ms, hz),
            ghost_ticks: ms_to_ticks(cfg.ghost_ms, hz),
            wrap_ticks: ms_to_ticks(cfg.wrap_ms, hz),
            grace_ticks: ms_to_ticks(cfg.disconnect_grace_ms, hz),
            cfg,
        }
    }
}
