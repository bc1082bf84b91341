//! ECS components and resources of the simulation. Plain data. They derive `Serialize`
//! only for the saved state ([`super::SavedGame`], kept for resume and adoption); what
//! clients see is built from them by `snapshot.rs` as wire types.

use bevy_ecs::prelude::*;
use kurve_shared::game::grid::SegmentGrid;
use kurve_shared::game::{Draw, Event, HeadUpdate, ItemKind, Phase, Pt, RoomEvent};
use rand_chacha::ChaCha8Rng;

use super::config::FINE_PER_WIRE;

/// Most seats a room can have (colours, and the `u8` target masks of effects).
pub const MAX_SEATS: usize = 8;

/// A seated player: identity, controls and score.
#[derive(Component, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Player {
    /// Seat index (0..8): colour, and the order every system iterates in.
    pub seat: u8,
    /// User id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Pressed ready.
    pub ready: bool,
    /// Socket connected.
    pub connected: bool,
    /// Tick at which the socket dropped (the seat expires `grace_ticks` later).
    pub disconnected_at: Option<u64>,
    /// Points in the current match.
    pub score: u32,
    /// Latest input: -1 left, 0 straight, +1 right; kept while disconnected.
    pub turn: i8,
    /// Asked to leave; removed (and counted dead) by the next tick.
    pub leaving: bool,
    /// The `seq` of the latest input applied (clients that predict send one). Not game
    /// state: it steers nothing, is neither logged nor hashed, so replays and state
    /// hashes are the same with or without it.
    #[serde(default)]
    pub seq: Option<u32>,
    /// `seq` changed since the last head update that carried it (acks go out only when
    /// they change, to keep ticks small).
    #[serde(default)]
    pub ack_due: bool,
}

/// Whether a head draws this tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GapState {
    /// Drawing; a gap starts after this many more moving ticks.
    Solid {
        /// Ticks left.
        ticks_left: u32,
    },
    /// Not drawing for this much more distance (fine units).
    Gap {
        /// Distance left.
        dist_left: i64,
    },
}

/// A player's head on the field.
#[derive(Component, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    /// On the field and alive this round.
    pub alive: bool,
    /// Position, fine units (1/1024 px); the drawn position is `wire(pos)`.
    pub pos: [i64; 2],
    /// Position at the start of this tick, wire units.
    pub prev: Pt,
    /// Heading, binary angle (2^32 per turn), 0 = +x, increasing towards +y.
    pub heading: u32,
    /// Arc length travelled this round, fine units.
    pub odometer: i64,
    /// Line (and head collision) radius now, wire units.
    pub radius: i32,
    /// Speed and turn-rate multiplier, Q16.
    pub speed_q16: i64,
    /// Left and right swapped.
    pub reversed: bool,
    /// No trail, passes through trails and heads.
    pub ghost: bool,
    /// Gap timing.
    pub gap: GapState,
    /// Index in [`Trails::lines`] of the polyline being extended.
    pub open: Option<u32>,
    /// What the head did this tick (sent in the tick's `heads`).
    pub draw: Draw,
    /// Moved or turned this tick.
    pub moved: bool,
}

impl Head {
    /// A head off the field.
    pub fn idle(radius: i32) -> Self {
        Self {
            alive: false,
            pos: [0, 0],
            prev: [0, 0],
            heading: 0,
            odometer: 0,
            radius,
            speed_q16: super::config::Q16,
            reversed: false,
            ghost: false,
            gap: GapState::Solid { ticks_left: 1 },
            open: None,
            draw: Draw::Still,
            moved: false,
        }
    }

    /// The drawn position, wire units.
    pub fn wire_pos(&self) -> Pt {
        wire(self.pos)
    }
}

/// Fine position → wire units (rounding down).
pub fn wire(p: [i64; 2]) -> Pt {
    [
        p[0].div_euclid(FINE_PER_WIRE) as i32,
        p[1].div_euclid(FINE_PER_WIRE) as i32,
    ]
}

/// Seat → player entity. Systems iterate seats in order through this, never in raw
/// query order.
#[derive(Resource, Clone, Debug, Default)]
pub struct Seats(pub [Option<Entity>; MAX_SEATS]);

impl Seats {
    /// Occupied seats in order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, Entity)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|e| (i as u8, e)))
    }
}

