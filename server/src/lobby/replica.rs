//! What a lobby needs from the other nodes: their sessions on its topic.
//!
//! A lobby's presence is one across nodes (CONTRACT §9), but each lobby only
//! tracks its own node's sessions. It hands them to a [`PresenceReplica`] and reads the
//! other nodes' sessions from it when it starts; later changes of the other nodes reach
//! it as [`Change`]s through [`super::Lobbies::remote_presence`]. On a single node the
//! replica is [`SingleNode`]: nothing is shared and no other node has sessions. With
//! several nodes it is their presence tracker, which carries [`Tracked`] sessions and
//! [`Change`]s between nodes as they are written here.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One tracked session: a meta of `key` on `topic`, as it crosses nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    pub topic: Arc<str>,
    pub key: Arc<str>,
    pub phx_ref: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phx_ref_prev: Option<Arc<str>>,
    /// The app's fields of the meta (for a lobby: name, status, room_id) as JSON text:
    /// every node holds every other node's sessions, so this is what a remote session
    /// costs in memory (a parsed `Value` takes several times more). A string, not a raw
    /// JSON value: raw values cannot be read inside the tagged messages it travels in.
    pub meta: Box<str>,
}

/// A change to one node's set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Join(Tracked),
    Leave {
        topic: Arc<str>,
        key: Arc<str>,
        phx_ref: Arc<str>,
    },
}

impl Change {
    pub fn topic(&self) -> &Arc<str> {
        match self {
            Change::Join(tracked) => &tracked.topic,
            Change::Leave { topic, .. } => topic,
        }
    }

    /// The leave of a tracked session.
    pub fn leave_of(tracked: &Tracked) -> Change {
        Change::Leave {
            topic: tracked.topic.clone(),
            key: tracked.key.clone(),
            phx_ref: tracked.phx_ref.clone(),
        }
    }
}

/// The other nodes' sessions, as lobbies use them. Nothing here waits: an
/// implementation queues what it shares.
pub trait PresenceReplica: Send + Sync {
    /// A session tracked on this node, for the other nodes to see.
    fn track(&self, session: Tracked);
    /// A session of this node left.
    fn untrack(&self, topic: &Arc<str>, key: &Arc<str>, phx_ref: &Arc<str>);
    /// Every session of this node on `topic` is gone (its lobby restarted with none).
    fn reset(&self, topic: &str);
    /// The other nodes' sessions on `topic` now (for a lobby that starts).
    fn remote(&self, topic: &str) -> Vec<Tracked>;
}

/// A server alone: no other node, nothing to share.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleNode;

impl PresenceReplica for SingleNode {
    fn track(&self, _session: Tracked) {}

    fn untrack(&self, _topic: &Arc<str>, _key: &Arc<str>, _phx_ref: &Arc<str>) {}

    fn reset(&self, _topic: &str) {}

    fn remote(&self, _topic: &str) -> Vec<Tracked> {
        Vec::new()
    }
}
