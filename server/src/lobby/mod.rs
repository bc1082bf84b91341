//! Lobbies: `lobby:<name>` actors, started on first join as children of the supervisor.
//!
//! [`Lobbies`] maps a name to the running lobby's [`LobbyHandle`]. A lobby is one task
//! that alone owns its presence, members and room list ([`actor`]). When it panics the
//! supervisor tells its subscribers (`phx_error`, so the official client rejoins) and
//! starts it again with a fresh mailbox, which replaces the handle here.
//!
//! Lobbies and rooms need each other: a lobby lists and creates rooms, and rooms tell
//! their lobby when its listing or a user's status changes. The table of running
//! lobbies ([`Running`]) is made first and handed to the rooms, the rooms are made
//! next, and [`Lobbies`] last, around that same table and with the rooms as its
//! [`LobbyRooms`]: every part gets what it needs when it is made.
//!
//! What a lobby needs from other nodes is a [`PresenceReplica`] ([`replica`]); on a
//! single node it is [`replica::SingleNode`] and nothing leaves the process.

mod actor;
pub mod replica;
pub mod rooms;

use std::net::IpAddr;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use kurve_shared::lobby::Status;
use kurve_shared::phoenix::InPayload;

use crate::actor::{Actor, ActorHandle, ChannelCommand, ChannelKind, Listed, Registry};
use crate::config::{LOBBY_MAILBOX, MAX_LOBBIES};
use crate::mailbox::MailboxReceiver;
use crate::outbound::{ChannelRef, SocketId};
use crate::protocol::error::ChannelError;
use crate::protocol::{LobbyEvent, RoomJoin};
use crate::pubsub::PubSub;
use crate::supervisor::{ChildContext, ExitReason, Restart, Supervisor};
use rooms::LobbyRooms;

pub use actor::LobbyCommand;
use replica::{Change, PresenceReplica};

/// The lobby that always exists.
pub const MAIN: &str = "main";

/// Sends commands to one running lobby. Cheap to clone.
pub type LobbyHandle = ActorHandle<LobbyCommand>;

impl ChannelCommand for LobbyCommand {
    const KIND: ChannelKind = ChannelKind::Lobby;
    type Event = LobbyEvent;

    fn decode(event: &str, payload: InPayload) -> Result<LobbyEvent, ChannelError> {
        LobbyEvent::decode(event, payload)
    }

    /// Lobbies take no join params.
    fn join(chan: ChannelRef, msg_ref: Arc<str>, _params: RoomJoin) -> Self {
        LobbyCommand::Join { chan, msg_ref }
    }

    /// A member leaves presence at once however it left.
    fn leave(socket: SocketId, _explicit: bool) -> Self {
        LobbyCommand::Leave { socket }
    }

    fn event(chan: ChannelRef, msg_ref: Arc<str>, event: LobbyEvent) -> Self {
        LobbyCommand::Event {
            chan,
            msg_ref,
            event,
        }
    }

    /// The member gets a fresh room list and `presence_state`.
    fn resync(chan: ChannelRef) -> Option<Self> {
        Some(LobbyCommand::Resync { chan })
    }
}

/// What only a lobby is told.
impl ActorHandle<LobbyCommand> {
    /// Changes the status shown for every session of `user_id` (they joined or left a
    /// room). Not refused when busy: bounded by room joins, which are.
    pub fn set_user_status(&self, user_id: &str, status: Status, room_id: Option<Arc<str>>) {
        self.send_control(LobbyCommand::SetStatus {
            user_id: Arc::from(user_id),
            status,
            room_id,
        });
    }

    /// Sessions on other nodes joined or left this lobby. Not refused when busy:
    /// bounded by the other nodes' joins, which are.
    pub fn remote_presence(&self, changes: Vec<Change>) {
        self.send_control(LobbyCommand::Remote(changes));
    }

    /// The room table has changes for this lobby's listing (sent once per batch).
    pub fn listing_changed(&self) {
        self.send_control(LobbyCommand::ListingChanged);
    }
}

/// A running lobby in [`Lobbies`].
struct Entry {
    handle: LobbyHandle,
    /// The client address whose join started this lobby (None for `lobby:main`, or with
    /// the per-address budgets off): an address may keep only so many lobbies running.
    started_by: Option<IpAddr>,
}

impl Listed for Entry {
    type Command = LobbyCommand;

    fn handle(&self) -> &LobbyHandle {
        &self.handle
    }

    fn set_handle(&mut self, handle: LobbyHandle) {
        self.handle = handle;
    }
}

/// What every lobby needs from the rest of the server.
#[derive(Clone)]
pub struct LobbyDeps {
    pub pubsub: PubSub,
    /// Enables the test-only `debug_crash` event.
    pub test_hooks: bool,
    /// Lobbies one client address may keep running (started by its joins).
    pub max_lobbies_per_address: usize,
    /// The room table (made before the lobbies, see the module docs).
    pub rooms: Arc<dyn LobbyRooms>,
    /// The other nodes' sessions ([`replica::SingleNode`] on a single node).
    pub presence: Arc<dyn PresenceReplica>,
}

/// The running lobbies by name: what rooms need to reach a lobby. Made before rooms and
/// lobbies (see the module docs), filled by [`Lobbies`]. Cheap to clone.
#[derive(Clone)]
pub struct Running(Registry<Arc<str>, Entry>);

