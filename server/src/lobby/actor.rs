//! The lobby actor: members, presence with status, chat, and the room list.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kurve_shared::lobby::{ChatIn, ChatOut, LobbyJoined, PublicUser, RoomSummary, Status};
use kurve_shared::room::{DEFAULT_GAME, GameInfo, RoomCreated, default_game};
use serde::ser::SerializeStruct;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::replica::{Change, Tracked};
use super::rooms::{CreateError, MAX_PASSWORD, MAX_ROOM_NAME, RemoteCreate, RoomSpec};
use super::{Lobbies, LobbyDeps, LobbyHandle, MAIN};
use crate::auth::User;
use crate::auth::names::clean_text;
use crate::config::{
    CHAT_BURST, CHAT_MAX_CHARS, CHAT_WINDOW, EMPTY_LOBBY_TTL, presence_flush_window,
};
use crate::mailbox::MailboxReceiver;
use crate::outbound::{ChannelRef, Payload, SocketId};
use crate::presence::{Meta, MetaFields, Presence};
use crate::protocol::error::ChannelError;
use crate::protocol::{CreateRoom, LobbyEvent, QuickJoin};
use crate::pubsub::Broadcast;

/// Commands a lobby understands.
#[derive(Debug)]
pub enum LobbyCommand {
    /// A socket joins; the lobby replies to `msg_ref` and pushes `presence_state`.
    Join { chan: ChannelRef, msg_ref: Arc<str> },
    /// A socket left (or dropped). Never refused, see [`crate::mailbox`].
    Leave { socket: SocketId },
    /// A member's socket fell behind and drained: it gets the room list and
    /// `presence_state` afresh. Never refused.
    Resync { chan: ChannelRef },
    /// A client event on the lobby channel.
    Event {
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: LobbyEvent,
    },
    /// Rooms of this lobby were added, changed or removed; the listing is sent at the
    /// next flush.
    ListingChanged,
    /// A user's status changed (joined or left a room): every session of theirs.
    SetStatus {
        user_id: Arc<str>,
        status: Status,
        room_id: Option<Arc<str>>,
    },
    /// Sessions on other nodes joined or left this lobby.
    Remote(Vec<Change>),
}

/// A lobby presence meta: `{"name", "status", "room_id"?}`.
#[derive(Debug, Clone, PartialEq)]
struct LobbyMeta {
    name: Arc<str>,
    status: Status,
    room_id: Option<Arc<str>>,
}

/// A lobby meta as it crosses nodes (the app's fields of the presence meta).
#[derive(serde::Serialize, serde::Deserialize)]
struct LobbyMetaWire {
    name: String,
    status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room_id: Option<String>,
}

impl LobbyMeta {
    fn to_wire(&self) -> Box<str> {
        let wire = LobbyMetaWire {
            name: self.name.to_string(),
            status: self.status,
            room_id: self.room_id.as_deref().map(str::to_owned),
        };
        // Serializing a struct of strings cannot fail.
        serde_json::to_string(&wire).unwrap_or_default().into()
    }

