//! The cluster (CONTRACT §9): the node's connection to NATS, heartbeats and the table
//! of live nodes behind `/api/cluster`, the health that `/healthz` reports, broadcasts
//! across nodes ([`bus`]) and presence across nodes ([`tracker`]). Without `--cluster`
//! none of this exists and NATS is on no path.
//!
//! Subjects (all JSON unless said otherwise, versioned by the `v1` in the subject):
//! - `kurve.v1.trk`: every node's heartbeat each second (id, incarnation, sequence,
//!   load, last presence change) and its presence deltas, and a goodbye at shutdown.
//! - `kurve.v1.node.<id>.transfer`: request/reply, a chunk of that node's presence.
//! - `kurve.v1.node.<id>.ping`: request/reply, answered while the node runs.
//! - `kurve.v1.node.<id>.room`: a member's join (request/reply), events, resyncs and
//!   leave for a room of node `<id>` (`crate::relay`).
//! - `kurve.v1.node.<id>.create`: request/reply, a room placed on node `<id>`
//!   ([`create_subject`]; asked by [`rooms`], served by `crate::relay`).
//! - `kurve.v1.t.<topic>`: broadcasts on lobby and room topics (payload as is), and
//!   messages for one member of the topic on another node ([`bus::Directed`]).
//!
//! Every node keeps the last heartbeat of every node; one silent for [`DOWN_AFTER`] is
//! down: gone from the table, its presence leaves. The node is healthy while NATS is
//! connected and its own heartbeat came back within [`DOWN_AFTER`] (NATS echoes a
//! node's messages to itself).
//!
//! One task owns the connection. Everything else hands it messages through a bounded
//! [`Publisher`] that never waits: while NATS is away, or the queue is full, messages
//! are dropped and counted (a lost presence delta is repaired by a transfer). Requests
//! go out through [`Cluster::request`] and are served through [`Cluster::serve`]; the
//! NATS client never leaves this module.
//!
//! The cluster needs nothing of the rest of the server to be made, and is made first.
//! The core reaches it through the seams it declares: the lobbies' presence replica
//! (the [`tracker`]) and the rooms' remote rooms ([`rooms`]); pubsub's `Remote` (the
//! [`bus`]). The other way, what the tracker and the directory hear for this node's
//! lobbies and rooms is queued as [`Heard`] and delivered by the cluster task to the
//! [`Local`] parts it is run with; directed messages are handed on each topic's task
//! to [`Local::direct`] (the relay), in order with the topic's broadcasts.
//!
//! Per-node figures go to `/metrics` (`kurve_cluster_*`); in a cluster every room
//! summary carries the id of its node.
//!
//! The room directory ([`directory`]) is a JetStream key-value bucket; joins, events
//! and leaves of members on other nodes travel to a room's node through `crate::relay`,
//! which also adopts the rooms of nodes that went down.
//!
//! **Invariant:** nothing from NATS is believed before [`seal`] has checked its MAC:
//! every message this node publishes (through the [`Publisher`], [`Cluster::request`]
//! or [`Request::answer`]) is sealed, and every message or bucket value it reads is
//! opened first; what does not open is dropped and counted in
//! `kurve_cluster_rejected_messages_total`. NATS's own credentials and TLS
//! ([`connect_options`]) decide who reaches the bus at all.

pub mod bus;
pub mod directory;
mod rooms;
pub mod seal;
pub mod tracker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::ClusterSecurityConfig;
use crate::lobby::Lobbies;
use crate::lobby::replica::Change;
use crate::metrics as m;
use crate::pubsub::PubSub;
use crate::room::Rooms;
use bus::{Bus, DirectSink, Subscriptions};
use directory::Directory;
use kurve_shared::lobby::RoomSummary;
use seal::{Rejected, Seal};
use tracker::{Delta, Followup, Tracker, TransferChunk};

/// The subject of heartbeats and presence deltas.
pub const TRACKER_SUBJECT: &str = "kurve.v1.trk";

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// By default a node silent this long is down (and this node unhealthy if its own
/// heartbeat is not back within it); `--node-down-after` changes it.
pub const DOWN_AFTER: Duration = Duration::from_secs(3);

/// How often this node's presence changes are gathered into a delta.
const DELTA_EVERY: Duration = Duration::from_millis(50);

/// Messages waiting for the connection task; beyond this they are dropped.
const PUBLISH_QUEUE: usize = 8192;

/// How long one transfer request may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);

/// What a node reports about its load in every heartbeat.
pub type LoadFn = Arc<dyn Fn() -> Load + Send + Sync>;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Load {
    pub sockets: usize,
    pub rooms: usize,
    /// Players seated in this node's rooms (room placement goes by it).
    #[serde(default)]
    pub players: usize,
    /// The games this node hosts: a room is placed on, and adopted by, a node that
    /// hosts its game. A node from before games hosted Curve only.
    #[serde(default = "curve_only")]
    pub games: Vec<String>,
}

