//! `replay:<match_id>` over a real socket: a stored match re-simulated at 4×, a seek's
//! fresh snapshot plus the remaining ticks rebuilding the same arena as the unseeked
//! pass, and a stored match whose input log is corrupt refused with `corrupt_replay`;
//! a user's replay channels capped at 3, and playback per viewer (a pause or a seek
//! changes only the viewer's own, the seek's snapshot goes to it alone).

mod room_support;

use std::time::Duration;

use kurve_server::sim::{Game, GameConfig};
use kurve_server::store::{MatchPlayer, MatchRecord};
use kurve_shared::game::{self, Arena, Phase};
use kurve_shared::phoenix::{ServerFrame, ServerPayload};
use kurve_tests::client::{PhxClient, json_of};
use kurve_tests::{TestServer, spawn_server};
use room_support::arena_diff;
use serde_json::json;

/// Plays a short two-player match in-process and stores it; returns its id.
async fn store_a_match(server: &TestServer, seed: u64) -> i64 {
    store_copies(server, seed, 1).await[0]
}

/// Plays a short two-player match in-process once and stores it `copies` times.
async fn store_copies(server: &TestServer, seed: u64, copies: usize) -> Vec<i64> {
    let cfg = GameConfig {
        points_per_opponent: 1,
        ..GameConfig::default()
    };
    let mut g = Game::new(cfg, seed, 8);
    g.add_player("u1", "Ada").expect("a seat");
    g.add_player("u2", "Bob").expect("a seat");
    let mut step = 0_u64;
    let record = loop {
        if g.phase() == Phase::Waiting {
            g.set_ready("u1", true);
            g.set_ready("u2", true);
        }
        step += 1;
        g.set_input("u1", if step % 90 < 30 { 1 } else { 0 });
        g.set_input("u2", if step % 70 < 20 { -1 } else { 0 });
        if let Some(record) = g.step().record {
            break record;
        }
        assert!(step < 400_000, "the match ends");
    };
    let players: Vec<MatchPlayer> = record.players.iter().map(MatchPlayer::from).collect();
    let mut ids = Vec::new();
    for _ in 0..copies {
        ids.push(record_one(server, &record, players.clone()).await);
    }
    ids
}

async fn record_one(
    server: &TestServer,
    record: &kurve_server::sim::MatchRecord,
    players: Vec<MatchPlayer>,
) -> i64 {
    server
        .app
        .store
        .record_match(MatchRecord {
            room_id: "replayed".into(),
            room_name: "Replayed".into(),
            game: "curve".into(),
            rounds: record.rounds,
            seed: record.seed,
            started_at_ms: 0,
            ended_at_ms: 1_000,
            winner_user_id: record.winner.clone(),
            input_log: record.input_log.clone(),
            players,
        })
        .await
        .expect("the match is stored")
}

/// Reads replay frames into `arena` until `replay_end`; returns its payload.
async fn watch_to_end(viewer: &mut PhxClient, arena: &mut Arena) -> serde_json::Value {
    loop {
        let frame = viewer.recv_within(Duration::from_secs(30)).await;
        match frame.event.as_str() {
            "tick" => arena
                .apply_tick(&decode_tick(&frame))
                .unwrap_or_else(|e| panic!("a replayed tick applies: {e}")),
            "snapshot" => *arena = Arena::from_snapshot(&decode_snapshot(&frame)),
            "replay_end" => return json_of(&frame).clone(),
            _ => {}
        }
    }
}

fn decode_tick(frame: &ServerFrame) -> game::Tick {
    let ServerPayload::Binary(bytes) = &frame.payload else {
        panic!("a binary tick, got {:?}", frame.payload);
    };
    game::decode_tick(bytes).expect("a tick decodes")
}

fn decode_snapshot(frame: &ServerFrame) -> game::Snapshot {
    let ServerPayload::Binary(bytes) = &frame.payload else {
        panic!("a binary snapshot, got {:?}", frame.payload);
    };
    game::decode_snapshot(bytes).expect("a snapshot decodes")
}

