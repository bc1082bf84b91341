//! The game interface: what a game gives the room runtime, and nothing else the runtime
//! knows about it. Rooms, replays, the relay, the cluster and HTTP speak only these
//! traits; each game lives under `games/` and registers a [`GameKind`]
//! (docs/GAMES.md, "Write your own game").
//!
//! What a game provides: its World and systems (behind [`RoomGame::step`]), its input
//! ([`RoomGame::input`]), its snapshot and tick encoding, its settings
//! ([`RoomGame::client_config`]), when a round and a match end and the standings
//! ([`Outcome`]), and how its state is saved ([`SavedGame`]) and recorded
//! ([`Recording`]).
//!
//! What the runtime provides: members, roles and presence, the tick clock, the send
//! rate and `ticks` batching, the input budget, the snapshot on join and on resync,
//! supervision (restart from the last [`SavedGame`]), cluster placement and adoption,
//! replays with their verdict, match storage and metrics.
//!
//! Games are deterministic: the same seed and the same calls at the same ticks give the
//! same bytes, and [`RoomGame::state_hash`] says so ([`kit`] checks it).

pub mod envelope;
pub mod hash;
pub mod kit;
pub mod registry;

use std::sync::Arc;

use bytes::Bytes;
use kurve_shared::lobby::RoomPhase;
pub use kurve_shared::room::{GameInfo, Standing};
use serde_json::{Map, Value};

use crate::protocol::error::ChannelError;
pub use registry::Games;

/// One game the server hosts: made once, shared by every room of it.
pub trait GameKind: Send + Sync + 'static {
    /// Its id, name and seat range (`GET /api/games`).
    fn info(&self) -> GameInfo;

    /// A new room's game, waiting, with no players. `max_players` is already within the
    /// game's range.
    fn create(&self, seed: u64, max_players: u8) -> Box<dyn RoomGame>;

    /// A game from [`SavedGame::encode`]'s bytes — possibly written by another node,
    /// so checked, never believed: bad bytes are an error, not a panic.
    fn restore(&self, saved: &[u8]) -> Result<Box<dyn RoomGame>, GameDataError>;

    /// A recorded match from [`Outcome::log`]'s bytes, as stored: checked the same way.
    fn open_log(&self, log: &[u8]) -> Result<Arc<dyn Recording>, GameDataError>;
}

/// Bytes that are not a state or log of this game.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GameDataError(pub String);

/// Why a player could not be seated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeatError {
    /// Every seat is taken.
    #[error("room is full")]
    Full,
    /// A match is running (late joiners spectate).
    #[error("match already started")]
    AlreadyStarted,
    /// This user already has a seat.
    #[error("already seated")]
    AlreadySeated,
}

/// Whether the room's join reply or a replay's asks for the game's part of `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFor {
    Room,
    Replay,
}

/// A seated player as the runtime shows them (presence, listings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatView {
    pub seat: u8,
    pub user_id: String,
    pub name: String,
    pub ready: bool,
    pub connected: bool,
}

/// Where a game is, as the runtime needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// What a lobby's listing shows.
    pub listed: RoomPhase,
    /// No match is running: the runtime saves on every change while waiting.
    pub waiting: bool,
}

/// A JSON lifecycle event (`phase`, `round_start`, `match_end`, …), broadcast to every
/// member after the ticks before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    pub event: &'static str,
    pub payload: Value,
}

/// What one step produced.
#[derive(Debug, Default)]
pub struct Step {
    /// The tick's payload, encoded once (a MessagePack map whose `tick` key is
    /// [`RoomGame::tick`]); `None` when the game had nothing to send (it waits).
    pub tick: Option<Bytes>,
    /// JSON events, in order, sent after the tick.
    pub lifecycle: Vec<Lifecycle>,
    /// Set on the tick a match ends.
    pub outcome: Option<Outcome>,
}

/// A finished match, as stored and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The match's seed.
    pub seed: u64,
    /// Length in ticks.
    pub duration_ticks: u64,
    /// Rounds played (1 for a game without rounds).
    pub rounds: u32,
    /// The winner's user id.
    pub winner: Option<String>,
    /// Everyone who started the match, best first.
    pub standings: Vec<Standing>,
    /// The game's record of the match ([`GameKind::open_log`] reads it back).
    pub log: Vec<u8>,
}

