//! Broadcasts across nodes: one NATS subject per topic, `kurve.v1.t.<topic>`.
//!
//! A node subscribes to a topic's subject when the topic gets its first local
//! subscriber and unsubscribes when it loses its last, so a node with no subscriber of
//! a topic receives none of its traffic. A broadcast crosses the wire once per
//! interested node: its payload goes as is (JSON text or binary) with the event and the
//! origin node in headers, and the receiving node turns it into one [`Broadcast`]
//! shared by all its subscribers, so it is encoded once per node. A node drops its own
//! messages (NATS echoes them).
//!
//! Only lobby and room topics span nodes; replays and the admin page are per node.
//!
//! Every message is sealed by the node's one publisher and opened here before any of
//! its headers is read ([`super::seal`]): a message from outside the cluster cannot
//! deliver a chat line, a presence diff or a directed reply to anybody.
//!
//! A message for one member on another node (a reply, a push such as a room's
//! snapshot, a refused join) travels on the same subject as the topic's broadcasts,
//! addressed to its node and socket ([`Directed`]): NATS keeps one publisher's order on
//! a subject, so a member's snapshot and the ticks after it arrive in the order the
//! room sent them, and the receiving node subscribes the member to the topic's
//! broadcasts exactly between the two.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::seal::Seal;
use super::{Outgoing, Publisher, count_rejected};
use crate::metrics as m;
use crate::outbound::{Payload, SocketId};
use crate::pubsub::{Broadcast, PubSub, Remote};

/// The subject prefix of topic broadcasts.
pub const TOPIC_PREFIX: &str = "kurve.v1.t.";

const ORIGIN: &str = "Kurve-Origin";
const EVENT: &str = "Kurve-Event";
const KIND: &str = "Kurve-Kind";
const DIRECT: &str = "Kurve-Direct";
/// When the broadcast left its node (Unix µs), for the relay lag.
const SENT_AT: &str = "Kurve-At";

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A message for one member of a topic on another node.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Directed {
    /// The node of the member's socket.
    pub to: String,
    /// The socket's id on that node.
    pub socket: SocketId,
    pub join_ref: Arc<str>,
    #[serde(flatten)]
    pub op: DirectedOp,
}

/// What a [`Directed`] message does to the member's channel.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DirectedOp {
    /// `phx_reply` to the client frame `msg_ref`.
    Reply { msg_ref: Arc<str>, status: String },
    /// A push of `event` to this member only. `resets`: it replaces the topic's state
    /// (a resync's snapshot), see `outbound`.
    Push {
        event: String,
        #[serde(default)]
        resets: bool,
    },
    /// The join was refused (its error reply went first).
    Refused,
    /// The topic's owner crashed: `phx_error`.
    Crashed,
    /// The server closed the channel: `phx_close`.
    Closed,
}

/// Where directed messages for this node go: the topic, the message, its payload.
/// Called on the topic's task, between the broadcasts before and after it.
pub type DirectSink = Arc<dyn Fn(&Arc<str>, Directed, Payload) + Send + Sync>;

