//! The match around the physics: seats that expire, the ready flow, the phases
//! (`waiting` → `countdown` → `playing` → `finished` → `waiting`), the match's end
//! (target, clock, forfeit) and its standings.

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use kurve_shared::bumper::{Event, MatchEndMsg, Phase, PhaseMsg, StartPlayer};
use kurve_shared::room::Standing;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;

use super::components::{
    Clock, Disc, Ended, MatchState, Outbox, Participant, Player, Seats, SpawnRng,
};
use super::config::{Settings, wire};
use super::systems::spawn_spot;
use crate::game::hash::derive_seed;
use crate::game::{Lifecycle, rank};

/// The spawn stream's purpose (part of its seed).
const PURPOSE_SPAWN: u64 = 1;

impl SpawnRng {
    /// The spawn stream of the match seeded `match_seed`.
    pub fn for_match(match_seed: u64) -> SpawnRng {
        SpawnRng(ChaCha8Rng::seed_from_u64(derive_seed(&[
            match_seed,
            PURPOSE_SPAWN,
        ])))
    }
}

/// Whether a match starts: at least two seated, every one ready.
pub fn ready_to_start<'a>(players: impl Iterator<Item = &'a Player>) -> bool {
    let mut n = 0;
    for p in players {
        if !p.ready {
            return false;
        }
        n += 1;
    }
    n >= 2
}

/// Frees `seat`: its entity goes, a `left` event is sent, and a participant of the
/// running match keeps the points and falls it had.
pub fn free_seat(world: &mut World, seat: u8) {
    let Some(e) = world
        .resource_mut::<Seats>()
        .0
        .get_mut(seat as usize)
        .and_then(Option::take)
    else {
        return;
    };
    if let Some(p) = world.get::<Player>(e).cloned() {
        let mut ms = world.resource_mut::<MatchState>();
        if ms.phase != Phase::Waiting
            && let Some(part) = ms
                .participants
                .iter_mut()
                .find(|x| x.seat == seat && x.user_id == p.user_id)
        {
            part.left_with = Some((p.points, p.falls));
        }
    }
    world.despawn(e);
    world
        .resource_mut::<Outbox>()
        .events
        .push(Event::Left { seat });
}

/// Seats whose player has been disconnected for the grace period are freed.
pub fn expire_seats(world: &mut World) {
    let tick = world.resource::<Clock>().tick;
    let grace = world.resource::<Settings>().grace;
    let expired: Vec<u8> = world
        .resource::<Seats>()
        .iter()
        .filter(|(_, e)| {
            world.get::<Player>(*e).is_some_and(|p| {
                !p.connected
                    && p.disconnected_at
                        .is_some_and(|at| tick >= at.saturating_add(grace))
            })
        })
        .map(|(s, _)| s)
        .collect();
    for seat in expired {
        free_seat(world, seat);
    }
}

/// Everything the phase flow touches.
#[derive(SystemParam)]
pub struct Flow<'w, 's> {
    settings: Res<'w, Settings>,
    clock: Res<'w, Clock>,
    ms: ResMut<'w, MatchState>,
    seats: Res<'w, Seats>,
    rng: ResMut<'w, SpawnRng>,
    outbox: ResMut<'w, Outbox>,
    q: Query<'w, 's, (&'static mut Player, &'static mut Disc)>,
}

impl Flow<'_, '_> {
    fn set_phase(&mut self, phase: Phase, duration: Option<u64>) {
        let tick = self.clock.tick;
        let ends_at = duration.map(|d| tick + d);
        self.ms.phase = phase;
        self.ms.phase_ends_at = ends_at;
        self.outbox.events.push(Event::Phase { phase, ends_at });
        let payload = serde_json::to_value(PhaseMsg {
            phase,
            tick,
            ends_at,
        });
        self.lifecycle("phase", payload);
    }

    fn lifecycle(&mut self, event: &'static str, payload: serde_json::Result<Value>) {
        // Plain data always becomes JSON.
        let payload = payload.unwrap_or_else(|e| panic!("a Bumper {event} did not encode: {e}"));
        self.outbox.lifecycle.push(Lifecycle { event, payload });
    }

    /// Every seated player ready, two or more: the match begins. Scores reset, discs
    /// are placed, and the countdown tick announces every seat (`seat` or `left`,
    /// `ready`, `connection` if dropped, `score`, `spawn`), so a client that saw nothing
    /// while the room waited knows the whole roster. The events of calls made while
    /// waiting are superseded by it, and dropped.
    fn start_match(&mut self) {
        let tick = self.clock.tick;
        let ms = &mut *self.ms;
        ms.match_index = ms.match_index.saturating_add(1);
        ms.match_seed = derive_seed(&[ms.room_seed, ms.match_index]);
        ms.started_at = tick;
        ms.match_ends_at = None;
        ms.floe_r = self.settings.floe_r;
        ms.participants.clear();
        *self.rng = SpawnRng::for_match(ms.match_seed);
        self.outbox.events.clear();
        self.outbox.floe_r = Some(wire(self.settings.floe_r));
        let mut placed = Vec::new();
        for seat in 0..self.settings.max_players {
            let Some(e) = self.seats.0[seat as usize] else {
                self.outbox.events.push(Event::Left { seat });
                continue;
            };
            let Ok((mut p, mut d)) = self.q.get_mut(e) else {
                continue;
            };
            let pos = spawn_spot(&mut self.rng, &self.settings, self.ms.floe_r, &placed);
            placed.push(pos);
            (p.points, p.falls, p.dash) = (0, 0, false);
            *d = Disc {
                alive: true,
                pos,
                dash_ready_at: tick,
                ..Disc::default()
            };
            self.ms.participants.push(Participant {
                seat,
                user_id: p.user_id.clone(),
                name: p.name.clone(),
                left_with: None,
            });
            let events = &mut self.outbox.events;
            events.push(Event::Seat {
                seat,
                id: p.user_id.clone(),
                name: p.name.clone(),
            });
            events.push(Event::Ready { seat, ready: true });
            if !p.connected {
                events.push(Event::Connection {
                    seat,
                    connected: false,
                });
            }
            events.push(Event::Score {
                seat,
                points: 0,
                falls: 0,
            });
            events.push(Event::Spawn {
                seat,
                x: wire(pos[0]),
                y: wire(pos[1]),
            });
        }
        let countdown = self.settings.countdown;
        self.set_phase(Phase::Countdown, Some(countdown));
    }

