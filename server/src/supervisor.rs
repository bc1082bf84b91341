//! Dynamic supervisor for tokio tasks.
//!
//! Lobbies and game rooms run as *children* of a [`Supervisor`]: each one is a
//! [`ChildSpec`] that can build a fresh future (an *incarnation*) on demand.
//! The supervisor starts a child by id, notices when an incarnation returns or
//! panics, restarts it within a bounded [`RestartIntensity`], stops single
//! children, and stops and waits for all of them on shutdown.
//!
//! ## Data flow
//!
//! `start_child` inserts an entry into the child table and spawns one small
//! *monitor* task per child, tracked by the supervisor's [`TaskTracker`]. The
//! monitor calls [`ChildSpec::start`], spawns the incarnation with
//! `tokio::spawn`, awaits its `JoinHandle`, and decides:
//!
//! - panicked → [`ChildSpec::on_crash`], then restart (unless cancelled);
//! - returned → [`Restart::Transient`] children are gone, [`Restart::Permanent`]
//!   ones are restarted;
//! - cancelled (stopped or shut down) → the child is gone.
//!
//! Every restart is checked against the intensity window first; one restart too
//! many and the supervisor gives up on that child. When a child is finally gone
//! the monitor calls [`ChildSpec::on_exit`], removes the entry and publishes
//! [`SupervisorEvent::Exited`], so the id can be started again at once.
//!
//! Cancellation is one tree: parent token → supervisor token → one token per
//! child, handed to every incarnation in its [`ChildContext`].
//!
//! **Invariant:** the child table lock is never held across an `.await`, and
//! no user callback runs while it is held.
//!
//! **Invariant:** an entry is removed only by its own monitor (or that
//! monitor's drop guard), so a new child with the same id is never removed by
//! an old monitor.
//!
//! **Invariant:** there is no backoff here. The supervisor restarts at once; a
//! child that wants to back off sleeps at the start of its incarnation, using
//! [`ChildContext::restarts`].

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};
use tracing::{debug, error, info, warn};

/// How long a cancelled incarnation may take to wind down before it is
/// aborted. Rooms flush a final state and say goodbye to clients on
/// cancellation, which takes milliseconds; two seconds is ample, and with
/// [`MONITOR_SLACK`] fits the shutdown's budget for children
/// (`config::shutdown::CHILDREN`).
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Extra time, on top of [`STOP_GRACE`], that `stop_child` and `shutdown` give
/// a monitor to run `on_exit` and clean up before they abort the monitor
/// itself. Only a buggy callback ever uses it.
pub const MONITOR_SLACK: Duration = Duration::from_secs(1);

/// Capacity of the event channel. Events are rare (starts, crashes, exits), so
/// 256 covers bursts such as a shutdown of a full server; a receiver that falls
/// further behind gets `Lagged` rather than slowing the supervisor down.
const EVENT_CAPACITY: usize = 256;

/// How many restarts a child may use in a sliding time window before the
/// supervisor gives up on it (Erlang's `max_restarts` / `max_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartIntensity {
    /// Restarts allowed inside `within`; the next failure inside the window
    /// makes the supervisor give up. Zero means "never restart".
    pub max_restarts: u32,
    /// Length of the sliding window. Failures further apart than this never
    /// add up, so a child that crashes rarely is restarted indefinitely.
    pub within: Duration,
}

impl Default for RestartIntensity {
    /// Three restarts within five seconds: enough to ride out a transient
    /// fault, few enough that a crash loop is noticed within seconds.
    fn default() -> Self {
        Self {
            max_restarts: 3,
            within: Duration::from_secs(5),
        }
    }
}

/// When a child is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Restart only after a panic; a normal return removes the child (rooms
    /// that dispose themselves when the last player leaves).
    Transient,
    /// Restart after a panic or a normal return (unless the supervisor or the
    /// child was cancelled).
    Permanent,
}

/// Given to each incarnation of a child.
#[derive(Debug, Clone)]
pub struct ChildContext {
    /// The id the child was started with, for logs and for registering
    /// itself elsewhere (pubsub topics, the room table).
    pub id: String,
    /// Cancelled when the child is stopped or the supervisor shuts down;
    /// child loops `select!` on it and return promptly.
    pub cancel: CancellationToken,
    /// 0 for the first start, then 1, 2, ... so a child can back off or
    /// reload state after a crash.
    pub restarts: u32,
}

/// A child the supervisor can (re)start.
pub trait ChildSpec: Send + 'static {
    /// Builds one incarnation of the child. Called again for every restart.
    /// A panic here counts as a crash of that incarnation.
    fn start(&mut self, ctx: ChildContext) -> BoxFuture<'static, ()>;

    /// Called (in the supervisor's monitor, before any restart) when an
    /// incarnation panicked, with the panic message. Rooms use it to tell
    /// their clients `phx_error`. Default: nothing.
    fn on_crash(&mut self, _id: &str, _panic: &str) {}

    /// Called once when the child is finally gone (normal end, stopped, or
    /// gave up). Default: nothing.
    fn on_exit(&mut self, _id: &str, _why: &ExitReason) {}
}

