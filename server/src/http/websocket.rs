//! `GET /socket/websocket`: the upgrade.
//!
//! It checks the token (query `token`, or the `authToken` subprotocol the JS client
//! offers) and the serializer version before any WebSocket exists: a refused socket
//! costs one HTTP response. An accepted one is handed to [`connection::run`].

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto::upgrade::downcast;
use kurve_shared::phoenix::Vsn;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::app::App;
use crate::http::error::ApiError;
use crate::http::serve::ClientIp;
use crate::metrics;
use crate::socket::connection;

/// Prefix of the subprotocol that carries the JS client's `authToken` option
/// (PHOENIX_PROTOCOL.md §1.2), followed by the token in standard base64 without padding.
const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

/// `GET /socket/websocket?vsn=2.0.0&token=…`
pub async fn upgrade(
    State(app): State<App>,
    ClientIp(client): ClientIp,
    Query(query): Query<HashMap<String, String>>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let Ok(vsn) = Vsn::from_query(query.get("vsn").map(String::as_str)) else {
        metrics::count_refused();
        return refuse("unsupported serializer version");
    };
    let offered = offered_protocols(headers);
    let token = query
        .get("token")
        .cloned()
        .or_else(|| offered.iter().find_map(|p| token_from_protocol(p)));
    let Some(token) = token else {
        metrics::count_refused();
        return refuse("a token is required");
    };
    let user = match app
        .auth
        .socket_user(&token, app.config.admin_token.as_deref())
    {
        Ok(user) => user,
        Err(_) => {
            metrics::count_refused();
            return refuse("the token is invalid or expired");
        }
    };
    let Some(accept) = websocket_accept(headers) else {
        return ApiError::BadRequest("expected a WebSocket upgrade".into()).into_response();
    };
    // Held by the connection task for the socket's whole life.
    let Ok(slot) = app.limits.open_socket(client) else {
        metrics::count_refused();
        return refuse("too many sockets from this address");
    };
    let select_phoenix = offered.iter().any(|p| p == "phoenix");
    let on_upgrade = hyper::upgrade::on(&mut request);
    let tracker = app.sockets.clone();
    tracker.spawn(async move {
        match on_upgrade.await {
            // The connection task needs the TCP stream itself: producers write
            // broadcasts straight into it (see `outbound`).
            Ok(upgraded) => match downcast::<TokioIo<TcpStream>>(upgraded) {
                Ok(parts) => {
                    // `read_buf` shares hyper's whole read buffer (kilobytes, even when
                    // empty): copy what it holds and let the buffer go before the socket's
                    // long life begins.
                    let hyper_util::server::conn::auto::upgrade::Parts { io, read_buf, .. } = parts;
                    let read = read_buf.to_vec();
                    drop(read_buf);
                    connection::run(io.into_inner(), read, app, user, vsn, client).await;
                    drop(slot);
                }
                Err(_) => tracing::error!("upgraded connection is not a TCP stream"),
            },
            Err(error) => tracing::debug!(%error, "websocket upgrade failed"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    if select_phoenix {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("phoenix"),
        );
    }
    response
}

/// Checks the RFC 6455 upgrade headers; returns `Sec-WebSocket-Accept` for the key.
fn websocket_accept(headers: &HeaderMap) -> Option<String> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return None;
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION)? != "13" {
        return None;
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    Some(derive_accept_key(key.as_bytes()))
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

/// Standard-alphabet base64 without padding (the JS client strips `=`), padded also
/// accepted; the URL-safe alphabet too, since the prefix's name suggests it.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let text = text.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
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
    fn base64_round_trips_every_length_in_both_alphabets() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(37).wrapping_add(11))
                .collect();
            for encoded in [STANDARD.encode(&data), URL_SAFE_NO_PAD.encode(&data)] {
                assert_eq!(decode_base64(&encoded), Some(data.clone()), "{encoded}");
            }
        }
        assert_eq!(decode_base64("!!"), None);
    }
}
