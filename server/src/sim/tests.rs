//! Rule, determinism and convergence tests on a bare `Game` (World + tick systems).

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

#[test]
fn wall_kills_and_survivor_scores() {
    let mut g = started(2, plain(), 1);
    to_playing(&mut g);
    place(&mut g, 0, 10, 400, WEST);
    place(&mut g, 1, 500, 400, EAST);
    let (_, ev) = step_until(&mut g, 20, is_death).expect("a death within 20 ticks");
    assert_eq!(
        deaths(&ev),
        vec![(0, DeathCause::Wall, None)],
        "head 0 hits the left wall"
    );
    assert_eq!(score(&g, 1), 1, "the survivor gains a point");
    assert_eq!(score(&g, 0), 0, "the dead head gains nothing");
    assert_eq!(g.phase(), Phase::RoundOver, "one alive → round over");
}

#[test]
fn own_trail_is_immune_near_the_head_but_kills_further_back() {
    let mut g = started(2, plain(), 2);
    to_playing(&mut g);
    place(&mut g, 0, 500, 400, EAST);
    place(&mut g, 1, 100, 700, EAST);
    g.set_input(&uid(0), 1);
    // A full circle at the minimum turning radius (≈ 30 px) takes ≈ 128 ticks.
    for t in 0..100 {
        g.step();
        assert!(
            head(&mut g, 0).alive,
            "turning in place must not kill through the fresh trail (tick {t})"
        );
    }
    let (_, ev) = step_until(&mut g, 100, is_death).expect("dies closing the circle");
    assert_eq!(
        deaths(&ev),
        vec![(0, DeathCause::Trail, Some(0))],
        "killed by its own older trail"
    );

    // Without immunity the head dies on the segment it just laid.
    let mut g = started(
        2,
        GameConfig {
            own_immunity_permille: 0,
            ..plain()
        },
        2,
    );
    to_playing(&mut g);
    let (_, ev) = step_until(&mut g, 3, is_death).expect("dies at once without immunity");
    assert!(
        deaths(&ev).iter().all(|d| d.1 == DeathCause::Trail),
        "own-trail deaths"
    );
}

#[test]
fn another_trail_kills_and_names_its_owner() {
    let mut g = started(2, plain(), 3);
    to_playing(&mut g);
    draw_line(&mut g, 1, [500, 100], [500, 700]);
    place(&mut g, 0, 450, 400, EAST);
    place(&mut g, 1, 100, 700, EAST);
    let (_, ev) = step_until(&mut g, 60, is_death).expect("crosses the line");
    assert_eq!(
        deaths(&ev),
        vec![(0, DeathCause::Trail, Some(1))],
        "killed by seat 1's trail"
    );
    let h = head(&mut g, 0).wire_pos();
    assert!(
        h[0] < 500 * POS_SCALE - 3 * POS_SCALE,
        "dies on contact, before the centre line: {h:?}"
    );
}

#[test]
fn head_on_kills_both_and_they_score_nothing_off_each_other() {
    let mut g = started(3, plain(), 4);
    to_playing(&mut g);
    place(&mut g, 0, 300, 400, EAST);
    place(&mut g, 1, 340, 400, WEST);
    place(&mut g, 2, 100, 700, EAST);
    let (_, ev) = step_until(&mut g, 30, is_death).expect("they meet");
    let mut d = deaths(&ev);
    d.sort_by_key(|x| x.0);
    assert_eq!(
        d,
        vec![
            (0, DeathCause::HeadOn, Some(1)),
            (1, DeathCause::HeadOn, Some(0))
        ],
        "both die head-on"
    );
    assert_eq!(
        (score(&g, 0), score(&g, 1), score(&g, 2)),
        (0, 0, 2),
        "only the survivor scores, once per death"
    );
    assert_eq!(g.phase(), Phase::RoundOver, "one left");
}

#[test]
fn simultaneous_wall_deaths_end_the_round_without_a_winner() {
    let mut g = started(2, plain(), 5);
    to_playing(&mut g);
    place(&mut g, 0, 10, 300, WEST);
    place(&mut g, 1, 10, 500, WEST);
    let mut round_end = None;
    for _ in 0..20 {
        for ev in g.step().lifecycle {
            if let RoomEvent::RoundEnd(m) = ev {
                round_end = Some(m);
            }
        }
    }
    let m = round_end.expect("round ends");
    assert_eq!(m.winner, None, "nobody survived");
    assert!(m.scores.iter().all(|s| s.score == 0), "no points: {m:?}");
}

#[test]
fn a_gap_is_passable() {
    let mut g = started(2, plain(), 6);
    to_playing(&mut g);
    // Seat 1's trail with a 20 px hole around y = 400 (what a gap leaves).
    draw_line(&mut g, 1, [500, 100], [500, 390]);
    draw_line(&mut g, 1, [500, 410], [500, 700]);
    place(&mut g, 0, 450, 400, EAST);
    place(&mut g, 1, 100, 700, EAST);
    for _ in 0..80 {
        g.step();
    }
    assert!(
        head(&mut g, 0).alive,
        "the head passes through the hole unharmed"
    );
    assert!(
        head(&mut g, 0).wire_pos()[0] > 510 * POS_SCALE,
        "and is past the line"
    );
}