fn curve_only() -> Vec<String> {
    vec![kurve_shared::room::DEFAULT_GAME.to_string()]
}

/// One heartbeat, as it crosses the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Heartbeat {
    node: String,
    /// The node's start time (Unix ms): a restarted node is a new incarnation.
    incarnation: i64,
    seq: u64,
    #[serde(flatten)]
    load: Load,
    /// The number of the node's last presence delta.
    #[serde(default)]
    presence_seq: u64,
}

/// What goes over `kurve.v1.trk`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TrackerMessage {
    Beat(Heartbeat),
    Delta(Delta),
    /// The node stops: its sessions leave now, not after [`DOWN_AFTER`].
    Bye {
        node: String,
        incarnation: i64,
    },
}

/// A transfer request: the entries after this ref.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TransferRequest {
    after: Option<Arc<str>>,
}

/// A node as `/api/cluster` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: String,
    pub sockets: usize,
    pub rooms: usize,
    pub players: usize,
    /// The games it hosts.
    pub games: Vec<String>,
    pub seen_ms_ago: u64,
}

struct Seen {
    at: Instant,
    heartbeat: Heartbeat,
}

/// What the tracker and the directory heard from other nodes that this node's lobbies
/// and rooms must be told. They queue it (unbounded, as the lobbies' and rooms' own
/// control messages are: bounded by the other nodes' joins and room changes) and the
/// cluster task delivers it ([`deliver`]), so neither holds a reference to a lobby or
/// a room.
#[derive(Debug)]
pub(crate) enum Heard {
    /// Sessions of other nodes joined or left a topic.
    Presence(Arc<str>, Vec<Change>),
    /// A room of another node appeared, changed or went away (its summary as last
    /// known): its lobby relists.
    Room(RoomSummary),
    /// A room of this node that another node adopted while this one was cut off: this
    /// copy stops.
    Displaced(String),
}

/// This node, as the cluster task reads and tells it ([`Cluster::run`]).
pub struct Local {
    /// What this node reports in every heartbeat.
    pub load: LoadFn,
    /// This node's subscribers: the other nodes' broadcasts go to them.
    pub pubsub: PubSub,
    /// Told of the other nodes' presence changes.
    pub lobbies: Lobbies,
    /// Told of the other nodes' room changes, and of this node's rooms adopted elsewhere.
    pub rooms: Rooms,
    /// Where a message for one member on this node goes (the relay's member side).
    pub direct: DirectSink,
}

/// One message for the connection task to publish.
pub(crate) struct Outgoing {
    subject: String,
    headers: Option<async_nats::HeaderMap>,
    payload: Bytes,
}

/// Hands messages to the connection task without ever waiting. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Publisher {
    tx: mpsc::Sender<Outgoing>,
    connected: Arc<AtomicBool>,
}

impl Publisher {
    /// Queues `message`; false (and counted) when NATS is away or the queue is full.
    fn send(&self, message: Outgoing) -> bool {
        if self.connected.load(Ordering::Relaxed) && self.tx.try_send(message).is_ok() {
            return true;
        }
        metrics::counter!(m::CLUSTER_DROPPED).increment(1);
        false
    }

    fn send_json<T: Serialize>(&self, subject: &str, value: &T) -> bool {
        match serde_json::to_vec(value) {
            Ok(payload) => self.send(Outgoing {
                subject: subject.to_owned(),
                headers: None,
                payload: payload.into(),
            }),
            Err(_) => false,
        }
    }
}

/// This node's view of the cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    /// NATS credentials and TLS.
    security: ClusterSecurityConfig,
    /// Seals what this node sends and opens what it receives.
    seal: Arc<Seal>,
    node_id: String,
    incarnation: i64,
    /// A node silent this long is down.
    down_after: Duration,
    connected: Arc<AtomicBool>,
    nodes: Mutex<HashMap<String, Seen>>,
    /// When this node's own heartbeat last came back.
    own_echo: Mutex<Option<Instant>>,
    publisher: Publisher,
    /// The receiving end of `publisher`, taken by [`Cluster::run`].
    outgoing: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    /// What the tracker and the directory heard, taken by [`Cluster::run`].
    heard: Mutex<Option<mpsc::UnboundedReceiver<Heard>>>,
    tracker: Arc<Tracker>,
    bus: Arc<Bus>,
    directory: Arc<Directory>,
    /// The connection, once made (it reconnects by itself).
    client: std::sync::OnceLock<async_nats::Client>,
}

/// What a node needs to join a cluster.
#[derive(Debug, Clone)]
pub struct Settings {
    /// NATS's URL (`nats://` or `tls://`).
    pub url: String,
    pub node_id: String,
    /// A node silent this long is down.
    pub down_after: Duration,
    /// The secret every node of the cluster shares (`KURVE_SECRET`).
    pub secret: Vec<u8>,
    pub security: ClusterSecurityConfig,
}

