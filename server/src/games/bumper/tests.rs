//! Bumper's rules on a bare [`Game`], its inputs through the interface, its checks of
//! outside bytes, and the headless kit's generic checks.

use kurve_shared::bumper::{Board, Event, decode_snapshot, decode_tick};
use serde_json::{Value, json};

use super::components::Touch;
use super::config::FINE_PER_PX;
use super::systems::floe_radius;
use super::*;
use crate::game::kit::{self, Action, Script};
use crate::game::{GameKind, RoomGame, SavedGame};
use crate::protocol::error::ChannelError;

fn uid(i: usize) -> String {
    format!("u{i}")
}

fn short(match_secs: u32, target: u32) -> BumperConfig {
    BumperConfig {
        match_secs,
        target,
        ..BumperConfig::default()
    }
}

/// `n` ready players, stepped into `playing`.
fn playing(n: usize, config: BumperConfig) -> Game {
    let mut g = Game::new(config, 7, 8);
    for i in 0..n {
        g.add_player(&uid(i), &format!("P{i}")).expect("a seat");
    }
    for i in 0..n {
        g.set_ready(&uid(i), true);
    }
    for _ in 0..1000 {
        if g.phase() == Phase::Playing {
            return g;
        }
        g.step();
    }
    panic!("never started playing");
}

fn entity(g: &Game, seat: u8) -> Entity {
    g.at(seat).expect("a seated player")
}

fn disc(g: &Game, seat: u8) -> Disc {
    g.world()
        .get::<Disc>(entity(g, seat))
        .expect("a disc")
        .clone()
}

fn player(g: &Game, seat: u8) -> Player {
    g.world()
        .get::<Player>(entity(g, seat))
        .expect("a player")
        .clone()
}

/// Puts a disc on the floe `at` px from the centre, moving at `vel` px/s.
fn place(g: &mut Game, seat: u8, at: [i64; 2], vel: [i64; 2]) {
    let centre = g.settings().centre;
    let e = entity(g, seat);
    let mut d = g.world_mut().get_mut::<Disc>(e).expect("a disc");
    d.alive = true;
    d.pos = [
        centre[0] + at[0] * FINE_PER_PX,
        centre[1] + at[1] * FINE_PER_PX,
    ];
    d.vel = vel.map(|v| v * FINE_PER_PX);
    d.respawn_at = None;
}

fn set_points(g: &mut Game, seat: u8, points: u32, falls: u32) {
    let e = entity(g, seat);
    let mut p = g.world_mut().get_mut::<Player>(e).expect("a player");
    (p.points, p.falls) = (points, falls);
}

/// Steps until a step's tick holds an event `want` accepts (at most `max` steps); that
/// step's output.
fn step_until(g: &mut Game, max: u64, want: impl Fn(&Event) -> bool) -> Stepped {
    for _ in 0..max {
        let out = g.step();
        if out
            .tick
            .as_ref()
            .is_some_and(|t| t.events.iter().any(&want))
        {
            return out;
        }
    }
    panic!("no such event in {max} steps");
}

fn events(out: &Stepped) -> Vec<Event> {
    out.tick
        .as_ref()
        .map(|t| t.events.clone())
        .unwrap_or_default()
}

fn is_fall(e: &Event) -> bool {
    matches!(e, Event::Fall { .. })
}

#[test]
fn a_push_off_the_floe_scores_for_the_pusher() {
    let mut g = playing(2, BumperConfig::default());
    place(&mut g, 1, [330, 0], [0, 0]);
    place(&mut g, 0, [280, 0], [600, 0]);
    let out = step_until(&mut g, 30, is_fall);
    assert_eq!(
        events(&out),
        vec![
            Event::Fall {
                seat: 1,
                by: Some(0)
            },
            Event::Score {
                seat: 0,
                points: 1,
                falls: 0
            },
            Event::Score {
                seat: 1,
                points: 0,
                falls: 1
            },
        ],
        "the pusher scores, the faller's falls go up and it loses nothing"
    );
    assert!(!disc(&g, 1).alive, "off the floe");
    assert!(disc(&g, 0).alive, "the pusher stays on");
    let discs = out.tick.expect("a tick").discs;
    assert_eq!(discs.len(), 1, "only discs on the floe are sent: {discs:?}");
}

