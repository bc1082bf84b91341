//! Lobbies: `lobby:<name>` actors, started on first join as children of the supervisor.
//!
//! [`Lobbies`] maps a name to the running lobby's [`LobbyHandle`]. A lobby is one task
//! that alone owns its presence, members and room list ([`actor`]). When it panics the
//! supervisor tells its subscribers (`phx_error`, so the official client rejoins) and
//! starts it again with a fresh mailbox, which replaces the handle here.

mod actor;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use crate::events::LobbyEvent;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use kurve_shared::lobby::Status;

use crate::cluster::tracker::{Change, Tracker};
use crate::config::{LOBBY_MAILBOX, MAX_LOBBIES};
use crate::directory::RoomDirectory;
use crate::events::error::ChannelError;
use crate::mailbox::{Mailbox, MailboxReceiver, Overloaded, mailbox};
use crate::outbound::{ChannelRef, SocketId};
use crate::pubsub::PubSub;
use crate::supervisor::{ChildContext, ChildSpec, ExitReason, Restart, Supervisor};

pub use actor::LobbyCommand;

/// The lobby that always exists.
pub const MAIN: &str = "main";

/// Sends commands to one running lobby. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LobbyHandle {
    pub name: Arc<str>,
    mailbox: Mailbox<LobbyCommand>,
    /// The client address whose join started this lobby (None for `lobby:main`, or with
    /// the per-address budgets off): an address may keep only so many lobbies running.
    started_by: Option<IpAddr>,
}

impl LobbyHandle {
    pub fn join(&self, chan: ChannelRef, msg_ref: Arc<str>) -> Result<(), Overloaded> {
        self.mailbox.try_send(LobbyCommand::Join { chan, msg_ref })
    }

    pub fn leave(&self, socket: SocketId) {
        self.mailbox.send_control(LobbyCommand::Leave { socket });
    }

    /// A member's socket fell behind and drained: send it a fresh room list and `presence_state` (CONTRACT
    /// §10). Never refused, like a leave: at most one per member is outstanding.
    pub fn resync(&self, chan: ChannelRef) -> bool {
        self.mailbox.send_control(LobbyCommand::Resync { chan })
    }

    pub fn event(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: LobbyEvent,
    ) -> Result<(), Overloaded> {
        self.mailbox.try_send(LobbyCommand::Event {
            chan,
            msg_ref,
            event,
        })
    }

    /// Changes the status shown for every session of `user_id` (they joined or left a
    /// room). Not refused when busy: bounded by room joins, which are.
    pub fn set_user_status(&self, user_id: &str, status: Status, room_id: Option<Arc<str>>) {
        self.mailbox.send_control(LobbyCommand::SetStatus {
            user_id: Arc::from(user_id),
            status,
            room_id,
        });
    }

    /// Sessions on other nodes joined or left this lobby. Not refused when busy:
    /// bounded by the other nodes' joins, which are.
    pub fn remote_presence(&self, changes: Vec<Change>) {
        self.mailbox.send_control(LobbyCommand::Remote(changes));
    }

    /// The room directory has changes for this lobby's listing (sent once per batch).
    pub fn listing_changed(&self) {
        self.mailbox.send_control(LobbyCommand::ListingChanged);
    }

    pub fn is_gone(&self) -> bool {
        self.mailbox.is_closed()
    }

