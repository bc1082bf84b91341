//! World → wire: the join snapshot, and the state hash used by determinism tests.

use bevy_ecs::prelude::*;
use kurve_shared::game::{
    ArenaConfig, CodecError, ExactHead, Item, POS_SCALE, Phase, PlayerState, Polyline, Snapshot,
    seat_color,
};

use super::components::{
    Clock, Effects, Field, GapState, Head, MatchState, Player, Rngs, Seats, Trails,
};
use super::config::Settings;
use super::hash::Fnv;
use super::systems::items::effect_wire;

/// A game frame's bytes (`tick`, `ticks`, `snapshot`). Encoding the game's own types
/// fails only if those types are wrong — a bug, not bad input — so the actor sending it
/// crashes rather than send an empty frame: its supervisor restarts it from its saved
/// state and its members rejoin and get a snapshot (CONTRACT §4, "let it crash").
pub fn frame_bytes(what: &str, encoded: Result<Vec<u8>, CodecError>) -> bytes::Bytes {
    match encoded {
        Ok(bytes) => bytes::Bytes::from(bytes),
        Err(e) => panic!("a {what} frame did not encode: {e}"),
    }
}

/// The drawing settings a client needs.
pub fn arena_config(s: &Settings) -> ArenaConfig {
    ArenaConfig {
        w: s.cfg.arena_w,
        h: s.cfg.arena_h,
        tick_hz: s.cfg.tick_hz,
        pos_scale: POS_SCALE,
        item_radius: s.item_radius,
    }
}

fn seated(world: &World) -> Vec<(&Player, &Head)> {
    world
        .resource::<Seats>()
        .iter()
        .filter_map(|(_, e)| Some((world.get::<Player>(e)?, world.get::<Head>(e)?)))
        .filter(|(p, _)| !p.leaving)
        .collect()
}

/// The complete current state as the wire snapshot.
pub fn build_snapshot(world: &World) -> Snapshot {
    let ms = world.resource::<MatchState>();
    let trails = world.resource::<Trails>();
    let players = seated(world)
        .into_iter()
        .map(|(p, h)| {
            let pos = h.wire_pos();
            PlayerState {
                seat: p.seat,
                id: p.user_id.clone(),
                name: p.name.clone(),
                color: seat_color(p.seat),
                score: p.score,
                ready: p.ready,
                connected: p.connected,
                alive: h.alive,
                x: pos[0],
                y: pos[1],
                heading: (h.heading >> 16) as u16,
                radius: h.radius,
                gap: matches!(h.gap, GapState::Gap { .. }),
                pen: h.open.is_some(),
                exact: Some(ExactHead {
                    fx: h.pos[0],
                    fy: h.pos[1],
                    hf: h.heading,
                    seq: p.seq,
                }),
            }
        })
        .collect();
    Snapshot {
        tick: world.resource::<Clock>().tick,
        phase: ms.phase,
        round: ms.round,
        phase_ends_at: ms.phase_ends_at,
        target: if ms.phase == Phase::Waiting {
            0
        } else {
            ms.target
        },
        config: arena_config(world.resource::<Settings>()),
        players,
        trails: trails
            .lines
            .iter()
            .map(|l| Polyline::from_points(l.seat, l.r, &l.points))
            .collect(),
        items: world
            .resource::<Field>()
            .items
            .iter()
            .map(|i| Item {
                id: i.id,
                kind: i.kind,
                x: i.pos[0],
                y: i.pos[1],
            })
            .collect(),
        effects: world
            .resource::<Effects>()
            .list
            .iter()
            .map(effect_wire)
            .collect(),
    }
}

/// A stable hash of every piece of simulation state (players, heads, trails, items,
/// effects, phase, RNG positions). Trails enter through their running digest, so this
/// costs O(players + items), not O(trail length).
pub fn state_hash(world: &World) -> u64 {
    let mut h = Fnv::default();
    h.u64(world.resource::<Clock>().tick);
    let ms = world.resource::<MatchState>();
    h.u64(ms.phase as u64);
    h.u64(ms.phase_ends_at.map_or(u64::MAX, |t| t));
    for v in [
        ms.round as u64,
        ms.match_index,
        ms.match_seed,
        ms.started_at,
        ms.n_at_start as u64,
        ms.target as u64,
    ] {
        h.u64(v);
    }
    for v in [ms.practice, ms.decided, ms.abort_practice] {
        h.u64(v as u64);
    }
    for v in [
        ms.round_players as u64,
        ms.next_item_id as u64,
        ms.next_effect_id as u64,
        ms.next_item_at,
    ] {
        h.u64(v);
    }
    for (seat, e) in world.resource::<Seats>().iter() {
        h.u64(seat as u64);
        if let Some(p) = world.get::<Player>(e) {
            h.str(&p.user_id);
            h.str(&p.name);
            for v in [p.ready, p.connected, p.leaving] {
                h.u64(v as u64);
            }
            h.u64(p.disconnected_at.map_or(u64::MAX, |t| t));
            h.u64(p.score as u64);
            h.i64(p.turn as i64);
        }
        if let Some(x) = world.get::<Head>(e) {
            h.u64(x.alive as u64);
            for v in [
                x.pos[0],
                x.pos[1],
                x.odometer,
                x.radius as i64,
                x.speed_q16,
                x.heading as i64,
            ] {
                h.i64(v);
            }
            h.u64(x.reversed as u64 | (x.ghost as u64) << 1);
            match x.gap {
                GapState::Solid { ticks_left } => h.i64(ticks_left as i64),
                GapState::Gap { dist_left } => h.i64(-1 - dist_left),
            }
            h.u64(x.open.map_or(u64::MAX, |o| o as u64));
        }
    }
    let trails = world.resource::<Trails>();
    h.u64(trails.digest);
    h.u64(trails.lines.len() as u64);
    h.u64(trails.grid.segments().len() as u64);
    for i in &world.resource::<Field>().items {
        h.u64(i.id as u64);
        h.u64(i.kind as u64);
        h.i64(i.pos[0] as i64);
        h.i64(i.pos[1] as i64);
    }
    for e in &world.resource::<Effects>().list {
        for v in [
            e.id as u64,
            e.kind as u64,
            e.by as u64,
            e.targets as u64,
            e.ends_at,
        ] {
            h.u64(v);
        }
    }
    let rngs = world.resource::<Rngs>();
    for r in std::iter::once(&rngs.spawn)
        .chain(std::iter::once(&rngs.items))
        .chain(rngs.gaps.iter())
    {
        let w = r.get_word_pos();
        h.u64(w as u64);
        h.u64((w >> 64) as u64);
    }
    h.0
}
