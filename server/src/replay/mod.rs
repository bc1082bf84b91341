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
//! [`crate::limits::Limits::open_replay`]; the slot rides in the socket's channel table
//! entry (`socket/channels.rs`), so it is released whenever the channel goes.

mod actor;

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use kurve_shared::phoenix::InPayload;

use crate::actor::{Actor, ActorHandle, ChannelCommand, ChannelKind, Registry};
use crate::game::Games;
use crate::mailbox::MailboxReceiver;
use crate::outbound::{ChannelRef, SocketId};
use crate::protocol::error::ChannelError;
use crate::protocol::{ReplayEvent, RoomJoin};
use crate::pubsub::PubSub;
use crate::store::Store;
use crate::supervisor::{ChildContext, ExitReason, Restart, Supervisor};

pub use actor::{
    CHECKPOINT_TICKS, Checkpoints, IDLE_VIEWER, ReplayCommand, Resim, Verdict, verify,
};

/// Replays running at once; past it a join gets `too_many_replays`.
pub const MAX_REPLAYS: usize = 200;

/// Commands waiting in a replay's mailbox before more are refused `overloaded`.
const REPLAY_MAILBOX: usize = 256;

/// Sends commands to one running replay. Cheap to clone.
pub type ReplayHandle = ActorHandle<ReplayCommand>;

impl ChannelCommand for ReplayCommand {
    const KIND: ChannelKind = ChannelKind::Replay;
    type Event = ReplayEvent;

    fn decode(event: &str, payload: InPayload) -> Result<ReplayEvent, ChannelError> {
        ReplayEvent::decode(event, payload)
    }

    /// Replays take no join params.
    fn join(chan: ChannelRef, msg_ref: Arc<str>, _params: RoomJoin) -> Self {
        ReplayCommand::Join { chan, msg_ref }
    }

    fn leave(socket: SocketId, _explicit: bool) -> Self {
        ReplayCommand::Leave { socket }
    }

    fn event(chan: ChannelRef, msg_ref: Arc<str>, event: ReplayEvent) -> Self {
        ReplayCommand::Event {
            chan,
            msg_ref,
            event,
        }
    }

    /// The viewer gets a fresh snapshot of its own playback.
    fn resync(chan: ChannelRef) -> Option<Self> {
        Some(ReplayCommand::Resync { chan })
    }
}

/// What every replay needs from the rest of the server.
#[derive(Clone)]
pub struct ReplayDeps {
    pub pubsub: PubSub,
    pub store: Store,
    /// The games a stored match may be of.
    pub games: Games,
    /// Enables the test-only `debug_crash` event.
    pub test_hooks: bool,
}

/// The running replays by match id. Cheap to clone.
#[derive(Clone)]
pub struct Replays {
    running: Registry<i64, ReplayHandle>,
    supervisor: Supervisor,
    deps: ReplayDeps,
}

impl Replays {
    pub fn new(supervisor: Supervisor, deps: ReplayDeps) -> Self {
        Replays {
            running: Registry::new(REPLAY_MAILBOX),
            supervisor,
            deps,
        }
    }

    /// How many replays run now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// The replay of match `id`, started if it is not running.
    pub fn get_or_start(&self, id: i64) -> Result<ReplayHandle, ChannelError> {
        let mut table = self.running.lock();
        if let Some(handle) = table.get(&id)
            && !handle.is_gone()
        {
            return Ok(handle.clone());
        }
        table.retain(|_, h| !h.is_gone());
        if table.len() >= MAX_REPLAYS {
            return Err(ChannelError::TooManyReplays);
        }
        let (handle, inbox) = self.running.mailbox();
        table.insert(id, handle.clone());
        drop(table);
        let replay = ReplayActor {
            match_id: id,
            replays: self.clone(),
        };
        if let Err(error) = self.running.start(
            &self.supervisor,
            format!("replay:{id}"),
            Restart::Transient,
            id,
            (handle.clone(), inbox),
            replay,
        ) {
            tracing::warn!(match_id = id, %error, "could not start a replay");
            self.forget(id, &handle);
            return Err(ChannelError::Unavailable);
        }
        Ok(handle)
    }

    /// Removes `handle` from the table if it is still the current one for match `id`.
    fn forget(&self, id: i64, handle: &ReplayHandle) {
        self.running.forget(&id, handle);
    }
}

/// What a replay does when the supervisor starts, loses or ends it.
struct ReplayActor {
    match_id: i64,
    replays: Replays,
}

impl Actor for ReplayActor {
    type Entry = ReplayHandle;

    fn run(
        &mut self,
        handle: ReplayHandle,
        inbox: MailboxReceiver<ReplayCommand>,
        ctx: ChildContext,
    ) -> BoxFuture<'static, ()> {
        actor::run(
            self.match_id,
            inbox,
            handle,
            self.replays.clone(),
            ctx.cancel,
        )
        .boxed()
    }

    /// A replay that crashed after leaving the table is listed again.
    fn relist(&self, handle: ReplayHandle) -> Option<ReplayHandle> {
        Some(handle)
    }

    fn on_crash(&mut self, id: &str, panic: &str) {
        tracing::error!(child = id, panic, "replay crashed");
        let topic = format!("replay:{}", self.match_id);
        self.replays.deps.pubsub.crash_topic(&topic);
    }

    fn on_exit(&mut self, _id: &str, _why: &ExitReason) {
        self.replays.running.forget_if_gone(&self.match_id);
    }
}
