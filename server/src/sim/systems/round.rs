//! Rounds and matches: deciding a round, phase timers, the ready flow, spawns, standings.

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use kurve_shared::game::geom::dist2;
use kurve_shared::game::{
    Event, MatchEndMsg, POS_SCALE, Phase, PhaseMsg, RoomEvent, RoundEndMsg, RoundPlayer,
    RoundStartMsg, ScoreLine, SeatScore, Standing, seat_color,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::sim::MatchRecord;
use crate::sim::components::{
    Clock, Effects, Field, GapState, Head, MatchState, Outbox, Participant, Player, Rngs, Seats,
    Trails,
};
use crate::sim::config::{FINE_PER_WIRE, Q16, Settings};
use crate::sim::hash::derive_seed;

/// Candidate positions drawn per spawn before accepting one that is too close.
const SPAWN_TRIES: u32 = 200;

/// RNG purposes (part of each stream's seed).
const PURPOSE_SPAWN: u64 = 1;
const PURPOSE_ITEMS: u64 = 2;
const PURPOSE_GAPS: u64 = 3;

impl Rngs {
    /// The streams of round `round` of the match seeded `match_seed`.
    pub fn for_round(match_seed: u64, round: u32) -> Self {
        let s = |purpose: u64, k: u64| {
            ChaCha8Rng::seed_from_u64(derive_seed(&[match_seed, round as u64, purpose, k]))
        };
        Rngs {
            spawn: s(PURPOSE_SPAWN, 0),
            items: s(PURPOSE_ITEMS, 0),
            gaps: (0..8).map(|k| s(PURPOSE_GAPS, k)).collect(),
        }
    }
}

/// Whether the ready flow starts something: every seated player is ready (one alone
/// practises; two or more start a match).
pub fn ready_to_start<'a>(players: impl Iterator<Item = &'a Player>) -> bool {
    let mut n = 0;
    for p in players.filter(|p| !p.leaving) {
        if !p.ready {
            return false;
        }
        n += 1;
    }
    n >= 1
}

/// Whether the match is decided: someone has ≥ target points and leads by ≥ `min_lead`.
pub fn match_decided(scores: &[u32], target: u32, min_lead: u32) -> bool {
    let mut s: Vec<u32> = scores.to_vec();
    s.sort_unstable_by(|a, b| b.cmp(a));
    match s.as_slice() {
        [] => false,
        [top] => *top >= target,
        [top, second, ..] => *top >= target && top - second >= min_lead,
    }
}

/// Everything the round and phase systems touch.
#[derive(SystemParam)]
pub struct RoundCtx<'w, 's> {
    settings: Res<'w, Settings>,
    clock: Res<'w, Clock>,
    ms: ResMut<'w, MatchState>,
    seats: Res<'w, Seats>,
    trails: ResMut<'w, Trails>,
    field: ResMut<'w, Field>,
    effects: ResMut<'w, Effects>,
    rngs: ResMut<'w, Rngs>,
    outbox: ResMut<'w, Outbox>,
    q: Query<'w, 's, (&'static mut Player, &'static mut Head)>,
}

impl RoundCtx<'_, '_> {
    fn set_phase(&mut self, phase: Phase, duration: Option<u64>) {
        let tick = self.clock.tick;
        self.ms.phase = phase;
        self.ms.phase_ends_at = duration.map(|d| tick + d);
        let (round, ends_at) = (self.ms.round, self.ms.phase_ends_at);
        self.outbox.events.push(Event::Phase {
            phase,
            round,
            ends_at,
        });
        self.outbox.lifecycle.push(RoomEvent::Phase(PhaseMsg {
            phase,
            round,
            tick,
            ends_at,
            duration_ticks: duration.map(|d| d as u32),
        }));
    }

    fn seated(&self) -> Vec<Entity> {
        self.seats
            .iter()
            .filter(|(_, e)| self.q.get(*e).is_ok_and(|(p, _)| !p.leaving))
            .map(|(_, e)| e)
            .collect()
    }

    fn score_lines(&self) -> Vec<ScoreLine> {
        self.seated()
            .into_iter()
            .filter_map(|e| self.q.get(e).ok())
            .map(|(p, _)| ScoreLine {
                id: p.user_id.clone(),
                name: p.name.clone(),
                seat: p.seat,
                color: seat_color(p.seat),
                score: p.score,
            })
            .collect()
    }

    fn seat_scores(&self) -> Vec<SeatScore> {
        self.score_lines()
            .into_iter()
            .map(|l| SeatScore {
                seat: l.seat,
                score: l.score,
            })
            .collect()
    }

    fn clear_board(&mut self) {
        self.trails.lines.clear();
        self.trails.grid.clear();
        self.trails.digest = 0;
        self.field.items.clear();
        self.effects.list.clear();
    }

