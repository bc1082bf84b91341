//! `/socket/longpoll`: Phoenix's long-poll transport, as the official client's `LongPoll`
//! speaks it (PHOENIX_PROTOCOL.md §1.4, CONTRACT §6).
//!
//! Every answer is HTTP 200 with the real status in the JSON body:
//! - `GET` without a session (or with one that is not ours): the user token is checked
//!   as for a WebSocket (`403` in the body when it fails), a session opens and the
//!   answer is `410` with its token;
//! - `GET` with a session that has ended: `410` with a new session, as Phoenix answers
//!   (phoenix 1.8 then reconnects and rejoins; 1.7 goes on with the new session);
//! - `GET` with a live session: `200` with the messages, or `204` after 10 s;
//! - `POST` with a session: one frame per line, at most 100; `200` once routed, `410`
//!   when the session is gone, `400` for a post that is refused whole.
//!
//! The client sends its session token as the **last** `token` query parameter, after
//! the socket's own params (which may hold a `token` of their own, the user's); the
//! unreleased client sends it in `X-Phoenix-Longpoll-Token` instead, and an `authToken`
//! arrives in `X-Phoenix-AuthToken`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine;
use kurve_shared::phoenix::Vsn;
use rand::RngCore;
use serde_json::json;

use super::error::ApiError;
use super::serve::ClientIp;
use crate::app::App;
use crate::config::MAX_FRAME_BYTES;
use crate::limits::Refusal;
use crate::metrics;
use crate::socket::longpoll::{
    Command, Frame, LongPollSessions, MAX_POST_FRAMES, POLL_WINDOW, PostOutcome, SessionHandle,
};

/// The largest post body: the most frames, each at the frame size limit.
const MAX_POST_BYTES: usize = MAX_POST_FRAMES * MAX_FRAME_BYTES;

/// Most bytes of a body past [`MAX_POST_BYTES`] read and thrown away so that the 413
/// reaches the client: closing a connection with unread data makes the kernel answer
/// with a reset, and the client sees that instead of the refusal. Past this (or past
/// the request deadline) the connection is closed after all.
const MAX_DRAINED_BYTES: usize = 32 * 1024 * 1024;

/// How long a request waits for its session to take it before giving up (`408`).
const SESSION_BUSY: std::time::Duration = std::time::Duration::from_secs(10);

/// The long-poll routes, with their own table of open sessions.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/socket/longpoll", get(poll).post(post).options(preflight))
        // The post reads its own body, bounded (`read_bounded`).
        .layer(DefaultBodyLimit::disable())
        .layer(Extension(Arc::new(LongPollSessions::default())))
}

/// The request's query parameters in order (the client may repeat `token`).
fn params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The session this request names, if the token is one we issued: its id, its user
/// and the token itself.
fn session_of(app: &App, headers: &HeaderMap, params: &[(String, String)]) -> Option<Named> {
    let token = headers
        .get("x-phoenix-longpoll-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.clone())
        })?;
    let (id, user_id) = app.auth.tokens.verify_session(&token).ok()?;
    Some(Named { id, user_id, token })
}

/// A session token that checked out.
struct Named {
    id: String,
    user_id: String,
    token: String,
}

impl Named {
    /// The session, if it is still open and belongs to the token's user.
    fn find(&self, sessions: &LongPollSessions) -> Option<SessionHandle> {
        sessions
            .get(&self.id)
            .filter(|handle| *handle.user_id == *self.user_id)
    }
}