#[test]
fn gaps_follow_the_rules_and_draw_nothing() {
    let cfg = GameConfig {
        items_enabled: false,
        ..GameConfig::default()
    };
    let mut g = started(2, cfg, 7);
    to_playing(&mut g);
    place(&mut g, 0, 60, 100, EAST);
    place(&mut g, 1, 60, 600, EAST);
    let mut start: Option<(u64, [i32; 2], usize)> = None;
    let mut solid_from = g.tick();
    let mut seen = 0;
    for _ in 0..600 {
        let out = g.step();
        let t = out.tick.expect("tick");
        for e in &t.events {
            if let Event::Gap { seat: 0, on } = e {
                let pos = head(&mut g, 0).wire_pos();
                let lines = g.snapshot().trails.iter().filter(|l| l.seat == 0).count();
                if *on {
                    let solid = t.tick - solid_from;
                    assert!(
                        (120..=241).contains(&solid),
                        "solid 2–4 s, was {solid} ticks"
                    );
                    start = Some((t.tick, pos, lines));
                } else {
                    let (_, a, n) = start.take().expect("gap began");
                    let len = (pos[0] - a[0]) as f64 / POS_SCALE as f64;
                    assert!(
                        (24.0..=37.5).contains(&len),
                        "gap 4–6 line widths (24–36 px), was {len}"
                    );
                    assert_eq!(lines, n, "nothing drawn during the gap");
                    solid_from = t.tick;
                    seen += 1;
                }
            }
        }
        let in_gap = start.is_some() && t.events.iter().all(|e| !matches!(e, Event::Gap { .. }));
        if let Some(h) = t.heads.iter().find(|h| h.seat == 0 && in_gap) {
            assert_eq!(h.draw, Draw::Gap, "a head in a gap moves without drawing");
        }
        if !head(&mut g, 0).alive {
            break;
        }
    }
    assert!(seen >= 1, "at least one complete gap in 10 s");
}

#[test]
fn match_end_needs_target_and_a_lead_of_two() {
    assert!(!match_decided(&[10, 9], 10, 2), "10-9 does not end");
    assert!(match_decided(&[11, 9], 10, 2), "11-9 ends");
    assert!(!match_decided(&[9, 0], 10, 2), "below target");
    assert!(match_decided(&[20, 3, 18], 20, 2), "3 players: 20 vs 18");
    assert!(!match_decided(&[21, 20, 3], 20, 2), "lead of one");
}

fn set_score(g: &mut Game, seat: u8, s: u32) {
    let e = entity(g, seat);
    g.world_mut().get_mut::<Player>(e).expect("player").score = s;
}

#[test]
fn match_ends_at_eleven_nine_not_ten_nine() {
    let mut g = started(2, plain(), 8);
    to_playing(&mut g);
    set_score(&mut g, 0, 9);
    set_score(&mut g, 1, 9);
    place(&mut g, 1, 10, 400, WEST);
    place(&mut g, 0, 500, 400, EAST);
    step_until(&mut g, 20, is_death).expect("seat 1 dies");
    assert_eq!((score(&g, 0), score(&g, 1)), (10, 9), "10-9");
    while g.phase() == Phase::RoundOver {
        g.step();
    }
    assert_eq!(g.phase(), Phase::Countdown, "10-9 → next round");
    to_playing(&mut g);
    place(&mut g, 1, 10, 400, WEST);
    place(&mut g, 0, 500, 400, EAST);
    step_until(&mut g, 20, is_death).expect("seat 1 dies again");
    let mut record = None;
    let mut match_end = None;
    while g.phase() == Phase::RoundOver {
        let out = g.step();
        record = record.or(out.record);
        for e in out.lifecycle {
            if let RoomEvent::MatchEnd(m) = e {
                match_end = Some(m);
            }
        }
    }
    assert_eq!(g.phase(), Phase::Finished, "11-9 ends the match");
    let m = match_end.expect("match_end");
    assert_eq!(m.winner.as_deref(), Some("u0"), "seat 0 wins");
    assert_eq!(
        (
            m.standings[0].points,
            m.standings[0].place,
            m.standings[0].won
        ),
        (11, 1, true),
        "{m:?}"
    );
    assert_eq!(
        (m.standings[1].points, m.standings[1].place),
        (9, 2),
        "{m:?}"
    );
    let r = record.expect("db record");
    assert_eq!(r.winner.as_deref(), Some("u0"), "record winner");
    assert!(!r.input_log.is_empty(), "record carries the input log");
    for _ in 0..g.config().match_over_ms * 60 / 1000 {
        g.step();
    }
    assert_eq!(
        g.phase(),
        Phase::Waiting,
        "finished lasts 5 s, then waiting"
    );
    assert!(g.players().iter().all(|p| !p.ready), "ready flags cleared");
    assert_eq!(g.players().len(), 2, "same players");
}

#[test]
fn phases_and_ready_flow() {
    let mut g = Game::new(plain(), 9, 2);
    g.add_player("a", "A").expect("seat a");
    g.add_player("b", "B").expect("seat b");
    assert_eq!(
        g.add_player("c", "C"),
        Err(GameError::Full),
        "max_players 2"
    );
    assert_eq!(
        g.add_player("a", "A"),
        Err(GameError::AlreadySeated),
        "no second seat"
    );
    g.set_ready("a", true);
    assert!(g.step().tick.is_none(), "no ticks while waiting");
    assert_eq!(g.phase(), Phase::Waiting, "one of two ready: still waiting");
    g.set_ready("b", true);
    let out = g.step();
    assert_eq!(g.phase(), Phase::Countdown, "all ready → countdown");
    let names: Vec<&str> = out.lifecycle.iter().map(|e| e.name()).collect();
    assert_eq!(
        names,
        vec!["round_start", "phase"],
        "round_start then phase"
    );
    let t = out.tick.expect("the transition tick is sent");
    assert!(
        matches!(t.events.first(), Some(Event::RoundStart { round: 1, .. })),
        "round start event"
    );
    let mut countdown = 1;
    while g.phase() == Phase::Countdown {
        g.step();
        countdown += 1;
    }
    assert_eq!(
        countdown,
        180 + 1,
        "3 s countdown at 60 Hz (plus the start tick)"
    );
    assert_eq!(g.phase(), Phase::Playing, "then playing");
    // No late seats.
    g.remove_player("b");
    let mut g2 = Game::new(plain(), 9, 4);
    g2.add_player("a", "A").expect("a");
    g2.add_player("b", "B").expect("b");
    g2.set_ready("a", true);
    g2.set_ready("b", true);
    g2.step();
    assert_eq!(
        g2.add_player("c", "C"),
        Err(GameError::AlreadyStarted),
        "no joins mid-match"
    );
    // Leaving ends the round (counts as dead) and, with one player left, the match.
    g.step();
    assert_eq!(g.phase(), Phase::RoundOver, "a leaver counts as dead");
    assert_eq!(score(&g, 0), 1, "the remaining player scores");
    while g.phase() == Phase::RoundOver {
        g.step();
    }
    assert_eq!(
        g.phase(),
        Phase::Finished,
        "one seated player left: the match ends by forfeit"
    );
}

