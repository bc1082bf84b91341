//! A room whose send rate is below its tick rate: every frame carries every tick since
//! the previous one, in order, and applying them reproduces the server's state.

mod room_support;

use std::time::Duration;

use kurve_shared::game::Arena;
use kurve_tests::client::{PhxClient, brief};
use kurve_tests::spawn_server;
use room_support::{arena_diff, create_room_sending, ticks_of};
use serde_json::json;
use tokio::time::Instant;

/// What one member saw: tick numbers in arrival order, ticks per frame, and its arena.
struct Seen {
    numbers: Vec<u64>,
    frame_sizes: Vec<usize>,
    arena: Arena,
}

/// Reads `conn`'s room frames until its arena reaches `until` (whole frames, so it may
/// end a tick past it), applying every tick to the arena built from its join snapshot.
async fn follow(conn: &mut PhxClient, topic: &str, mut arena: Arena, until: u64) -> Seen {
    let mut numbers = Vec::new();
    let mut frame_sizes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while arena.tick < until {
        let frame = conn
            .try_recv_within(deadline - Instant::now())
            .await
            .unwrap_or_else(|| panic!("{}: expected ticks up to {until}", conn.label));
        assert_ne!(
            frame.event,
            "phx_error",
            "{}: {}",
            conn.label,
            brief(&frame)
        );
        if frame.topic != topic {
            continue;
        }
        let Some(ticks) = ticks_of(&frame) else {
            continue;
        };
        frame_sizes.push(ticks.len());
        for tick in ticks {
            numbers.push(tick.tick);
            arena
                .apply_tick(&tick)
                .unwrap_or_else(|e| panic!("{}: tick {} should apply: {e}", conn.label, tick.tick));
        }
    }
    Seen {
        numbers,
        frame_sizes,
        arena,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_hz_30_delivers_every_tick_once_and_spectators_converge() {
    let server = spawn_server().await;
    let id = create_room_sending(&server, "thirty", 4, Some(30));
    let mut p1 = PhxClient::connect(&server, "p1").await;
    let mut p2 = PhxClient::connect(&server, "p2").await;
    let mut spec = PhxClient::connect(&server, "spec").await;
    let (j1, s1) = p1.join_room(&id, json!({"as": "player"})).await;
    let (j2, s2) = p2.join_room(&id, json!({"as": "player"})).await;
    let (js, ss) = spec.join_room(&id, json!({"as": "spectator"})).await;
    assert_eq!(
        js.reply["config"]["send_hz"], 30,
        "the join reply states the room's send rate: {}",
        js.reply
    );
    p1.ready(&j1).await;
    p2.ready(&j2).await;
    // Countdown (180 ticks) and a second of play.
    let until = ss.tick + 240;
    let (a, b, c) = tokio::join!(
        follow(&mut p1, &j1.topic, Arena::from_snapshot(&s1), until),
        follow(&mut p2, &j2.topic, Arena::from_snapshot(&s2), until),
        follow(&mut spec, &js.topic, Arena::from_snapshot(&ss), until),
    );
    for (who, seen) in [("p1", &a), ("p2", &b), ("spectator", &c)] {
        assert!(
            seen.numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "{who}: every tick number exactly once, in order: {:?}",
            seen.numbers
        );
        let pairs = seen.frame_sizes.iter().filter(|&&n| n == 2).count();
        assert!(
            pairs * 2 >= seen.frame_sizes.len(),
            "{who}: at 30 Hz most frames carry two ticks, got {:?}",
            seen.frame_sizes
        );
        assert!(
            seen.frame_sizes.iter().all(|&n| n <= 2),
            "{who}: never more than tick_hz / send_hz ticks in a frame"
        );
    }
    for (who, seen) in [("p1", &a), ("p2", &b)] {
        if let Some(diff) = arena_diff(&seen.arena, &c.arena) {
            panic!("{who}'s arena differs from the spectator's at {until}: {diff}");
        }
    }
    // A spectator joining now gets a snapshot equal to the followers' arena once they
    // have applied the ticks up to it.
    let mut late = PhxClient::connect(&server, "late").await;
    let (_, late_snap) = late.join_room(&id, json!({"as": "spectator"})).await;
    let caught_up = follow(&mut spec, &js.topic, c.arena, late_snap.tick).await;
    if let Some(diff) = arena_diff(&caught_up.arena, &Arena::from_snapshot(&late_snap)) {
        panic!("a late snapshot equals the applied ticks: {diff}");
    }
    server.stop().await;
}