    fn start_match(&mut self) {
        let seated = self.seated();
        let n = seated.len() as u8;
        let ms = &mut *self.ms;
        ms.match_index += 1;
        ms.match_seed = derive_seed(&[ms.room_seed, ms.match_index]);
        ms.practice = n == 1;
        ms.n_at_start = n;
        ms.target = if ms.practice {
            0
        } else {
            self.settings.cfg.points_per_opponent * (n as u32 - 1)
        };
        ms.round = 0;
        ms.decided = false;
        ms.abort_practice = false;
        ms.next_item_id = 0;
        ms.next_effect_id = 0;
        ms.started_at = self.clock.tick;
        ms.participants.clear();
        for e in seated {
            let Ok((mut p, _)) = self.q.get_mut(e) else {
                continue;
            };
            p.score = 0;
            ms.participants.push(Participant {
                seat: p.seat,
                user_id: p.user_id.clone(),
                name: p.name.clone(),
                left_with: None,
            });
        }
    }

    fn start_round(&mut self) {
        self.ms.round += 1;
        self.clear_board();
        *self.rngs = Rngs::for_round(self.ms.match_seed, self.ms.round);
        let st = &*self.settings;
        let margin = st.cfg.spawn_wall_turn_radii as i32 * st.min_turn_radius;
        let (x0, x1) = (
            margin.min(st.w / 2),
            (st.w - margin).max(margin.min(st.w / 2)),
        );
        let (y0, y1) = (
            margin.min(st.h / 2),
            (st.h - margin).max(margin.min(st.h / 2)),
        );
        let apart = (st.cfg.spawn_apart_px as i32 * POS_SCALE) as i64;
        let mut placed: Vec<[i32; 2]> = Vec::new();
        let mut players = Vec::new();
        for e in self.seated() {
            let rng = &mut self.rngs.spawn;
            let mut p = [0, 0];
            for _ in 0..SPAWN_TRIES {
                p = [rng.random_range(x0..=x1), rng.random_range(y0..=y1)];
                if placed.iter().all(|&o| dist2(o, p) >= apart * apart) {
                    break;
                }
            }
            placed.push(p);
            let heading: u32 = rng.random();
            let Ok((pl, mut h)) = self.q.get_mut(e) else {
                continue;
            };
            let seat = pl.seat;
            let solid = self.rngs.gaps[seat as usize]
                .random_range(st.solid_min_ticks..=st.solid_max_ticks.max(st.solid_min_ticks));
            *h = Head {
                alive: true,
                pos: [p[0] as i64 * FINE_PER_WIRE, p[1] as i64 * FINE_PER_WIRE],
                prev: p,
                heading,
                odometer: 0,
                radius: st.cfg.line_radius,
                speed_q16: Q16,
                reversed: false,
                ghost: false,
                gap: GapState::Solid { ticks_left: solid },
                open: None,
                draw: kurve_shared::game::Draw::Still,
                moved: false,
            };
            players.push(RoundPlayer {
                seat,
                id: pl.user_id.clone(),
                name: pl.name.clone(),
                color: seat_color(seat),
                score: pl.score,
                x: p[0],
                y: p[1],
                heading: (heading >> 16) as u16,
                hf: Some(heading),
                radius: h.radius,
                connected: pl.connected,
            });
        }
        self.ms.round_players = players.len() as u8;
        let gap = self
            .rngs
            .items
            .random_range(st.item_min_ticks..=st.item_max_ticks) as u64;
        self.ms.next_item_at = self.clock.tick + st.countdown_ticks + gap;
        let (round, target) = (self.ms.round, self.ms.target);
        let lines = self.score_lines();
        self.outbox
            .lifecycle
            .push(RoomEvent::RoundStart(RoundStartMsg {
                round,
                target,
                players: lines,
            }));
        self.outbox.events.push(Event::RoundStart {
            round,
            target,
            players,
        });
        let d = self.settings.countdown_ticks;
        self.set_phase(Phase::Countdown, Some(d));
    }

