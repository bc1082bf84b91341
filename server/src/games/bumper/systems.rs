//! The physics of a tick, one system per step, each visiting discs by seat: drive
//! (friction, acceleration, dash), move, push (contacts), shrink the floe, drop the
//! discs that left it (and score), bring fallen discs back, and write the disc updates.
//!
//! Integers only: positions in 1/1024 px, velocities in 1/1024 px per second, lengths
//! by integer square roots, products in `i128`.

use bevy_ecs::prelude::*;
use kurve_shared::bumper::{DiscUpdate, Event, Phase};
use rand::Rng;

use super::components::{Clock, Disc, MatchState, Outbox, Player, Seats, SpawnRng, Touch};
use super::config::{FINE_PER_WIRE, FRICTION_PERMILLE, MOVE_MAX, Settings, wire};

/// Spawn spots drawn per respawn; the one furthest from the other discs wins.
const SPAWN_CANDIDATES: usize = 12;
/// Draws per candidate to land inside the spawn circle (each lands with p ≈ 0.79).
const SPAWN_TRIES: usize = 32;

/// The squared length of `v`.
pub fn len2(v: [i64; 2]) -> i128 {
    let (x, y) = (v[0] as i128, v[1] as i128);
    x * x + y * y
}

/// The integer square root of `n ≥ 0`, rounded down.
pub fn isqrt(n: i128) -> i128 {
    n.max(0).isqrt()
}

/// `v` (squared length `n > 0`) scaled to length `len`.
fn scaled(v: [i64; 2], n: i128, len: i64) -> [i64; 2] {
    let cur = isqrt(n).max(1);
    v.map(|c| (c as i128 * len as i128 / cur) as i64)
}

/// Caps `v` at length `max`.
fn capped(v: [i64; 2], max: i64) -> [i64; 2] {
    let n = len2(v);
    if n > max as i128 * max as i128 {
        scaled(v, n, max)
    } else {
        v
    }
}

fn playing(ms: &MatchState) -> bool {
    ms.phase == Phase::Playing
}

/// Friction, then the `move`'s acceleration (which adds no speed above the top speed),
/// then a pending dash: an impulse along `move`, or along the velocity when `move` is
/// zero (nothing when both are).
pub fn drive_discs(
    settings: Res<Settings>,
    clock: Res<Clock>,
    ms: Res<MatchState>,
    seats: Res<Seats>,
    mut outbox: ResMut<Outbox>,
    mut q: Query<(&mut Player, &mut Disc)>,
) {
    if !playing(&ms) {
        return;
    }
    let s = &*settings;
    let den = 1000 * s.hz;
    let keep = (den - FRICTION_PERMILLE).max(0);
    for (seat, e) in seats.iter() {
        let Ok((mut p, mut d)) = q.get_mut(e) else {
            continue;
        };
        let dash = std::mem::take(&mut p.dash);
        if !d.alive {
            continue;
        }
        d.vel = d.vel.map(|v| v * keep / den);
        if p.mv != [0, 0] {
            let before = len2(d.vel);
            for (v, m) in d.vel.iter_mut().zip(p.mv) {
                *v += s.accel * m as i64 / (MOVE_MAX as i64 * s.hz);
            }
            let after = len2(d.vel);
            let cap = before.max(s.top_speed as i128 * s.top_speed as i128);
            if after > cap {
                d.vel = scaled(d.vel, after, isqrt(cap) as i64);
            }
        }
        if dash && p.connected && d.dash_ready_at <= clock.tick {
            let along = if p.mv != [0, 0] {
                p.mv.map(i64::from)
            } else {
                d.vel
            };
            let n = len2(along);
            if n > 0 {
                let kick = scaled(along, n, s.dash);
                d.vel = [d.vel[0] + kick[0], d.vel[1] + kick[1]];
                d.dash_ready_at = clock.tick + s.dash_cooldown;
                outbox.events.push(Event::Dash { seat });
            }
        }
        d.vel = capped(d.vel, s.max_speed);
    }
}

/// Every disc on the floe moves by its velocity.
pub fn move_discs(
    settings: Res<Settings>,
    ms: Res<MatchState>,
    seats: Res<Seats>,
    mut q: Query<&mut Disc>,
) {
    if !playing(&ms) {
        return;
    }
    for (_, e) in seats.iter() {
        let Ok(mut d) = q.get_mut(e) else { continue };
        if d.alive {
            let step = d.vel.map(|v| v / settings.hz);
            d.pos = [d.pos[0] + step[0], d.pos[1] + step[1]];
        }
    }
}

