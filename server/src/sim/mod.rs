//! The Curve game simulation: authoritative, deterministic, no I/O.
//!
//! A room owns one [`Game`]: it feeds commands in (`add_player`, `set_input`, …), calls
//! [`Game::step`] at `tick_hz`, and fans out what comes back — a binary [`Tick`] delta
//! and JSON lifecycle events — plus a [`MatchRecord`] for the database when a match ends.
//!
//! Inside, a bevy_ecs `World` holds one entity per seated player ([`components::Player`],
//! [`components::Head`]) and resources for the clock, phase, trails, items, effects and
//! RNG streams; [`systems::TickSystems`] advance it one tick at a time.
//!
//! **Invariants:** no floating point, no `HashMap` iteration and no raw query order on the
//! simulation path (players are visited by seat); every random draw comes from a ChaCha8
//! stream seeded from (room seed, match, round, purpose[, seat]); the World's types derive
//! `Serialize` only for [`SavedGame`] (resume and adoption) — clients see the wire types
//! [`snapshot`] builds, never the World's own.

pub mod components;
pub mod config;
pub mod hash;
pub mod log;
pub mod snapshot;
pub mod systems;
pub mod trig;

#[cfg(test)]
mod tests;

use bevy_ecs::prelude::*;
use kurve_shared::game::grid::SegmentGrid;
use kurve_shared::game::{
    ArenaConfig, POS_SCALE, Phase, RoomEvent, Snapshot, Standing, Tick, seat_color,
};
use systems::TickSystems;

use components::{
    Clock, Deaths, Effects, Field, Head, MAX_SEATS, MatchState, Outbox, Player, Rngs, Seats, Trails,
};
pub use config::{GameConfig, Settings};
pub use log::{
    AddedPlayer, Command, InputLog, LogEntry, MAX_LOG_ENTRIES, ReplayResult, SeatedPlayer, replay,
};

/// Side of a collision-grid cell, px: larger than any segment plus radii is not needed,
/// smaller means fewer candidates per query.
const GRID_CELL_PX: i32 = 16;

/// Why a player could not be seated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GameError {
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

/// Where a player was seated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerSlot {
    /// Seat index, also the colour index.
    pub seat: u8,
    /// `#rrggbb`.
    pub color: String,
}

/// A seated player, for presence and room summaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerInfo {
    /// User id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Seat.
    pub seat: u8,
    /// `#rrggbb`.
    pub color: String,
    /// Points in the current (or last) match.
    pub score: u32,
    /// Ready flag.
    pub ready: bool,
    /// Socket connected.
    pub connected: bool,
    /// Head alive in the current round.
    pub alive: bool,
}

/// What the database needs about a finished match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRecord {
    /// The match's RNG seed (derived from the room seed and `match_index`).
    pub seed: u64,
    /// The room seed.
    pub room_seed: u64,
    /// 1-based match number in the room.
    pub match_index: u64,
    /// Tick at which the match started.
    pub started_at_tick: u64,
    /// Length in ticks.
    pub duration_ticks: u64,
    /// Rounds played.
    pub rounds: u32,
    /// Winner's user id.
    pub winner: Option<String>,
    /// Ended because fewer than two players remained.
    pub forfeit: bool,
    /// Everyone who started the match, best first (points, place, won, left).
    pub players: Vec<Standing>,
    /// [`InputLog::to_bytes`] of this match (replay with [`replay`]).
    pub input_log: Vec<u8>,
}

/// What one tick produced.
#[derive(Debug, Clone, Default)]
pub struct StepOutput {
    /// The binary delta to broadcast; `None` while the room stays in `waiting`.
    pub tick: Option<Tick>,
    /// JSON lifecycle events (`phase`, `round_start`, `round_end`, `match_end`) in order.
    pub lifecycle: Vec<RoomEvent>,
    /// Set on the tick a match ends.
    pub record: Option<MatchRecord>,
}

/// The complete state of a game, for a supervisor to restart a room from. Plain data.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SavedGame {
    settings: Settings,
    clock: Clock,
    ms: MatchState,
    players: Vec<(Player, Head)>,
    trails: Trails,
    field: Field,
    effects: Effects,
    rngs: Rngs,
    outbox: Outbox,
    log: InputLog,
    max_players: u8,
}

