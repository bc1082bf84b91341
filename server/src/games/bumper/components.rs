//! Bumper's World: one entity per seat ([`Player`] + [`Disc`]) and the resources every
//! tick reads. Plain data; serde only for the saved game (restart and adoption) —
//! clients see the wire types `view.rs` builds.

use bevy_ecs::prelude::*;
use kurve_shared::bumper::{DiscUpdate, Event, Phase};
use kurve_shared::room::Standing;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::game::Lifecycle;

/// Most seats a room has.
pub const MAX_SEATS: usize = 8;

/// A seated player: who, and what they asked for.
#[derive(Component, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Player {
    /// 0..8: colour, and the order every system visits discs in.
    pub seat: u8,
    pub user_id: String,
    pub name: String,
    pub ready: bool,
    pub connected: bool,
    /// When the socket dropped (the seat is freed 15 s later).
    pub disconnected_at: Option<u64>,
    pub points: u32,
    pub falls: u32,
    /// The latest `move`, length ≤ 100; held until the next input (and while
    /// disconnected).
    pub mv: [i32; 2],
    /// A dash was accepted since the last tick.
    pub dash: bool,
    /// The last input `seq`: not game state (not logged, not hashed).
    pub seq: Option<u32>,
    /// `seq` changed since a disc update last carried it.
    pub ack_due: bool,
}

impl Player {
    /// A player just seated: connected, not ready, still.
    pub fn new(seat: u8, user_id: &str, name: &str) -> Player {
        Player {
            seat,
            user_id: user_id.into(),
            name: name.into(),
            ready: false,
            connected: true,
            disconnected_at: None,
            points: 0,
            falls: 0,
            mv: [0, 0],
            dash: false,
            seq: None,
            ack_due: false,
        }
    }
}

/// Who last touched a disc, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    pub seat: u8,
    pub at: u64,
}

/// A player's disc.
#[derive(Component, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disc {
    /// On the floe.
    pub alive: bool,
    /// Centre, fine units (1/1024 px).
    pub pos: [i64; 2],
    /// Fine units per second.
    pub vel: [i64; 2],
    /// The first tick it may dash again.
    pub dash_ready_at: u64,
    /// When it comes back after a fall.
    pub respawn_at: Option<u64>,
    pub touched: Option<Touch>,
}

/// Seat → entity. Systems visit seats through this, in order, never in query order.
#[derive(Resource, Clone, Debug, Default)]
pub struct Seats(pub [Option<Entity>; MAX_SEATS]);

impl Seats {
    /// Taken seats in order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, Entity)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|e| (i as u8, e)))
    }
}

/// The number of the last completed tick.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    pub tick: u64,
}

/// Someone who started the current match (standings include those who left).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub seat: u8,
    pub user_id: String,
    pub name: String,
    /// Points and falls when they left, if they did.
    pub left_with: Option<(u32, u32)>,
}

/// Phase and match bookkeeping.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchState {
    /// Every match's RNG derives from it.
    pub room_seed: u64,
    pub phase: Phase,
    pub phase_ends_at: Option<u64>,
    /// Set when play begins.
    pub match_ends_at: Option<u64>,
    /// Matches started in this room.
    pub match_index: u64,
    /// The current match's seed.
    pub match_seed: u64,
    /// The tick the match's countdown began.
    pub started_at: u64,
    /// The floe's radius, fine units.
    pub floe_r: i64,
    pub participants: Vec<Participant>,
}

/// The spawn spots' stream, seeded per match.
#[derive(Resource, Clone, Debug, Serialize, Deserialize)]
pub struct SpawnRng(pub ChaCha8Rng);

/// A match that just ended, as `step` completes it into an [`crate::game::Outcome`].
#[derive(Clone, Debug)]
pub struct Ended {
    pub seed: u64,
    pub duration_ticks: u64,
    pub winner: Option<String>,
    pub standings: Vec<Standing>,
}

/// What the next tick sends; drained by every step.
#[derive(Resource, Clone, Debug, Default)]
pub struct Outbox {
    pub discs: Vec<DiscUpdate>,
    pub floe_r: Option<i32>,
    /// Kept in a saved game: events of calls made since the last tick.
    pub events: Vec<Event>,
    pub lifecycle: Vec<Lifecycle>,
    pub ended: Option<Ended>,
}
