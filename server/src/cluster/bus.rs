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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Outgoing, Publisher};
use crate::metrics as m;
use crate::outbound::Payload;
use crate::pubsub::{Broadcast, PubSub, Remote};

/// The subject prefix of topic broadcasts.
pub const TOPIC_PREFIX: &str = "kurve.v1.t.";

const ORIGIN: &str = "Kurve-Origin";
const EVENT: &str = "Kurve-Event";
const KIND: &str = "Kurve-Kind";

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
}

impl Bus {
    pub(super) fn new(node: Arc<str>, publisher: Publisher) -> Bus {
        Bus {
            node,
            publisher,
            dirty: Mutex::default(),
            wake: Notify::new(),
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
        let payload = match &broadcast.payload {
            Payload::Json(text) => {
                headers.insert(KIND, "json");
                bytes::Bytes::copy_from_slice(text.as_bytes())
            }
            Payload::Binary(bytes) => {
                headers.insert(KIND, "binary");
                bytes.clone()
            }
        };
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
#[derive(Default)]
pub(super) struct Subscriptions {
    tasks: HashMap<Arc<str>, JoinHandle<()>>,
}

impl Subscriptions {
    /// Brings the subscriptions in line with local interest for every changed topic.
    pub(super) fn reconcile(&mut self, bus: &Bus, client: &async_nats::Client, pubsub: &PubSub) {
        for topic in bus.take_dirty() {
            let wanted = pubsub.subscriber_count(&topic) > 0;
            let held = self.tasks.get(&topic).is_some_and(|t| !t.is_finished());
            if wanted && !held {
                let task = tokio::spawn(forward(
                    client.clone(),
                    topic.clone(),
                    pubsub.clone(),
                    bus.node.clone(),
                ));
                self.tasks.insert(topic, task);
            } else if !wanted && let Some(task) = self.tasks.remove(&topic) {
                // Dropping its subscriber unsubscribes.
                task.abort();
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

/// Delivers `topic`'s broadcasts from other nodes to this node's subscribers.
async fn forward(client: async_nats::Client, topic: Arc<str>, pubsub: PubSub, node: Arc<str>) {
    let mut subscriber = match client.subscribe(format!("{TOPIC_PREFIX}{topic}")).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            tracing::warn!(%error, %topic, "cluster: cannot subscribe to a topic");
            return;
        }
    };
    while let Some(message) = subscriber.next().await {
        let Some(headers) = &message.headers else {
            continue;
        };
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        if header(ORIGIN).as_deref() == Some(&*node) {
            continue;
        }
        let Some(event) = header(EVENT) else {
            continue;
        };
        let payload = match header(KIND).as_deref() {
            Some("binary") => Payload::Binary(message.payload),
            Some("json") => match std::str::from_utf8(&message.payload) {
                Ok(text) => Payload::Json(Arc::from(text)),
                Err(_) => continue,
            },
            _ => continue,
        };
        metrics::counter!(m::CLUSTER_BROADCASTS, "direction" => "in").increment(1);
        pubsub.deliver(&Arc::new(Broadcast::new(topic.clone(), event, payload)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