/// `GET /socket/longpoll`
async fn poll(
    State(app): State<App>,
    Extension(sessions): Extension<Arc<LongPollSessions>>,
    ClientIp(client): ClientIp,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    metrics::count_longpoll_request("get");
    let params = params(query.as_deref());
    let Some(named) = session_of(&app, &headers, &params) else {
        return open_session(&app, &sessions, client, &headers, &params);
    };
    let Some(handle) = named.find(&sessions) else {
        // Ours, but over. As Phoenix does, a new session answers: phoenix 1.8 closes
        // (3410), reconnects and rejoins, leaving it to end idle; 1.7 carries on with it.
        return open_session(&app, &sessions, client, &headers, &params);
    };
    let (answer, answered) = tokio::sync::oneshot::channel();
    let sent = tokio::time::timeout(SESSION_BUSY, handle.send(Command::Poll(answer))).await;
    if !matches!(sent, Ok(Ok(()))) {
        return body(json!({"status": 410, "token": named.token, "messages": []}));
    }
    // The session answers within its window; the margin covers a busy server.
    match tokio::time::timeout(POLL_WINDOW + SESSION_BUSY, answered).await {
        Ok(Ok(messages)) if messages.is_empty() => {
            body(json!({"status": 204, "token": named.token, "messages": []}))
        }
        Ok(Ok(messages)) => {
            let messages: Vec<&str> = messages.iter().map(|m| &**m).collect();
            body(json!({"status": 200, "token": named.token, "messages": messages}))
        }
        // The session ended while the poll waited.
        _ => body(json!({"status": 410, "token": named.token, "messages": []})),
    }
}

/// Opens a session for the user the request's token names, as a WebSocket upgrade
/// would accept them.
fn open_session(
    app: &App,
    sessions: &Arc<LongPollSessions>,
    client: std::net::IpAddr,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Response {
    let forbidden = || {
        metrics::count_refused();
        body(json!({"status": 403}))
    };
    let value = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Ok(vsn) = Vsn::from_query(value("vsn")) else {
        return forbidden();
    };
    let token = headers
        .get("x-phoenix-authtoken")
        .and_then(|v| v.to_str().ok())
        .or_else(|| value("token"));
    let admin = app.config.admin_token.as_deref();
    let Some(user) = token.and_then(|t| app.auth.socket_user(t, admin).ok()) else {
        return forbidden();
    };
    let Ok(slot) = app.limits.open_socket(client) else {
        return forbidden();
    };
    let mut id = [0_u8; 16];
    rand::rng().fill_bytes(&mut id);
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let Ok(token) = app.auth.tokens.issue_session(&id, &user.id) else {
        return body(json!({"status": 500}));
    };
    sessions.open(Arc::from(id), app, user, vsn, client, slot);
    body(json!({"status": 410, "token": token, "messages": []}))
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    /// Over the limit: the JSON 413.
    TooLarge,
    /// It failed or stopped arriving (the request deadline).
    Failed,
}

/// Reads `body` whole if it is at most `limit` bytes. A longer one is read on and thrown
/// away, up to [`MAX_DRAINED_BYTES`], so the refusal is answered rather than reset.
async fn read_bounded(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    use futures_util::StreamExt;
    let mut chunks = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0_usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| BodyError::Failed)?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit.saturating_add(MAX_DRAINED_BYTES) {
            // Too much to drain: answer anyway; the connection closes after.
            return Err(BodyError::TooLarge);
        }
        if seen <= limit {
            kept.extend_from_slice(&chunk);
        } else {
            kept = Vec::new();
        }
    }
    if seen > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(kept))
}

/// `POST /socket/longpoll`: frames, one per line.
async fn post(
    State(app): State<App>,
    Extension(sessions): Extension<Arc<LongPollSessions>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Body,
) -> Response {
    metrics::count_longpoll_request("post");
    let frames = match read_bounded(request, MAX_POST_BYTES).await {
        Ok(frames) => frames,
        Err(BodyError::TooLarge) => {
            Refusal::RequestBodyTooLarge.count();
            return ApiError::PayloadTooLarge.into_response();
        }
        Err(BodyError::Failed) => {
            return ApiError::BadRequest("the body did not arrive whole".into()).into_response();
        }
    };
    let params = params(query.as_deref());
    let Some(handle) = session_of(&app, &headers, &params).and_then(|n| n.find(&sessions)) else {
        return body(json!({"status": 410}));
    };
    let frames = match parse_post(&frames) {
        Ok(frames) => frames,
        Err(reason) => {
            metrics::count_malformed();
            return body(json!({"status": 400, "reason": reason}));
        }
    };
    let (ack, acked) = tokio::sync::oneshot::channel();
    let sent = tokio::time::timeout(SESSION_BUSY, handle.send(Command::Post(frames, ack))).await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return body(json!({"status": 410})),
        Err(_) => return body(json!({"status": 408})),
    }
    match acked.await {
        Ok(PostOutcome::Accepted) => body(json!({"status": 200})),
        Ok(PostOutcome::Ended) => body(json!({"status": 400, "reason": "the session ended"})),
        Err(_) => body(json!({"status": 410})),
    }
}

