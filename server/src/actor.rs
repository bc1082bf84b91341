//! The actor skeleton every channel kind shares: a handle over a bounded [`Mailbox`],
//! the trait the socket routes a joined channel's frames to, and the [`Registry`] of
//! running actors by key that starts them as children of the supervisor.
//!
//! An actor kind (lobby, room, replay, admin) writes only its policy: a command enum
//! that says how to carry a join, a leave, a client event and a resync
//! ([`ChannelCommand`]), and what one incarnation does ([`Actor`]). The plumbing —
//! bounded joins and events, never-dropped leaves and resyncs, the restarted actor's
//! fresh mailbox replacing the dead one in the table — is written here once. A new
//! channel kind is one `ChannelCommand` impl, one `Actor` impl and one line of topic
//! routing (`socket/route.rs`).
//!
//! Client events stay typed: the socket hands an actor the event's name and payload,
//! and [`ChannelCommand::decode`] turns them into that kind's event enum (`crate::protocol`)
//! before anything reaches the mailbox, so an undecodable event is refused at the edge.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::BoxFuture;
use kurve_shared::phoenix::InPayload;

pub use crate::mailbox::Overloaded;
use crate::mailbox::{Mailbox, MailboxReceiver, mailbox};
use crate::outbound::{ChannelRef, SocketId};
use crate::protocol::RoomJoin;
use crate::protocol::error::ChannelError;
use crate::supervisor::{
    ChildContext, ChildSpec, ExitReason, Restart, Supervisor, SupervisorError,
};

/// What kind of channel a topic is; its label names it in metrics (`kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Lobby,
    Room,
    Replay,
    Admin,
}

impl ChannelKind {
    /// The `kind` label of channel metrics.
    pub fn label(self) -> &'static str {
        match self {
            ChannelKind::Lobby => "lobby",
            ChannelKind::Room => "room",
            ChannelKind::Replay => "replay",
            ChannelKind::Admin => "admin",
        }
    }
}

/// What a socket's joined channel talks to: the actor behind a topic, on this node or
/// (a room) on another. The socket never knows which kind it holds beyond [`kind`].
///
/// [`kind`]: ChannelActor::kind
pub trait ChannelActor: Debug + Send + Sync {
    /// Which kind of channel this is (metrics, and the socket's per-kind budgets).
    fn kind(&self) -> ChannelKind;

    /// Asks the actor to join `chan`; it replies to `msg_ref` itself. `params` is what
    /// a room join asked for (the other kinds take no params). Err: the actor is busy.
    fn join(&self, chan: ChannelRef, msg_ref: Arc<str>, params: RoomJoin)
    -> Result<(), Overloaded>;

    /// Tells the actor the socket left the channel (never dropped, see
    /// [`crate::mailbox`]). `explicit`: the client sent `phx_leave`, rather than the
    /// socket going away.
    fn leave(&self, socket: SocketId, explicit: bool);

    /// Decodes a client event for this kind of topic and forwards it; the actor replies
    /// to `msg_ref` itself. Err (undecodable, or the actor is busy) is for the caller to
    /// reply with.
    fn event(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: &str,
        payload: InPayload,
    ) -> Result<(), ChannelError>;

    /// Asks the actor for a fresh snapshot of its state for `chan`, whose socket fell
    /// behind and skipped some of its broadcasts (CONTRACT §10). Never refused, like a
    /// leave: a socket has at most one resync per channel outstanding. False when the
    /// actor has nothing to resend (its broadcasts are all events) or is gone.
    fn resync(&self, chan: ChannelRef) -> bool;

    /// True when the actor behind this handle has stopped (crashed or ended).
    fn is_gone(&self) -> bool;
}