impl ChildSpec for Box<dyn ChildSpec> {
    fn start(&mut self, ctx: ChildContext) -> BoxFuture<'static, ()> {
        (**self).start(ctx)
    }

    fn on_crash(&mut self, id: &str, panic: &str) {
        (**self).on_crash(id, panic);
    }

    fn on_exit(&mut self, id: &str, why: &ExitReason) {
        (**self).on_exit(id, why);
    }
}

/// A [`ChildSpec`] made from a closure; see [`child_fn`].
pub struct FnChild<F> {
    /// Called once per incarnation.
    make: F,
}

/// Turns a closure into a [`ChildSpec`] with no `on_crash`/`on_exit` hooks.
///
/// ```ignore
/// sup.start_child("ticker", Restart::Permanent, child_fn(|ctx| async move {
///     ctx.cancel.cancelled().await;
/// }))?;
/// ```
pub fn child_fn<F, Fut>(make: F) -> FnChild<F>
where
    F: FnMut(ChildContext) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    FnChild { make }
}

impl<F, Fut> ChildSpec for FnChild<F>
where
    F: FnMut(ChildContext) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn start(&mut self, ctx: ChildContext) -> BoxFuture<'static, ()> {
        (self.make)(ctx).boxed()
    }
}

/// Why a child is gone for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// A [`Restart::Transient`] child returned on its own.
    Normal,
    /// The child was stopped by `stop_child`, `shutdown` or the parent token.
    Stopped,
    /// The child failed once more than the restart intensity allows.
    GaveUp {
        /// Restarts it had used when the supervisor gave up.
        restarts: u32,
    },
}

/// What happened to a child, for observers and tests.
///
/// Per child the order is: `Started{0}`, then for every restart
/// (`Crashed` if it panicked) `Restarted{n}` `Started{n}`, and finally
/// (`Crashed` if it panicked) `Exited`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorEvent {
    /// An incarnation was spawned; `restarts` is its [`ChildContext::restarts`].
    Started { id: String, restarts: u32 },
    /// An incarnation panicked (published after `on_crash` ran).
    Crashed { id: String, panic: String },
    /// The supervisor decided to restart the child; `restarts` counts this
    /// restart. The matching `Started` follows.
    Restarted { id: String, restarts: u32 },
    /// The child is gone for good (published after `on_exit` ran and the id
    /// was freed, so it can be started again right away).
    Exited { id: String, reason: ExitReason },
}

/// Why `start_child` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    #[error("a child with that id is already running")]
    AlreadyRunning,
    #[error("the supervisor is shutting down")]
    ShuttingDown,
}

/// A cheap, cloneable handle to a supervisor. Dropping every handle does not
/// stop the children; the parent token or [`Supervisor::shutdown`] does.
#[derive(Clone)]
pub struct Supervisor {
    /// Shared with every monitor task, which needs the table and the events.
    inner: Arc<Inner>,
}

struct Inner {
    /// Names the supervisor in logs and in the restart metric's label.
    name: &'static str,
    /// Applied to every child separately; one child's crashes never use up
    /// another's budget.
    intensity: RestartIntensity,
    /// Child of the parent token; every child token hangs off it, so
    /// cancelling it (shutdown, or the parent going away) stops everything.
    cancel: CancellationToken,
    /// Tracks the monitor tasks, so `shutdown` can wait for all of them.
    tracker: TaskTracker,
    /// The live children; see [`Table`].
    table: Mutex<Table>,
    /// Fans events out to any number of observers without blocking.
    events: broadcast::Sender<SupervisorEvent>,
}

struct Table {
    /// Set by the first `shutdown`; checked under the same lock as the insert
    /// in `start_child`, so no child can slip in after shutdown began.
    shutting_down: bool,
    /// Source of [`ChildEntry::serial`].
    next_serial: u64,
    /// Live children by id. An id is present from `start_child` until the
    /// child is gone for good, across restarts.
    children: HashMap<String, ChildEntry>,
}

struct ChildEntry {
    /// Tells this entry apart from a later child with the same id, so a
    /// monitor's drop guard only ever removes its own entry.
    serial: u64,
    /// The child's own token (a child of the supervisor token); cancelling it
    /// stops just this child.
    cancel: CancellationToken,
    /// Closes when the monitor ends: the monitor holds the only sender and
    /// never sends, so `changed()` fails exactly when the child is gone, even
    /// if the monitor was aborted.
    done: watch::Receiver<()>,
    /// Last resort for `stop_child`/`shutdown` when the monitor does not end
    /// in time; aborting it also aborts the incarnation it owns. `None` only
    /// for the moment between the insert and the spawn in `start_child`.
    monitor: Option<AbortHandle>,
}

