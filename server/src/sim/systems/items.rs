//! Power-ups: pickups start effects, items spawn on a seeded timer, effects expire and
//! set each head's speed, radius, controls and ghost state.

use bevy_ecs::prelude::*;
use kurve_shared::game::geom::{dist2, point_seg_within};
use kurve_shared::game::{Draw, Effect, Event, Item, ItemKind, Phase};
use rand::Rng;

use crate::sim::components::{
    ActiveEffect, Clock, Effects, Field, FieldItem, Head, MatchState, Outbox, Rngs, Seats, Trails,
};
use crate::sim::config::{Q16, Settings};

/// Seats whose bit is set in `mask`, in order.
pub fn mask_seats(mask: u8) -> Vec<u8> {
    (0..8).filter(|s| mask & (1 << s) != 0).collect()
}

/// The wire form of an effect.
pub fn effect_wire(e: &ActiveEffect) -> Effect {
    Effect {
        id: e.id,
        kind: e.kind,
        by: e.by,
        targets: mask_seats(e.targets),
        ends_at: e.ends_at,
    }
}

/// Erases every trail (a `clear_all` item).
pub fn clear_trails(trails: &mut Trails) {
    trails.lines.clear();
    trails.grid.clear();
    trails.digest = crate::sim::hash::derive_seed(&[trails.digest, 0xc1ea]);
}

/// Living heads whose movement capsule this tick touches an item pick it up (lowest
/// seat first); its effect starts at once and applies from the next tick.
#[allow(clippy::too_many_arguments)]
pub fn pick_up_items(
    settings: Res<Settings>,
    clock: Res<Clock>,
    mut ms: ResMut<MatchState>,
    seats: Res<Seats>,
    mut field: ResMut<Field>,
    mut effects: ResMut<Effects>,
    mut trails: ResMut<Trails>,
    mut outbox: ResMut<Outbox>,
    mut q: Query<&mut Head>,
) {
    if ms.phase != Phase::Playing || field.items.is_empty() {
        return;
    }
    let mut alive_mask = 0u8;
    let mut all_mask = 0u8;
    let mut picks: Vec<(u8, FieldItem)> = Vec::new();
    for (seat, e) in seats.iter() {
        all_mask |= 1 << seat;
        let Ok(h) = q.get(e) else { continue };
        if !h.alive {
            continue;
        }
        alive_mask |= 1 << seat;
        let to = h.wire_pos();
        let from = if h.draw == Draw::Wrap { to } else { h.prev };
        let reach = (h.radius + settings.item_radius) as i64;
        let mut i = 0;
        while i < field.items.len() {
            if point_seg_within(field.items[i].pos, from, to, reach) {
                picks.push((seat, field.items.remove(i)));
            } else {
                i += 1;
            }
        }
    }
    for (seat, item) in picks {
        outbox.events.push(Event::ItemPickup { id: item.id, seat });
        let (targets, ticks) = match item.kind {
            ItemKind::ClearAll => {
                clear_trails(&mut trails);
                for (_, e) in seats.iter() {
                    if let Ok(mut h) = q.get_mut(e) {
                        h.open = None;
                    }
                }
                outbox.events.push(Event::Clear);
                continue;
            }
            ItemKind::SpeedSelf | ItemKind::SlowSelf | ItemKind::ThinSelf => {
                (1 << seat, settings.effect_ticks)
            }
            ItemKind::GhostSelf => (1 << seat, settings.ghost_ticks),
            ItemKind::SpeedOthers
            | ItemKind::SlowOthers
            | ItemKind::FatOthers
            | ItemKind::ReverseOthers => (alive_mask & !(1 << seat), settings.effect_ticks),
            ItemKind::WrapAll => (all_mask, settings.wrap_ticks),
        };
        let eff = ActiveEffect {
            id: ms.next_effect_id,
            kind: item.kind,
            by: seat,
            targets,
            ends_at: clock.tick + ticks,
        };
        ms.next_effect_id += 1;
        outbox.events.push(Event::EffectStart {
            effect: effect_wire(&eff),
        });
        effects.list.push(eff);
    }
}