#[test]
fn a_lone_fall_costs_a_point_but_never_below_zero() {
    let mut g = playing(2, BumperConfig::default());
    place(&mut g, 1, [-100, 0], [0, 0]);
    set_points(&mut g, 0, 2, 0);
    place(&mut g, 0, [355, 0], [300, 0]);
    let out = step_until(&mut g, 10, is_fall);
    assert!(events(&out).contains(&Event::Fall { seat: 0, by: None }));
    assert_eq!((player(&g, 0).points, player(&g, 0).falls), (2 - 1, 1));

    // A touch older than 3 s no longer counts, and 0 points stay 0.
    set_points(&mut g, 0, 0, 1);
    place(&mut g, 0, [355, 0], [300, 0]);
    let long_ago = g.tick() - 3 * 60;
    let e = entity(&g, 0);
    g.world_mut().get_mut::<Disc>(e).expect("a disc").touched = Some(Touch {
        seat: 1,
        at: long_ago,
    });
    let out = step_until(&mut g, 10, is_fall);
    assert!(events(&out).contains(&Event::Fall { seat: 0, by: None }));
    assert_eq!((player(&g, 0).points, player(&g, 0).falls), (0, 2));
    assert_eq!(player(&g, 1).points, 0, "a stale touch scores nothing");
}

#[test]
fn a_fallen_disc_respawns_2_s_later_at_rest_on_the_floe() {
    let mut g = playing(2, BumperConfig::default());
    place(&mut g, 0, [355, 0], [300, 0]);
    step_until(&mut g, 10, is_fall);
    let fell_at = g.tick();
    assert_eq!(disc(&g, 0).respawn_at, Some(fell_at + 120));
    let out = step_until(&mut g, 200, |e| matches!(e, Event::Spawn { seat: 0, .. }));
    assert_eq!(g.tick(), fell_at + 120, "2 s at 60 Hz");
    let d = disc(&g, 0);
    assert!(
        d.alive && d.vel == [0, 0] && d.respawn_at.is_none(),
        "{d:?}"
    );
    let c = g.settings().centre;
    let off = systems::len2([d.pos[0] - c[0], d.pos[1] - c[1]]);
    let r = g.world().resource::<MatchState>().floe_r as i128;
    assert!(off <= r * r, "on the floe");
    let spawn = events(&out)
        .into_iter()
        .find(|e| matches!(e, Event::Spawn { .. }))
        .expect("a spawn");
    assert_eq!(
        spawn,
        Event::Spawn {
            seat: 0,
            x: (d.pos[0] / 32) as i32,
            y: (d.pos[1] / 32) as i32
        },
        "a spawn is exact in wire units"
    );
}

fn dashed(out: &Stepped, seat: u8) -> bool {
    events(out).contains(&Event::Dash { seat })
}

#[test]
fn a_dash_kicks_along_move_then_waits_for_its_cooldown() {
    let mut g = playing(2, BumperConfig::default());
    place(&mut g, 0, [0, 0], [0, 0]);
    place(&mut g, 1, [0, 200], [0, 0]);
    g.input(Some(0), "u0", [100, 0], true, None);
    let out = g.step();
    assert!(dashed(&out, 0), "a ready dash goes off");
    let v = disc(&g, 0).vel;
    assert!(
        v[0] >= 450 * FINE_PER_PX && v[1] == 0,
        "450 px/s along move (plus the move's acceleration): {v:?}"
    );
    let mut dashes = 1;
    for _ in 0..89 {
        g.input(Some(0), "u0", [100, 0], true, None);
        dashes += usize::from(dashed(&g.step(), 0));
    }
    assert_eq!(dashes, 1, "no dash during the 1.5 s cooldown");
    place(&mut g, 0, [-200, 0], [0, 0]);
    g.input(Some(0), "u0", [100, 0], true, None);
    assert!(dashed(&g.step(), 0), "ready again after 90 ticks");
    let logged = g
        .log
        .entries
        .iter()
        .filter(|e| matches!(e.cmd, Command::Dash { .. }))
        .count();
    assert_eq!(logged, 2, "only accepted dashes are logged");

    // With no move, along the velocity; with neither, nothing (and no cooldown spent).
    place(&mut g, 1, [0, 200], [0, 0]);
    g.input(Some(1), "u1", [0, 0], true, None);
    assert!(!dashed(&g.step(), 1), "nothing to dash along");
    assert_eq!(disc(&g, 1).vel, [0, 0]);
    place(&mut g, 1, [0, 200], [0, -100]);
    g.input(Some(1), "u1", [0, 0], true, None);
    assert!(dashed(&g.step(), 1), "the cooldown was not spent");
    let v = disc(&g, 1).vel;
    assert!(
        v[0] == 0 && v[1] < -500 * FINE_PER_PX,
        "along the velocity: {v:?}"
    );
}

