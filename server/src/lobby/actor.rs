//! The lobby actor: members, presence with status, chat, and the room list.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kurve_shared::lobby::{ChatIn, ChatOut, LobbyJoined, PublicUser, RoomSummary, Status};
use kurve_shared::phoenix::InPayload;
use serde::ser::SerializeStruct;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{Lobbies, LobbyDeps, LobbyHandle, MAIN};
use crate::actor::MailboxReceiver;
use crate::config::{CHAT_BURST, CHAT_MAX_CHARS, CHAT_WINDOW, EMPTY_LOBBY_TTL, PRESENCE_FLUSH};
use crate::presence::{MetaFields, Presence};
use crate::pubsub::Broadcast;
use crate::socket::outbound::{ChannelRef, Payload, SocketId};

/// Commands a lobby understands.
#[derive(Debug)]
pub enum LobbyCommand {
    /// A socket joins; the lobby replies to `msg_ref` and pushes `presence_state`.
    Join { chan: ChannelRef, msg_ref: Arc<str> },
    /// A socket left (or dropped). Never refused, see [`crate::actor`].
    Leave { socket: SocketId },
    /// A client event on the lobby channel.
    Event {
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: String,
        payload: InPayload,
    },
    /// A member's status changed (joined or left a room).
    SetStatus {
        socket: SocketId,
        status: Status,
        room_id: Option<Arc<str>>,
    },
    /// The public rooms, for `GET /api/rooms`.
    Rooms {
        reply: oneshot::Sender<Vec<RoomSummary>>,
    },
}

/// A lobby presence meta: `{"name", "status", "room_id"?}`.
#[derive(Debug, Clone, PartialEq)]
struct LobbyMeta {
    name: Arc<str>,
    status: Status,
    room_id: Option<Arc<str>>,
}

impl MetaFields for LobbyMeta {
    const FIELDS: usize = 3;
    fn serialize_fields<S: SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error> {
        s.serialize_field("name", &*self.name)?;
        s.serialize_field("status", &self.status)?;
        if let Some(room_id) = &self.room_id {
            s.serialize_field("room_id", &**room_id)?;
        }
        Ok(())
    }
}

struct Member {
    chan: ChannelRef,
    phx_ref: Arc<str>,
}

struct Lobby {
    name: Arc<str>,
    topic: Arc<str>,
    deps: LobbyDeps,
    presence: Presence<LobbyMeta>,
    members: HashMap<SocketId, Member>,
    /// Times of each user's recent chat messages, for the rate limit.
    chat_times: HashMap<Arc<str>, VecDeque<Instant>>,
    rooms: Vec<RoomSummary>,
    /// When the pending presence changes go out.
    flush_at: Option<Instant>,
    /// Since when the lobby has had no members (None while it has some).
    empty_since: Option<Instant>,
}

pub(super) async fn run(
    name: Arc<str>,
    mut inbox: MailboxReceiver<LobbyCommand>,
    deps: LobbyDeps,
    cancel: CancellationToken,
    lobbies: Lobbies,
    handle: Option<LobbyHandle>,
) {
    let topic: Arc<str> = Arc::from(format!("lobby:{name}"));
    tracing::info!(lobby = %name, "lobby started");
    let mut lobby = Lobby {
        name: name.clone(),
        topic,
        deps,
        presence: Presence::new(),
        members: HashMap::new(),
        chat_times: HashMap::new(),
        rooms: Vec::new(),
        flush_at: None,
        empty_since: Some(Instant::now()),
    };
    let far = Instant::now() + std::time::Duration::from_secs(86_400 * 365);
    loop {
        let flush_at = lobby.flush_at.unwrap_or(far);
        let expire_at = match lobby.empty_since {
            Some(since) if &*name != MAIN => since + EMPTY_LOBBY_TTL,
            _ => far,
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            command = inbox.recv() => match command {
                Some(command) => lobby.handle(command),
                None => break,
            },
            _ = sleep_until(flush_at) => lobby.flush(),
            _ = sleep_until(expire_at) => {
                // Leave the table first, so no new joiner finds this lobby, then answer
                // whatever reached the mailbox in between.
                if let Some(handle) = &handle {
                    lobbies.forget(handle);
                }
                inbox.close();
                while let Some(command) = inbox.try_recv() {
                    lobby.refuse_after_close(command);
                }
                tracing::info!(lobby = %name, "empty lobby stopped");
                break;
            }
        }
    }
    lobby.flush();
}

impl Lobby {
    fn handle(&mut self, command: LobbyCommand) {
        match command {
            LobbyCommand::Join { chan, msg_ref } => self.join(chan, msg_ref),
            LobbyCommand::Leave { socket } => self.leave(socket),
            LobbyCommand::Event {
                chan,
                msg_ref,
                event,
                payload,
            } => self.event(chan, msg_ref, &event, payload),
            LobbyCommand::SetStatus {
                socket,
                status,
                room_id,
            } => self.set_status(socket, status, room_id),
            LobbyCommand::Rooms { reply } => {
                let _ = reply.send(self.public_rooms());
            }
        }
    }

