//! World → what others see: the wire snapshot, the join reply's `config`, and the state
//! hash of determinism checks.

use bevy_ecs::prelude::*;
use kurve_shared::bumper::{PlayerState, Snapshot, seat_color};
use serde_json::{Map, Value, json};

use super::components::{Clock, Disc, MatchState, Player, Seats, SpawnRng};
use super::config::{ARENA_H, ARENA_W, Settings, wire};
use crate::game::hash::Fnv;

/// Seated players and their discs, by seat.
pub fn seated(world: &World) -> impl Iterator<Item = (&Player, &Disc)> {
    world
        .resource::<Seats>()
        .iter()
        .filter_map(|(_, e)| Some((world.get::<Player>(e)?, world.get::<Disc>(e)?)))
}

/// The whole state, as the wire's snapshot.
pub fn snapshot(world: &World) -> Snapshot {
    let ms = world.resource::<MatchState>();
    Snapshot {
        tick: world.resource::<Clock>().tick,
        phase: ms.phase,
        phase_ends_at: ms.phase_ends_at,
        match_ends_at: ms.match_ends_at,
        target: world.resource::<Settings>().cfg.target,
        floe_r: wire(ms.floe_r),
        players: seated(world)
            .map(|(p, d)| PlayerState {
                seat: p.seat,
                id: p.user_id.clone(),
                name: p.name.clone(),
                color: seat_color(p.seat),
                points: p.points,
                falls: p.falls,
                ready: p.ready,
                connected: p.connected,
                alive: d.alive,
                x: wire(d.pos[0]),
                y: wire(d.pos[1]),
                vx: wire(d.vel[0]),
                vy: wire(d.vel[1]),
                dash_ready_at: d.dash_ready_at,
                respawn_at: d.respawn_at,
                seq: p.seq,
            })
            .collect(),
    }
}

/// The game's part of a `config` (a room's and a replay's are the same).
pub fn client_config(s: &Settings) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("arena".into(), json!({"w": ARENA_W, "h": ARENA_H}));
    map.insert("disc_r".into(), json!(wire(s.disc_r)));
    map.insert("floe_r".into(), json!(wire(s.floe_r)));
    map.insert("floe_final_r".into(), json!(wire(s.floe_final_r)));
    map.insert("match_ticks".into(), json!(s.match_ticks));
    map.insert("pos_scale".into(), json!(kurve_shared::bumper::POS_SCALE));
    map.insert("target".into(), json!(s.cfg.target));
    map
}

/// A stable hash of everything that steers the game (not the input `seq`s, which
/// steer nothing).
pub fn state_hash(world: &World) -> u64 {
    let mut h = Fnv::default();
    let ms = world.resource::<MatchState>();
    h.u64(world.resource::<Clock>().tick);
    h.u64(ms.phase as u64);
    for t in [ms.phase_ends_at, ms.match_ends_at] {
        h.u64(t.unwrap_or(u64::MAX));
    }
    for v in [ms.match_index, ms.match_seed, ms.started_at] {
        h.u64(v);
    }
    h.i64(ms.floe_r);
    for part in &ms.participants {
        h.u64(part.seat as u64);
        h.str(&part.user_id);
        let (points, falls) = part.left_with.unwrap_or((u32::MAX, u32::MAX));
        h.u64((points as u64) << 32 | falls as u64);
    }
    for (p, d) in seated(world) {
        h.u64(p.seat as u64);
        h.str(&p.user_id);
        h.str(&p.name);
        for flag in [p.ready, p.connected, p.dash, d.alive] {
            h.u64(flag as u64);
        }
        h.u64(p.disconnected_at.unwrap_or(u64::MAX));
        h.u64((p.points as u64) << 32 | p.falls as u64);
        for v in [
            p.mv[0] as i64,
            p.mv[1] as i64,
            d.pos[0],
            d.pos[1],
            d.vel[0],
            d.vel[1],
        ] {
            h.i64(v);
        }
        h.u64(d.dash_ready_at);
        h.u64(d.respawn_at.unwrap_or(u64::MAX));
        match d.touched {
            Some(t) => {
                h.u64(t.seat as u64);
                h.u64(t.at);
            }
            None => h.u64(u64::MAX),
        }
    }
    let words = world.resource::<SpawnRng>().0.get_word_pos();
    h.u64(words as u64);
    h.u64((words >> 64) as u64);
    h.0
}
