//! Bumper: discs on a shrinking ice floe push each other off (docs/design/bumper-wire.md
//! has the rules and the wire). The second game behind the game interface; [`Bumper`]
//! is its [`crate::game::GameKind`].
//!
//! A room's [`Game`] is a bevy_ecs `World` — one entity per seat ([`components::Player`],
//! [`components::Disc`]), resources for the clock, the match and the spawn stream — and
//! [`TickSystems`], which advance it one tick: the physics of `systems.rs`, then the
//! phase flow of `flow.rs`. Calls between ticks (seats, ready, input) change the World
//! directly and are written to the match's [`log::MatchLog`], which replays it.
//!
//! **Invariants:** no floating point, no `HashMap`, no query-order iteration on the
//! simulation path (discs are visited by seat); the only randomness is the spawn stream,
//! a ChaCha8 seeded from (room seed, match number); the same seed and the same calls at
//! the same ticks give the same tick bytes and state hash. Saved bytes and logs are
//! checked before a World is built from them.

pub mod components;
pub mod config;
pub mod flow;
pub mod kind;
pub mod log;
pub mod systems;
pub mod view;

#[cfg(test)]
mod tests;

use bevy_ecs::prelude::*;
use bevy_ecs::system::BoxedSystem;
use kurve_shared::bumper::{Phase, Tick};

use components::{Clock, Disc, MAX_SEATS, MatchState, Outbox, Player, Seats, SpawnRng};
pub use config::BumperConfig;
use config::{MOVE_MAX, Settings};
pub use kind::Bumper;
use log::{Command, LogEntry, MAX_LOG_ENTRIES, MatchLog, SeatedPlayer};

use crate::game::SeatError;

/// Bumper's id.
pub const ID: &str = "bumper";

/// The systems of one tick, run in this order: advance the clock; free expired seats;
/// drive, move and push the discs; shrink the floe; drop the fallen and score; respawn;
/// the phase flow (which may end the match); write the disc updates. Run directly, as
/// Curve's are (`sim::systems::TickSystems` says why).
pub struct TickSystems(Vec<BoxedSystem>);

impl TickSystems {
    pub fn new(world: &mut World) -> TickSystems {
        fn boxed<M>(system: impl IntoSystem<(), (), M>) -> BoxedSystem {
            Box::new(IntoSystem::into_system(system))
        }
        let mut systems = vec![
            boxed(|mut clock: ResMut<Clock>| clock.tick += 1),
            boxed(flow::expire_seats),
            boxed(systems::drive_discs),
            boxed(systems::move_discs),
            boxed(systems::collide_discs),
            boxed(systems::shrink_floe),
            boxed(systems::drop_fallen),
            boxed(systems::respawn_discs),
            boxed(flow::advance_phase),
            boxed(systems::emit_discs),
        ];
        for system in &mut systems {
            system.initialize(world);
        }
        TickSystems(systems)
    }

    pub fn run(&mut self, world: &mut World) {
        for system in &mut self.0 {
            system.run((), world);
        }
        world.check_change_ticks();
    }
}

/// What one step produced, before the interface's encoding.
pub struct Stepped {
    pub tick: Option<Tick>,
    pub lifecycle: Vec<crate::game::Lifecycle>,
    pub ended: Option<(components::Ended, MatchLog)>,
}

/// One room's Bumper: its World, its systems and the current match's log.
pub struct Game {
    world: World,
    systems: TickSystems,
    log: MatchLog,
}

/// A `move` brought to length ≤ 100 (a longer vector keeps its direction; the length
/// is rounded up so the result never exceeds 100).
pub fn clamp_move(x: i32, y: i32) -> [i32; 2] {
    let n = x as i64 * x as i64 + y as i64 * y as i64;
    let max = MOVE_MAX as i64;
    if n <= max * max {
        return [x, y];
    }
    let root = n.isqrt();
    let len = if root * root < n { root + 1 } else { root };
    [x, y].map(|c| (c as i64 * max / len) as i32)
}

impl Game {
    /// A waiting game with no players.
    pub fn new(config: BumperConfig, seed: u64, max_players: u8) -> Game {
        let config = config.clamped();
        let max_players = max_players.clamp(2, MAX_SEATS as u8);
        let settings = Settings::new(config.clone(), max_players);
        let mut world = World::new();
        world.insert_resource(Clock::default());
        world.insert_resource(MatchState {
            room_seed: seed,
            floe_r: settings.floe_r,
            ..MatchState::default()
        });
        world.insert_resource(Seats::default());
        world.insert_resource(SpawnRng::for_match(seed));
        world.insert_resource(Outbox::default());
        world.insert_resource(settings);
        Game {
            systems: TickSystems::new(&mut world),
            world,
            log: MatchLog {
                seed,
                config,
                max_players,
                start_tick: 0,
                match_index: 0,
                entries: Vec::new(),
                end_tick: None,
                truncated: false,
            },
        }
    }