impl Supervisor {
    /// Creates a supervisor whose children all stop when `parent` is
    /// cancelled.
    pub fn new(
        name: &'static str,
        intensity: RestartIntensity,
        parent: &CancellationToken,
    ) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                name,
                intensity,
                cancel: parent.child_token(),
                tracker: TaskTracker::new(),
                table: Mutex::new(Table {
                    shutting_down: false,
                    next_serial: 0,
                    children: HashMap::new(),
                }),
                events,
            }),
        }
    }

    /// The name given to [`Supervisor::new`].
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// Starts a child under `id`.
    ///
    /// Err(AlreadyRunning) if a child with that id is alive; Err(ShuttingDown)
    /// after shutdown began (or the parent token was cancelled).
    pub fn start_child(
        &self,
        id: impl Into<String>,
        restart: Restart,
        spec: impl ChildSpec,
    ) -> Result<(), SupervisorError> {
        let id = id.into();
        let inner = &self.inner;
        let (serial, cancel, done_tx, tracked) = {
            let mut table = inner.lock();
            if table.shutting_down || inner.cancel.is_cancelled() {
                return Err(SupervisorError::ShuttingDown);
            }
            if table.children.contains_key(&id) {
                return Err(SupervisorError::AlreadyRunning);
            }
            let serial = table.next_serial;
            table.next_serial += 1;
            let cancel = inner.cancel.child_token();
            let (done_tx, done) = watch::channel(());
            // Taken under the lock, so a shutdown that begins right after
            // this still waits for the monitor spawned below.
            let tracked = inner.tracker.token();
            table.children.insert(
                id.clone(),
                ChildEntry {
                    serial,
                    cancel: cancel.clone(),
                    done,
                    monitor: None,
                },
            );
            (serial, cancel, done_tx, tracked)
        };
        // Spawned outside the lock: if the runtime drops the task at once,
        // the guard's drop takes the lock to remove the entry.
        let monitor = Monitor {
            inner: Arc::clone(inner),
            id: id.clone(),
            restart,
            spec,
            cancel,
            restarts: 0,
            recent: VecDeque::new(),
        };
        let guard = EntryGuard {
            inner: Arc::clone(inner),
            id: id.clone(),
            serial,
            _done: done_tx,
        };
        let handle = tokio::spawn(async move {
            let _tracked = tracked;
            monitor.run(guard).await;
        });
        if let Some(entry) = inner.lock().children.get_mut(&id)
            && entry.serial == serial
        {
            entry.monitor = Some(handle.abort_handle());
        }
        debug!(supervisor = inner.name, child = %id, ?restart, "child started");
        Ok(())
    }

    /// Whether a child with that id is alive (running, or between a crash and
    /// its restart).
    pub fn is_running(&self, id: &str) -> bool {
        self.inner.lock().children.contains_key(id)
    }

    /// Number of live children.
    pub fn children(&self) -> usize {
        self.inner.lock().children.len()
    }

    /// Cancels that child's token and waits until it has ended: an
    /// incarnation that ignores its token is aborted after [`STOP_GRACE`].
    /// Returns false if no child with that id was running.
    pub async fn stop_child(&self, id: &str) -> bool {
        let found = self.inner.lock().children.get(id).map(|entry| {
            (
                entry.cancel.clone(),
                entry.done.clone(),
                entry.monitor.clone(),
            )
        });
        let Some((cancel, mut done, monitor)) = found else {
            return false;
        };
        cancel.cancel();
        if tokio::time::timeout(STOP_GRACE + MONITOR_SLACK, wait_done(&mut done))
            .await
            .is_err()
        {
            warn!(supervisor = self.inner.name, child = %id, "child monitor did not end, aborting");
            if let Some(monitor) = monitor {
                monitor.abort();
            }
            wait_done(&mut done).await;
        }
        true
    }

    /// Cancels every child and waits for all to end; incarnations that ignore
    /// their token are aborted after [`STOP_GRACE`]. Idempotent: later calls
    /// just wait for the same end.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        let first = {
            let mut table = inner.lock();
            let first = !table.shutting_down;
            table.shutting_down = true;
            if first {
                info!(
                    supervisor = inner.name,
                    children = table.children.len(),
                    "supervisor shutting down"
                );
            }
            first
        };
        inner.cancel.cancel();
        inner.tracker.close();
        if tokio::time::timeout(STOP_GRACE + MONITOR_SLACK, inner.tracker.wait())
            .await
            .is_err()
        {
            let stragglers: Vec<AbortHandle> = inner
                .lock()
                .children
                .values()
                .filter_map(|entry| entry.monitor.clone())
                .collect();
            warn!(
                supervisor = inner.name,
                stragglers = stragglers.len(),
                "child monitors did not end, aborting"
            );
            for monitor in stragglers {
                monitor.abort();
            }
            inner.tracker.wait().await;
        }
        if first {
            info!(supervisor = inner.name, "supervisor shut down");
        }
    }

    /// Events for observers and tests; see [`SupervisorEvent`] for the order.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisorEvent> {
        self.inner.events.subscribe()
    }
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("name", &self.inner.name)
            .field("intensity", &self.inner.intensity)
            .field("children", &self.children())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock cannot leave the table half-updated
        // (every critical section is a single insert/remove/read), so a
        // poisoned lock is still safe to use.
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn emit(&self, event: SupervisorEvent) {
        // No subscribers is normal outside tests.
        let _ = self.events.send(event);
    }

    /// Removes the entry for `id` if it is still the one with `serial`.
    fn remove(&self, id: &str, serial: u64) {
        let mut table = self.lock();
        if table
            .children
            .get(id)
            .is_some_and(|entry| entry.serial == serial)
        {
            table.children.remove(id);
        }
    }
}

