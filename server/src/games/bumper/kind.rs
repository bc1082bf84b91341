//! Bumper behind the game interface: [`Bumper`] is its [`GameKind`], [`Game`] a room's
//! [`RoomGame`], [`Saved`] its saved state, and a match log its [`Recording`].

use std::sync::Arc;

use bevy_ecs::prelude::*;
use bytes::Bytes;
use kurve_shared::bumper::{Event, Phase, encode_snapshot, encode_tick};
use kurve_shared::lobby::RoomPhase;
use kurve_shared::room::GameInfo;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::components::{Clock, Disc, MAX_SEATS, MatchState, Outbox, Player, Seats, SpawnRng};
use super::config::{BumperConfig, MOVE_MAX, Settings};
use super::log::{MAX_LOG_ENTRIES, MAX_TICK, MatchLog};
use super::{Game, ID, Stepped, TickSystems, view};
use crate::game::envelope::frame_bytes;
use crate::game::{
    ConfigFor, GameDataError, GameKind, Outcome, Playback, PlaybackCheckpoint, Recording, RoomGame,
    SavedGame, SeatError, SeatView, Status, Step,
};
use crate::protocol::decode_json;
use crate::protocol::error::ChannelError;

/// Bumper, with the rules for new rooms.
pub struct Bumper {
    pub config: BumperConfig,
}

impl GameKind for Bumper {
    fn info(&self) -> GameInfo {
        GameInfo {
            id: ID.into(),
            name: "Bumper".into(),
            min_players: 2,
            max_players: MAX_SEATS as u8,
        }
    }

    fn create(&self, seed: u64, max_players: u8) -> Box<dyn RoomGame> {
        Box::new(Game::new(self.config.clone(), seed, max_players))
    }

    fn restore(&self, saved: &[u8]) -> Result<Box<dyn RoomGame>, GameDataError> {
        let saved: Saved = kurve_shared::envelope::decode_limited(saved)
            .map_err(|e| GameDataError(format!("not a saved Bumper game: {e}")))?;
        saved.check()?;
        Ok(Box::new(Game::restore(saved)))
    }

    fn open_log(&self, log: &[u8]) -> Result<Arc<dyn Recording>, GameDataError> {
        let log = MatchLog::finished_from_bytes(log)?;
        Ok(Arc::new(BumperRecording { log: Arc::new(log) }))
    }
}

/// `input {"move": [x, y], "dash"?: true, "seq"?}`.
#[derive(Deserialize)]
struct InputIn {
    #[serde(rename = "move")]
    mv: Move,
    #[serde(default)]
    dash: Option<bool>,
}

/// Two integers in −100..=100; anything else is refused naming `move` (read as one
/// JSON value, so an error inside the array still names `move`).
#[derive(Deserialize)]
#[serde(try_from = "Value")]
struct Move([i32; 2]);

impl TryFrom<Value> for Move {
    type Error = &'static str;
    fn try_from(value: Value) -> Result<Move, Self::Error> {
        let refused = "move must be [x, y], integers in -100..=100";
        let axis = |v: &Value| {
            v.as_i64()
                .filter(|c| (-(MOVE_MAX as i64)..=MOVE_MAX as i64).contains(c))
                .map(|c| c as i32)
        };
        match value.as_array().map(Vec::as_slice) {
            Some([x, y]) => Ok(Move([axis(x).ok_or(refused)?, axis(y).ok_or(refused)?])),
            _ => Err(refused),
        }
    }
}

fn listed(phase: Phase) -> RoomPhase {
    match phase {
        Phase::Waiting => RoomPhase::Waiting,
        Phase::Countdown => RoomPhase::Countdown,
        Phase::Playing => RoomPhase::Playing,
        Phase::Finished => RoomPhase::Finished,
    }
}

fn step_out(out: Stepped) -> Step {
    Step {
        tick: out.tick.map(|t| frame_bytes("tick", encode_tick(&t))),
        lifecycle: out.lifecycle,
        outcome: out.ended.map(|(ended, log)| Outcome {
            seed: ended.seed,
            duration_ticks: ended.duration_ticks,
            rounds: 1,
            winner: ended.winner,
            standings: ended.standings,
            log: log.to_bytes(),
        }),
    }
}

fn snapshot_bytes(game: &Game) -> Bytes {
    frame_bytes("snapshot", encode_snapshot(&view::snapshot(game.world())))
}