    /// The countdown is over: the match clock starts.
    fn start_play(&mut self) {
        let match_ends_at = self.clock.tick + self.settings.match_ticks;
        self.ms.match_ends_at = Some(match_ends_at);
        self.set_phase(Phase::Playing, None);
        let players = self
            .seats
            .iter()
            .filter_map(|(seat, e)| {
                let (p, d) = self.q.get(e).ok()?;
                Some(StartPlayer {
                    seat,
                    id: p.user_id.clone(),
                    name: p.name.clone(),
                    x: wire(d.pos[0]),
                    y: wire(d.pos[1]),
                })
            })
            .collect();
        self.outbox.events.push(Event::Start {
            players,
            match_ends_at,
        });
    }

    /// Everyone who started the match, best first (crate::game::rank: points, then
    /// fewer falls). In a forfeit those still seated come first and only they can win.
    fn standings(&self, forfeit: bool) -> Vec<Standing> {
        let (mut stayed, mut gone) = (Vec::new(), Vec::new());
        for part in &self.ms.participants {
            let here = self.seats.0[part.seat as usize]
                .and_then(|e| self.q.get(e).ok())
                .filter(|(p, _)| p.user_id == part.user_id)
                .map(|(p, _)| (p.points, p.falls));
            let (points, falls) = here.or(part.left_with).unwrap_or_default();
            let line = Standing {
                id: part.user_id.clone(),
                name: part.name.clone(),
                seat: part.seat,
                points,
                place: 0,
                won: false,
                left: here.is_none(),
            };
            if forfeit && here.is_none() {
                gone.push((line, falls));
            } else {
                stayed.push((line, falls));
            }
        }
        let mut standings = rank(stayed);
        let ahead = standings.len() as u32;
        standings.extend(rank(gone).into_iter().map(|mut s| {
            s.place += ahead;
            s.won = false;
            s
        }));
        standings
    }

    fn finish_match(&mut self, forfeit: bool) {
        let standings = self.standings(forfeit);
        let winner = standings.iter().find(|s| s.won).map(|s| s.id.clone());
        let duration_ticks = self.clock.tick.saturating_sub(self.ms.started_at);
        let payload = serde_json::to_value(MatchEndMsg {
            standings: standings.clone(),
            winner: winner.clone(),
            rounds: 1,
            duration_ticks,
            forfeit,
        });
        self.lifecycle("match_end", payload);
        self.outbox.ended = Some(Ended {
            seed: self.ms.match_seed,
            duration_ticks,
            winner,
            standings,
        });
        let finished = self.settings.finished;
        self.set_phase(Phase::Finished, Some(finished));
    }

    /// Back to waiting: discs leave the floe, ready flags clear, the floe is whole.
    fn enter_waiting(&mut self) {
        for (seat, e) in self.seats.iter() {
            let Ok((mut p, mut d)) = self.q.get_mut(e) else {
                continue;
            };
            if std::mem::take(&mut p.ready) {
                self.outbox.events.push(Event::Ready { seat, ready: false });
            }
            p.dash = false;
            (d.alive, d.respawn_at, d.touched) = (false, None, None);
        }
        if self.ms.floe_r != self.settings.floe_r {
            self.ms.floe_r = self.settings.floe_r;
            self.outbox.floe_r = Some(wire(self.settings.floe_r));
        }
        self.ms.match_ends_at = None;
        self.ms.participants.clear();
        self.set_phase(Phase::Waiting, None);
    }
}

/// Phase timers and the match's end: a match ends at the target, at the clock, or as
/// a forfeit when fewer than two players are seated.
pub fn advance_phase(mut flow: Flow) {
    let tick = flow.clock.tick;
    let due = flow.ms.phase_ends_at.is_some_and(|t| tick >= t);
    let seated = flow.seats.iter().count();
    match flow.ms.phase {
        Phase::Waiting => {
            let ready = ready_to_start(
                flow.seats
                    .iter()
                    .filter_map(|(_, e)| flow.q.get(e).ok().map(|(p, _)| p)),
            );
            if ready {
                flow.start_match();
            }
        }
        Phase::Countdown | Phase::Playing if seated < 2 => flow.finish_match(true),
        Phase::Countdown if due => flow.start_play(),
        Phase::Playing => {
            let target = flow.settings.cfg.target;
            let reached = flow
                .seats
                .iter()
                .filter_map(|(_, e)| flow.q.get(e).ok())
                .any(|(p, _)| p.points >= target);
            let timed_out = flow.ms.match_ends_at.is_some_and(|t| tick >= t);
            if reached || timed_out {
                flow.finish_match(false);
            }
        }
        Phase::Finished if due => flow.enter_waiting(),
        Phase::Countdown | Phase::Finished => {}
    }
}
