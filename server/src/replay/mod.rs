//! Replays: `replay:<match_id>` actors that re-simulate a finished match from its stored
//! seed, configuration and input log, and send it as a live spectator would see it
//! (CONTRACT §7).
//!
//! [`Replays`] maps a match id to its running actor, started on the first join as a
//! child of the supervisor (restarted from the start if it panics: its viewers get
//! `phx_error` and rejoin). Playback is per viewer: each viewer has its own
//! re-simulation, speed and position, and its `control` changes only its own (its
//! ticks go to its socket alone, still as replaceable state broadcasts of the topic, so
//! a viewer that falls behind is resynced with a snapshot of its own playback). What
//! viewers share is the match and its checkpoints: a saved game every few seconds of
//! game time, taken by whichever playback passes first, so a seek restores the nearest
//! one and steps at most a checkpoint's interval. The actor stops a few seconds after
//! its last viewer leaves, so a replay nobody watches costs nothing; a viewer whose
//! playback has not moved for [`IDLE_VIEWER`] is closed.
//!
//! How many replay channels a user and an address may hold is counted by
//! [`crate::limits::Limits::open_replay`]; the slot rides in the [`ReplayHandle`] the
//! socket's channel table keeps, so it is released whenever the channel goes.

mod actor;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::auth::AccountStore;
use crate::events::ReplayEvent;
use crate::events::error::ChannelError;
use crate::limits::ReplaySlot;
use crate::mailbox::{Mailbox, MailboxReceiver, Overloaded, mailbox};
use crate::outbound::{ChannelRef, SocketId};
use crate::pubsub::PubSub;
use crate::supervisor::{ChildContext, ChildSpec, ExitReason, Restart, Supervisor};

pub use actor::{
    CHECKPOINT_TICKS, Checkpoints, IDLE_VIEWER, ReplayCommand, Resim, Verdict, verify,
};

/// Replays running at once; past it a join gets `too_many_replays`.
pub const MAX_REPLAYS: usize = 200;

/// Commands waiting in a replay's mailbox before more are refused `overloaded`.
const REPLAY_MAILBOX: usize = 256;

/// Sends commands to one running replay. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReplayHandle {
    pub match_id: i64,
    mailbox: Mailbox<ReplayCommand>,
    /// The viewer's place in its user's and address's replay budgets, when this handle
    /// is a joined channel's (released when the channel is forgotten).
    slot: Option<Arc<ReplaySlot>>,
}

impl ReplayHandle {
    /// This handle, holding a viewer's budget slot for as long as the channel lives.
    pub fn holding(mut self, slot: Arc<ReplaySlot>) -> Self {
        self.slot = Some(slot);
        self
    }

    /// The budget slot this channel holds.
    pub fn slot(&self) -> Option<Arc<ReplaySlot>> {
        self.slot.clone()
    }

    pub fn join(&self, chan: ChannelRef, msg_ref: Arc<str>) -> Result<(), Overloaded> {
        self.mailbox.try_send(ReplayCommand::Join { chan, msg_ref })
    }

    pub fn leave(&self, socket: SocketId) {
        self.mailbox.send_control(ReplayCommand::Leave { socket });
    }

    /// A member's socket fell behind and drained: send it a fresh snapshot (CONTRACT
    /// §10). Never refused, like a leave: at most one per member is outstanding.
    pub fn resync(&self, chan: ChannelRef) -> bool {
        self.mailbox.send_control(ReplayCommand::Resync { chan })
    }

    pub fn event(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: ReplayEvent,
    ) -> Result<(), Overloaded> {
        self.mailbox.try_send(ReplayCommand::Event {
            chan,
            msg_ref,
            event,
        })
    }

    pub fn is_gone(&self) -> bool {
        self.mailbox.is_closed()
    }

    fn same_replay(&self, other: &ReplayHandle) -> bool {
        self.mailbox.same_channel(&other.mailbox)
    }
}

