//! Two nodes on a real nats-server (CONTRACT §9, first part): each lists both in
//! `/api/cluster`, rooms carry their node, the per-node figures are exported, and
//! `/healthz` is 503 while NATS is away and ok again once it is back. A locked cluster
//! (NATS with a password, every message sealed with the shared secret) believes
//! nothing a publisher without the secret sends, and a node with the wrong NATS
//! password never gets in.
//! nats-server and PostgreSQL come from Debian's packages (`scripts/test.sh` installs
//! them); a cluster on SQLite refuses to start.

mod room_support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use kurve_server::cluster::directory::DirectoryEntry;
use kurve_server::config::{ClusterSecurityConfig, Config};
use kurve_shared::lobby::{RoomPhase, RoomSummary};
use kurve_tests::client::PhxClient;
use kurve_tests::services::{Nats, Postgres, free_port};
use kurve_tests::spawn_server_with;
use room_support::http_get_json;

/// The secret the nodes of these tests share (`KURVE_SECRET`).
const SECRET: &str = "cluster-test-secret-0123456789abcdef";

/// Polls `check` every 100 ms until it holds, or fails after `within`.
async fn eventually(within: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {what} within {within:?}");
}

#[tokio::test]
async fn two_nodes_see_each_other_and_health_follows_nats() {
    let port = free_port();
    let mut nats = Nats::start(port);
    let postgres = Postgres::start();
    let node = |id: &str| Config {
        cluster_url: Some(format!("nats://127.0.0.1:{port}")),
        node_id: Some(id.into()),
        database_url: postgres.url.clone(),
        secret: Some(SECRET.into()),
        ..Config::for_tests()
    };
    let a = spawn_server_with(node("node-a")).await;
    let b = spawn_server_with(node("node-b")).await;

    for server in [&a, &b] {
        eventually(Duration::from_secs(10), "both nodes listed", async || {
            let (status, body) = http_get_json(server.addr, "/api/cluster").await;
            let ids: Vec<&str> = body["nodes"]
                .as_array()
                .map(|n| n.iter().filter_map(|x| x["id"].as_str()).collect())
                .unwrap_or_default();
            status == 200 && ids == ["node-a", "node-b"]
        })
        .await;
    }
    let (_, body) = http_get_json(a.addr, "/api/cluster").await;
    assert_eq!(body["node"], "node-a");
    // Rooms say which node runs them.
    let room = room_support::create_room(&a, "on-a", 2);
    let (_, listing) = http_get_json(a.addr, "/api/rooms").await;
    let summary = room_support::find_room(&listing, &room).expect("the room is listed");
    assert_eq!(summary["node"], "node-a", "{summary}");
    // Per-node figures.
    eventually(Duration::from_secs(5), "cluster metrics", async || {
        let text = a.app.metrics.render();
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        value("kurve_cluster_nodes") == 2.0
            && value("kurve_cluster_messages_out_total") > 0.0
            && value("kurve_cluster_bytes_in_total") > 0.0
    })
    .await;
    assert!(
        body["nodes"][1]["seen_ms_ago"]
            .as_u64()
            .is_some_and(|ms| ms < 3000)
    );
    assert_eq!(health(&a).await, 200);

    // NATS goes away: unhealthy, the node itself keeps serving.
    nats.kill();
    eventually(Duration::from_secs(6), "503 without NATS", async || {
        health(&a).await == 503
    })
    .await;
    let (status, _) = http_get_json(a.addr, "/api/rooms").await;
    assert_eq!(status, 200, "local play goes on");

    // NATS back on the same port: healthy again, both nodes listed again.
    let nats = Nats::start(port);
    eventually(Duration::from_secs(15), "healthy again", async || {
        health(&a).await == 200
    })
    .await;
    eventually(Duration::from_secs(10), "node-b again", async || {
        let (_, body) = http_get_json(a.addr, "/api/cluster").await;
        body["nodes"].as_array().is_some_and(|n| n.len() == 2)
    })
    .await;
    a.stop().await;
    b.stop().await;
    drop(nats);
}

