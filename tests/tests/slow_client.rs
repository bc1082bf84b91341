//! A member that falls behind is caught up, not thrown out (CONTRACT §10): one that
//! stops reading for a few seconds gets a fresh snapshot and the ticks after it; one
//! that never reads again is closed after the no-progress bound. Its room-mates see
//! neither.

mod room_support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kurve_shared::game;
use kurve_shared::phoenix::{self, ServerFrame, ServerPayload};
use kurve_tests::TestServer;
use kurve_tests::client::{PhxClient, RawSocket, brief, connect_unread, json_of};
use kurve_tests::spawn_server;
use room_support::{create_room, ticks_of};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Receive buffer of a client that stops reading: the kernel on its side holds
/// little, so what piles up is the server's to bound.
const STALLED_RCVBUF: u32 = 4 * 1024;

/// How long the member that comes back stops reading, at least.
const STALL: Duration = Duration::from_secs(3);

type Ws = RawSocket;

/// A raw socket with a small receive buffer, joined to `room:<id>` as a spectator.
/// Nothing reads it until the test does.
async fn stalled_spectator(server: &TestServer, id: &str, name: &str) -> (String, Ws) {
    let (user, token) = server.guest_token(name);
    let mut ws = connect_unread(server, &token, STALLED_RCVBUF).await;
    let join = json!(["1", "1", format!("room:{id}"), "phx_join", {"as": "spectator"}]);
    ws.send(Message::text(join.to_string()))
        .await
        .expect("the join is sent");
    (user.id, ws)
}

/// The next Phoenix frame from a raw socket; None when it ended.
async fn next_frame(ws: &mut Ws) -> Option<ServerFrame> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame within 20 s")?
            .ok()?;
        return Some(match message {
            Message::Text(text) => phoenix::decode_server_text(&text).expect("a text frame"),
            Message::Binary(data) => phoenix::decode_server_binary(&data).expect("a binary frame"),
            Message::Close(_) => return None,
            _ => continue,
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_that_falls_behind_is_resynced_and_one_that_never_reads_is_closed() {
    let server = spawn_server().await;
    let id = create_room(&server, "stall", 4);
    let topic = format!("room:{id}");
    let mut p1 = PhxClient::connect(&server, "p1").await;
    let mut p2 = PhxClient::connect(&server, "p2").await;
    let (j1, _) = p1.join_room(&id, json!({"as": "player"})).await;
    let (j2, _) = p2.join_room(&id, json!({"as": "player"})).await;
    let (_, mut comes_back) = stalled_spectator(&server, &id, "back").await;
    let (never_id, never_reads) = stalled_spectator(&server, &id, "never").await;
    p1.expect("the stalled spectators in presence", |f| {
        f.event == "presence_diff" && json_of(f)["joins"].get(&never_id).is_some()
    })
    .await;
    let skipped_before = server.metric("kurve_frames_skipped_total");
    p1.ready(&j1).await;
    p2.ready(&j2).await;

    // Neither spectator reads: at least STALL, and until the server is skipping ticks
    // for them (both are equally far behind), plus the backlog bound again so that
    // both have passed it.
    let stalled_at = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stalled_at.elapsed() >= STALL
            && server.metric("kurve_frames_skipped_total") > skipped_before
        {
            break;
        }
        assert!(
            stalled_at.elapsed() < Duration::from_secs(12),
            "the server never gave up ticks for the stalled members"
        );
    }
    tokio::time::sleep(kurve_server::config::RESYNC_BACKLOG).await;

    // The member comes back: what was queued, then a fresh snapshot, then every tick
    // after it, one by one.
    let mut snapshots = 0;
    let mut resynced_at: Option<u64> = None;
    let mut after = 0;
    while after < 60 {
        let frame = next_frame(&mut comes_back)
            .await
            .expect("the member that came back is not closed");
        assert_ne!(frame.event, "phx_error", "{}", brief(&frame));
        if frame.topic != topic {
            continue;
        }
        if frame.event == "snapshot" {
            snapshots += 1;
            let ServerPayload::Binary(bytes) = &frame.payload else {
                panic!("a binary snapshot, got {}", brief(&frame));
            };
            let snapshot = game::decode_snapshot(bytes).expect("the snapshot decodes");
            if snapshots == 2 {
                resynced_at = Some(snapshot.tick);
            }
            continue;
        }
        let (Some(ticks), Some(last)) = (ticks_of(&frame), resynced_at.as_mut()) else {
            continue;
        };
        for tick in ticks {
            assert_eq!(
                tick.tick,
                *last + 1,
                "after the resync snapshot, ticks are consecutive"
            );
            *last = tick.tick;
            after += 1;
        }
    }
    assert_eq!(snapshots, 2, "the join's snapshot and the resync's");
    assert!(server.metric("kurve_resyncs_total") >= 1.0);

    // The one that never reads is closed after the no-progress bound, while the
    // players' ticks stay consecutive and nobody gets an error.
    let mut last: Option<u64> = None;
    loop {
        let frame = p1
            .try_recv_within(Duration::from_secs(60))
            .await
            .expect("the member that never reads is closed within a minute");
        assert_ne!(frame.event, "phx_error", "{}", brief(&frame));
        if let Some(ticks) = ticks_of(&frame) {
            for tick in ticks {
                if let Some(last) = last {
                    assert_eq!(tick.tick, last + 1, "p1's ticks stay consecutive");
                }
                last = Some(tick.tick);
            }
        } else if frame.event == "presence_diff"
            && json_of(&frame)["leaves"].get(&never_id).is_some()
        {
            break;
        }
    }
    assert!(
        server.metric("kurve_slow_clients_disconnected_total{reason=\"no_progress\"}") >= 1.0,
        "the close is counted, as no progress (not as memory)"
    );
    // p2 read nothing during the test: everything it was sent is waiting, in order,
    // and its ticks run one by one from its first to its last, with no error.
    let mut seen: Vec<u64> = Vec::new();
    for frame in p2.drain() {
        assert_ne!(frame.event, "phx_error", "{}", brief(&frame));
        seen.extend(ticks_of(&frame).into_iter().flatten().map(|t| t.tick));
    }
    assert!(seen.len() > 60, "p2 got the round's ticks: {}", seen.len());
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "p2's ticks are consecutive"
    );
    drop(never_reads);
    server.stop().await;
}
