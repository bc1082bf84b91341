//! Rooms: `room:<id>` actors, each a supervised task that alone owns a game
//! ([`crate::game::RoomGame`]).
//!
//! [`Rooms`] is the room table: id → handle, the room's latest [`RoomSummary`] (what
//! lobbies list and `GET /api/rooms` returns) and its password. Lobbies create rooms
//! through it and read listings from it, so a lobby that restarts loses no rooms.
//!
//! A room that panics is restarted by the supervisor from the state it saved at its last
//! phase change (a crash mid-round replays the round from the moment play began, with
//! the same spawns); its clients get `phx_error` and the official client rejoins by
//! itself and receives a fresh snapshot.
//!
//! What rooms need from other nodes is a [`RemoteRooms`] ([`remote`]): their rooms
//! for listings, joins and quick joins, placement and creation elsewhere, and a place
//! to share this node's rooms and saved states. On a single node it is
//! [`remote::SingleNode`]: every answer is "none" and nothing leaves the process.

mod actor;
mod alarm;
mod clock;
pub mod remote;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use kurve_shared::lobby::{RoomPhase, RoomSummary};
use kurve_shared::phoenix::InPayload;
use kurve_shared::room::GameInfo;
use tokio_util::task::TaskTracker;

use crate::actor::{Actor, ActorHandle, ChannelCommand, ChannelKind, Listed, Registry, Table};
use crate::game::{Games, SavedGame};
use crate::lobby::Running;
use crate::lobby::rooms::LobbyRooms;
use crate::lobby::rooms::RemoteCreate;
pub use crate::lobby::rooms::{CreateError, MAX_PASSWORD, MAX_ROOM_NAME, RoomSpec};
use crate::mailbox::MailboxReceiver;
use crate::outbound::{ChannelRef, SocketId};
use crate::protocol::error::ChannelError;
use crate::protocol::{RoomEvent, RoomJoin};
use crate::pubsub::PubSub;
use crate::store::Store;
use crate::supervisor::{ChildContext, ExitReason, Restart, Supervisor};

pub use actor::RoomCommand;
use remote::{AdoptedState, RemoteRooms, SharedState};

/// Commands waiting in a room's mailbox before new ones are refused. Inputs are the bulk:
/// 8 players at 120/s is ~1,000 a second, so this is about a second of backlog.
pub const ROOM_MAILBOX: usize = 1024;

/// Rooms that may exist at once (each ticks 60 times a second).
pub const MAX_ROOMS: usize = 2000;

/// Sends commands to one running room. Cheap to clone.
pub type RoomHandle = ActorHandle<RoomCommand>;

impl ChannelCommand for RoomCommand {
    const KIND: ChannelKind = ChannelKind::Room;
    type Event = RoomEvent;

    fn decode(event: &str, payload: InPayload) -> Result<RoomEvent, ChannelError> {
        RoomEvent::decode(event, payload)
    }

    fn join(chan: ChannelRef, msg_ref: Arc<str>, params: RoomJoin) -> Self {
        RoomCommand::Join {
            chan,
            msg_ref,
            params,
        }
    }

    /// `explicit`: the client sent `phx_leave` (the seat is given up at once) rather
    /// than dropping (the seat is kept for 15 s).
    fn leave(socket: SocketId, explicit: bool) -> Self {
        RoomCommand::Leave { socket, explicit }
    }

    fn event(chan: ChannelRef, msg_ref: Arc<str>, event: RoomEvent) -> Self {
        RoomCommand::Event {
            chan,
            msg_ref,
            event,
        }
    }

    /// The member gets a fresh snapshot and `presence_state`, then the ticks after it.
    fn resync(chan: ChannelRef) -> Option<Self> {
        Some(RoomCommand::Resync { chan })
    }
}

/// What only a room is told.
impl ActorHandle<RoomCommand> {
    /// Closes the room (the operator asked): its clients get `phx_close` and it ends.
    pub fn close(&self) -> bool {
        self.send_control(RoomCommand::Close)
    }
}

