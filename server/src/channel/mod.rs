//! Topic routing: which actor a topic belongs to, and the channels one socket has joined.
//!
//! A socket keeps a small table of joined channels (topic → join_ref and the actor's
//! handle). Client frames are matched against it with Phoenix's join_ref rules and
//! forwarded to the actor as commands; the actor answers through the socket's outbox.

use std::sync::Arc;

use kurve_shared::phoenix::InPayload;

use crate::admin::AdminHandle;
use crate::directory::valid_name;
use crate::events::error::ChannelError;
use crate::events::{AdminEvent, LobbyEvent, ReplayEvent, RoomEvent, RoomJoin};
use crate::lobby::LobbyHandle;
use crate::mailbox::Overloaded;
use crate::outbound::{ChannelRef, SocketId};
use crate::relay::RemoteRoom;
use crate::replay::ReplayHandle;
use crate::room::RoomHandle;

/// What a topic string names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `lobby:<name>`, name matching `[a-z0-9_-]{1,32}`.
    Lobby(Arc<str>),
    /// `room:<id>`.
    Room(Arc<str>),
    /// `replay:<match_id>`.
    Replay(i64),
    /// `admin:stats`.
    Admin,
}

impl Route {
    /// Parses a topic; None means "unmatched topic".
    pub fn parse(topic: &str) -> Option<Route> {
        if let Some(name) = topic.strip_prefix("lobby:") {
            return valid_name(name).then(|| Route::Lobby(Arc::from(name)));
        }
        if let Some(id) = topic.strip_prefix("room:") {
            return valid_name(id).then(|| Route::Room(Arc::from(id)));
        }
        if topic == crate::admin::TOPIC {
            return Some(Route::Admin);
        }
        if let Some(id) = topic.strip_prefix("replay:") {
            // Digits only: "+1" or "01" would name the same match under two topics.
            let canonical =
                !id.is_empty() && id.len() <= 18 && id.bytes().all(|b| b.is_ascii_digit());
            return id
                .parse()
                .ok()
                .filter(|n: &i64| canonical && n.to_string() == id)
                .map(Route::Replay);
        }
        None
    }
}

/// The actor behind a joined channel.
#[derive(Debug, Clone)]
pub enum Target {
    Lobby(LobbyHandle),
    Room(RoomHandle),
    /// A room on another node of the cluster.
    RemoteRoom(RemoteRoom),
    Replay(ReplayHandle),
    Admin(AdminHandle),
}

impl Target {
    /// Label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Lobby(_) => "lobby",
            Target::Room(_) | Target::RemoteRoom(_) => "room",
            Target::Replay(_) => "replay",
            Target::Admin(_) => "admin",
        }
    }

    /// Asks the actor to join `chan`; it replies to `msg_ref` itself. `room` is what a
    /// room join asked for (lobbies take no params).
    pub fn join(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        room: RoomJoin,
    ) -> Result<(), Overloaded> {
        match self {
            Target::Lobby(lobby) => lobby.join(chan, msg_ref),
            Target::Room(handle) => handle.join(chan, msg_ref, room),
            Target::RemoteRoom(remote) => remote.join(chan, msg_ref, room),
            Target::Replay(replay) => replay.join(chan, msg_ref),
            Target::Admin(admin) => admin.join(chan, msg_ref),
        }
    }

    /// Tells the actor the socket left the channel (never dropped, see [`crate::mailbox`]).
    /// `explicit`: the client sent `phx_leave`, rather than the socket going away.
    pub fn leave(&self, socket: SocketId, explicit: bool) {
        match self {
            Target::Lobby(lobby) => lobby.leave(socket),
            Target::Room(room) => room.leave(socket, explicit),
            Target::RemoteRoom(remote) => remote.leave(socket, explicit),
            Target::Replay(replay) => replay.leave(socket),
            Target::Admin(admin) => admin.leave(socket),
        }
    }

    /// Decodes a client event for this kind of topic and forwards it; the actor replies
    /// to `msg_ref` itself. Err (undecodable, or the actor is busy) is for the caller to
    /// reply with.
    pub fn event(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: &str,
        payload: InPayload,
    ) -> Result<(), ChannelError> {
        match self {
            Target::Lobby(lobby) => {
                lobby.event(chan, msg_ref, LobbyEvent::decode(event, payload)?)?;
            }
            Target::Room(room) => room.event(chan, msg_ref, RoomEvent::decode(event, payload)?)?,
            Target::RemoteRoom(remote) => {
                remote.event(chan, msg_ref, RoomEvent::decode(event, payload)?)?;
            }
            Target::Replay(replay) => {
                replay.event(chan, msg_ref, ReplayEvent::decode(event, payload)?)?;
            }
            Target::Admin(admin) => {
                admin.event(chan, msg_ref, AdminEvent::decode(event, payload)?)?;
            }
        }
        Ok(())
    }

    /// Asks the actor for a fresh snapshot of its state for `chan`, whose socket fell
    /// behind and skipped some of its broadcasts (CONTRACT §10). Never refused, like a
    /// leave: a socket has at most one resync per channel outstanding. False when the
    /// actor has nothing to resend (its broadcasts are all events) or is gone.
    pub fn resync(&self, chan: ChannelRef) -> bool {
        let resyncing = match self {
            Target::Lobby(lobby) => lobby.resync(chan),
            Target::Room(room) => room.resync(chan),
            Target::RemoteRoom(remote) => remote.resync(chan),
            Target::Replay(replay) => replay.resync(chan),
            Target::Admin(_) => false,
        };
        if resyncing {
            crate::metrics::hot().resyncs.increment(1);
        }
        resyncing
    }

    /// True when the actor behind this handle has stopped (crashed or ended).
    pub fn is_gone(&self) -> bool {
        match self {
            Target::Lobby(lobby) => lobby.is_gone(),
            Target::Room(room) => room.is_gone(),
            Target::RemoteRoom(remote) => remote.is_gone(),
            Target::Replay(replay) => replay.is_gone(),
            Target::Admin(admin) => admin.is_gone(),
        }
    }
}