    fn join(&mut self, chan: ChannelRef, msg_ref: Arc<str>) {
        let socket = chan.socket.id;
        if self.members.contains_key(&socket) {
            self.leave(socket);
        }
        let user = chan.socket.user.clone();
        let phx_ref = self.presence.track(
            &user.id,
            LobbyMeta {
                name: Arc::from(user.name.as_str()),
                status: Status::Lobby,
                room_id: None,
            },
        );
        chan.reply(
            &msg_ref,
            "ok",
            Payload::json(&LobbyJoined {
                rooms: self.public_rooms(),
            }),
        );
        // The JS Presence holds back diffs until it has a state for the current join.
        chan.push("presence_state", Payload::Json(self.presence.state_json()));
        self.deps
            .pubsub
            .subscribe(&self.topic, socket, chan.socket.outbox.clone());
        self.members.insert(socket, Member { chan, phx_ref });
        self.empty_since = None;
        self.schedule_flush();
    }

    fn leave(&mut self, socket: SocketId) {
        let Some(member) = self.members.remove(&socket) else {
            return;
        };
        self.deps.pubsub.unsubscribe(&self.topic, socket);
        let user_id = &member.chan.socket.user.id;
        self.presence.untrack(user_id, &member.phx_ref);
        if self.presence.get(user_id).is_none() {
            self.chat_times.remove(user_id.as_str());
        }
        if self.members.is_empty() {
            self.empty_since = Some(Instant::now());
        }
        self.schedule_flush();
    }

    fn set_status(&mut self, socket: SocketId, status: Status, room_id: Option<Arc<str>>) {
        let Some(member) = self.members.get_mut(&socket) else {
            return;
        };
        let user = &member.chan.socket.user;
        let meta = LobbyMeta {
            name: Arc::from(user.name.as_str()),
            status,
            room_id,
        };
        if let Some(new_ref) = self.presence.update(&user.id, &member.phx_ref, meta) {
            member.phx_ref = new_ref;
            self.schedule_flush();
        }
    }

    fn event(&mut self, chan: ChannelRef, msg_ref: Arc<str>, event: &str, payload: InPayload) {
        match event {
            "chat" => self.chat(&chan, &msg_ref, payload),
            "create_room" | "quick_join" => {
                chan.reply_error(&msg_ref, "not_implemented");
            }
            "debug_crash" if self.deps.test_hooks => {
                panic!("debug_crash requested on lobby:{}", self.name);
            }
            _ => {
                chan.reply_error(&msg_ref, "unknown_event");
            }
        }
    }

    fn chat(&mut self, chan: &ChannelRef, msg_ref: &Arc<str>, payload: InPayload) {
        let body = match payload {
            InPayload::Json(value) => serde_json::from_value::<ChatIn>(value).ok(),
            InPayload::Binary(_) => None,
        };
        let Some(ChatIn { body }) = body else {
            metrics::counter!(crate::metrics::CHAT_REFUSED, "reason" => "bad_payload").increment(1);
            chan.reply_error(msg_ref, "invalid_body");
            return;
        };
        let body = body.trim();
        let chars = body.chars().count();
        if chars == 0 || chars > CHAT_MAX_CHARS {
            metrics::counter!(crate::metrics::CHAT_REFUSED, "reason" => "length").increment(1);
            chan.reply_error(msg_ref, "invalid_body");
            return;
        }
        let user = &chan.socket.user;
        let now = Instant::now();
        let times = self
            .chat_times
            .entry(Arc::from(user.id.as_str()))
            .or_default();
        while times.front().is_some_and(|t| now - *t >= CHAT_WINDOW) {
            times.pop_front();
        }
        if times.len() >= CHAT_BURST as usize {
            metrics::counter!(crate::metrics::CHAT_REFUSED, "reason" => "rate").increment(1);
            chan.reply_error(msg_ref, "rate_limited");
            return;
        }
        times.push_back(now);
        let message = ChatOut {
            user: PublicUser {
                id: user.id.clone(),
                name: user.name.clone(),
            },
            body: body.to_owned(),
            at: unix_millis(),
        };
        chan.reply(msg_ref, "ok", Payload::empty());
        self.deps.pubsub.broadcast(Broadcast::new(
            self.topic.clone(),
            "chat",
            Payload::json(&message),
        ));
        metrics::counter!(crate::metrics::CHAT_MESSAGES).increment(1);
    }

    fn public_rooms(&self) -> Vec<RoomSummary> {
        self.rooms.iter().filter(|r| !r.private).cloned().collect()
    }

    fn schedule_flush(&mut self) {
        if self.flush_at.is_none() {
            self.flush_at = Some(Instant::now() + PRESENCE_FLUSH);
        }
    }

    /// Sends the gathered presence changes as one `presence_diff`.
    fn flush(&mut self) {
        self.flush_at = None;
        if let Some(diff) = self.presence.flush() {
            self.deps.pubsub.broadcast(Broadcast::new(
                self.topic.clone(),
                "presence_diff",
                Payload::Json(Arc::from(diff)),
            ));
            metrics::counter!(crate::metrics::PRESENCE_DIFFS).increment(1);
        }
        metrics::gauge!(crate::metrics::PRESENCE_SESSIONS, "lobby" => self.name.to_string())
            .set(self.presence.sessions() as f64);
    }

    /// Answers a command that reached a lobby after it decided to stop.
    fn refuse_after_close(&mut self, command: LobbyCommand) {
        match command {
            LobbyCommand::Join { chan, msg_ref } => chan.refuse_join(&msg_ref, "lobby_restarting"),
            LobbyCommand::Event { chan, msg_ref, .. } => {
                chan.reply_error(&msg_ref, "lobby_restarting");
            }
            LobbyCommand::Leave { socket } => self.leave(socket),
            LobbyCommand::SetStatus { .. } => {}
            LobbyCommand::Rooms { reply } => {
                let _ = reply.send(Vec::new());
            }
        }
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