    fn from_wire(value: &str) -> Option<LobbyMeta> {
        let wire: LobbyMetaWire = serde_json::from_str(value).ok()?;
        Some(LobbyMeta {
            name: Arc::from(wire.name),
            status: wire.status,
            room_id: wire.room_id.map(Arc::from),
        })
    }
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
    /// Each user's sockets here, so a status change touches only that user's sessions.
    sockets_of: HashMap<Arc<str>, Vec<SocketId>>,
    /// The public rooms as members last heard of them, by id.
    listed: BTreeMap<String, RoomSummary>,
    /// Times of each user's recent chat messages, for the rate limit.
    chat_times: HashMap<Arc<str>, VecDeque<Instant>>,
    /// This lobby's share of the presence sessions gauge.
    sessions_gauge: SessionsGauge,
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
    handle: LobbyHandle,
) {
    let topic: Arc<str> = Arc::from(format!("lobby:{name}"));
    tracing::info!(lobby = %name, "lobby started");
    let mut lobby = Lobby {
        name: name.clone(),
        topic,
        deps,
        presence: Presence::new(),
        members: HashMap::new(),
        sockets_of: HashMap::new(),
        listed: BTreeMap::new(),
        sessions_gauge: SessionsGauge::default(),
        chat_times: HashMap::new(),
        flush_at: None,
        empty_since: Some(Instant::now()),
    };
    lobby.start_presence();
    // A restarted lobby starts from the room table as it is now.
    let rooms = lobby.deps.rooms.clone();
    rooms.take_listing_change(&lobby.name);
    lobby.listed = rooms
        .list(&lobby.name)
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
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
                Some(command) => lobby.handle(command).await,
                None => break,
            },
            _ = sleep_until(flush_at) => lobby.flush().await,
            _ = sleep_until(expire_at) => {
                // Leave the table first, so no new joiner finds this lobby, then answer
                // whatever reached the mailbox in between.
                lobbies.forget(&name, &handle);
                inbox.close();
                while let Some(command) = inbox.try_recv() {
                    lobby.refuse_after_close(command);
                }
                tracing::info!(lobby = %name, "empty lobby stopped");
                break;
            }
        }
    }
    lobby.flush().await;
}

impl Lobby {
    async fn handle(&mut self, command: LobbyCommand) {
        match command {
            LobbyCommand::Join { chan, msg_ref } => self.join(chan, msg_ref).await,
            LobbyCommand::Leave { socket } => self.leave(socket),
            LobbyCommand::Resync { chan } => self.resync(&chan),
            LobbyCommand::ListingChanged => self.schedule_flush(),
            LobbyCommand::Event {
                chan,
                msg_ref,
                event,
            } => self.event(chan, msg_ref, event),
            LobbyCommand::SetStatus {
                user_id,
                status,
                room_id,
            } => self.set_status(&user_id, status, room_id),
            LobbyCommand::Remote(changes) => self.remote(changes),
        }
    }

    /// This lobby's local sessions start from none (a restarted lobby's members
    /// rejoin), and the other nodes' sessions are taken as they are now (none on a
    /// single node).
    fn start_presence(&mut self) {
        let presence = self.deps.presence.clone();
        presence.reset(&self.topic);
        let entries = presence.remote(&self.topic);
        if !entries.is_empty() {
            self.remote(entries.into_iter().map(Change::Join).collect());
        }
    }