#[test]
fn acceleration_tops_out_at_300_px_per_s() {
    let mut g = playing(2, BumperConfig::default());
    place(&mut g, 0, [-300, 0], [0, 0]);
    place(&mut g, 1, [0, 250], [0, 0]);
    g.input(Some(0), "u0", [100, 0], false, None);
    for _ in 0..60 {
        g.step();
    }
    let v = disc(&g, 0).vel;
    assert_eq!(v[1], 0);
    assert!(
        (299 * FINE_PER_PX..=300 * FINE_PER_PX).contains(&v[0]),
        "the top speed after a second: {v:?}"
    );
}

#[test]
fn the_floe_shrinks_over_the_last_30_s() {
    let s = Settings::new(BumperConfig::default(), 2);
    let end = 10_000;
    assert_eq!(floe_radius(&s, end, end - 1800), 360 * FINE_PER_PX, "whole");
    assert_eq!(
        floe_radius(&s, end, end - 900),
        280 * FINE_PER_PX,
        "halfway"
    );
    assert_eq!(floe_radius(&s, end, end), 200 * FINE_PER_PX, "the end");

    let mut g = playing(2, short(31, 10));
    let (mut first_r, mut last_r) = (None, None);
    while g.phase() == Phase::Playing {
        let out = g.step();
        if let Some(r) = out.tick.and_then(|t| t.floe_r) {
            first_r.get_or_insert(g.tick());
            last_r = Some(r);
        }
    }
    let ends_at = g.world().resource::<MatchState>().match_ends_at;
    let start = ends_at.map(|t| t - 30 * 60);
    assert!(
        first_r > start,
        "the radius is sent once it shrinks: {first_r:?} after {start:?}"
    );
    assert_eq!(last_r, Some(6400), "200 px at the end, in wire units");
}

fn run_to_end(g: &mut Game, max: u64) -> (components::Ended, Vec<crate::game::Lifecycle>) {
    for _ in 0..max {
        let out = g.step();
        if let Some((ended, _)) = out.ended {
            return (ended, out.lifecycle);
        }
    }
    panic!("no match end in {max} steps");
}

#[test]
fn a_match_ends_at_the_target() {
    let mut g = playing(2, short(120, 1));
    place(&mut g, 1, [330, 0], [0, 0]);
    place(&mut g, 0, [280, 0], [600, 0]);
    let (ended, lifecycle) = run_to_end(&mut g, 30);
    assert_eq!(ended.winner.as_deref(), Some("u0"));
    let lines: Vec<_> = ended
        .standings
        .iter()
        .map(|s| (s.id.as_str(), s.points, s.place, s.won, s.left))
        .collect();
    assert_eq!(
        lines,
        vec![("u0", 1, 1, true, false), ("u1", 0, 2, false, false)]
    );
    let names: Vec<_> = lifecycle.iter().map(|l| l.event).collect();
    assert_eq!(names, vec!["match_end", "phase"]);
    assert_eq!(lifecycle[0].payload["rounds"], 1);
    assert_eq!(lifecycle[0].payload["forfeit"], false);
    assert_eq!(lifecycle[1].payload["phase"], "finished");
    assert_eq!(g.phase(), Phase::Finished);

    // Five seconds later the room waits again: ready flags cleared, discs off.
    let out = step_until(&mut g, 400, |e| {
        matches!(
            e,
            Event::Phase {
                phase: Phase::Waiting,
                ..
            }
        )
    });
    assert!(events(&out).contains(&Event::Ready {
        seat: 0,
        ready: false
    }));
    assert!(out.tick.is_some_and(|t| t.discs.is_empty()));
    assert!(g.step().tick.is_none(), "nothing is sent while waiting");
    assert!(g.is_idle());
}

