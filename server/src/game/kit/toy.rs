//! The kit's own tests: the smallest game the interface allows ("Toy": players add 1–9
//! to their score with `input {"add": n}`; a match lasts 100 ticks), which the kit must
//! pass, and the same game with one flaw each, which the kit must catch. A kit that
//! cannot fail would prove nothing about Curve or Bumper.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use kurve_shared::lobby::RoomPhase;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{
    Action, Script, assert_deterministic, assert_envelope, assert_replays, assert_resumes,
};
use crate::game::envelope::frame_bytes;
use crate::game::{
    ConfigFor, GameDataError, GameInfo, GameKind, Lifecycle, Outcome, Playback, PlaybackCheckpoint,
    Recording, RoomGame, SavedGame, SeatError, SeatView, Standing, Status, Step, rank,
};
use crate::protocol::decode_json;
use crate::protocol::error::ChannelError;

/// Ticks a match lasts.
const MATCH_TICKS: u64 = 100;

/// What is wrong with a Toy, for the kit to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Flaw {
    None,
    /// The state depends on something outside it (a process-wide counter).
    Nondeterministic,
    /// A restored game forgets the scores.
    ForgetsOnRestore,
    /// The log misses the inputs, so a replay ends with other standings.
    LogsNoInputs,
    /// Ticks skip numbers while the match runs.
    SkipsTicks,
}

/// Bumped by every step of a nondeterministic Toy.
static OUTSIDE: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seat {
    id: String,
    name: String,
    ready: bool,
    connected: bool,
    points: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Command {
    Add(u8, u32),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Toy {
    flaw: Flaw,
    seed: u64,
    tick: u64,
    playing_since: Option<u64>,
    seats: Vec<Seat>,
    /// The match's log: its seats at the start, then `(tick, command)`.
    start: Vec<Seat>,
    log: Vec<(u64, Command)>,
    noise: u64,
}

#[derive(Serialize)]
struct TickOut {
    tick: u64,
    total: u32,
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    tick: u64,
    phase: &'a str,
}

#[derive(Deserialize)]
struct AddIn {
    add: Add,
}

#[derive(Deserialize)]
#[serde(try_from = "i64")]
struct Add(u32);

impl TryFrom<i64> for Add {
    type Error = &'static str;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        match n {
            1..=9 => Ok(Add(n as u32)),
            _ => Err("add is 1 to 9"),
        }
    }
}

impl Toy {
    fn new(flaw: Flaw, seed: u64) -> Toy {
        Toy {
            flaw,
            seed,
            tick: 0,
            playing_since: None,
            seats: Vec::new(),
            start: Vec::new(),
            log: Vec::new(),
            noise: 0,
        }
    }

    fn apply(&mut self, command: &Command) {
        match *command {
            Command::Add(seat, n) => {
                if let Some(s) = self.seats.get_mut(usize::from(seat)) {
                    s.points += n;
                }
            }
        }
    }

    fn outcome(&self) -> Outcome {
        let lines = self
            .seats
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let standing = Standing {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    seat: i as u8,
                    points: s.points,
                    place: 0,
                    won: false,
                    left: false,
                };
                (standing, 0)
            })
            .collect();
        let standings = rank(lines);
        let log = Recorded {
            flaw: self.flaw,
            seed: self.seed,
            start_tick: self.playing_since.unwrap_or(0),
            start: self.start.clone(),
            log: self.log.clone(),
        };
        Outcome {
            seed: self.seed,
            duration_ticks: MATCH_TICKS,
            rounds: 1,
            winner: standings.iter().find(|s| s.won).map(|s| s.id.clone()),
            standings,
            log: rmp_serde::to_vec_named(&log).expect("a toy log encodes"),
        }
    }
}

impl RoomGame for Toy {
    fn add_player(&mut self, user_id: &str, name: &str) -> Result<u8, SeatError> {
        if self.playing_since.is_some() {
            return Err(SeatError::AlreadyStarted);
        }
        if self.seats.iter().any(|s| s.id == user_id) {
            return Err(SeatError::AlreadySeated);
        }
        if self.seats.len() >= 4 {
            return Err(SeatError::Full);
        }
        self.seats.push(Seat {
            id: user_id.into(),
            name: name.into(),
            ready: false,
            connected: true,
            points: 0,
        });
        Ok(self.seats.len() as u8 - 1)
    }

    fn remove_player(&mut self, user_id: &str) {
        if self.playing_since.is_none() {
            self.seats.retain(|s| s.id != user_id);
        }
    }

