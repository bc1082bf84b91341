//! The operator's view (CONTRACT §7): topic `admin:stats`, which exists only when the
//! server has `KURVE_ADMIN_TOKEN`, and only the operator's socket may join.
//!
//! One actor samples the server every second — sockets, users, lobbies, rooms by phase,
//! frames and bytes per second, tick lateness, slow-client drops, restarts — keeps the
//! last five minutes, and broadcasts each sample as `stats` while anyone watches. A join
//! gets the history, so the page's plots start full. `rooms {}` lists every room with its
//! tick; `close_room {"id"}` closes one (its clients get `phx_close`).
//!
//! Figures come from the Prometheus text the server exports (`/metrics`), so the page
//! and a Prometheus scrape never disagree.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use kurve_shared::lobby::RoomSummary;
use kurve_shared::phoenix::InPayload;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use serde_json::json;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::actor::{Actor, ActorHandle, ChannelCommand, ChannelKind, Registry};
use crate::lobby::Lobbies;
use crate::mailbox::MailboxReceiver;
use crate::metrics as m;
use crate::outbound::{Broadcast, ChannelRef, Payload, SocketId};
use crate::protocol::error::ChannelError;
use crate::protocol::{AdminEvent, RoomJoin};
use crate::pubsub::PubSub;
use crate::replay::Replays;
use crate::room::Rooms;
use crate::supervisor::{ChildContext, Restart, Supervisor};

/// The topic.
pub const TOPIC: &str = "admin:stats";

/// Samples kept: five minutes at one a second.
pub const HISTORY: usize = 300;

/// How often the server is sampled.
const PERIOD: Duration = Duration::from_secs(1);

/// Tick lateness percentiles are taken over this many recent samples: the exporter
/// folds histogram samples into buckets every 5 s, so a one-second window is often empty.
const LATENESS_WINDOW: usize = 10;

/// Signed-in users with at least one socket open, by id.
#[derive(Clone, Default)]
pub struct ConnectedUsers(Arc<Mutex<HashMap<Arc<str>, u32>>>);

impl ConnectedUsers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, u32>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A socket of `id` opened.
    pub fn add(&self, id: &str) {
        *self.lock().entry(Arc::from(id)).or_insert(0) += 1;
    }

    /// A socket of `id` closed.
    pub fn remove(&self, id: &str) {
        let mut users = self.lock();
        if let Some(n) = users.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                users.remove(id);
            }
        }
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

/// What the sampler reads.
#[derive(Clone)]
pub struct AdminDeps {
    pub pubsub: PubSub,
    pub rooms: Rooms,
    pub lobbies: Lobbies,
    pub replays: Replays,
    pub metrics: PrometheusHandle,
    pub users: ConnectedUsers,
}

/// What the actor's mailbox carries.
#[derive(Debug)]
pub enum AdminCommand {
    Join {
        chan: ChannelRef,
        msg_ref: Arc<str>,
    },
    Leave {
        socket: SocketId,
    },
    Event {
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: AdminEvent,
    },
}

/// Commands waiting in the admin actor's mailbox before more are refused: one
/// operator's page asks a few things a second.
const ADMIN_MAILBOX: usize = 64;

/// Sends commands to the admin actor. Cheap to clone.
pub type AdminHandle = ActorHandle<AdminCommand>;

impl ChannelCommand for AdminCommand {
    const KIND: ChannelKind = ChannelKind::Admin;
    type Event = AdminEvent;

    fn decode(event: &str, payload: InPayload) -> Result<AdminEvent, ChannelError> {
        AdminEvent::decode(event, payload)
    }

    fn join(chan: ChannelRef, msg_ref: Arc<str>, _params: RoomJoin) -> Self {
        AdminCommand::Join { chan, msg_ref }
    }

    fn leave(socket: SocketId, _explicit: bool) -> Self {
        AdminCommand::Leave { socket }
    }

    fn event(chan: ChannelRef, msg_ref: Arc<str>, event: AdminEvent) -> Self {
        AdminCommand::Event {
            chan,
            msg_ref,
            event,
        }
    }