#[test]
fn a_match_ends_at_the_clock_and_a_draw_has_no_winner() {
    let mut g = playing(2, short(1, 10));
    let ends_at = g.world().resource::<MatchState>().match_ends_at;
    let (ended, _) = run_to_end(&mut g, 100);
    assert_eq!(Some(g.tick()), ends_at);
    assert_eq!(ended.winner, None, "a draw");
    assert!(
        ended.standings.iter().all(|s| s.place == 1 && !s.won),
        "{:?}",
        ended.standings
    );

    // Equal points: fewer falls is better.
    let mut g = playing(3, short(1, 10));
    set_points(&mut g, 0, 4, 3);
    set_points(&mut g, 1, 4, 1);
    set_points(&mut g, 2, 4, 3);
    let (ended, _) = run_to_end(&mut g, 100);
    let lines: Vec<_> = ended
        .standings
        .iter()
        .map(|s| (s.seat, s.place, s.won))
        .collect();
    assert_eq!(lines, vec![(1, 1, true), (0, 2, false), (2, 2, false)]);
    assert_eq!(ended.winner.as_deref(), Some("u1"));
}

#[test]
fn a_match_is_forfeit_when_one_player_is_left() {
    let mut g = playing(2, BumperConfig::default());
    set_points(&mut g, 0, 5, 0);
    g.remove_player("u0");
    let (ended, lifecycle) = run_to_end(&mut g, 1);
    assert_eq!(lifecycle[0].payload["forfeit"], true);
    assert_eq!(ended.winner.as_deref(), Some("u1"), "the one left wins");
    let lines: Vec<_> = ended
        .standings
        .iter()
        .map(|s| (s.id.as_str(), s.points, s.place, s.won, s.left))
        .collect();
    assert_eq!(
        lines,
        vec![("u1", 0, 1, true, false), ("u0", 5, 2, false, true)]
    );
}

#[test]
fn a_disconnected_seat_is_kept_15_s_then_freed() {
    let mut g = playing(3, BumperConfig::default());
    g.set_connected("u2", false);
    let gone_at = g.tick();
    g.input(Some(2), "u2", [0, 0], true, None);
    assert!(!player(&g, 2).dash, "a disconnected disc cannot dash");
    g.set_connected("u1", false);
    for _ in 0..600 {
        g.step();
    }
    g.set_connected("u1", true);
    let out = step_until(&mut g, 1000, |e| matches!(e, Event::Left { .. }));
    assert_eq!(g.tick(), gone_at + 900, "15 s at 60 Hz");
    assert!(events(&out).contains(&Event::Left { seat: 2 }));
    let seats: Vec<u8> = g.players().iter().map(|p| p.seat).collect();
    assert_eq!(seats, vec![0, 1], "the one who came back keeps the seat");
    assert_eq!(g.phase(), Phase::Playing, "two players play on");

    // While waiting too; and a waiting room with a dropped player is not idle.
    let mut g = Game::new(BumperConfig::default(), 1, 4);
    g.add_player("a", "A").expect("a seat");
    assert!(g.is_idle());
    g.set_connected("a", false);
    assert!(!g.is_idle(), "a seat to expire");
    for _ in 0..900 {
        g.step();
    }
    assert!(g.players().is_empty());
}

#[test]
fn seats_are_refused_when_full_taken_or_playing() {
    let mut g = Game::new(BumperConfig::default(), 1, 2);
    assert_eq!(g.add_player("a", "A"), Ok(0));
    assert_eq!(g.add_player("a", "A"), Err(SeatError::AlreadySeated));
    assert_eq!(g.add_player("b", "B"), Ok(1));
    assert_eq!(g.add_player("c", "C"), Err(SeatError::Full));
    let mut g = playing(2, BumperConfig::default());
    assert_eq!(g.add_player("c", "C"), Err(SeatError::AlreadyStarted));
}

