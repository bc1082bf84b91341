//! A client that stops reading is closed within a bounded backlog — the kernel's
//! included — while its room-mates' ticks stay consecutive.

mod room_support;

use std::time::Duration;

use futures_util::SinkExt;
use kurve_tests::client::{PhxClient, brief, json_of};
use kurve_tests::spawn_server;
use room_support::{create_room, ticks_of};
use serde_json::json;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

/// Receive buffer of the client that stops reading: the kernel on its side holds
/// little, so what piles up is the server's to bound.
const STALLED_RCVBUF: u32 = 8 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spectator_that_stops_reading_is_dropped_and_players_do_not_notice() {
    let server = spawn_server().await;
    let id = create_room(&server, "stall", 4);
    let mut p1 = PhxClient::connect(&server, "p1").await;
    let mut p2 = PhxClient::connect(&server, "p2").await;
    let (j1, _) = p1.join_room(&id, json!({"as": "player"})).await;
    let (j2, _) = p2.join_room(&id, json!({"as": "player"})).await;

    // The stalled client: a small receive buffer, joins as a spectator, never reads.
    let (stalled_user, token) = server.guest_token("stalled");
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(STALLED_RCVBUF).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let url = format!(
        "{}/socket/websocket?vsn=2.0.0&token={token}",
        server.ws_url()
    );
    let (mut stalled, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("the stalled client connects");
    let join = json!(["1", "1", format!("room:{id}"), "phx_join", {"as": "spectator"}]);
    stalled
        .send(Message::text(join.to_string()))
        .await
        .expect("the join is sent");
    p1.expect("the stalled spectator in presence", |f| {
        f.event == "presence_diff" && json_of(f)["joins"].get(&stalled_user.id).is_some()
    })
    .await;

    p1.ready(&j1).await;
    p2.ready(&j2).await;
    // p1 reads on, and must see the stalled spectator leave while its own ticks stay
    // consecutive; p2 just has to keep getting ticks.
    let mut last: Option<u64> = None;
    let mut ticks_seen = 0u32;
    let left = loop {
        let frame = p1
            .try_recv_within(Duration::from_secs(60))
            .await
            .expect("the stalled client is dropped within a minute");
        assert_ne!(frame.event, "phx_error", "{}", brief(&frame));
        if let Some(ticks) = ticks_of(&frame) {
            for tick in ticks {
                if let Some(last) = last {
                    assert_eq!(tick.tick, last + 1, "p1's ticks stay consecutive");
                }
                last = Some(tick.tick);
                ticks_seen += 1;
            }
        } else if frame.event == "presence_diff"
            && json_of(&frame)["leaves"].get(&stalled_user.id).is_some()
        {
            break ticks_seen;
        }
    };
    // For docs/PERF.md: how far behind the stalled client was let fall (not asserted).
    eprintln!("stalled spectator dropped after {left} ticks the players received");
    assert!(
        left > 0,
        "the room was ticking while the stalled client fell behind"
    );
    let metrics = server.app.metrics.render();
    let dropped = metrics
        .lines()
        .find(|l| l.starts_with("kurve_slow_clients_disconnected_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(dropped >= 1.0, "the drop is counted: {dropped}");
    // p2 was not disturbed either.
    let frame = p2
        .expect("p2 still gets ticks", |f| ticks_of(f).is_some())
        .await;
    assert!(ticks_of(&frame).is_some());
    drop(stalled);
    server.stop().await;
}
