//! Deaths: walls, head-ons, trails (through the spatial grid), leavers and expired
//! seats — all found first, then resolved together, then scored.

use bevy_ecs::prelude::*;
use kurve_shared::game::geom::dist2;
use kurve_shared::game::{DeathCause, Draw, Event, Phase};

use crate::sim::components::{
    Clock, Deaths, Effects, Head, MatchState, Outbox, Player, Seats, Trails,
};
use crate::sim::config::{FINE_PER_WIRE, Q16, Settings};
use crate::sim::systems::motion::walls_wrap;

/// Marks players whose seat was kept `grace_ticks` after a disconnect as leaving.
pub fn expire_disconnects(
    settings: Res<Settings>,
    clock: Res<Clock>,
    seats: Res<Seats>,
    mut q: Query<&mut Player>,
) {
    for (_, e) in seats.iter() {
        let Ok(mut p) = q.get_mut(e) else { continue };
        let expired = !p.connected
            && p.disconnected_at
                .is_some_and(|at| clock.tick >= at + settings.grace_ticks);
        if expired && !p.leaving {
            p.leaving = true;
        }
    }
}

/// Finds every head that dies this tick: wall (unless walls wrap), head-on (both),
/// then trail — the movement capsule of this tick against nearby trail capsules, own
/// trail ignored within the immunity arc behind the head.
pub fn detect_collisions(
    settings: Res<Settings>,
    ms: Res<MatchState>,
    effects: Res<Effects>,
    seats: Res<Seats>,
    trails: Res<Trails>,
    mut deaths: ResMut<Deaths>,
    q: Query<&Head>,
) {
    if ms.phase != Phase::Playing {
        return;
    }
    let wrap = walls_wrap(&effects);
    let heads: Vec<(u8, &Head)> = seats
        .iter()
        .filter_map(|(s, e)| q.get(e).ok().map(|h| (s, h)))
        .filter(|(_, h)| h.alive)
        .collect();
    let mut dead: Vec<(u8, DeathCause, Option<u8>)> = Vec::new();
    let is_dead = |d: &Vec<(u8, DeathCause, Option<u8>)>, s: u8| d.iter().any(|x| x.0 == s);
    for &(seat, h) in &heads {
        let p = h.wire_pos();
        let r = h.radius;
        if !wrap && (p[0] - r < 0 || p[1] - r < 0 || p[0] + r > settings.w || p[1] + r > settings.h)
        {
            dead.push((seat, DeathCause::Wall, None));
        }
    }
    for (i, &(sa, ha)) in heads.iter().enumerate() {
        for &(sb, hb) in &heads[i + 1..] {
            if ha.ghost || hb.ghost {
                continue;
            }
            let rr = (ha.radius + hb.radius) as i64;
            if dist2(ha.wire_pos(), hb.wire_pos()) < rr * rr {
                if !is_dead(&dead, sa) {
                    dead.push((sa, DeathCause::HeadOn, Some(sb)));
                }
                if !is_dead(&dead, sb) {
                    dead.push((sb, DeathCause::HeadOn, Some(sa)));
                }
            }
        }
    }
    for &(seat, h) in &heads {
        if h.ghost || is_dead(&dead, seat) {
            continue;
        }
        let to = h.wire_pos();
        let from = if h.draw == Draw::Wrap { to } else { h.prev };
        // Immunity is measured back from where this tick's swept capsule starts, with
        // each own segment's own radius: 1.5·(r_head + r_trail) of arc length.
        let start_arc = h.odometer - settings.speed_fine * h.speed_q16 / Q16;
        let permille = settings.cfg.own_immunity_permille as i64;
        let immune = |r_seg: i32| permille * (h.radius + r_seg) as i64 * FINE_PER_WIRE / 1000;
        let hit = trails.grid.first_hit(from, to, h.radius, |s| {
            s.seat == seat && s.arc > start_arc - immune(s.r)
        });
        if let Some(id) = hit {
            let owner = trails.grid.segments()[id as usize].seat;
            dead.push((seat, DeathCause::Trail, Some(owner)));
        }
    }
    dead.sort_by_key(|d| d.0);
    deaths.list = dead;
}

/// Applies this tick's deaths together (leavers count as dead), gives every survivor one
/// point per death, and removes leavers from their seats.
#[allow(clippy::too_many_arguments)]
pub fn resolve_deaths(
    mut commands: Commands,
    mut ms: ResMut<MatchState>,
    mut seats: ResMut<Seats>,
    mut deaths: ResMut<Deaths>,
    mut outbox: ResMut<Outbox>,
    mut q: Query<(&mut Player, &mut Head)>,
) {
    let in_round = matches!(ms.phase, Phase::Countdown | Phase::Playing);
    let mut list = std::mem::take(&mut deaths.list);
    let mut leavers = Vec::new();
    for (seat, e) in seats.iter() {
        let Ok((p, h)) = q.get(e) else { continue };
        if p.leaving {
            leavers.push((seat, e));
            if in_round && h.alive && !list.iter().any(|d| d.0 == seat) {
                list.push((seat, DeathCause::Left, None));
            }
        }
    }
    list.sort_by_key(|d| d.0);
    let mut died = 0u32;
    for &(seat, cause, by) in &list {
        let Some(e) = seats.0[seat as usize] else {
            continue;
        };
        let Ok((_, mut h)) = q.get_mut(e) else {
            continue;
        };
        if !h.alive {
            continue;
        }
        h.alive = false;
        h.open = None;
        died += 1;
        outbox.events.push(Event::Death { seat, cause, by });
    }
    if died > 0 && in_round {
        for (seat, e) in seats.iter() {
            let Ok((mut p, h)) = q.get_mut(e) else {
                continue;
            };
            if h.alive && !p.leaving {
                p.score += died;
                outbox.events.push(Event::Score {
                    seat,
                    score: p.score,
                    delta: died,
                });
            }
        }
    }
    for (seat, e) in leavers {
        let who = q.get(e).ok().map(|(p, _)| (p.user_id.clone(), p.score));
        if let Some((part, score)) = who.and_then(|(id, sc)| {
            ms.participants
                .iter_mut()
                .find(|x| x.user_id == id)
                .map(|x| (x, sc))
        }) {
            part.left_with = Some(score);
        }
        outbox.events.push(Event::Left { seat });
        seats.0[seat as usize] = None;
        commands.entity(e).despawn();
    }
}
