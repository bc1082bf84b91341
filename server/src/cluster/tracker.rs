//! Presence across nodes: each node's tracked sessions, replicated to every other node.
//!
//! Learned from Phoenix.Tracker, simplified by one fact: a node is the only writer of
//! its own entries. So instead of vector clocks, each node numbers its changes: every
//! [`Delta`] it publishes carries the next sequence number of its incarnation, and
//! every heartbeat carries the last one. A receiver applies a delta that follows the
//! last one it applied; a gap (a delta lost while NATS was away, a node first heard of
//! mid-life) makes it ask that node for its whole set ([`TransferChunk`]s) and buffer
//! the deltas that arrive meanwhile. A node that goes down has its entries removed; a
//! new incarnation of a node replaces the old one's.
//!
//! Each node's actors (the lobbies) report their local sessions here (the tracker is
//! their [`PresenceReplica`]) and receive the other nodes' changes, one topic at a
//! time, as [`Heard::Presence`] queued for the cluster task to deliver; each computes
//! the `presence_diff` it pushes to its own sockets. Nothing here awaits, and nothing
//! is queued while the lock is held.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use super::Heard;
use crate::lobby::replica::{Change, PresenceReplica, Tracked};

/// A node's changes numbered `seq` within its `incarnation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub node: String,
    pub incarnation: i64,
    pub seq: u64,
    pub changes: Vec<Change>,
}

/// Part of a node's whole set, in `phx_ref` order, as of its change `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferChunk {
    pub incarnation: i64,
    pub seq: u64,
    pub entries: Vec<Tracked>,
    /// The last ref in this chunk when more follow.
    pub next_after: Option<Arc<str>>,
}

/// At most this many changes per delta, and entries per transfer chunk: each stays far
/// below NATS's 1 MiB payload limit (a change is ~150 bytes).
pub const MAX_CHANGES_PER_MESSAGE: usize = 2000;

/// What a receiver must do after a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followup {
    None,
    /// Ask `node` for its whole set.
    Transfer {
        node: String,
    },
}

#[derive(Default)]
struct Replica {
    incarnation: i64,
    /// The last change applied.
    seq: u64,
    entries: HashMap<Arc<str>, Tracked>,
    /// Deltas received while a transfer is under way.
    syncing: Option<Vec<Delta>>,
}

#[derive(Default)]
struct State {
    local: BTreeMap<Arc<str>, Tracked>,
    pending: Vec<Change>,
    seq: u64,
    replicas: HashMap<String, Replica>,
}

/// This node's side of the replicated presence. Cheap to share (`Arc`).
pub struct Tracker {
    node: String,
    incarnation: i64,
    state: Mutex<State>,
    /// Where the other nodes' changes go.
    heard: UnboundedSender<Heard>,
}

