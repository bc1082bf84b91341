//! Steering, movement, trail laying, gaps, and head updates for the wire.

use bevy_ecs::prelude::*;
use kurve_shared::game::grid::Segment;
use kurve_shared::game::{Draw, Event, HeadUpdate, ItemKind, Phase, Pt};
use rand::Rng;

use crate::sim::components::{
    Effects, GapState, Head, MatchState, Outbox, Player, Rngs, Seats, TrailLine, Trails,
};
use crate::sim::config::{FINE_PER_WIRE, Q16, Settings};
use crate::sim::hash::mix_segment;
use crate::sim::trig::{TRIG_SHIFT, cos_sin};

/// Turns every living head by its input (countdown and playing). In the countdown this
/// is all that happens: heads rotate in place.
pub fn steer_heads(
    settings: Res<Settings>,
    ms: Res<MatchState>,
    seats: Res<Seats>,
    mut q: Query<(&Player, &mut Head)>,
) {
    if !matches!(ms.phase, Phase::Countdown | Phase::Playing) {
        return;
    }
    for (_, e) in seats.iter() {
        let Ok((p, mut h)) = q.get_mut(e) else {
            continue;
        };
        if !h.alive {
            continue;
        }
        let turn = if h.reversed {
            -(p.turn as i64)
        } else {
            p.turn as i64
        };
        let step = settings.turn_per_tick * h.speed_q16 / Q16;
        h.heading = h.heading.wrapping_add((turn * step) as i32 as u32);
        h.draw = Draw::Still;
        h.moved = true;
    }
}

/// Whether any `wrap_all` effect is active.
pub fn walls_wrap(effects: &Effects) -> bool {
    effects.list.iter().any(|e| e.kind == ItemKind::WrapAll)
}

/// Appends the segment `from → to` to a head's open polyline (or starts one) and to the
/// collision grid.
pub fn lay_segment(
    trails: &mut Trails,
    seat: u8,
    from: Pt,
    to: Pt,
    r: i32,
    arc: i64,
    open: &mut Option<u32>,
) {
    match *open {
        Some(i) if trails.lines[i as usize].points.last() == Some(&from) => {
            trails.lines[i as usize].points.push(to);
        }
        _ => {
            trails.lines.push(TrailLine {
                seat,
                r,
                points: vec![from, to],
            });
            *open = Some(trails.lines.len() as u32 - 1);
        }
    }
    trails.digest = mix_segment(trails.digest, seat, from, to, r);
    trails.grid.insert(Segment {
        a: from,
        b: to,
        r,
        seat,
        arc,
    });
}

/// Moves every living head one step along its heading, wrapping if walls wrap, and lays
/// the trail segment when it is drawing.
pub fn move_heads(
    settings: Res<Settings>,
    ms: Res<MatchState>,
    effects: Res<Effects>,
    seats: Res<Seats>,
    mut trails: ResMut<Trails>,
    mut q: Query<&mut Head>,
) {
    if ms.phase != Phase::Playing {
        return;
    }
    let wrap = walls_wrap(&effects);
    let (wf, hf) = (
        settings.w as i64 * FINE_PER_WIRE,
        settings.h as i64 * FINE_PER_WIRE,
    );
    for (seat, e) in seats.iter() {
        let Ok(mut h) = q.get_mut(e) else { continue };
        if !h.alive {
            continue;
        }
        let h = &mut *h;
        h.prev = h.wire_pos();
        let spd = settings.speed_fine * h.speed_q16 / Q16;
        let (c, s) = cos_sin(h.heading);
        let half = 1i64 << (TRIG_SHIFT - 1);
        let mut np = [
            h.pos[0] + ((spd * c + half) >> TRIG_SHIFT),
            h.pos[1] + ((spd * s + half) >> TRIG_SHIFT),
        ];
        let mut wrapped = false;
        if wrap {
            for (v, lim) in np.iter_mut().zip([wf, hf]) {
                if *v < 0 {
                    *v += lim;
                    wrapped = true;
                } else if *v >= lim {
                    *v -= lim;
                    wrapped = true;
                }
            }
        }
        h.pos = np;
        h.odometer += spd;
        h.moved = true;
        let in_gap = matches!(h.gap, GapState::Gap { .. });
        h.draw = if wrapped {
            Draw::Wrap
        } else if in_gap || h.ghost {
            Draw::Gap
        } else {
            Draw::Solid
        };
        if h.draw == Draw::Solid {
            let to = h.wire_pos();
            lay_segment(
                &mut trails,
                seat,
                h.prev,
                to,
                h.radius,
                h.odometer,
                &mut h.open,
            );
        } else {
            h.open = None;
        }
    }
}

/// Counts down solid stretches (in ticks) and gaps (in distance) of living heads, and
/// draws the next length from the seat's gap stream.
pub fn advance_gaps(
    settings: Res<Settings>,
    ms: Res<MatchState>,
    seats: Res<Seats>,
    mut rngs: ResMut<Rngs>,
    mut outbox: ResMut<Outbox>,
    mut q: Query<&mut Head>,
) {
    if ms.phase != Phase::Playing {
        return;
    }
    let cfg = &settings.cfg;
    for (seat, e) in seats.iter() {
        let Ok(mut h) = q.get_mut(e) else { continue };
        if !h.alive || h.draw == Draw::Still {
            continue;
        }
        let rng = &mut rngs.gaps[seat as usize];
        match h.gap {
            GapState::Solid { ticks_left } if ticks_left > 1 => {
                h.gap = GapState::Solid {
                    ticks_left: ticks_left - 1,
                }
            }
            GapState::Solid { .. } => {
                let widths = rng
                    .random_range(cfg.gap_min_widths..=cfg.gap_max_widths.max(cfg.gap_min_widths))
                    as i64;
                h.gap = GapState::Gap {
                    dist_left: widths * 2 * h.radius as i64 * FINE_PER_WIRE,
                };
                outbox.events.push(Event::Gap { seat, on: true });
            }
            GapState::Gap { dist_left } => {
                let left = dist_left - settings.speed_fine * h.speed_q16 / Q16;
                if left > 0 {
                    h.gap = GapState::Gap { dist_left: left };
                } else {
                    let ticks = rng.random_range(
                        settings.solid_min_ticks
                            ..=settings.solid_max_ticks.max(settings.solid_min_ticks),
                    );
                    h.gap = GapState::Solid { ticks_left: ticks };
                    outbox.events.push(Event::Gap { seat, on: false });
                }
            }
        }
    }
}

/// Writes the head update of every head that moved or turned this tick, with the seat's
/// input acknowledgement when it changed since the last one sent.
pub fn emit_heads(
    seats: Res<Seats>,
    mut outbox: ResMut<Outbox>,
    mut q: Query<(&mut Player, &mut Head)>,
) {
    for (seat, e) in seats.iter() {
        let Ok((mut pl, mut h)) = q.get_mut(e) else {
            continue;
        };
        if !h.moved {
            continue;
        }
        h.moved = false;
        let ack = if pl.ack_due {
            pl.ack_due = false;
            pl.seq
        } else {
            None
        };
        let p = h.wire_pos();
        outbox.heads.push(HeadUpdate {
            seat,
            x: p[0],
            y: p[1],
            heading: (h.heading >> 16) as u16,
            draw: h.draw,
            ack,
        });
    }
}
