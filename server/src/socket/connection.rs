//! One task per WebSocket: read frames, route them, write what actors queued.
//!
//! The task `select!`s over the server shutting down, the idle deadline, its outbound
//! queue and the next client frame. A write watches the queue's overflow too, so a
//! client that stops reading is dropped even while a write to it is stuck. Most
//! broadcasts never reach this task: producers write them straight into the stream (see
//! `outbound`). What is queued goes out in batches, one `writev` for everything already
//! waiting. Client budgets that belong to one socket (channels, lobby joins and room
//! creations, wrong room passwords, inputs) are kept and checked here, before any actor
//! sees the frame.
//!
//! Invariant: nothing here waits on an actor. Commands to actors are `try_send`; a busy
//! actor yields an `overloaded` error reply, never a stalled socket.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use kurve_shared::phoenix::{self, InFrame, InPayload, Vsn};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::app::App;
use crate::auth::User;
use crate::channel::{ChannelTable, Joined, Route, Target};
use crate::config::{OUTBOUND_QUEUE, WRITE_STALL_TIMEOUT};
use crate::events::RoomJoin;
use crate::events::error::ChannelError;
use crate::limits::{Bucket, Rate, Refusal};
use crate::metrics;
use crate::outbound::io::{self, SocketIo, websocket_config};
use crate::outbound::wire::{self, Opcode};
use crate::outbound::{
    ChannelRef, Inbox, OutKind, OutMessage, Outbound, Payload, SocketRef, direct_outbox,
};

/// Close codes this server uses. Never 1000 for a close the client should come back
/// from: clients before phoenix 1.8.16 then stop reconnecting.
mod close {
    /// Going away: idle timeout.
    pub const GOING_AWAY: u16 = 1001;
    /// The frame could not be decoded at all.
    pub const INVALID_DATA: u16 = 1007;
    /// The client broke a rule it was warned about (too many wrong room passwords).
    pub const POLICY: u16 = 1008;
    /// A frame over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// Server restart / shutdown: come back later.
    pub const RESTART: u16 = 1012;
}

/// Most queued frames gathered into one `writev`.
const WRITE_BATCH: usize = 64;

/// Most batches written before the task looks at the client's side again.
const BATCHES_PER_TURN: usize = 4;

/// Why the loop ended.
enum End {
    /// The server is shutting down: `server_shutdown` on every channel, then 1012.
    Shutdown,
    /// The client closed or the connection dropped; nothing more to send.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// Drop the connection without a goodbye (the client is not reading anyway).
    Abort,
}

/// What a room join's password turned out to be.
enum PasswordCheck {
    Right,
    Wrong,
    /// Wrong, and the socket's budget of wrong passwords is spent: it is closed.
    WrongTooOften,
}

struct Connection {
    app: App,
    /// The client's address (CONTRACT §8: lobbies it starts are counted against it).
    client: IpAddr,
    vsn: Vsn,
    socket: SocketRef,
    channels: ChannelTable,
    inputs: InputBudget,
    /// Lobby joins and room creations (CONTRACT §8).
    joins: Bucket,
    /// Wrong room passwords; spending the last one closes the socket.
    wrong_passwords: Bucket,
}

/// Room `input`s one socket may send per second (CONTRACT §4). Checked here, before
/// the room's mailbox, so a flooding client never takes the slots its room-mates need;
/// the excess is dropped (no reply, as for any input) and counted.
pub const MAX_INPUTS_PER_SEC: u32 = 120;

/// The socket's input count in the current one-second window.
struct InputBudget {
    window: Instant,
    used: u32,
}

impl InputBudget {
    /// Counts one input at `now`; false when the window's budget is spent.
    fn take(&mut self, now: Instant) -> bool {
        if now.duration_since(self.window) >= std::time::Duration::from_secs(1) {
            self.window = now;
            self.used = 0;
        }
        self.used += 1;
        self.used <= MAX_INPUTS_PER_SEC
    }
}