fn bad(field: &str) -> Result<(), ChannelError> {
    Err(ChannelError::BadPayload {
        field: Some(field.into()),
    })
}

#[test]
fn inputs_are_refused_naming_the_field() {
    let mut game = Bumper {
        config: BumperConfig::default(),
    }
    .create(1, 2);
    game.add_player("u0", "Ann").expect("a seat");
    let mut input = |payload: Value| game.input(Some(0), "u0", &payload, None);
    assert_eq!(input(json!({"move": [100, -100]})), Ok(()));
    assert_eq!(
        input(json!({"move": [0, 0], "dash": true, "seq": 3})),
        Ok(())
    );
    assert_eq!(
        input(json!({"move": [1, 2], "dash": false, "x": 1})),
        Ok(())
    );
    assert_eq!(input(json!({"move": [101, 0]})), bad("move"));
    assert_eq!(input(json!({"move": [0, -101]})), bad("move"));
    assert_eq!(input(json!({"move": [1.5, 0]})), bad("move"));
    assert_eq!(input(json!({"move": ["1", 0]})), bad("move"));
    assert_eq!(input(json!({"move": [1, 2, 3]})), bad("move"));
    assert_eq!(input(json!({"move": 5})), bad("move"));
    assert_eq!(input(json!({"dash": true})), bad("move"));
    assert_eq!(input(json!({"move": [0, 0], "dash": "yes"})), bad("dash"));
}

#[test]
fn a_long_move_keeps_its_direction_at_length_100() {
    assert_eq!(clamp_move(100, 100), [70, 70]);
    assert_eq!(clamp_move(71, -71), [70, -70]);
    assert_eq!(clamp_move(-100, 1), [-99, 0]);
    assert_eq!(clamp_move(60, 80), [60, 80], "exactly 100 stays");
    for x in -100..=100 {
        for y in [-100, -37, 0, 55, 100] {
            let [a, b] = clamp_move(x, y);
            assert!(a * a + b * b <= 100 * 100, "({x}, {y}) → ({a}, {b})");
        }
    }
    let mut g = playing(2, BumperConfig::default());
    g.input(Some(0), "u0", [100, 100], false, None);
    assert_eq!(player(&g, 0).mv, [70, 70]);
}

#[test]
fn an_input_seq_is_acknowledged_once() {
    let mut g = playing(2, BumperConfig::default());
    g.input(Some(0), "u0", [10, 0], false, Some(41));
    let acks = |t: Option<Tick>| -> Vec<Option<u32>> {
        t.expect("a tick").discs.iter().map(|d| d.ack).collect()
    };
    assert_eq!(acks(g.step().tick), vec![Some(41), None]);
    assert_eq!(acks(g.step().tick), vec![None, None], "sent once");
    // A wrong seat hint still finds the player.
    g.input(Some(1), "u0", [10, 0], false, Some(42));
    assert_eq!(acks(g.step().tick), vec![Some(42), None]);
}

/// A client that joined while the room waited and then only applied ticks sees what a
/// fresh snapshot shows (input acks and fallen discs' positions aside).
#[test]
fn a_board_applying_every_tick_matches_the_snapshot() {
    let mut g = Game::new(short(5, 3), 11, 4);
    g.add_player("u0", "A").expect("a seat");
    let snap = |g: &Game| {
        let mut board = Board::from_snapshot(&view::snapshot(g.world()));
        normalize(&mut board);
        board
    };
    let mut board = snap(&g);
    g.add_player("u1", "B").expect("a seat");
    g.add_player("u2", "C").expect("a seat");
    g.add_player("u3", "D").expect("a seat");
    g.remove_player("u3");
    for i in 0..3 {
        g.set_ready(&uid(i), true);
    }
    let mut compared = 0;
    for step in 0..900u64 {
        let dir = if step % 240 < 120 { 100 } else { -100 };
        g.input(Some(0), "u0", [dir, 0], step % 50 == 0, Some(step as u32));
        g.input(Some(1), "u1", [-dir, 30], step % 70 == 0, None);
        g.input(Some(2), "u2", [0, dir], false, None);
        if let Some(tick) = g.step().tick {
            let bytes = encode_tick_bytes(&tick);
            board
                .apply_tick(&decode_tick(&bytes).expect("a tick"))
                .expect("in sequence");
            normalize(&mut board);
            assert_eq!(board, snap(&g), "after tick {}", g.tick());
            compared += 1;
        }
    }
    assert!(compared > 600, "ticks flowed: {compared}");
}