impl Tracker {
    /// The tracker of node `node`, handing the other nodes' changes to `heard`.
    pub(super) fn new(node: &str, incarnation: i64, heard: UnboundedSender<Heard>) -> Tracker {
        Tracker {
            node: node.to_owned(),
            incarnation,
            state: Mutex::default(),
            heard,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // ---- this node's sessions ----

    /// A session tracked on this node.
    pub fn local_join(&self, tracked: Tracked) {
        let mut state = self.state();
        state.local.insert(tracked.phx_ref.clone(), tracked.clone());
        state.pending.push(Change::Join(tracked));
    }

    /// A session of this node that left.
    pub fn local_leave(&self, topic: &Arc<str>, key: &Arc<str>, phx_ref: &Arc<str>) {
        let mut state = self.state();
        if state.local.remove(phx_ref).is_some() {
            state.pending.push(Change::Leave {
                topic: topic.clone(),
                key: key.clone(),
                phx_ref: phx_ref.clone(),
            });
        }
    }

    /// Forgets every local session of `topic` (its actor restarted with none).
    pub fn local_reset(&self, topic: &str) {
        let mut state = self.state();
        let gone: Vec<Tracked> = state
            .local
            .values()
            .filter(|t| &*t.topic == topic)
            .cloned()
            .collect();
        for tracked in gone {
            state.local.remove(&tracked.phx_ref);
            state.pending.push(Change::leave_of(&tracked));
        }
    }

    /// The changes made since the last call, numbered, in messages of at most
    /// [`MAX_CHANGES_PER_MESSAGE`]. Numbers are used even when a delta is then lost.
    pub fn take_deltas(&self) -> Vec<Delta> {
        let mut state = self.state();
        let pending = std::mem::take(&mut state.pending);
        let mut deltas = Vec::new();
        for chunk in pending.chunks(MAX_CHANGES_PER_MESSAGE) {
            state.seq += 1;
            deltas.push(Delta {
                node: self.node.clone(),
                incarnation: self.incarnation,
                seq: state.seq,
                changes: chunk.to_vec(),
            });
        }
        deltas
    }

    /// The number of this node's last delta (heartbeats carry it).
    pub fn seq(&self) -> u64 {
        self.state().seq
    }

    /// A chunk of this node's set: entries after `after`, in ref order.
    pub fn transfer_chunk(&self, after: Option<&str>) -> TransferChunk {
        use std::ops::Bound;
        let state = self.state();
        let start = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let mut entries: Vec<Tracked> = state
            .local
            .range::<str, _>((start, Bound::Unbounded))
            .take(MAX_CHANGES_PER_MESSAGE + 1)
            .map(|(_, t)| t.clone())
            .collect();
        let more = entries.len() > MAX_CHANGES_PER_MESSAGE;
        entries.truncate(MAX_CHANGES_PER_MESSAGE);
        TransferChunk {
            incarnation: self.incarnation,
            // Pending changes are not numbered yet: this chunk is as of the last delta
            // plus whatever is pending, and the pending delta's join/leave are idempotent.
            seq: state.seq,
            next_after: more
                .then(|| entries.last().map(|t| t.phx_ref.clone()))
                .flatten(),
            entries,
        }
    }

    // ---- the other nodes ----

    /// The other nodes' sessions on `topic` (for an actor that starts).
    pub fn remote_entries(&self, topic: &str) -> Vec<Tracked> {
        self.state()
            .replicas
            .values()
            .flat_map(|r| r.entries.values())
            .filter(|t| &*t.topic == topic)
            .cloned()
            .collect()
    }

    /// How many sessions of other nodes this node knows.
    pub fn remote_count(&self) -> usize {
        self.state()
            .replicas
            .values()
            .map(|r| r.entries.len())
            .sum()
    }

    /// The nodes this node holds entries (or a sequence) for.
    pub fn replica_nodes(&self) -> Vec<String> {
        self.state().replicas.keys().cloned().collect()
    }

    /// A delta from another node.
    pub fn on_delta(&self, delta: Delta) -> Followup {
        if delta.node == self.node {
            return Followup::None;
        }
        let mut out = Vec::new();
        let followup = {
            let mut state = self.state();
            let replica =
                replace_old_incarnation(&mut state, &delta.node, delta.incarnation, &mut out);
            if let Some(buffer) = &mut replica.syncing {
                buffer.push(delta);
                Followup::None
            } else if delta.seq <= replica.seq {
                Followup::None
            } else if delta.seq == replica.seq + 1 {
                replica.seq = delta.seq;
                apply(replica, delta.changes, &mut out);
                Followup::None
            } else {
                tracing::debug!(node = %delta.node, have = replica.seq, got = delta.seq, "cluster: a gap in a node's presence deltas");
                replica.syncing = Some(vec![delta.clone()]);
                Followup::Transfer { node: delta.node }
            }
        };
        self.emit(out);
        followup
    }

    /// A heartbeat from another node saying its last delta is `seq`.
    pub fn on_beat(&self, node: &str, incarnation: i64, seq: u64) -> Followup {
        if node == self.node {
            return Followup::None;
        }
        let mut out = Vec::new();
        let followup = {
            let mut state = self.state();
            let replica = replace_old_incarnation(&mut state, node, incarnation, &mut out);
            if replica.syncing.is_none() && seq > replica.seq {
                tracing::debug!(%node, have = replica.seq, beat = seq, "cluster: a heartbeat ahead of a node's presence deltas");
                replica.syncing = Some(Vec::new());
                Followup::Transfer {
                    node: node.to_owned(),
                }
            } else {
                Followup::None
            }
        };
        self.emit(out);
        followup
    }

    /// The whole set of `node` (chunks joined), received after a transfer request:
    /// replaces what this node held for it, then applies the deltas buffered meanwhile.
    pub fn finish_transfer(&self, node: &str, incarnation: i64, seq: u64, entries: Vec<Tracked>) {
        let mut out = Vec::new();
        {
            let mut state = self.state();
            let replica = replace_old_incarnation(&mut state, node, incarnation, &mut out);
            let buffered = replica.syncing.take().unwrap_or_default();
            let mut fresh: HashMap<Arc<str>, Tracked> = entries
                .into_iter()
                .map(|t| (t.phx_ref.clone(), t))
                .collect();
            for (phx_ref, old) in &replica.entries {
                if !fresh.contains_key(phx_ref) {
                    out.push(Change::leave_of(old));
                }
            }
            for (phx_ref, new) in &fresh {
                if !replica.entries.contains_key(phx_ref) {
                    out.push(Change::Join(new.clone()));
                }
            }
            std::mem::swap(&mut replica.entries, &mut fresh);
            replica.seq = seq;
            for delta in buffered {
                if delta.incarnation == replica.incarnation && delta.seq > replica.seq {
                    replica.seq = delta.seq;
                    apply(replica, delta.changes, &mut out);
                }
            }
        }
        self.emit(out);
    }

    /// A transfer from `node` failed: the next heartbeat asks again.
    pub fn abort_transfer(&self, node: &str) {
        if let Some(replica) = self.state().replicas.get_mut(node) {
            replica.syncing = None;
        }
    }

    /// `node` is down (silent, gone or said goodbye): its sessions leave.
    pub fn node_down(&self, node: &str) {
        let out: Vec<Change> = match self.state().replicas.remove(node) {
            Some(replica) => replica.entries.values().map(Change::leave_of).collect(),
            None => return,
        };
        self.emit(out);
    }

    /// Hands changes on, one topic at a time, in order.
    fn emit(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let mut by_topic: BTreeMap<Arc<str>, Vec<Change>> = BTreeMap::new();
        for change in changes {
            by_topic
                .entry(change.topic().clone())
                .or_default()
                .push(change);
        }
        for (topic, changes) in by_topic {
            // Fails only once the cluster task has stopped: nobody is left to tell.
            let _ = self.heard.send(Heard::Presence(topic, changes));
        }
    }
}

impl PresenceReplica for Tracker {
    fn track(&self, session: Tracked) {
        self.local_join(session);
    }

    fn untrack(&self, topic: &Arc<str>, key: &Arc<str>, phx_ref: &Arc<str>) {
        self.local_leave(topic, key, phx_ref);
    }

    fn reset(&self, topic: &str) {
        self.local_reset(topic);
    }

    fn remote(&self, topic: &str) -> Vec<Tracked> {
        self.remote_entries(topic)
    }
}

/// The replica of `node`, replaced by an empty one (its entries leaving) when
/// `incarnation` is newer than the one held; created if unknown.
fn replace_old_incarnation<'a>(
    state: &'a mut State,
    node: &str,
    incarnation: i64,
    out: &mut Vec<Change>,
) -> &'a mut Replica {
    let replica = state
        .replicas
        .entry(node.to_owned())
        .or_insert_with(|| Replica {
            incarnation,
            ..Replica::default()
        });
    if replica.incarnation < incarnation {
        out.extend(replica.entries.values().map(Change::leave_of));
        *replica = Replica {
            incarnation,
            ..Replica::default()
        };
    }
    replica
}

