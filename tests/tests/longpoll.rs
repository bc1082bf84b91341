//! The long-poll session state machine over real HTTP: buffering between polls, 204 on an
//! empty window, 410 for a session that is gone, the 100-frame post limit, a session that
//! stops polling while traffic flows, and one that polls late in a busy room (resynced).

mod room_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use kurve_tests::client::{PhxClient, WAIT, json_of};
use kurve_tests::{TestServer, spawn_server};
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// One request to `/socket/longpoll?{query}`; the answer's JSON body (always HTTP 200).
async fn longpoll(addr: SocketAddr, method: &str, query: &str, body: &str) -> Value {
    let stream = TcpStream::connect(addr).await.expect("a TCP connection");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("an HTTP handshake");
    tokio::spawn(conn);
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("/socket/longpoll?{query}"))
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/x-ndjson")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("a valid request");
    let response = tokio::time::timeout(Duration::from_secs(15), send.send_request(request))
        .await
        .expect("an answer within 15 s")
        .expect("an HTTP answer");
    assert_eq!(response.status(), 200, "every long-poll answer is HTTP 200");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("a JSON body")
}

/// Opens a session for a new guest; returns the query naming it and the guest's id.
async fn open(server: &TestServer, name: &str) -> (String, String) {
    let (user, token) = server.guest_token(name);
    let base = format!("vsn=2.0.0&token={token}");
    let answer = longpoll(server.addr, "GET", &base, "").await;
    assert_eq!(answer["status"], 410, "a new session: {answer}");
    let session = answer["token"].as_str().expect("a session token");
    (format!("{base}&token={session}"), user.id)
}

