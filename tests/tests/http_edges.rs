//! HTTP at its edges, over raw TCP against a server on port 0: every client error in
//! the JSON error shape with the right status (never the web client, never 500), a
//! request whose headers or body never finish is dropped, connections per address are
//! capped, an oversized long-poll post gets the JSON 413, and lookalike or invisible
//! names.

use std::time::Duration;

use kurve_server::http::serve::{HEADER_READ_TIMEOUT, REQUEST_READ_TIMEOUT};
use kurve_tests::{spawn_server, spawn_server_with};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` as is and reads the whole response (the request asks to close).
async fn exchange(addr: std::net::SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write the request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("a response within 5 s")
        .expect("read the response");
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("expected a full response, got {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("expected a status line, got {head:?}"));
    (status, head.to_owned(), body.to_owned())
}

fn request(method: &str, path: &str, body: Option<&Value>) -> String {
    let body = body.map(Value::to_string).unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Asserts the contract's error shape; returns the code.
fn error_code(body: &str) -> String {
    let value: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("expected a JSON error body, got {e}: {body:?}"));
    assert!(
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "expected error.message, got {value}"
    );
    value["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected error.code, got {value}"))
        .to_owned()
}

#[tokio::test]
async fn client_errors_are_json_with_the_right_status() {
    let server = spawn_server().await;
    let cases = [
        ("DELETE", "/api/guest".to_owned(), 405, "method_not_allowed"),
        ("PUT", "/api/rooms".to_owned(), 405, "method_not_allowed"),
        ("GET", "/api/nope".to_owned(), 404, "not_found"),
        ("POST", "/api/some/deep/path".to_owned(), 404, "not_found"),
        (
            "GET",
            format!("/{}", "a".repeat(8 * 1024)),
            414,
            "uri_too_long",
        ),
        (
            "GET",
            format!("/api/rooms?lobby={}", "a".repeat(4096)),
            414,
            "uri_too_long",
        ),
        (
            "GET",
            "/api/rooms?lobby=NOT%20VALID".to_owned(),
            400,
            "bad_request",
        ),
    ];
    for (method, path, status, code) in cases {
        let (got, _, body) = exchange(server.addr, &request(method, &path, None)).await;
        let shown: String = path.chars().take(40).collect();
        assert_eq!(got, status, "{method} {shown}…: {body}");
        assert_eq!(error_code(&body), code, "{method} {shown}…");
    }
    server.stop().await;
}

#[tokio::test]
async fn rate_limits_send_retry_after() {
    let mut config = kurve_server::config::Config::for_tests();
    config.limits.max_guest_sign_ins_per_address = 1;
    let server = kurve_tests::spawn_server_with(config).await;
    let guest = request("POST", "/api/guest", Some(&json!({"name": "first"})));
    let (status, _, _) = exchange(server.addr, &guest).await;
    assert_eq!(status, 200);
    let again = request("POST", "/api/guest", Some(&json!({"name": "second"})));
    let (status, head, body) = exchange(server.addr, &again).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_code(&body), "rate_limited");
    let retry_after = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("expected a Retry-After header in {head:?}"));
    assert!(
        (1..=60).contains(&retry_after),
        "one sign-in a minute comes back within a minute, got {retry_after}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_request_whose_headers_never_finish_is_dropped() {
    let server = spawn_server().await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nx-slow: ")
        .await
        .expect("write half a request");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        HEADER_READ_TIMEOUT + Duration::from_secs(5),
        stream.read_to_end(&mut buf),
    )
    .await
    .expect("expected the server to give up on the request");
    assert!(read.is_ok(), "the connection ends rather than erroring");
    server.stop().await;
}

#[tokio::test]
async fn lookalike_and_invisible_names_are_refused() {
    let server = spawn_server().await;
    let register = request(
        "POST",
        "/api/register",
        Some(&json!({"name": "Alice", "password": "long enough"})),
    );
    let (status, _, body) = exchange(server.addr, &register).await;
    assert_eq!(status, 201, "{body}");
    for lookalike in [
        "alice",
        "Alıce",
        "ＡＬＩＣＥ",
        "\u{0410}lice",
        "𝐀𝐥𝐢𝐜𝐞",
        "ALİCE",
    ] {
        for route in ["/api/register", "/api/guest"] {
            let body = json!({"name": lookalike, "password": "long enough"});
            let (status, _, text) =
                exchange(server.addr, &request("POST", route, Some(&body))).await;
            assert_eq!(status, 409, "{route} {lookalike:?}: {text}");
            assert_eq!(error_code(&text), "name_taken");
        }
    }
    for route in ["/api/register", "/api/guest"] {
        let body = json!({"name": "Operator", "password": "long enough"});
        let (status, _, text) = exchange(server.addr, &request("POST", route, Some(&body))).await;
        assert_eq!(
            status, 422,
            "expected {route} to refuse the operator's name: {text}"
        );
        assert_eq!(error_code(&text), "invalid_name");
    }
    for invisible in ["\u{3164}", "Bob\u{200B}", "\u{202E}evil"] {
        let body = json!({"name": invisible});
        let (status, _, text) =
            exchange(server.addr, &request("POST", "/api/guest", Some(&body))).await;
        assert_eq!(status, 422, "{invisible:?}: {text}");
        assert_eq!(error_code(&text), "invalid_name");
    }
    let login = json!({"name": "ＡＬＩＣＥ", "password": "long enough"});
    let (status, _, text) =
        exchange(server.addr, &request("POST", "/api/login", Some(&login))).await;
    assert_eq!(
        status, 200,
        "the account signs in under any of its forms: {text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_request_whose_body_trickles_in_is_dropped() {
    let server = spawn_server().await;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(
            b"POST /api/guest HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
              content-length: 1000\r\n\r\n{",
        )
        .await
        .expect("write the headers and one byte");
    // A byte a second, for longer than the deadline: never a whole body.
    let trickle = tokio::spawn(async move {
        for _ in 0..(REQUEST_READ_TIMEOUT.as_secs() + 10) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if writer.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        REQUEST_READ_TIMEOUT + Duration::from_secs(5),
        reader.read_to_end(&mut buf),
    )
    .await;
    trickle.abort();
    assert!(
        read.is_ok(),
        "expected the server to close a connection whose body is still arriving after {REQUEST_READ_TIMEOUT:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn connections_per_address_are_capped() {
    let mut config = kurve_server::config::Config::for_tests();
    config.limits.max_connections_per_address = 4;
    let server = spawn_server_with(config).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        // A request answered proves the connection was accepted and counted.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0_u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .expect("read");
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "expected connections 1-4 to be served"
        );
        held.push(stream);
    }
    let mut fifth = TcpStream::connect(server.addr).await.expect("connect");
    let _ = fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), fifth.read_to_end(&mut buf))
        .await
        .expect("expected the 5th connection from one address to be closed at once");
    assert!(
        read.is_err() || buf.is_empty(),
        "expected the 5th connection to be closed unanswered, got {:?}",
        String::from_utf8_lossy(&buf)
    );
    held.pop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _, _) = exchange(server.addr, &request("GET", "/healthz", None)).await;
    assert_eq!(
        status, 200,
        "expected a closed connection's slot to come back"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_long_poll_post_gets_the_json_413_not_a_reset() {
    let server = spawn_server().await;
    let size = 20 * 1024 * 1024;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /socket/longpoll?vsn=2.0.0&token=whatever HTTP/1.1\r\nhost: test\r\n\
         connection: close\r\ncontent-type: application/x-ndjson\r\ncontent-length: {size}\r\n\r\n"
    );
    let send = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..size / chunk.len() {
            writer.write_all(&chunk).await?;
        }
        writer.flush().await?;
        // Kept open until the answer is read: a half-close here would race the
        // server's reading of the body's end.
        Ok::<_, std::io::Error>(writer)
    });
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut response))
        .await
        .expect("a response within 30 s");
    let sent = send.await.expect("the writer task");
    assert!(
        read.is_ok() && sent.is_ok(),
        "expected the refusal to be read whole, not a reset: read {read:?}, write {sent:?}"
    );
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("expected a response, got {text:?}"));
    assert!(
        head.starts_with("HTTP/1.1 413"),
        "expected 413, got {head:?}"
    );
    assert_eq!(error_code(body), "payload_too_large");
    server.stop().await;
}
