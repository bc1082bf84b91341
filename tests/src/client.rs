//! The Phoenix Channels V2 client of the Rust tests, over tokio-tungstenite.
//!
//! A background task reads every frame into an unbounded queue, stamped with its arrival
//! time, so a test never stalls a socket (the server disconnects clients that fall
//! behind) while it waits on another one. Waits are bounded and panic with what was
//! expected and what came instead: these are test helpers.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use kurve_server::auth::User;
use kurve_shared::game::{self, Snapshot, Tick};
use kurve_shared::phoenix::{self, ServerFrame, ServerPayload};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::TestServer;

/// How a connection ended, as seen by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// A close frame with this code.
    Code(u16),
    /// The TCP connection ended without a close frame.
    Dropped,
}

/// The default bound on every wait.
pub const WAIT: Duration = Duration::from_secs(5);

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// A connected socket with a background reader.
pub struct PhxClient {
    pub user: User,
    pub label: String,
    sink: Sink,
    /// Frames with their arrival time (stamped by the reader task).
    rx: mpsc::UnboundedReceiver<(Instant, ServerFrame)>,
    /// Frames received but set aside by [`PhxClient::expect`].
    backlog: VecDeque<(Instant, ServerFrame)>,
    next_ref: u64,
    /// How the connection ended, set by the reader when it did.
    ended: Arc<OnceLock<Closed>>,
    reader: JoinHandle<()>,
}

impl Drop for PhxClient {
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

impl PhxClient {
    /// Signs in a guest called `name` (token minted in-process) and connects.
    pub async fn connect(server: &TestServer, name: &str) -> PhxClient {
        let (user, token) = server.guest_token(name);
        PhxClient::connect_with_token(&server.ws_url(), &token, user)
            .await
            .unwrap_or_else(|e| panic!("expected {name} to connect, got {e:#}"))
    }

    /// Connects to `base` (`ws://HOST:PORT`) with `token` in the query, as the JS
    /// client's `params` do, and starts the reader.
    pub async fn connect_with_token(
        base: &str,
        token: &str,
        user: User,
    ) -> anyhow::Result<PhxClient> {
        let url = format!("{base}/socket/websocket?vsn=2.0.0&token={token}");
        let (ws, _) = connect_async(url).await.context("websocket connect")?;
        let (sink, mut stream) = ws.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let ended = Arc::new(OnceLock::new());
        let reader_ended = Arc::clone(&ended);
        let reader = tokio::spawn(async move {
            let how = loop {
                let Some(Ok(message)) = stream.next().await else {
                    break Closed::Dropped;
                };
                let frame = match message {
                    Message::Text(text) => phoenix::decode_server_text(&text),
                    Message::Binary(data) => phoenix::decode_server_binary(&data),
                    Message::Close(frame) => {
                        break Closed::Code(frame.map_or(1005, |f| u16::from(f.code)));
                    }
                    _ => continue,
                };
                match frame {
                    Ok(frame) => {
                        if tx.send((Instant::now(), frame)).is_err() {
                            break Closed::Dropped;
                        }
                    }
                    Err(e) => panic!("a server frame did not decode: {e}"),
                }
            };
            let _ = reader_ended.set(how);
        });
        Ok(PhxClient {
            label: user.name.clone(),
            user,
            sink,
            rx,
            backlog: VecDeque::new(),
            next_ref: 1,
            ended,
            reader,
        })
    }

    /// A fresh ref, as the JS client's counter makes them.
    pub fn make_ref(&mut self) -> String {
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

    /// Sends a raw text frame, well-formed or not.
    pub async fn send_text(&mut self, text: &str) {
        self.sink
            .send(Message::Text(text.into()))
            .await
            .unwrap_or_else(|e| panic!("{}: expected to send a text frame, got {e}", self.label));
    }

    /// Reads (and drops) frames until the connection ends and says how; panics if it
    /// is still open after `within`.
    pub async fn closed(&mut self, within: Duration) -> Closed {
        self.backlog.clear();
        let drained =
            tokio::time::timeout(within, async { while self.rx.recv().await.is_some() {} }).await;
        assert!(
            drained.is_ok(),
            "{}: expected the connection to close within {within:?}",
            self.label
        );
        *self
            .ended
            .get()
            .expect("the reader records how the connection ended before it stops")
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

    /// [`PhxClient::expect_within`] with [`WAIT`].
    pub async fn expect(
        &mut self,
        what: &str,
        pred: impl FnMut(&ServerFrame) -> bool,
    ) -> ServerFrame {
        self.expect_within(WAIT, what, pred).await
    }

    /// Like [`PhxClient::expect_within`] but drops the frames before the match.
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

/// A bare WebSocket with no background reader.
pub type RawSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects a WebSocket whose kernel receive buffer is `rcvbuf` bytes and that nothing
/// reads until the test does: a client that falls behind, with little of what it has
/// not read held on its own side.
pub async fn connect_unread(server: &TestServer, token: &str, rcvbuf: u32) -> RawSocket {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(rcvbuf)
        .expect("a small receive buffer");
    let stream = socket.connect(server.addr).await.expect("connect");
    let url = format!(
        "{}/socket/websocket?vsn=2.0.0&token={token}",
        server.ws_url()
    );
    let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
        .await
        .expect("the unread client connects");
    ws
}