    /// Sessions of other nodes joined or left.
    fn remote(&mut self, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::Join(tracked) => {
                    let Some(data) = LobbyMeta::from_wire(&tracked.meta) else {
                        continue;
                    };
                    self.presence.insert(
                        &tracked.key,
                        Meta {
                            phx_ref: tracked.phx_ref,
                            phx_ref_prev: tracked.phx_ref_prev,
                            data,
                        },
                    );
                }
                Change::Leave { key, phx_ref, .. } => {
                    self.presence.untrack(&key, &phx_ref);
                }
            }
        }
        self.schedule_flush();
    }

    /// Tells the other nodes of a local session.
    fn share_join(&self, key: &str, phx_ref: &Arc<str>, prev: Option<Arc<str>>, meta: &LobbyMeta) {
        self.deps.presence.track(Tracked {
            topic: self.topic.clone(),
            key: Arc::from(key),
            phx_ref: phx_ref.clone(),
            phx_ref_prev: prev,
            meta: meta.to_wire(),
        });
    }

    fn share_leave(&self, key: &str, phx_ref: &Arc<str>) {
        self.deps
            .presence
            .untrack(&self.topic, &Arc::from(key), phx_ref);
    }

    async fn join(&mut self, chan: ChannelRef, msg_ref: Arc<str>) {
        let socket = chan.socket.id;
        if self.members.contains_key(&socket) {
            self.leave(socket);
        }
        let user = chan.socket.user.clone();
        let meta = LobbyMeta {
            name: Arc::from(user.name.as_str()),
            status: Status::Lobby,
            room_id: None,
        };
        // The operator watches without being listed: no presence, here or on other nodes.
        let phx_ref: Arc<str> = if user.is_operator() {
            Arc::from("")
        } else {
            let phx_ref = self.presence.track(&user.id, meta.clone());
            self.share_join(&user.id, &phx_ref, None, &meta);
            phx_ref
        };
        // Bring the listing up to date for those already here (paced, as a flush is),
        // then subscribe the joiner and give it the listing: every later change reaches
        // it as an event.
        let mut changes = Vec::new();
        self.listing_changes(&mut changes);
        self.deps
            .pubsub
            .broadcast_local_paced(&self.topic, changes)
            .await;
        self.deps
            .pubsub
            .subscribe(&self.topic, socket, chan.socket.outbox.clone());
        chan.reply(
            &msg_ref,
            "ok",
            Payload::json(&LobbyJoined {
                rooms: self.listed.values().cloned().collect(),
            }),
        );
        // The JS Presence holds back diffs until it has a state for the current join.
        chan.push_reset("presence_state", Payload::Json(self.presence.state_json()));
        self.sockets_of
            .entry(Arc::from(user.id.as_str()))
            .or_default()
            .push(socket);
        self.members.insert(socket, Member { chan, phx_ref });
        self.empty_since = None;
        self.schedule_flush();
    }

    /// What a member that missed listing changes and presence diffs needs to be
    /// current again: the listing as last sent to everyone (changes not flushed yet
    /// follow as events) and the presence state, which the official `Presence` takes
    /// as a reset.
    fn resync(&mut self, chan: &ChannelRef) {
        if !self.members.contains_key(&chan.socket.id) {
            chan.socket.outbox.end_lag(&chan.topic);
            return;
        }
        chan.push_reset(
            "rooms",
            Payload::json(&LobbyJoined {
                rooms: self.listed.values().cloned().collect(),
            }),
        );
        chan.push_reset("presence_state", Payload::Json(self.presence.state_json()));
    }

    fn leave(&mut self, socket: SocketId) {
        let Some(member) = self.members.remove(&socket) else {
            return;
        };
        self.deps.pubsub.unsubscribe(&self.topic, socket);
        let user_id = &member.chan.socket.user.id;
        if let Some(sockets) = self.sockets_of.get_mut(user_id.as_str()) {
            sockets.retain(|s| *s != socket);
            if sockets.is_empty() {
                self.sockets_of.remove(user_id.as_str());
            }
        }
        if !member.chan.socket.user.is_operator() {
            self.presence.untrack(user_id, &member.phx_ref);
            self.share_leave(user_id, &member.phx_ref);
        }
        if self.presence.get(user_id).is_none() {
            self.chat_times.remove(user_id.as_str());
        }
        if self.members.is_empty() {
            self.empty_since = Some(Instant::now());
        }
        self.schedule_flush();
    }

    fn set_status(&mut self, user_id: &str, status: Status, room_id: Option<Arc<str>>) {
        let mut changed = false;
        let sockets = self.sockets_of.get(user_id).map_or(&[][..], Vec::as_slice);
        let mut shared = Vec::new();
        for socket in sockets {
            let Some(member) = self.members.get_mut(socket) else {
                continue;
            };
            let user = &member.chan.socket.user;
            let meta = LobbyMeta {
                name: Arc::from(user.name.as_str()),
                status,
                room_id: room_id.clone(),
            };
            if let Some(new_ref) = self.presence.update(user_id, &member.phx_ref, meta.clone()) {
                let old_ref = std::mem::replace(&mut member.phx_ref, new_ref.clone());
                shared.push((old_ref, new_ref, meta));
                changed = true;
            }
        }
        for (old_ref, new_ref, meta) in shared {
            self.share_leave(user_id, &old_ref);
            self.share_join(user_id, &new_ref, Some(old_ref), &meta);
        }
        if changed {
            self.schedule_flush();
        }
    }

    fn event(&mut self, chan: ChannelRef, msg_ref: Arc<str>, event: LobbyEvent) {
        let result = match event {
            LobbyEvent::Chat(chat) => self.chat(&chan, &msg_ref, chat),
            LobbyEvent::CreateRoom(request) => self.create_room(&chan, &msg_ref, request),
            LobbyEvent::QuickJoin(request) => self.quick_join(&chan, &msg_ref, request),
            LobbyEvent::DebugCrash if self.deps.test_hooks => {
                panic!("debug_crash requested on lobby:{}", self.name);
            }
            LobbyEvent::DebugCrash => Err(ChannelError::UnknownEvent),
        };
        if let Err(error) = result {
            chan.reply_error(&msg_ref, error);
        }
    }

    fn quick_join(
        &mut self,
        chan: &ChannelRef,
        msg_ref: &Arc<str>,
        request: QuickJoin,
    ) -> Result<(), ChannelError> {
        let game = request.game.unwrap_or_else(default_game);
        if self.deps.rooms.game(&game).is_none() {
            return Err(ChannelError::InvalidRoom);
        }
        let creator = Arc::from(chan.socket.user.id.as_str());
        let placed = self
            .deps
            .rooms
            .quick_join(&self.name, &game, Some(creator))?;
        reply_room_id(chan, msg_ref, placed);
        Ok(())
    }

    fn chat(
        &mut self,
        chan: &ChannelRef,
        msg_ref: &Arc<str>,
        ChatIn { body }: ChatIn,
    ) -> Result<(), ChannelError> {
        let body = clean_text(&body);
        let body = body.trim();
        let chars = body.chars().count();
        if chars == 0 || chars > CHAT_MAX_CHARS {
            metrics::counter!(crate::metrics::CHAT_REFUSED, "reason" => "length").increment(1);
            return Err(ChannelError::InvalidBody);
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
            return Err(ChannelError::RateLimited);
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
        Ok(())
    }

    fn create_room(
        &mut self,
        chan: &ChannelRef,
        msg_ref: &Arc<str>,
        request: CreateRoom,
    ) -> Result<(), ChannelError> {
        let game = request
            .game
            .as_deref()
            .or(Some(DEFAULT_GAME))
            .and_then(|id| self.deps.rooms.game(id))
            .ok_or(ChannelError::InvalidRoom)?;
        let spec = room_spec(request, &game, &self.name, &chan.socket.user)?;
        let placed = self.deps.rooms.create_placed(spec)?;
        reply_room_id(chan, msg_ref, placed);
        Ok(())
    }

    fn schedule_flush(&mut self) {
        if self.flush_at.is_none() {
            self.flush_at = Some(Instant::now() + presence_flush_window(self.members.len()));
        }
    }

    /// The net change of the room listing since members last heard, as broadcasts: one
    /// `room_added`, `room_updated` or `room_removed` per room that changed, none for a
    /// room that came and went in between.
    fn listing_changes(&mut self, out: &mut Vec<Broadcast>) {
        let rooms = self.deps.rooms.clone();
        if !rooms.take_listing_change(&self.name) {
            return;
        }
        let mut now: BTreeMap<String, RoomSummary> = rooms
            .list(&self.name)
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let before = std::mem::take(&mut self.listed);
        for (id, old) in &before {
            match now.get(id) {
                None => out.push(self.announce("room_removed", old)),
                Some(new) if new != old => out.push(self.announce("room_updated", new)),
                Some(_) => {}
            }
        }
        for (id, new) in &now {
            if !before.contains_key(id) {
                out.push(self.announce("room_added", new));
            }
        }
        std::mem::swap(&mut self.listed, &mut now);
    }

    fn announce(&self, event: &'static str, summary: &RoomSummary) -> Broadcast {
        Broadcast::new(self.topic.clone(), event, Payload::json(summary))
    }

    /// Sends the listing's changes and the gathered presence changes (one
    /// `presence_diff`). The fan-out is paced ([`crate::pubsub::PubSub::broadcast_local_paced`]):
    /// the lobby answers nothing else until every member has them, and room ticks run
    /// in between.
    async fn flush(&mut self) {
        self.flush_at = None;
        let mut out = Vec::new();
        self.listing_changes(&mut out);
        if let Some(diff) = self.presence.flush() {
            // Each node computes the diffs of its own sockets.
            out.push(Broadcast::new(
                self.topic.clone(),
                "presence_diff",
                Payload::Json(Arc::from(diff)),
            ));
            metrics::counter!(crate::metrics::PRESENCE_DIFFS).increment(1);
        }
        self.deps
            .pubsub
            .broadcast_local_paced(&self.topic, out)
            .await;
        self.sessions_gauge.set(self.members.len());
    }

    /// Answers a command that reached a lobby after it decided to stop.
    fn refuse_after_close(&mut self, command: LobbyCommand) {
        match command {
            LobbyCommand::Join { chan, msg_ref } => {
                chan.refuse_join(&msg_ref, ChannelError::LobbyRestarting);
            }
            LobbyCommand::Event { chan, msg_ref, .. } => {
                chan.reply_error(&msg_ref, ChannelError::LobbyRestarting);
            }
            LobbyCommand::Leave { socket } => self.leave(socket),
            LobbyCommand::Resync { chan } => chan.socket.outbox.end_lag(&chan.topic),
            LobbyCommand::SetStatus { .. }
            | LobbyCommand::ListingChanged
            | LobbyCommand::Remote(_) => {}
        }
    }
}

