//! Two nodes on a real nats-server (CONTRACT §9, first part): each lists both in
//! `/api/cluster`, rooms carry their node, the per-node figures are exported, and
//! `/healthz` is 503 while NATS is away and ok again once it is back.
//! nats-server comes from Debian's package (`scripts/test.sh` installs it).

mod room_support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kurve_server::config::Config;
use kurve_tests::spawn_server_with;
use room_support::http_get_json;

/// `nats-server` on PATH or where Debian puts it.
fn nats_server() -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/usr/bin"])
    {
        let candidate = PathBuf::from(dir).join("nats-server");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("nats-server is missing: apt-get install nats-server (scripts/test.sh does)");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn start_nats(port: u16) -> Child {
    Command::new(nats_server())
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts")
}

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
    let mut nats = start_nats(port);
    let node = |id: &str| Config {
        cluster_url: Some(format!("nats://127.0.0.1:{port}")),
        node_id: Some(id.into()),
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
    nats.kill().expect("kill nats-server");
    let _ = nats.wait();
    eventually(Duration::from_secs(6), "503 without NATS", async || {
        health(&a).await == 503
    })
    .await;
    let (status, _) = http_get_json(a.addr, "/api/rooms").await;
    assert_eq!(status, 200, "local play goes on");

    // NATS back on the same port: healthy again, both nodes listed again.
    let mut nats = start_nats(port);
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
    let _ = nats.kill();
    let _ = nats.wait();
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