/// Why a request to another node got no answer to believe.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("not connected to NATS yet")]
    NotConnected,
    #[error("nobody serves this subject")]
    NoResponders,
    #[error("no answer in time")]
    TimedOut,
    #[error("the answer was not sealed by this cluster: {0}")]
    Rejected(Rejected),
    #[error("nats: {0}")]
    Nats(String),
}

/// Why a node could not set up its NATS connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read the NATS credentials file {path}: {error}")]
    Credentials {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

/// The NATS connection options `security` asks for: credentials and TLS.
pub async fn connect_options(
    security: &ClusterSecurityConfig,
    url: &str,
) -> Result<async_nats::ConnectOptions, ConnectError> {
    let mut options = async_nats::ConnectOptions::new();
    if let Some(path) = &security.nats_creds {
        options =
            options
                .credentials_file(path)
                .await
                .map_err(|error| ConnectError::Credentials {
                    path: path.clone(),
                    error,
                })?;
    }
    if let (Some(user), Some(password)) = (&security.nats_user, &security.nats_password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &security.nats_token {
        options = options.token(token.clone());
    }
    if let Some(seed) = &security.nats_nkey {
        options = options.nkey(seed.clone());
    }
    if security.nats_wants_tls() || url.starts_with("tls://") {
        options = options.require_tls(true);
    }
    if let Some(ca) = &security.nats_ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&security.nats_cert, &security.nats_key) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(options)
}

/// The warnings about refused messages are at most one per this long: a forger must
/// not be able to fill the log, and the counter has the totals.
const REJECT_WARN_EVERY: Duration = Duration::from_secs(60);

/// Counts (and now and then logs) a message or value refused on `what`.
pub(crate) fn count_rejected(what: &'static str, why: Rejected) {
    static LAST_WARN_SECS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    metrics::counter!(m::CLUSTER_REJECTED, "what" => what, "reason" => why.reason()).increment(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST_WARN_SECS.load(Ordering::Relaxed);
    if now >= last + REJECT_WARN_EVERY.as_secs()
        && LAST_WARN_SECS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            what,
            reason = why.reason(),
            "cluster: refused a message not sealed with this cluster's secret (a node with another KURVE_SECRET, or a forger on NATS); more are only counted"
        );
    } else {
        tracing::debug!(what, reason = why.reason(), "cluster: refused a message");
    }
}

impl Cluster {
    /// A node of the cluster `settings` describes (it connects in [`Cluster::run`]).
    pub fn new(settings: Settings) -> Cluster {
        let Settings {
            url,
            node_id,
            down_after,
            secret,
            security,
        } = settings;
        let (url, node_id) = (url.as_str(), node_id.as_str());
        let seal = Arc::new(Seal::new(&secret));
        let incarnation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let connected = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
        let publisher = Publisher {
            tx,
            connected: connected.clone(),
        };
        let (heard, heard_rx) = mpsc::unbounded_channel();
        Cluster {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                security,
                seal: seal.clone(),
                node_id: node_id.to_owned(),
                incarnation,
                down_after,
                connected,
                nodes: Mutex::new(HashMap::new()),
                own_echo: Mutex::new(None),
                tracker: Arc::new(Tracker::new(node_id, incarnation, heard.clone())),
                bus: Arc::new(Bus::new(
                    Arc::from(node_id),
                    publisher.clone(),
                    seal.clone(),
                )),
                directory: Arc::new(Directory::new(node_id, seal, heard)),
                client: std::sync::OnceLock::new(),
                publisher,
                outgoing: Mutex::new(Some(rx)),
                heard: Mutex::new(Some(heard_rx)),
            }),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The presence replicated across nodes.
    pub fn tracker(&self) -> Arc<Tracker> {
        self.inner.tracker.clone()
    }

    /// What `pubsub` hands to the other nodes.
    pub fn bus(&self) -> Arc<Bus> {
        self.inner.bus.clone()
    }

    /// The shared room directory.
    pub fn directory(&self) -> Arc<Directory> {
        self.inner.directory.clone()
    }

    /// The NATS connection, once made.
    fn client(&self) -> Option<async_nats::Client> {
        self.inner.client.get().cloned()
    }

    /// Queues a JSON message for `subject`; false when it could not be queued.
    pub fn publish_json<T: Serialize>(&self, subject: &str, value: &T) -> bool {
        self.inner.publisher.send_json(subject, value)
    }

    /// Whether a message received on `subject` was sealed by a node of this cluster;
    /// a refusal is counted under `what`.
    fn verify(&self, what: &'static str, message: &async_nats::Message) -> bool {
        match self.inner.seal.verify(
            message.subject.as_str(),
            message.headers.as_ref(),
            &message.payload,
        ) {
            Ok(()) => true,
            Err(why) => {
                count_rejected(what, why);
                false
            }
        }
    }