fn apply(replica: &mut Replica, changes: Vec<Change>, out: &mut Vec<Change>) {
    for change in changes {
        match &change {
            Change::Join(tracked) => {
                if replica
                    .entries
                    .insert(tracked.phx_ref.clone(), tracked.clone())
                    .is_some()
                {
                    continue;
                }
            }
            Change::Leave { phx_ref, .. } => {
                if replica.entries.remove(phx_ref).is_none() {
                    continue;
                }
            }
        }
        out.push(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(topic: &str, key: &str, phx_ref: &str) -> Tracked {
        Tracked {
            topic: topic.into(),
            key: key.into(),
            phx_ref: phx_ref.into(),
            phx_ref_prev: None,
            meta: serde_json::json!({"name": key}).to_string().into(),
        }
    }

    /// A tracker that hands nothing on (its changes are not looked at).
    fn tracker(node: &str, incarnation: i64) -> Tracker {
        Tracker::new(node, incarnation, tokio::sync::mpsc::unbounded_channel().0)
    }

    /// What a tracker handed on so far.
    struct Seen(tokio::sync::mpsc::UnboundedReceiver<Heard>, Vec<Change>);

    impl Seen {
        fn changes(&mut self) -> &Vec<Change> {
            while let Ok(heard) = self.0.try_recv() {
                if let Heard::Presence(_, changes) = heard {
                    self.1.extend(changes);
                }
            }
            &self.1
        }
    }

    /// A tracker whose changes are recorded.
    fn receiver(node: &str) -> (Tracker, Seen) {
        let (heard, rx) = tokio::sync::mpsc::unbounded_channel();
        (Tracker::new(node, 1, heard), Seen(rx, Vec::new()))
    }

    fn joined_refs(changes: &[Change]) -> Vec<String> {
        let mut refs: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Join(t) => Some(t.phx_ref.to_string()),
                Change::Leave { .. } => None,
            })
            .collect();
        refs.sort();
        refs
    }

    #[test]
    fn deltas_in_order_are_applied_and_a_gap_asks_for_a_transfer() {
        let sender = tracker("a", 7);
        let (receiver, mut seen) = receiver("b");
        sender.local_join(tracked("lobby:main", "u1", "r1"));
        let first = sender.take_deltas();
        assert_eq!(first.len(), 1);
        assert_eq!(receiver.on_delta(first[0].clone()), Followup::None);
        assert_eq!(joined_refs(seen.changes()), ["r1"]);
        assert_eq!(receiver.remote_entries("lobby:main").len(), 1);

        // Delta 2 is lost; delta 3 reveals the gap.
        sender.local_join(tracked("lobby:main", "u2", "r2"));
        let _lost = sender.take_deltas();
        sender.local_leave(&"lobby:main".into(), &"u1".into(), &"r1".into());
        sender.local_join(tracked("lobby:main", "u3", "r3"));
        let third = sender.take_deltas();
        assert_eq!(
            receiver.on_delta(third[0].clone()),
            Followup::Transfer { node: "a".into() }
        );
        let chunk = sender.transfer_chunk(None);
        assert_eq!(chunk.next_after, None);
        receiver.finish_transfer("a", chunk.incarnation, chunk.seq, chunk.entries);
        let mut now: Vec<String> = receiver
            .remote_entries("lobby:main")
            .iter()
            .map(|t| t.phx_ref.to_string())
            .collect();
        now.sort();
        assert_eq!(
            now,
            ["r2", "r3"],
            "the transfer and buffered delta converge"
        );
        assert!(
            seen.changes().contains(&Change::Leave {
                topic: "lobby:main".into(),
                key: "u1".into(),
                phx_ref: "r1".into()
            }),
            "the session that left during the gap leaves"
        );
    }

    #[test]
    fn deltas_and_chunks_read_back_as_written() {
        let tracker = tracker("a", 3);
        tracker.local_join(tracked("lobby:main", "u1", "r1"));
        tracker.local_leave(&"lobby:main".into(), &"u1".into(), &"r1".into());
        tracker.local_join(tracked("lobby:main", "u2", "r2"));
        let delta = tracker.take_deltas().remove(0);
        // Inside the tagged message it travels in, as the cluster sends it.
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Wrapped {
            Delta(Delta),
        }
        let text = serde_json::to_string(&Wrapped::Delta(delta.clone())).unwrap();
        assert_eq!(
            serde_json::from_str::<Wrapped>(&text).unwrap(),
            Wrapped::Delta(delta)
        );
        let chunk = tracker.transfer_chunk(None);
        let text = serde_json::to_string(&chunk).unwrap();
        assert_eq!(serde_json::from_str::<TransferChunk>(&text).unwrap(), chunk);
    }

    #[test]
    fn a_heartbeat_ahead_of_the_deltas_asks_for_a_transfer_once() {
        let (receiver, _) = receiver("b");
        assert_eq!(
            receiver.on_beat("a", 1, 0),
            Followup::None,
            "nothing to fetch"
        );
        assert_eq!(
            receiver.on_beat("a", 1, 4),
            Followup::Transfer { node: "a".into() }
        );
        assert_eq!(
            receiver.on_beat("a", 1, 5),
            Followup::None,
            "already under way"
        );
        receiver.abort_transfer("a");
        assert_eq!(
            receiver.on_beat("a", 1, 5),
            Followup::Transfer { node: "a".into() },
            "a failed transfer is asked again"
        );
    }

    #[test]
    fn a_node_down_or_restarted_takes_its_sessions_away() {
        let sender = tracker("a", 1);
        let (receiver, mut seen) = receiver("b");
        sender.local_join(tracked("lobby:main", "u1", "r1"));
        receiver.on_delta(sender.take_deltas().remove(0));
        // A new incarnation of "a" starts over: the old session leaves.
        let restarted = tracker("a", 2);
        restarted.local_join(tracked("lobby:main", "u1", "r9"));
        receiver.on_delta(restarted.take_deltas().remove(0));
        let refs: Vec<String> = receiver
            .remote_entries("lobby:main")
            .iter()
            .map(|t| t.phx_ref.to_string())
            .collect();
        assert_eq!(refs, ["r9"]);
        receiver.node_down("a");
        assert!(receiver.remote_entries("lobby:main").is_empty());
        let leaves = seen
            .changes()
            .iter()
            .filter(|c| matches!(c, Change::Leave { .. }))
            .count();
        assert_eq!(leaves, 2, "r1 on restart, r9 on down");
    }

    #[test]
    fn transfers_come_in_chunks_that_cover_everything() {
        let sender = tracker("a", 1);
        let total = MAX_CHANGES_PER_MESSAGE * 2 + 10;
        for i in 0..total {
            sender.local_join(tracked("lobby:main", &format!("u{i}"), &format!("r{i:06}")));
        }
        let deltas = sender.take_deltas();
        assert_eq!(deltas.len(), 3, "changes are split into messages");
        assert_eq!(deltas.last().map(|d| d.seq), Some(3));
        let mut all = Vec::new();
        let mut after: Option<Arc<str>> = None;
        loop {
            let chunk = sender.transfer_chunk(after.as_deref());
            all.extend(chunk.entries);
            match chunk.next_after {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(all.len(), total);
        let bytes = serde_json::to_vec(&sender.transfer_chunk(None)).unwrap();
        assert!(bytes.len() < 900 * 1024, "a chunk is {} bytes", bytes.len());
    }

    #[test]
    fn local_reset_leaves_only_that_topic() {
        let tracker = tracker("a", 1);
        tracker.local_join(tracked("lobby:main", "u1", "r1"));
        tracker.local_join(tracked("lobby:other", "u1", "r2"));
        tracker.take_deltas();
        tracker.local_reset("lobby:main");
        let deltas = tracker.take_deltas();
        assert_eq!(deltas[0].changes.len(), 1);
        assert_eq!(tracker.transfer_chunk(None).entries.len(), 1);
    }
}