/// What every room needs from the rest of the server.
#[derive(Clone)]
pub struct RoomDeps {
    pub pubsub: PubSub,
    pub store: Store,
    /// The running lobbies, told when their listing or a user's status changes.
    pub lobbies: Running,
    /// The games rooms may play.
    pub games: Games,
    /// Frames per second a room sends unless it asked for its own rate.
    pub send_hz: u32,
    /// Open rooms one user may have created (CONTRACT §8).
    pub max_rooms_per_user: usize,
    pub test_hooks: bool,
    /// Database writes in flight, so shutdown can wait for them.
    pub writes: TaskTracker,
    /// This node's id among several (rooms say where they run); None on a single node.
    pub node: Option<Arc<str>>,
    /// The other nodes' rooms, and where this node's are shared ([`remote::SingleNode`]
    /// on a single node).
    pub remote: Arc<dyn RemoteRooms>,
}

struct Entry {
    handle: RoomHandle,
    /// The room's last tick, stored by the room on every step (the operator page reads it).
    tick: Arc<AtomicU64>,
    summary: RoomSummary,
    password: Option<String>,
    creator: Option<Arc<str>>,
}

impl Listed for Entry {
    type Command = RoomCommand;

    fn handle(&self) -> &RoomHandle {
        &self.handle
    }

    fn set_handle(&mut self, handle: RoomHandle) {
        self.handle = handle;
    }
}

/// The room table. Cheap to clone.
#[derive(Clone)]
pub struct Rooms {
    entries: Registry<Arc<str>, Entry>,
    /// Lobbies whose listing changed since they last looked (see [`Rooms::announce`]).
    changed_lobbies: Arc<Mutex<HashSet<Arc<str>>>>,
    supervisor: Supervisor,
    deps: RoomDeps,
}

impl Rooms {
    pub fn new(supervisor: Supervisor, deps: RoomDeps) -> Self {
        Rooms {
            entries: Registry::new(ROOM_MAILBOX),
            changed_lobbies: Arc::default(),
            supervisor,
            deps,
        }
    }