    /// Sends a sealed request to another node and returns its answer once its seal
    /// checks out.
    pub async fn request(
        &self,
        subject: String,
        payload: Bytes,
        within: Duration,
    ) -> Result<Bytes, RequestError> {
        let client = self.client().ok_or(RequestError::NotConnected)?;
        request(&client, &self.inner.seal, subject, payload, within).await
    }

    /// The requests other nodes send to `subject`, once this node is connected (it
    /// waits for that, until `shutdown`). Each is opened with the seal before it is
    /// handed out; one that does not open is dropped and counted under `what`.
    pub async fn serve(
        &self,
        subject: String,
        what: &'static str,
        shutdown: &CancellationToken,
    ) -> Result<Requests, ServeError> {
        let client = loop {
            if let Some(client) = self.client() {
                break client;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Err(ServeError::ShuttingDown),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        };
        let subscriber = client
            .subscribe(subject)
            .await
            .map_err(|error| ServeError::Subscribe(error.to_string()))?;
        Ok(Requests {
            cluster: self.clone(),
            client,
            subscriber,
            what,
        })
    }

    /// Where a new room goes: the live node with the fewest seated players; this node
    /// when it has no more than the fewest (the creator's node wins a tie). None for
    /// this node.
    pub fn placement(&self, game: &str) -> Option<String> {
        let nodes = self.nodes();
        let mine = nodes.iter().find(|n| n.id == self.inner.node_id)?.players;
        let best = nodes
            .iter()
            .filter(|n| n.games.iter().any(|g| g == game))
            .min_by(|a, b| (a.players, &a.id).cmp(&(b.players, &b.id)))?;
        (best.players < mine).then(|| best.id.clone())
    }

    /// Whether `node` is live: heard from within [`DOWN_AFTER`].
    pub fn is_live(&self, node: &str) -> bool {
        self.nodes_table()
            .get(node)
            .is_some_and(|seen| seen.at.elapsed() < self.inner.down_after)
    }

    /// Connected to NATS, and this node's own heartbeat came back lately.
    pub fn healthy(&self) -> bool {
        let echo = *self
            .inner
            .own_echo
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.inner.connected.load(Ordering::Relaxed)
            && echo.is_some_and(|at| at.elapsed() < self.inner.down_after)
    }

    fn nodes_table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.inner
            .nodes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The live nodes (this one included once its heartbeat is back), by id.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let mut nodes = self.nodes_table();
        nodes.retain(|_, seen| seen.at.elapsed() < self.inner.down_after);
        let mut list: Vec<NodeInfo> = nodes
            .values()
            .map(|seen| NodeInfo {
                id: seen.heartbeat.node.clone(),
                sockets: seen.heartbeat.load.sockets,
                rooms: seen.heartbeat.load.rooms,
                players: seen.heartbeat.load.players,
                games: seen.heartbeat.load.games.clone(),
                seen_ms_ago: seen.at.elapsed().as_millis() as u64,
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    /// Connects (retrying for as long as it takes) and runs this node's part of the
    /// cluster until `shutdown`: heartbeats, presence, topic subscriptions and the
    /// publishing of everything queued. NATS being away never stops the node: it is
    /// unhealthy meanwhile, and cross-node features resume when NATS is back.
    pub async fn run(self, local: Local, shutdown: CancellationToken) {
        let taken = (
            self.inner
                .outgoing
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take(),
            self.inner
                .heard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take(),
        );
        let (Some(mut outgoing), Some(heard)) = taken else {
            tracing::error!("cluster: run twice");
            return;
        };
        let Local {
            load,
            pubsub,
            lobbies,
            rooms,
            direct,
        } = local;
        let delivering = tokio::spawn(deliver(heard, lobbies, rooms));
        let events = self.clone();
        let options = match connect_options(&self.inner.security, &self.inner.url).await {
            Ok(options) => options,
            Err(error) => {
                tracing::error!(%error, "cluster: cannot set up the NATS connection");
                return;
            }
        };
        let options = options
            .name(format!("kurve-{}", self.inner.node_id))
            .retry_on_initial_connect()
            .event_callback(move |event| {
                let cluster = events.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            cluster.inner.connected.store(true, Ordering::Relaxed);
                            // What was written while away may be lost: write it again.
                            cluster.inner.directory.rewrite_all();
                            tracing::info!("cluster: connected to NATS");
                        }
                        async_nats::Event::Disconnected => {
                            cluster.inner.connected.store(false, Ordering::Relaxed);
                            tracing::warn!("cluster: NATS connection lost; reconnecting");
                        }
                        async_nats::Event::SlowConsumer(sid) => {
                            tracing::warn!(sid, "cluster: NATS dropped messages (slow consumer)");
                        }
                        // Wrong credentials show here (an authorization violation).
                        async_nats::Event::ServerError(error) => {
                            tracing::warn!(%error, "cluster: NATS refused this node");
                        }
                        other => tracing::debug!(event = %other, "cluster: NATS event"),
                    }
                }
            });
        let client = tokio::select! {
            _ = shutdown.cancelled() => return,
            client = options.connect(&self.inner.url) => match client {
                Ok(client) => client,
                Err(error) => {
                    tracing::error!(%error, url = %self.inner.url, "cluster: cannot use this NATS URL");
                    return;
                }
            },
        };
        let _ = self.inner.client.set(client.clone());
        tokio::spawn(
            self.inner
                .directory
                .clone()
                .run(client.clone(), shutdown.clone()),
        );
        let node_subject = format!("kurve.v1.node.{}", self.inner.node_id);
        let subscribed = tokio::try_join!(
            client.subscribe(TRACKER_SUBJECT),
            client.subscribe(format!("{node_subject}.transfer")),
            client.subscribe(format!("{node_subject}.ping")),
        );
        let (mut tracker_messages, mut transfers, mut pings) = match subscribed {
            Ok(subscribers) => subscribers,
            Err(error) => {
                tracing::error!(%error, "cluster: cannot subscribe");
                return;
            }
        };
        // The one publisher: everything queued goes out in order, sealed.
        let sender = client.clone();
        let seal = self.inner.seal.clone();
        let publishing = tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                let mut headers = message.headers.unwrap_or_default();
                seal.sign(&message.subject, &mut headers, &message.payload);
                let sent = sender
                    .publish_with_headers(message.subject, headers, message.payload)
                    .await;
                if sent.is_err() {
                    metrics::counter!(m::CLUSTER_DROPPED).increment(1);
                }
            }
        });
        let mut subscriptions = Subscriptions::new(pubsub, direct);
        let bus = self.inner.bus.clone();
        let mut beats = tokio::time::interval(HEARTBEAT);
        let mut deltas = tokio::time::interval(DELTA_EVERY);
        deltas.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut seq = 0_u64;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = beats.tick() => {
                    self.export_metrics(&client);
                    self.publish_deltas();
                    seq += 1;
                    self.inner.publisher.send_json(TRACKER_SUBJECT, &TrackerMessage::Beat(Heartbeat {
                        node: self.inner.node_id.clone(),
                        incarnation: self.inner.incarnation,
                        seq,
                        load: load(),
                        presence_seq: self.inner.tracker.seq(),
                    }));
                    self.sweep_down_nodes();
                }
                _ = deltas.tick() => self.publish_deltas(),
                _ = bus.wake.notified() => subscriptions.reconcile(&bus, &client),
                message = tracker_messages.next() => match message {
                    Some(message) => {
                        if self.verify("tracker", &message) {
                            self.on_tracker_message(&client, &message.payload);
                        }
                    }
                    None => break,
                },
                request = transfers.next() => {
                    let Some(request) = request else { break };
                    if !self.verify("transfer", &request) {
                        continue;
                    }
                    // Off this loop: a large reply must not hold up heartbeats, or the
                    // other nodes take this one for down and ask for more transfers.
                    tokio::spawn(answer_transfer(
                        client.clone(),
                        self.inner.seal.clone(),
                        self.inner.tracker.clone(),
                        request,
                    ));
                }
                ping = pings.next() => {
                    let Some(ping) = ping else { break };
                    if let Some(reply) = ping.reply {
                        let _ = client.publish(reply, Bytes::from_static(b"pong")).await;
                    }
                }
            }
        }
        drop(subscriptions);
        // A clean stop: the others drop this node's sessions now.
        if let Ok(bye) = serde_json::to_vec(&TrackerMessage::Bye {
            node: self.inner.node_id.clone(),
            incarnation: self.inner.incarnation,
        }) {
            let headers = self.inner.seal.sealed_headers(TRACKER_SUBJECT, &bye);
            let _ = tokio::time::timeout(
                Duration::from_millis(500),
                client.publish_with_headers(TRACKER_SUBJECT, headers, bye.into()),
            )
            .await;
        }
        publishing.abort();
        delivering.abort();
        let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
    }

    /// Publishes this node's presence changes since the last call.
    fn publish_deltas(&self) {
        for delta in self.inner.tracker.take_deltas() {
            self.inner
                .publisher
                .send_json(TRACKER_SUBJECT, &TrackerMessage::Delta(delta));
        }
    }

    /// Nodes silent for [`DOWN_AFTER`] leave the table, and their sessions leave.
    fn sweep_down_nodes(&self) {
        let live: Vec<String> = {
            let mut nodes = self.nodes_table();
            nodes.retain(|_, seen| seen.at.elapsed() < self.inner.down_after);
            nodes.keys().cloned().collect()
        };
        for node in self.inner.tracker.replica_nodes() {
            if !live.contains(&node) {
                tracing::info!(%node, "cluster: node down; its sessions leave");
                self.inner.tracker.node_down(&node);
            }
        }
        self.inner
            .directory
            .sweep(&|node| live.iter().any(|n| n == node));
        metrics::gauge!(m::CLUSTER_REMOTE_MEMBERS).set(self.inner.tracker.remote_count() as f64);
    }

    /// Per-node cluster figures for `/metrics`.
    fn export_metrics(&self, client: &async_nats::Client) {
        let stats = client.statistics();
        metrics::gauge!(m::CLUSTER_NODES).set(self.nodes().len() as f64);
        metrics::counter!(m::CLUSTER_MESSAGES_IN)
            .absolute(stats.in_messages.load(Ordering::Relaxed));
        metrics::counter!(m::CLUSTER_MESSAGES_OUT)
            .absolute(stats.out_messages.load(Ordering::Relaxed));
        metrics::counter!(m::CLUSTER_BYTES_IN).absolute(stats.in_bytes.load(Ordering::Relaxed));
        metrics::counter!(m::CLUSTER_BYTES_OUT).absolute(stats.out_bytes.load(Ordering::Relaxed));
        metrics::counter!(m::CLUSTER_CONNECTS).absolute(stats.connects.load(Ordering::Relaxed));
    }

    fn on_tracker_message(&self, client: &async_nats::Client, payload: &[u8]) {
        if let Followup::Transfer { node } = self.handle_tracker_payload(payload) {
            tokio::spawn(fetch_transfer(
                client.clone(),
                self.inner.seal.clone(),
                self.inner.tracker.clone(),
                node,
            ));
        }
    }

    /// Applies one message of `kurve.v1.trk`; what to do next.
    fn handle_tracker_payload(&self, payload: &[u8]) -> Followup {
        let Ok(message) = serde_json::from_slice::<TrackerMessage>(payload) else {
            tracing::debug!("cluster: an undecodable tracker message was ignored");
            return Followup::None;
        };
        match message {
            TrackerMessage::Beat(heartbeat) => self.on_heartbeat(heartbeat),
            TrackerMessage::Delta(delta) => {
                if self.is_down(&delta.node) {
                    // Heard before its heartbeat (or after it went down): the next
                    // heartbeat brings it back, with a transfer.
                    return Followup::None;
                }
                self.inner.tracker.on_delta(delta)
            }
            TrackerMessage::Bye { node, incarnation } => {
                let mut nodes = self.nodes_table();
                let known = nodes
                    .get(&node)
                    .is_some_and(|seen| seen.heartbeat.incarnation == incarnation);
                if !known {
                    // Not the incarnation this node knows (an older one's late goodbye,
                    // or made up): the live node's members stay.
                    return Followup::None;
                }
                nodes.remove(&node);
                drop(nodes);
                tracing::info!(%node, "cluster: node left");
                self.inner.tracker.node_down(&node);
                Followup::None
            }
        }
    }

    fn is_down(&self, node: &str) -> bool {
        !self.nodes_table().contains_key(node)
    }

    fn on_heartbeat(&self, heartbeat: Heartbeat) -> Followup {
        let now = Instant::now();
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        if heartbeat.incarnation > wall_ms.saturating_add(seal::MAX_AGE.as_millis() as i64) {
            // An incarnation is a start time: one from the future would outrank every
            // real restart of that node for ever.
            return Followup::None;
        }
        if heartbeat.node == self.inner.node_id {
            if heartbeat.incarnation != self.inner.incarnation {
                tracing::error!(node = %heartbeat.node, "cluster: another node uses this node id");
                return Followup::None;
            }
            *self
                .inner
                .own_echo
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(now);
        }
        let mut nodes = self.nodes_table();
        let newer = nodes.get(&heartbeat.node).is_none_or(|seen| {
            (heartbeat.incarnation, heartbeat.seq)
                > (seen.heartbeat.incarnation, seen.heartbeat.seq)
        });
        if !newer {
            return Followup::None;
        }
        let (node, incarnation, presence_seq) = (
            heartbeat.node.clone(),
            heartbeat.incarnation,
            heartbeat.presence_seq,
        );
        nodes.insert(heartbeat.node.clone(), Seen { at: now, heartbeat });
        drop(nodes);
        self.inner.tracker.on_beat(&node, incarnation, presence_seq)
    }
}

