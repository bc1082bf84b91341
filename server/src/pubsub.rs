//! Topic → subscribers, where a broadcast is encoded once and shared.
//!
//! A [`Broadcast`] is put in an `Arc` and handed to every subscriber's [`Outbox`]. The
//! first socket that needs it in V2 (or V1) encodes its wire bytes; everyone else
//! writes the same bytes — straight into its stream when nothing is queued before them.
//! So a tick to a room of eight players and a hundred spectators is encoded once, not
//! 108 times.
//!
//! The subscriber lists live here, outside the actors that own the topics, so that when
//! a room or lobby panics its subscribers can still be told (`phx_error`).
//!
//! In a cluster a [`Remote`] (the cluster's bus) is told when a topic gains its first
//! or loses its last local subscriber, and gets every [`PubSub::broadcast`] to carry to
//! the other nodes. [`PubSub::broadcast_local`] stays on this node: what each node
//! computes for its own sockets (presence diffs, lobby listings) goes through it.
//!
//! Invariant: no lock here is held across an await, nor while delivering: a broadcast
//! copies its subscriber list and writes to the sockets after the lock is released.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

pub use crate::outbound::Broadcast;
use crate::outbound::{Outbound, Outbox, SocketId};

/// Number of independently locked shards of the topic table. Topics hash to a shard,
/// so broadcasts to different rooms rarely contend.
const SHARDS: usize = 16;

/// Subscribers written to between two yields of a paced fan-out
/// ([`PubSub::broadcast_local_paced`]): 16 sends are ≈ 0.2 ms of a worker.
pub const PACE_CHUNK: usize = 16;

/// Where broadcasts go beyond this node. Implementations never block: they queue.
pub trait Remote: Send + Sync {
    /// `topic` gained its first or lost its last local subscriber.
    fn interest_changed(&self, topic: &Arc<str>);
    /// Carries a broadcast made on this node to the other nodes.
    fn publish(&self, broadcast: &Arc<Broadcast>);
}

#[derive(Default)]
struct Shard {
    topics: HashMap<Arc<str>, HashMap<SocketId, Outbox>>,
}

/// The topic table. Cheap to clone.
#[derive(Clone)]
pub struct PubSub {
    shards: Arc<[Mutex<Shard>]>,
    hasher: RandomState,
    /// The other nodes (only in a cluster).
    remote: Option<Arc<dyn Remote>>,
}

impl Default for PubSub {
    fn default() -> Self {
        Self::new()
    }
}

impl PubSub {
    /// The topic table of a server alone.
    pub fn new() -> Self {
        PubSub {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            remote: None,
        }
    }

    /// The topic table of a node of a cluster: broadcasts also go to `remote`.
    pub fn with_remote(remote: Arc<dyn Remote>) -> Self {
        PubSub {
            remote: Some(remote),
            ..PubSub::new()
        }
    }

    fn interest_changed(&self, topic: &Arc<str>) {
        if let Some(remote) = &self.remote {
            remote.interest_changed(topic);
        }
    }