    /// Its broadcasts are samples, each complete: nothing to resend.
    fn resync(_chan: ChannelRef) -> Option<Self> {
        None
    }
}

/// The running admin actor: a registry of one, under its topic, whose handle changes
/// when the actor restarts.
#[derive(Clone)]
pub struct Admin {
    running: Registry<&'static str, AdminHandle>,
}

impl Admin {
    /// Starts the actor as a permanent child of `supervisor`.
    pub fn start(supervisor: &Supervisor, deps: AdminDeps) -> Admin {
        let admin = Admin {
            running: Registry::new(ADMIN_MAILBOX),
        };
        let (handle, inbox) = admin.running.mailbox();
        admin.running.lock().insert(TOPIC, handle.clone());
        let actor = AdminActor { deps };
        let first = (handle, inbox);
        let started = admin.running.start(
            supervisor,
            TOPIC.to_owned(),
            Restart::Permanent,
            TOPIC,
            first,
            actor,
        );
        if let Err(error) = started {
            tracing::error!(%error, "could not start the admin actor");
        }
        admin
    }

    /// The current incarnation's handle (gone while it restarts).
    pub fn handle(&self) -> Option<AdminHandle> {
        self.running.lock().get(TOPIC).cloned()
    }
}

/// What the admin actor does when the supervisor starts or loses it.
struct AdminActor {
    deps: AdminDeps,
}

impl Actor for AdminActor {
    type Entry = AdminHandle;

    fn run(
        &mut self,
        _handle: AdminHandle,
        inbox: MailboxReceiver<AdminCommand>,
        ctx: ChildContext,
    ) -> BoxFuture<'static, ()> {
        run(self.deps.clone(), inbox, ctx.cancel).boxed()
    }

    /// The admin actor is never forgotten.
    fn relist(&self, handle: AdminHandle) -> Option<AdminHandle> {
        Some(handle)
    }

    fn on_crash(&mut self, id: &str, panic: &str) {
        tracing::error!(child = id, panic, "admin actor crashed");
        self.deps.pubsub.crash_topic(TOPIC);
    }
}

/// A room in the `rooms` reply: its summary and the tick it has reached.
#[derive(Serialize)]
struct RoomWithTick {
    #[serde(flatten)]
    summary: RoomSummary,
    tick: u64,
}

/// One second of the server, as the page plots it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    /// Unix milliseconds.
    pub at: i64,
    pub sockets: u64,
    pub users: usize,
    pub lobbies: usize,
    pub replays: usize,
    /// Rooms by phase (`waiting`, `countdown`, `playing`, `finished`).
    pub rooms: HashMap<&'static str, usize>,
    pub frames_per_s: f64,
    pub bytes_per_s: f64,
    pub tick_lateness_ms: Percentiles,
    /// Since the server started.
    pub slow_drops: u64,
    /// Room restarts since the server started.
    pub restarts: u64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

/// The counters a sample is computed from.
#[derive(Debug, Clone)]
struct Reading {
    at: Instant,
    frames_out: f64,
    bytes_out: f64,
    /// Cumulative counts of `kurve_tick_lateness_seconds` by upper bound.
    lateness: Vec<(f64, f64)>,
}

struct State {
    deps: AdminDeps,
    viewers: HashMap<SocketId, ChannelRef>,
    history: VecDeque<Stats>,
    readings: VecDeque<Reading>,
}

async fn run(deps: AdminDeps, mut inbox: MailboxReceiver<AdminCommand>, cancel: CancellationToken) {
    let mut state = State {
        deps,
        viewers: HashMap::new(),
        history: VecDeque::with_capacity(HISTORY),
        readings: VecDeque::with_capacity(LATENESS_WINDOW + 1),
    };
    let mut every = tokio::time::interval(PERIOD);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = every.tick() => state.sample(),
            command = inbox.recv() => match command {
                Some(command) => state.handle(command),
                None => break,
            },
        }
    }
}