    fn table(&self) -> Table<'_, Arc<str>, Entry> {
        self.entries.lock()
    }

    /// The running room `id`.
    pub fn get(&self, id: &str) -> Option<RoomHandle> {
        self.entries.get(id)
    }

    /// Public rooms of `lobby`, oldest first.
    pub fn list(&self, lobby: &str) -> Vec<RoomSummary> {
        let mut rooms: Vec<RoomSummary> = self
            .table()
            .values()
            .filter(|e| !e.summary.private && e.summary.lobby == lobby)
            .map(|e| e.summary.clone())
            .collect();
        rooms.extend(self.deps.remote.listed(lobby));
        rooms.sort_by(|a, b| a.id.cmp(&b.id));
        rooms
    }

    /// Players seated in this node's rooms.
    pub fn players(&self) -> usize {
        self.table().values().map(|e| e.summary.players.len()).sum()
    }

    /// Every room (private ones too) with its last tick, oldest id first: the
    /// operator's view.
    pub fn all(&self) -> Vec<(RoomSummary, u64)> {
        let mut rooms: Vec<(RoomSummary, u64)> = self
            .table()
            .values()
            // A room that just ended may linger until the supervisor reports its exit.
            .filter(|e| !e.handle.is_gone())
            .map(|e| (e.summary.clone(), e.tick.load(Ordering::Relaxed)))
            .collect();
        rooms.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        rooms
    }

    /// Database writes in flight (shutdown waits for them).
    /// The games rooms may play.
    pub fn games(&self) -> &Games {
        &self.deps.games
    }

    pub fn writes(&self) -> &TaskTracker {
        &self.deps.writes
    }

    /// Number of rooms.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    pub fn is_empty(&self) -> bool {
        self.table().is_empty()
    }

    /// Starts a room; returns its id.
    pub fn create(&self, spec: RoomSpec) -> Result<Arc<str>, CreateError> {
        // Counted before the table's lock is taken: the remote rooms have locks of their own.
        let remote_open = spec
            .creator
            .as_deref()
            .map_or(0, |creator| self.deps.remote.created_by(creator));
        if self.deps.games.get(&spec.game).is_none() {
            return Err(CreateError::UnknownGame);
        }
        let table = self.table();
        if table.len() >= MAX_ROOMS {
            return Err(CreateError::TooMany);
        }
        if let Some(creator) = &spec.creator {
            let open = table
                .values()
                .filter(|e| e.creator.as_ref() == Some(creator))
                .count()
                + remote_open;
            if open >= self.deps.max_rooms_per_user {
                crate::limits::Refusal::RoomsPerUser.count();
                return Err(CreateError::TooMany);
            }
        }
        let id = loop {
            let id = new_room_id();
            if !table.contains_key(id.as_str()) {
                break Arc::<str>::from(id);
            }
        };
        self.start(table, id.clone(), spec, None)
            .map_err(|()| CreateError::Unavailable)?;
        Ok(id)
    }

    /// Lists room `id` (the table's lock is `table`) and starts it, fresh or from
    /// `saved`; Err when the supervisor no longer starts children.
    fn start(
        &self,
        mut table: Table<'_, Arc<str>, Entry>,
        id: Arc<str>,
        spec: RoomSpec,
        saved: Option<Arc<dyn SavedGame>>,
    ) -> Result<(), ()> {
        let (handle, inbox) = self.entries.mailbox();
        let tick = Arc::new(AtomicU64::new(0));
        let summary = RoomSummary {
            id: id.to_string(),
            name: spec.name.clone(),
            lobby: spec.lobby.to_string(),
            game: spec.game.clone(),
            phase: RoomPhase::Waiting,
            players: Vec::new(),
            spectators: 0,
            max_players: spec.max_players,
            private: spec.private,
            node: self.deps.node.as_deref().map(str::to_owned),
        };
        table.insert(
            id.clone(),
            Entry {
                handle: handle.clone(),
                tick: tick.clone(),
                summary: summary.clone(),
                password: spec.password.clone(),
                creator: spec.creator.clone(),
            },
        );
        drop(table);
        rooms_gauge(RoomPhase::Waiting, 1.0);
        self.announce(&summary);
        self.deps.remote.share(&summary, spec.creator.as_deref());
        let room = RoomActor {
            id: id.clone(),
            spec,
            tick,
            saved: Arc::new(Mutex::new(saved)),
            rooms: self.clone(),
        };
        let first = (handle.clone(), inbox);
        let started = self.entries.start(
            &self.supervisor,
            format!("room:{id}"),
            Restart::Transient,
            id.clone(),
            first,
            room,
        );
        if started.is_err() {
            self.remove(&id, &handle);
            return Err(());
        }
        Ok(())
    }

    /// A waiting public room of `lobby` with a free seat, else a new one.
    pub fn quick_join(
        &self,
        lobby: &Arc<str>,
        game: &str,
        creator: Option<Arc<str>>,
    ) -> Result<Arc<str>, CreateError> {
        match self.find_waiting(lobby, game) {
            Some(id) => Ok(id),
            None => self.create(self.quick_spec(lobby, game, creator)),
        }
    }

    /// A waiting public room of `lobby` with a free seat: the fullest here, else one on
    /// another node.
    fn find_waiting(&self, lobby: &Arc<str>, game: &str) -> Option<Arc<str>> {
        let found = self
            .table()
            .iter()
            .filter(|(_, e)| {
                let s = &e.summary;
                !s.private
                    && s.lobby == **lobby
                    && s.game == game
                    && s.phase == RoomPhase::Waiting
                    && s.players.len() < usize::from(s.max_players)
                    && !e.handle.is_gone()
            })
            // The fullest waiting room first, so players meet rather than spread out.
            .max_by_key(|(id, e)| (e.summary.players.len(), std::cmp::Reverse((*id).clone())))
            .map(|(id, _)| id.clone());
        found.or_else(|| {
            self.list(lobby)
                .into_iter()
                .filter(|s| {
                    s.game == game
                        && s.phase == RoomPhase::Waiting
                        && s.players.len() < usize::from(s.max_players)
                })
                .max_by_key(|s| s.players.len())
                .map(|s| Arc::from(s.id))
        })
    }

    /// The room `quick_join` makes when none is waiting: six seats, or the game's most.
    fn quick_spec(&self, lobby: &Arc<str>, game: &str, creator: Option<Arc<str>>) -> RoomSpec {
        let most = self
            .deps
            .games
            .get(game)
            .map_or(6, |k| k.info().max_players);
        RoomSpec {
            name: "Quick play".into(),
            lobby: lobby.clone(),
            max_players: 6.min(most),
            game: game.to_owned(),
            private: false,
            password: None,
            send_hz: None,
            creator,
        }
    }

    /// Whether joining room `id` takes a password (false for an unknown room).
    pub fn has_password(&self, id: &str) -> bool {
        self.table().get(id).is_some_and(|e| e.password.is_some())
    }

    /// Whether `password` opens room `id` (rooms without a password open for anyone).
    pub fn password_ok(&self, id: &str, password: Option<&str>) -> bool {
        match self.table().get(id).and_then(|e| e.password.as_deref()) {
            None => true,
            Some(expected) => password.is_some_and(|p| constant_time_eq(p, expected)),
        }
    }

    /// Records a room's new summary and tells its lobby.
    fn update(&self, summary: RoomSummary) {
        let mut table = self.table();
        let Some(entry) = table.get_mut(summary.id.as_str()) else {
            return;
        };
        if entry.summary == summary {
            return;
        }
        if entry.summary.phase != summary.phase {
            rooms_gauge(entry.summary.phase, -1.0);
            rooms_gauge(summary.phase, 1.0);
        }
        entry.summary = summary.clone();
        let creator = entry.creator.clone();
        drop(table);
        self.announce(&summary);
        self.deps.remote.share(&summary, creator.as_deref());
    }

    /// The node running room `id` when it is another live node.
    pub fn remote_owner(&self, id: &str) -> Option<String> {
        self.deps.remote.owner(id)
    }

    /// Shares a room's saved state, for another node to adopt the room from if this
    /// one dies.
    pub(crate) fn share_state(&self, id: &str, spec: &RoomSpec, saved: &dyn SavedGame) {
        self.deps
            .remote
            .share_state(SharedState { id, spec, saved });
    }

    /// Starts room `id` of a dead node here, from the state it shared
    /// ([`Rooms::share_state`]); its members rejoin by themselves.
    pub fn adopt(&self, id: &str, state: &[u8]) -> Result<(), AdoptError> {
        let AdoptedState { spec, saved } =
            AdoptedState::decode(state).map_err(|e| AdoptError::Corrupt(e.to_string()))?;
        let kind = self
            .deps
            .games
            .get(&spec.game)
            .ok_or_else(|| AdoptError::Corrupt(format!("no game {} here", spec.game)))?;
        let saved = kind
            .restore(&saved)
            .map_err(|e| AdoptError::Corrupt(e.to_string()))?
            .save();
        let id: Arc<str> = Arc::from(id);
        let table = self.table();
        if table.contains_key(&id) {
            return Err(AdoptError::Exists);
        }
        self.start(table, id.clone(), spec, Some(saved))
            .map_err(|()| AdoptError::Unavailable)?;
        tracing::info!(room = %id, "adopted a room of a node that went down");
        Ok(())
    }

    /// Room `id` was adopted by another node while this one was cut off from the
    /// others: this copy stops, and its members get `phx_error` and rejoin the other.
    pub fn displaced(&self, id: &str) {
        let Some(entry) = self.table().remove(id) else {
            return;
        };
        rooms_gauge(entry.summary.phase, -1.0);
        self.deps.pubsub.crash_topic(&format!("room:{id}"));
        entry.handle.close();
        self.announce(&entry.summary);
    }

    /// A room of another node appeared, changed or went away: its lobby relists.
    pub fn remote_changed(&self, summary: &RoomSummary) {
        self.announce(summary);
    }

    /// Removes room `id`, which ended (if `handle` is still the current one).
    fn remove(&self, id: &Arc<str>, handle: &RoomHandle) {
        let Some(entry) = self.entries.forget(id, handle) else {
            return;
        };
        rooms_gauge(entry.summary.phase, -1.0);
        self.announce(&entry.summary);
        self.deps.remote.unshare(&entry.summary.id);
    }

    /// Tells the room's lobby its listing changed (public rooms only: private ones are
    /// never listed). The lobby is woken once however many changes pile up, and sends
    /// their net effect at its next presence flush ([`Rooms::take_listing_change`]), so
    /// a burst of room changes costs each member a few frames, not one per change.
    fn announce(&self, summary: &RoomSummary) {
        if summary.private {
            return;
        }
        let lobby: Arc<str> = Arc::from(summary.lobby.as_str());
        let first = self
            .changed_lobbies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(lobby.clone());
        if first && let Some(handle) = self.deps.lobbies.get(&lobby) {
            handle.listing_changed();
        }
    }

    /// Whether `lobby`'s listing changed since it last asked; clears the mark.
    pub fn take_listing_change(&self, lobby: &str) -> bool {
        self.changed_lobbies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(lobby)
    }
}