/// Tells this node's lobbies and rooms what the tracker and the directory heard, in
/// the order they heard it.
async fn deliver(mut heard: mpsc::UnboundedReceiver<Heard>, lobbies: Lobbies, rooms: Rooms) {
    while let Some(heard) = heard.recv().await {
        match heard {
            Heard::Presence(topic, changes) => lobbies.remote_presence(&topic, changes),
            Heard::Room(summary) => rooms.remote_changed(&summary),
            Heard::Displaced(id) => rooms.displaced(&id),
        }
    }
}

/// Why this node cannot serve requests on a subject.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("cannot subscribe: {0}")]
    Subscribe(String),
}

/// Requests to this node on one subject, opened ([`Cluster::serve`]).
pub struct Requests {
    cluster: Cluster,
    client: async_nats::Client,
    subscriber: async_nats::Subscriber,
    what: &'static str,
}

impl Requests {
    /// The next request sealed by a node of this cluster; None when the subscription
    /// ended. Cancel-safe: nothing is taken from NATS but at its one await.
    pub async fn next(&mut self) -> Option<Request> {
        loop {
            let message = self.subscriber.next().await?;
            if self.cluster.verify(self.what, &message) {
                return Some(Request {
                    payload: message.payload,
                    reply: message.reply.map(|reply| reply.to_string()),
                    client: self.client.clone(),
                    seal: self.cluster.inner.seal.clone(),
                });
            }
        }
    }
}