/// Contacts, pair by pair in seat order: an equal-mass elastic impulse along the centre
/// line (only while the discs approach), then both pushed apart until they just touch;
/// each remembers the other as the last to touch it.
pub fn collide_discs(
    settings: Res<Settings>,
    clock: Res<Clock>,
    ms: Res<MatchState>,
    seats: Res<Seats>,
    mut q: Query<&mut Disc>,
) {
    if !playing(&ms) {
        return;
    }
    let mut discs: Vec<(u8, Entity, Disc)> = seats
        .iter()
        .filter_map(|(s, e)| Some((s, e, q.get(e).ok()?.clone())))
        .filter(|(_, _, d)| d.alive)
        .collect();
    let reach = 2 * settings.disc_r;
    for i in 0..discs.len() {
        for j in i + 1..discs.len() {
            let (head, tail) = discs.split_at_mut(j);
            let ((sa, _, a), (sb, _, b)) = (&mut head[i], &mut tail[0]);
            let mut d = [b.pos[0] - a.pos[0], b.pos[1] - a.pos[1]];
            let mut n = len2(d);
            if n >= reach as i128 * reach as i128 {
                continue;
            }
            if n == 0 {
                // Exactly on top of each other: the lower seat goes left.
                (d, n) = ([1, 0], 1);
            }
            a.touched = Some(Touch {
                seat: *sb,
                at: clock.tick,
            });
            b.touched = Some(Touch {
                seat: *sa,
                at: clock.tick,
            });
            let dv = [b.vel[0] - a.vel[0], b.vel[1] - a.vel[1]];
            let closing = dv[0] as i128 * d[0] as i128 + dv[1] as i128 * d[1] as i128;
            if closing < 0 {
                let j = d.map(|c| (closing * c as i128 / n) as i64);
                a.vel = [a.vel[0] + j[0], a.vel[1] + j[1]];
                b.vel = [b.vel[0] - j[0], b.vel[1] - j[1]];
            }
            let len = isqrt(n).max(1);
            let overlap = reach as i128 - len;
            let push = d.map(|c| (overlap * c as i128 / len) as i64);
            a.pos = [a.pos[0] - push[0] / 2, a.pos[1] - push[1] / 2];
            b.pos = [
                b.pos[0] + push[0] - push[0] / 2,
                b.pos[1] + push[1] - push[1] / 2,
            ];
        }
    }
    for (_, e, disc) in discs {
        if let Ok(mut d) = q.get_mut(e) {
            *d = disc;
        }
    }
}

/// The floe's radius at `tick`: full until the last `shrink_ticks` of the match clock,
/// then linearly down to the final radius at its end.
pub fn floe_radius(s: &Settings, match_ends_at: u64, tick: u64) -> i64 {
    let from = match_ends_at.saturating_sub(s.shrink_ticks);
    let done = tick.saturating_sub(from).min(s.shrink_ticks) as i64;
    s.floe_r - (s.floe_r - s.floe_final_r) * done / (s.shrink_ticks.max(1) as i64)
}

/// Shrinks the floe; the tick carries its radius when the wire value changes.
pub fn shrink_floe(
    settings: Res<Settings>,
    clock: Res<Clock>,
    mut ms: ResMut<MatchState>,
    mut outbox: ResMut<Outbox>,
) {
    let Some(end) = ms.match_ends_at.filter(|_| playing(&ms)) else {
        return;
    };
    let r = floe_radius(&settings, end, clock.tick);
    if wire(r) != wire(ms.floe_r) {
        outbox.floe_r = Some(wire(r));
    }
    ms.floe_r = r;
}