impl State {
    fn handle(&mut self, command: AdminCommand) {
        match command {
            AdminCommand::Join { chan, msg_ref } => {
                if !chan.socket.user.is_operator() {
                    chan.refuse_join(&msg_ref, ChannelError::Unauthorized);
                    return;
                }
                let history: Vec<&Stats> = self.history.iter().collect();
                chan.reply(
                    &msg_ref,
                    "ok",
                    Payload::json(&json!({ "history": history })),
                );
                let socket = chan.socket.id;
                self.deps
                    .pubsub
                    .subscribe(&Arc::from(TOPIC), socket, chan.socket.outbox.clone());
                self.viewers.insert(socket, chan);
            }
            AdminCommand::Leave { socket } => {
                if self.viewers.remove(&socket).is_some() {
                    self.deps.pubsub.unsubscribe(TOPIC, socket);
                }
            }
            AdminCommand::Event {
                chan,
                msg_ref,
                event,
            } => {
                if !self.viewers.contains_key(&chan.socket.id) {
                    chan.reply_error(&msg_ref, ChannelError::NotJoined);
                    return;
                }
                match event {
                    AdminEvent::Rooms => {
                        let rooms: Vec<RoomWithTick> = self
                            .deps
                            .rooms
                            .all()
                            .into_iter()
                            .map(|(summary, tick)| RoomWithTick { summary, tick })
                            .collect();
                        chan.reply(&msg_ref, "ok", Payload::json(&json!({ "rooms": rooms })));
                    }
                    AdminEvent::CloseRoom { id } => match self.deps.rooms.get(&id) {
                        Some(room) if room.close() => {
                            chan.reply(&msg_ref, "ok", Payload::empty());
                        }
                        _ => {
                            chan.reply_error(&msg_ref, ChannelError::NotFound);
                        }
                    },
                }
            }
        }
    }

    /// Takes one sample, keeps it, and sends it to whoever watches.
    fn sample(&mut self) {
        let text = self.deps.metrics.render();
        let reading = Reading {
            at: Instant::now(),
            frames_out: sum(&text, m::FRAMES_OUT),
            bytes_out: sum(&text, m::BYTES_OUT),
            lateness: buckets(&text, m::TICK_LATENESS),
        };
        let previous = self.readings.back().cloned();
        let oldest = self.readings.front().cloned();
        self.readings.push_back(reading.clone());
        if self.readings.len() > LATENESS_WINDOW {
            self.readings.pop_front();
        }
        let per_second = |now: f64, then: Option<f64>, since: Option<Instant>| match (then, since) {
            (Some(then), Some(since)) => {
                let secs = reading.at.duration_since(since).as_secs_f64();
                if secs > 0.0 {
                    (now - then).max(0.0) / secs
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        let mut rooms: HashMap<&'static str, usize> =
            ["waiting", "countdown", "playing", "finished"]
                .into_iter()
                .map(|phase| (phase, 0))
                .collect();
        for (summary, _) in self.deps.rooms.all() {
            *rooms.entry(phase_name(&summary.phase)).or_insert(0) += 1;
        }
        let lateness = match &oldest {
            Some(old) => delta(&reading.lateness, &old.lateness),
            None => reading.lateness.clone(),
        };
        let stats = Stats {
            at: unix_millis(),
            sockets: sum(&text, m::SOCKETS_OPEN) as u64,
            users: self.deps.users.count(),
            lobbies: self.deps.lobbies.len(),
            replays: self.deps.replays.running(),
            rooms,
            frames_per_s: per_second(
                reading.frames_out,
                previous.as_ref().map(|p| p.frames_out),
                previous.as_ref().map(|p| p.at),
            ),
            bytes_per_s: per_second(
                reading.bytes_out,
                previous.as_ref().map(|p| p.bytes_out),
                previous.as_ref().map(|p| p.at),
            ),
            tick_lateness_ms: Percentiles {
                p50: quantile(&lateness, 0.5) * 1000.0,
                p99: quantile(&lateness, 0.99) * 1000.0,
            },
            slow_drops: sum(&text, m::SLOW_CLIENTS) as u64,
            restarts: sum(&text, m::ROOM_RESTARTS) as u64,
        };
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(stats.clone());
        if !self.viewers.is_empty() {
            self.deps.pubsub.broadcast(Broadcast::new(
                Arc::from(TOPIC),
                "stats",
                Payload::json(&stats),
            ));
        }
    }
}

fn phase_name(phase: &kurve_shared::lobby::RoomPhase) -> &'static str {
    use kurve_shared::lobby::RoomPhase;
    match phase {
        RoomPhase::Waiting => "waiting",
        RoomPhase::Countdown => "countdown",
        RoomPhase::Playing => "playing",
        RoomPhase::Finished => "finished",
    }
}

/// The sum of every series of metric `name` (any labels) in Prometheus text.
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The cumulative bucket counts of histogram `name` by upper bound (`+Inf` last),
/// summed over its series.
pub fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{");
    let mut by_bound: Vec<(f64, f64)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        let Some(le) = line
            .split("le=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            match le.parse::<f64>() {
                Ok(b) => b,
                Err(_) => continue,
            }
        };
        let Some(count) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        match by_bound.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, c)) => *c += count,
            None => by_bound.push((bound, count)),
        }
    }
    by_bound.sort_by(|a, b| a.0.total_cmp(&b.0));
    by_bound
}