/// Waits until the monitor owning the matching sender has ended.
async fn wait_done(done: &mut watch::Receiver<()>) {
    while done.changed().await.is_ok() {}
}

/// Owned by a monitor task; removes its entry and closes `done` when the
/// monitor ends for any reason, including a panicking callback or an abort.
struct EntryGuard {
    /// Where the entry lives.
    inner: Arc<Inner>,
    /// Which entry.
    id: String,
    /// Which incarnation of that id; see [`ChildEntry::serial`].
    serial: u64,
    /// Dropped after `drop` ran, which wakes `stop_child`/`shutdown` waiters.
    _done: watch::Sender<()>,
}

impl Drop for EntryGuard {
    fn drop(&mut self) {
        self.inner.remove(&self.id, self.serial);
    }
}

/// How one incarnation ended.
enum Outcome {
    /// The future returned.
    Returned,
    /// The future (or `ChildSpec::start`) panicked, with this message.
    Panicked(String),
    /// The task was aborted after ignoring its token for [`STOP_GRACE`].
    Aborted,
}

/// The per-child task: starts incarnations and decides what happens when one
/// ends.
struct Monitor<S> {
    /// Table, events, name and intensity.
    inner: Arc<Inner>,
    /// The child's id, for contexts, callbacks, events and logs.
    id: String,
    /// Whether a normal return is restarted.
    restart: Restart,
    /// Builds incarnations and receives the callbacks.
    spec: S,
    /// The child's token, shared by all its incarnations.
    cancel: CancellationToken,
    /// Restarts so far (given to the next incarnation).
    restarts: u32,
    /// When the restarts inside the current intensity window happened, oldest
    /// first; never longer than `max_restarts`.
    recent: VecDeque<Instant>,
}

impl<S: ChildSpec> Monitor<S> {
    async fn run(mut self, guard: EntryGuard) {
        let reason = loop {
            let outcome = self.run_incarnation().await;
            let panicked = match outcome {
                Outcome::Aborted => break ExitReason::Stopped,
                Outcome::Returned if self.cancel.is_cancelled() => break ExitReason::Stopped,
                Outcome::Returned if self.restart == Restart::Transient => {
                    break ExitReason::Normal;
                }
                Outcome::Returned => None,
                Outcome::Panicked(message) => {
                    self.spec.on_crash(&self.id, &message);
                    self.inner.emit(SupervisorEvent::Crashed {
                        id: self.id.clone(),
                        panic: message.clone(),
                    });
                    if self.cancel.is_cancelled() {
                        warn!(supervisor = self.inner.name, child = %self.id, panic = %message, "child panicked while stopping");
                        break ExitReason::Stopped;
                    }
                    Some(message)
                }
            };
            if !self.may_restart() {
                error!(
                    supervisor = self.inner.name,
                    child = %self.id,
                    restarts = self.restarts,
                    panic = panicked.as_deref().unwrap_or("none"),
                    "restart intensity exceeded, giving up"
                );
                break ExitReason::GaveUp {
                    restarts: self.restarts,
                };
            }
            self.restarts += 1;
            let restarts = self.restarts;
            match &panicked {
                Some(message) => {
                    warn!(supervisor = self.inner.name, child = %self.id, restarts, panic = %message, "child panicked, restarting");
                }
                None => {
                    info!(supervisor = self.inner.name, child = %self.id, restarts, "child returned, restarting");
                }
            }
            metrics::counter!("kurve_supervisor_restarts_total", "supervisor" => self.inner.name)
                .increment(1);
            self.inner.emit(SupervisorEvent::Restarted {
                id: self.id.clone(),
                restarts,
            });
        };
        self.spec.on_exit(&self.id, &reason);
        self.inner.remove(&self.id, guard.serial);
        debug!(supervisor = self.inner.name, child = %self.id, ?reason, "child exited");
        self.inner.emit(SupervisorEvent::Exited {
            id: self.id.clone(),
            reason,
        });
        drop(guard);
    }

    /// Records a restart at the current instant if the intensity window has
    /// room for it.
    fn may_restart(&mut self) -> bool {
        let now = Instant::now();
        let within = self.inner.intensity.within;
        while self
            .recent
            .front()
            .is_some_and(|&at| now.duration_since(at) >= within)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.inner.intensity.max_restarts as usize {
            return false;
        }
        self.recent.push_back(now);
        true
    }