/// Runs one accepted WebSocket until it ends. `read` holds bytes the HTTP server had
/// already read past the upgrade request.
pub async fn run(stream: TcpStream, read: Vec<u8>, app: App, user: User, vsn: Vsn, client: IpAddr) {
    io::bound_kernel_buffer(&stream);
    let stream = Arc::new(stream);
    let (outbox, inbox) = direct_outbox(OUTBOUND_QUEUE, stream.clone(), vsn);
    let reader = SocketIo {
        stream: stream.clone(),
        outbox: outbox.clone(),
    };
    let mut ws =
        WebSocketStream::from_partially_read(reader, read, Role::Server, Some(websocket_config()))
            .await;
    let id = app.next_socket_id();
    let join_rate = Rate::per_second(app.limits.config().max_joins_per_socket);
    let password_rate = Rate::per_minute(app.limits.config().max_wrong_passwords_per_socket);
    let mut conn = Connection {
        client,
        socket: SocketRef {
            id,
            user: Arc::new(user),
            outbox,
        },
        app,
        vsn,
        channels: ChannelTable::default(),
        inputs: InputBudget {
            window: Instant::now(),
            used: 0,
        },
        joins: Bucket::full(join_rate, Instant::now()),
        wrong_passwords: Bucket::full(password_rate, Instant::now()),
    };
    let hot = metrics::hot();
    hot.sockets_open.increment(1.0);
    metrics::count_accepted();
    tracing::debug!(socket = id, user = %conn.socket.user.id, "socket connected");

    let shutdown = conn.app.shutdown.clone();
    // Made once: a fresh cancellation future per loop turn costs a lock per frame.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let idle_timeout = conn.app.config.idle_timeout();
    let idle = sleep_until(Instant::now() + idle_timeout);
    tokio::pin!(idle);

    let end = loop {
        tokio::select! {
            biased;
            _ = &mut cancelled => break End::Shutdown,
            _ = &mut idle => {
                metrics::count_idle_closed();
                break End::Close(close::GOING_AWAY, "idle timeout");
            }
            item = inbox.recv() => {
                // Boxed: a write is in flight briefly, while this future lives as long as
                // the socket; keeping the write's state out of it keeps idle sockets small.
                if let Err(end) = Box::pin(conn.write_queued(&stream, &inbox, item)).await {
                    break end;
                }
            }
            frame = ws.next() => {
                idle.as_mut().reset(Instant::now() + idle_timeout);
                match frame {
                    Some(Ok(message)) => {
                        if let Some(end) = conn.on_frame(message) {
                            break end;
                        }
                    }
                    Some(Err(error)) => break classify_read_error(error),
                    None => break End::Gone,
                }
            }
        }
    };

    // From here on nobody else writes: what is still owed goes before the close frame.
    let mut last = inbox.close();
    let close = match end {
        End::Shutdown => {
            last.extend(conn.goodbye_frames());
            Some(wire::close_frame(close::RESTART, "server shutting down"))
        }
        End::Close(code, reason) => Some(wire::close_frame(code, reason)),
        End::Gone | End::Abort => None,
    };
    if let Some(close) = close {
        last.push(close);
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            io::write_all(&stream, &mut last),
        )
        .await;
    }
    drop(ws);
    conn.leave_all();
    hot.sockets_open.decrement(1.0);
    tracing::debug!(socket = id, "socket closed");
}

/// Awaits a write to the client unless the client proves too slow first: its queue
/// overflowed, or the write made no progress for [`WRITE_STALL_TIMEOUT`] (a client
/// that stops reading while it is also the only producer never overflows its queue).
async fn write_or_give_up(
    write: impl Future<Output = std::io::Result<()>>,
    inbox: &Inbox,
) -> Result<(), End> {
    tokio::select! {
        result = tokio::time::timeout(WRITE_STALL_TIMEOUT, write) => match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => {
                metrics::slow_client_disconnected();
                Err(End::Abort)
            }
        },
        _ = inbox.overflowed() => {
            metrics::slow_client_disconnected();
            Err(End::Abort)
        }
    }
}

