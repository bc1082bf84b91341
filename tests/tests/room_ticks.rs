//! The running room: phase broadcasts, binary `tick` broadcasts shared byte for byte by
//! every member, and convergence (snapshot + every tick = a later snapshot).

mod room_support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kurve_shared::game::{Arena, Phase};
use kurve_tests::client::{PhxClient, brief, decode_tick_frame, json_of};
use kurve_tests::spawn_server;
use room_support::{arena_diff, create_room};
use serde_json::json;
use tokio::time::Instant;

/// Reads `conn` for `window`, collecting the ticks of `topic` (number → raw bytes) and
/// the JSON events of that topic in order. Ticks must be consecutive.
async fn collect(
    conn: &mut PhxClient,
    topic: &str,
    window: Duration,
) -> (BTreeMap<u64, Bytes>, Vec<serde_json::Value>) {
    let end = Instant::now() + window;
    let mut ticks = BTreeMap::new();
    let mut events = Vec::new();
    let mut last: Option<u64> = None;
    while Instant::now() < end {
        let Some(frame) = conn.try_recv_within(end - Instant::now()).await else {
            break;
        };
        assert_ne!(
            frame.event,
            "phx_error",
            "{}: expected no phx_error, got {}",
            conn.label,
            brief(&frame)
        );
        if frame.topic != topic {
            continue;
        }
        if frame.event == "tick" {
            let (tick, bytes) = decode_tick_frame(&frame);
            if let Some(last) = last {
                assert_eq!(
                    tick.tick,
                    last + 1,
                    "{}: expected consecutive tick numbers, got {} after {last}",
                    conn.label,
                    tick.tick
                );
            }
            last = Some(tick.tick);
            ticks.insert(tick.tick, bytes);
        } else if let kurve_shared::phoenix::ServerPayload::Json(v) = &frame.payload {
            let mut v = v.clone();
            v["_event"] = json!(frame.event);
            events.push(v);
        }
    }
    (ticks, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ticks_are_consecutive_binary_broadcasts_with_the_same_bytes_for_everyone() {
    let server = spawn_server().await;
    let id = create_room(&server, "ticks", 4);
    let mut p1 = PhxClient::connect(&server, "p1").await;
    let mut p2 = PhxClient::connect(&server, "p2").await;
    let mut spec = PhxClient::connect(&server, "spec").await;
    let (j1, s1) = p1.join_room(&id, json!({"as": "player"})).await;
    let (j2, _) = p2.join_room(&id, json!({"as": "player"})).await;
    let (js, _) = spec.join_room(&id, json!({"as": "spectator"})).await;
    assert_eq!(
        s1.phase,
        Phase::Waiting,
        "expected a waiting room before anyone is ready"
    );
    // No ticks while waiting.
    let idle = spec.try_recv_within(Duration::from_millis(300)).await;
    assert!(
        idle.as_ref().is_none_or(|f| f.event != "tick"),
        "expected no tick while waiting, got {:?}",
        idle.as_ref().map(brief)
    );

    p1.ready(&j1).await;
    p2.ready(&j2).await;
    let countdown = spec
        .expect("phase countdown", |f| {
            f.topic == js.topic && f.event == "phase"
        })
        .await;
    let countdown = json_of(&countdown);
    assert_eq!(
        countdown["phase"], "countdown",
        "expected the first phase broadcast to be countdown, got {countdown}"
    );
    assert_eq!(countdown["round"], 1, "expected round 1, got {countdown}");
    assert_eq!(
        countdown["duration_ticks"], 180,
        "expected a 3 s countdown (180 ticks at 60 Hz), got {countdown}"
    );
    let start = countdown["tick"]
        .as_u64()
        .expect("expected a tick number in the phase event");
    assert_eq!(
        countdown["ends_at"].as_u64(),
        Some(start + 180),
        "expected ends_at = tick + 180, got {countdown}"
    );
    // The round_start lifecycle event names both players.
    let round_start = spec
        .expect("round_start", |f| {
            f.topic == js.topic && f.event == "round_start"
        })
        .await;
    let ids: Vec<&str> = json_of(&round_start)["players"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        ids.contains(&p1.user.id.as_str()) && ids.contains(&p2.user.id.as_str()),
        "expected round_start to list both players, got {}",
        brief(&round_start)
    );

    // Every member reads ~3.5 s of the room at once: countdown into playing.
    let window = Duration::from_millis(3500);
    let ((t1, e1), (t2, _), (ts, es)) = tokio::join!(
        collect(&mut p1, &j1.topic, window),
        collect(&mut p2, &j2.topic, window),
        collect(&mut spec, &js.topic, window),
    );
    for (who, ticks) in [("p1", &t1), ("p2", &t2), ("spectator", &ts)] {
        assert!(
            ticks.len() >= 150,
            "expected at least 150 ticks in 3.5 s at 60 Hz for {who}, got {}",
            ticks.len()
        );
    }
    assert!(
        *ts.keys().next().expect("ticks") <= start + 180,
        "expected the collected ticks to begin during the countdown"
    );
    let mut common = 0;
    for (tick, bytes) in &ts {
        for (who, other) in [("p1", &t1), ("p2", &t2)] {
            if let Some(theirs) = other.get(tick) {
                assert_eq!(
                    theirs, bytes,
                    "expected tick {tick} to carry the same bytes for {who} and the spectator"
                );
                common += 1;
            }
        }
    }
    assert!(
        common >= 300,
        "expected ≥ 300 tick comparisons across clients, made {common}"
    );
    for (who, events) in [("p1", &e1), ("spectator", &es)] {
        let playing = events
            .iter()
            .find(|e| e["_event"] == "phase" && e["phase"] == "playing")
            .unwrap_or_else(|| {
                panic!("expected {who} to get phase playing within the window, got {events:?}")
            });
        assert_eq!(
            playing["tick"].as_u64(),
            Some(start + 180),
            "expected playing to start at the countdown's ends_at, got {playing}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_snapshot_equals_an_early_spectator_arena_after_the_same_tick() {
    let server = spawn_server().await;
    let id = create_room(&server, "converge", 4);
    let mut p1 = PhxClient::connect(&server, "p1").await;
    let mut p2 = PhxClient::connect(&server, "p2").await;
    let mut early = PhxClient::connect(&server, "early").await;
    let (j1, _) = p1.join_room(&id, json!({"as": "player"})).await;
    let (j2, _) = p2.join_room(&id, json!({"as": "player"})).await;
    let (je, snap) = early.join_room(&id, json!({"as": "spectator"})).await;
    let mut arena = Arena::from_snapshot(&snap);
    p1.ready(&j1).await;
    p2.ready(&j2).await;

    // The early spectator applies every tick; the players weave so trails curve.
    let started = Instant::now();
    let mut next_turn = started;
    let mut turn: i8 = 1;
    let mut applied = 0u32;
    loop {
        let (tick, _) = early
            .next_tick(&je.topic, |f| {
                assert_ne!(
                    f.event,
                    "phx_error",
                    "expected no phx_error, got {}",
                    brief(f)
                );
            })
            .await;
        let expected = arena.tick + 1;
        arena.apply_tick(&tick).unwrap_or_else(|e| {
            panic!("expected tick {expected} to apply to the early spectator's arena: {e}")
        });
        applied += 1;
        if Instant::now() >= next_turn {
            next_turn += Duration::from_millis(350);
            turn = -turn;
            p1.input(&j1, turn).await;
            p2.input(&j2, -turn).await;
        }
        let elapsed = started.elapsed();
        if elapsed >= Duration::from_secs(10) && !arena.trails.is_empty() {
            break;
        }
        assert!(
            elapsed < Duration::from_secs(25),
            "expected trails on the board some time between 10 s and 25 s, phase {:?}",
            arena.phase
        );
    }
    assert!(
        applied >= 500,
        "expected ≥ 500 ticks applied over 10 s, got {applied}"
    );

    // A second spectator joins now; its snapshot is at tick T ≥ what the early one has.
    let mut late = PhxClient::connect(&server, "late").await;
    let (jl, late_snap) = late.join_room(&id, json!({"as": "spectator"})).await;
    assert!(
        late_snap.tick >= arena.tick,
        "expected the late snapshot (tick {}) not before the early spectator's last tick ({})",
        late_snap.tick,
        arena.tick
    );
    while arena.tick < late_snap.tick {
        let (tick, _) = early.next_tick(&je.topic, |_| {}).await;
        arena
            .apply_tick(&tick)
            .unwrap_or_else(|e| panic!("expected the next tick to apply: {e}"));
    }
    let late_arena = Arena::from_snapshot(&late_snap);
    assert!(
        !late_snap.trails.is_empty() && late_snap.players.len() == 2,
        "expected the late snapshot to show trails and two players, got {} trails, {} players",
        late_snap.trails.len(),
        late_snap.players.len()
    );
    assert_eq!(
        arena.polylines(),
        late_snap.trails,
        "expected the early spectator's polylines to equal the late snapshot's trails at tick {}",
        late_snap.tick
    );
    if let Some(diff) = arena_diff(&arena, &late_arena) {
        panic!(
            "expected the early spectator's arena to equal the late snapshot at tick {}: {diff}",
            late_snap.tick
        );
    }

    // From there on both apply the same ticks and stay equal.
    let mut late_arena = late_arena;
    for _ in 0..90 {
        let (te, _) = early.next_tick(&je.topic, |_| {}).await;
        let (tl, _) = late.next_tick(&jl.topic, |_| {}).await;
        assert_eq!(
            te.tick, tl.tick,
            "expected both spectators to get the same tick sequence"
        );
        arena
            .apply_tick(&te)
            .unwrap_or_else(|e| panic!("early: {e}"));
        late_arena.apply_tick(&tl).unwrap_or_else(|e| {
            panic!("expected the late spectator's first tick to follow its snapshot: {e}")
        });
    }
    if let Some(diff) = arena_diff(&arena, &late_arena) {
        panic!(
            "expected both arenas equal 90 ticks later (tick {}): {diff}",
            arena.tick
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiting_room_with_nobody_ready_does_not_tick() {
    let server = spawn_server().await;
    let id = create_room(&server, "idle", 4);
    let mut p1 = PhxClient::connect(&server, "p1").await;
    let mut p2 = PhxClient::connect(&server, "p2").await;
    let (j1, s1) = p1.join_room(&id, json!({"as": "player"})).await;
    let (j2, _) = p2.join_room(&id, json!({"as": "player"})).await;
    // A second of waiting: at 60 Hz a ticking room would count 60 ticks.
    tokio::time::sleep(Duration::from_secs(1)).await;
    p1.ready(&j1).await;
    p2.ready(&j2).await;
    let countdown = p1
        .expect("phase countdown", |f| {
            f.topic == j1.topic && f.event == "phase"
        })
        .await;
    let tick = json_of(&countdown)["tick"]
        .as_u64()
        .expect("a tick number in the phase event");
    assert!(
        tick < s1.tick + 30,
        "the room only ticked from the first ready on, not while idle: countdown at tick {tick}, joined at {}",
        s1.tick
    );
    server.stop().await;
}