    fn finish_match(&mut self, forfeit: bool) {
        let seated: Vec<(String, u32)> = self
            .seated()
            .into_iter()
            .filter_map(|e| self.q.get(e).ok())
            .map(|(p, _)| (p.user_id.clone(), p.score))
            .collect();
        let mut standings: Vec<Standing> = self
            .ms
            .participants
            .iter()
            .map(|pt| {
                let here = seated.iter().find(|(id, _)| *id == pt.user_id);
                Standing {
                    id: pt.user_id.clone(),
                    name: pt.name.clone(),
                    seat: pt.seat,
                    points: here.map(|s| s.1).or(pt.left_with).unwrap_or(0),
                    place: 0,
                    won: false,
                    left: here.is_none(),
                }
            })
            .collect();
        standings.sort_by(|a, b| b.points.cmp(&a.points).then(a.seat.cmp(&b.seat)));
        for i in 0..standings.len() {
            standings[i].place = if i > 0 && standings[i].points == standings[i - 1].points {
                standings[i - 1].place
            } else {
                i as u32 + 1
            };
        }
        let winner = if forfeit {
            (seated.len() == 1).then(|| seated[0].0.clone())
        } else {
            standings.first().map(|s| s.id.clone())
        };
        for s in &mut standings {
            s.won = Some(&s.id) == winner.as_ref();
        }
        let winner_seat = standings.iter().find(|s| s.won).map(|s| s.seat);
        let duration_ticks = self.clock.tick - self.ms.started_at;
        let rounds = self.ms.round;
        let scores = self.seat_scores();
        self.outbox.events.push(Event::MatchEnd {
            winner: winner_seat,
            scores,
        });
        self.outbox.lifecycle.push(RoomEvent::MatchEnd(MatchEndMsg {
            standings: standings.clone(),
            winner: winner.clone(),
            rounds,
            duration_ticks,
            forfeit,
        }));
        self.outbox.record = Some(MatchRecord {
            seed: self.ms.match_seed,
            room_seed: self.ms.room_seed,
            match_index: self.ms.match_index,
            started_at_tick: self.ms.started_at,
            duration_ticks,
            rounds,
            winner,
            forfeit,
            players: standings,
            input_log: Vec::new(),
        });
        let d = self.settings.match_over_ticks;
        self.set_phase(Phase::Finished, Some(d));
    }

    fn enter_waiting(&mut self) {
        self.clear_board();
        self.ms.practice = false;
        self.ms.abort_practice = false;
        self.ms.decided = false;
        for (_, e) in self.seats.iter() {
            if let Ok((mut p, mut h)) = self.q.get_mut(e) {
                p.ready = false;
                h.alive = false;
                h.open = None;
            }
        }
        self.set_phase(Phase::Waiting, None);
    }
}

/// Ends the round when at most one head is left (none, for a lone practising player):
/// `round_end` with the scores, then the round-over pause; decides whether the match is
/// won (≥ 10·(N−1) points and a lead ≥ 2).
pub fn end_round(mut cx: RoundCtx) {
    if !matches!(cx.ms.phase, Phase::Countdown | Phase::Playing) {
        return;
    }
    let alive: Vec<u8> = cx
        .seats
        .iter()
        .filter(|(_, e)| cx.q.get(*e).is_ok_and(|(_, h)| h.alive))
        .map(|(s, _)| s)
        .collect();
    let over = if cx.ms.round_players >= 2 {
        alive.len() <= 1
    } else {
        alive.is_empty()
    };
    if !over {
        return;
    }
    let winner = (alive.len() == 1 && cx.ms.round_players >= 2).then(|| alive[0]);
    let scores = cx.score_lines();
    let round = cx.ms.round;
    cx.outbox.events.push(Event::RoundEnd {
        round,
        winner,
        scores: scores
            .iter()
            .map(|l| SeatScore {
                seat: l.seat,
                score: l.score,
            })
            .collect(),
    });
    let winner_id = winner.and_then(|s| scores.iter().find(|l| l.seat == s).map(|l| l.id.clone()));
    cx.outbox.lifecycle.push(RoomEvent::RoundEnd(RoundEndMsg {
        round,
        winner: winner_id,
        scores: scores.clone(),
    }));
    if !cx.ms.practice {
        let pts: Vec<u32> = scores.iter().map(|l| l.score).collect();
        cx.ms.decided = match_decided(&pts, cx.ms.target, cx.settings.cfg.min_lead);
    }
    let d = cx.settings.round_over_ticks;
    cx.set_phase(Phase::RoundOver, Some(d));
}

/// Phase timers and the ready flow: waiting → countdown (match start) → playing →
/// round over → countdown or finished → waiting.
pub fn advance_phase(mut cx: RoundCtx) {
    let tick = cx.clock.tick;
    let due = cx.ms.phase_ends_at.is_some_and(|t| tick >= t);
    if cx.ms.phase != Phase::Waiting && cx.ms.practice && cx.ms.abort_practice {
        cx.enter_waiting();
        return;
    }
    match cx.ms.phase {
        Phase::Waiting => {
            let ready = ready_to_start(
                cx.seats
                    .iter()
                    .filter_map(|(_, e)| cx.q.get(e).ok())
                    .map(|(p, _)| p),
            );
            if ready {
                cx.start_match();
                cx.start_round();
            }
        }
        Phase::Countdown if due => cx.set_phase(Phase::Playing, None),
        Phase::RoundOver if due => {
            let n = cx.seated().len();
            if cx.ms.practice {
                if n >= 1 {
                    cx.start_round()
                } else {
                    cx.enter_waiting()
                }
            } else if cx.ms.decided {
                cx.finish_match(false);
            } else if n < 2 {
                cx.finish_match(true);
            } else {
                cx.start_round();
            }
        }
        Phase::Finished if due => cx.enter_waiting(),
        _ => {}
    }
}