fn classify_read_error(error: WsError) -> End {
    use tokio_tungstenite::tungstenite::error::CapacityError;
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            metrics::count_malformed();
            End::Close(close::TOO_BIG, "frame too large")
        }
        WsError::Utf8(_) => End::Close(close::INVALID_DATA, "invalid utf-8"),
        _ => End::Gone,
    }
}

impl Connection {
    /// Writes `first` and whatever else is queued, a batch per `writev`, until the
    /// queue is empty (the stream then goes back to direct writers) or this turn's
    /// share is used up (the queue is still ours; the loop comes straight back).
    async fn write_queued(
        &mut self,
        stream: &TcpStream,
        inbox: &Inbox,
        first: Outbound,
    ) -> Result<(), End> {
        let mut frames = Vec::new();
        let mut item = Some(first);
        let mut batches = 0;
        loop {
            while let Some(current) = item.take() {
                if let Some(frame) = self.encode(current) {
                    frames.push(frame);
                }
                if frames.len() < WRITE_BATCH {
                    item = inbox.try_recv();
                }
            }
            write_or_give_up(io::write_all(stream, &mut frames), inbox).await?;
            batches += 1;
            // Nothing may be taken from the queue past this point unless it is written:
            // an item taken and then dropped at the end of the turn is a lost frame.
            if inbox.idle() || batches == BATCHES_PER_TURN {
                return Ok(());
            }
            item = inbox.try_recv();
        }
    }

    /// Turns a queued item into a WebSocket frame for this socket's serializer, updating
    /// the channel table for the items that concern it. None: nothing to send.
    fn encode(&mut self, item: Outbound) -> Option<Bytes> {
        let frame = match item {
            Outbound::Wire(bytes) => return Some(bytes),
            Outbound::Message(message) => self.encode_message(&message),
            Outbound::Broadcast(broadcast) => broadcast.wire(self.vsn).cloned(),
            Outbound::JoinRefused { topic, join_ref } => {
                self.channels.remove(&topic, Some(&join_ref));
                None
            }
            Outbound::ChannelCrashed { topic } => {
                let (topic, joined) = self.channels.remove(&topic, None)?;
                let payload = Payload::Json(Arc::from("{\"reason\":\"channel_crash\"}"));
                self.control_frame(&topic, &joined.join_ref, "phx_error", payload)
            }
        }?;
        let hot = metrics::hot();
        hot.frames_out.increment(1);
        hot.bytes_out.increment(frame.len() as u64);
        Some(frame)
    }

    /// `phx_close` / `phx_error`: join_ref and ref are both the channel's join_ref.
    fn control_frame(
        &self,
        topic: &Arc<str>,
        join_ref: &Arc<str>,
        event: &'static str,
        payload: Payload,
    ) -> Option<Bytes> {
        self.encode_message(&OutMessage {
            join_ref: Some(join_ref.clone()),
            msg_ref: Some(join_ref.clone()),
            topic: topic.clone(),
            kind: OutKind::Push {
                event: event.into(),
            },
            payload,
        })
    }

    fn encode_message(&self, message: &OutMessage) -> Option<Bytes> {
        let join_ref = message.join_ref.as_deref();
        let msg_ref = message.msg_ref.as_deref();
        match (&message.kind, &message.payload) {
            (OutKind::Push { event }, Payload::Json(json)) => Some(text(&phoenix::encode_text(
                self.vsn,
                join_ref,
                msg_ref,
                &message.topic,
                event,
                json,
            ))),
            (OutKind::Reply { status }, Payload::Json(json)) => Some(text(&phoenix::encode_text(
                self.vsn,
                join_ref,
                msg_ref,
                &message.topic,
                "phx_reply",
                &phoenix::reply_payload_json(status, json),
            ))),
            (_, Payload::Binary(_)) if self.vsn == Vsn::V1 => None,
            (OutKind::Push { event }, Payload::Binary(bytes)) => {
                phoenix::encode_binary_push(join_ref, &message.topic, event, bytes)
                    .ok()
                    .map(|encoded| wire::frame(Opcode::Binary, &encoded))
            }
            (OutKind::Reply { status }, Payload::Binary(bytes)) => phoenix::encode_binary_reply(
                join_ref,
                msg_ref.unwrap_or(""),
                &message.topic,
                status,
                bytes,
            )
            .ok()
            .map(|encoded| wire::frame(Opcode::Binary, &encoded)),
        }
    }