/// A command enum of a channel actor: how the shared handle carries a socket's join,
/// leave, client event and resync to it.
pub trait ChannelCommand: Debug + Send + Sized + 'static {
    const KIND: ChannelKind;

    /// The client events of this kind of topic, decoded at the edge.
    type Event;

    /// Decodes one client event (`crate::protocol`).
    fn decode(event: &str, payload: InPayload) -> Result<Self::Event, ChannelError>;

    fn join(chan: ChannelRef, msg_ref: Arc<str>, params: RoomJoin) -> Self;

    fn leave(socket: SocketId, explicit: bool) -> Self;

    fn event(chan: ChannelRef, msg_ref: Arc<str>, event: Self::Event) -> Self;

    /// None when this kind has nothing to resend to a member that fell behind.
    fn resync(chan: ChannelRef) -> Option<Self>;
}

/// Sends commands to one running actor. Cheap to clone.
#[derive(Debug)]
pub struct ActorHandle<C> {
    mailbox: Mailbox<C>,
}

impl<C> Clone for ActorHandle<C> {
    fn clone(&self) -> Self {
        ActorHandle {
            mailbox: self.mailbox.clone(),
        }
    }
}

impl<C> ActorHandle<C> {
    /// A handle and the mailbox its actor reads, holding at most `capacity` ordinary
    /// commands.
    pub fn new(capacity: usize) -> (Self, MailboxReceiver<C>) {
        let (mailbox, inbox) = mailbox(capacity);
        (ActorHandle { mailbox }, inbox)
    }

    /// Sends an ordinary command, refused when the mailbox is full.
    pub fn try_send(&self, command: C) -> Result<(), Overloaded> {
        self.mailbox.try_send(command)
    }

    /// Sends a command that must not be lost; false if the actor is gone.
    pub fn send_control(&self, command: C) -> bool {
        self.mailbox.send_control(command)
    }

    pub fn is_gone(&self) -> bool {
        self.mailbox.is_closed()
    }

    /// Whether both handles reach the same incarnation of the actor.
    pub fn same_actor(&self, other: &ActorHandle<C>) -> bool {
        self.mailbox.same_channel(&other.mailbox)
    }
}

impl<C: ChannelCommand> ActorHandle<C> {
    pub fn join(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        params: RoomJoin,
    ) -> Result<(), Overloaded> {
        self.try_send(C::join(chan, msg_ref, params))
    }

    /// Never refused: losing a leave would leave a ghost in presence.
    pub fn leave(&self, socket: SocketId, explicit: bool) {
        self.send_control(C::leave(socket, explicit));
    }

    pub fn event(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: C::Event,
    ) -> Result<(), Overloaded> {
        self.try_send(C::event(chan, msg_ref, event))
    }

    /// A member's socket fell behind and drained: the actor sends it its state afresh
    /// (CONTRACT §10). Never refused, like a leave: at most one per member is
    /// outstanding.
    pub fn resync(&self, chan: ChannelRef) -> bool {
        C::resync(chan).is_some_and(|command| self.send_control(command))
    }
}

impl<C: ChannelCommand> ChannelActor for ActorHandle<C> {
    fn kind(&self) -> ChannelKind {
        C::KIND
    }

    fn join(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        params: RoomJoin,
    ) -> Result<(), Overloaded> {
        ActorHandle::join(self, chan, msg_ref, params)
    }

    fn leave(&self, socket: SocketId, explicit: bool) {
        ActorHandle::leave(self, socket, explicit);
    }

    fn event(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: &str,
        payload: InPayload,
    ) -> Result<(), ChannelError> {
        let event = C::decode(event, payload)?;
        Ok(ActorHandle::event(self, chan, msg_ref, event)?)
    }

    fn resync(&self, chan: ChannelRef) -> bool {
        ActorHandle::resync(self, chan)
    }

    fn is_gone(&self) -> bool {
        ActorHandle::is_gone(self)
    }
}

/// One incarnation of an actor: the handle listed for it and the mailbox it reads.
pub type Incarnation<C> = (ActorHandle<C>, MailboxReceiver<C>);

/// One entry of a [`Registry`]: the running actor's handle, with whatever its kind
/// keeps beside it (a room's summary, the address that started a lobby).
pub trait Listed: Send + 'static {
    type Command: Send + 'static;

    fn handle(&self) -> &ActorHandle<Self::Command>;

    /// Points the entry at a restarted incarnation.
    fn set_handle(&mut self, handle: ActorHandle<Self::Command>);
}