/// One room's game: a World, its tick systems, and the input log.
pub struct Game {
    world: World,
    systems: TickSystems,
    log: InputLog,
    max_players: u8,
}

impl Game {
    /// A game in `waiting` with no players. `max_players` is clamped to 1..=8.
    pub fn new(config: GameConfig, seed: u64, max_players: u8) -> Self {
        let max_players = max_players.clamp(1, MAX_SEATS as u8);
        let log = InputLog {
            seed,
            config: config.clone(),
            max_players,
            start_tick: 0,
            match_index: 0,
            entries: Vec::new(),
            end_tick: None,
            truncated: false,
        };
        let settings = Settings::new(config);
        let grid = SegmentGrid::new(settings.w, settings.h, GRID_CELL_PX * POS_SCALE);
        let mut world = World::new();
        world.insert_resource(Clock::default());
        world.insert_resource(MatchState {
            room_seed: seed,
            ..Default::default()
        });
        world.insert_resource(Seats::default());
        world.insert_resource(Trails {
            lines: Vec::new(),
            grid,
            digest: 0,
        });
        world.insert_resource(Field::default());
        world.insert_resource(Effects::default());
        world.insert_resource(Rngs::for_round(seed, 0));
        world.insert_resource(Deaths::default());
        world.insert_resource(Outbox::default());
        world.insert_resource(settings);
        Game {
            systems: TickSystems::new(&mut world),
            world,
            log,
            max_players,
        }
    }

    /// A game in the state a log starts from (used by [`replay`]).
    pub(crate) fn from_log_start(log: &InputLog) -> Self {
        let mut g = Game::new(log.config.clone(), log.seed, log.max_players);
        g.world.resource_mut::<Clock>().tick = log.start_tick;
        g.world.resource_mut::<MatchState>().match_index = log.match_index;
        g.log.start_tick = log.start_tick;
        g.log.match_index = log.match_index;
        g
    }

    /// Applies a logged command (used by [`replay`]).
    pub(crate) fn apply(&mut self, cmd: &Command) {
        match cmd.clone() {
            Command::Seat(seated) => {
                let SeatedPlayer {
                    seat,
                    user_id,
                    name,
                    ready,
                    connected,
                    disconnected_at,
                    turn,
                } = *seated;
                self.seat_player(Player {
                    seat,
                    user_id,
                    name,
                    ready,
                    connected,
                    disconnected_at,
                    score: 0,
                    turn,
                    leaving: false,
                    seq: None,
                    ack_due: false,
                });
            }
            Command::Add(added) => {
                let _ = self.add_player(&added.user_id, &added.name);
            }
            Command::Turn { seat, turn } => {
                let user_id = self
                    .world
                    .resource::<Seats>()
                    .iter()
                    .find(|(s, _)| *s == seat)
                    .and_then(|(_, e)| self.world.get::<Player>(e))
                    .map(|p| p.user_id.clone());
                if let Some(user_id) = user_id {
                    self.set_input(&user_id, turn);
                }
            }
            Command::Remove { user_id } => self.remove_player(&user_id),
            Command::Connected { user_id, connected } => self.set_connected(&user_id, connected),
            Command::Ready { user_id, ready } => self.set_ready(&user_id, ready),
            Command::Input { user_id, turn } => self.set_input(&user_id, turn),
        }
    }

    /// Logs a command for the replay of the current match. Nothing is logged while the
    /// room waits: the log of the next match begins with a snapshot of the seats
    /// ([`Game::rebase_log`]), so what happened before it is not needed. A match that
    /// logs more than [`MAX_LOG_ENTRIES`] stops logging and is marked truncated.
    fn record(&mut self, cmd: Command) {
        if self.phase() == Phase::Waiting {
            return;
        }
        if self.log.entries.len() >= MAX_LOG_ENTRIES {
            self.log.truncated = true;
            return;
        }
        let tick = self.tick();
        self.log.entries.push(LogEntry { tick, cmd });
    }

    fn seat_player(&mut self, p: Player) {
        let seat = p.seat;
        let radius = self.world.resource::<Settings>().cfg.line_radius;
        let e = self.world.spawn((p, Head::idle(radius))).id();
        self.world.resource_mut::<Seats>().0[seat as usize] = Some(e);
    }