/// The text frames of a 200 answer, decoded.
fn frames(answer: &Value) -> Vec<Value> {
    assert_eq!(answer["status"], 200, "messages: {answer}");
    answer["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| serde_json::from_str(m.as_str().expect("a string message")).expect("a frame"))
        .collect()
}

fn join_lobby(topic: &str) -> String {
    json!(["1", "1", topic, "phx_join", {}]).to_string()
}

#[tokio::test]
async fn messages_wait_between_polls_and_come_in_order() {
    let server = spawn_server().await;
    let (query, _) = open(&server, "poller").await;
    let posted = longpoll(server.addr, "POST", &query, &join_lobby("lobby:lp_order")).await;
    assert_eq!(posted, json!({"status": 200}));
    let mut talker = PhxClient::connect(&server, "talker").await;
    let (join_ref, _) = talker.join("lobby:lp_order", &json!({})).await;
    for i in 0..3 {
        let r = talker
            .push(
                Some(&join_ref),
                "lobby:lp_order",
                "chat",
                &json!({ "body": format!("line {i}") }),
            )
            .await;
        assert_eq!(talker.reply_to(&r).await["status"], "ok");
    }
    // Everything since the join, in one answer: the join reply, presence, three chats.
    let mut got = Vec::new();
    while got.iter().filter(|f: &&Value| f[3] == "chat").count() < 3 {
        got.extend(frames(&longpoll(server.addr, "GET", &query, "").await));
    }
    assert_eq!(
        got[0][3], "phx_reply",
        "the join reply comes first: {got:?}"
    );
    let chats: Vec<&Value> = got
        .iter()
        .filter(|f| f[3] == "chat")
        .map(|f| &f[4]["body"])
        .collect();
    assert_eq!(chats, ["line 0", "line 1", "line 2"], "in order");
    server.stop().await;
}

#[tokio::test]
async fn an_empty_window_is_204_and_a_post_over_100_frames_is_refused_whole() {
    let server = spawn_server().await;
    let (query, _) = open(&server, "quiet").await;
    let started = Instant::now();
    let answer = longpoll(server.addr, "GET", &query, "").await;
    assert_eq!(answer["status"], 204, "{answer}");
    assert!(
        answer["token"].is_string(),
        "the token comes back: {answer}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "held for the window"
    );

    let heartbeat = json!([null, "7", "phoenix", "heartbeat", {}]).to_string();
    let too_many = vec![heartbeat.as_str(); 101].join("\n");
    let answer = longpoll(server.addr, "POST", &query, &too_many).await;
    assert_eq!(answer["status"], 400, "{answer}");
    // Refused whole: no heartbeat of it was answered.
    let one = longpoll(server.addr, "POST", &query, &heartbeat).await;
    assert_eq!(one["status"], 200);
    let replies = frames(&longpoll(server.addr, "GET", &query, "").await);
    assert_eq!(
        replies.len(),
        1,
        "only the last heartbeat's reply: {replies:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_session_that_stops_polling_while_traffic_flows_is_dropped_then_gone() {
    let server = spawn_server().await;
    let (query, id) = open(&server, "stalled").await;
    let posted = longpoll(server.addr, "POST", &query, &join_lobby("lobby:lp_bound")).await;
    assert_eq!(posted["status"], 200);
    let mut talker = PhxClient::connect(&server, "busy").await;
    let (join_ref, _) = talker.join("lobby:lp_bound", &json!({})).await;
    talker
        .skip_until(WAIT, "the stalled member in presence", |f| {
            f.event == "presence_state" && json_of(f).get(&id).is_some()
        })
        .await;
    // Chats keep coming while the session never polls. Falling behind alone no longer
    // drops it (a slow poller is resynced, CONTRACT §10), but a session with no poll
    // for 15 s is gone, traffic or not, and its presence leaves.
    let leave = async {
        let mut i = 0;
        loop {
            let r = talker
                .push(
                    Some(&join_ref),
                    "lobby:lp_bound",
                    "chat",
                    &json!({ "body": format!("{i}") }),
                )
                .await;
            i += 1;
            talker.reply_to(&r).await;
            if talker
                .drain()
                .iter()
                .any(|f| f.event == "presence_diff" && json_of(f)["leaves"].get(&id).is_some())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(40), leave)
        .await
        .expect("the stalled session is dropped after the idle bound");
    let answer = longpoll(server.addr, "GET", &query, "").await;
    assert_eq!(answer["status"], 410, "the session is gone: {answer}");
    let old = query.rsplit("token=").next().expect("the session token");
    let fresh = answer["token"]
        .as_str()
        .expect("a new session, as Phoenix answers");
    assert_ne!(fresh, old, "a new session, not the old one");
    let answer = longpoll(server.addr, "POST", &query, &join_lobby("lobby:x")).await;
    assert_eq!(answer["status"], 410, "posts too: {answer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_that_polls_late_in_a_busy_room_is_resynced_not_dropped() {
    let server = spawn_server().await;
    let id = room_support::create_room(&server, "late", 4);
    let topic = format!("room:{id}");
    let mut p1 = PhxClient::connect(&server, "p1").await;
    let mut p2 = PhxClient::connect(&server, "p2").await;
    let (j1, _) = p1.join_room(&id, json!({"as": "player"})).await;
    let (j2, _) = p2.join_room(&id, json!({"as": "player"})).await;
    let (query, _) = open(&server, "late").await;
    let join = json!(["1", "1", topic, "phx_join", {"as": "spectator"}]).to_string();
    assert_eq!(
        longpoll(server.addr, "POST", &query, &join).await["status"],
        200
    );
    let event = |f: &Value| f[3].as_str().unwrap_or_default().to_owned();
    let mut joined = Vec::new();
    while !joined.iter().any(|f: &Value| event(f) == "snapshot") {
        joined.extend(frames(&longpoll(server.addr, "GET", &query, "").await));
    }
    p1.ready(&j1).await;
    p2.ready(&j2).await;

    // No poll for well past the backlog bound while the round ticks.
    tokio::time::sleep(kurve_server::config::RESYNC_BACKLOG * 3).await;

    // The polls that follow: what was queued, then a fresh snapshot, then every tick
    // after it.
    let mut resynced_at: Option<u64> = None;
    let mut after = 0;
    while after < 30 {
        let answer = longpoll(server.addr, "GET", &query, "").await;
        if answer["status"] == 204 {
            continue;
        }
        for frame in frames(&answer) {
            assert_ne!(event(&frame), "phx_error", "{frame}");
            if frame[2] != topic.as_str() {
                continue;
            }
            match event(&frame).as_str() {
                "snapshot" => resynced_at = frame[4]["tick"].as_u64(),
                "tick" => {
                    if let Some(last) = resynced_at.as_mut() {
                        let tick = frame[4]["tick"].as_u64().expect("a tick number");
                        assert_eq!(tick, *last + 1, "ticks follow the resync snapshot");
                        *last = tick;
                        after += 1;
                    }
                }
                _ => {}
            }
        }
    }
    assert!(server.metric("kurve_resyncs_total") >= 1.0);
    assert_eq!(
        server.metric("kurve_slow_clients_disconnected_total"),
        0.0,
        "nobody was dropped"
    );
    server.stop().await;
}