    fn set_connected(&mut self, user_id: &str, connected: bool) {
        for s in self.seats.iter_mut().filter(|s| s.id == user_id) {
            s.connected = connected;
        }
    }

    fn set_ready(&mut self, user_id: &str, ready: bool) {
        for s in self.seats.iter_mut().filter(|s| s.id == user_id) {
            s.ready = ready;
        }
    }

    fn input(
        &mut self,
        _seat: Option<u8>,
        user_id: &str,
        payload: &Value,
        _seq: Option<u32>,
    ) -> Result<(), ChannelError> {
        let AddIn { add: Add(n) } = decode_json(payload)?;
        let Some(seat) = self.seats.iter().position(|s| s.id == user_id) else {
            return Ok(());
        };
        if self.playing_since.is_none() {
            return Ok(());
        }
        let command = Command::Add(seat as u8, n);
        self.apply(&command);
        if self.flaw != Flaw::LogsNoInputs {
            self.log.push((self.tick, command));
        }
        Ok(())
    }

    fn step(&mut self) -> Step {
        self.tick += 1;
        if self.flaw == Flaw::Nondeterministic {
            self.noise = OUTSIDE.fetch_add(1, Ordering::Relaxed);
        }
        let mut step = Step::default();
        match self.playing_since {
            None if self.seats.len() >= 2 && self.seats.iter().all(|s| s.ready) => {
                self.playing_since = Some(self.tick);
                self.start = self.seats.clone();
                self.log.clear();
                step.lifecycle.push(Lifecycle {
                    event: "phase",
                    payload: json!({"phase": "playing", "tick": self.tick}),
                });
            }
            None => return step,
            Some(since) if self.tick - since >= MATCH_TICKS => {
                step.outcome = Some(self.outcome());
                step.lifecycle.push(Lifecycle {
                    event: "phase",
                    payload: json!({"phase": "waiting", "tick": self.tick}),
                });
                self.playing_since = None;
                for s in &mut self.seats {
                    s.ready = false;
                    s.points = 0;
                }
            }
            Some(_) => {}
        }
        if self.flaw == Flaw::SkipsTicks && self.tick.is_multiple_of(10) {
            self.tick += 1;
        }
        let total = self.seats.iter().map(|s| s.points).sum();
        step.tick = Some(frame_bytes(
            "tick",
            rmp_serde::to_vec_named(&TickOut {
                tick: self.tick,
                total,
            }),
        ));
        step
    }

    fn is_idle(&self) -> bool {
        self.playing_since.is_none() && !self.seats.iter().any(|s| s.ready)
    }

    fn tick(&self) -> u64 {
        self.tick
    }

    fn tick_hz(&self) -> u32 {
        60
    }

    fn status(&self) -> Status {
        let waiting = self.playing_since.is_none();
        Status {
            listed: if waiting {
                RoomPhase::Waiting
            } else {
                RoomPhase::Playing
            },
            waiting,
        }
    }

    fn seats(&self) -> Vec<SeatView> {
        self.seats
            .iter()
            .enumerate()
            .map(|(i, s)| SeatView {
                seat: i as u8,
                user_id: s.id.clone(),
                name: s.name.clone(),
                ready: s.ready,
                connected: s.connected,
            })
            .collect()
    }

    fn client_config(&self, _config_for: ConfigFor) -> Map<String, Value> {
        Map::new()
    }

    fn snapshot(&self) -> Bytes {
        let phase = if self.playing_since.is_some() {
            "playing"
        } else {
            "waiting"
        };
        frame_bytes(
            "snapshot",
            rmp_serde::to_vec_named(&SnapshotOut {
                tick: self.tick,
                phase,
            }),
        )
    }

    fn state_hash(&self) -> u64 {
        let mut h = crate::game::hash::Fnv::default();
        h.u64(self.tick);
        h.u64(self.seed);
        h.u64(self.noise);
        for s in &self.seats {
            h.str(&s.id);
            h.u64(u64::from(s.points));
        }
        h.0
    }

    fn save(&self) -> Arc<dyn SavedGame> {
        Arc::new(self.clone())
    }
}

impl SavedGame for Toy {
    fn resume(&self) -> Box<dyn RoomGame> {
        Box::new(self.clone())
    }

    fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).expect("a toy encodes")
    }
}

/// A Toy match's log.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recorded {
    flaw: Flaw,
    seed: u64,
    start_tick: u64,
    start: Vec<Seat>,
    log: Vec<(u64, Command)>,
}

impl Recording for Recorded {
    fn start_tick(&self) -> u64 {
        self.start_tick
    }