/// Whether broadcasts on `topic` go to other nodes: lobby and room topics whose names
/// are valid subject tokens (the server's own names always are).
pub fn spans(topic: &str) -> bool {
    let Some((kind, name)) = topic.split_once(':') else {
        return false;
    };
    matches!(kind, "lobby" | "room")
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The bus: what pubsub hands to the other nodes, and which topics this node wants.
pub struct Bus {
    node: Arc<str>,
    publisher: Publisher,
    /// Topics whose local interest changed since the cluster task last looked.
    dirty: Mutex<HashSet<Arc<str>>>,
    pub(super) wake: Notify,
    /// Topics whose subject this node is subscribed to now.
    active: Mutex<HashSet<Arc<str>>>,
    activated: Notify,
    /// Opens what arrives.
    seal: Arc<Seal>,
}

impl Bus {
    pub(super) fn new(node: Arc<str>, publisher: Publisher, seal: Arc<Seal>) -> Bus {
        Bus {
            node,
            publisher,
            dirty: Mutex::default(),
            wake: Notify::new(),
            active: Mutex::default(),
            activated: Notify::new(),
            seal,
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashSet<Arc<str>>> {
        self.active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits (at most `within`) until this node is subscribed to `topic`'s subject, so
    /// that what is published on it from now on reaches this node. False on timeout.
    pub async fn wait_subscribed(&self, topic: &str, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let woken = self.activated.notified();
            if self.active().contains(topic) {
                return true;
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return self.active().contains(topic);
            }
        }
    }

    /// Sends a message to one member of `topic` on another node, in order with the
    /// topic's broadcasts. False when it could not be queued.
    pub fn publish_directed(&self, topic: &str, directed: &Directed, payload: &Payload) -> bool {
        let Ok(header) = serde_json::to_string(directed) else {
            return false;
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(ORIGIN, &*self.node);
        headers.insert(DIRECT, header.as_str());
        let payload = Self::payload(&mut headers, payload);
        self.publisher.send(Outgoing {
            subject: format!("{TOPIC_PREFIX}{topic}"),
            headers: Some(headers),
            payload,
        })
    }

    /// The payload's bytes, its kind noted in `headers`.
    fn payload(headers: &mut async_nats::HeaderMap, payload: &Payload) -> bytes::Bytes {
        match payload {
            Payload::Json(text) => {
                headers.insert(KIND, "json");
                bytes::Bytes::copy_from_slice(text.as_bytes())
            }
            Payload::Binary(bytes) => {
                headers.insert(KIND, "binary");
                bytes.clone()
            }
        }
    }

    fn take_dirty(&self) -> Vec<Arc<str>> {
        self.dirty
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain()
            .collect()
    }
}

impl Remote for Bus {
    fn interest_changed(&self, topic: &Arc<str>) {
        if !spans(topic) {
            return;
        }
        self.dirty
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(topic.clone());
        self.wake.notify_one();
    }

    fn publish(&self, broadcast: &Arc<Broadcast>) {
        if !spans(&broadcast.topic) {
            return;
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(ORIGIN, &*self.node);
        headers.insert(EVENT, &*broadcast.event);
        headers.insert(SENT_AT, unix_micros().to_string().as_str());
        let payload = Self::payload(&mut headers, &broadcast.payload);
        if self.publisher.send(Outgoing {
            subject: format!("{TOPIC_PREFIX}{}", broadcast.topic),
            headers: Some(headers),
            payload,
        }) {
            metrics::counter!(m::CLUSTER_BROADCASTS, "direction" => "out").increment(1);
        }
    }
}

/// The subscriptions of this node, one forwarding task per topic.
pub(super) struct Subscriptions {
    tasks: HashMap<Arc<str>, JoinHandle<()>>,
    /// This node's subscribers: whose interest counts, who gets the broadcasts.
    pubsub: PubSub,
    /// Who gets the directed messages.
    direct: DirectSink,
}

impl Subscriptions {
    pub(super) fn new(pubsub: PubSub, direct: DirectSink) -> Subscriptions {
        Subscriptions {
            tasks: HashMap::new(),
            pubsub,
            direct,
        }
    }

    /// Brings the subscriptions in line with local interest for every changed topic.
    pub(super) fn reconcile(&mut self, bus: &Arc<Bus>, client: &async_nats::Client) {
        for topic in bus.take_dirty() {
            let wanted = self.pubsub.subscriber_count(&topic) > 0;
            let held = self.tasks.get(&topic).is_some_and(|t| !t.is_finished());
            if wanted && !held {
                let task = tokio::spawn(forward(
                    client.clone(),
                    topic.clone(),
                    self.pubsub.clone(),
                    self.direct.clone(),
                    bus.clone(),
                ));
                self.tasks.insert(topic, task);
            } else if !wanted && let Some(task) = self.tasks.remove(&topic) {
                // Dropping its subscriber unsubscribes.
                task.abort();
                bus.active().remove(&topic);
            }
        }
        metrics::gauge!(m::CLUSTER_TOPICS).set(self.tasks.len() as f64);
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

/// Delivers `topic`'s broadcasts from other nodes to this node's subscribers, and
/// directed messages to their member (through `direct`).
async fn forward(
    client: async_nats::Client,
    topic: Arc<str>,
    pubsub: PubSub,
    direct: DirectSink,
    bus: Arc<Bus>,
) {
    let mut subscriber = match client.subscribe(format!("{TOPIC_PREFIX}{topic}")).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            tracing::warn!(%error, %topic, "cluster: cannot subscribe to a topic");
            return;
        }
    };
    bus.active().insert(topic.clone());
    bus.activated.notify_waiters();
    while let Some(message) = subscriber.next().await {
        if let Err(why) = bus.seal.verify(
            message.subject.as_str(),
            message.headers.as_ref(),
            &message.payload,
        ) {
            count_rejected("topic", why);
            continue;
        }
        let Some(headers) = &message.headers else {
            continue;
        };
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        if header(ORIGIN).as_deref() == Some(&*bus.node) {
            continue;
        }
        let payload = match header(KIND).as_deref() {
            Some("binary") => Payload::Binary(message.payload),
            Some("json") => match std::str::from_utf8(&message.payload) {
                Ok(text) => Payload::Json(Arc::from(text)),
                Err(_) => continue,
            },
            _ => continue,
        };
        if let Some(header) = header(DIRECT) {
            let Ok(directed) = serde_json::from_str::<Directed>(&header) else {
                continue;
            };
            if directed.to == *bus.node {
                direct(&topic, directed, payload);
            }
            continue;
        }
        let Some(event) = header(EVENT) else {
            continue;
        };
        if let Some(at) = header(SENT_AT).and_then(|at| at.parse::<u64>().ok()) {
            let lag = unix_micros().saturating_sub(at);
            metrics::histogram!(m::CLUSTER_RELAY_LAG).record(lag as f64 / 1e6);
        }
        metrics::counter!(m::CLUSTER_BROADCASTS, "direction" => "in").increment(1);
        // Paced like the node's own lobby traffic: a lobby's broadcast from another
        // node does not hold a worker for all its members' sends while rooms wait.
        pubsub
            .broadcast_local_paced(&topic, vec![Broadcast::new(topic.clone(), event, payload)])
            .await;
    }
    bus.active().remove(&topic);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directed_message_reads_back_as_written() {
        let directed = Directed {
            to: "b".into(),
            socket: 42,
            join_ref: "7".into(),
            op: DirectedOp::Reply {
                msg_ref: "8".into(),
                status: "ok".into(),
            },
        };
        let text = serde_json::to_string(&directed).unwrap();
        assert_eq!(serde_json::from_str::<Directed>(&text).unwrap(), directed);
        assert!(text.contains(r#""op":"reply""#), "{text}");
    }

    #[test]
    fn only_lobby_and_room_topics_with_subject_safe_names_span_nodes() {
        assert!(spans("lobby:main"));
        assert!(spans("room:Ab_3-x"));
        assert!(!spans("replay:12"));
        assert!(!spans("admin:stats"));
        assert!(!spans("lobby:"));
        assert!(!spans("lobby:a.b"));
        assert!(!spans("room:a*"));
        assert!(!spans("room:a b"));
    }
}