/// An entry that is the handle alone.
impl<C: Send + 'static> Listed for ActorHandle<C> {
    type Command = C;

    fn handle(&self) -> &ActorHandle<C> {
        self
    }

    fn set_handle(&mut self, handle: ActorHandle<C>) {
        *self = handle;
    }
}

/// The running actors of one kind by key. Cheap to clone.
///
/// An entry is added when its actor is started, replaced (same key, fresh mailbox)
/// when the supervisor restarts it, and removed when it ends; a handle that is gone
/// may linger until then, so lookups skip it.
pub struct Registry<K, E: Listed> {
    entries: Arc<Mutex<HashMap<K, E>>>,
    /// Commands an actor of this kind holds waiting before it refuses more.
    capacity: usize,
}

impl<K, E: Listed> Clone for Registry<K, E> {
    fn clone(&self) -> Self {
        Registry {
            entries: self.entries.clone(),
            capacity: self.capacity,
        }
    }
}

/// The registry's table, locked.
pub type Table<'a, K, E> = MutexGuard<'a, HashMap<K, E>>;

impl<K, E> Registry<K, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    E: Listed,
{
    /// An empty registry whose actors' mailboxes hold `capacity` commands.
    pub fn new(capacity: usize) -> Self {
        Registry {
            entries: Arc::default(),
            capacity,
        }
    }

    /// The table, for a kind's own lookups and for listing a new actor. Never held
    /// across an `.await`.
    pub fn lock(&self) -> Table<'_, K, E> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A handle for a new actor and the mailbox its first incarnation reads; the
    /// caller lists the handle in its entry, then [`Registry::start`]s it.
    pub fn mailbox(&self) -> Incarnation<E::Command> {
        ActorHandle::new(self.capacity)
    }

    /// The running actor under `key`, if any (does not start one).
    pub fn get<Q>(&self, key: &Q) -> Option<ActorHandle<E::Command>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock()
            .get(key)
            .map(|e| e.handle().clone())
            .filter(|h| !h.is_gone())
    }

    /// How many actors are listed.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Starts the actor listed under `key` (its handle and mailbox from
    /// [`Registry::mailbox`]) as a child `id` of `supervisor`. On Err the caller forgets
    /// the entry.
    pub fn start<A>(
        &self,
        supervisor: &Supervisor,
        id: String,
        restart: Restart,
        key: K,
        first: Incarnation<E::Command>,
        actor: A,
    ) -> Result<(), SupervisorError>
    where
        A: Actor<Entry = E>,
    {
        let child = ActorChild {
            key,
            registry: self.clone(),
            first: Some(first),
            actor,
        };
        supervisor.start_child(id, restart, child)
    }

    /// Removes the entry under `key` if it still holds `handle`'s incarnation; the
    /// removed entry.
    pub fn forget(&self, key: &K, handle: &ActorHandle<E::Command>) -> Option<E> {
        let mut table = self.lock();
        if table
            .get(key)
            .is_some_and(|current| current.handle().same_actor(handle))
        {
            return table.remove(key);
        }
        None
    }

    /// Removes the entry under `key` if its actor has stopped; the removed entry.
    pub fn forget_if_gone(&self, key: &K) -> Option<E> {
        let mut table = self.lock();
        if table.get(key).is_some_and(|e| e.handle().is_gone()) {
            return table.remove(key);
        }
        None
    }

    /// A fresh mailbox for a restarted actor, replacing the dead one under `key`; an
    /// actor forgotten meanwhile is listed again when `relist` makes an entry for it.
    fn renew(
        &self,
        key: &K,
        relist: impl FnOnce(ActorHandle<E::Command>) -> Option<E>,
    ) -> Incarnation<E::Command> {
        let (handle, inbox) = self.mailbox();
        let mut table = self.lock();
        match table.get_mut(key) {
            Some(entry) => entry.set_handle(handle.clone()),
            None => {
                if let Some(entry) = relist(handle.clone()) {
                    table.insert(key.clone(), entry);
                }
            }
        }
        (handle, inbox)
    }
}