    /// Handles one frame from the client. Some(end) closes the socket.
    fn on_frame(&mut self, message: Message) -> Option<End> {
        let hot = metrics::hot();
        hot.frames_in.increment(1);
        hot.bytes_in.increment(message_len(&message) as u64);
        let decoded = match &message {
            Message::Text(text) => phoenix::decode_text(self.vsn, text.as_str()),
            Message::Binary(data) => phoenix::decode_binary(self.vsn, data),
            // tungstenite answers pings itself; a close is answered when we next write.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return None,
            Message::Close(_) => return Some(End::Gone),
        };
        match decoded {
            Ok(frame) => self.dispatch(frame),
            Err(error) => {
                metrics::count_malformed();
                // A frame whose ref and topic are readable gets an error reply; one that
                // is not even that closes the socket, as it would in Phoenix.
                if let Message::Text(text) = &message
                    && let Some((_, msg_ref, topic)) = phoenix::salvage_ref_topic(text.as_str())
                {
                    self.reply_unjoined(&topic, Some(&msg_ref), "error", &error.to_string());
                    return None;
                }
                tracing::debug!(socket = self.socket.id, %error, "undecodable frame, closing");
                Some(End::Close(close::INVALID_DATA, "malformed frame"))
            }
        }
    }

    /// Routes one client frame; Some when the socket must close because of it.
    fn dispatch(&mut self, frame: InFrame) -> Option<End> {
        match (frame.topic.as_str(), frame.event.as_str()) {
            ("phoenix", "heartbeat") => {
                self.reply_unjoined("phoenix", frame.msg_ref.as_deref(), "ok", "");
            }
            (_, "phx_join") => return self.join(frame),
            (_, "phx_leave") => self.leave(frame),
            _ => self.forward(frame),
        }
        None
    }

    /// Spends one lobby join or room creation; false (and counted) when none is left.
    fn take_join(&mut self) -> bool {
        let rate = Rate::per_second(self.app.limits.config().max_joins_per_socket);
        if self.joins.take(rate, Instant::now()).is_ok() {
            return true;
        }
        Refusal::JoinsPerSocket.count();
        false
    }

    /// Checks a room password before the room sees the join, spending from the wrong
    /// password budget when it does not open the room.
    fn check_room_password(&mut self, id: &str, password: Option<&str>) -> PasswordCheck {
        if self.app.rooms.password_ok(id, password) {
            return PasswordCheck::Right;
        }
        let rate = Rate::per_minute(self.app.limits.config().max_wrong_passwords_per_socket);
        if self.wrong_passwords.take(rate, Instant::now()).is_ok() {
            return PasswordCheck::Wrong;
        }
        Refusal::WrongRoomPasswords.count();
        PasswordCheck::WrongTooOften
    }