/// One lobby's contribution to `kurve_presence_sessions{kind="lobby"}`: one series for
/// every lobby together (names are chosen by clients, so never a label), taken back
/// when the lobby stops or crashes.
#[derive(Default)]
struct SessionsGauge {
    reported: usize,
}

impl SessionsGauge {
    fn set(&mut self, sessions: usize) {
        let delta = sessions as f64 - self.reported as f64;
        metrics::gauge!(crate::metrics::PRESENCE_SESSIONS, "kind" => "lobby").increment(delta);
        self.reported = sessions;
    }
}

impl Drop for SessionsGauge {
    fn drop(&mut self) {
        self.set(0);
    }
}

/// Answers a room creation or quick join with `{"room_id"}`: now, or once the node the
/// room was placed on has made it (the lobby does not wait for it).
fn reply_room_id(chan: &ChannelRef, msg_ref: &Arc<str>, placed: Result<Arc<str>, RemoteCreate>) {
    let answer = |chan: &ChannelRef, msg_ref: &Arc<str>, created: Result<Arc<str>, CreateError>| {
        match created {
            Ok(room_id) => {
                chan.reply(
                    msg_ref,
                    "ok",
                    Payload::json(&RoomCreated {
                        room_id: room_id.to_string(),
                    }),
                );
            }
            Err(error) => {
                chan.reply_error(msg_ref, ChannelError::from(error));
            }
        }
    };
    match placed {
        Ok(room_id) => answer(chan, msg_ref, Ok(room_id)),
        Err(remote) => {
            let (chan, msg_ref) = (chan.clone(), msg_ref.clone());
            tokio::spawn(async move { answer(&chan, &msg_ref, remote.await) });
        }
    }
}

