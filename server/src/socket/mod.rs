//! `/socket/websocket`: the upgrade and the per-connection task.
//!
//! The upgrade checks the token (query `token`, or the `authToken` subprotocol the JS
//! client offers) and the serializer version before any WebSocket exists: a refused
//! socket costs one HTTP response. Each accepted socket then runs as **one** task
//! ([`connection`]) that reads frames, routes them to channels and writes what actors
//! queue in its bounded [`outbound::Outbox`] — no task per channel.

pub mod connection;
pub mod outbound;

use std::collections::HashMap;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use kurve_shared::phoenix::Vsn;

use crate::app::App;
use crate::config::MAX_FRAME_BYTES;
use crate::http::error::ApiError;
use crate::metrics;

/// Prefix of the subprotocol that carries the JS client's `authToken` option
/// (PHOENIX_PROTOCOL.md §1.2), followed by the token in standard base64 without padding.
const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

/// Bytes tungstenite reads from the socket at a time. tungstenite zero-fills the whole
/// buffer, so it is resident memory every idle socket pays for; Phoenix frames
/// (heartbeats, inputs, chat) are well under 1 KiB, and a larger frame grows the buffer
/// to its own length.
const READ_BUFFER: usize = 1024;

/// Bytes gathered before tungstenite writes to the socket; frames are flushed after each
/// batch anyway, so this only caps how much one write call collects.
const WRITE_BUFFER: usize = 16 * 1024;

/// Most bytes a socket may have waiting in tungstenite's write buffer. A tick frame is a
/// few hundred bytes; this bounds a client that stops reading at the WebSocket layer too.
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// `GET /socket/websocket?vsn=2.0.0&token=…`
pub async fn upgrade(
    State(app): State<App>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Ok(vsn) = Vsn::from_query(query.get("vsn").map(String::as_str)) else {
        metrics::count_refused();
        return refuse("unsupported serializer version");
    };
    let offered = offered_protocols(&headers);
    let token = query
        .get("token")
        .cloned()
        .or_else(|| offered.iter().find_map(|p| token_from_protocol(p)));
    let Some(token) = token else {
        metrics::count_refused();
        return refuse("a token is required");
    };
    let user = match app.auth.tokens.verify(&token) {
        Ok(user) => user,
        Err(_) => {
            metrics::count_refused();
            return refuse("the token is invalid or expired");
        }
    };
    let mut ws = ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES);
    if offered.iter().any(|p| p == "phoenix") {
        ws = ws.protocols(["phoenix"]);
    }
    let tracker = app.sockets.clone();
    ws.on_upgrade(move |socket| tracker.track_future(connection::run(socket, app, user, vsn)))
}

fn refuse(message: &'static str) -> Response {
    ApiError::Forbidden(message).into_response()
}

fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Decodes `base64url.bearer.phx.<standard base64 without padding>`.
fn token_from_protocol(protocol: &str) -> Option<String> {
    let encoded = protocol.strip_prefix(AUTH_TOKEN_PREFIX)?;
    let bytes = decode_base64(encoded)?;
    String::from_utf8(bytes).ok()
}

/// Standard-alphabet base64 without padding (the JS client strips `=`); also accepts the
/// URL-safe alphabet, since the prefix's name suggests it.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_token_subprotocol_decodes() {
        // PHOENIX_PROTOCOL.md §1.2: token "secret-tok" → c2VjcmV0LXRvaw
        assert_eq!(
            token_from_protocol("base64url.bearer.phx.c2VjcmV0LXRvaw").as_deref(),
            Some("secret-tok")
        );
        assert_eq!(token_from_protocol("phoenix"), None, "not a token protocol");
        assert_eq!(
            token_from_protocol("base64url.bearer.phx.!!"),
            None,
            "invalid base64 is no token"
        );
    }

    #[test]
    fn base64_round_trips_every_length() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(37).wrapping_add(11))
                .collect();
            let mut encoded = String::new();
            for chunk in data.chunks(3) {
                let mut acc = 0u32;
                for (i, b) in chunk.iter().enumerate() {
                    acc |= (*b as u32) << (16 - 8 * i);
                }
                for i in 0..=chunk.len() {
                    encoded.push(alphabet[((acc >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            assert_eq!(decode_base64(&encoded), Some(data), "length {len}");
        }
    }
}
