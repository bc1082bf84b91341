//! What every transport of a socket shares: the channel table, the client's budgets
//! and the routing of client frames to actors.
//!
//! A [`Session`] is driven by one task per socket — the WebSocket connection task or the
//! long-poll session task — which feeds it decoded client frames and asks it what each
//! queued [`Outbound`] item means for this socket. How frames are framed and written is
//! the transport's business. Client budgets that belong to one socket (channels, lobby
//! joins and room creations, inputs) are kept and checked here, before any actor sees
//! the frame; wrong room passwords are checked here against the user's and address's
//! budgets in `Limits`, which outlive the socket.
//!
//! Invariant: nothing here waits on an actor. Commands to actors are `try_send`; a busy
//! actor yields an `overloaded` error reply, never a stalled socket.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use kurve_shared::phoenix::{self, InFrame, InPayload, Vsn};
use tokio::time::Instant;

use super::channels::{ChannelTable, Joined};
use super::route::{self, Route};
use crate::actor::ChannelKind;
use crate::app::App;
use crate::auth::User;
use crate::limits::{Bucket, Rate, Refusal};
use crate::metrics;
use crate::outbound::{
    Broadcast, ChannelRef, OutKind, OutMessage, Outbound, Outbox, Payload, SocketRef,
};
use crate::protocol::RoomJoin;
use crate::protocol::error::ChannelError;

/// Close codes this server uses. Never 1000 for a close the client should come back
/// from: clients before phoenix 1.8.16 then stop reconnecting.
pub mod close {
    /// Going away: idle timeout.
    pub const GOING_AWAY: u16 = 1001;
    /// The frame could not be decoded at all.
    pub const INVALID_DATA: u16 = 1007;
    /// A frame over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// Server restart / shutdown: come back later.
    pub const RESTART: u16 = 1012;
}

/// Why a socket ends.
pub enum End {
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
    /// Not looked at: the user's (or its address's) budget of wrong passwords for
    /// rooms is spent (CONTRACT §8).
    TooOften,
}

/// What a queued item comes to for this socket, for its transport to encode.
pub enum Outgoing {
    /// A reply or push to this socket.
    Message(Box<OutMessage>),
    /// A broadcast: the transport takes its shared encoding.
    Broadcast(Arc<Broadcast>),
    /// Bytes already framed for a WebSocket.
    Wire(Bytes),
}

pub struct Session {
    app: App,
    /// The client's address (CONTRACT §8: lobbies it starts are counted against it).
    client: IpAddr,
    vsn: Vsn,
    socket: SocketRef,
    channels: ChannelTable,
    inputs: InputBudget,
    /// Lobby joins and room creations (CONTRACT §8).
    joins: Bucket,
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

impl Drop for Session {
    fn drop(&mut self) {
        self.app.users.remove(&self.socket.user.id);
    }
}

impl Session {
    /// A new socket of `user`, answered through `outbox`.
    pub fn new(app: App, user: User, vsn: Vsn, client: IpAddr, outbox: Outbox) -> Session {
        let join_rate = Rate::per_second(app.limits.config().max_joins_per_socket);
        let now = Instant::now();
        app.users.add(&user.id);
        Session {
            client,
            socket: SocketRef {
                id: app.next_socket_id(),
                user: Arc::new(user),
                outbox,
            },
            app,
            vsn,
            channels: ChannelTable::default(),
            inputs: InputBudget {
                window: now,
                used: 0,
            },
            joins: Bucket::full(join_rate, now),
        }
    }

    /// The socket as actors see it.
    pub fn socket(&self) -> &SocketRef {
        &self.socket
    }

    /// The serializer this socket speaks.
    pub fn vsn(&self) -> Vsn {
        self.vsn
    }

    /// Handles one text frame from the client. Some(end) ends the socket.
    pub fn on_text(&mut self, text: &str) -> Option<End> {
        count_in(text.len());
        match phoenix::decode_text(self.vsn, text) {
            Ok(frame) => self.dispatch(frame),
            Err(error) => {
                metrics::count_malformed();
                // A frame whose ref and topic are readable gets an error reply; one that
                // is not even that closes the socket, as it would in Phoenix.
                if let Some((_, msg_ref, topic)) = phoenix::salvage_ref_topic(text) {
                    self.reply_unjoined(&topic, Some(&msg_ref), "error", &error.to_string());
                    return None;
                }
                tracing::debug!(socket = self.socket.id, %error, "undecodable frame, closing");
                Some(End::Close(close::INVALID_DATA, "malformed frame"))
            }
        }
    }

    /// Handles one binary frame from the client. Some(end) ends the socket.
    pub fn on_binary(&mut self, data: &[u8]) -> Option<End> {
        count_in(data.len());
        match phoenix::decode_binary(self.vsn, data) {
            Ok(frame) => self.dispatch(frame),
            Err(error) => {
                metrics::count_malformed();
                tracing::debug!(socket = self.socket.id, %error, "undecodable frame, closing");
                Some(End::Close(close::INVALID_DATA, "malformed frame"))
            }
        }
    }

    /// What a queued item comes to, updating the channel table for the items that
    /// concern it. None: nothing to send.
    pub fn take(&mut self, item: Outbound) -> Option<Outgoing> {
        match item {
            Outbound::Wire(bytes) => Some(Outgoing::Wire(bytes)),
            Outbound::Message(message) => Some(Outgoing::Message(message)),
            Outbound::Broadcast(broadcast) => Some(Outgoing::Broadcast(broadcast)),
            Outbound::JoinRefused { topic, join_ref } => {
                self.channels.remove(&topic, Some(&join_ref));
                None
            }
            Outbound::ChannelClosed { topic, join_ref } => {
                let (topic, joined) = self.channels.remove(&topic, Some(&join_ref))?;
                Some(Outgoing::Message(Box::new(control(
                    &topic,
                    &joined.join_ref,
                    "phx_close",
                    Payload::empty(),
                ))))
            }
            Outbound::Resync { topic } => {
                self.resync(&topic);
                None
            }
            Outbound::ChannelCrashed { topic } => {
                let (topic, joined) = self.channels.remove(&topic, None)?;
                let payload = Payload::Json(Arc::from("{\"reason\":\"channel_crash\"}"));
                Some(Outgoing::Message(Box::new(control(
                    &topic,
                    &joined.join_ref,
                    "phx_error",
                    payload,
                ))))
            }
        }
    }