/// What one kind of actor does when the supervisor starts, loses or ends it: the
/// policy its [`Registry`] entry's child runs.
pub trait Actor: Send + 'static {
    type Entry: Listed;

    /// One incarnation, reading `inbox`; `handle` is the one listed for it.
    fn run(
        &mut self,
        handle: ActorHandle<<Self::Entry as Listed>::Command>,
        inbox: MailboxReceiver<<Self::Entry as Listed>::Command>,
        ctx: ChildContext,
    ) -> BoxFuture<'static, ()>;

    /// The entry a restarted actor is listed under again if it was forgotten before
    /// it crashed (None: it runs unlisted).
    fn relist(&self, handle: ActorHandle<<Self::Entry as Listed>::Command>) -> Option<Self::Entry>;

    /// An incarnation panicked: tell its members (`phx_error`), before any restart.
    fn on_crash(&mut self, id: &str, panic: &str);

    /// The actor is gone for good: it leaves the registry.
    fn on_exit(&mut self, _id: &str, _why: &ExitReason) {}
}

/// The supervisor's recipe for one actor of a registry.
struct ActorChild<K, A: Actor> {
    key: K,
    registry: Registry<K, A::Entry>,
    /// The mailbox made when the actor was listed, for the first incarnation; restarts
    /// make new ones.
    first: Option<Incarnation<<A::Entry as Listed>::Command>>,
    actor: A,
}

impl<K, A> ChildSpec for ActorChild<K, A>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    A: Actor,
{
    fn start(&mut self, ctx: ChildContext) -> BoxFuture<'static, ()> {
        let (handle, inbox) = match self.first.take() {
            Some(first) => first,
            None => {
                let actor = &self.actor;
                self.registry
                    .renew(&self.key, |handle| actor.relist(handle))
            }
        };
        self.actor.run(handle, inbox, ctx)
    }

    fn on_crash(&mut self, id: &str, panic: &str) {
        self.actor.on_crash(id, panic);
    }

    fn on_exit(&mut self, id: &str, why: &ExitReason) {
        self.actor.on_exit(id, why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Handles = Registry<&'static str, ActorHandle<u32>>;

    #[test]
    fn only_the_current_incarnation_is_forgotten() {
        let registry = Handles::new(4);
        let (old, _old_inbox) = registry.mailbox();
        registry.lock().insert("a", old.clone());
        let (new, _inbox) = registry.renew(&"a", |_| None);
        assert!(
            registry.forget(&"a", &old).is_none(),
            "the handle of a restarted actor's old incarnation forgets nothing"
        );
        assert!(
            registry.get("a").is_some_and(|h| h.same_actor(&new)),
            "the restart replaced the listed handle"
        );
        assert!(registry.forget(&"a", &new).is_some());
        assert!(registry.is_empty());
    }

    #[test]
    fn a_forgotten_actor_is_relisted_only_when_its_kind_says_so() {
        let registry = Handles::new(4);
        let (_handle, _inbox) = registry.renew(&"a", |_| None);
        assert!(registry.is_empty(), "relist said no");
        let (handle, _inbox) = registry.renew(&"a", Some);
        assert!(registry.get("a").is_some_and(|h| h.same_actor(&handle)));
    }

    #[test]
    fn a_stopped_actor_is_skipped_until_forgotten() {
        let registry = Handles::new(4);
        let (handle, inbox) = registry.mailbox();
        registry.lock().insert("a", handle);
        drop(inbox);
        assert!(
            registry.get("a").is_none(),
            "a stopped actor is not handed out"
        );
        assert_eq!(registry.len(), 1, "but stays listed until its exit");
        assert!(registry.forget_if_gone(&"a").is_some());
        assert!(registry.is_empty());
    }
}