/// One channel joined on a socket.
#[derive(Debug)]
pub struct Joined {
    pub join_ref: Arc<str>,
    pub target: Target,
}

/// The channels one socket has joined, by topic. A socket joins one or two channels
/// (a lobby, maybe a room; at most [`crate::config::MAX_CHANNELS_PER_SOCKET`]), so a
/// small vector searched linearly beats a hash map, and costs an idle socket less.
#[derive(Debug, Default)]
pub struct ChannelTable {
    joined: Vec<(Arc<str>, Joined)>,
}

impl ChannelTable {
    pub fn get(&self, topic: &str) -> Option<&Joined> {
        self.joined
            .iter()
            .find(|(t, _)| &**t == topic)
            .map(|(_, j)| j)
    }

    pub fn len(&self) -> usize {
        self.joined.len()
    }

    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    /// Records a join, returning the channel it replaces (a duplicate join).
    pub fn insert(&mut self, topic: Arc<str>, joined: Joined) -> Option<Joined> {
        if let Some(slot) = self.joined.iter_mut().find(|(t, _)| *t == topic) {
            return Some(std::mem::replace(&mut slot.1, joined));
        }
        metrics::gauge!(crate::metrics::CHANNELS_JOINED, "kind" => joined.target.kind())
            .increment(1.0);
        if self.joined.capacity() == 0 {
            self.joined.reserve_exact(1);
        }
        self.joined.push((topic, joined));
        None
    }

    /// Forgets the channel on `topic` if its join_ref is `join_ref` (or any, when None).
    pub fn remove(&mut self, topic: &str, join_ref: Option<&str>) -> Option<(Arc<str>, Joined)> {
        let index = self
            .joined
            .iter()
            .position(|(t, j)| &**t == topic && join_ref.is_none_or(|r| &*j.join_ref == r))?;
        let (topic, joined) = self.joined.swap_remove(index);
        metrics::gauge!(crate::metrics::CHANNELS_JOINED, "kind" => joined.target.kind())
            .decrement(1.0);
        Some((topic, joined))
    }

    /// Removes every channel (the socket is closing).
    pub fn drain(&mut self) -> Vec<(Arc<str>, Joined)> {
        let all = std::mem::take(&mut self.joined);
        for (_, joined) in &all {
            metrics::gauge!(crate::metrics::CHANNELS_JOINED, "kind" => joined.target.kind())
                .decrement(1.0);
        }
        all
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Joined)> {
        self.joined.iter().map(|(t, j)| (t, j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_route_by_prefix_and_name() {
        assert_eq!(
            Route::parse("lobby:main"),
            Some(Route::Lobby("main".into()))
        );
        assert_eq!(
            Route::parse("lobby:a_b-9"),
            Some(Route::Lobby("a_b-9".into()))
        );
        assert_eq!(Route::parse("room:r1"), Some(Route::Room("r1".into())));
        for bad in [
            "lobby:",
            "lobby:Main",
            "lobby:has space",
            "lobby:ü",
            "phoenix",
            "rooms:1",
            "lobby:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(Route::parse(bad), None, "{bad:?} should be unmatched");
        }
    }
}
