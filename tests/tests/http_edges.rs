//! HTTP at its edges, over raw TCP against a server on port 0: every client error in
//! the JSON error shape with the right status (never the web client, never 500), a
//! request whose headers never finish is dropped, and lookalike or invisible names.

use std::time::Duration;

use kurve_server::http::serve::HEADER_READ_TIMEOUT;
use kurve_tests::spawn_server;
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
    for lookalike in ["alice", "Alıce", "ＡＬＩＣＥ", "\u{0410}lice", "𝐀𝐥𝐢𝐜𝐞"]
    {
        for route in ["/api/register", "/api/guest"] {
            let body = json!({"name": lookalike, "password": "long enough"});
            let (status, _, text) =
                exchange(server.addr, &request("POST", route, Some(&body))).await;
            assert_eq!(status, 409, "{route} {lookalike:?}: {text}");
            assert_eq!(error_code(&text), "name_taken");
        }
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