    fn join(&mut self, frame: InFrame) -> Option<End> {
        let Some(msg_ref) = frame.msg_ref.clone() else {
            // Without a ref no reply can reach the client; nothing else to do.
            return None;
        };
        let join_ref: Arc<str> = Arc::from(frame.join_ref.as_deref().unwrap_or(&msg_ref));
        let msg_ref: Arc<str> = Arc::from(msg_ref);
        let topic: Arc<str> = Arc::from(frame.topic.as_str());
        let Some(route) = Route::parse(&topic) else {
            let reason = ChannelError::UnmatchedTopic.reason();
            self.reply_unjoined(&topic, Some(&msg_ref), "error", reason);
            return None;
        };
        let duplicate = self.channels.get(&topic).is_some();
        let max_channels = self.app.limits.config().max_channels_per_socket as usize;
        if !duplicate && self.channels.len() >= max_channels {
            Refusal::ChannelsPerSocket.count();
            self.reply_error(&topic, &join_ref, &msg_ref, ChannelError::TooManyChannels);
            return None;
        }
        if matches!(route, Route::Lobby(_)) && !self.take_join() {
            self.reply_error(&topic, &join_ref, &msg_ref, ChannelError::RateLimited);
            return None;
        }
        let mut room_join = RoomJoin::default();
        if let Route::Room(id) = &route {
            let params = match frame.payload {
                InPayload::Json(value) => RoomJoin::decode(value),
                InPayload::Binary(_) => Err(ChannelError::BadPayload { field: None }),
            };
            room_join = match params {
                Ok(params) => params,
                Err(error) => {
                    self.reply_error(&topic, &join_ref, &msg_ref, error);
                    return None;
                }
            };
            match self.check_room_password(id, room_join.password.as_deref()) {
                PasswordCheck::Right => {}
                PasswordCheck::Wrong => {
                    self.reply_error(&topic, &join_ref, &msg_ref, ChannelError::WrongPassword);
                    return None;
                }
                PasswordCheck::WrongTooOften => {
                    self.reply_error(&topic, &join_ref, &msg_ref, ChannelError::WrongPassword);
                    return Some(End::Close(close::POLICY, "too many wrong room passwords"));
                }
            }
        }
        let target = match self.app.resolve(&route, self.client) {
            Ok(target) => target,
            Err(error) => {
                self.reply_error(&topic, &join_ref, &msg_ref, error);
                return None;
            }
        };
        // A duplicate join replaces the old channel (Phoenix never rejects it); the old
        // join_ref gets its phx_close, which the client drops by its join_ref filter.
        if duplicate && let Some((_, old)) = self.channels.remove(&topic, None) {
            old.target.leave(self.socket.id, false);
            self.push_control(&topic, &old.join_ref, "phx_close");
        }
        let chan = self.channel_ref(&topic, &join_ref);
        match target.join(chan, msg_ref.clone(), room_join) {
            Ok(()) => {
                self.channels.insert(topic, Joined { join_ref, target });
            }
            Err(_) => self.reply_error(&topic, &join_ref, &msg_ref, ChannelError::Overloaded),
        }
        None
    }

    fn leave(&mut self, frame: InFrame) {
        let topic = frame.topic.as_str();
        let msg_ref = frame.msg_ref.as_deref();
        let join_ref = frame.join_ref.as_deref();
        match self.channels.remove(topic, join_ref) {
            Some((topic, joined)) => {
                joined.target.leave(self.socket.id, true);
                if let Some(msg_ref) = msg_ref {
                    self.socket.outbox.reply(
                        &topic,
                        &joined.join_ref,
                        &Arc::from(msg_ref),
                        "ok",
                        Payload::empty(),
                    );
                }
                self.push_control(&topic, &joined.join_ref, "phx_close");
            }
            // Leaving a topic that is not joined: ok reply, no close (Phoenix does this).
            None => {
                if let Some(msg_ref) = msg_ref {
                    let join_ref: Arc<str> = Arc::from(join_ref.unwrap_or(msg_ref));
                    self.socket.outbox.reply(
                        &Arc::from(topic),
                        &join_ref,
                        &Arc::from(msg_ref),
                        "ok",
                        Payload::empty(),
                    );
                }
            }
        }
    }