    fn end_tick(&self) -> u64 {
        self.start_tick + MATCH_TICKS
    }

    fn play(&self) -> Box<dyn Playback> {
        let mut game = Toy::new(self.flaw, self.seed);
        game.tick = self.start_tick;
        game.playing_since = Some(self.start_tick);
        game.seats = self.start.clone();
        game.start = self.start.clone();
        Box::new(ToyPlayback {
            game,
            log: Arc::new(self.log.clone()),
            next: 0,
        })
    }
}

#[derive(Clone)]
struct ToyPlayback {
    game: Toy,
    log: Arc<Vec<(u64, Command)>>,
    next: usize,
}

impl Playback for ToyPlayback {
    fn step(&mut self) -> Step {
        while let Some((at, command)) = self.log.get(self.next)
            && *at <= self.game.tick
        {
            self.game.apply(command);
            self.game.log.push((*at, command.clone()));
            self.next += 1;
        }
        self.game.step()
    }

    fn tick(&self) -> u64 {
        self.game.tick
    }

    fn tick_hz(&self) -> u32 {
        60
    }

    fn client_config(&self) -> Map<String, Value> {
        Map::new()
    }

    fn snapshot(&self) -> Bytes {
        self.game.snapshot()
    }

    fn state_hash(&self) -> u64 {
        self.game.state_hash()
    }

    fn checkpoint(&self) -> Box<dyn PlaybackCheckpoint> {
        Box::new(self.clone())
    }
}

impl PlaybackCheckpoint for ToyPlayback {
    fn resume(&self) -> Box<dyn Playback> {
        Box::new(self.clone())
    }
}

struct ToyKind(Flaw);

impl GameKind for ToyKind {
    fn info(&self) -> GameInfo {
        GameInfo {
            id: "toy".into(),
            name: "Toy".into(),
            min_players: 2,
            max_players: 4,
        }
    }

    fn create(&self, seed: u64, _max_players: u8) -> Box<dyn RoomGame> {
        Box::new(Toy::new(self.0, seed))
    }

    fn restore(&self, saved: &[u8]) -> Result<Box<dyn RoomGame>, GameDataError> {
        let mut toy: Toy =
            rmp_serde::from_slice(saved).map_err(|e| GameDataError(e.to_string()))?;
        if toy.flaw == Flaw::ForgetsOnRestore {
            for s in &mut toy.seats {
                s.points = 0;
            }
        }
        Ok(Box::new(toy))
    }

    fn open_log(&self, log: &[u8]) -> Result<Arc<dyn Recording>, GameDataError> {
        let recorded: Recorded =
            rmp_serde::from_slice(log).map_err(|e| GameDataError(e.to_string()))?;
        Ok(Arc::new(recorded))
    }
}

/// Two players, ready at once, adding now and then.
fn script() -> Script {
    Script::ready(2, 4)
        .at(10, Action::Input(0, json!({"add": 3})))
        .at(20, Action::Input(1, json!({"add": 5})))
        .at(30, Action::Input(0, json!({"add": 9})))
        .at(40, Action::Disconnect(1))
        .at(45, Action::Reconnect(1))
        .at(60, Action::Input(1, json!({"add": 1})))
}

#[test]
fn a_sound_game_passes_the_kit() {
    let toy = ToyKind(Flaw::None);
    assert_deterministic(&toy, 1, &script(), 150);
    assert_resumes(&toy, 1, &script(), 150, 35);
    assert_envelope(&toy, 1, &script(), 150);
    let outcome = assert_replays(&toy, 1, &script(), 150);
    assert_eq!(outcome.winner.as_deref(), Some("u0"), "12 points against 6");
}

#[test]
#[should_panic(expected = "the state hashes differ")]
fn the_kit_catches_a_game_that_is_not_deterministic() {
    assert_deterministic(&ToyKind(Flaw::Nondeterministic), 1, &script(), 150);
}

#[test]
#[should_panic(expected = "restored to another state")]
fn the_kit_catches_a_game_that_does_not_resume() {
    assert_resumes(&ToyKind(Flaw::ForgetsOnRestore), 1, &script(), 150, 35);
}

#[test]
#[should_panic(expected = "standings")]
fn the_kit_catches_a_log_that_does_not_replay() {
    assert_replays(&ToyKind(Flaw::LogsNoInputs), 1, &script(), 150);
}

#[test]
#[should_panic(expected = "gaps in the tick numbers")]
fn the_kit_catches_ticks_that_skip() {
    assert_envelope(&ToyKind(Flaw::SkipsTicks), 1, &script(), 150);
}