fn encode_tick_bytes(t: &Tick) -> Vec<u8> {
    kurve_shared::bumper::encode_tick(t).expect("a tick encodes")
}

fn normalize(board: &mut Board) {
    for p in &mut board.players {
        p.ack = None;
        if !p.alive {
            (p.x, p.y, p.vx, p.vy) = (0, 0, 0, 0);
        }
    }
}

#[test]
fn the_snapshot_and_config_follow_the_wire() {
    let g = playing(2, BumperConfig::default());
    let bytes = RoomGame::snapshot(&g);
    let snap = decode_snapshot(&bytes).expect("a snapshot");
    assert_eq!(
        (snap.phase, snap.target, snap.floe_r),
        (Phase::Playing, 10, 11520)
    );
    assert!(snap.match_ends_at.is_some() && snap.players.len() == 2);
    assert_eq!(
        Value::Object(g.client_config(crate::game::ConfigFor::Room)),
        json!({"arena": {"w": 1024, "h": 768}, "disc_r": 640, "floe_r": 11520,
               "floe_final_r": 6400, "match_ticks": 7200, "pos_scale": 32, "target": 10})
    );
    let kind = Bumper {
        config: BumperConfig::default(),
    };
    let info = kind.info();
    assert_eq!(
        (
            info.id.as_str(),
            info.name.as_str(),
            info.min_players,
            info.max_players
        ),
        ("bumper", "Bumper", 2, 8)
    );
}

#[test]
fn saved_bytes_are_checked() {
    let kind = Bumper {
        config: BumperConfig::default(),
    };
    let g = playing(3, BumperConfig::default());
    let saved = g.save();
    let bytes = SavedGame::encode(&saved);
    assert!(kind.restore(&bytes).is_ok(), "its own save");
    assert!(
        kind.restore(&bytes[..bytes.len() / 2]).is_err(),
        "half a save"
    );
    let refused = |change: &dyn Fn(&mut kind::Saved)| {
        let mut bad = saved.clone();
        change(&mut bad);
        kind.restore(&SavedGame::encode(&bad)).is_err()
    };
    assert!(refused(&|s| s.players[0].0.seat = 9), "seat 9");
    assert!(refused(&|s| s.max_players = 2), "a seat beyond max_players");
    assert!(refused(&|s| s.players[1].0.seat = 0), "seat 0 twice");
    assert!(refused(&|s| s.players[0].0.mv = [500, 0]), "move");
    assert!(refused(&|s| s.players[0].0.mv = [0, i32::MIN]), "move");
    assert!(refused(&|s| s.players[0].1.pos = [i64::MAX, 0]), "position");
    assert!(refused(&|s| s.players[0].1.vel = [0, i64::MIN]), "velocity");
    assert!(refused(&|s| s.max_players = 200), "max_players");
    assert!(refused(&|s| s.config.tick_hz = 0), "tick_hz");
    assert!(refused(&|s| s.clock.tick = u64::MAX), "tick");
    assert!(refused(&|s| s.ms.floe_r = -1), "floe radius");
    assert!(
        refused(&|s| s.log.entries.push(LogEntry {
            tick: 0,
            cmd: Command::Dash { seat: 8 }
        })),
        "its log"
    );
}