    /// A game as the match of `log` found it, before its first entries.
    pub fn from_log_start(log: &MatchLog) -> Game {
        let mut g = Game::new(log.config.clone(), log.seed, log.max_players);
        g.world.resource_mut::<Clock>().tick = log.start_tick;
        g.world.resource_mut::<MatchState>().match_index = log.match_index;
        g.log.start_tick = log.start_tick;
        g.log.match_index = log.match_index;
        g
    }

    /// Applies a logged call.
    pub fn apply(&mut self, cmd: &Command) {
        match cmd {
            Command::Seat(p) => {
                let free = self.settings().max_players > p.seat
                    && self.world.resource::<Seats>().0[p.seat as usize].is_none();
                if free && self.find(&p.user_id).is_none() {
                    self.seat(Player {
                        ready: p.ready,
                        connected: p.connected,
                        disconnected_at: p.disconnected_at,
                        mv: clamp_move(p.mv[0], p.mv[1]),
                        ..Player::new(p.seat, &p.user_id, &p.name)
                    });
                }
            }
            Command::Remove { user_id } => self.remove_player(user_id),
            Command::Connected { user_id, connected } => self.set_connected(user_id, *connected),
            Command::Ready { user_id, ready } => self.set_ready(user_id, *ready),
            Command::Move { seat, x, y } => {
                if let Some(e) = self.at(*seat) {
                    self.steer(e, Some([*x, *y]), false);
                }
            }
            Command::Dash { seat } => {
                if let Some(e) = self.at(*seat) {
                    self.steer(e, None, true);
                }
            }
        }
    }

    fn settings(&self) -> &Settings {
        self.world.resource::<Settings>()
    }

    pub fn phase(&self) -> Phase {
        self.world.resource::<MatchState>().phase
    }

    pub fn tick(&self) -> u64 {
        self.world.resource::<Clock>().tick
    }

    pub fn config(&self) -> &BumperConfig {
        &self.settings().cfg
    }

    /// Logs a call for the replay of the current match (nothing while waiting: the
    /// next match's log starts from the seats as they are then).
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

    fn seat(&mut self, p: Player) {
        let seat = p.seat;
        let e = self.world.spawn((p, Disc::default())).id();
        self.world.resource_mut::<Seats>().0[seat as usize] = Some(e);
    }

    fn at(&self, seat: u8) -> Option<Entity> {
        self.world
            .resource::<Seats>()
            .0
            .get(seat as usize)
            .copied()
            .flatten()
    }

    fn find(&self, user_id: &str) -> Option<Entity> {
        self.world
            .resource::<Seats>()
            .iter()
            .map(|(_, e)| e)
            .find(|&e| {
                self.world
                    .get::<Player>(e)
                    .is_some_and(|p| p.user_id == user_id)
            })
    }

    fn event(&mut self, event: kurve_shared::bumper::Event) {
        self.world.resource_mut::<Outbox>().events.push(event);
    }

    /// Seats a player in the lowest free seat, while the room waits.
    pub fn add_player(&mut self, user_id: &str, name: &str) -> Result<u8, SeatError> {
        if self.phase() != Phase::Waiting {
            return Err(SeatError::AlreadyStarted);
        }
        if self.find(user_id).is_some() {
            return Err(SeatError::AlreadySeated);
        }
        let seats = self.world.resource::<Seats>();
        let seat = (0..self.settings().max_players)
            .find(|&s| seats.0[s as usize].is_none())
            .ok_or(SeatError::Full)?;
        self.seat(Player::new(seat, user_id, name));
        self.event(kurve_shared::bumper::Event::Seat {
            seat,
            id: user_id.into(),
            name: name.into(),
        });
        Ok(seat)
    }

    /// The player gives up the seat, at once.
    pub fn remove_player(&mut self, user_id: &str) {
        let Some(seat) = self.find(user_id).and_then(|e| self.world.get::<Player>(e)) else {
            return;
        };
        let seat = seat.seat;
        self.record(Command::Remove {
            user_id: user_id.into(),
        });
        flow::free_seat(&mut self.world, seat);
    }

    /// A socket dropped or came back. A dropped player's disc keeps its `move` and
    /// cannot dash; the seat is freed 15 s later unless they come back.
    pub fn set_connected(&mut self, user_id: &str, connected: bool) {
        let tick = self.tick();
        let Some(e) = self.find(user_id) else { return };
        let Some(mut p) = self.world.get_mut::<Player>(e) else {
            return;
        };
        if p.connected == connected {
            return;
        }
        p.connected = connected;
        p.disconnected_at = (!connected).then_some(tick);
        p.dash = false;
        // A new socket numbers its inputs afresh.
        (p.seq, p.ack_due) = (None, false);
        let seat = p.seat;
        self.event(kurve_shared::bumper::Event::Connection { seat, connected });
        self.record(Command::Connected {
            user_id: user_id.into(),
            connected,
        });
    }