impl RoomGame for Game {
    fn add_player(&mut self, user_id: &str, name: &str) -> Result<u8, SeatError> {
        Game::add_player(self, user_id, name)
    }

    fn remove_player(&mut self, user_id: &str) {
        Game::remove_player(self, user_id);
    }

    fn set_connected(&mut self, user_id: &str, connected: bool) {
        Game::set_connected(self, user_id, connected);
    }

    fn set_ready(&mut self, user_id: &str, ready: bool) {
        Game::set_ready(self, user_id, ready);
    }

    fn input(
        &mut self,
        seat: Option<u8>,
        user_id: &str,
        payload: &Value,
        seq: Option<u32>,
    ) -> Result<(), ChannelError> {
        let input: InputIn = decode_json(payload)?;
        Game::input(
            self,
            seat,
            user_id,
            input.mv.0,
            input.dash == Some(true),
            seq,
        );
        Ok(())
    }

    fn step(&mut self) -> Step {
        step_out(Game::step(self))
    }

    fn is_idle(&self) -> bool {
        Game::is_idle(self)
    }

    fn tick(&self) -> u64 {
        Game::tick(self)
    }

    fn tick_hz(&self) -> u32 {
        self.config().tick_hz
    }

    fn status(&self) -> Status {
        Status {
            listed: listed(self.phase()),
            waiting: self.phase() == Phase::Waiting,
        }
    }

    fn seats(&self) -> Vec<SeatView> {
        self.players()
            .into_iter()
            .map(|p| SeatView {
                seat: p.seat,
                user_id: p.user_id,
                name: p.name,
                ready: p.ready,
                connected: p.connected,
            })
            .collect()
    }

    fn client_config(&self, _config_for: ConfigFor) -> Map<String, Value> {
        view::client_config(self.world().resource::<Settings>())
    }

    fn snapshot(&self) -> Bytes {
        snapshot_bytes(self)
    }

    fn state_hash(&self) -> u64 {
        view::state_hash(self.world())
    }

    fn save(&self) -> Arc<dyn SavedGame> {
        Arc::new(Game::save(self))
    }
}

/// A game's whole state as plain data (restart, adoption by another node).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Saved {
    pub(super) config: BumperConfig,
    pub(super) max_players: u8,
    pub(super) clock: Clock,
    pub(super) ms: MatchState,
    pub(super) players: Vec<(Player, Disc)>,
    pub(super) rng: SpawnRng,
    /// Events of calls made since the last tick (the next tick sends them).
    pub(super) events: Vec<Event>,
    pub(super) log: MatchLog,
}

/// Most events a saved game may hold for its next tick: a few per call since the last
/// tick; a bound so hostile bytes cannot make a tick of any size.
const MAX_SAVED_EVENTS: usize = 4096;

/// The largest position or velocity component a saved game may hold, fine units: far
/// outside the arena (2^20) and above the speed cap (2^22), far below where squares
/// in `i128` could overflow.
const MAX_COORD: i64 = 1 << 40;

impl Saved {
    /// Whether a World built from this would be a game that steps without panicking.
    fn check(&self) -> Result<(), GameDataError> {
        let bad = |what: &str| Err(GameDataError(format!("bad saved Bumper game: {what}")));
        if let Some(problem) = self.config.problem() {
            return bad(problem);
        }
        if !(2..=MAX_SEATS as u8).contains(&self.max_players) {
            return bad("max_players out of 2..=8");
        }
        if self.clock.tick > MAX_TICK {
            return bad("tick out of range");
        }
        let mut taken = [false; MAX_SEATS];
        for (p, d) in &self.players {
            let seat = p.seat as usize;
            if p.seat >= self.max_players || std::mem::replace(&mut taken[seat], true) {
                return bad("seat out of range or taken twice");
            }
            if p.mv.iter().any(|c| c.unsigned_abs() > MOVE_MAX as u32) {
                return bad("move out of range");
            }
            if d.pos
                .iter()
                .chain(&d.vel)
                .any(|c| c.unsigned_abs() > MAX_COORD as u64)
            {
                return bad("disc out of range");
            }
        }
        let full = Settings::new(self.config.clone(), self.max_players).floe_r;
        if !(0..=full).contains(&self.ms.floe_r) {
            return bad("floe radius out of range");
        }
        if self.ms.participants.len() > MAX_SEATS
            || self
                .ms
                .participants
                .iter()
                .any(|p| p.seat as usize >= MAX_SEATS)
        {
            return bad("participants out of range");
        }
        if self.events.len() > MAX_SAVED_EVENTS || self.log.entries.len() > MAX_LOG_ENTRIES {
            return bad("too many events or log entries");
        }
        self.log.check()
    }
}