/// Checks a `create_room` request against the rules; the room it asks for.
fn room_spec(
    request: CreateRoom,
    game: &GameInfo,
    lobby: &Arc<str>,
    creator: &User,
) -> Result<RoomSpec, ChannelError> {
    let name = request.name.as_deref().map(clean_text);
    let name = match name.as_deref().map(str::trim) {
        None | Some("") => format!("{}'s room", creator.name),
        Some(name) => name.to_owned(),
    };
    if name.chars().count() > MAX_ROOM_NAME {
        return Err(ChannelError::InvalidRoom);
    }
    let max_players = request.max_players.unwrap_or(6.min(game.max_players));
    if !(game.min_players.max(2)..=game.max_players).contains(&max_players) {
        return Err(ChannelError::InvalidRoom);
    }
    let password = request.password.filter(|p| !p.is_empty());
    if password
        .as_ref()
        .is_some_and(|p| p.chars().count() > MAX_PASSWORD)
    {
        return Err(ChannelError::InvalidRoom);
    }
    if request.send_hz.is_some_and(|hz| !(1..=240).contains(&hz)) {
        return Err(ChannelError::InvalidRoom);
    }
    Ok(RoomSpec {
        name,
        lobby: lobby.clone(),
        max_players,
        private: request.private,
        password,
        send_hz: request.send_hz,
        creator: Some(Arc::from(creator.id.as_str())),
        game: game.id.clone(),
    })
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