/// What every replay needs from the rest of the server.
#[derive(Clone)]
pub struct ReplayDeps {
    pub pubsub: PubSub,
    pub accounts: AccountStore,
    /// Enables the test-only `debug_crash` event.
    pub test_hooks: bool,
}

/// The running replays by match id. Cheap to clone.
#[derive(Clone)]
pub struct Replays {
    running: Arc<Mutex<HashMap<i64, ReplayHandle>>>,
    supervisor: Supervisor,
    deps: ReplayDeps,
}

impl Replays {
    pub fn new(supervisor: Supervisor, deps: ReplayDeps) -> Self {
        Replays {
            running: Arc::default(),
            supervisor,
            deps,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<i64, ReplayHandle>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many replays run now.
    pub fn running(&self) -> usize {
        self.table().len()
    }

    /// The replay of match `id`, started if it is not running.
    pub fn get_or_start(&self, id: i64) -> Result<ReplayHandle, ChannelError> {
        let mut table = self.table();
        if let Some(handle) = table.get(&id)
            && !handle.is_gone()
        {
            return Ok(handle.clone());
        }
        table.retain(|_, h| !h.is_gone());
        if table.len() >= MAX_REPLAYS {
            return Err(ChannelError::TooManyReplays);
        }
        let (tx, rx) = mailbox(REPLAY_MAILBOX);
        let handle = ReplayHandle {
            match_id: id,
            mailbox: tx,
            slot: None,
        };
        table.insert(id, handle.clone());
        drop(table);
        let child = ReplayChild {
            match_id: id,
            first_mailbox: Some(rx),
            replays: self.clone(),
        };
        if let Err(error) =
            self.supervisor
                .start_child(format!("replay:{id}"), Restart::Transient, child)
        {
            tracing::warn!(match_id = id, %error, "could not start a replay");
            self.forget(&handle);
            return Err(ChannelError::Unavailable);
        }
        Ok(handle)
    }

    /// Removes `handle` from the table if it is still the current one for its match.
    fn forget(&self, handle: &ReplayHandle) {
        let mut table = self.table();
        if table
            .get(&handle.match_id)
            .is_some_and(|current| current.same_replay(handle))
        {
            table.remove(&handle.match_id);
        }
    }

    /// A new mailbox for a restarted replay, replacing the dead one in the table.
    fn renew(&self, id: i64) -> (ReplayHandle, MailboxReceiver<ReplayCommand>) {
        let (tx, rx) = mailbox(REPLAY_MAILBOX);
        let handle = ReplayHandle {
            match_id: id,
            mailbox: tx,
            slot: None,
        };
        self.table().insert(id, handle.clone());
        (handle, rx)
    }
}

/// The supervisor's recipe for one replay.
struct ReplayChild {
    match_id: i64,
    first_mailbox: Option<MailboxReceiver<ReplayCommand>>,
    replays: Replays,
}

impl ChildSpec for ReplayChild {
    fn start(&mut self, ctx: ChildContext) -> BoxFuture<'static, ()> {
        let (handle, inbox) = match self.first_mailbox.take() {
            Some(rx) => {
                let handle = self.replays.table().get(&self.match_id).cloned();
                match handle {
                    Some(handle) => (handle, rx),
                    None => self.replays.renew(self.match_id),
                }
            }
            None => self.replays.renew(self.match_id),
        };
        actor::run(
            self.match_id,
            inbox,
            handle,
            self.replays.clone(),
            ctx.cancel,
        )
        .boxed()
    }

    fn on_crash(&mut self, id: &str, panic: &str) {
        tracing::error!(child = id, panic, "replay crashed");
        let topic = format!("replay:{}", self.match_id);
        self.replays.deps.pubsub.crash_topic(&topic);
    }

    fn on_exit(&mut self, _id: &str, _why: &ExitReason) {
        let mut table = self.replays.table();
        if table.get(&self.match_id).is_some_and(ReplayHandle::is_gone) {
            table.remove(&self.match_id);
        }
    }
}