    fn find(&self, user_id: &str) -> Option<Entity> {
        let seats = self.world.resource::<Seats>();
        seats.iter().map(|(_, e)| e).find(|&e| {
            self.world
                .get::<Player>(e)
                .is_some_and(|p| p.user_id == user_id && !p.leaving)
        })
    }

    /// Seats a player in the lowest free seat. Only while `waiting` (or while a lone
    /// player practises, which the join stops).
    pub fn add_player(&mut self, user_id: &str, name: &str) -> Result<PlayerSlot, GameError> {
        let ms = self.world.resource::<MatchState>();
        let practising = ms.practice && ms.phase != Phase::Waiting;
        if ms.phase != Phase::Waiting && !practising {
            return Err(GameError::AlreadyStarted);
        }
        if self.find(user_id).is_some() {
            return Err(GameError::AlreadySeated);
        }
        let seats = self.world.resource::<Seats>();
        let seat = (0..self.max_players)
            .find(|&s| seats.0[s as usize].is_none())
            .ok_or(GameError::Full)?;
        if practising {
            self.world.resource_mut::<MatchState>().abort_practice = true;
        }
        self.seat_player(Player {
            seat,
            user_id: user_id.to_string(),
            name: name.to_string(),
            ready: false,
            connected: true,
            disconnected_at: None,
            score: 0,
            turn: 0,
            leaving: false,
            seq: None,
            ack_due: false,
        });
        self.record(Command::Add(Box::new(AddedPlayer {
            user_id: user_id.to_string(),
            name: name.to_string(),
        })));
        Ok(PlayerSlot {
            seat,
            color: seat_color(seat),
        })
    }

    /// The player leaves for good: removed on the next tick, counted dead if alive.
    pub fn remove_player(&mut self, user_id: &str) {
        let Some(e) = self.find(user_id) else { return };
        if let Some(mut p) = self.world.get_mut::<Player>(e) {
            p.leaving = true;
        }
        self.record(Command::Remove {
            user_id: user_id.to_string(),
        });
    }

    /// A socket dropped (`false`) or came back (`true`). A dropped player's head keeps
    /// its last input; its seat expires `disconnect_grace_ms` later (then it counts dead).
    pub fn set_connected(&mut self, user_id: &str, connected: bool) {
        let Some(e) = self.find(user_id) else { return };
        let tick = self.tick();
        let Some(mut p) = self.world.get_mut::<Player>(e) else {
            return;
        };
        if p.connected == connected {
            return;
        }
        p.connected = connected;
        p.disconnected_at = if connected { None } else { Some(tick) };
        if connected {
            // A new socket numbers its inputs afresh: the old socket's acknowledgement
            // would mean nothing to it.
            p.seq = None;
            p.ack_due = false;
        }
        let seat = p.seat;
        self.world
            .resource_mut::<Outbox>()
            .events
            .push(kurve_shared::game::Event::Connection { seat, connected });
        self.record(Command::Connected {
            user_id: user_id.to_string(),
            connected,
        });
    }

    /// Ready flag (only while `waiting`; un-readying stops a practice session).
    pub fn set_ready(&mut self, user_id: &str, ready: bool) {
        let Some(e) = self.find(user_id) else { return };
        let ms = self.world.resource::<MatchState>();
        let (phase, practice) = (ms.phase, ms.practice);
        if phase != Phase::Waiting {
            if practice && !ready {
                self.world.resource_mut::<MatchState>().abort_practice = true;
                self.record(Command::Ready {
                    user_id: user_id.to_string(),
                    ready,
                });
            }
            return;
        }
        let Some(mut p) = self.world.get_mut::<Player>(e) else {
            return;
        };
        if p.ready != ready {
            p.ready = ready;
            self.record(Command::Ready {
                user_id: user_id.to_string(),
                ready,
            });
        }
    }

    /// Latest steering input (-1 left, 0 straight, +1 right; clamped); the value present
    /// when a tick runs applies to that tick.
    pub fn set_input(&mut self, user_id: &str, turn: i8) {
        if let Some(e) = self.find(user_id) {
            self.set_turn(e, turn);
        }
    }

    /// [`Game::set_input`] for a player the caller believes sits at `seat` (a room
    /// remembers its members' seats): one seat is looked at instead of every seat, which
    /// matters at thousands of inputs a second. A wrong guess falls back to the search.
    pub fn set_input_at(&mut self, seat: u8, user_id: &str, turn: i8) {
        self.set_input_seq(Some(seat), user_id, turn, None);
    }

