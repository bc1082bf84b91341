//! The input log: seed, config and every tick-stamped command — enough to replay a match.

use serde::{Deserialize, Serialize};

use super::config::GameConfig;
use super::{Game, MatchRecord};

/// A command applied to the game between two ticks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// A player as seated when the log began (full state, explicit seat). Boxed, like
    /// every variant that carries strings, so a logged turn costs a few bytes.
    Seat(Box<SeatedPlayer>),
    /// `add_player`.
    Add(Box<AddedPlayer>),
    /// `remove_player`.
    Remove {
        /// User id.
        user_id: String,
    },
    /// `set_connected`.
    Connected {
        /// User id.
        user_id: String,
        /// Connected.
        connected: bool,
    },
    /// `set_ready`.
    Ready {
        /// User id.
        user_id: String,
        /// Ready.
        ready: bool,
    },
    /// `set_input` (only when the value changes), by seat: what every match logs most,
    /// so it holds no string.
    Turn {
        /// Seat.
        seat: u8,
        /// -1, 0, +1.
        turn: i8,
    },
    /// `set_input` by user id, as logs written before `Turn` have it.
    Input {
        /// User id.
        user_id: String,
        /// -1, 0, +1.
        turn: i8,
    },
}

/// [`Command::Seat`]'s fields.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SeatedPlayer {
    /// Seat.
    pub seat: u8,
    /// User id.
    pub user_id: String,
    /// Name.
    pub name: String,
    /// Ready flag.
    pub ready: bool,
    /// Connected.
    pub connected: bool,
    /// Tick of the disconnect.
    pub disconnected_at: Option<u64>,
    /// Last input.
    pub turn: i8,
}

/// [`Command::Add`]'s fields.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AddedPlayer {
    /// User id.
    pub user_id: String,
    /// Name.
    pub name: String,
}

/// A command and the tick after which it was applied (it affects tick `tick + 1`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Last completed tick when the command was applied.
    pub tick: u64,
    /// The command.
    pub cmd: Command,
}

/// Everything needed to replay: the room seed, config, the state the log starts from
/// (tick, match counter, seated players) and every command since.
///
/// A new log begins whenever a match is about to start, so the log of a finished match
/// (attached to its [`MatchRecord`]) replays just that match.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InputLog {
    /// Room seed.
    pub seed: u64,
    /// Rules.
    pub config: GameConfig,
    /// Seats.
    pub max_players: u8,
    /// Tick the log starts at.
    pub start_tick: u64,
    /// Matches started before the log began.
    pub match_index: u64,
    /// Commands in order.
    pub entries: Vec<LogEntry>,
    /// Last tick to replay to (set for a finished match's log).
    pub end_tick: Option<u64>,
    /// The match logged more than [`MAX_LOG_ENTRIES`] commands: the rest were not kept,
    /// so this log does not replay the match.
    #[serde(default)]
    pub truncated: bool,
}

/// Most commands one match's log keeps (inputs are logged only when they change, and at
/// most 120 a second per socket arrive): about an hour of eight players turning five
/// times a second, and a bound on a room's memory whatever its players send (a logged
/// turn is 48 bytes with no allocation of its own: 12 MB at the bound).
pub const MAX_LOG_ENTRIES: usize = 250_000;

impl InputLog {
    /// MessagePack (named fields).
    pub fn to_bytes(&self) -> Result<Vec<u8>, rmp_serde::encode::Error> {
        rmp_serde::to_vec_named(self)
    }

    /// Decodes [`InputLog::to_bytes`].
    /// A corrupt log is an error, never a panic: nesting is capped far below what
    /// would exhaust a thread's stack (a real log nests four levels).
    pub fn from_bytes(b: &[u8]) -> Result<Self, rmp_serde::decode::Error> {
        let mut de = rmp_serde::Deserializer::from_read_ref(b);
        de.set_max_depth(32);
        Self::deserialize(&mut de)
    }
}

/// What a replay produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayResult {
    /// `state_hash` after each replayed tick, from `start_tick + 1` to the end.
    pub hashes: Vec<u64>,
    /// `(user_id, score)` of the seated players at the end, by seat.
    pub scores: Vec<(String, u32)>,
    /// Records of matches that ended during the replay.
    pub records: Vec<MatchRecord>,
    /// Last tick.
    pub final_tick: u64,
}

/// Replays a log from its starting state to `end_tick` (or its last command).
pub fn replay(log: &InputLog) -> ReplayResult {
    let mut g = Game::from_log_start(log);
    let mut hashes = Vec::new();
    let mut records = Vec::new();
    let mut run_to = |g: &mut Game, t: u64, hashes: &mut Vec<u64>| {
        while g.tick() < t {
            let out = g.step();
            records.extend(out.record);
            hashes.push(g.state_hash());
        }
    };
    for e in &log.entries {
        run_to(&mut g, e.tick, &mut hashes);
        g.apply(&e.cmd);
    }
    let end = log
        .end_tick
        .unwrap_or_else(|| log.entries.last().map_or(log.start_tick, |e| e.tick));
    run_to(&mut g, end, &mut hashes);
    let scores = g
        .players()
        .into_iter()
        .map(|p| (p.user_id, p.score))
        .collect();
    ReplayResult {
        hashes,
        scores,
        records,
        final_tick: g.tick(),
    }
}
