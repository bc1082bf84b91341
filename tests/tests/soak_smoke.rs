//! The soak runner against an in-process server: a small idle storm, a small play
//! scenario with steering bots, one with light bots and one through a network proxy
//! (`--netem broadband`), with generous thresholds; and the light bots' tick-number
//! decoder. The full-size runs are operator commands
//! (`kurve-soak`), not part of the suite.

use std::time::Duration;

use kurve_shared::game::{Draw, Event, HeadUpdate, Phase, Tick, encode_tick};
use kurve_tests::soak::ticks::{TICK, TICKS, decode_ticks, tick_numbers};
use kurve_tests::soak::{
    self, BotsMode, LobbyLayout, NetemConfig, Scenario, SoakConfig, Thresholds,
};
use kurve_tests::{load_test_config, spawn_server_with};

fn base(url: String, bots: u32, seconds: u64) -> SoakConfig {
    let mut cfg = SoakConfig::new(url, bots);
    cfg.duration = Duration::from_secs(seconds);
    cfg.drain = Duration::from_secs(5);
    cfg.ramp_per_sec = 0.0;
    // The server is this process: its RSS would include the bots, so it is not sampled.
    cfg.find_server = false;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_bots_join_lobbies_and_all_see_all() {
    let server = spawn_server_with(load_test_config()).await;
    let mut cfg = base(server.ws_url(), 200, 8);
    cfg.lobbies = LobbyLayout::Size(50);
    cfg.thresholds = Thresholds {
        max_join_failures: Some(0),
        max_see_all_ms: Some(7_000.0),
        ..Thresholds::default()
    };
    let report = soak::run(cfg).await.expect("the soak runs");
    println!("{report}");
    assert_eq!(report.lobby_joins_ok, 200, "every bot joined its lobby");
    assert_eq!(
        report.presence_complete_bots, 200,
        "every bot saw its lobby"
    );
    assert!(report.all_see_all_ms.is_some(), "all see all");
    assert!(report.passed, "thresholds: {:?}", report.thresholds);
    assert!(
        !report.errors.keys().any(|k| !k.starts_with("drain")),
        "no errors: {:?}",
        report.errors
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_bots_fill_rooms_and_receive_ticks() {
    let server = spawn_server_with(load_test_config()).await;
    // 4 rooms × (3 players + 1 spectator).
    let mut cfg = base(server.ws_url(), 16, 12);
    cfg.scenario = Scenario::Play;
    cfg.room_size = 3;
    cfg.spectators = 1;
    cfg.thresholds = Thresholds {
        max_join_failures: Some(0),
        min_delivery: Some(0.9),
        ..Thresholds::default()
    };
    let report = soak::run(cfg).await.expect("the soak runs");
    println!("{report}");
    assert_eq!(report.rooms_created, 4, "one room per group");
    assert_eq!(report.room_joins_ok, 16, "every bot joined its room");
    assert!(report.snapshots >= 16, "every member got a snapshot");
    assert!(report.ticks_expected > 0, "the rooms ran");
    assert!(
        report.delivery_ratio.is_some_and(|d| d >= 0.9),
        "delivery {:?}",
        report.delivery_ratio
    );
    assert!(report.inputs_sent > 0, "the players steered");
    assert!(report.passed, "thresholds: {:?}", report.thresholds);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_bots_count_ticks_and_time_inputs() {
    let server = spawn_server_with(load_test_config()).await;
    // 2 rooms × (3 players + 1 spectator), reading tick numbers only.
    let mut cfg = base(server.ws_url(), 8, 10);
    cfg.scenario = Scenario::Play;
    cfg.bots_mode = BotsMode::Light;
    cfg.room_size = 3;
    cfg.spectators = 1;
    cfg.input_hz = 20;
    cfg.floor_us = Some(1.0);
    cfg.thresholds = Thresholds {
        max_join_failures: Some(0),
        ..Thresholds::default()
    };
    let report = soak::run(cfg).await.expect("the soak runs");
    println!("{report}");
    assert_eq!(report.rooms_created, 2, "one room per group");
    assert_eq!(report.room_joins_ok, 8, "every bot joined its room");
    assert!(report.snapshots >= 8, "every member got a snapshot");
    assert!(
        report.delivery_ratio.is_some_and(|d| d > 0.0),
        "delivery {:?}",
        report.delivery_ratio
    );
    assert!(report.frames_received > 0, "frames were counted");
    assert!(report.inputs_sent > 0, "the players sent inputs");
    assert!(
        report.input_to_tick.is_some_and(|l| l.samples > 0),
        "input → next tick was timed"
    );
    assert!(
        report.input_echo.is_none(),
        "light bots do not look for echoes"
    );
    let window = report.steady_window.as_ref().expect("every bot got in");
    assert!(window.frames > 0, "frames in the steady window");
    assert!(
        // Read in 10 ms clock ticks: a short window may show none.
        window.bots_cpu_s.is_some_and(|cpu| cpu >= 0.0) && window.bots_us_per_frame.is_some(),
        "the load generator's own CPU in the window: {window:?}"
    );
    assert!(report.passed, "thresholds: {:?}", report.thresholds);
    server.stop().await;
}

/// `kurve-soak --game bumper` in `mode`: 2 rooms × (3 players + 1 spectator) for
/// `seconds`; every bot gets in, every tick arrives, no input is refused.
async fn bots_play_bumper(mode: BotsMode, seconds: u64) -> soak::Report {
    let server = spawn_server_with(load_test_config()).await;
    let mut cfg = base(server.ws_url(), 8, seconds);
    cfg.scenario = Scenario::Play;
    cfg.game = "bumper".into();
    cfg.bots_mode = mode;
    cfg.room_size = 3;
    cfg.spectators = 1;
    cfg.input_hz = 20;
    cfg.thresholds = Thresholds {
        max_join_failures: Some(0),
        min_delivery: Some(0.9),
        ..Thresholds::default()
    };
    let report = soak::run(cfg).await.expect("the soak runs");
    println!("{report}");
    assert_eq!(report.rooms_created, 2, "one Bumper room per group");
    assert_eq!(report.room_joins_ok, 8, "every bot joined its room");
    assert!(report.snapshots >= 8, "every member got a snapshot");
    assert!(report.ticks_expected > 0, "the rooms ran");
    assert!(report.inputs_sent > 0, "the players played");
    assert!(
        !report.errors.keys().any(|k| !k.starts_with("drain")),
        "no errors (a refused input would be one): {:?}",
        report.errors
    );
    assert!(report.passed, "thresholds: {:?}", report.thresholds);
    server.stop().await;
    report
}

/// Light bots create Bumper rooms, play them (pushes and dashes) and count every tick,
/// as they do Curve's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_bots_play_bumper() {
    let report = bots_play_bumper(BotsMode::Light, 10).await;
    assert!(
        report.input_to_tick.is_some_and(|l| l.samples > 0),
        "input → next tick was timed"
    );
}

/// Steering bots follow every tick on a board, drive at each other and dash, and time
/// each input until the server acknowledges it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steering_bots_play_bumper() {
    let report = bots_play_bumper(BotsMode::Steer, 12).await;
    assert!(
        report.input_echo.as_ref().is_some_and(|e| e.samples > 0),
        "inputs were acknowledged and timed: {:?}",
        report.input_echo
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_bots_play_through_a_broadband_network() {
    let server = spawn_server_with(load_test_config()).await;
    // 2 rooms × 2 players, every bot's socket through a 30 ± 5 ms RTT network.
    let mut cfg = base(server.ws_url(), 4, 6);
    cfg.scenario = Scenario::Play;
    cfg.bots_mode = BotsMode::Light;
    cfg.room_size = 2;
    cfg.netem = Some(NetemConfig {
        profile: "broadband".parse().expect("a named profile"),
        share: 1.0,
        seed: 7,
    });
    cfg.thresholds = Thresholds {
        max_join_failures: Some(0),
        ..Thresholds::default()
    };
    let report = soak::run(cfg).await.expect("the soak runs");
    println!("{report}");
    let netem = report.netem.as_ref().expect("the report names the network");
    assert_eq!(netem.profile, "broadband");
    assert_eq!(
        netem.seed, 7,
        "the seed is reported, to rerun the same network"
    );
    assert_eq!(
        (netem.bots_assigned, netem.bots_connected),
        (4, 4),
        "every bot connected through the proxy"
    );
    assert!(
        netem.connections >= 4 && netem.bytes_to_bots > 0 && netem.bytes_to_server > 0,
        "traffic crossed the proxy both ways: {netem:?}"
    );
    assert_eq!(
        report.room_joins_ok, 4,
        "every bot joined its room through it"
    );
    assert!(
        report.delivery_ratio.is_some_and(|d| d > 0.0),
        "ticks were delivered through it: {:?}",
        report.delivery_ratio
    );
    assert_eq!(report.disconnects, 0, "no bot lost its socket");
    let text = report.to_string();
    assert!(
        text.contains("netem       broadband (RTT 30 ms ± 5 ms), seed 7: 4 of 4 bots"),
        "the text report names the profile and the bots through it:\n{text}"
    );
    assert!(
        text.contains("includes broadband's network jitter"),
        "the jitter line says it includes the network's:\n{text}"
    );
    assert!(report.passed, "thresholds: {:?}", report.thresholds);
    server.stop().await;
}

fn tick(n: u64) -> Tick {
    Tick {
        tick: n,
        heads: vec![HeadUpdate {
            seat: 1,
            x: 16_000,
            y: 12_000,
            heading: 65_535,
            draw: Draw::Solid,
            ack: None,
        }],
        events: vec![Event::Phase {
            phase: Phase::Playing,
            round: 1,
            ends_at: None,
        }],
    }
}

#[test]
fn tick_numbers_decode_from_tick_and_ticks_payloads() {
    let mut out = Vec::new();
    tick_numbers(TICK, &encode_tick(&tick(41)).unwrap(), &mut out).unwrap();
    assert_eq!(out, vec![41]);
    let batch = rmp_serde::to_vec_named(&vec![tick(42), tick(43), tick(44)]).unwrap();
    tick_numbers(TICKS, &batch, &mut out).unwrap();
    assert_eq!(out, vec![41, 42, 43, 44], "appended in order");
    tick_numbers(b"snapshot", &batch, &mut out).unwrap();
    assert_eq!(out.len(), 4, "other events add nothing");
    assert!(tick_numbers(TICK, b"\xc1", &mut out).is_err(), "malformed");
    // Steering bots decode whole ticks from both.
    assert_eq!(
        decode_ticks(TICK, &encode_tick(&tick(41)).unwrap()).unwrap(),
        vec![tick(41)]
    );
    assert_eq!(
        decode_ticks(TICKS, &batch).unwrap(),
        vec![tick(42), tick(43), tick(44)]
    );
}