#[tokio::test]
async fn a_replay_at_4x_verifies_and_a_seek_rebuilds_the_same_arena() {
    let server = spawn_server().await;
    let id = store_a_match(&server, 2024).await;
    let topic = format!("replay:{id}");
    let mut viewer = PhxClient::connect(&server, "viewer").await;
    let (join_ref, reply) = viewer.join(&topic, &json!({})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let duration = reply["response"]["duration_ticks"]
        .as_u64()
        .expect("duration_ticks");
    assert!(duration > 60, "a match of {duration} ticks");
    assert_eq!(reply["response"]["config"]["tick_hz"], 60);
    let first = viewer
        .expect("the snapshot", |f| f.event == "snapshot")
        .await;
    assert_eq!(first.join_ref.as_deref(), Some(join_ref.as_str()));
    let mut whole = Arena::from_snapshot(&decode_snapshot(&first));
    let start = whole.tick;

    let r = viewer
        .push(Some(&join_ref), &topic, "control", &json!({"speed": 4}))
        .await;
    assert_eq!(viewer.reply_to(&r).await["response"]["speed"], 4.0);
    let end = watch_to_end(&mut viewer, &mut whole).await;
    assert_eq!(end["verified"], true, "{end}");
    assert_eq!(whole.tick, start + duration, "every tick was sent");

    // Seek to the middle: a fresh snapshot, then the rest rebuilds the same arena.
    let r = viewer
        .push(
            Some(&join_ref),
            &topic,
            "control",
            &json!({"seek_tick": duration / 2, "speed": 4}),
        )
        .await;
    let mut seeked = Arena::from_snapshot(&decode_snapshot(
        &viewer
            .expect("the snapshot after the seek", |f| f.event == "snapshot")
            .await,
    ));
    assert_eq!(
        seeked.tick,
        start + duration / 2,
        "the snapshot is at the seek"
    );
    assert_eq!(viewer.reply_to(&r).await["status"], "ok");
    let end = watch_to_end(&mut viewer, &mut seeked).await;
    assert_eq!(end["verified"], true);
    if let Some(diff) = arena_diff(&seeked, &whole) {
        panic!("the seeked pass ends elsewhere: {diff}");
    }

    // Bad controls name the field.
    let r = viewer
        .push(Some(&join_ref), &topic, "control", &json!({"speed": 3}))
        .await;
    let reply = viewer.reply_to(&r).await;
    assert_eq!(reply["response"]["reason"], "bad_payload");
    assert_eq!(reply["response"]["field"], "speed");
    server.stop().await;
}

#[tokio::test]
async fn unknown_and_corrupt_matches_are_refused() {
    let server = spawn_server().await;
    let mut viewer = PhxClient::connect(&server, "viewer").await;
    let (_, reply) = viewer.join("replay:424242", &json!({})).await;
    assert_eq!(reply["response"]["reason"], "not_found", "{reply}");
    let id = server
        .app
        .store
        .record_match(MatchRecord {
            room_id: "broken".into(),
            room_name: "Broken".into(),
            game: "curve".into(),
            rounds: 1,
            seed: 1,
            started_at_ms: 0,
            ended_at_ms: 1,
            winner_user_id: None,
            input_log: vec![0xc1, 0x00, 0xff],
            players: Vec::new(),
        })
        .await
        .expect("stored");
    let (_, reply) = viewer.join(&format!("replay:{id}"), &json!({})).await;
    assert_eq!(reply["response"]["reason"], "corrupt_replay", "{reply}");
    let (_, reply) = viewer.join("replay:01", &json!({})).await;
    assert_eq!(
        reply["response"]["reason"], "unmatched topic",
        "one topic per match"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_users_fourth_replay_is_refused_while_another_users_first_is_accepted() {
    let server = spawn_server().await;
    let ids = store_copies(&server, 7, 3).await;
    let (hog, token) = server.guest_token("hog");
    let mut first = PhxClient::connect_with_token(&server.ws_url(), &token, hog.clone())
        .await
        .expect("the hog connects");
    for id in &ids {
        let (_, reply) = first.join(&format!("replay:{id}"), &json!({})).await;
        assert_eq!(
            reply["status"], "ok",
            "expected replays 1-3 to open: {reply}"
        );
    }
    let mut second = PhxClient::connect_with_token(&server.ws_url(), &token, hog)
        .await
        .expect("the hog's second socket connects");
    let (_, reply) = second.join(&format!("replay:{}", ids[0]), &json!({})).await;
    assert_eq!(
        reply["response"]["reason"], "too_many_replays",
        "expected the user's 4th replay channel, on another socket, to be refused: {reply}"
    );
    let mut other = PhxClient::connect(&server, "other").await;
    let (_, reply) = other.join(&format!("replay:{}", ids[0]), &json!({})).await;
    assert_eq!(
        reply["status"], "ok",
        "expected another user's first to open: {reply}"
    );

    // Leaving gives the slot back.
    drop(first);
    let mut joined = false;
    for _ in 0..50 {
        let (_, reply) = second.join(&format!("replay:{}", ids[1]), &json!({})).await;
        if reply["status"] == "ok" {
            joined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(joined, "expected the slots of a closed socket to come back");
    server.stop().await;
}

#[tokio::test]
async fn a_viewers_pause_and_seek_leave_another_viewers_playback_alone() {
    let server = spawn_server().await;
    let id = store_a_match(&server, 11).await;
    let topic = format!("replay:{id}");
    let mut a = PhxClient::connect(&server, "a").await;
    let mut b = PhxClient::connect(&server, "b").await;
    let (a_ref, reply) = a.join(&topic, &json!({})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(reply["response"]["playback"], "per_viewer");
    let duration = reply["response"]["duration_ticks"]
        .as_u64()
        .expect("duration");
    let start = reply["response"]["start_tick"]
        .as_u64()
        .expect("start_tick");
    let (_, reply) = b.join(&topic, &json!({})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    b.expect("b's snapshot", |f| f.event == "snapshot").await;

    let r = a
        .push(Some(&a_ref), &topic, "control", &json!({"speed": 0}))
        .await;
    assert_eq!(a.reply_to(&r).await["response"]["speed"], 0.0);
    let r = a
        .push(
            Some(&a_ref),
            &topic,
            "control",
            &json!({"seek_tick": duration / 2}),
        )
        .await;
    assert_eq!(a.reply_to(&r).await["status"], "ok");
    let seeked = a
        .skip_until(
            Duration::from_secs(10),
            "a's snapshot after its seek",
            |f| f.event == "snapshot" && decode_snapshot(f).tick == start + duration / 2,
        )
        .await;
    let a_at = decode_snapshot(&seeked).tick;
    a.drain();

    // B's frames keep flowing, one tick after another, with no snapshot of A's seek.
    let mut last = None;
    let mut ticks = 0;
    while ticks < 30 {
        let frame = b.recv_within(Duration::from_secs(10)).await;
        assert_ne!(
            frame.event, "snapshot",
            "expected A's seek snapshot to go to A alone"
        );
        if frame.event == "tick" {
            let tick = decode_tick(&frame).tick;
            if let Some(last) = last {
                assert_eq!(
                    tick,
                    last + 1,
                    "expected B's playback to run on undisturbed"
                );
            }
            assert!(tick < a_at, "expected B to be at its own position, not A's");
            last = Some(tick);
            ticks += 1;
        }
    }

    // A's own playback stays paused: no tick of it arrives while B's do.
    for frame in a.drain() {
        assert_ne!(
            frame.event, "tick",
            "expected A's paused playback to send nothing"
        );
    }

    // Controls are rate-limited per viewer.
    let mut limited = 0;
    for _ in 0..12 {
        let r = a
            .push(Some(&a_ref), &topic, "control", &json!({"speed": 0}))
            .await;
        if a.reply_to(&r).await["response"]["reason"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!(
        limited > 0,
        "expected a burst of 12 controls to be rate-limited"
    );
    server.stop().await;
}