#[test]
fn a_lone_player_practises_without_match_end() {
    let mut g = Game::new(plain(), 10, 4);
    g.add_player("a", "A").expect("seat");
    g.set_ready("a", true);
    g.step();
    assert_eq!(g.phase(), Phase::Countdown, "a lone ready player practises");
    to_playing(&mut g);
    place(&mut g, 0, 10, 400, WEST);
    step_until(&mut g, 20, is_death).expect("dies");
    assert_eq!(
        g.phase(),
        Phase::RoundOver,
        "round over when nobody is left"
    );
    while g.phase() == Phase::RoundOver {
        g.step();
    }
    assert_eq!(
        g.phase(),
        Phase::Countdown,
        "practice rounds keep coming, no match end"
    );
    assert_eq!(g.round(), 2, "second round");
    g.add_player("b", "B").expect("joining stops practice");
    g.step();
    assert_eq!(
        g.phase(),
        Phase::Waiting,
        "back to waiting for the ready flow"
    );
}

#[test]
fn countdown_rotates_heads_in_place() {
    let mut g = started(2, plain(), 11);
    let before = head(&mut g, 0);
    g.set_input(&uid(0), 1);
    let out = g.step();
    let after = head(&mut g, 0);
    assert_eq!(after.pos, before.pos, "no movement in the countdown");
    assert_ne!(after.heading, before.heading, "steering rotates the head");
    let h = out
        .tick
        .expect("tick")
        .heads
        .into_iter()
        .find(|h| h.seat == 0)
        .expect("head update");
    assert_eq!(h.draw, Draw::Still, "sent as a still head");
    assert!(g.snapshot().trails.is_empty(), "nothing drawn");
}

#[test]
fn disconnect_keeps_input_then_expires_the_seat() {
    let mut g = started(3, plain(), 12);
    to_playing(&mut g);
    place(&mut g, 0, 500, 400, EAST);
    place(&mut g, 1, 100, 100, EAST);
    place(&mut g, 2, 100, 700, EAST);
    // Keep everyone alive: 1 and 2 circle; 0 circles too.
    for i in 0..3 {
        g.set_input(&uid(i), 1);
    }
    // Seat 0 circles forever only if immune; make the field safe by removing trails each tick.
    g.set_connected(&uid(0), false);
    let h0 = head(&mut g, 0).heading;
    let grace = 15 * 60;
    for t in 1..=grace {
        g.world_mut().resource_mut::<Trails>().grid.clear();
        g.step();
        if t == 1 {
            assert_ne!(
                head(&mut g, 0).heading,
                h0,
                "a disconnected head keeps turning with its last input"
            );
        }
        if t < grace {
            assert!(
                g.players().iter().any(|p| p.user_id == "u0"),
                "seat kept during the grace period (tick {t})"
            );
        }
    }
    assert!(
        !g.players().iter().any(|p| p.user_id == "u0"),
        "seat expires after 15 s"
    );
    assert_eq!(
        (score(&g, 1), score(&g, 2)),
        (1, 1),
        "the expired player counts as dead"
    );

    // Reconnecting within the grace period keeps the seat.
    let mut g = started(2, plain(), 13);
    g.set_connected(&uid(1), false);
    for _ in 0..100 {
        g.step();
    }
    g.set_connected(&uid(1), true);
    for _ in 0..grace {
        g.step();
    }
    assert!(
        g.players().iter().any(|p| p.user_id == "u1" && p.connected),
        "rejoined seat kept"
    );
}

#[test]
fn spawns_keep_their_distances() {
    let cfg = plain();
    let st = Settings::new(cfg.clone());
    let margin = 2 * st.min_turn_radius;
    for seed in 0..40 {
        let g = started(8, cfg.clone(), seed);
        let s = g.snapshot();
        for p in &s.players {
            assert!(
                p.x >= margin && p.y >= margin && p.x <= st.w - margin && p.y <= st.h - margin,
                "seed {seed}: spawn {:?} within 2 turning radii of a wall",
                (p.x, p.y)
            );
        }
        for (i, a) in s.players.iter().enumerate() {
            for b in &s.players[i + 1..] {
                let d2 = ((a.x - b.x) as i64).pow(2) + ((a.y - b.y) as i64).pow(2);
                assert!(
                    d2 >= (80 * POS_SCALE as i64).pow(2),
                    "seed {seed}: spawns closer than 80 px"
                );
            }
        }
    }
}