/// Every 3–7 s (seeded) while playing, places an item of a random kind where it touches
/// no trail, no other item, and keeps its clearance from every head; gives up on this
/// spawn after a bounded number of tries.
#[allow(clippy::too_many_arguments)]
pub fn spawn_items(
    settings: Res<Settings>,
    clock: Res<Clock>,
    mut ms: ResMut<MatchState>,
    seats: Res<Seats>,
    trails: Res<Trails>,
    mut field: ResMut<Field>,
    mut rngs: ResMut<Rngs>,
    mut outbox: ResMut<Outbox>,
    q: Query<&Head>,
) {
    /// Positions tried per spawn before giving up until the next one.
    const TRIES: u32 = 32;
    let cfg = &settings.cfg;
    if ms.phase != Phase::Playing || !cfg.items_enabled || clock.tick < ms.next_item_at {
        return;
    }
    let rng = &mut rngs.items;
    ms.next_item_at =
        clock.tick + rng.random_range(settings.item_min_ticks..=settings.item_max_ticks) as u64;
    if field.items.len() >= cfg.max_items as usize {
        return;
    }
    let ir = settings.item_radius;
    let clear = (ir + cfg.item_head_clearance_px as i32 * kurve_shared::game::POS_SCALE) as i64;
    let heads: Vec<_> = seats
        .iter()
        .filter_map(|(_, e)| q.get(e).ok())
        .filter(|h| h.alive)
        .map(|h| h.wire_pos())
        .collect();
    for _ in 0..TRIES {
        let p = [
            rng.random_range(ir..=settings.w - ir),
            rng.random_range(ir..=settings.h - ir),
        ];
        let ok = trails.grid.first_hit(p, p, ir, |_| false).is_none()
            && heads.iter().all(|&h| dist2(h, p) >= clear * clear)
            && field
                .items
                .iter()
                .all(|it| dist2(it.pos, p) >= (2 * ir as i64).pow(2));
        if ok {
            let kind = ItemKind::ALL[rng.random_range(0..ItemKind::ALL.len() as u32) as usize];
            let item = FieldItem {
                id: ms.next_item_id,
                kind,
                pos: p,
            };
            ms.next_item_id += 1;
            outbox.events.push(Event::ItemSpawn {
                item: Item {
                    id: item.id,
                    kind,
                    x: p[0],
                    y: p[1],
                },
            });
            field.items.push(item);
            return;
        }
    }
}

/// Multiplies `base` by `num/den` once per matching effect, in Q16.
fn stack(base: i64, factors: impl Iterator<Item = (i64, i64)>) -> i64 {
    factors.fold(base, |acc, (n, d)| acc * n / d)
}

/// Ends effects whose time is up, then recomputes each living head's speed (×[1/3, 3]),
/// line radius (×[1/4, 4], ≥ 1 px), reversed controls and ghost state from the active
/// effects. A radius change ends the head's current polyline.
pub fn update_effects(
    settings: Res<Settings>,
    clock: Res<Clock>,
    ms: Res<MatchState>,
    seats: Res<Seats>,
    mut effects: ResMut<Effects>,
    mut outbox: ResMut<Outbox>,
    mut q: Query<&mut Head>,
) {
    if ms.phase != Phase::Playing {
        return;
    }
    let now = clock.tick;
    effects.list.retain(|e| {
        let keep = e.ends_at > now;
        if !keep {
            outbox.events.push(Event::EffectEnd { id: e.id });
        }
        keep
    });
    for (seat, e) in seats.iter() {
        let Ok(mut h) = q.get_mut(e) else { continue };
        if !h.alive {
            continue;
        }
        let mine = || {
            effects
                .list
                .iter()
                .filter(move |x| x.targets & (1 << seat) != 0)
        };
        let speed = stack(
            Q16,
            mine().filter_map(|x| match x.kind {
                ItemKind::SpeedSelf | ItemKind::SpeedOthers => Some((3, 2)),
                ItemKind::SlowSelf | ItemKind::SlowOthers => Some((2, 3)),
                _ => None,
            }),
        )
        .clamp(Q16 / 3, 3 * Q16);
        let size = stack(
            Q16,
            mine().filter_map(|x| match x.kind {
                ItemKind::ThinSelf => Some((1, 2)),
                ItemKind::FatOthers => Some((2, 1)),
                _ => None,
            }),
        )
        .clamp(Q16 / 4, 4 * Q16);
        let radius =
            ((settings.cfg.line_radius as i64 * size / Q16) as i32).max(settings.min_line_radius);
        h.speed_q16 = speed;
        h.reversed = mine().any(|x| x.kind == ItemKind::ReverseOthers);
        h.ghost = mine().any(|x| x.kind == ItemKind::GhostSelf);
        if radius != h.radius {
            h.radius = radius;
            h.open = None;
            outbox.events.push(Event::Radius { seat, r: radius });
        }
    }
}