    /// Starts one incarnation and waits for it to end, aborting it if it
    /// outlives its cancellation by [`STOP_GRACE`].
    async fn run_incarnation(&mut self) -> Outcome {
        let ctx = ChildContext {
            id: self.id.clone(),
            cancel: self.cancel.clone(),
            restarts: self.restarts,
        };
        self.inner.emit(SupervisorEvent::Started {
            id: self.id.clone(),
            restarts: self.restarts,
        });
        let future = match panic::catch_unwind(AssertUnwindSafe(|| self.spec.start(ctx))) {
            Ok(future) => future,
            Err(payload) => return Outcome::Panicked(panic_message(&*payload)),
        };
        // Aborts the incarnation if this monitor is itself aborted.
        let mut task = AbortOnDropHandle::new(tokio::spawn(future));
        let joined = tokio::select! {
            joined = &mut task => joined,
            () = self.cancel.cancelled() => {
                match tokio::time::timeout(STOP_GRACE, &mut task).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        warn!(supervisor = self.inner.name, child = %self.id, "child ignored cancellation, aborting");
                        task.abort();
                        task.await
                    }
                }
            }
        };
        match joined {
            Ok(()) => Outcome::Returned,
            Err(err) if err.is_panic() => Outcome::Panicked(panic_message(&*err.into_panic())),
            Err(_) => Outcome::Aborted,
        }
    }
}