/// One request from another node, its seal checked.
pub struct Request {
    pub payload: Bytes,
    /// Where the answer goes (None: the sender wants none).
    reply: Option<String>,
    client: async_nats::Client,
    seal: Arc<Seal>,
}

impl Request {
    /// Answers the request, sealed (nothing when its sender wants no answer).
    pub async fn answer(self, payload: Bytes) {
        if let Some(reply) = self.reply {
            reply_sealed(&self.client, &self.seal, reply, payload).await;
        }
    }
}

/// Sends a sealed request and returns the answer once its seal checks out.
async fn request(
    client: &async_nats::Client,
    seal: &Seal,
    subject: String,
    payload: Bytes,
    within: Duration,
) -> Result<Bytes, RequestError> {
    let headers = seal.sealed_headers(&subject, &payload);
    let asked = client.request_with_headers(subject, headers, payload);
    let answer = tokio::time::timeout(within, asked)
        .await
        .map_err(|_| RequestError::TimedOut)?
        .map_err(|error| match error.kind() {
            async_nats::RequestErrorKind::NoResponders => RequestError::NoResponders,
            async_nats::RequestErrorKind::TimedOut => RequestError::TimedOut,
            _ => RequestError::Nats(error.to_string()),
        })?;
    if let Err(why) = seal.verify(
        answer.subject.as_str(),
        answer.headers.as_ref(),
        &answer.payload,
    ) {
        count_rejected("reply", why);
        return Err(RequestError::Rejected(why));
    }
    Ok(answer.payload)
}