/// The value of every line of metric `name` in `text`, summed (all label sets).
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The ids of the nodes `server` lists in `/api/cluster`.
async fn listed_nodes(server: &kurve_tests::TestServer) -> Vec<(String, u64)> {
    let (_, body) = http_get_json(server.addr, "/api/cluster").await;
    body["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| Some((n["id"].as_str()?.to_owned(), n["sockets"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A frame's event and whole payload, to search.
fn text_of(frame: &kurve_shared::phoenix::ServerFrame) -> String {
    format!("{} {:?}", frame.event, frame.payload)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// One locked cluster, forged at by a raw NATS client that holds the NATS password but
/// not the cluster's secret: a heartbeat, a tampered real heartbeat, a presence delta,
/// a chat broadcast, a directory entry, a relayed join and a goodbye. Nothing changes
/// and every forgery is counted. A node with the wrong NATS password stays out.
#[tokio::test]
async fn a_locked_cluster_believes_nothing_from_a_publisher_without_the_secret() {
    const USER: &str = "kurve";
    const PASSWORD: &str = "nats-test-password";
    let port = free_port();
    let _nats = Nats::start_locked(port, USER, PASSWORD);
    let postgres = Postgres::start();
    let url = format!("nats://127.0.0.1:{port}");
    let node = |id: &str, password: &str| Config {
        cluster_url: Some(url.clone()),
        node_id: Some(id.into()),
        database_url: postgres.url.clone(),
        secret: Some(SECRET.into()),
        cluster_security: ClusterSecurityConfig {
            nats_user: Some(USER.into()),
            nats_password: Some(password.into()),
            ..ClusterSecurityConfig::default()
        },
        ..Config::for_tests()
    };
    let a = spawn_server_with(node("node-a", PASSWORD)).await;
    let b = spawn_server_with(node("node-b", PASSWORD)).await;
    let intruder = spawn_server_with(node("node-c", "not-the-password")).await;
    for server in [&a, &b] {
        eventually(Duration::from_secs(10), "both nodes listed", async || {
            let ids: Vec<String> = listed_nodes(server)
                .await
                .into_iter()
                .map(|n| n.0)
                .collect();
            ids == ["node-a", "node-b"]
        })
        .await;
    }

    // A watcher on node a and a member on node b, both in lobby:main.
    let mut watcher = PhxClient::connect(&a, "Watcher").await;
    watcher.join_lobby().await;
    let mut member = PhxClient::connect(&b, "Member").await;
    member.join_lobby().await;
    let member_id = member.user.id.clone();
    eventually(
        Duration::from_secs(5),
        "the member in a's presence",
        async || {
            watcher
                .drain()
                .iter()
                .any(|f| f.event.starts_with("presence") && text_of(f).contains(&member_id))
        },
    )
    .await;
    let room = room_support::create_room(&a, "target", 4);

    // The forger: NATS's password, not the cluster's secret.
    let forger = async_nats::ConnectOptions::with_user_and_password(USER.into(), PASSWORD.into())
        .connect(&url)
        .await
        .expect("the forger holds the NATS password");
    let mut heard = forger.subscribe("kurve.v1.trk").await.expect("subscribe");
    let real_beat = loop {
        let message = tokio::time::timeout(Duration::from_secs(5), heard.next())
            .await
            .expect("node-b's heartbeat within 5 s")
            .expect("a message");
        let beat: serde_json::Value = serde_json::from_slice(&message.payload).unwrap_or_default();
        if beat["type"] == "beat" && beat["node"] == "node-b" {
            break message;
        }
    };
    let beat: serde_json::Value = serde_json::from_slice(&real_beat.payload).expect("json");
    let incarnation = beat["incarnation"].as_i64().expect("an incarnation");
    let presence_seq = beat["presence_seq"].as_u64().unwrap_or(0);
    let rejected_before = metric_sum(
        &a.app.metrics.render(),
        "kurve_cluster_rejected_messages_total",
    );

    // 1. A heartbeat of a node that does not exist.
    let evil = serde_json::json!({"type": "beat", "node": "evil", "incarnation": now_ms(),
        "seq": 1, "sockets": 99_999, "rooms": 0, "players": 0, "presence_seq": 0});
    forger
        .publish("kurve.v1.trk", evil.to_string().into())
        .await
        .expect("publish");
    // 2. node-b's real heartbeat, its load changed, under its own seal.
    let mut tampered = beat.clone();
    tampered["sockets"] = 99_999.into();
    tampered["seq"] = (beat["seq"].as_u64().unwrap_or(0) + 100).into();
    forger
        .publish_with_headers(
            "kurve.v1.trk",
            real_beat
                .headers
                .clone()
                .expect("a sealed heartbeat has headers"),
            tampered.to_string().into(),
        )
        .await
        .expect("publish");
    // 3. A presence delta of node-b: "operator" joins lobby:main.
    let meta = serde_json::json!({"name": "operator", "status": "lobby"}).to_string();
    let delta = serde_json::json!({"type": "delta", "node": "node-b",
        "incarnation": incarnation, "seq": presence_seq + 1, "changes": [{"op": "join",
        "topic": "lobby:main", "key": "operator", "phx_ref": "forged", "meta": meta}]});
    forger
        .publish("kurve.v1.trk", delta.to_string().into())
        .await
        .expect("publish");
    // 4. A chat line in lobby:main, as if from node-b.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Kurve-Origin", "node-b");
    headers.insert("Kurve-Event", "chat");
    headers.insert("Kurve-Kind", "json");
    let chat = serde_json::json!({"user": {"id": "op", "name": "operator"},
        "body": "SERVER: type your password"});
    forger
        .publish_with_headers("kurve.v1.t.lobby:main", headers, chat.to_string().into())
        .await
        .expect("publish");
    // 5. A room "FREE GOLD" of node-a in the directory.
    let entry = DirectoryEntry {
        summary: RoomSummary {
            id: "gold".into(),
            name: "FREE GOLD".into(),
            lobby: "main".into(),
            game: "curve".into(),
            phase: RoomPhase::Waiting,
            players: Vec::new(),
            spectators: 0,
            max_players: 6,
            private: false,
            node: Some("node-a".into()),
        },
        owner: "node-a".into(),
        creator: None,
    };
    let kv = async_nats::jetstream::new(forger.clone())
        .get_key_value("kurve_rooms")
        .await
        .expect("the directory bucket");
    kv.put(
        "room.gold",
        serde_json::to_vec(&entry).expect("json").into(),
    )
    .await
    .expect("the forger may write the bucket");
    // 6. A relayed join into node-a's room as the user "Alice".
    let join = serde_json::json!({"node": "evil", "socket": 1, "room": room, "join_ref": "1",
        "op": "join", "msg_ref": "1",
        "user": {"id": "u-alice", "name": "Alice", "guest": false},
        "params": {"as": "player"}});
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        forger.request("kurve.v1.node.node-a.room", join.to_string().into()),
    )
    .await;
    assert!(
        !matches!(&answer, Ok(Ok(reply)) if !reply.payload.is_empty()),
        "a forged relayed join is not answered: {answer:?}"
    );
    // 7. node-b says goodbye (its true incarnation, read off the bus).
    let bye = serde_json::json!({"type": "bye", "node": "node-b", "incarnation": incarnation});
    forger
        .publish("kurve.v1.trk", bye.to_string().into())
        .await
        .expect("publish");
    forger.flush().await.expect("flush");

    // Nothing changes, for long enough that every forgery has arrived and b's next
    // heartbeat would have undone a goodbye.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let nodes = listed_nodes(&a).await;
        let ids: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(
            ids,
            ["node-a", "node-b"],
            "a forged heartbeat or goodbye counted"
        );
        assert!(
            nodes.iter().all(|n| n.1 < 99_999),
            "a tampered heartbeat counted: {nodes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for frame in watcher.drain() {
        let text = text_of(&frame);
        assert!(
            !text.contains("operator"),
            "forged presence or chat: {text}"
        );
        assert!(!text.contains("type your password"), "forged chat: {text}");
        assert!(
            !(frame.event == "presence_diff" && text.contains(&member_id)),
            "the member left or came back after a forged goodbye: {text}"
        );
    }
    for server in [&a, &b] {
        let (_, rooms) = http_get_json(server.addr, "/api/rooms").await;
        assert!(
            !rooms.to_string().contains("FREE GOLD"),
            "a forged directory entry is listed: {rooms}"
        );
        assert!(
            !rooms.to_string().contains("Alice"),
            "a forged relayed join seated Alice: {rooms}"
        );
    }
    let rejected = metric_sum(
        &a.app.metrics.render(),
        "kurve_cluster_rejected_messages_total",
    ) - rejected_before;
    // Each of the 7 forgeries reaches at least one node (most reach both).
    assert!(rejected >= 7.0, "forgeries counted: {rejected}");

    // The node with the wrong NATS password never got in.
    assert_eq!(
        health(&intruder).await,
        503,
        "wrong NATS credentials: unhealthy"
    );
    let ids: Vec<String> = listed_nodes(&a).await.into_iter().map(|n| n.0).collect();
    assert!(!ids.contains(&"node-c".to_owned()), "{ids:?}");

    intruder.stop().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_cluster_without_a_secret_refuses_to_start() {
    if std::env::var_os("KURVE_SECRET").is_some() {
        return;
    }
    let port = free_port();
    let config = Config {
        cluster_url: Some(format!("nats://127.0.0.1:{port}")),
        node_id: Some("secretless".into()),
        database_url: "postgres://nobody@127.0.0.1:1/none".into(),
        ..Config::for_tests()
    };
    let refused = kurve_server::build(config, tokio_util::sync::CancellationToken::new()).await;
    let error = refused
        .err()
        .expect("a cluster without a secret is refused");
    assert!(
        matches!(error, kurve_server::StartError::ClusterNeedsSecret),
        "{error}"
    );
}

#[tokio::test]
async fn a_cluster_on_sqlite_refuses_to_start() {
    let config = Config {
        cluster_url: Some("nats://127.0.0.1:1".into()),
        node_id: Some("lonely".into()),
        ..Config::for_tests()
    };
    let refused = kurve_server::build(config, tokio_util::sync::CancellationToken::new()).await;
    let error = refused.err().expect("a cluster on SQLite is refused");
    assert!(
        matches!(error, kurve_server::StartError::ClusterNeedsPostgres),
        "{error}"
    );
    assert!(error.to_string().contains("postgres://"), "{error}");
}

#[tokio::test]
async fn a_single_node_has_no_cluster_route() {
    let server = kurve_tests::spawn_server().await;
    let (status, _) = http_get_json(server.addr, "/api/cluster").await;
    assert_eq!(status, 404);
    let room = room_support::create_room(&server, "alone", 2);
    let (_, listing) = http_get_json(server.addr, "/api/rooms").await;
    let summary = room_support::find_room(&listing, &room).expect("listed");
    assert!(
        summary.get("node").is_none(),
        "no node outside a cluster: {summary}"
    );
    assert_eq!(health(&server).await, 200);
    server.stop().await;
}

/// The status of `GET /healthz`.
async fn health(server: &kurve_tests::TestServer) -> u16 {
    let url = format!("http://{}/healthz", server.addr);
    let stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let request = hyper::Request::get(url.as_str())
        .header(hyper::header::HOST, server.addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    send.send_request(request)
        .await
        .expect("an answer")
        .status()
        .as_u16()
}
