//! The channels one socket has joined: topic → join_ref and the actor behind it.
//!
//! Client frames are matched against this table with Phoenix's join_ref rules
//! (`session.rs`) and forwarded to the actor, which answers through the socket's
//! outbox. The gauge of joined channels by `kind` is kept here, where channels come
//! and go.

use std::sync::Arc;

use crate::actor::ChannelActor;
use crate::limits::ReplaySlot;

/// One channel joined on a socket.
#[derive(Debug)]
pub struct Joined {
    pub join_ref: Arc<str>,
    pub target: Arc<dyn ChannelActor>,
    /// A replay channel's place in its user's and address's replay budgets (CONTRACT
    /// §8), released when the channel is forgotten; a duplicate join keeps it.
    pub replay_slot: Option<Arc<ReplaySlot>>,
}

/// The channels one socket has joined, by topic. A socket joins one or two channels
/// (a lobby, maybe a room; at most [`crate::config::MAX_CHANNELS_PER_SOCKET`]), so a
/// small vector searched linearly beats a hash map, and costs an idle socket less.
#[derive(Debug, Default)]
pub struct ChannelTable {
    joined: Vec<(Arc<str>, Joined)>,
}

impl ChannelTable {
    pub fn get(&self, topic: &str) -> Option<&Joined> {
        self.joined
            .iter()
            .find(|(t, _)| &**t == topic)
            .map(|(_, j)| j)
    }

    pub fn len(&self) -> usize {
        self.joined.len()
    }

    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    /// Records a join, returning the channel it replaces (a duplicate join).
    pub fn insert(&mut self, topic: Arc<str>, joined: Joined) -> Option<Joined> {
        if let Some(slot) = self.joined.iter_mut().find(|(t, _)| *t == topic) {
            return Some(std::mem::replace(&mut slot.1, joined));
        }
        metrics::gauge!(crate::metrics::CHANNELS_JOINED, "kind" => joined.target.kind().label())
            .increment(1.0);
        if self.joined.capacity() == 0 {
            self.joined.reserve_exact(1);
        }
        self.joined.push((topic, joined));
        None
    }

    /// Forgets the channel on `topic` if its join_ref is `join_ref` (or any, when None).
    pub fn remove(&mut self, topic: &str, join_ref: Option<&str>) -> Option<(Arc<str>, Joined)> {
        let index = self
            .joined
            .iter()
            .position(|(t, j)| &**t == topic && join_ref.is_none_or(|r| &*j.join_ref == r))?;
        let (topic, joined) = self.joined.swap_remove(index);
        metrics::gauge!(crate::metrics::CHANNELS_JOINED, "kind" => joined.target.kind().label())
            .decrement(1.0);
        Some((topic, joined))
    }

    /// Removes every channel (the socket is closing).
    pub fn drain(&mut self) -> Vec<(Arc<str>, Joined)> {
        let all = std::mem::take(&mut self.joined);
        for (_, joined) in &all {
            metrics::gauge!(crate::metrics::CHANNELS_JOINED, "kind" => joined.target.kind().label())
                .decrement(1.0);
        }
        all
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Joined)> {
        self.joined.iter().map(|(t, j)| (t, j))
    }
}
