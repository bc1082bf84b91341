//! The soak runner against an in-process server: a small idle storm and a small play
//! scenario, with generous thresholds. The full-size runs are operator commands
//! (`kurve-soak`), not part of the suite.

use std::time::Duration;

use kurve_tests::soak::{self, LobbyLayout, Scenario, SoakConfig, Thresholds};
use kurve_tests::spawn_server;

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
    let server = spawn_server().await;
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
    let server = spawn_server().await;
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