#[test]
fn match_logs_are_checked() {
    let kind = Bumper {
        config: BumperConfig::default(),
    };
    let mut g = playing(2, short(1, 10));
    let log = loop {
        if let Some((_, log)) = g.step().ended {
            break log;
        }
    };
    assert!(kind.open_log(&log.to_bytes()).is_ok(), "its own log");
    let refused = |change: &dyn Fn(&mut MatchLog)| {
        let mut bad = log.clone();
        change(&mut bad);
        kind.open_log(&bad.to_bytes()).is_err()
    };
    assert!(refused(&|l| l.end_tick = None), "unfinished");
    assert!(refused(&|l| l.truncated = true), "truncated");
    assert!(
        refused(&|l| l.start_tick = l.end_tick.unwrap_or_default() + 1),
        "ends early"
    );
    assert!(refused(&|l| l.max_players = 1), "max_players");
    assert!(refused(&|l| l.config.match_secs = 0), "config");
    assert!(
        refused(&|l| l.entries.push(LogEntry {
            tick: l.start_tick,
            cmd: Command::Move {
                seat: l.max_players,
                x: 0,
                y: 0
            }
        })),
        "a seat out of range"
    );
    assert!(
        refused(&|l| l.entries.push(LogEntry {
            tick: l.start_tick,
            cmd: Command::Move {
                seat: 0,
                x: 101,
                y: 0
            }
        })),
        "a move out of range"
    );
}

fn kind(match_secs: u32) -> Bumper {
    Bumper {
        config: short(match_secs, 10),
    }
}

/// Three players driving across the floe and dashing, one dropping out for a while.
fn scrimmage() -> Script {
    let mut script = Script::ready(3, 4);
    for k in 0..40u64 {
        let at = 150 + k * 37;
        let sign = if k % 2 == 0 { 100 } else { -100 };
        script = script
            .at(at, Action::Input(0, json!({"move": [sign, 0], "seq": k})))
            .at(
                at,
                Action::Input(1, json!({"move": [-sign, 20], "dash": k % 3 == 0})),
            )
            .at(
                at + 11,
                Action::Input(2, json!({"move": [10, sign], "dash": true})),
            );
    }
    script
        .at(700, Action::Disconnect(1))
        .at(1000, Action::Reconnect(1))
}

#[test]
fn the_kit_s_checks_hold_for_bumper() {
    let script = scrimmage();
    kit::assert_deterministic(&kind(20), 7, &script, 2000);
    kit::assert_resumes(&kind(20), 7, &script, 2000, 800);
    kit::assert_envelope(&kind(20), 7, &script, 2000);
    let outcome = kit::assert_replays(&kind(20), 7, &script, 2000);
    assert_eq!(outcome.rounds, 1);
    assert_eq!(outcome.standings.len(), 3);
    assert!(
        outcome.standings.iter().any(|s| s.points > 0)
            || outcome.standings.iter().all(|s| s.place == 1),
        "{:?}",
        outcome.standings
    );
}

#[test]
fn a_forfeit_and_a_seat_expiry_replay_too() {
    let script = scrimmage()
        .at(400, Action::Leave(0))
        .at(500, Action::Disconnect(2));
    let outcome = kit::assert_replays(&kind(60), 3, &script, 2000);
    assert_eq!(
        outcome.winner.as_deref(),
        Some("u1"),
        "u0 left, u2's seat expired: {:?}",
        outcome.standings
    );
    kit::assert_resumes(&kind(60), 3, &script, 1500, 450);
}

/// A replay sends what the room sent, tick for tick (input acknowledgements aside:
/// they are not part of the game).
#[test]
fn a_replay_sends_the_match_s_ticks_again() {
    let kind = kind(20);
    let played = kit::run(&kind, 7, &scrimmage(), 2000);
    let outcome = played.outcome.expect("the match ended");
    let recording = kind.open_log(&outcome.log).expect("its log");
    let unacked = |bytes: &[u8]| {
        let mut tick = decode_tick(bytes).expect("a tick");
        for d in &mut tick.discs {
            d.ack = None;
        }
        tick
    };
    let span = recording.start_tick() + 1..=recording.end_tick();
    let live: Vec<Tick> = played
        .ticks
        .iter()
        .map(|b| unacked(b))
        .filter(|t| span.contains(&t.tick))
        .collect();
    let mut playback = recording.play();
    let mut replayed = Vec::new();
    while playback.tick() < recording.end_tick() {
        replayed.extend(playback.step().tick.map(|b| unacked(&b)));
    }
    assert_eq!(
        live.len() as u64,
        outcome.duration_ticks + 1,
        "the whole match, from its countdown's first tick"
    );
    assert!(live == replayed, "the same ticks");
}
