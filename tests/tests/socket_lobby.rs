//! The socket and the lobby through real WebSockets against a server on port 0.

use std::time::Duration;

use kurve_server::supervisor::{ExitReason, SupervisorEvent};
use kurve_shared::phoenix;
use kurve_tests::client::{Closed, PhxClient, WAIT, json_of};
use kurve_tests::spawn_server;
use serde_json::json;
use tokio_tungstenite::tungstenite;

#[tokio::test]
async fn an_upgrade_without_a_valid_token_is_refused_with_403() {
    let server = spawn_server().await;
    for query in ["vsn=2.0.0", "vsn=2.0.0&token=forged", "vsn=9.0.0&token=x"] {
        let url = format!("{}/socket/websocket?{query}", server.ws_url());
        match tokio_tungstenite::connect_async(url).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{query} should be refused with 403")
            }
            other => panic!("{query}: expected an HTTP 403, got {other:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn heartbeats_are_answered_with_a_null_join_ref() {
    let server = spawn_server().await;
    let mut client = PhxClient::connect(&server, "guest").await;
    let msg_ref = client.push(None, "phoenix", "heartbeat", &json!({})).await;
    let reply = client
        .skip_until(WAIT, "phx_reply", |f| f.event == "phx_reply")
        .await;
    assert_eq!(
        reply.msg_ref.as_deref(),
        Some(msg_ref.as_str()),
        "ref echoed"
    );
    assert_eq!(reply.join_ref, None, "heartbeat replies carry no join_ref");
    assert_eq!(json_of(&reply), &json!({"status": "ok", "response": {}}));
    server.stop().await;
}

#[tokio::test]
async fn lobby_join_sends_rooms_then_presence_state_then_diffs() {
    let server = spawn_server().await;
    let mut a = PhxClient::connect(&server, "alice").await;
    let (join_ref, reply) = a.join("lobby:main", &json!({})).await;
    assert_eq!(reply, json!({"status": "ok", "response": {"rooms": []}}));
    let state = a.recv().await;
    assert_eq!(
        state.event, "presence_state",
        "the state follows the join reply"
    );
    assert_eq!(
        state.join_ref.as_deref(),
        Some(join_ref.as_str()),
        "state is a push with J"
    );
    let metas = &json_of(&state)[&a.user.id]["metas"];
    assert_eq!(metas[0]["name"], "alice");
    assert_eq!(metas[0]["status"], "lobby");
    assert!(metas[0]["phx_ref"].is_string(), "every meta has a phx_ref");

    let mut b = PhxClient::connect(&server, "bob").await;
    let bob_id = b.user.id.clone();
    b.join("lobby:main", &json!({})).await;
    let diff = a
        .skip_until(WAIT, "presence_diff", |f| {
            f.event == "presence_diff" && json_of(f)["joins"].get(&bob_id).is_some()
        })
        .await;
    assert_eq!(diff.join_ref, None, "diffs are broadcasts: null join_ref");
    assert_eq!(json_of(&diff)["joins"][&bob_id]["metas"][0]["name"], "bob");

    drop(b);
    let diff = a
        .skip_until(WAIT, "presence_diff", |f| {
            f.event == "presence_diff" && json_of(f)["leaves"].get(&bob_id).is_some()
        })
        .await;
    assert_eq!(
        json_of(&diff)["leaves"][&bob_id]["metas"][0]["name"],
        "bob",
        "a dropped socket leaves"
    );
    server.stop().await;
}

#[tokio::test]
async fn leave_replies_ok_then_closes_with_the_join_ref() {
    let server = spawn_server().await;
    let mut c = PhxClient::connect(&server, "guest").await;
    let (join_ref, _) = c.join("lobby:main", &json!({})).await;
    let leave_ref = c
        .push(Some(&join_ref), "lobby:main", "phx_leave", &json!({}))
        .await;
    let reply = c.reply_to(&leave_ref).await;
    assert_eq!(reply["status"], "ok");
    let close = c
        .skip_until(WAIT, "phx_close", |f| f.event == "phx_close")
        .await;
    assert_eq!(close.join_ref.as_deref(), Some(join_ref.as_str()));
    assert_eq!(
        close.msg_ref.as_deref(),
        Some(join_ref.as_str()),
        "phx_close ref = join_ref"
    );
    // The channel is gone: a push to it is an unmatched topic.
    let r = c
        .push(Some(&join_ref), "lobby:main", "chat", &json!({"body": "x"}))
        .await;
    let reply = c.reply_to(&r).await;
    assert_eq!(reply["response"]["reason"], "unmatched topic");
    server.stop().await;
}

#[tokio::test]
async fn a_frame_over_64_kib_closes_the_socket_with_1009() {
    let server = spawn_server().await;
    let mut c = PhxClient::connect(&server, "guest").await;
    let body = "x".repeat(100 * 1024);
    let _ = c
        .push(None, "lobby:main", "chat", &json!({ "body": body }))
        .await;
    assert_eq!(
        c.closed(Duration::from_secs(5)).await,
        Closed::Code(1009),
        "an oversized frame closes with 1009"
    );
    server.stop().await;
}

#[tokio::test]
async fn undecodable_frames_close_only_their_own_socket() {
    let server = spawn_server().await;
    let mut good = PhxClient::connect(&server, "good").await;
    let (good_ref, _) = good.join("lobby:main", &json!({})).await;

    // Readable ref and topic but a wrong type: an error reply, the socket stays.
    let mut bad = PhxClient::connect(&server, "bad").await;
    bad.send_text(r#"[null,"7","phoenix",5,{}]"#).await;
    let reply = bad.reply_to("7").await;
    assert_eq!(
        reply["status"], "error",
        "a salvageable frame gets an error reply"
    );

    // Not JSON at all: the socket is closed with 1007.
    bad.send_text("{not json").await;
    assert_eq!(bad.closed(Duration::from_secs(5)).await, Closed::Code(1007));

    let chat = good
        .push(
            Some(&good_ref),
            "lobby:main",
            "chat",
            &json!({"body": "still here"}),
        )
        .await;
    assert_eq!(
        good.reply_to(&chat).await["status"],
        "ok",
        "others are untouched"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let server = spawn_server().await;
    // A bare socket, not the test client: that one reads everything in the background.
    let (_, token) = server.guest_token("stalled");
    let url = format!(
        "{}/socket/websocket?vsn=2.0.0&token={token}",
        server.ws_url()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // Heartbeats that are never read: their replies pile up in the kernel buffers, then
    // in the bounded queue, and the server gives up on the socket.
    let frame = phoenix::encode_client_text(None, Some("1"), "phoenix", "heartbeat", "{}");
    let flood = async {
        use futures_util::{SinkExt, StreamExt};
        for _ in 0..400_000 {
            if ws
                .feed(tungstenite::Message::Text(frame.clone().into()))
                .await
                .is_err()
            {
                return true;
            }
        }
        if ws.flush().await.is_err() {
            return true;
        }
        // Now read: the piled-up replies, then the end of the connection.
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                return true;
            }
        }
        true
    };
    // Bounded: the server gives up once the unread replies pass its memory bound, or
    // after 15 s without progress.
    let disconnected = tokio::time::timeout(Duration::from_secs(60), flood)
        .await
        .unwrap_or(false);
    assert!(
        disconnected,
        "the server should drop a client that does not read"
    );
    let text = server.app.metrics.render();
    let slow: f64 = text
        .lines()
        .filter(|l| l.starts_with("kurve_slow_clients_disconnected_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(slow >= 1.0, "the disconnect is counted, metrics say {slow}");
    server.stop().await;
}

#[tokio::test]
async fn a_crashed_lobby_errors_its_members_and_no_other_lobby() {
    let server = spawn_server().await;
    let mut main = PhxClient::connect(&server, "one").await;
    let (main_ref, _) = main.join("lobby:main", &json!({})).await;
    let mut other = PhxClient::connect(&server, "two").await;
    let (other_ref, _) = other.join("lobby:other", &json!({})).await;

    main.push(Some(&main_ref), "lobby:main", "debug_crash", &json!({}))
        .await;
    let error = main
        .skip_until(WAIT, "phx_error", |f| f.event == "phx_error")
        .await;
    assert_eq!(
        error.join_ref.as_deref(),
        Some(main_ref.as_str()),
        "phx_error carries J"
    );
    assert_eq!(json_of(&error)["reason"], "channel_crash");

    // The restarted lobby accepts the rejoin, with a fresh presence_state.
    let (_, reply) = main.join("lobby:main", &json!({})).await;
    assert_eq!(
        reply["status"], "ok",
        "the restarted lobby takes the rejoin"
    );
    main.skip_until(WAIT, "presence_state", |f| f.event == "presence_state")
        .await;

    let r = other
        .push(
            Some(&other_ref),
            "lobby:other",
            "chat",
            &json!({"body": "unaffected"}),
        )
        .await;
    let reply = other
        .skip_until(WAIT, "phx_error", |f| {
            f.event == "phx_error" || f.msg_ref.as_deref() == Some(r.as_str())
        })
        .await;
    assert_eq!(reply.event, "phx_reply", "the other lobby never errored");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_says_goodbye_and_closes_with_1012() {
    let server = spawn_server().await;
    let mut c = PhxClient::connect(&server, "guest").await;
    let (join_ref, _) = c.join("lobby:main", &json!({})).await;
    c.skip_until(WAIT, "presence_state", |f| f.event == "presence_state")
        .await;
    server.shutdown.cancel();
    let bye = c
        .skip_until(WAIT, "server_shutdown", |f| f.event == "server_shutdown")
        .await;
    assert_eq!(bye.join_ref.as_deref(), Some(join_ref.as_str()));
    assert_eq!(c.closed(Duration::from_secs(5)).await, Closed::Code(1012));
    server.stop().await;
}

/// Joins `topic`, retrying while the server answers with an error (a lobby between a
/// crash and its restart); returns the join_ref and the ok reply.
async fn join_when_ready(c: &mut PhxClient, topic: &str) -> (String, serde_json::Value) {
    for _ in 0..50 {
        let (join_ref, reply) = c.join(topic, &json!({})).await;
        if reply["status"] == "ok" {
            return (join_ref, reply);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{topic} did not accept a join within 5 s");
}

#[tokio::test]
async fn a_lobby_that_keeps_crashing_is_given_up_then_started_fresh() {
    let server = spawn_server().await;
    let mut c = PhxClient::connect(&server, "guest").await;
    let mut events = server.app.supervisor.subscribe();
    // Four crashes inside the supervisor's window (3 restarts in 5 s) exhaust it.
    for _ in 1..=4 {
        let (join_ref, _) = join_when_ready(&mut c, "lobby:flaky").await;
        c.push(Some(&join_ref), "lobby:flaky", "debug_crash", &json!({}))
            .await;
        let error = c
            .skip_until(WAIT, "phx_error", |f| f.event == "phx_error")
            .await;
        assert_eq!(error.join_ref.as_deref(), Some(join_ref.as_str()));
    }
    let gave_up = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await {
                Ok(SupervisorEvent::Exited { id, reason }) if id == "lobby:flaky" => {
                    return reason;
                }
                Ok(_) => continue,
                Err(error) => panic!("supervisor events ended: {error}"),
            }
        }
    })
    .await
    .expect("the supervisor reports the lobby's end");
    assert!(
        matches!(gave_up, ExitReason::GaveUp { restarts: 3 }),
        "given up after 3 restarts, got {gave_up:?}"
    );
    // The next join starts a new lobby, holding only this user.
    join_when_ready(&mut c, "lobby:flaky").await;
    let state = c
        .skip_until(WAIT, "presence_state", |f| f.event == "presence_state")
        .await;
    assert_eq!(
        json_of(&state).as_object().map(|o| o.len()),
        Some(1),
        "only this user is present"
    );
    server.stop().await;
}
