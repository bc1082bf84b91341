//! Accepting connections: the HTTP settings every connection gets, and the address of
//! the client behind each request.
//!
//! axum's own `serve` has no header-read timeout, so a client could hold a connection
//! open with a request it never finishes. This loop serves each connection with
//! hyper's auto (HTTP/1.1 and h2c) builder, gives a request's headers
//! [`HEADER_READ_TIMEOUT`] to arrive and its body [`REQUEST_READ_TIMEOUT`] (a body
//! still arriving then fails, and the connection is closed), holds at most
//! `--max-connections-per-address` connections of one peer address (more are closed on
//! accept, counted), records the peer's address in the request ([`PeerAddr`]) and, on
//! shutdown, stops accepting and lets requests in flight finish.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::Request;
use axum::http::request::Parts;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::shutdown;
use crate::limits::{Limits, Refusal};

/// Time a client has to send a request's headers, from the first byte (or from the
/// end of the previous request on a kept-alive connection).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a request's body has to arrive once its headers have (CONTRACT §8: 10 s to
/// read a request). A body still arriving then ends in an error, the handler answers
/// (400) and the connection is closed: 600 connections sending a byte a second no
/// longer stay open for ever.
pub const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a failed `accept` (too many open files) pauses the loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The TCP peer of a request (a proxy's address when behind one; see [`ClientIp`]).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `router` on `listener` until `shutdown`, then lets requests in flight finish
/// for at most `config::shutdown::HTTP_REQUESTS`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Dropping the stream closes it: the peer holds too many already (counted).
        let Ok(slot) = limits.open_connection(peer.ip()) else {
            continue;
        };
        // Game frames are small and latency-bound: no Nagle delay on any socket.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let router = router.clone();
        let service = tower::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            let deadline = tokio::time::Instant::now() + REQUEST_READ_TIMEOUT;
            let request = request.map(|body| with_deadline(Body::new(body), deadline));
            let router = router.clone();
            async move { router.oneshot(request).await }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(error) = connection.await {
                tracing::debug!(%error, "http connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(shutdown::HTTP_REQUESTS, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("http connections still open after the drain");
    }
}

/// Why a request body stopped: it did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", REQUEST_READ_TIMEOUT.as_secs())]
struct BodyTimedOut;

/// `body`, failing once `deadline` passes with data still to come.
fn with_deadline(body: Body, deadline: tokio::time::Instant) -> Body {
    use futures_util::StreamExt;
    let chunks = body.into_data_stream();
    let timed = futures_util::stream::unfold(Some(chunks), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(chunks))),
            Ok(None) => None,
            Err(_) => {
                Refusal::RequestReadTimeout.count();
                Some((Err(axum::Error::new(BodyTimedOut)), None))
            }
        }
    });
    Body::from_stream(timed)
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the last
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Works out the client address from the peer and the forwarding header.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    // Each proxy appends the address it received from, so the rightmost entries are
    // the most trustworthy; the first untrusted one from the right is the client.
    let mut client = peer;
    for entry in header.rsplit(',') {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    client
}

impl<S> FromRequestParts<S> for ClientIp
where
    Limits: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Requests built without a connection (router unit tests) come from nowhere.
        let peer = parts
            .extensions
            .get::<PeerAddr>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |p| p.0.ip());
        let limits = Limits::from_ref(state);
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(ClientIp(client_ip(
            peer,
            forwarded,
            &limits.config().trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an ip")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.1");
        let trusted = [proxy];
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(client_ip(proxy, Some("1.2.3.4"), &trusted), ip("1.2.3.4"));
        assert_eq!(
            client_ip(proxy, Some("6.6.6.6, 1.2.3.4"), &trusted),
            ip("1.2.3.4"),
            "a client cannot pick its address by prepending to the header"
        );
        assert_eq!(
            client_ip(proxy, Some("1.2.3.4, 10.0.0.1"), &trusted),
            ip("1.2.3.4"),
            "chained trusted proxies are skipped"
        );
        assert_eq!(client_ip(proxy, None, &trusted), proxy);
        assert_eq!(client_ip(proxy, Some("junk"), &trusted), proxy);
    }
}