/// Publishes the answer to a request on its `reply` subject, sealed.
async fn reply_sealed(client: &async_nats::Client, seal: &Seal, reply: String, payload: Bytes) {
    let headers = seal.sealed_headers(&reply, &payload);
    let _ = client.publish_with_headers(reply, headers, payload).await;
}

/// Answers a transfer request with a chunk of this node's presence.
async fn answer_transfer(
    client: async_nats::Client,
    seal: Arc<Seal>,
    tracker: Arc<Tracker>,
    request: async_nats::Message,
) {
    let Some(reply) = request.reply else {
        return;
    };
    let asked: TransferRequest = serde_json::from_slice(&request.payload).unwrap_or_default();
    let chunk = tracker.transfer_chunk(asked.after.as_deref());
    if let Ok(payload) = serde_json::to_vec(&chunk) {
        metrics::counter!(m::CLUSTER_TRANSFERS, "direction" => "out").increment(1);
        reply_sealed(&client, &seal, reply.to_string(), payload.into()).await;
    }
}

/// Fetches `node`'s whole presence, chunk by chunk, and hands it to the tracker.
async fn fetch_transfer(
    client: async_nats::Client,
    seal: Arc<Seal>,
    tracker: Arc<Tracker>,
    node: String,
) {
    let subject = format!("kurve.v1.node.{node}.transfer");
    let mut entries = Vec::new();
    let mut first: Option<(i64, u64)> = None;
    let mut after: Option<Arc<str>> = None;
    while let Ok(request) = serde_json::to_vec(&TransferRequest {
        after: after.clone(),
    }) {
        let answer = self::request(
            &client,
            &seal,
            subject.clone(),
            request.into(),
            TRANSFER_TIMEOUT,
        )
        .await;
        let chunk = match answer {
            Ok(payload) => serde_json::from_slice::<TransferChunk>(&payload).ok(),
            Err(_) => None,
        };
        let Some(chunk) = chunk else {
            tracing::debug!(%node, "cluster: a presence transfer failed; retried on its next heartbeat");
            tracker.abort_transfer(&node);
            return;
        };
        let (incarnation, seq) = *first.get_or_insert((chunk.incarnation, chunk.seq));
        if chunk.incarnation != incarnation {
            tracker.abort_transfer(&node);
            return;
        }
        entries.extend(chunk.entries);
        match chunk.next_after {
            Some(next) => after = Some(next),
            None => {
                metrics::counter!(m::CLUSTER_TRANSFERS, "direction" => "in").increment(1);
                tracker.finish_transfer(&node, incarnation, seq, entries);
                return;
            }
        }
    }
    tracker.abort_transfer(&node);
}