    fn shard(&self, topic: &str) -> std::sync::MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(topic) as usize) % self.shards.len();
        // A panic while holding this lock cannot leave a half-updated map (every
        // operation is a single insert/remove), so a poisoned lock is still usable.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds (or replaces) `socket`'s subscription to `topic`.
    pub fn subscribe(&self, topic: &Arc<str>, socket: SocketId, outbox: Outbox) {
        let first = {
            let mut shard = self.shard(topic);
            let subscribers = shard.topics.entry(topic.clone()).or_default();
            subscribers.insert(socket, outbox);
            subscribers.len() == 1
        };
        if first {
            self.interest_changed(topic);
        }
    }

    /// Removes `socket`'s subscription; returns whether it was subscribed.
    pub fn unsubscribe(&self, topic: &str, socket: SocketId) -> bool {
        let mut shard = self.shard(topic);
        let Some(subscribers) = shard.topics.get_mut(topic) else {
            return false;
        };
        let removed = subscribers.remove(&socket).is_some();
        let Some((topic, _)) = subscribers
            .is_empty()
            .then(|| shard.topics.remove_entry(topic))
            .flatten()
        else {
            return removed;
        };
        drop(shard);
        self.interest_changed(&topic);
        removed
    }

    /// Queues `broadcast` for every subscriber on this node and, in a cluster, carries
    /// it to the others; returns how many local subscribers accepted it. Subscribers
    /// whose queue is full are disconnected by their own connection task.
    pub fn broadcast(&self, broadcast: Broadcast) -> usize {
        let broadcast = Arc::new(broadcast);
        if let Some(remote) = &self.remote {
            remote.publish(&broadcast);
        }
        self.deliver(&broadcast)
    }

    /// Queues `broadcast` for this node's subscribers only.
    pub fn broadcast_local(&self, broadcast: Broadcast) -> usize {
        self.deliver(&Arc::new(broadcast))
    }

    /// Queues `broadcast` for this node's subscribers.
    fn deliver(&self, broadcast: &Arc<Broadcast>) -> usize {
        self.subscribers(&broadcast.topic)
            .iter()
            .filter(|outbox| outbox.broadcast(broadcast))
            .count()
    }

    /// [`PubSub::broadcast_local`] for a big topic that is not in a hurry (a lobby's
    /// presence diffs and listing changes): `broadcasts`, all on `topic`, go to the
    /// subscribers of the moment [`PACE_CHUNK`] sockets at a time, and the task yields
    /// between chunks, so a lobby of 200 does not hold a worker for 200 sends (≈ 2.5 ms)
    /// while room ticks wait behind it. Each subscriber still gets the broadcasts in order, and all
    /// of them before anything the caller sends after the await. Returns the sockets
    /// that took at least one.
    pub async fn broadcast_local_paced(&self, topic: &str, broadcasts: Vec<Broadcast>) -> usize {
        if broadcasts.is_empty() {
            return 0;
        }
        let broadcasts: Vec<Arc<Broadcast>> = broadcasts.into_iter().map(Arc::new).collect();
        let subscribers = self.subscribers(topic);
        let mut reached = 0;
        for (i, chunk) in subscribers.chunks(PACE_CHUNK).enumerate() {
            if i > 0 {
                tokio::task::yield_now().await;
            }
            for outbox in chunk {
                let mut taken = false;
                for broadcast in &broadcasts {
                    taken |= outbox.broadcast(broadcast);
                }
                reached += usize::from(taken);
            }
        }
        reached
    }

    /// The subscribers of `topic` now (a copy: no lock is held while writing to them).
    fn subscribers(&self, topic: &str) -> Vec<Outbox> {
        let shard = self.shard(topic);
        shard
            .topics
            .get(topic)
            .map(|subscribers| subscribers.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Removes every subscriber of `topic` and returns them (used when the topic's
    /// owner crashed, to send each of them `phx_error`).
    pub fn take_subscribers(&self, topic: &str) -> Vec<(SocketId, Outbox)> {
        let taken = self.shard(topic).topics.remove_entry(topic);
        let Some((topic, subscribers)) = taken else {
            return Vec::new();
        };
        self.interest_changed(&topic);
        subscribers.into_iter().collect()
    }

    /// Number of subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.shard(topic).topics.get(topic).map_or(0, HashMap::len)
    }

    /// Tells every subscriber of `topic` that its owner crashed and forgets them.
    pub fn crash_topic(&self, topic: &str) -> usize {
        let topic: Arc<str> = Arc::from(topic);
        let subscribers = self.take_subscribers(&topic);
        for (_, outbox) in &subscribers {
            outbox.send(Outbound::ChannelCrashed {
                topic: topic.clone(),
            });
        }
        subscribers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::{Payload, outbox};

    #[test]
    fn a_broadcast_is_shared_by_every_subscriber() {
        let pubsub = PubSub::new();
        let topic: Arc<str> = Arc::from("room:1");
        let mut inboxes = Vec::new();
        for id in 0..3 {
            let (tx, rx) = outbox(4);
            pubsub.subscribe(&topic, id, tx);
            inboxes.push(rx);
        }
        let delivered = pubsub.broadcast(Broadcast::new(
            topic.clone(),
            "tick",
            Payload::Binary(bytes::Bytes::from_static(b"\x01\x02")),
        ));
        assert_eq!(delivered, 3, "every subscriber should get the broadcast");
        let mut seen: Vec<Arc<Broadcast>> = Vec::new();
        for inbox in &mut inboxes {
            match inbox.try_recv() {
                Some(Outbound::Broadcast(b)) => seen.push(b),
                other => panic!("expected a broadcast, got {other:?}"),
            }
        }
        assert!(
            seen.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])),
            "all subscribers should share one broadcast allocation"
        );
    }

    #[test]
    fn a_paced_fan_out_lets_other_tasks_run_and_keeps_each_socket_in_order() {
        let pubsub = PubSub::new();
        let topic: Arc<str> = Arc::from("lobby:big");
        let n = 3 * PACE_CHUNK + 1;
        let inboxes: Vec<_> = (0..n)
            .map(|id| {
                let (tx, rx) = outbox(8);
                pubsub.subscribe(&topic, id as SocketId, tx);
                rx
            })
            .collect();
        let inboxes = Arc::new(inboxes);
        let event = |name: &'static str| Broadcast::new(topic.clone(), name, Payload::empty());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (reached, midway) = runtime.block_on(async {
            // Runs at the fan-out's first yield, on the same thread: takes what each
            // socket has by then.
            let watcher = tokio::spawn({
                let inboxes = inboxes.clone();
                async move { inboxes.iter().map(|i| i.try_recv()).collect::<Vec<_>>() }
            });
            let reached = pubsub
                .broadcast_local_paced(&topic, vec![event("a"), event("b"), event("c")])
                .await;
            (reached, watcher.await.unwrap())
        });
        assert_eq!(reached, n);
        let name = |item: Outbound| match item {
            Outbound::Broadcast(b) => b.event.to_string(),
            other => panic!("expected a broadcast, got {other:?}"),
        };
        let early = midway.iter().filter(|taken| taken.is_some()).count();
        assert_eq!(
            early, PACE_CHUNK,
            "only the first chunk was written before the yield"
        );
        for (inbox, taken) in inboxes.iter().zip(midway) {
            let mut got: Vec<String> = taken.into_iter().map(name).collect();
            got.extend(std::iter::from_fn(|| inbox.try_recv()).map(name));
            assert_eq!(got, ["a", "b", "c"], "every socket gets all, in order");
        }
    }

    #[test]
    fn a_subscriber_that_fell_behind_is_not_waited_on() {
        let pubsub = PubSub::new();
        let topic: Arc<str> = Arc::from("room:9");
        let (tx, rx) = outbox(1);
        pubsub.subscribe(&topic, 7, tx);
        let tick = || Broadcast::new(topic.clone(), "tick", Payload::Binary(vec![1].into()));
        assert_eq!(pubsub.broadcast(tick()), 1);
        assert_eq!(
            pubsub.broadcast(tick()),
            1,
            "a full queue skips the tick for a resync instead of blocking"
        );
        assert!(rx.try_recv().is_none(), "the queued tick was given up too");
        assert!(!rx.idle(), "a resync is owed once drained");
        assert!(matches!(rx.try_recv(), Some(Outbound::Resync { .. })));
    }

    #[test]
    fn crash_topic_tells_and_forgets_subscribers() {
        let pubsub = PubSub::new();
        let topic: Arc<str> = Arc::from("room:9");
        let (tx, rx) = outbox(4);
        pubsub.subscribe(&topic, 1, tx);
        assert_eq!(pubsub.crash_topic(&topic), 1);
        assert!(
            matches!(rx.try_recv(), Some(Outbound::ChannelCrashed { .. })),
            "subscriber should be told of the crash"
        );
        assert_eq!(pubsub.subscriber_count(&topic), 0, "subscribers forgotten");
    }

    #[test]
    fn unsubscribe_removes_empty_topics() {
        let pubsub = PubSub::new();
        let topic: Arc<str> = Arc::from("lobby:x");
        let (tx, _rx) = outbox(4);
        pubsub.subscribe(&topic, 1, tx);
        assert!(pubsub.unsubscribe(&topic, 1));
        assert!(
            !pubsub.unsubscribe(&topic, 1),
            "second unsubscribe is a no-op"
        );
        assert_eq!(pubsub.subscriber_count(&topic), 0);
    }
}