impl LobbyRooms for Rooms {
    fn create_placed(&self, spec: RoomSpec) -> Result<Result<Arc<str>, RemoteCreate>, CreateError> {
        match self.deps.remote.placement(&spec.game) {
            Some(node) => Ok(Err(self.deps.remote.create_on(node, spec))),
            None => Rooms::create(self, spec).map(Ok),
        }
    }

    fn create(&self, spec: RoomSpec) -> Result<Arc<str>, CreateError> {
        Rooms::create(self, spec)
    }

    fn quick_join(
        &self,
        lobby: &Arc<str>,
        game: &str,
        creator: Option<Arc<str>>,
    ) -> Result<Result<Arc<str>, RemoteCreate>, CreateError> {
        match self.find_waiting(lobby, game) {
            Some(id) => Ok(Ok(id)),
            None => self.create_placed(self.quick_spec(lobby, game, creator)),
        }
    }

    fn list(&self, lobby: &str) -> Vec<RoomSummary> {
        Rooms::list(self, lobby)
    }

    fn game(&self, id: &str) -> Option<GameInfo> {
        self.deps.games.get(id).map(|kind| kind.info())
    }

    fn take_listing_change(&self, lobby: &str) -> bool {
        Rooms::take_listing_change(self, lobby)
    }
}