impl Game {
    pub fn save(&self) -> Saved {
        let w = self.world();
        Saved {
            config: self.config().clone(),
            max_players: w.resource::<Settings>().max_players,
            clock: w.resource::<Clock>().clone(),
            ms: w.resource::<MatchState>().clone(),
            players: view::seated(w)
                .map(|(p, d)| (p.clone(), d.clone()))
                .collect(),
            rng: w.resource::<SpawnRng>().clone(),
            events: w.resource::<Outbox>().events.clone(),
            log: self.log.clone(),
        }
    }

    /// The game [`Game::save`] saw (`saved` checked by [`Saved::check`] when it came
    /// from bytes).
    pub fn restore(saved: Saved) -> Game {
        let mut world = World::new();
        let mut seats = Seats::default();
        for (p, d) in saved.players {
            let seat = p.seat as usize;
            if seat < MAX_SEATS && seats.0[seat].is_none() {
                seats.0[seat] = Some(world.spawn((p, d)).id());
            }
        }
        world.insert_resource(seats);
        world.insert_resource(Settings::new(saved.config, saved.max_players));
        world.insert_resource(saved.clock);
        world.insert_resource(saved.ms);
        world.insert_resource(saved.rng);
        world.insert_resource(Outbox {
            events: saved.events,
            ..Outbox::default()
        });
        Game {
            systems: TickSystems::new(&mut world),
            world,
            log: saved.log,
        }
    }
}

impl SavedGame for Saved {
    fn resume(&self) -> Box<dyn RoomGame> {
        Box::new(Game::restore(self.clone()))
    }

    fn encode(&self) -> Vec<u8> {
        // Plain data always encodes; a failure is a bug in the saved types.
        rmp_serde::to_vec_named(self)
            .unwrap_or_else(|e| panic!("a saved Bumper game did not encode: {e}"))
    }
}

/// A finished match's log, checked.
struct BumperRecording {
    log: Arc<MatchLog>,
}

impl Recording for BumperRecording {
    fn start_tick(&self) -> u64 {
        self.log.start_tick
    }

    fn end_tick(&self) -> u64 {
        self.log.end_tick.unwrap_or(self.log.start_tick)
    }

    fn play(&self) -> Box<dyn Playback> {
        Box::new(BumperPlayback {
            game: Game::from_log_start(&self.log),
            log: self.log.clone(),
            next: 0,
        })
    }
}

/// A re-simulation: the game, and the next log entry to apply.
struct BumperPlayback {
    log: Arc<MatchLog>,
    game: Game,
    next: usize,
}

impl Playback for BumperPlayback {
    fn step(&mut self) -> Step {
        while let Some(entry) = self.log.entries.get(self.next)
            && entry.tick <= self.game.tick()
        {
            self.game.apply(&entry.cmd);
            self.next += 1;
        }
        step_out(self.game.step())
    }

    fn tick(&self) -> u64 {
        self.game.tick()
    }

    fn tick_hz(&self) -> u32 {
        self.game.config().tick_hz
    }

    fn client_config(&self) -> Map<String, Value> {
        view::client_config(self.game.world().resource::<Settings>())
    }

    fn snapshot(&self) -> Bytes {
        snapshot_bytes(&self.game)
    }

    fn state_hash(&self) -> u64 {
        view::state_hash(self.game.world())
    }

    fn checkpoint(&self) -> Box<dyn PlaybackCheckpoint> {
        Box::new(BumperCheckpoint {
            log: self.log.clone(),
            saved: self.game.save(),
            next: self.next,
        })
    }
}

struct BumperCheckpoint {
    log: Arc<MatchLog>,
    saved: Saved,
    next: usize,
}

impl PlaybackCheckpoint for BumperCheckpoint {
    fn resume(&self) -> Box<dyn Playback> {
        Box::new(BumperPlayback {
            log: self.log.clone(),
            game: Game::restore(self.saved.clone()),
            next: self.next,
        })
    }
}
