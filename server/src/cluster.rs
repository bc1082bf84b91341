//! The cluster (CONTRACT §9), first part: the node's connection to NATS, heartbeats on
//! `kurve.v1.trk`, the table of live nodes behind `/api/cluster`, and the health that
//! `/healthz` reports. Without `--cluster` none of this exists and NATS is on no path.
//!
//! Every node publishes a heartbeat each second: its id, incarnation (start time),
//! sequence number and load. Each node keeps the last heartbeat of every node; one
//! silent for [`DOWN_AFTER`] is gone from the table. The node is healthy while NATS is
//! connected and its own heartbeat came back within [`DOWN_AFTER`] (NATS echoes a
//! node's messages to itself).
//!
//! Per-node figures go to `/metrics` (`kurve_cluster_*`); in a cluster every room
//! summary carries the id of its node.
//!
//! Not yet: broadcasts, presence, the room directory and relays across nodes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The subject of heartbeats (and, later, presence deltas).
pub const TRACKER_SUBJECT: &str = "kurve.v1.trk";

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A node silent this long is down (and this node unhealthy if its own heartbeat is
/// not back within it).
pub const DOWN_AFTER: Duration = Duration::from_secs(3);

/// What a node reports about its load in every heartbeat.
pub type LoadFn = Arc<dyn Fn() -> Load + Send + Sync>;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Load {
    pub sockets: usize,
    pub rooms: usize,
}

/// One heartbeat, as it crosses the wire (JSON, versioned by its subject).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Heartbeat {
    node: String,
    /// The node's start time (Unix ms): a restarted node is a new incarnation.
    incarnation: i64,
    seq: u64,
    #[serde(flatten)]
    load: Load,
}

/// A node as `/api/cluster` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: String,
    pub sockets: usize,
    pub rooms: usize,
    pub seen_ms_ago: u64,
}

struct Seen {
    at: Instant,
    heartbeat: Heartbeat,
}

/// This node's view of the cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    node_id: String,
    incarnation: i64,
    connected: AtomicBool,
    nodes: Mutex<HashMap<String, Seen>>,
    /// When this node's own heartbeat last came back.
    own_echo: Mutex<Option<Instant>>,
}

impl Cluster {
    pub fn new(url: &str, node_id: &str) -> Cluster {
        let incarnation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Cluster {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                node_id: node_id.to_owned(),
                incarnation,
                connected: AtomicBool::new(false),
                nodes: Mutex::new(HashMap::new()),
                own_echo: Mutex::new(None),
            }),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// Connected to NATS, and this node's own heartbeat came back lately.
    pub fn healthy(&self) -> bool {
        let echo = *self
            .inner
            .own_echo
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.inner.connected.load(Ordering::Relaxed)
            && echo.is_some_and(|at| at.elapsed() < DOWN_AFTER)
    }

    /// The live nodes (this one included once its heartbeat is back), by id.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let mut nodes = self
            .inner
            .nodes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        nodes.retain(|_, seen| seen.at.elapsed() < DOWN_AFTER);
        let mut list: Vec<NodeInfo> = nodes
            .values()
            .map(|seen| NodeInfo {
                id: seen.heartbeat.node.clone(),
                sockets: seen.heartbeat.load.sockets,
                rooms: seen.heartbeat.load.rooms,
                seen_ms_ago: seen.at.elapsed().as_millis() as u64,
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    /// Connects (retrying for as long as it takes) and runs the heartbeats until
    /// `shutdown`. NATS being away never stops the node: it is unhealthy meanwhile.
    pub async fn run(self, load: LoadFn, shutdown: CancellationToken) {
        let events = self.clone();
        let options = async_nats::ConnectOptions::new()
            .name(format!("kurve-{}", self.inner.node_id))
            .retry_on_initial_connect()
            .event_callback(move |event| {
                let cluster = events.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            cluster.inner.connected.store(true, Ordering::Relaxed);
                            tracing::info!("cluster: connected to NATS");
                        }
                        async_nats::Event::Disconnected => {
                            cluster.inner.connected.store(false, Ordering::Relaxed);
                            tracing::warn!("cluster: NATS connection lost; reconnecting");
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
        let mut heartbeats = match client.subscribe(TRACKER_SUBJECT).await {
            Ok(subscriber) => subscriber,
            Err(error) => {
                tracing::error!(%error, "cluster: cannot subscribe to heartbeats");
                return;
            }
        };
        let mut every = tokio::time::interval(HEARTBEAT);
        let mut seq = 0_u64;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = every.tick() => {
                    self.export_metrics(&client);
                    seq += 1;
                    let beat = Heartbeat {
                        node: self.inner.node_id.clone(),
                        incarnation: self.inner.incarnation,
                        seq,
                        load: load(),
                    };
                    if let Ok(payload) = serde_json::to_vec(&beat) {
                        // Never waits on NATS for long: a heartbeat that cannot go now is
                        // stale anyway.
                        let publish = client.publish(TRACKER_SUBJECT, payload.into());
                        let _ = tokio::time::timeout(HEARTBEAT / 2, publish).await;
                    }
                }
                message = heartbeats.next() => match message {
                    Some(message) => self.on_heartbeat(&message.payload),
                    None => break,
                },
            }
        }
        let _ = client.flush().await;
    }

    /// Per-node cluster figures for `/metrics`.
    fn export_metrics(&self, client: &async_nats::Client) {
        use crate::metrics as m;
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

    fn on_heartbeat(&self, payload: &[u8]) {
        let Ok(heartbeat) = serde_json::from_slice::<Heartbeat>(payload) else {
            tracing::debug!("cluster: an undecodable heartbeat was ignored");
            return;
        };
        let now = Instant::now();
        if heartbeat.node == self.inner.node_id {
            if heartbeat.incarnation != self.inner.incarnation {
                tracing::error!(node = %heartbeat.node, "cluster: another node uses this node id");
                return;
            }
            *self
                .inner
                .own_echo
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(now);
        }
        let mut nodes = self
            .inner
            .nodes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let newer = nodes.get(&heartbeat.node).is_none_or(|seen| {
            (heartbeat.incarnation, heartbeat.seq)
                > (seen.heartbeat.incarnation, seen.heartbeat.seq)
        });
        if newer {
            nodes.insert(heartbeat.node.clone(), Seen { at: now, heartbeat });
        }
    }
}

/// A node id when none is given: random, short, valid in NATS subjects.
pub fn random_node_id() -> String {
    format!("n{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(node: &str, incarnation: i64, seq: u64, sockets: usize) -> Vec<u8> {
        serde_json::to_vec(&Heartbeat {
            node: node.into(),
            incarnation,
            seq,
            load: Load { sockets, rooms: 1 },
        })
        .expect("json")
    }

    #[test]
    fn the_newest_heartbeat_of_each_node_is_kept_and_echoes_make_it_healthy() {
        let cluster = Cluster::new("nats://127.0.0.1:1", "a");
        cluster.on_heartbeat(&beat("b", 1, 5, 10));
        cluster.on_heartbeat(&beat("b", 1, 4, 99));
        assert_eq!(
            cluster.nodes()[0].sockets,
            10,
            "an older heartbeat is ignored"
        );
        cluster.on_heartbeat(&beat("b", 2, 1, 7));
        assert_eq!(
            cluster.nodes()[0].sockets,
            7,
            "a new incarnation replaces the old"
        );
        cluster.on_heartbeat(b"not json");
        assert!(!cluster.healthy(), "not connected, no echo");
        cluster.inner.connected.store(true, Ordering::Relaxed);
        cluster.on_heartbeat(&beat("a", cluster.inner.incarnation, 1, 0));
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
