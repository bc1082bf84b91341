//! Tests on a bare `Game` (World + tick systems), one file per concern; the helpers
//! they share are here.

mod collision;
mod determinism;
mod golden;
mod input;
mod items;
mod perf;
mod round;
mod wire;

use bevy_ecs::prelude::*;
use kurve_shared::game::{
    Arena, DeathCause, Draw, Event, ItemKind, POS_SCALE, Phase, RoomEvent, Tick, decode_snapshot,
    decode_tick, encode_snapshot, encode_tick,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::components::{Field, FieldItem, GapState, Head, MatchState, Player, Seats, Trails};
use super::config::{FINE_PER_WIRE, Q16};
use super::systems::motion::lay_segment;
use super::systems::round::match_decided;
use super::*;

const EAST: u32 = 0;
const WEST: u32 = 1 << 31;

/// Rules with no gaps and no items unless a test turns them on.
fn plain() -> GameConfig {
    GameConfig {
        solid_min_ms: 1_000_000,
        solid_max_ms: 1_000_000,
        items_enabled: false,
        ..GameConfig::default()
    }
}

fn uid(i: usize) -> String {
    format!("u{i}")
}

/// A game with `n` ready players, stepped into the countdown.
fn started(n: usize, cfg: GameConfig, seed: u64) -> Game {
    let mut g = Game::new(cfg, seed, 8);
    for i in 0..n {
        g.add_player(&uid(i), &format!("p{i}")).expect("seat");
    }
    for i in 0..n {
        g.set_ready(&uid(i), true);
    }
    g.step();
    assert_eq!(g.phase(), Phase::Countdown, "all ready → countdown");
    g
}

fn to_playing(g: &mut Game) {
    while g.phase() != Phase::Playing {
        g.step();
    }
}

fn entity(g: &mut Game, seat: u8) -> Entity {
    g.world_mut().resource::<Seats>().0[seat as usize].expect("seated")
}

fn head(g: &mut Game, seat: u8) -> Head {
    let e = entity(g, seat);
    g.world_mut().get::<Head>(e).expect("head").clone()
}

fn edit_head(g: &mut Game, seat: u8, f: impl FnOnce(&mut Head)) {
    let e = entity(g, seat);
    f(&mut g.world_mut().get_mut::<Head>(e).expect("head"));
}

/// Puts a head at `(x, y)` px facing `heading`, as if it had just spawned there.
fn place(g: &mut Game, seat: u8, x: i32, y: i32, heading: u32) {
    edit_head(g, seat, |h| {
        h.pos = [
            (x * POS_SCALE) as i64 * FINE_PER_WIRE,
            (y * POS_SCALE) as i64 * FINE_PER_WIRE,
        ];
        h.prev = h.wire_pos();
        h.heading = heading;
        h.open = None;
    });
}

/// Lays a straight trail for `seat` from `a` to `b` (px) in 1 px steps.
fn draw_line(g: &mut Game, seat: u8, a: [i32; 2], b: [i32; 2]) {
    let r = g.config().line_radius;
    let mut trails = g.world_mut().resource_mut::<Trails>();
    let n = (a[0] - b[0]).abs().max((a[1] - b[1]).abs()).max(1);
    let mut open = None;
    for k in 0..n {
        let p = |k: i32| {
            [
                (a[0] + (b[0] - a[0]) * k / n) * POS_SCALE,
                (a[1] + (b[1] - a[1]) * k / n) * POS_SCALE,
            ]
        };
        lay_segment(&mut trails, seat, p(k), p(k + 1), r, 0, &mut open);
    }
}

/// Steps until `pred` holds on the collected events, at most `max` ticks.
fn step_until(
    g: &mut Game,
    max: u32,
    mut pred: impl FnMut(&Event) -> bool,
) -> Option<(u64, Vec<Event>)> {
    for _ in 0..max {
        let out = g.step();
        if let Some(t) = out.tick.filter(|t| t.events.iter().any(&mut pred)) {
            return Some((t.tick, t.events));
        }
    }
    None
}

fn deaths(events: &[Event]) -> Vec<(u8, DeathCause, Option<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Death { seat, cause, by } => Some((*seat, *cause, *by)),
            _ => None,
        })
        .collect()
}

fn is_death(e: &Event) -> bool {
    matches!(e, Event::Death { .. })
}

fn score(g: &Game, seat: u8) -> u32 {
    g.players()
        .iter()
        .find(|p| p.seat == seat)
        .map(|p| p.score)
        .expect("player")
}

/// Drives a game with random inputs and readies everyone whenever it waits.
fn drive(g: &mut Game, rng: &mut ChaCha8Rng, n: usize) {
    if g.phase() == Phase::Waiting {
        for i in 0..n {
            g.set_ready(&uid(i), true);
        }
    }
    for i in 0..n {
        if rng.random_range(0..8) == 0 {
            g.set_input(&uid(i), rng.random_range(-1..=1));
        }
    }
}

fn run_hashes(seed: u64, ticks: usize) -> Vec<u64> {
    let mut g = Game::new(GameConfig::default(), seed, 8);
    for i in 0..6 {
        g.add_player(&uid(i), "p").expect("seat");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xabc);
    (0..ticks)
        .map(|_| {
            drive(&mut g, &mut rng, 6);
            g.step();
            g.state_hash()
        })
        .collect()
}