/// A disc whose centre left the floe falls: +1 to whoever touched it in the last 3 s,
/// else −1 to it (never below 0); its `falls` go up and it comes back 2 s later.
pub fn drop_fallen(
    settings: Res<Settings>,
    clock: Res<Clock>,
    ms: Res<MatchState>,
    seats: Res<Seats>,
    mut outbox: ResMut<Outbox>,
    mut q: Query<(&mut Player, &mut Disc)>,
) {
    if !playing(&ms) {
        return;
    }
    let s = &*settings;
    let r2 = ms.floe_r as i128 * ms.floe_r as i128;
    // (faller, pusher) by seat: a pusher is whoever touched it within 3 s and still sits.
    let fallen: Vec<(u8, Option<u8>)> = seats
        .iter()
        .filter_map(|(seat, e)| {
            let (_, d) = q.get(e).ok()?;
            let off = [d.pos[0] - s.centre[0], d.pos[1] - s.centre[1]];
            if !d.alive || len2(off) <= r2 {
                return None;
            }
            let by = d
                .touched
                .filter(|t| t.seat != seat && clock.tick <= t.at.saturating_add(s.touch_memory))
                .map(|t| t.seat)
                .filter(|&by| seats.0.get(by as usize).is_some_and(Option::is_some));
            Some((seat, by))
        })
        .collect();
    for (seat, by) in fallen {
        outbox.events.push(Event::Fall { seat, by });
        if let Some(by) = by
            && let Some(by_e) = seats.0[by as usize]
            && let Ok((mut pusher, _)) = q.get_mut(by_e)
        {
            pusher.points = pusher.points.saturating_add(1);
            let (points, falls) = (pusher.points, pusher.falls);
            outbox.events.push(Event::Score {
                seat: by,
                points,
                falls,
            });
        }
        let Some(e) = seats.0[seat as usize] else {
            continue;
        };
        let Ok((mut p, mut d)) = q.get_mut(e) else {
            continue;
        };
        p.falls = p.falls.saturating_add(1);
        if by.is_none() {
            p.points = p.points.saturating_sub(1);
        }
        *d = Disc {
            alive: false,
            pos: d.pos,
            respawn_at: Some(clock.tick + s.respawn),
            dash_ready_at: d.dash_ready_at,
            ..Disc::default()
        };
        outbox.events.push(Event::Score {
            seat,
            points: p.points,
            falls: p.falls,
        });
    }
}

/// Fallen discs whose time has come are back, at rest, at the seeded spot furthest
/// from the other discs.
pub fn respawn_discs(
    settings: Res<Settings>,
    clock: Res<Clock>,
    ms: Res<MatchState>,
    seats: Res<Seats>,
    mut rng: ResMut<SpawnRng>,
    mut outbox: ResMut<Outbox>,
    mut q: Query<&mut Disc>,
) {
    if !playing(&ms) {
        return;
    }
    for (seat, e) in seats.iter() {
        let due = q
            .get(e)
            .is_ok_and(|d| !d.alive && d.respawn_at.is_some_and(|t| clock.tick >= t));
        if !due {
            continue;
        }
        let others: Vec<[i64; 2]> = seats
            .iter()
            .filter_map(|(_, o)| q.get(o).ok())
            .filter(|d| d.alive)
            .map(|d| d.pos)
            .collect();
        let pos = spawn_spot(&mut rng, &settings, ms.floe_r, &others);
        let Ok(mut d) = q.get_mut(e) else { continue };
        *d = Disc {
            alive: true,
            pos,
            dash_ready_at: d.dash_ready_at,
            ..Disc::default()
        };
        outbox.events.push(Event::Spawn {
            seat,
            x: wire(pos[0]),
            y: wire(pos[1]),
        });
    }
}

/// The furthest from `others` of a few seeded spots well inside a floe of radius
/// `floe_r` (within 3/5 of it), on whole wire units so a `spawn` event is exact. With
/// no others, the first spot.
pub fn spawn_spot(rng: &mut SpawnRng, s: &Settings, floe_r: i64, others: &[[i64; 2]]) -> [i64; 2] {
    let reach = (floe_r * 3 / 5).max(0);
    let mut best: Option<(i128, [i64; 2])> = None;
    for _ in 0..SPAWN_CANDIDATES {
        let mut spot = s.centre;
        for _ in 0..SPAWN_TRIES {
            let (x, y) = (
                rng.0.random_range(-reach..=reach),
                rng.0.random_range(-reach..=reach),
            );
            if len2([x, y]) <= reach as i128 * reach as i128 {
                spot = [s.centre[0] + x, s.centre[1] + y].map(|c| c - c.rem_euclid(FINE_PER_WIRE));
                break;
            }
        }
        let room = others
            .iter()
            .map(|o| len2([o[0] - spot[0], o[1] - spot[1]]))
            .min()
            .unwrap_or(i128::MAX);
        if best.is_none_or(|(b, _)| room > b) {
            best = Some((room, spot));
        }
    }
    best.map_or(s.centre, |(_, spot)| spot)
}

/// The tick's disc updates: every disc on the floe, by seat, with a seat's input
/// acknowledgement once after it changes.
pub fn emit_discs(
    seats: Res<Seats>,
    mut outbox: ResMut<Outbox>,
    mut q: Query<(&mut Player, &Disc)>,
) {
    for (seat, e) in seats.iter() {
        let Ok((mut p, d)) = q.get_mut(e) else {
            continue;
        };
        if !d.alive {
            continue;
        }
        let ack = if std::mem::take(&mut p.ack_due) {
            p.seq
        } else {
            None
        };
        outbox.discs.push(DiscUpdate {
            seat,
            x: wire(d.pos[0]),
            y: wire(d.pos[1]),
            vx: wire(d.vel[0]),
            vy: wire(d.vel[1]),
            ack,
        });
    }
}