/// The subject where node `node` creates rooms placed on it (request/reply: a
/// `RoomSpec`, answered with the new room's id or why not).
pub fn create_subject(node: &str) -> String {
    format!("kurve.v1.node.{node}.create")
}

/// A node id when none is given: random, short, valid in NATS subjects.
pub fn random_node_id() -> String {
    format!("n{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_cluster(node: &str) -> Cluster {
        Cluster::new(Settings {
            url: "nats://127.0.0.1:1".into(),
            node_id: node.into(),
            down_after: DOWN_AFTER,
            secret: b"test secret".to_vec(),
            security: ClusterSecurityConfig::default(),
        })
    }

    fn beat(node: &str, incarnation: i64, seq: u64, sockets: usize) -> Vec<u8> {
        serde_json::to_vec(&TrackerMessage::Beat(Heartbeat {
            node: node.into(),
            incarnation,
            seq,
            load: Load {
                sockets,
                rooms: 1,
                players: sockets,
                games: vec!["curve".into(), "bumper".into()],
            },
            presence_seq: 0,
        }))
        .expect("json")
    }

    #[test]
    fn a_goodbye_counts_only_from_the_incarnation_this_node_knows() {
        let cluster = test_cluster("a");
        cluster.handle_tracker_payload(&beat("b", 5, 1, 3));
        let bye = |incarnation: i64| {
            serde_json::to_vec(&TrackerMessage::Bye {
                node: "b".into(),
                incarnation,
            })
            .expect("json")
        };
        cluster.handle_tracker_payload(&bye(4));
        cluster.handle_tracker_payload(&bye(6));
        assert_eq!(
            cluster.nodes().len(),
            1,
            "another incarnation's bye is ignored"
        );
        cluster.handle_tracker_payload(&bye(5));
        assert!(cluster.nodes().is_empty(), "its own bye removes it");
    }

    #[test]
    fn a_heartbeat_from_the_future_is_ignored() {
        let cluster = test_cluster("a");
        cluster.handle_tracker_payload(&beat("b", i64::MAX, 1, 99_999));
        assert!(
            cluster.nodes().is_empty(),
            "an incarnation far in the future would outrank every real restart"
        );
    }

    #[test]
    fn a_new_room_goes_to_the_node_with_the_fewest_players_and_stays_here_on_a_tie() {
        let cluster = test_cluster("b");
        let me = cluster.inner.incarnation;
        cluster.handle_tracker_payload(&beat("b", me, 1, 4));
        cluster.handle_tracker_payload(&beat("a", 1, 1, 4));
        assert_eq!(
            cluster.placement("curve"),
            None,
            "a tie stays on the creator's node"
        );
        cluster.handle_tracker_payload(&beat("c", 1, 1, 2));
        assert_eq!(cluster.placement("curve"), Some("c".into()));
        cluster.handle_tracker_payload(&beat("b", me, 2, 1));
        assert_eq!(
            cluster.placement("curve"),
            None,
            "this node has the fewest now"
        );
    }

    #[test]
    fn a_room_goes_only_to_a_node_that_hosts_its_game() {
        let cluster = test_cluster("b");
        let me = cluster.inner.incarnation;
        cluster.handle_tracker_payload(&beat("b", me, 1, 4));
        // A node from before games: its heartbeat has no `games`.
        let old = serde_json::json!({"type": "beat", "node": "a", "incarnation": 1, "seq": 1,
            "sockets": 0, "rooms": 0, "players": 0});
        cluster.handle_tracker_payload(&serde_json::to_vec(&old).expect("json"));
        let a = cluster
            .nodes()
            .into_iter()
            .find(|n| n.id == "a")
            .expect("a is live");
        assert_eq!(a.games, ["curve"], "an old node hosts Curve only");
        assert_eq!(cluster.placement("curve"), Some("a".into()));
        assert_eq!(
            cluster.placement("bumper"),
            None,
            "a Bumper room stays here rather than go to a node without Bumper"
        );
    }

    #[test]
    fn the_newest_heartbeat_of_each_node_is_kept_and_echoes_make_it_healthy() {
        let cluster = test_cluster("a");
        cluster.handle_tracker_payload(&beat("b", 1, 5, 10));
        cluster.handle_tracker_payload(&beat("b", 1, 4, 99));
        assert_eq!(
            cluster.nodes()[0].sockets,
            10,
            "an older heartbeat is ignored"
        );
        cluster.handle_tracker_payload(&beat("b", 2, 1, 7));
        assert_eq!(
            cluster.nodes()[0].sockets,
            7,
            "a new incarnation replaces the old"
        );
        cluster.handle_tracker_payload(b"not json");
        assert!(!cluster.healthy(), "not connected, no echo");
        cluster.inner.connected.store(true, Ordering::Relaxed);
        cluster.handle_tracker_payload(&beat("a", cluster.inner.incarnation, 1, 0));
        assert!(cluster.healthy());
        assert_eq!(
            cluster
                .nodes()
                .iter()
                .map(|n| n.id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
