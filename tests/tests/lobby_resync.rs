//! A lobby member that falls behind gets the present instead of the diffs it missed:
//! a fresh room list and a `presence_state` equal to the live one (CONTRACT §10).

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kurve_shared::phoenix::{self, ServerFrame, ServerPayload};
use kurve_tests::client::{PhxClient, RawSocket, connect_unread};
use kurve_tests::spawn_server;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOPIC: &str = "lobby:lagging";

/// Heartbeats the stalled member sends and does not read the replies of: enough to
/// fill both kernels' buffers, so that what follows waits in the server's queue.
const HEARTBEATS: usize = 1000;

type Ws = RawSocket;

async fn next_frame(ws: &mut Ws) -> ServerFrame {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame within 20 s")
            .expect("the socket stays open")
            .expect("the socket stays open");
        match message {
            Message::Text(text) => return phoenix::decode_server_text(&text).unwrap(),
            Message::Binary(data) => return phoenix::decode_server_binary(&data).unwrap(),
            Message::Close(frame) => panic!("the lagging member was closed: {frame:?}"),
            _ => continue,
        }
    }
}

fn json(frame: &ServerFrame) -> &Value {
    match &frame.payload {
        ServerPayload::Json(value) => value,
        other => panic!("a JSON payload, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lobby_member_that_falls_behind_gets_the_live_presence_and_rooms() {
    let server = spawn_server().await;
    let (stalled_user, token) = server.guest_token("stalled");
    let mut ws = connect_unread(&server, &token, 4 * 1024).await;
    let join = json!(["1", "1", TOPIC, "phx_join", {}]);
    ws.send(Message::text(join.to_string())).await.unwrap();
    for i in 0..HEARTBEATS {
        let beat = phoenix::encode_client_text(
            None,
            Some(&format!("hb{i}")),
            "phoenix",
            "heartbeat",
            "{}",
        );
        ws.feed(Message::text(beat)).await.unwrap();
    }
    ws.flush().await.unwrap();

    // Others come and go while it does not read; two stay, and one makes a room.
    let skipped_before = server.metric("kurve_frames_skipped_total");
    let started = tokio::time::Instant::now();
    let mut stayers = Vec::new();
    for name in ["stays-1", "stays-2"] {
        let mut c = PhxClient::connect(&server, name).await;
        let (join_ref, _) = c.join(TOPIC, &json!({})).await;
        stayers.push((c, join_ref));
    }
    let (maker, maker_ref) = &mut stayers[0];
    let r = maker
        .push(
            Some(maker_ref),
            TOPIC,
            "create_room",
            &json!({"name": "while you were away"}),
        )
        .await;
    let reply = maker.reply_to(&r).await;
    let room_id = reply["response"]["room_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a room id, got {reply}"))
        .to_owned();
    let mut round = 0;
    while server.metric("kurve_frames_skipped_total") <= skipped_before
        || started.elapsed() < Duration::from_secs(2)
    {
        let mut passer = PhxClient::connect(&server, &format!("passes-{round}")).await;
        passer.join(TOPIC, &json!({})).await;
        drop(passer);
        round += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "the server never gave up diffs for the stalled member"
        );
    }
    // Let the last leaves settle before the stalled member reads again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let live: BTreeSet<String> = [
        stalled_user.id.clone(),
        stayers[0].0.user.id.clone(),
        stayers[1].0.user.id.clone(),
    ]
    .into();

    // It reads again: its heartbeat replies, then the present.
    let mut states = 0;
    let mut rooms = None;
    let mut replies = 0;
    // (The server reads the rest of the heartbeats only as it writes again, so their
    // replies may come on either side of the resync.)
    let mut state = None;
    while replies < HEARTBEATS || state.is_none() {
        let frame = next_frame(&mut ws).await;
        if frame.topic == "phoenix" {
            replies += 1;
            continue;
        }
        match frame.event.as_str() {
            "rooms" => rooms = Some(json(&frame)["rooms"].clone()),
            "presence_state" => {
                states += 1;
                if states == 2 {
                    state = Some(json(&frame).clone());
                }
            }
            _ => {}
        }
    }
    let state = state.expect("a second presence_state");
    assert_eq!(replies, HEARTBEATS, "no heartbeat reply was lost");
    let keys: BTreeSet<String> = state.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, live, "the fresh presence_state is the live one");
    let rooms = rooms.expect("a fresh room list came before the presence state");
    let ids: Vec<&str> = rooms
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, [room_id.as_str()], "the fresh room list: {rooms}");
    assert!(server.metric("kurve_resyncs_total") >= 1.0);
    server.stop().await;
}