/// The message of a panic payload: `panic!("literal")` carries a `&str`,
/// `panic!("{x}")` a `String`.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// Long enough for any test step in virtual time; a hung test fails fast.
    const EVENT_TIMEOUT: Duration = Duration::from_secs(600);

    /// What the callbacks of a [`Probe`] saw.
    #[derive(Debug, Default)]
    struct Log {
        started: Vec<u32>,
        crashes: Vec<String>,
        exits: Vec<ExitReason>,
    }

    /// A spec that records its callbacks and runs `body` per incarnation.
    struct Probe<F> {
        body: F,
        log: Arc<Mutex<Log>>,
    }

    fn probe<F, Fut>(body: F) -> (Probe<F>, Arc<Mutex<Log>>)
    where
        F: FnMut(ChildContext) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let log = Arc::new(Mutex::new(Log::default()));
        (
            Probe {
                body,
                log: Arc::clone(&log),
            },
            log,
        )
    }

    impl<F, Fut> ChildSpec for Probe<F>
    where
        F: FnMut(ChildContext) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        fn start(&mut self, ctx: ChildContext) -> BoxFuture<'static, ()> {
            self.log.lock().unwrap().started.push(ctx.restarts);
            (self.body)(ctx).boxed()
        }

        fn on_crash(&mut self, _id: &str, panic: &str) {
            self.log.lock().unwrap().crashes.push(panic.to_owned());
        }

        fn on_exit(&mut self, _id: &str, why: &ExitReason) {
            self.log.lock().unwrap().exits.push(why.clone());
        }
    }

    /// Sets its flag when dropped, i.e. when an incarnation's future is
    /// finished or aborted.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn supervisor() -> (Supervisor, CancellationToken) {
        let root = CancellationToken::new();
        (
            Supervisor::new("test", RestartIntensity::default(), &root),
            root,
        )
    }

    /// Collects events until one matches `last`, returning all of them.
    async fn events_until(
        rx: &mut broadcast::Receiver<SupervisorEvent>,
        last: impl Fn(&SupervisorEvent) -> bool,
    ) -> Vec<SupervisorEvent> {
        let mut seen = Vec::new();
        loop {
            let event = tokio::time::timeout(EVENT_TIMEOUT, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("expected more events after {seen:?}"))
                .expect("expected the event channel to stay open and not lag");
            let done = last(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    fn started(id: &str, restarts: u32) -> SupervisorEvent {
        SupervisorEvent::Started {
            id: id.to_owned(),
            restarts,
        }
    }

    fn restarted(id: &str, restarts: u32) -> SupervisorEvent {
        SupervisorEvent::Restarted {
            id: id.to_owned(),
            restarts,
        }
    }

    fn crashed(id: &str, panic: &str) -> SupervisorEvent {
        SupervisorEvent::Crashed {
            id: id.to_owned(),
            panic: panic.to_owned(),
        }
    }

    fn exited(id: &str, reason: ExitReason) -> SupervisorEvent {
        SupervisorEvent::Exited {
            id: id.to_owned(),
            reason,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn panicking_child_is_restarted_and_on_crash_gets_the_message() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let (spec, log) = probe(|ctx: ChildContext| async move {
            if ctx.restarts < 2 {
                panic!("boom {}", ctx.restarts);
            }
            ctx.cancel.cancelled().await;
        });
        sup.start_child("room:1", Restart::Transient, spec)
            .expect("expected a fresh id to start");

        let events = events_until(&mut rx, |e| *e == started("room:1", 2)).await;
        assert_eq!(
            events,
            vec![
                started("room:1", 0),
                crashed("room:1", "boom 0"),
                restarted("room:1", 1),
                started("room:1", 1),
                crashed("room:1", "boom 1"),
                restarted("room:1", 2),
                started("room:1", 2),
            ],
            "expected two crash/restart rounds in order"
        );
        let log = log.lock().unwrap();
        assert_eq!(
            log.started,
            vec![0, 1, 2],
            "expected restarts to count up per incarnation"
        );
        assert_eq!(
            log.crashes,
            vec!["boom 0", "boom 1"],
            "expected on_crash to get each panic message"
        );
        assert!(
            log.exits.is_empty(),
            "expected no on_exit while the child runs"
        );
        drop(log);
        assert!(
            sup.is_running("room:1"),
            "expected the third incarnation to be running"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn four_panics_within_the_window_give_up() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let (spec, log) = probe(|_ctx: ChildContext| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            panic!("always");
        });
        sup.start_child("room:2", Restart::Permanent, spec)
            .expect("expected a fresh id to start");

        let events = events_until(&mut rx, |e| matches!(e, SupervisorEvent::Exited { .. })).await;
        let gave_up = ExitReason::GaveUp { restarts: 3 };
        assert_eq!(
            events,
            vec![
                started("room:2", 0),
                crashed("room:2", "always"),
                restarted("room:2", 1),
                started("room:2", 1),
                crashed("room:2", "always"),
                restarted("room:2", 2),
                started("room:2", 2),
                crashed("room:2", "always"),
                restarted("room:2", 3),
                started("room:2", 3),
                crashed("room:2", "always"),
                exited("room:2", gave_up.clone()),
            ],
            "expected three restarts, then the fourth crash to give up"
        );
        assert_eq!(
            log.lock().unwrap().exits,
            vec![gave_up],
            "expected on_exit(GaveUp) exactly once"
        );
        assert_eq!(
            log.lock().unwrap().crashes.len(),
            4,
            "expected on_crash for all four panics"
        );
        assert!(
            !sup.is_running("room:2"),
            "expected the child to be removed after giving up"
        );
        assert_eq!(sup.children(), 0, "expected no children left");

        sup.start_child(
            "room:2",
            Restart::Transient,
            child_fn(|ctx: ChildContext| async move {
                ctx.cancel.cancelled().await;
            }),
        )
        .expect("expected the id to be free again after giving up");
        assert!(sup.is_running("room:2"), "expected the restarted id to run");
    }

    #[tokio::test(start_paused = true)]
    async fn panics_spaced_beyond_the_window_restart_indefinitely() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let (spec, log) = probe(|_ctx: ChildContext| async move {
            tokio::time::sleep(Duration::from_secs(6)).await;
            panic!("rare");
        });
        sup.start_child("room:3", Restart::Transient, spec)
            .expect("expected a fresh id to start");

        let events = events_until(&mut rx, |e| *e == restarted("room:3", 10)).await;
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, SupervisorEvent::Exited { .. })),
            "expected no give-up when crashes are 6 s apart, got {events:?}"
        );
        assert!(
            sup.is_running("room:3"),
            "expected the child to still be supervised"
        );
        assert_eq!(
            log.lock().unwrap().crashes.len(),
            10,
            "expected ten crashes before the tenth restart"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn transient_child_returning_normally_is_removed() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let (spec, log) = probe(|_ctx: ChildContext| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
        });
        sup.start_child("room:4", Restart::Transient, spec)
            .expect("expected a fresh id to start");

        let events = events_until(&mut rx, |e| matches!(e, SupervisorEvent::Exited { .. })).await;
        assert_eq!(
            events,
            vec![started("room:4", 0), exited("room:4", ExitReason::Normal)],
            "expected a transient child to end without a restart"
        );
        assert_eq!(
            log.lock().unwrap().exits,
            vec![ExitReason::Normal],
            "expected on_exit(Normal)"
        );
        assert!(
            !sup.is_running("room:4"),
            "expected the child to be removed"
        );
        sup.start_child(
            "room:4",
            Restart::Transient,
            child_fn(|_ctx: ChildContext| async {}),
        )
        .expect("expected the id to be free again after a normal exit");
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_child_returning_normally_is_restarted() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let (spec, log) = probe(|ctx: ChildContext| async move {
            if ctx.restarts < 2 {
                return;
            }
            ctx.cancel.cancelled().await;
        });
        sup.start_child("lobby", Restart::Permanent, spec)
            .expect("expected a fresh id to start");

        let events = events_until(&mut rx, |e| *e == started("lobby", 2)).await;
        assert_eq!(
            events,
            vec![
                started("lobby", 0),
                restarted("lobby", 1),
                started("lobby", 1),
                restarted("lobby", 2),
                started("lobby", 2),
            ],
            "expected a permanent child to be restarted after normal returns, without crashes"
        );
        assert!(
            log.lock().unwrap().crashes.is_empty(),
            "expected no on_crash for normal returns"
        );
        assert!(
            sup.is_running("lobby"),
            "expected the permanent child to be running"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stop_child_cancels_and_waits() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&finished);
        let (spec, log) = probe(move |ctx: ChildContext| {
            let flag = Arc::clone(&flag);
            async move {
                ctx.cancel.cancelled().await;
                // A little clean-up work that stop_child must wait for.
                tokio::time::sleep(Duration::from_millis(200)).await;
                flag.store(true, Ordering::SeqCst);
            }
        });
        sup.start_child("room:5", Restart::Permanent, spec)
            .expect("expected a fresh id to start");
        events_until(&mut rx, |e| *e == started("room:5", 0)).await;

        assert!(
            sup.stop_child("room:5").await,
            "expected stop_child to find the child"
        );
        assert!(
            finished.load(Ordering::SeqCst),
            "expected stop_child to wait for the clean-up"
        );
        assert!(
            !sup.is_running("room:5"),
            "expected the stopped child to be removed"
        );
        assert_eq!(
            log.lock().unwrap().exits,
            vec![ExitReason::Stopped],
            "expected on_exit(Stopped)"
        );
        let events = events_until(&mut rx, |e| matches!(e, SupervisorEvent::Exited { .. })).await;
        assert_eq!(
            events,
            vec![exited("room:5", ExitReason::Stopped)],
            "expected a stopped permanent child not to be restarted"
        );
        assert!(
            !sup.stop_child("room:5").await,
            "expected stop_child of a gone child to return false"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn child_ignoring_its_token_is_aborted_after_the_grace_period() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&dropped);
        let (spec, log) = probe(move |_ctx: ChildContext| {
            let guard = DropFlag(Arc::clone(&flag));
            async move {
                let _guard = guard;
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        sup.start_child("stubborn", Restart::Permanent, spec)
            .expect("expected a fresh id to start");
        events_until(&mut rx, |e| *e == started("stubborn", 0)).await;

        let began = Instant::now();
        assert!(
            sup.stop_child("stubborn").await,
            "expected stop_child to find the child"
        );
        let waited = began.elapsed();
        assert!(
            waited >= STOP_GRACE,
            "expected to wait the full grace period, waited {waited:?}"
        );
        assert!(
            waited < STOP_GRACE + MONITOR_SLACK,
            "expected the abort right after the grace period, waited {waited:?}"
        );
        assert!(
            dropped.load(Ordering::SeqCst),
            "expected the stubborn incarnation to be aborted"
        );
        assert_eq!(
            log.lock().unwrap().exits,
            vec![ExitReason::Stopped],
            "expected on_exit(Stopped)"
        );
        assert_eq!(sup.children(), 0, "expected no children left");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_every_child_and_is_idempotent() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let polite_done = Arc::new(AtomicBool::new(false));
        let stubborn_dropped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&polite_done);
        let (polite, polite_log) = probe(move |ctx: ChildContext| {
            let guard = DropFlag(Arc::clone(&flag));
            async move {
                let _guard = guard;
                ctx.cancel.cancelled().await;
            }
        });
        let flag = Arc::clone(&stubborn_dropped);
        let (stubborn, stubborn_log) = probe(move |_ctx: ChildContext| {
            let guard = DropFlag(Arc::clone(&flag));
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            }
        });
        sup.start_child("polite", Restart::Permanent, polite)
            .expect("expected a fresh id to start");
        sup.start_child("stubborn", Restart::Transient, stubborn)
            .expect("expected a fresh id to start");
        events_until(&mut rx, |e| *e == started("stubborn", 0)).await;
        assert_eq!(sup.children(), 2, "expected two children before shutdown");

        sup.shutdown().await;
        assert_eq!(sup.children(), 0, "expected shutdown to leave no children");
        assert!(
            polite_done.load(Ordering::SeqCst),
            "expected the polite child to have ended"
        );
        assert!(
            stubborn_dropped.load(Ordering::SeqCst),
            "expected the stubborn child to be aborted"
        );
        assert_eq!(
            polite_log.lock().unwrap().exits,
            vec![ExitReason::Stopped],
            "expected on_exit(Stopped)"
        );
        assert_eq!(
            stubborn_log.lock().unwrap().exits,
            vec![ExitReason::Stopped],
            "expected on_exit(Stopped)"
        );

        let refused = sup.start_child(
            "late",
            Restart::Transient,
            child_fn(|_ctx: ChildContext| async {}),
        );
        assert_eq!(
            refused,
            Err(SupervisorError::ShuttingDown),
            "expected start_child after shutdown to be refused"
        );
        tokio::time::timeout(Duration::from_secs(1), sup.shutdown())
            .await
            .expect("expected a second shutdown to return at once");
    }

    #[tokio::test(start_paused = true)]
    async fn parent_cancellation_stops_children() {
        let (sup, root) = supervisor();
        let mut rx = sup.subscribe();
        sup.start_child(
            "room:6",
            Restart::Permanent,
            child_fn(|ctx: ChildContext| async move {
                ctx.cancel.cancelled().await;
            }),
        )
        .expect("expected a fresh id to start");
        events_until(&mut rx, |e| *e == started("room:6", 0)).await;

        root.cancel();
        let events = events_until(&mut rx, |e| matches!(e, SupervisorEvent::Exited { .. })).await;
        assert_eq!(
            events,
            vec![exited("room:6", ExitReason::Stopped)],
            "expected the parent token to stop the child"
        );
        let refused = sup.start_child(
            "room:7",
            Restart::Transient,
            child_fn(|_ctx: ChildContext| async {}),
        );
        assert_eq!(
            refused,
            Err(SupervisorError::ShuttingDown),
            "expected start_child under a cancelled parent to be refused"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn duplicate_id_is_refused() {
        let (sup, _root) = supervisor();
        let wait = |ctx: ChildContext| async move { ctx.cancel.cancelled().await };
        sup.start_child("room:8", Restart::Transient, child_fn(wait))
            .expect("expected a fresh id to start");
        let refused = sup.start_child("room:8", Restart::Transient, child_fn(wait));
        assert_eq!(
            refused,
            Err(SupervisorError::AlreadyRunning),
            "expected a live id to be refused"
        );
        assert_eq!(
            sup.children(),
            1,
            "expected the refused spec not to be added"
        );
        sup.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn shutdown_races_with_crashes_and_starts_on_many_threads() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let spec = || {
            child_fn(|ctx: ChildContext| async move {
                assert!(ctx.restarts > 0, "first incarnation");
                ctx.cancel.cancelled().await;
            })
        };
        for n in 0..50 {
            sup.start_child(format!("room:{n}"), Restart::Transient, spec())
                .expect("expected a fresh id to start");
        }
        let mut restarted = 0;
        while restarted < 50 {
            let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("expected every child to be restarted within 10 s")
                .expect("expected the event channel to stay open and not lag");
            if matches!(event, SupervisorEvent::Started { restarts: 1, .. }) {
                restarted += 1;
            }
        }
        assert_eq!(
            sup.children(),
            50,
            "expected all 50 children alive after one crash each"
        );

        // Keep starting children while the shutdown runs.
        let starter = tokio::spawn({
            let sup = sup.clone();
            async move {
                for n in 0.. {
                    match sup.start_child(format!("late:{n}"), Restart::Transient, spec()) {
                        Ok(()) => tokio::task::yield_now().await,
                        Err(SupervisorError::ShuttingDown) => return n,
                        Err(other) => panic!("expected Ok or ShuttingDown, got {other:?}"),
                    }
                }
                unreachable!("the loop only ends by returning")
            }
        });
        tokio::task::yield_now().await;
        tokio::time::timeout(Duration::from_secs(10), sup.shutdown())
            .await
            .expect("expected shutdown of cooperative children to finish within 10 s");
        starter
            .await
            .expect("expected the starter task not to panic");
        assert_eq!(
            sup.children(),
            0,
            "expected no child to survive or slip in after shutdown"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn panic_in_start_counts_as_a_crash() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let (spec, log) = probe(|ctx: ChildContext| {
            assert!(ctx.restarts > 0, "build failed");
            async move { ctx.cancel.cancelled().await }
        });
        sup.start_child("room:9", Restart::Transient, spec)
            .expect("expected a fresh id to start");
        let events = events_until(&mut rx, |e| *e == started("room:9", 1)).await;
        assert_eq!(
            events[1],
            crashed("room:9", "build failed"),
            "expected a panic in start to be a crash"
        );
        assert_eq!(
            log.lock().unwrap().crashes,
            vec!["build failed"],
            "expected on_crash for the panic in start"
        );
        assert!(
            sup.is_running("room:9"),
            "expected the rebuilt child to run"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_crashing_child_does_not_disturb_its_sibling() {
        let (sup, _root) = supervisor();
        let mut rx = sup.subscribe();
        let ticks = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&ticks);
        let (sibling, sibling_log) = probe(move |ctx: ChildContext| {
            let counter = Arc::clone(&counter);
            async move {
                let mut interval = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tokio::select! {
                        () = ctx.cancel.cancelled() => return,
                        _ = interval.tick() => { counter.fetch_add(1, Ordering::SeqCst); }
                    }
                }
            }
        });
        sup.start_child("sibling", Restart::Permanent, sibling)
            .expect("expected a fresh id to start");
        sup.start_child(
            "crasher",
            Restart::Permanent,
            child_fn(|_ctx: ChildContext| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                panic!("crasher");
            }),
        )
        .expect("expected a fresh id to start");

        let events = events_until(&mut rx, |e| {
            *e == exited("crasher", ExitReason::GaveUp { restarts: 3 })
        })
        .await;
        assert!(
            events.iter().all(|e| !matches!(e,
                SupervisorEvent::Restarted { id, .. }
                | SupervisorEvent::Crashed { id, .. }
                | SupervisorEvent::Exited { id, .. } if id == "sibling")),
            "expected the sibling never to crash, restart or exit, got {events:?}"
        );
        let before = ticks.load(Ordering::SeqCst);
        assert!(
            before >= 15,
            "expected the sibling to tick during the crash loop, got {before}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = ticks.load(Ordering::SeqCst);
        assert!(
            after > before,
            "expected the sibling's counter to keep advancing ({before} -> {after})"
        );
        assert!(
            sup.is_running("sibling"),
            "expected the sibling to still run"
        );
        assert_eq!(
            sibling_log.lock().unwrap().started,
            vec![0],
            "expected the sibling to be started exactly once"
        );
        sup.shutdown().await;
    }
}