    /// An `input` from a room member, looked up by `seat` when the room knows it
    /// ([`Game::set_input_at`]) and by user otherwise; the input's `seq` (if it has one)
    /// is acknowledged in the seat's next head update. The `seq` does not touch
    /// the simulation: it is neither logged nor part of the state hash.
    pub fn set_input_seq(&mut self, seat: Option<u8>, user_id: &str, turn: i8, seq: Option<u32>) {
        let seated = seat
            .and_then(|s| {
                self.world
                    .resource::<Seats>()
                    .0
                    .get(s as usize)
                    .copied()
                    .flatten()
            })
            .filter(|&e| {
                self.world
                    .get::<Player>(e)
                    .is_some_and(|p| p.user_id == user_id && !p.leaving)
            });
        let Some(e) = seated.or_else(|| self.find(user_id)) else {
            return;
        };
        self.set_turn(e, turn);
        if let Some(seq) = seq
            && let Some(mut p) = self.world.get_mut::<Player>(e)
            && p.seq != Some(seq)
        {
            p.seq = Some(seq);
            p.ack_due = true;
        }
    }

    /// Each seat's head at full precision: `(seat, alive, [x, y] in 1/1024 px, heading
    /// as a u32 binary angle)`, in seat order. For `kurve-sim-trace`, which checks the
    /// web client's port of the motion rules against this simulation.
    pub fn exact_heads(&self) -> Vec<(u8, bool, [i64; 2], u32)> {
        let seats = self.world.resource::<Seats>();
        seats
            .iter()
            .filter_map(|(seat, e)| {
                let h = self.world.get::<Head>(e)?;
                Some((seat, h.alive, h.pos, h.heading))
            })
            .collect()
    }

    fn set_turn(&mut self, e: Entity, turn: i8) {
        let turn = turn.clamp(-1, 1);
        let Some(mut p) = self.world.get_mut::<Player>(e) else {
            return;
        };
        if p.turn != turn {
            p.turn = turn;
            let seat = p.seat;
            self.record(Command::Turn { seat, turn });
        }
    }

    /// Starts a new input log from the current (waiting) state: called just before a
    /// match starts, so each match's log replays on its own.
    fn rebase_log(&mut self) {
        let tick = self.tick();
        let match_index = self.world.resource::<MatchState>().match_index;
        let mut entries = Vec::new();
        for (_, e) in self.world.resource::<Seats>().iter() {
            let Some(p) = self.world.get::<Player>(e) else {
                continue;
            };
            if p.leaving {
                continue;
            }
            entries.push(LogEntry {
                tick,
                cmd: Command::Seat(Box::new(SeatedPlayer {
                    seat: p.seat,
                    user_id: p.user_id.clone(),
                    name: p.name.clone(),
                    ready: p.ready,
                    connected: p.connected,
                    disconnected_at: p.disconnected_at,
                    turn: p.turn,
                })),
            });
        }
        self.log.start_tick = tick;
        self.log.match_index = match_index;
        self.log.entries = entries;
        self.log.end_tick = None;
        self.log.truncated = false;
    }

    /// Advances one tick.
    pub fn step(&mut self) -> StepOutput {
        let before = self.phase();
        if before == Phase::Waiting {
            let starts = {
                let seats = self.world.resource::<Seats>();
                systems::round::ready_to_start(
                    seats
                        .iter()
                        .filter_map(|(_, e)| self.world.get::<Player>(e)),
                )
            };
            if starts {
                self.rebase_log();
            }
        }
        self.systems.run(&mut self.world);
        let out = std::mem::take(&mut *self.world.resource_mut::<Outbox>());
        let tick = self.tick();
        let after = self.phase();
        let broadcast = before != Phase::Waiting || after != Phase::Waiting;
        let delta = broadcast.then_some(Tick {
            tick,
            heads: out.heads,
            events: out.events,
        });
        let record = out.record.map(|mut r| {
            let mut log = self.log.clone();
            log.end_tick = Some(tick);
            // Plain data always encodes; a failure is a bug in the log's types, and a
            // match saved without its log could never be replayed: the room crashes
            // instead (its supervisor restarts it from the saved state).
            r.input_log = log
                .to_bytes()
                .unwrap_or_else(|e| panic!("a match's input log did not encode: {e}"));
            r
        });
        StepOutput {
            tick: delta,
            lifecycle: out.lifecycle,
            record,
        }
    }

