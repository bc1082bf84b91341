//! Helpers shared by the `room_*` integration tests.
//!
//! [`Conn`] is a Phoenix V2 socket whose frames are read by a background task into an
//! unbounded queue, so a test never stalls a socket (the server disconnects clients that
//! fall ~4 s of ticks behind) while it waits on another one.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use kurve_server::auth::User;
use kurve_server::room::RoomSpec;
use kurve_shared::game::{self, Arena, Snapshot, Tick};
use kurve_shared::phoenix::{self, ServerFrame, ServerPayload};
use kurve_tests::TestServer;
use kurve_tests::client::PhxClient;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The default bound on every wait.
pub const WAIT: Duration = Duration::from_secs(5);

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// A connected socket with a background reader.
pub struct Conn {
    pub user: User,
    pub label: String,
    sink: Sink,
    /// Frames with their arrival time (stamped by the reader task).
    rx: mpsc::UnboundedReceiver<(Instant, ServerFrame)>,
    /// Frames received but set aside by [`Conn::expect`].
    backlog: VecDeque<(Instant, ServerFrame)>,
    next_ref: u64,
    reader: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A joined room channel.
#[derive(Debug, Clone)]
pub struct RoomJoin {
    pub topic: String,
    pub join_ref: String,
    /// The join reply's `response`.
    pub reply: Value,
}

impl Conn {
    /// Signs in a guest called `name` (token minted in-process) and connects.
    pub async fn connect(server: &TestServer, name: &str) -> Conn {
        let (user, token) = server.guest_token(name);
        let client = PhxClient::connect(&server.ws_url(), &token)
            .await
            .unwrap_or_else(|e| panic!("expected {name} to connect, got {e:#}"));
        let (sink, mut stream) = client.ws.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let frame = match message {
                    Message::Text(text) => phoenix::decode_server_text(&text),
                    Message::Binary(data) => phoenix::decode_server_binary(&data),
                    Message::Close(_) => break,
                    _ => continue,
                };
                match frame {
                    Ok(frame) => {
                        if tx.send((Instant::now(), frame)).is_err() {
                            break;
                        }
                    }
                    Err(e) => panic!("a server frame did not decode: {e}"),
                }
            }
        });
        Conn {
            label: name.to_owned(),
            user,
            sink,
            rx,
            backlog: VecDeque::new(),
            next_ref: 1,
            reader,
        }
    }

    fn make_ref(&mut self) -> String {
        let r = self.next_ref.to_string();
        self.next_ref += 1;
        r
    }

    async fn send(
        &mut self,
        join_ref: Option<&str>,
        msg_ref: &str,
        topic: &str,
        event: &str,
        payload: &Value,
    ) {
        let text = phoenix::encode_client_text(
            join_ref,
            Some(msg_ref),
            topic,
            event,
            &payload.to_string(),
        );
        self.sink
            .send(Message::Text(text.into()))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{}: expected to send {event} on {topic}, got {e}",
                    self.label
                )
            });
    }

    /// Sends a push; returns its ref.
    pub async fn push(
        &mut self,
        join_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: &Value,
    ) -> String {
        let msg_ref = self.make_ref();
        self.send(join_ref, &msg_ref, topic, event, payload).await;
        msg_ref
    }

    /// The next frame (set-aside frames first), within `within`.
    pub async fn recv_within(&mut self, within: Duration) -> ServerFrame {
        if let Some((_, frame)) = self.backlog.pop_front() {
            return frame;
        }
        match tokio::time::timeout(within, self.rx.recv()).await {
            Ok(Some((_, frame))) => frame,
            Ok(None) => panic!(
                "{}: expected another frame, the connection ended",
                self.label
            ),
            Err(_) => panic!(
                "{}: expected a frame within {within:?}, got none",
                self.label
            ),
        }
    }

    /// The next frame, within [`WAIT`].
    pub async fn recv(&mut self) -> ServerFrame {
        self.recv_within(WAIT).await
    }

    /// The next frame if one arrives within `within`.
    pub async fn try_recv_within(&mut self, within: Duration) -> Option<ServerFrame> {
        self.try_recv_timed(within).await.map(|(_, frame)| frame)
    }

    /// The next frame and when it arrived, if one arrives within `within`.
    pub async fn try_recv_timed(&mut self, within: Duration) -> Option<(Instant, ServerFrame)> {
        if let Some(timed) = self.backlog.pop_front() {
            return Some(timed);
        }
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Whether the connection ended and every frame was read.
    pub fn is_closed(&self) -> bool {
        self.backlog.is_empty() && self.rx.is_closed() && self.rx.is_empty()
    }

    /// Every frame already received (set-aside ones first), without waiting.
    pub fn drain(&mut self) -> Vec<ServerFrame> {
        let mut out: Vec<ServerFrame> = self.backlog.drain(..).map(|(_, f)| f).collect();
        while let Ok((_, frame)) = self.rx.try_recv() {
            out.push(frame);
        }
        out
    }

    /// The first frame matching `pred` within `within`; frames before it are set aside
    /// (in order) for later `recv`s.
    pub async fn expect_within(
        &mut self,
        within: Duration,
        what: &str,
        mut pred: impl FnMut(&ServerFrame) -> bool,
    ) -> ServerFrame {
        if let Some(i) = self.backlog.iter().position(|(_, f)| pred(f)) {
            return self.backlog.remove(i).expect("index from position").1;
        }
        let deadline = Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((_, frame))) if pred(&frame) => return frame,
                Ok(Some(timed)) => self.backlog.push_back(timed),
                Ok(None) => panic!("{}: expected {what}, the connection ended", self.label),
                Err(_) => panic!(
                    "{}: expected {what} within {within:?}; got instead (last 8): {:?}",
                    self.label,
                    self.backlog
                        .iter()
                        .rev()
                        .take(8)
                        .map(|(_, f)| brief(f))
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    /// [`Conn::expect_within`] with [`WAIT`].
    pub async fn expect(
        &mut self,
        what: &str,
        pred: impl FnMut(&ServerFrame) -> bool,
    ) -> ServerFrame {
        self.expect_within(WAIT, what, pred).await
    }

    /// Like [`Conn::expect_within`] but drops the frames before the match.
    pub async fn skip_until(
        &mut self,
        within: Duration,
        what: &str,
        mut pred: impl FnMut(&ServerFrame) -> bool,
    ) -> ServerFrame {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(frame) = self.try_recv_within(left).await else {
                panic!(
                    "{}: expected {what} within {within:?}, got none",
                    self.label
                );
            };
            if pred(&frame) {
                return frame;
            }
        }
    }

    /// Waits for the reply to `msg_ref`; returns `{status, response}`.
    pub async fn reply_to(&mut self, msg_ref: &str) -> Value {
        let frame = self
            .expect(&format!("the reply to ref {msg_ref}"), |f| {
                f.event == "phx_reply" && f.msg_ref.as_deref() == Some(msg_ref)
            })
            .await;
        json_of(&frame).clone()
    }

    /// Sends `phx_join`; returns the join_ref and the reply `{status, response}`.
    pub async fn join(&mut self, topic: &str, params: &Value) -> (String, Value) {
        let join_ref = self.make_ref();
        self.send(Some(&join_ref), &join_ref, topic, "phx_join", params)
            .await;
        let reply = self.reply_to(&join_ref).await;
        (join_ref, reply)
    }

    /// Joins `lobby:main` (must succeed); returns the join_ref and the reply's `rooms`.
    pub async fn join_lobby(&mut self) -> (String, Value) {
        let (join_ref, reply) = self.join("lobby:main", &json!({})).await;
        assert_eq!(
            reply["status"], "ok",
            "{}: expected to join lobby:main, got {reply}",
            self.label
        );
        (join_ref, reply["response"]["rooms"].clone())
    }

    /// `create_room` through the joined lobby; returns the room id.
    pub async fn create_room(&mut self, lobby_ref: &str, params: Value) -> String {
        let r = self
            .push(Some(lobby_ref), "lobby:main", "create_room", &params)
            .await;
        let reply = self.reply_to(&r).await;
        assert_eq!(
            reply["status"], "ok",
            "{}: expected create_room {params} to be ok, got {reply}",
            self.label
        );
        let id = reply["response"]["room_id"]
            .as_str()
            .unwrap_or_else(|| panic!("expected a string room_id in {reply}"))
            .to_owned();
        assert!(
            id.len() == 8
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "expected an 8-char [a-z0-9] room id, got {id:?}"
        );
        id
    }

    /// Joins `room:<id>`; Ok with the join, or Err with the refusal reason.
    pub async fn try_join_room(&mut self, id: &str, params: Value) -> Result<RoomJoin, String> {
        let topic = format!("room:{id}");
        let (join_ref, reply) = self.join(&topic, &params).await;
        match reply["status"].as_str() {
            Some("ok") => Ok(RoomJoin {
                topic,
                join_ref,
                reply: reply["response"].clone(),
            }),
            Some("error") => Err(reply["response"]["reason"]
                .as_str()
                .unwrap_or_else(|| panic!("expected an error reason in {reply}"))
                .to_owned()),
            _ => panic!(
                "{}: expected an ok or error reply to joining {topic}, got {reply}",
                self.label
            ),
        }
    }

    /// Joins `room:<id>` (must succeed) and reads its snapshot.
    pub async fn join_room(&mut self, id: &str, params: Value) -> (RoomJoin, Snapshot) {
        let join = self
            .try_join_room(id, params.clone())
            .await
            .unwrap_or_else(|reason| {
                panic!(
                    "{}: expected to join room:{id} with {params}, refused: {reason}",
                    self.label
                )
            });
        let snapshot = self.snapshot(&join).await;
        (join, snapshot)
    }

    /// The `snapshot` push that follows a join reply: a binary kind-0 push on `join`.
    pub async fn snapshot(&mut self, join: &RoomJoin) -> Snapshot {
        let frame = self
            .expect(&format!("a snapshot on {}", join.topic), |f| {
                f.event == "snapshot" && f.topic == join.topic
            })
            .await;
        assert_eq!(
            frame.join_ref.as_deref(),
            Some(join.join_ref.as_str()),
            "{}: expected the snapshot to be a push carrying our join_ref",
            self.label
        );
        let ServerPayload::Binary(bytes) = &frame.payload else {
            panic!(
                "{}: expected a binary snapshot, got {:?}",
                self.label, frame.payload
            );
        };
        game::decode_snapshot(bytes)
            .unwrap_or_else(|e| panic!("expected the snapshot to decode, got {e}"))
    }

    /// Pushes `ready` and expects an ok reply.
    pub async fn ready(&mut self, join: &RoomJoin) {
        let r = self
            .push(Some(&join.join_ref), &join.topic, "ready", &json!({}))
            .await;
        let reply = self.reply_to(&r).await;
        assert_eq!(
            reply["status"], "ok",
            "{}: expected ready to be ok, got {reply}",
            self.label
        );
    }

    /// Pushes `input {"turn"}` (no reply on success); returns its ref.
    pub async fn input(&mut self, join: &RoomJoin, turn: i8) -> String {
        self.push(
            Some(&join.join_ref),
            &join.topic,
            "input",
            &json!({ "turn": turn }),
        )
        .await
    }

    /// Receives until the next `tick` frame on `topic`; returns it decoded with its
    /// raw bytes. Other frames are passed to `other`.
    pub async fn next_tick(
        &mut self,
        topic: &str,
        mut other: impl FnMut(&ServerFrame),
    ) -> (Tick, Bytes) {
        loop {
            let frame = self.recv().await;
            if frame.topic == topic && frame.event == "tick" {
                return decode_tick_frame(&frame);
            }
            other(&frame);
        }
    }
}