    /// The ready flag, while the room waits.
    pub fn set_ready(&mut self, user_id: &str, ready: bool) {
        if self.phase() != Phase::Waiting {
            return;
        }
        let Some(e) = self.find(user_id) else { return };
        let Some(mut p) = self.world.get_mut::<Player>(e) else {
            return;
        };
        if p.ready == ready {
            return;
        }
        p.ready = ready;
        let seat = p.seat;
        self.event(kurve_shared::bumper::Event::Ready { seat, ready });
        self.record(Command::Ready {
            user_id: user_id.into(),
            ready,
        });
    }

    /// An `input`, already decoded: the player at `seat` (when the room knows it) or
    /// else found by user id. `seq` is acknowledged in the disc's next update.
    pub fn input(
        &mut self,
        seat: Option<u8>,
        user_id: &str,
        mv: [i32; 2],
        dash: bool,
        seq: Option<u32>,
    ) {
        let hinted = seat.and_then(|s| self.at(s)).filter(|&e| {
            self.world
                .get::<Player>(e)
                .is_some_and(|p| p.user_id == user_id)
        });
        let Some(e) = hinted.or_else(|| self.find(user_id)) else {
            return;
        };
        if let Some(seq) = seq
            && let Some(mut p) = self.world.get_mut::<Player>(e)
        {
            (p.seq, p.ack_due) = (Some(seq), true);
        }
        self.steer(e, Some(mv), dash);
    }

    /// A new `move` (logged when it changes) and a dash, accepted while playing when
    /// the disc is on the floe, connected and its dash is ready by the next tick.
    fn steer(&mut self, e: Entity, mv: Option<[i32; 2]>, dash: bool) {
        let playing = self.phase() == Phase::Playing;
        let next = self.tick() + 1;
        let ready = self
            .world
            .get::<Disc>(e)
            .is_some_and(|d| d.alive && d.dash_ready_at <= next);
        let Some(mut p) = self.world.get_mut::<Player>(e) else {
            return;
        };
        let seat = p.seat;
        let moved = match mv.map(|[x, y]| clamp_move(x, y)) {
            Some(mv) if mv != p.mv => {
                p.mv = mv;
                Some(mv)
            }
            _ => None,
        };
        let dashed = dash && playing && ready && p.connected && !p.dash;
        p.dash |= dashed;
        if let Some([x, y]) = moved {
            self.record(Command::Move { seat, x, y });
        }
        if dashed {
            self.record(Command::Dash { seat });
        }
    }

    /// Starts the log of the match about to begin: the seats as they are now.
    fn rebase_log(&mut self) {
        let tick = self.tick();
        let entries = view::seated(&self.world)
            .map(|(p, _)| LogEntry {
                tick,
                cmd: Command::Seat(Box::new(SeatedPlayer {
                    seat: p.seat,
                    user_id: p.user_id.clone(),
                    name: p.name.clone(),
                    ready: p.ready,
                    connected: p.connected,
                    disconnected_at: p.disconnected_at,
                    mv: p.mv,
                })),
            })
            .collect();
        self.log.start_tick = tick;
        self.log.match_index = self.world.resource::<MatchState>().match_index;
        self.log.entries = entries;
        self.log.end_tick = None;
        self.log.truncated = false;
    }

    /// Advances one tick.
    pub fn step(&mut self) -> Stepped {
        let before = self.phase();
        if before == Phase::Waiting
            && flow::ready_to_start(view::seated(&self.world).map(|(p, _)| p))
        {
            self.rebase_log();
        }
        self.systems.run(&mut self.world);
        let out = std::mem::take(&mut *self.world.resource_mut::<Outbox>());
        let tick = self.tick();
        let sent = before != Phase::Waiting || self.phase() != Phase::Waiting;
        let ended = out.ended.map(|ended| {
            let mut log = self.log.clone();
            log.end_tick = Some(tick);
            (ended, log)
        });
        Stepped {
            tick: sent.then_some(Tick {
                tick,
                discs: out.discs,
                floe_r: out.floe_r,
                events: out.events,
            }),
            lifecycle: out.lifecycle,
            ended,
        }
    }

    /// Waiting, and no one ready (a start to check), disconnected (a seat to expire).
    pub fn is_idle(&self) -> bool {
        self.phase() == Phase::Waiting
            && view::seated(&self.world).all(|(p, _)| !p.ready && p.connected)
    }

    pub fn players(&self) -> Vec<Player> {
        view::seated(&self.world).map(|(p, _)| p.clone()).collect()
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    #[cfg(test)]
    pub(crate) fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }
}