fn rooms_gauge(phase: RoomPhase, delta: f64) {
    let label = match phase {
        RoomPhase::Waiting => "waiting",
        RoomPhase::Countdown => "countdown",
        RoomPhase::Playing => "playing",
        RoomPhase::Finished => "finished",
    };
    metrics::gauge!(crate::metrics::ROOMS, "phase" => label).increment(delta);
}

/// Eight characters of `[a-z0-9]`: short enough to share, 2.8·10¹² possibilities.
fn new_room_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Compares without stopping at the first difference, so timing tells nothing.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Why a room of a dead node could not be started here.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("its saved state does not decode: {0}")]
    Corrupt(String),
    #[error("a room with this id already runs here")]
    Exists,
    #[error("the server is shutting down")]
    Unavailable,
}

/// What a room does when the supervisor starts, loses or ends it.
struct RoomActor {
    id: Arc<str>,
    spec: RoomSpec,
    tick: Arc<AtomicU64>,
    /// The state saved at the room's last phase change; a restart resumes from it.
    saved: Arc<Mutex<Option<Arc<dyn SavedGame>>>>,
    rooms: Rooms,
}

impl Actor for RoomActor {
    type Entry = Entry;

    fn run(
        &mut self,
        _handle: RoomHandle,
        inbox: MailboxReceiver<RoomCommand>,
        ctx: ChildContext,
    ) -> BoxFuture<'static, ()> {
        let saved = self
            .saved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        actor::run(actor::RoomStart {
            id: self.id.clone(),
            spec: self.spec.clone(),
            inbox,
            restored: saved,
            save_slot: self.saved.clone(),
            tick: self.tick.clone(),
            rooms: self.rooms.clone(),
            cancel: ctx.cancel,
            restarts: ctx.restarts,
        })
        .boxed()
    }

    /// A room that left the table (displaced by an adoption elsewhere) and then
    /// crashed runs on unlisted until it ends.
    fn relist(&self, _handle: RoomHandle) -> Option<Entry> {
        None
    }

    fn on_crash(&mut self, id: &str, panic: &str) {
        tracing::error!(child = id, panic, "room crashed");
        metrics::counter!(crate::metrics::ROOM_RESTARTS).increment(1);
        let told = self
            .rooms
            .deps
            .pubsub
            .crash_topic(&format!("room:{}", self.id));
        tracing::info!(room = %self.id, clients = told, "told room members of the crash");
    }

    fn on_exit(&mut self, _id: &str, _why: &ExitReason) {
        // Disposed when empty, stopped, or given up after crashing too often (members
        // were told in `on_crash`): the room leaves the table either way.
        let handle = self.rooms.table().get(&self.id).map(|e| e.handle.clone());
        if let Some(handle) = handle {
            self.rooms.remove(&self.id, &handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_short_and_url_safe() {
        for _ in 0..100 {
            let id = new_room_id();
            assert_eq!(id.len(), 8);
            assert!(
                crate::protocol::valid_name(&id),
                "{id} must be a valid topic name"
            );
        }
    }

    #[test]
    fn passwords_compare_exactly() {
        assert!(constant_time_eq("secret", "secret"));
        assert!(!constant_time_eq("secret", "secreT"));
        assert!(!constant_time_eq("secret", "secret2"));
        assert!(!constant_time_eq("", "x"));
    }
}
