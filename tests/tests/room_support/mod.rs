//! Helpers shared by the `room_*` integration tests: rooms made directly in the
//! directory, HTTP reads and arena comparisons. The socket is [`kurve_tests::client`]'s.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use kurve_server::room::RoomSpec;
use kurve_shared::game::{self, Arena, Tick};
use kurve_shared::phoenix::{ServerFrame, ServerPayload};
use kurve_tests::TestServer;
use kurve_tests::client::WAIT;
use serde_json::Value;
use tokio::net::TcpStream;

/// Creates a public room directly in the directory (tests of ticks and supervision).
pub fn create_room(server: &TestServer, name: &str, max_players: u8) -> String {
    create_room_sending(server, name, max_players, None)
}

/// [`create_room`] with the room's own network send rate.
pub fn create_room_sending(
    server: &TestServer,
    name: &str,
    max_players: u8,
    send_hz: Option<u32>,
) -> String {
    server
        .app
        .rooms
        .create(RoomSpec {
            name: name.to_owned(),
            lobby: Arc::from("main"),
            max_players,
            private: false,
            password: None,
            send_hz,
            creator: None,
            game: "curve".into(),
        })
        .expect("expected the room to be created")
        .to_string()
}

/// The ticks a `tick` (one) or `ticks` (several, in order) frame carries; None for any
/// other frame.
pub fn ticks_of(frame: &ServerFrame) -> Option<Vec<Tick>> {
    let ServerPayload::Binary(bytes) = &frame.payload else {
        return None;
    };
    match frame.event.as_str() {
        "tick" => Some(vec![game::decode_tick(bytes).expect("a tick decodes")]),
        "ticks" => Some(game::decode_ticks(bytes).expect("a ticks frame decodes")),
        _ => None,
    }
}

/// `GET path` over plain HTTP/1.1; returns the status and the JSON body.
pub async fn http_get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let stream = TcpStream::connect(addr)
        .await
        .expect("expected to connect over HTTP");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("expected an HTTP handshake");
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .expect("a valid request");
    let response = tokio::time::timeout(WAIT, send.send_request(request))
        .await
        .expect("expected an HTTP response within 5 s")
        .expect("expected an HTTP response");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("expected a body")
        .to_bytes();
    let value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "expected JSON from GET {path}, got {e}: {:?}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, value)
}

/// The summary of room `id` in a `{"rooms": [...]}` listing.
pub fn find_room<'a>(listing: &'a Value, id: &str) -> Option<&'a Value> {
    listing["rooms"].as_array()?.iter().find(|r| r["id"] == id)
}

/// The first difference between two arenas, field by field, or None when equal.
pub fn arena_diff(have: &Arena, want: &Arena) -> Option<String> {
    macro_rules! field {
        ($f:ident) => {
            if have.$f != want.$f {
                return Some(format!(
                    "{}: have {:?}, want {:?}",
                    stringify!($f),
                    have.$f,
                    want.$f
                ));
            }
        };
    }
    field!(tick);
    field!(phase);
    field!(round);
    field!(phase_ends_at);
    field!(target);
    field!(config);
    if have.players.len() != want.players.len() {
        return Some(format!(
            "players: have {} ({:?}), want {} ({:?})",
            have.players.len(),
            have.players,
            want.players.len(),
            want.players
        ));
    }
    for (a, b) in have.players.iter().zip(&want.players) {
        if a != b {
            return Some(format!("player in seat {}: have {a:?}, want {b:?}", b.seat));
        }
    }
    if have.trails.len() != want.trails.len() {
        return Some(format!(
            "trail count: have {}, want {}",
            have.trails.len(),
            want.trails.len()
        ));
    }
    for (i, (a, b)) in have.trails.iter().zip(&want.trails).enumerate() {
        if a != b {
            return Some(format!(
                "trail {i}: have seat {} r {} {} points (last {:?}), want seat {} r {} {} points (last {:?})",
                a.seat,
                a.r,
                a.points.len(),
                a.points.last(),
                b.seat,
                b.r,
                b.points.len(),
                b.points.last()
            ));
        }
    }
    field!(items);
    field!(effects);
    if have != want {
        return Some("arenas differ in a field not listed above".into());
    }
    None
}