/// Checks a `tick` frame is a kind-2 binary broadcast and decodes it.
pub fn decode_tick_frame(frame: &ServerFrame) -> (Tick, Bytes) {
    assert_eq!(
        frame.join_ref,
        None,
        "expected a tick to be a broadcast (no join_ref): {}",
        brief(frame)
    );
    assert_eq!(
        frame.msg_ref,
        None,
        "expected a tick to carry no ref: {}",
        brief(frame)
    );
    let ServerPayload::Binary(bytes) = &frame.payload else {
        panic!("expected a binary tick, got {:?}", frame.payload);
    };
    let tick =
        game::decode_tick(bytes).unwrap_or_else(|e| panic!("expected a tick to decode, got {e}"));
    (tick, bytes.clone())
}

/// A frame's JSON payload.
pub fn json_of(frame: &ServerFrame) -> &Value {
    match &frame.payload {
        ServerPayload::Json(value) => value,
        other => panic!("expected a JSON payload on {}, got {other:?}", frame.event),
    }
}

/// A one-line description of a frame, for assert messages.
pub fn brief(frame: &ServerFrame) -> String {
    let payload = match &frame.payload {
        ServerPayload::Json(v) => {
            let s = v.to_string();
            if s.len() > 160 {
                format!("{}…", &s[..160])
            } else {
                s
            }
        }
        ServerPayload::Binary(b) => format!("<{} bytes>", b.len()),
        ServerPayload::BinaryReply { status, response } => {
            format!("<{status} {} bytes>", response.len())
        }
    };
    format!(
        "[{:?}, {:?}, {}, {}, {payload}]",
        frame.join_ref, frame.msg_ref, frame.topic, frame.event
    )
}

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
