//! Guest sign-in over HTTP (`POST /api/guest`) through a few keep-alive connections.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// How long one sign-in request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts per sign-in (a refused or broken keep-alive connection is retried).
const ATTEMPTS: u32 = 3;

/// A pool of HTTP/1.1 connections to the server, used round-robin.
pub struct SignIn {
    server: SocketAddr,
    conns: Vec<Mutex<Option<SendRequest<Full<Bytes>>>>>,
}

#[derive(Deserialize)]
struct Session {
    token: String,
}

impl SignIn {
    /// A pool of `size` lazily opened connections.
    pub fn new(server: SocketAddr, size: usize) -> Self {
        SignIn {
            server,
            conns: (0..size.max(1)).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Signs in as guest `name`; returns the token, or the error kind for the report.
    pub async fn guest(&self, slot: usize, name: &str) -> Result<String, String> {
        let body = Bytes::from(format!("{{\"name\":\"{name}\"}}"));
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            let conn = &self.conns[slot % self.conns.len()];
            let result = tokio::time::timeout(REQUEST_TIMEOUT, self.post(conn, body.clone())).await;
            match result {
                Ok(Ok((StatusCode::OK, bytes))) => {
                    return serde_json::from_slice::<Session>(&bytes)
                        .map(|s| s.token)
                        .map_err(|_| "signin:bad_body".to_owned());
                }
                Ok(Ok((status, _))) if status.is_client_error() && status.as_u16() != 429 => {
                    return Err(format!("signin:http_{}", status.as_u16()));
                }
                Ok(Ok((status, _))) => last = format!("signin:http_{}", status.as_u16()),
                Ok(Err(kind)) => {
                    *conn.lock().await = None;
                    last = kind;
                }
                Err(_) => {
                    *conn.lock().await = None;
                    last = "signin:timeout".to_owned();
                }
            }
        }
        Err(last)
    }

    async fn post(
        &self,
        conn: &Mutex<Option<SendRequest<Full<Bytes>>>>,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), String> {
        let mut guard = conn.lock().await;
        let mut sender = match guard.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => {
                let stream = TcpStream::connect(self.server)
                    .await
                    .map_err(|e| format!("signin:connect:{:?}", e.kind()))?;
                let _ = stream.set_nodelay(true);
                let (sender, connection) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|_| "signin:handshake".to_owned())?;
                // Ends when `sender` is dropped or the server closes the connection.
                tokio::spawn(connection);
                sender
            }
        };
        sender
            .ready()
            .await
            .map_err(|_| "signin:connection".to_owned())?;
        let request = Request::post("/api/guest")
            .header(HOST, self.server.to_string())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|_| "signin:request".to_owned())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| "signin:connection".to_owned())?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|_| "signin:body".to_owned())?
            .to_bytes();
        *guard = Some(sender);
        Ok((status, bytes))
    }
}