/// The clock: the number of the last completed tick.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Clock {
    /// Last completed tick (0 before the first).
    pub tick: u64,
}

/// A participant of the current match (for standings even after they leave).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Participant {
    /// Seat at match start.
    pub seat: u8,
    /// User id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Points when they left, if they did.
    pub left_with: Option<u32>,
}

/// Phase, round and match bookkeeping.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MatchState {
    /// The room's seed; every match's RNG streams derive from it.
    pub room_seed: u64,
    /// Current phase.
    pub phase: Phase,
    /// Tick at which the current phase ends by itself.
    pub phase_ends_at: Option<u64>,
    /// Round number in the match (0 before the first).
    pub round: u32,
    /// Matches started so far in this room (the RNG of match `k` derives from it).
    pub match_index: u64,
    /// Seed of the current match's RNG streams.
    pub match_seed: u64,
    /// Tick at which the match started.
    pub started_at: u64,
    /// Players at match start (N).
    pub n_at_start: u8,
    /// Points to win (0 in practice).
    pub target: u32,
    /// A lone player practising: rounds run, no match end.
    pub practice: bool,
    /// Players placed at the start of this round.
    pub round_players: u8,
    /// Everyone who started the match, by seat.
    pub participants: Vec<Participant>,
    /// The match was decided; `finished` follows the round-over pause.
    pub decided: bool,
    /// Fewer than two players remain: the match ends by forfeit.
    pub forfeit: bool,
    /// A practice session must stop (someone joined or the player un-readied).
    pub abort_practice: bool,
    /// Next item id.
    pub next_item_id: u32,
    /// Next effect id.
    pub next_effect_id: u32,
    /// Tick at which the next item spawns.
    pub next_item_at: u64,
}

/// One unbroken polyline of trail.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrailLine {
    /// Owner's seat.
    pub seat: u8,
    /// Radius, wire units.
    pub r: i32,
    /// Points, wire units.
    pub points: Vec<Pt>,
}

/// Every trail of the round: the polylines (what the client draws) and the same
/// segments in a spatial grid (what collides).
#[derive(Resource, Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Trails {
    /// Polylines in creation order.
    pub lines: Vec<TrailLine>,
    /// Segment index for collision queries.
    pub grid: SegmentGrid,
    /// Running hash of every segment laid since the last clear (for `state_hash`
    /// without walking the whole trail each tick).
    pub digest: u64,
}

/// An item on the field.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldItem {
    /// Id.
    pub id: u32,
    /// Kind.
    pub kind: ItemKind,
    /// Centre, wire units.
    pub pos: Pt,
}

/// Items on the field, by id.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Field {
    /// Items, in spawn order.
    pub items: Vec<FieldItem>,
}

/// An active effect.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActiveEffect {
    /// Id.
    pub id: u32,
    /// Kind.
    pub kind: ItemKind,
    /// Picker's seat.
    pub by: u8,
    /// Bit `s` set: applies to seat `s`.
    pub targets: u8,
    /// Tick at which it ends.
    pub ends_at: u64,
}

/// Active effects in start order.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Effects {
    /// Effects.
    pub list: Vec<ActiveEffect>,
}

/// The round's RNG streams, one per purpose (and per seat for gaps), so one player's
/// draws never shift another's.
#[derive(Resource, Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Rngs {
    /// Spawn positions and headings.
    pub spawn: ChaCha8Rng,
    /// Item timing, kinds and positions.
    pub items: ChaCha8Rng,
    /// Gap timing and lengths, per seat.
    pub gaps: Vec<ChaCha8Rng>,
}

/// Deaths found this tick, resolved together.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Deaths {
    /// `(seat, cause, by)` in seat order.
    pub list: Vec<(u8, kurve_shared::game::DeathCause, Option<u8>)>,
}

/// What a tick produced, drained by `Game::step`.
#[derive(Resource, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Outbox {
    /// Head updates by seat.
    pub heads: Vec<HeadUpdate>,
    /// Tick events in order.
    pub events: Vec<Event>,
    /// JSON lifecycle events in order.
    #[serde(skip)]
    pub lifecycle: Vec<RoomEvent>,
    /// The match just ended: its record (the input log is attached by `Game`).
    #[serde(skip)]
    pub record: Option<super::MatchRecord>,
}
