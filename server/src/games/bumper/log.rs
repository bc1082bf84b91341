//! The match log: the state a match started from and every call since, at its tick —
//! enough to play the match again exactly (a replay, [`crate::game::Recording`]).

use serde::{Deserialize, Serialize};

use super::components::MAX_SEATS;
use super::config::{BumperConfig, MOVE_MAX};
use crate::game::GameDataError;

/// A call applied between two ticks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// A player as seated when the match began (boxed: a logged move stays small).
    Seat(Box<SeatedPlayer>),
    Remove {
        user_id: String,
    },
    Connected {
        user_id: String,
        connected: bool,
    },
    Ready {
        user_id: String,
        ready: bool,
    },
    /// A new `move` (logged only when it changes), by seat.
    Move {
        seat: u8,
        x: i32,
        y: i32,
    },
    /// An accepted dash.
    Dash {
        seat: u8,
    },
}

/// [`Command::Seat`]'s fields.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SeatedPlayer {
    pub seat: u8,
    pub user_id: String,
    pub name: String,
    pub ready: bool,
    pub connected: bool,
    pub disconnected_at: Option<u64>,
    pub mv: [i32; 2],
}

/// A command and the last completed tick when it came (it acts on `tick + 1`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub tick: u64,
    pub cmd: Command,
}

/// Most commands one match's log keeps: moves are logged only when they change, so a
/// two-minute match of eight players logs about 10,000; the bound keeps a room's memory
/// finite whatever its players send (a logged move is about 40 bytes: 10 MB at the
/// bound). A match that reaches it is marked truncated and cannot be replayed.
pub const MAX_LOG_ENTRIES: usize = 250_000;

/// The largest tick a saved game or log may name: far beyond any room's life (2^48
/// ticks at 1,000 Hz is 8,900 years), far below where adding durations overflows.
pub const MAX_TICK: u64 = 1 << 48;

/// A match's log. A new one begins as each match starts, with a [`Command::Seat`] for
/// every seated player.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MatchLog {
    /// The room's seed (a match's seed derives from it and `match_index`).
    pub seed: u64,
    pub config: BumperConfig,
    pub max_players: u8,
    /// The last completed tick before the match's first.
    pub start_tick: u64,
    /// Matches started in the room before this one.
    pub match_index: u64,
    pub entries: Vec<LogEntry>,
    /// The tick the match ended (set in a finished match's log).
    pub end_tick: Option<u64>,
    /// More than [`MAX_LOG_ENTRIES`] commands came: the rest were dropped.
    #[serde(default)]
    pub truncated: bool,
}

impl MatchLog {
    /// MessagePack, named fields.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Plain data always encodes; a failure is a bug in these types, and a match
        // stored without its log could never be replayed: the room crashes instead (its
        // supervisor restarts it from the saved state).
        rmp_serde::to_vec_named(self)
            .unwrap_or_else(|e| panic!("a Bumper match log did not encode: {e}"))
    }

    /// A finished match's log from stored bytes: decoded and checked.
    pub fn finished_from_bytes(bytes: &[u8]) -> Result<MatchLog, GameDataError> {
        let log: MatchLog = kurve_shared::envelope::decode_limited(bytes)
            .map_err(|e| GameDataError(format!("not a Bumper match log: {e}")))?;
        log.check()?;
        if log.truncated {
            return Err(GameDataError("the log was cut short".into()));
        }
        match log.end_tick {
            None => Err(GameDataError("not a finished match's log".into())),
            Some(end) if end < log.start_tick => {
                Err(GameDataError("the log ends before it starts".into()))
            }
            Some(_) => Ok(log),
        }
    }

    /// What a game built from this log could not survive, as an error.
    pub fn check(&self) -> Result<(), GameDataError> {
        let bad = |what: &str| Err(GameDataError(format!("bad Bumper log: {what}")));
        if let Some(problem) = self.config.problem() {
            return bad(problem);
        }
        if !(2..=MAX_SEATS as u8).contains(&self.max_players) {
            return bad("max_players out of 2..=8");
        }
        if self.start_tick > MAX_TICK || self.end_tick.is_some_and(|t| t > MAX_TICK) {
            return bad("tick out of range");
        }
        if self.entries.len() > MAX_LOG_ENTRIES {
            return bad("too many entries");
        }
        let move_ok = |v: i32| (-MOVE_MAX..=MOVE_MAX).contains(&v);
        for entry in &self.entries {
            let seat = match &entry.cmd {
                Command::Seat(p) if !(move_ok(p.mv[0]) && move_ok(p.mv[1])) => {
                    return bad("move out of range");
                }
                Command::Move { x, y, .. } if !(move_ok(*x) && move_ok(*y)) => {
                    return bad("move out of range");
                }
                Command::Seat(p) => p.seat,
                Command::Move { seat, .. } | Command::Dash { seat } => *seat,
                _ => continue,
            };
            if seat >= self.max_players {
                return bad("seat out of range");
            }
        }
        Ok(())
    }
}