    fn same_lobby(&self, other: &LobbyHandle) -> bool {
        self.mailbox.same_channel(&other.mailbox)
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
    /// The room directory; set once at start, since the directory (which tells lobbies
    /// about their rooms) is built after the lobbies.
    pub rooms: Arc<OnceLock<Arc<dyn RoomDirectory>>>,
    /// In a cluster, the presence shared with the other nodes.
    pub tracker: Option<Arc<Tracker>>,
}

/// The running lobbies by name. Cheap to clone.
#[derive(Clone)]
pub struct Lobbies {
    running: Arc<Mutex<HashMap<Arc<str>, LobbyHandle>>>,
    supervisor: Supervisor,
    deps: LobbyDeps,
}

impl Lobbies {
    pub fn new(supervisor: Supervisor, deps: LobbyDeps) -> Self {
        Lobbies {
            running: Arc::default(),
            supervisor,
            deps,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, LobbyHandle>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many lobbies run now.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    pub fn is_empty(&self) -> bool {
        self.table().is_empty()
    }

    /// The running lobby `name`, if any (does not start one).
    pub fn get(&self, name: &str) -> Option<LobbyHandle> {
        self.table().get(name).filter(|h| !h.is_gone()).cloned()
    }

    /// The lobby `name`, started if it is not running; `starter` is the client address
    /// asking (None: not counted). Err carries the reason a join gets: too many lobbies
    /// (on the server, or started by this address), or the server shutting down.
    pub fn get_or_start(
        &self,
        name: &Arc<str>,
        starter: Option<IpAddr>,
    ) -> Result<LobbyHandle, ChannelError> {
        let mut table = self.table();
        if let Some(handle) = table.get(name)
            && !handle.is_gone()
        {
            return Ok(handle.clone());
        }
        if table.len() >= MAX_LOBBIES {
            return Err(ChannelError::TooManyLobbies);
        }
        let starter = starter.filter(|_| &**name != MAIN);
        if let Some(address) = starter {
            let started = table
                .values()
                .filter(|h| h.started_by == Some(address))
                .count();
            if started >= self.deps.max_lobbies_per_address {
                crate::limits::Refusal::LobbiesPerAddress.count();
                return Err(ChannelError::TooManyLobbies);
            }
        }
        let (tx, rx) = mailbox(LOBBY_MAILBOX);
        let handle = LobbyHandle {
            name: name.clone(),
            mailbox: tx,
            started_by: starter,
        };
        table.insert(name.clone(), handle.clone());
        metrics::gauge!(crate::metrics::LOBBIES).set(table.len() as f64);
        drop(table);
        let child = LobbyChild {
            name: name.clone(),
            first_mailbox: Some(rx),
            lobbies: self.clone(),
        };
        if let Err(error) =
            self.supervisor
                .start_child(format!("lobby:{name}"), Restart::Transient, child)
        {
            tracing::warn!(lobby = %name, %error, "could not start lobby");
            self.forget(&handle);
            return Err(ChannelError::Unavailable);
        }
        Ok(handle)
    }

    /// Removes `handle` from the table if it is still the current one for its name.
    fn forget(&self, handle: &LobbyHandle) {
        let mut table = self.table();
        if table
            .get(&handle.name)
            .is_some_and(|current| current.same_lobby(handle))
        {
            table.remove(&handle.name);
        }
        metrics::gauge!(crate::metrics::LOBBIES).set(table.len() as f64);
    }

    /// Removes the entry for `name` if its lobby has stopped.
    fn forget_if_gone(&self, name: &str) {
        let mut table = self.table();
        if table.get(name).is_some_and(LobbyHandle::is_gone) {
            table.remove(name);
        }
        metrics::gauge!(crate::metrics::LOBBIES).set(table.len() as f64);
    }

    /// A new mailbox for a restarted lobby, replacing the dead one in the table.
    fn renew(&self, name: &Arc<str>) -> MailboxReceiver<LobbyCommand> {
        let (tx, rx) = mailbox(LOBBY_MAILBOX);
        let mut table = self.table();
        let started_by = table.get(name).and_then(|h| h.started_by);
        table.insert(
            name.clone(),
            LobbyHandle {
                name: name.clone(),
                mailbox: tx,
                started_by,
            },
        );
        rx
    }
}

/// The supervisor's recipe for one lobby.
struct LobbyChild {
    name: Arc<str>,
    /// The mailbox made by `get_or_start` for the first incarnation; restarts make new ones.
    first_mailbox: Option<MailboxReceiver<LobbyCommand>>,
    lobbies: Lobbies,
}

impl ChildSpec for LobbyChild {
    fn start(&mut self, ctx: ChildContext) -> BoxFuture<'static, ()> {
        let inbox = self
            .first_mailbox
            .take()
            .unwrap_or_else(|| self.lobbies.renew(&self.name));
        let handle = self.lobbies.get(&self.name);
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