    /// `server_shutdown` on every joined channel, to go before the socket ends.
    pub fn goodbye(&self) -> Vec<OutMessage> {
        self.channels
            .iter()
            .map(|(topic, joined)| OutMessage {
                join_ref: Some(joined.join_ref.clone()),
                msg_ref: None,
                topic: topic.clone(),
                kind: OutKind::Push {
                    event: "server_shutdown".into(),
                },
                payload: Payload::empty(),
                resets: false,
            })
            .collect()
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

    /// Checks a room password before the room sees the join. The wrong-password budgets
    /// are the user's and its address's, over all sockets (`Limits`), and are checked
    /// before the password is, so a guesser gains nothing by reconnecting.
    fn check_room_password(&mut self, id: &str, password: Option<&str>) -> PasswordCheck {
        if !self.app.rooms.has_password(id) {
            return PasswordCheck::Right;
        }
        let limits = &self.app.limits;
        let user = self.socket.user.id.as_str();
        if limits.room_password_try(id, user, self.client).is_err() {
            return PasswordCheck::TooOften;
        }
        if self.app.rooms.password_ok(id, password) {
            return PasswordCheck::Right;
        }
        limits.wrong_room_password(id, user, self.client);
        PasswordCheck::Wrong
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
        // Lobbies and replays start an actor on a join: both spend the join budget.
        if matches!(route, Route::Lobby(_) | Route::Replay(_)) && !self.take_join() {
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
                PasswordCheck::TooOften => {
                    self.reply_error(&topic, &join_ref, &msg_ref, ChannelError::RateLimited);
                    return None;
                }
            }
        }
        // A replay channel holds a slot of its user's and address's budgets (CONTRACT
        // §8); a duplicate join keeps the one its predecessor held.
        let replay_slot = match (&route, self.channels.get(&topic)) {
            (Route::Replay(_), Some(old)) => old.replay_slot.clone(),
            (Route::Replay(_), _) => {
                match self
                    .app
                    .limits
                    .open_replay(&self.socket.user.id, self.client)
                {
                    Ok(slot) => Some(Arc::new(slot)),
                    Err(_) => {
                        let error = ChannelError::TooManyReplays;
                        self.reply_error(&topic, &join_ref, &msg_ref, error);
                        return None;
                    }
                }
            }
            _ => None,
        };
        let target = match route::resolve(&self.app, &route, self.client) {
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
                let joined = Joined {
                    join_ref,
                    target,
                    replay_slot,
                };
                self.channels.insert(topic, joined);
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
            && target.kind() == ChannelKind::Room
            && !self.inputs.take(Instant::now())
        {
            metrics::hot().inputs_dropped.increment(1);
            return;
        }
        let creates_room = matches!(frame.event.as_str(), "create_room" | "quick_join");
        if creates_room && target.kind() == ChannelKind::Lobby && !self.take_join() {
            self.reply_error(&topic, &join_ref, &msg_ref, ChannelError::RateLimited);
            return;
        }
        let chan = self.channel_ref(&topic, &join_ref);
        if let Err(error) = target.event(chan, msg_ref.clone(), &frame.event, frame.payload) {
            self.reply_error(&topic, &join_ref, &msg_ref, error);
        }
    }

    /// Leaves every channel: the socket is gone.
    pub fn leave_all(&mut self) {
        for (_, joined) in self.channels.drain() {
            joined.target.leave(self.socket.id, false);
        }
    }

    /// The socket drained while `topic` lagged: its actor sends a fresh snapshot, which
    /// ends the lag. A channel no longer joined, or an actor with nothing to resend,
    /// ends it at once.
    fn resync(&self, topic: &Arc<str>) {
        let Some(joined) = self.channels.get(topic) else {
            self.socket.outbox.end_lag(topic);
            return;
        };
        let chan = self.channel_ref(topic, &joined.join_ref);
        if joined.target.resync(chan) {
            metrics::hot().resyncs.increment(1);
        } else {
            self.socket.outbox.end_lag(topic);
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
                resets: false,
            })));
    }

    /// Queues `phx_close`/`phx_error` for a channel this socket already forgot.
    fn push_control(&self, topic: &Arc<str>, join_ref: &Arc<str>, event: &'static str) {
        let message = control(topic, join_ref, event, Payload::empty());
        self.socket
            .outbox
            .send(Outbound::Message(Box::new(message)));
    }
}

/// `phx_close` / `phx_error`: join_ref and ref are both the channel's join_ref.
fn control(
    topic: &Arc<str>,
    join_ref: &Arc<str>,
    event: &'static str,
    payload: Payload,
) -> OutMessage {
    OutMessage {
        join_ref: Some(join_ref.clone()),
        msg_ref: Some(join_ref.clone()),
        topic: topic.clone(),
        kind: OutKind::Push {
            event: event.into(),
        },
        payload,
        resets: false,
    }
}

fn count_in(bytes: usize) {
    let hot = metrics::hot();
    hot.frames_in.increment(1);
    hot.bytes_in.increment(bytes as u64);
}

#[cfg(test)]
mod tests;