/// One room's game. The runtime calls it from the room's task only, between ticks
/// or to step.
pub trait RoomGame: Send + 'static {
    /// Seats `user_id`; the seat number.
    fn add_player(&mut self, user_id: &str, name: &str) -> Result<u8, SeatError>;
    /// The player gave up the seat (`phx_leave`).
    fn remove_player(&mut self, user_id: &str);
    /// The player's socket went away or came back: the game keeps the seat for a while.
    fn set_connected(&mut self, user_id: &str, connected: bool);
    /// `ready {"ready"}`.
    fn set_ready(&mut self, user_id: &str, ready: bool);
    /// `input`: the payload as the client sent it (`seq` included, already checked by
    /// the runtime to be a u32 or absent). A payload the game refuses is
    /// `bad_payload` naming the field ([`crate::protocol::decode_json`]).
    fn input(
        &mut self,
        seat: Option<u8>,
        user_id: &str,
        payload: &Value,
        seq: Option<u32>,
    ) -> Result<(), ChannelError>;

    /// Advances one tick.
    fn step(&mut self) -> Step;
    /// Whether stepping would change nothing but the tick number: the room then stops
    /// ticking until a command arrives.
    fn is_idle(&self) -> bool;
    /// The last completed tick.
    fn tick(&self) -> u64;
    /// Ticks per second.
    fn tick_hz(&self) -> u32;
    fn status(&self) -> Status;
    /// Seated players by seat (those leaving excluded).
    fn seats(&self) -> Vec<SeatView>;
    /// The game's part of a join reply's `config` (the runtime adds its own fields).
    fn client_config(&self, config_for: ConfigFor) -> Map<String, Value>;
    /// The complete state, encoded: a MessagePack map with `tick` (join, resync).
    fn snapshot(&self) -> Bytes;
    /// A stable hash of the whole state (determinism checks).
    fn state_hash(&self) -> u64;
    /// The state a restart resumes from.
    fn save(&self) -> Arc<dyn SavedGame>;
}

/// A saved game: kept as is for a restart on this node, encoded for another node.
pub trait SavedGame: Send + Sync + 'static {
    /// A game that continues exactly where the saved one was.
    fn resume(&self) -> Box<dyn RoomGame>;
    /// The bytes [`GameKind::restore`] reads.
    fn encode(&self) -> Vec<u8>;
}

/// A recorded match, decoded and checked; shared by a replay's viewers.
pub trait Recording: Send + Sync + 'static {
    /// The match's first and last ticks.
    fn start_tick(&self) -> u64;
    fn end_tick(&self) -> u64;
    /// A playback from the match's first tick.
    fn play(&self) -> Box<dyn Playback>;
}

/// One re-simulation of a recording: the game as it was at [`Playback::tick`].
pub trait Playback: Send + 'static {
    /// Applies what the recording holds for this tick, then steps once.
    fn step(&mut self) -> Step;
    fn tick(&self) -> u64;
    fn tick_hz(&self) -> u32;
    /// The game's part of the replay's `config`.
    fn client_config(&self) -> Map<String, Value>;
    fn snapshot(&self) -> Bytes;
    fn state_hash(&self) -> u64;
    /// A position to come back to (replay checkpoints).
    fn checkpoint(&self) -> Box<dyn PlaybackCheckpoint>;
}

/// A saved playback position.
pub trait PlaybackCheckpoint: Send + Sync + 'static {
    fn resume(&self) -> Box<dyn Playback>;
}

/// Standings ranked by points (higher first), then by `tiebreak` (lower first, e.g.
/// falls); equal keys share a place. `won` is set for a sole first place only.
pub fn rank(mut lines: Vec<(Standing, u32)>) -> Vec<Standing> {
    lines.sort_by(|(a, at), (b, bt)| {
        b.points
            .cmp(&a.points)
            .then(at.cmp(bt))
            .then(a.seat.cmp(&b.seat))
    });
    let mut out: Vec<Standing> = Vec::with_capacity(lines.len());
    let mut prev: Option<(u32, u32, u32)> = None;
    for (i, (mut s, t)) in lines.into_iter().enumerate() {
        let place = match prev {
            Some((p, tb, place)) if p == s.points && tb == t => place,
            _ => i as u32 + 1,
        };
        prev = Some((s.points, t, place));
        s.place = place;
        s.won = false;
        out.push(s);
    }
    let firsts = out.iter().filter(|s| s.place == 1).count();
    if firsts == 1 {
        out[0].won = true;
    }
    out
}