/// Puts an item right in front of seat 0 and steps until it is picked up.
fn pick(g: &mut Game, kind: ItemKind) {
    let h = head(g, 0).wire_pos();
    let id = 1000 + g.tick() as u32;
    g.world_mut().resource_mut::<Field>().items.push(FieldItem {
        id,
        kind,
        pos: [h[0] + 10 * POS_SCALE, h[1]],
    });
    let found = step_until(
        g,
        10,
        |e| matches!(e, Event::ItemPickup { id: i, seat: 0 } if *i == id),
    );
    assert!(
        found.is_some(),
        "{kind:?} picked up; head {:?}, phase {:?}",
        head(g, 0),
        g.phase()
    );
}

fn item_game(seed: u64) -> Game {
    let mut g = started(3, plain(), seed);
    to_playing(&mut g);
    place(&mut g, 0, 200, 400, EAST);
    place(&mut g, 1, 100, 100, EAST);
    place(&mut g, 2, 100, 700, EAST);
    g
}

#[test]
fn speed_and_slow_effects_stack_within_clamps() {
    let mut g = item_game(20);
    pick(&mut g, ItemKind::SpeedSelf);
    assert_eq!(
        head(&mut g, 0).speed_q16,
        Q16 * 3 / 2,
        "×1.5 for the picker"
    );
    assert_eq!(head(&mut g, 1).speed_q16, Q16, "others unchanged");
    let a = head(&mut g, 0).pos;
    g.step();
    let b = head(&mut g, 0).pos;
    assert_eq!(b[0] - a[0], 1536 * 3 / 2, "moves 2.25 px per tick");
    pick(&mut g, ItemKind::SpeedSelf);
    pick(&mut g, ItemKind::SpeedSelf);
    assert_eq!(head(&mut g, 0).speed_q16, 3 * Q16, "1.5³ clamps to ×3");
    pick(&mut g, ItemKind::SlowOthers);
    assert_eq!(head(&mut g, 1).speed_q16, Q16 * 2 / 3, "others ×2/3");
    assert_eq!(
        head(&mut g, 0).speed_q16,
        3 * Q16,
        "picker unaffected by _others"
    );
    let mut g = item_game(21);
    for _ in 0..4 {
        pick(&mut g, ItemKind::SpeedOthers);
    }
    assert_eq!(
        head(&mut g, 1).speed_q16,
        3 * Q16,
        "speed_others stacks, clamped at ×3"
    );
    let mut g = item_game(22);
    for _ in 0..3 {
        pick(&mut g, ItemKind::SlowSelf);
    }
    assert_eq!(head(&mut g, 0).speed_q16, Q16 / 3, "(2/3)³ clamps to ×1/3");
    // Turning radius unchanged: the turn rate scales with speed.
    let mut g = item_game(23);
    pick(&mut g, ItemKind::SpeedSelf);
    let h0 = head(&mut g, 0).heading;
    g.set_input(&uid(0), 1);
    g.step();
    let dh = head(&mut g, 0).heading.wrapping_sub(h0) as i64;
    let base = Settings::new(plain()).turn_per_tick;
    assert_eq!(dh, base * 3 / 2, "turn rate ×1.5 too");
}

#[test]
fn thin_and_fat_effects_clamp_radius() {
    let mut g = item_game(24);
    pick(&mut g, ItemKind::ThinSelf);
    assert_eq!(head(&mut g, 0).radius, 48, "×0.5");
    pick(&mut g, ItemKind::ThinSelf);
    pick(&mut g, ItemKind::ThinSelf);
    assert_eq!(
        head(&mut g, 0).radius,
        POS_SCALE,
        "×1/8 → clamp ×1/4 = 0.75 px → at least 1 px"
    );
    for _ in 0..3 {
        pick(&mut g, ItemKind::FatOthers);
    }
    assert_eq!(head(&mut g, 1).radius, 96 * 4, "×8 clamps to ×4");
    let snap = g.snapshot();
    assert_eq!(snap.players[1].radius, 384, "snapshot shows the radius");
}

#[test]
fn reverse_swaps_controls_of_the_others() {
    let mut g = item_game(25);
    pick(&mut g, ItemKind::ReverseOthers);
    g.set_input(&uid(1), 1);
    g.set_input(&uid(0), 1);
    let (a0, a1) = (head(&mut g, 0).heading, head(&mut g, 1).heading);
    g.step();
    let (b0, b1) = (head(&mut g, 0).heading, head(&mut g, 1).heading);
    assert!(
        (b0.wrapping_sub(a0) as i32) > 0,
        "picker turns right as asked"
    );
    assert!(
        (b1.wrapping_sub(a1) as i32) < 0,
        "reversed player turns left on right"
    );
}

#[test]
fn ghost_passes_trails_draws_nothing_and_expires() {
    let mut g = item_game(26);
    pick(&mut g, ItemKind::GhostSelf);
    let lines = g.snapshot().trails.iter().filter(|l| l.seat == 0).count();
    draw_line(&mut g, 1, [260, 300], [260, 500]);
    for _ in 0..40 {
        g.step();
    }
    let h = head(&mut g, 0);
    assert!(
        h.alive && h.wire_pos()[0] > 260 * POS_SCALE,
        "a ghost crosses a trail"
    );
    assert_eq!(
        g.snapshot().trails.iter().filter(|l| l.seat == 0).count(),
        lines,
        "a ghost draws nothing"
    );
    step_until(&mut g, 200, |e| matches!(e, Event::EffectEnd { .. }))
        .expect("ghost ends after 3 s");
    assert!(!head(&mut g, 0).ghost, "not a ghost any more");
}

