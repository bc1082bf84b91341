//! Two nodes on a real nats-server (CONTRACT §9, first part): each lists both in
//! `/api/cluster`, rooms carry their node, the per-node figures are exported, and
//! `/healthz` is 503 while NATS is away and ok again once it is back.
//! nats-server and PostgreSQL come from Debian's packages (`scripts/test.sh` installs
//! them); a cluster on SQLite refuses to start.

mod room_support;

use std::time::{Duration, Instant};

use kurve_server::config::Config;
use kurve_tests::services::{Nats, Postgres, free_port};
use kurve_tests::spawn_server_with;
use room_support::http_get_json;

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