    /// The complete current state (the join snapshot).
    pub fn snapshot(&self) -> Snapshot {
        snapshot::build_snapshot(&self.world)
    }

    /// Whether stepping would change nothing but the tick number: the room waits and
    /// no seated player is ready (a start to check), disconnected (a seat to expire) or
    /// leaving (a seat to free). Such a room need not tick at all.
    pub fn is_idle(&self) -> bool {
        self.phase() == Phase::Waiting
            && self.world.resource::<Seats>().iter().all(|(_, e)| {
                self.world
                    .get::<Player>(e)
                    .is_none_or(|p| !p.ready && p.connected && !p.leaving)
            })
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.world.resource::<MatchState>().phase
    }

    /// Last completed tick.
    pub fn tick(&self) -> u64 {
        self.world.resource::<Clock>().tick
    }

    /// Current round number (0 before the first).
    pub fn round(&self) -> u32 {
        self.world.resource::<MatchState>().round
    }

    /// Stable hash of all simulation state.
    pub fn state_hash(&self) -> u64 {
        snapshot::state_hash(&self.world)
    }

    /// The rules in force.
    pub fn config(&self) -> &GameConfig {
        &self.world.resource::<Settings>().cfg
    }

    /// What a client needs to draw (for the join reply's `config`).
    pub fn arena_config(&self) -> ArenaConfig {
        snapshot::arena_config(self.world.resource::<Settings>())
    }

    /// Seated players by seat.
    pub fn players(&self) -> Vec<PlayerInfo> {
        let seats = self.world.resource::<Seats>();
        seats
            .iter()
            .filter_map(|(_, e)| Some((self.world.get::<Player>(e)?, self.world.get::<Head>(e)?)))
            .filter(|(p, _)| !p.leaving)
            .map(|(p, h)| PlayerInfo {
                user_id: p.user_id.clone(),
                name: p.name.clone(),
                seat: p.seat,
                color: seat_color(p.seat),
                score: p.score,
                ready: p.ready,
                connected: p.connected,
                alive: h.alive,
            })
            .collect()
    }

    /// The input log since the current (or last) match began.
    pub fn input_log(&self) -> &InputLog {
        &self.log
    }

    /// Captures the complete state.
    pub fn save(&self) -> SavedGame {
        let w = &self.world;
        let seats = w.resource::<Seats>();
        SavedGame {
            settings: w.resource::<Settings>().clone(),
            clock: w.resource::<Clock>().clone(),
            ms: w.resource::<MatchState>().clone(),
            players: seats
                .iter()
                .filter_map(|(_, e)| Some((w.get::<Player>(e)?.clone(), w.get::<Head>(e)?.clone())))
                .collect(),
            trails: w.resource::<Trails>().clone(),
            field: w.resource::<Field>().clone(),
            effects: w.resource::<Effects>().clone(),
            rngs: w.resource::<Rngs>().clone(),
            outbox: w.resource::<Outbox>().clone(),
            log: self.log.clone(),
            max_players: self.max_players,
        }
    }

    /// Rebuilds a game from [`Game::save`]; it continues exactly where the saved one was.
    pub fn restore(saved: SavedGame) -> Self {
        let mut world = World::new();
        let mut seats = Seats::default();
        for (p, h) in saved.players {
            let seat = p.seat as usize;
            seats.0[seat] = Some(world.spawn((p, h)).id());
        }
        world.insert_resource(seats);
        world.insert_resource(saved.settings);
        world.insert_resource(saved.clock);
        world.insert_resource(saved.ms);
        world.insert_resource(saved.trails);
        world.insert_resource(saved.field);
        world.insert_resource(saved.effects);
        world.insert_resource(saved.rngs);
        world.insert_resource(Deaths::default());
        world.insert_resource(saved.outbox);
        Game {
            systems: TickSystems::new(&mut world),
            world,
            log: saved.log,
            max_players: saved.max_players,
        }
    }

    /// Direct World access for tests.
    #[cfg(test)]
    pub(crate) fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }
}