#[test]
fn wrap_all_wraps_every_head_and_clear_all_erases_trails() {
    let mut g = item_game(27);
    pick(&mut g, ItemKind::WrapAll);
    place(&mut g, 1, 5, 100, WEST);
    let mut wrapped = false;
    for _ in 0..10 {
        let t = g.step().tick.expect("tick");
        wrapped |= t.heads.iter().any(|h| h.seat == 1 && h.draw == Draw::Wrap);
    }
    assert!(
        wrapped && head(&mut g, 1).alive,
        "seat 1 wrapped around the left wall"
    );
    assert!(
        head(&mut g, 1).wire_pos()[0] > 1000 * POS_SCALE,
        "now at the right edge"
    );
    assert!(!g.snapshot().trails.is_empty(), "there are trails");
    pick(&mut g, ItemKind::ClearAll);
    let s = g.snapshot();
    assert!(
        s.trails.len() <= 3,
        "only what was drawn after the clear remains: {}",
        s.trails.len()
    );
    assert!(
        s.effects.iter().all(|e| e.kind != ItemKind::ClearAll),
        "clear_all is instant"
    );
}

#[test]
fn items_spawn_by_the_rules() {
    let cfg = GameConfig {
        solid_min_ms: 1_000_000,
        solid_max_ms: 1_000_000,
        ..GameConfig::default()
    };
    let mut g = started(2, cfg, 28);
    to_playing(&mut g);
    let mut last = g.tick();
    let mut spawned = 0;
    // Heads circle on an empty field (trails are wiped every tick) so the round lasts.
    g.set_input(&uid(0), 1);
    g.set_input(&uid(1), -1);
    for _ in 0..1500 {
        g.world_mut().resource_mut::<Trails>().grid.clear();
        let heads: Vec<[i32; 2]> = (0..2).map(|s| head(&mut g, s).wire_pos()).collect();
        let t = g.step().tick.expect("tick");
        for e in &t.events {
            if let Event::ItemSpawn { item } = e {
                let gap = t.tick - last;
                assert!(
                    spawned == 0 || (180..=420).contains(&gap),
                    "3–7 s between spawns, was {gap}"
                );
                last = t.tick;
                spawned += 1;
                for h in &heads {
                    let d = (((item.x - h[0]) as f64).powi(2) + ((item.y - h[1]) as f64).powi(2))
                        .sqrt();
                    assert!(
                        d >= (54 * POS_SCALE) as f64 - 2.0 * 96.0,
                        "item {item:?} too close to a head"
                    );
                }
            }
        }
        if g.phase() != Phase::Playing {
            break;
        }
        assert!(g.snapshot().items.len() <= 6, "at most 6 items");
    }
    assert!(spawned >= 1, "items appear");
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

#[test]
fn same_seed_and_inputs_give_identical_hashes() {
    let a = run_hashes(42, 3600);
    let b = run_hashes(42, 3600);
    assert_eq!(a, b, "per-tick hashes identical over 3600 ticks");
    let c = run_hashes(43, 3600);
    assert_ne!(a, c, "a different seed diverges");
}

#[test]
fn replaying_a_match_log_reproduces_it() {
    let cfg = GameConfig {
        points_per_opponent: 2,
        ..GameConfig::default()
    };
    let mut g = Game::new(cfg, 77, 8);
    for i in 0..3 {
        g.add_player(&uid(i), "p").expect("seat");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut hashes = Vec::new();
    let mut record = None;
    for _ in 0..200_000 {
        drive(&mut g, &mut rng, 3);
        let out = g.step();
        hashes.push((g.tick(), g.state_hash()));
        if let Some(r) = out.record {
            record = Some(r);
            break;
        }
    }
    let r = record.expect("the match finishes");
    let log = InputLog::from_bytes(&r.input_log).expect("log decodes");
    let rep = replay(&log);
    let replayed: Vec<(String, u32)> = rep.records[0]
        .players
        .iter()
        .map(|s| (s.id.clone(), s.points))
        .collect();
    let original: Vec<(String, u32)> = r.players.iter().map(|s| (s.id.clone(), s.points)).collect();
    assert_eq!(replayed, original, "replay reproduces the final standings");
    assert_eq!(rep.records[0].winner, r.winner, "same winner");
    let orig: Vec<u64> = hashes
        .iter()
        .filter(|(t, _)| *t > log.start_tick)
        .map(|h| h.1)
        .collect();
    assert_eq!(rep.hashes, orig, "every tick of the match hashes the same");
}

#[test]
fn save_and_restore_mid_round_continue_identically() {
    let mut g = Game::new(GameConfig::default(), 99, 8);
    for i in 0..4 {
        g.add_player(&uid(i), "p").expect("seat");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..400 {
        drive(&mut g, &mut rng, 4);
        g.step();
    }
    let saved = g.save();
    let mut h = Game::restore(saved.clone());
    assert_eq!(
        h.state_hash(),
        g.state_hash(),
        "restored state hashes the same"
    );
    let mut rng_b = rng.clone();
    for t in 0..1000 {
        drive(&mut g, &mut rng, 4);
        drive(&mut h, &mut rng_b, 4);
        let (a, b) = (g.step(), h.step());
        assert_eq!(a.tick, b.tick, "identical deltas at step {t}");
        assert_eq!(
            g.state_hash(),
            h.state_hash(),
            "identical hashes at step {t}"
        );
    }
}

/// Applies a tick to an arena through the codec, as a client would.
fn apply_wire(arena: &mut Arena, t: &Tick) -> usize {
    let bytes = encode_tick(t);
    let back = decode_tick(&bytes).expect("tick decodes");
    assert_eq!(&back, t, "tick round-trips");
    arena.apply_tick(&back).expect("in sequence");
    bytes.len()
}

#[test]
fn an_arena_fed_every_delta_converges_with_a_later_snapshot() {
    let cfg = GameConfig::default();
    let mut g = started(8, cfg, 314);
    let mut arena = Arena::from_snapshot(
        &decode_snapshot(&encode_snapshot(&g.snapshot())).expect("snapshot decodes"),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut bytes = 0usize;
    let mut playing_ticks = 0usize;
    let mut playing_bytes = 0usize;
    for _ in 0..600 {
        drive(&mut g, &mut rng, 8);
        let t = g.step().tick.expect("ticks flow outside waiting");
        let n = apply_wire(&mut arena, &t);
        bytes += n;
        if t.heads.len() == 8 && t.heads.iter().all(|h| h.draw != Draw::Still) {
            playing_ticks += 1;
            playing_bytes += n;
        }
    }
    let later = Arena::from_snapshot(&g.snapshot());
    assert_eq!(arena.trails, later.trails, "same trails");
    assert_eq!(arena.players, later.players, "same heads and scores");
    assert_eq!(arena, later, "same everything");
    eprintln!(
        "bytes/tick: average {} over 600 ticks; {} with 8 heads moving ({} ticks)",
        bytes / 600,
        playing_bytes.checked_div(playing_ticks).unwrap_or(0),
        playing_ticks
    );
}

#[test]
fn arena_converges_across_rounds_items_and_effects() {
    let cfg = GameConfig {
        item_spawn_min_ms: 300,
        item_spawn_max_ms: 600,
        ..GameConfig::default()
    };
    let mut g = started(4, cfg, 2718);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut arena = Arena::from_snapshot(&g.snapshot());
    let mut kinds = std::collections::BTreeSet::new();
    for k in 0..6000 {
        drive(&mut g, &mut rng, 4);
        let out = g.step();
        let Some(t) = out.tick else { continue };
        for e in &t.events {
            if let Event::EffectStart { effect } = e {
                kinds.insert(effect.kind);
            }
        }
        apply_wire(&mut arena, &t);
        if k % 97 == 0 {
            assert_eq!(
                arena,
                Arena::from_snapshot(&g.snapshot()),
                "converged at step {k}"
            );
        }
    }
    assert!(
        kinds.len() >= 3,
        "several effect kinds exercised: {kinds:?}"
    );
}

/// `cargo test --release -p kurve-server --lib sim::tests::perf -- --ignored --nocapture`
///
/// A late-round field: 32 full-width trail lines (≈ 33k segments, 24 px apart), eight
/// heads running between them with walls wrapping and gaps on (items off: a `clear_all`
/// would empty the field). 600 steps: less than a lap, so nobody meets their own line.
#[test]
#[ignore]
fn perf_step_with_eight_players_late_in_a_round() {
    let mut g = started(
        8,
        GameConfig {
            items_enabled: false,
            ..GameConfig::default()
        },
        1,
    );
    to_playing(&mut g);
    for k in 0..32 {
        let y = 12 + 24 * k;
        draw_line(&mut g, (k % 8) as u8, [0, y], [1023, y]);
    }
    for s in 0..8u8 {
        place(
            &mut g,
            s,
            100 * s as i32 + 50,
            24 * (4 * s as i32 + 1),
            EAST,
        );
    }
    g.world_mut()
        .resource_mut::<super::components::Effects>()
        .list
        .push(super::components::ActiveEffect {
            id: 999,
            kind: ItemKind::WrapAll,
            by: 0,
            targets: 0xff,
            ends_at: u64::MAX,
        });
    let steps = 600;
    let t0 = std::time::Instant::now();
    for _ in 0..steps {
        g.step();
    }
    let dt = t0.elapsed();
    let segs = g.world_mut().resource::<Trails>().grid.segments().len();
    let alive = g.players().iter().filter(|p| p.alive).count();
    eprintln!(
        "perf: {:.2} µs/step over {steps} steps, {segs} trail segments at the end, {alive} alive",
        dt.as_secs_f64() * 1e6 / steps as f64
    );
    assert_eq!(alive, 8, "the scenario keeps everyone alive");
}

#[test]
fn gap_state_is_seeded_per_round() {
    let g = started(2, GameConfig::default(), 55);
    let mut a = Game::restore(g.save());
    let h = head(&mut a, 0);
    assert!(
        matches!(h.gap, GapState::Solid { ticks_left } if (120..=240).contains(&ticks_left)),
        "{:?}",
        h.gap
    );
    let ms = a.world_mut().resource::<MatchState>().clone();
    assert_eq!(ms.round, 1, "round 1");
}

/// A waiting room with nothing to decide is idle; readiness, a dropped connection or a
/// seat being given up each need ticks, and so does every phase after waiting.
#[test]
fn a_waiting_game_is_idle_until_something_needs_ticks() {
    let mut g = Game::new(GameConfig::default(), 7, 8);
    assert!(g.is_idle(), "an empty waiting room");
    g.add_player(&uid(0), "p0").expect("seat");
    g.add_player(&uid(1), "p1").expect("seat");
    assert!(g.is_idle(), "seated, nobody ready");
    g.set_ready(&uid(0), true);
    assert!(!g.is_idle(), "a ready player: the start must be checked");
    g.set_ready(&uid(0), false);
    assert!(g.is_idle(), "unready again");
    g.set_connected(&uid(1), false);
    assert!(!g.is_idle(), "a dropped player's seat must expire");
    g.set_connected(&uid(1), true);
    assert!(g.is_idle(), "back");
    g.remove_player(&uid(1));
    let settled = (0..5).any(|_| {
        g.step();
        g.is_idle()
    });
    assert!(settled, "a freed seat settles within a few ticks");
    let mut g = started(2, GameConfig::default(), 7);
    assert!(!g.is_idle(), "countdown ticks");
    to_playing(&mut g);
    assert!(!g.is_idle(), "playing ticks");
}

#[test]
fn a_waiting_room_logs_nothing_however_much_its_players_send() {
    let mut g = Game::new(GameConfig::default(), 9, 8);
    g.add_player(&uid(0), "a").expect("seat");
    g.add_player(&uid(1), "b").expect("seat");
    for i in 0..10_000 {
        g.set_input(&uid(0), if i % 2 == 0 { 1 } else { -1 });
        g.set_ready(&uid(1), i % 3 == 0);
        g.set_ready(&uid(1), false);
        g.step();
    }
    assert_eq!(g.phase(), Phase::Waiting, "nobody stayed ready");
    assert!(
        g.input_log().entries.is_empty(),
        "expected no log while waiting, got {} entries",
        g.input_log().entries.len()
    );
}

#[test]
fn a_logged_turn_is_small_and_holds_no_string() {
    assert!(
        std::mem::size_of::<crate::sim::LogEntry>() <= 48,
        "LogEntry is {} bytes",
        std::mem::size_of::<crate::sim::LogEntry>()
    );
}

#[test]
fn a_saved_game_survives_messagepack_and_continues_identically() {
    // What another node of a cluster adopts a room from: the saved state, encoded.
    let mut g = Game::new(GameConfig::default(), 7, 8);
    for i in 0..3 {
        g.add_player(&uid(i), "p").expect("seat");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..500 {
        drive(&mut g, &mut rng, 3);
        g.step();
    }
    let bytes = rmp_serde::to_vec_named(&g.save()).expect("encodes");
    let saved: SavedGame = rmp_serde::from_slice(&bytes).expect("decodes");
    let mut h = Game::restore(saved);
    assert_eq!(h.state_hash(), g.state_hash());
    let mut rng_b = rng.clone();
    for t in 0..600 {
        drive(&mut g, &mut rng, 3);
        drive(&mut h, &mut rng_b, 3);
        g.step();
        h.step();
        assert_eq!(
            g.state_hash(),
            h.state_hash(),
            "identical hashes at step {t}"
        );
    }
}

/// Steps each game in turn, `rounds` times, with 1 MiB of other memory touched before
/// each step (sockets, other tasks), so each World is cold in the cache when it steps;
/// `before` runs untimed before each step. Returns µs per step.
fn cold_steps(
    games: &mut [Game],
    rounds: usize,
    mut before: impl FnMut(usize, usize, &mut Game),
) -> f64 {
    let mut other = vec![0u8; 1 << 20];
    let mut stepping = std::time::Duration::ZERO;
    for r in 0..rounds {
        for (i, g) in games.iter_mut().enumerate() {
            for b in other.iter_mut().step_by(64) {
                *b = b.wrapping_add(1);
            }
            before(r, i, g);
            let t0 = std::time::Instant::now();
            std::hint::black_box(g.step());
            stepping += t0.elapsed();
        }
    }
    stepping.as_secs_f64() * 1e6 / (rounds * games.len()) as f64
}

/// The cost of a step as a busy server sees it: 100 six-player rooms in play stepped in
/// turn with cold caches ([`cold_steps`]), against one room stepped alone.
/// `cargo test --release -p kurve-server --lib sim::tests::perf_hundred -- --ignored --nocapture`
#[test]
#[ignore]
fn perf_hundred_rooms_stepped_in_turn() {
    let mut games: Vec<Game> = (0..100)
        .map(|seed| {
            let mut g = started(6, GameConfig::default(), seed);
            to_playing(&mut g);
            g
        })
        .collect();
    let rounds = 300;
    let cold = cold_steps(&mut games, rounds, |r, i, g| {
        g.set_input(&uid(r % 6), ((r + i) % 3) as i8 - 1)
    });
    let g = &mut games[0];
    let t0 = std::time::Instant::now();
    for r in 0..rounds {
        g.set_input(&uid(r % 6), (r % 3) as i8 - 1);
        std::hint::black_box(g.step());
    }
    let warm = t0.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    eprintln!(
        "perf: {cold:.2} µs/step cold (100 rooms in turn), {warm:.2} µs/step warm (one room)"
    );
}

fn turn_of(g: &mut Game, seat: u8) -> i8 {
    let e = entity(g, seat);
    g.world_mut().get::<Player>(e).expect("player").turn
}

#[test]
fn input_at_a_seat_applies_to_that_seat_and_a_wrong_seat_falls_back_to_the_user() {
    let mut g = started(3, GameConfig::default(), 5);
    g.set_input_at(1, &uid(1), 1);
    assert_eq!(turn_of(&mut g, 1), 1);
    // A stale seat (someone else sits there): the user's own seat still gets it.
    g.set_input_at(0, &uid(2), -1);
    assert_eq!(turn_of(&mut g, 2), -1);
    assert_eq!(
        turn_of(&mut g, 0),
        0,
        "the player at the guessed seat is untouched"
    );
    // An empty or out-of-range seat too.
    g.set_input_at(7, &uid(0), 1);
    g.set_input_at(200, &uid(1), 0);
    assert_eq!((turn_of(&mut g, 0), turn_of(&mut g, 1)), (1, 0));
    // A leaving player's input is ignored, as by user id.
    g.remove_player(&uid(1));
    g.set_input_at(1, &uid(1), -1);
    assert_eq!(turn_of(&mut g, 1), 0);
    // Logged by seat, as an input by user id is.
    let log = g.input_log().entries.clone();
    assert!(
        log.iter()
            .any(|e| matches!(e.cmd, super::Command::Turn { seat: 2, turn: -1 })),
        "{log:?}"
    );
}

/// The fixed part of a cold step (schedule, systems, resource lookups): 100 empty waiting
/// rooms stepped in turn with cold caches ([`cold_steps`]).
#[test]
#[ignore]
fn perf_empty_rooms_stepped_in_turn() {
    let mut games: Vec<Game> = (0..100)
        .map(|seed| Game::new(GameConfig::default(), seed, 6))
        .collect();
    let cold = cold_steps(&mut games, 300, |_, _, _| {});
    eprintln!("perf: {cold:.2} µs/step cold for an empty waiting room");
}

/// The head update of `seat` in a tick.
fn head_update(t: &Tick, seat: u8) -> Option<kurve_shared::game::HeadUpdate> {
    t.heads.iter().find(|h| h.seat == seat).copied()
}

#[test]
fn an_input_seq_is_acknowledged_once_in_the_next_head_update_of_its_seat() {
    let mut g = started(2, plain(), 9);
    to_playing(&mut g);
    let t = g.step().tick.expect("a tick");
    assert_eq!(
        head_update(&t, 0).and_then(|h| h.ack),
        None,
        "no seq sent yet"
    );

    g.set_input_seq(Some(0), &uid(0), 1, Some(7));
    g.set_input_seq(None, &uid(1), -1, None);
    let before = head(&mut g, 0).heading;
    let t = g.step().tick.expect("a tick");
    assert_eq!(
        head_update(&t, 0).and_then(|h| h.ack),
        Some(7),
        "seat 0 acks seq 7"
    );
    assert_eq!(
        head_update(&t, 1).and_then(|h| h.ack),
        None,
        "seat 1 sent no seq"
    );
    assert_ne!(
        head(&mut g, 0).heading,
        before,
        "the acked input steered this tick"
    );

    let t = g.step().tick.expect("a tick");
    assert_eq!(
        head_update(&t, 0).and_then(|h| h.ack),
        None,
        "only when it changed"
    );

    // Two inputs between ticks: the last one is what steered, and what is acked.
    g.set_input_seq(Some(0), &uid(0), -1, Some(8));
    g.set_input_seq(Some(0), &uid(0), 0, Some(9));
    let t = g.step().tick.expect("a tick");
    assert_eq!(head_update(&t, 0).and_then(|h| h.ack), Some(9));
    assert_eq!(turn_of(&mut g, 0), 0);

    // A snapshot carries the last seq applied and the exact head.
    let s = g.snapshot();
    let exact = s.players[0].exact.expect("exact head");
    let h = head(&mut g, 0);
    assert_eq!(
        (exact.fx, exact.fy, exact.hf, exact.seq),
        (h.pos[0], h.pos[1], h.heading, Some(9))
    );
    assert_eq!(s.players[1].exact.and_then(|e| e.seq), None);

    // A socket that comes back numbers its inputs afresh.
    g.set_connected(&uid(0), false);
    g.set_connected(&uid(0), true);
    assert_eq!(g.snapshot().players[0].exact.and_then(|e| e.seq), None);
}

#[test]
fn input_seqs_change_neither_the_state_hash_nor_the_input_log() {
    let run = |with_seq: bool| {
        let mut g = started(2, GameConfig::default(), 21);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut hashes = Vec::new();
        for n in 0..2000u32 {
            for i in 0..2 {
                if rng.random_range(0..6) == 0 {
                    let turn = rng.random_range(-1..=1);
                    let seq = with_seq.then_some(n * 2 + i as u32);
                    g.set_input_seq(Some(i as u8), &uid(i), turn, seq);
                }
            }
            g.step();
            hashes.push(g.state_hash());
        }
        (hashes, g.input_log().to_bytes())
    };
    let (plain_hashes, plain_log) = run(false);
    let (seq_hashes, seq_log) = run(true);
    assert_eq!(plain_hashes, seq_hashes, "per-tick state hashes");
    assert_eq!(plain_log, seq_log, "the recorded input log");
}

/// Bytes a 6-player tick costs with and without acknowledgements (docs/PERF.md): the
/// same tick encoded with its acks and with them removed.
#[test]
fn an_ack_costs_a_few_bytes_of_a_six_player_tick() {
    let mut g = started(6, plain(), 4);
    to_playing(&mut g);
    let size_without_acks = |t: &Tick| {
        let mut t = t.clone();
        for h in &mut t.heads {
            h.ack = None;
        }
        encode_tick(&t).len()
    };
    g.set_input_seq(Some(0), &uid(0), 0, Some(70_000));
    let one = g.step().tick.expect("a tick");
    for i in 0..6 {
        g.set_input_seq(Some(i as u8), &uid(i), 0, Some(100 + i as u32));
    }
    let six = g.step().tick.expect("a tick");
    let none = g.step().tick.expect("a tick");
    assert_eq!(six.heads.len(), 6, "six moving heads");
    assert_eq!(
        decode_tick(&encode_tick(&six)).expect("decodes"),
        six,
        "round trip"
    );
    let (base, with_one) = (size_without_acks(&one), encode_tick(&one).len());
    let with_six = encode_tick(&six).len();
    eprintln!(
        "6-player tick: {base} B; + one ack (seq 70000) {with_one} B; + six acks (seq 100..105) {with_six} B (without them {} B); a tick without a changed seq {} B = {} B without acks",
        size_without_acks(&six),
        encode_tick(&none).len(),
        size_without_acks(&none)
    );
    assert_eq!(
        encode_tick(&none).len(),
        size_without_acks(&none),
        "no seq changed: not one byte more"
    );
    // An ack is the key "a" (2 bytes) and a u32 (1 to 5 bytes).
    assert_eq!(with_one - base, 2 + 5, "one ack of a seq ≥ 65536");
    assert_eq!(
        with_six - size_without_acks(&six),
        6 * (2 + 1),
        "six acks of seqs < 128"
    );
}