/// `now - then`, bucket by bucket.
fn delta(now: &[(f64, f64)], then: &[(f64, f64)]) -> Vec<(f64, f64)> {
    now.iter()
        .map(|(bound, count)| {
            let before = then
                .iter()
                .find(|(b, _)| b == bound)
                .map_or(0.0, |(_, c)| *c);
            (*bound, (count - before).max(0.0))
        })
        .collect()
}

/// The `q` quantile of cumulative buckets, interpolated inside its bucket (0 when empty;
/// the last finite bound when it falls in `+Inf`).
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return 0.0;
    };
    if total <= 0.0 {
        return 0.0;
    }
    let target = q * total;
    let mut previous = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= target {
            if bound.is_infinite() {
                return previous.0;
            }
            let inside = count - previous.1;
            let fraction = if inside > 0.0 {
                (target - previous.1) / inside
            } else {
                1.0
            };
            return previous.0 + (bound - previous.0) * fraction;
        }
        previous = (bound, count);
    }
    previous.0
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# TYPE kurve_frames_out_total counter
kurve_frames_out_total 120
kurve_sockets_open 3
kurve_sockets_open_extra 99
kurve_limit_refusals_total{kind=\"a\"} 2
kurve_limit_refusals_total{kind=\"b\"} 5
kurve_tick_lateness_seconds_bucket{le=\"0.001\"} 50
kurve_tick_lateness_seconds_bucket{le=\"0.002\"} 90
kurve_tick_lateness_seconds_bucket{le=\"+Inf\"} 100
";

    #[test]
    fn prometheus_text_is_read_by_name_and_summed_over_labels() {
        assert_eq!(sum(TEXT, "kurve_frames_out_total"), 120.0);
        assert_eq!(sum(TEXT, "kurve_sockets_open"), 3.0, "not the longer name");
        assert_eq!(sum(TEXT, "kurve_limit_refusals_total"), 7.0);
        assert_eq!(sum(TEXT, "kurve_missing"), 0.0);
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let b = buckets(TEXT, "kurve_tick_lateness_seconds");
        assert_eq!(
            b,
            vec![(0.001, 50.0), (0.002, 90.0), (f64::INFINITY, 100.0)]
        );
        assert!((quantile(&b, 0.5) - 0.001).abs() < 1e-12);
        assert!((quantile(&b, 0.7) - 0.0015).abs() < 1e-12);
        assert_eq!(quantile(&b, 0.99), 0.002, "in +Inf: the last finite bound");
        assert_eq!(quantile(&[], 0.5), 0.0);
        let none = delta(&b, &b);
        assert_eq!(quantile(&none, 0.5), 0.0, "no new samples");
    }

    #[test]
    fn connected_users_count_people_not_sockets() {
        let users = ConnectedUsers::default();
        users.add("u1");
        users.add("u1");
        users.add("g2");
        assert_eq!(users.count(), 2);
        users.remove("u1");
        assert_eq!(users.count(), 2);
        users.remove("u1");
        assert_eq!(users.count(), 1);
    }
}