impl Default for Running {
    fn default() -> Self {
        Running(Registry::new(LOBBY_MAILBOX))
    }
}

impl Running {
    /// The running lobby `name`, if any.
    pub fn get(&self, name: &str) -> Option<LobbyHandle> {
        self.0.get(name)
    }
}

/// The running lobbies by name. Cheap to clone.
#[derive(Clone)]
pub struct Lobbies {
    running: Running,
    supervisor: Supervisor,
    deps: LobbyDeps,
}

impl Lobbies {
    /// The lobbies listed in `running` (empty until they start).
    pub fn new(supervisor: Supervisor, running: Running, deps: LobbyDeps) -> Self {
        Lobbies {
            running,
            supervisor,
            deps,
        }
    }

    /// How many lobbies run now.
    pub fn len(&self) -> usize {
        self.running.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.0.is_empty()
    }

    /// The running lobby `name`, if any (does not start one).
    pub fn get(&self, name: &str) -> Option<LobbyHandle> {
        self.running.get(name)
    }

    /// Sessions on other nodes joined or left `topic`: its lobby is told if it runs
    /// here (one that starts later reads the replica then).
    pub fn remote_presence(&self, topic: &str, changes: Vec<Change>) {
        if let Some(handle) = topic.strip_prefix("lobby:").and_then(|name| self.get(name)) {
            handle.remote_presence(changes);
        }
    }

    /// The lobby `name`, started if it is not running; `starter` is the client address
    /// asking (None: not counted). Err carries the reason a join gets: too many lobbies
    /// (on the server, or started by this address), or the server shutting down.
    pub fn get_or_start(
        &self,
        name: &Arc<str>,
        starter: Option<IpAddr>,
    ) -> Result<LobbyHandle, ChannelError> {
        let mut table = self.running.0.lock();
        if let Some(entry) = table.get(name)
            && !entry.handle.is_gone()
        {
            return Ok(entry.handle.clone());
        }
        if table.len() >= MAX_LOBBIES {
            return Err(ChannelError::TooManyLobbies);
        }
        let starter = starter.filter(|_| &**name != MAIN);
        if let Some(address) = starter {
            let started = table
                .values()
                .filter(|e| e.started_by == Some(address))
                .count();
            if started >= self.deps.max_lobbies_per_address {
                crate::limits::Refusal::LobbiesPerAddress.count();
                return Err(ChannelError::TooManyLobbies);
            }
        }
        let (handle, inbox) = self.running.0.mailbox();
        table.insert(
            name.clone(),
            Entry {
                handle: handle.clone(),
                started_by: starter,
            },
        );
        metrics::gauge!(crate::metrics::LOBBIES).set(table.len() as f64);
        drop(table);
        let lobby = LobbyActor {
            name: name.clone(),
            lobbies: self.clone(),
        };
        if let Err(error) = self.running.0.start(
            &self.supervisor,
            format!("lobby:{name}"),
            Restart::Transient,
            name.clone(),
            (handle.clone(), inbox),
            lobby,
        ) {
            tracing::warn!(lobby = %name, %error, "could not start lobby");
            self.forget(name, &handle);
            return Err(ChannelError::Unavailable);
        }
        Ok(handle)
    }

    /// Removes `handle` from the table if it is still the current one for `name`.
    fn forget(&self, name: &Arc<str>, handle: &LobbyHandle) {
        self.running.0.forget(name, handle);
        metrics::gauge!(crate::metrics::LOBBIES).set(self.running.0.len() as f64);
    }

    /// Removes the entry for `name` if its lobby has stopped.
    fn forget_if_gone(&self, name: &Arc<str>) {
        self.running.0.forget_if_gone(name);
        metrics::gauge!(crate::metrics::LOBBIES).set(self.running.0.len() as f64);
    }
}

/// What a lobby does when the supervisor starts, loses or ends it.
struct LobbyActor {
    name: Arc<str>,
    lobbies: Lobbies,
}

impl Actor for LobbyActor {
    type Entry = Entry;

    fn run(
        &mut self,
        handle: LobbyHandle,
        inbox: MailboxReceiver<LobbyCommand>,
        ctx: ChildContext,
    ) -> BoxFuture<'static, ()> {
        actor::run(
            self.name.clone(),
            inbox,
            self.lobbies.deps.clone(),
            ctx.cancel,
            self.lobbies.clone(),
            handle,
        )
        .boxed()
    }

    /// A lobby that crashed after leaving the table is listed again, as if no address
    /// had started it.
    fn relist(&self, handle: LobbyHandle) -> Option<Entry> {
        Some(Entry {
            handle,
            started_by: None,
        })
    }

    fn on_crash(&mut self, id: &str, panic: &str) {
        tracing::error!(child = id, panic, "lobby crashed");
        let topic = format!("lobby:{}", self.name);
        let told = self.lobbies.deps.pubsub.crash_topic(&topic);
        tracing::info!(lobby = %self.name, clients = told, "told lobby members of the crash");
    }

    fn on_exit(&mut self, _id: &str, _why: &ExitReason) {
        // However the lobby ended (its members were told in `on_crash` if it crashed),
        // its dead handle must not stay in the table.
        self.lobbies.forget_if_gone(&self.name);
    }
}