/// A post's frames: text frames as they are (they start with `[` or `{`), binary ones
/// in standard base64. Refused whole past [`MAX_POST_FRAMES`] lines, or with a line that
/// is not UTF-8, not base64, or over the frame size limit.
fn parse_post(body: &[u8]) -> Result<Vec<Frame>, &'static str> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8")?;
    let lines: Vec<&str> = text.split('\n').filter(|l| !l.trim().is_empty()).collect();
    if lines.len() > MAX_POST_FRAMES {
        return Err("more than 100 frames in one post");
    }
    lines
        .into_iter()
        .map(|line| {
            let line = line.trim_end_matches('\r');
            if line.len() > MAX_FRAME_BYTES * 4 / 3 + 4 {
                return Err("a frame over 64 KiB");
            }
            if line.starts_with('[') || line.starts_with('{') {
                if line.len() > MAX_FRAME_BYTES {
                    return Err("a frame over 64 KiB");
                }
                return Ok(Frame::Text(line.to_owned()));
            }
            let data = base64::engine::general_purpose::STANDARD
                .decode(line)
                .map_err(|_| "a line that is neither a text frame nor base64")?;
            if data.len() > MAX_FRAME_BYTES {
                return Err("a frame over 64 KiB");
            }
            Ok(Frame::Binary(data))
        })
        .collect()
}

/// `OPTIONS /socket/longpoll`: the CORS preflight a cross-origin client sends.
async fn preflight() -> Response {
    metrics::count_longpoll_request("options");
    let mut response = Response::new(Body::empty());
    cors(response.headers_mut());
    response
}

/// Every answer: 200, JSON, never cached, readable from any origin (the session token
/// is the credential; no cookie is involved).
fn body(value: serde_json::Value) -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response();
    cors(response.headers_mut());
    response
}

fn cors(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "content-type, accept, x-phoenix-authtoken, x-phoenix-longpoll-token",
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_is_split_into_frames_and_refused_whole_past_100() {
        let two = b"[\"1\",\"1\",\"lobby:main\",\"phx_join\",{}]\nAAEC\n";
        let frames = parse_post(two).expect("two frames");
        assert!(matches!(&frames[0], Frame::Text(t) if t.starts_with('[')));
        assert!(matches!(&frames[1], Frame::Binary(b) if b == &[0, 1, 2]));
        let hundred = vec!["[null,\"1\",\"phoenix\",\"heartbeat\",{}]"; 100].join("\n");
        assert_eq!(parse_post(hundred.as_bytes()).map(|f| f.len()), Ok(100));
        let too_many = vec!["[null,\"1\",\"phoenix\",\"heartbeat\",{}]"; 101].join("\n");
        assert!(parse_post(too_many.as_bytes()).is_err(), "101 frames");
        assert!(
            parse_post(b"not base64!").is_err(),
            "neither text nor base64"
        );
        assert!(parse_post(&[0xff, 0xfe]).is_err(), "not UTF-8");
    }

    #[test]
    fn the_last_token_is_the_session() {
        let params = params(Some("token=user&vsn=2.0.0&token=session"));
        assert_eq!(
            params
                .iter()
                .rev()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.as_str()),
            Some("session")
        );
    }
}