    fn forward(&mut self, frame: InFrame) {
        let Some(joined) = self.channels.get(&frame.topic) else {
            self.reply_unjoined(
                &frame.topic,
                frame.msg_ref.as_deref(),
                "error",
                ChannelError::UnmatchedTopic.reason(),
            );
            return;
        };
        // A push carrying an old join_ref belongs to a channel that no longer exists
        // here: Phoenix drops it silently.
        if frame
            .join_ref
            .as_deref()
            .is_some_and(|r| r != &*joined.join_ref)
        {
            return;
        }
        let join_ref = joined.join_ref.clone();
        let target = joined.target.clone();
        let topic: Arc<str> = Arc::from(frame.topic.as_str());
        let msg_ref: Arc<str> = Arc::from(frame.msg_ref.as_deref().unwrap_or(""));
        if target.is_gone() {
            // The actor stopped and its crash notice has not reached us yet.
            self.socket.outbox.send(Outbound::ChannelCrashed { topic });
            return;
        }
        if frame.event == "input"
            && matches!(target, Target::Room(_))
            && !self.inputs.take(Instant::now())
        {
            metrics::hot().inputs_dropped.increment(1);
            return;
        }
        let creates_room = matches!(frame.event.as_str(), "create_room" | "quick_join");
        if creates_room && matches!(target, Target::Lobby(_)) && !self.take_join() {
            self.reply_error(&topic, &join_ref, &msg_ref, ChannelError::RateLimited);
            return;
        }
        let chan = self.channel_ref(&topic, &join_ref);
        if let Err(error) = target.event(chan, msg_ref.clone(), &frame.event, frame.payload) {
            self.reply_error(&topic, &join_ref, &msg_ref, error);
        }
    }

    /// `server_shutdown` on every joined channel, to go before the 1012 close.
    fn goodbye_frames(&self) -> Vec<Bytes> {
        self.channels
            .iter()
            .filter_map(|(topic, joined)| {
                self.encode_message(&OutMessage {
                    join_ref: Some(joined.join_ref.clone()),
                    msg_ref: None,
                    topic: topic.clone(),
                    kind: OutKind::Push {
                        event: "server_shutdown".into(),
                    },
                    payload: Payload::empty(),
                })
            })
            .collect()
    }

    fn leave_all(&mut self) {
        for (_, joined) in self.channels.drain() {
            joined.target.leave(self.socket.id, false);
        }
    }

    fn channel_ref(&self, topic: &Arc<str>, join_ref: &Arc<str>) -> ChannelRef {
        ChannelRef {
            socket: self.socket.clone(),
            topic: topic.clone(),
            join_ref: join_ref.clone(),
        }
    }

    fn reply_error(
        &self,
        topic: &Arc<str>,
        join_ref: &Arc<str>,
        msg_ref: &Arc<str>,
        error: ChannelError,
    ) {
        self.socket.outbox.reply(
            topic,
            join_ref,
            msg_ref,
            "error",
            Payload::json(&error.response()),
        );
    }

    /// A reply whose join_ref is null: heartbeats, unmatched topics, undecodable frames.
    /// An empty `reason` means an empty response object.
    fn reply_unjoined(
        &self,
        topic: &str,
        msg_ref: Option<&str>,
        status: &'static str,
        reason: &str,
    ) {
        let Some(msg_ref) = msg_ref else { return };
        let response = if reason.is_empty() {
            Payload::empty()
        } else {
            Payload::json(&serde_json::json!({ "reason": reason }))
        };
        self.socket
            .outbox
            .send(Outbound::Message(Box::new(OutMessage {
                join_ref: None,
                msg_ref: Some(Arc::from(msg_ref)),
                topic: Arc::from(topic),
                kind: OutKind::Reply { status },
                payload: response,
            })));
    }

    /// Queues `phx_close`/`phx_error` for a channel this socket already forgot.
    fn push_control(&self, topic: &Arc<str>, join_ref: &Arc<str>, event: &'static str) {
        self.socket
            .outbox
            .send(Outbound::Message(Box::new(OutMessage {
                join_ref: Some(join_ref.clone()),
                msg_ref: Some(join_ref.clone()),
                topic: topic.clone(),
                kind: OutKind::Push {
                    event: event.into(),
                },
                payload: Payload::empty(),
            })));
    }
}

fn text(s: &str) -> Bytes {
    wire::frame(Opcode::Text, s.as_bytes())
}

fn message_len(message: &Message) -> usize {
    match message {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        Message::Ping(b) | Message::Pong(b) => b.len(),
        Message::Close(_) | Message::Frame(_) => 0,
    }
}
