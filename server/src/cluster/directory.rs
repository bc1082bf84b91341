//! The room directory shared by the cluster: JetStream key-value bucket `kurve_rooms`,
//! one key per room (`room.<id>`) holding its [`RoomSummary`] and its owner node.
//!
//! A node writes its own rooms' entries (the latest summary, coalesced: a burst of
//! changes to one room is one write) and watches the bucket with history for everyone
//! else's. Lobbies list, `/api/rooms` returns and `quick_join` considers the rooms of
//! every live node; a room whose owner is down is hidden. After an outage a node puts
//! all its entries again (they may have been written by nobody meanwhile).
//!
//! Nothing here awaits on a caller's path: writes are queued and done by the
//! directory's task. What this node's rooms must hear of (a room of another node
//! changed, a room of this node adopted elsewhere) is queued as [`Heard`] for the
//! cluster task to deliver.
//!
//! Every value in both buckets is sealed with the cluster's key ([`Seal::seal_value`],
//! bound to its bucket and key) and opened before it is read: an entry written by
//! anyone else (a room "FREE GOLD", an owner that never existed, a forged saved state)
//! is neither listed nor adopted, only counted.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use kurve_shared::lobby::RoomSummary;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::seal::Seal;
use super::{Heard, count_rejected};

/// The bucket's name.
pub const BUCKET: &str = "kurve_rooms";

/// The bucket of the rooms' saved states (what the supervisor resumes a room from),
/// from which another node adopts a room whose node died.
pub const STATE_BUCKET: &str = "kurve_room_state";

/// A saved state larger than this is not stored (NATS's payload limit is 1 MiB).
pub const MAX_STATE_BYTES: usize = 900 * 1024;

/// One room as the directory holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    pub summary: RoomSummary,
    /// The node the room runs on.
    pub owner: String,
    /// The user who created the room, for the per-user budget across nodes (absent for
    /// rooms nobody created, and in entries of nodes that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
}

/// Why a room could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("the directory is not open yet")]
    NotReady,
    #[error("the room is not in the directory, or its owner is back")]
    Gone,
    #[error("another node claimed it first")]
    Lost,
    #[error("the room has no saved state")]
    NoState,
    #[error("nats: {0}")]
    Nats(String),
}

type Stores = (
    async_nats::jetstream::kv::Store,
    async_nats::jetstream::kv::Store,
);

/// This node's copy of the shared directory.
pub struct Directory {
    node: String,
    /// Rooms of other nodes, by id.
    remote: Mutex<HashMap<String, DirectoryEntry>>,
    /// This node's rooms, by id (what it wrote last).
    local: Mutex<HashMap<String, DirectoryEntry>>,
    /// This node's rooms whose entry must be written (None: deleted).
    dirty: Mutex<HashMap<String, Option<DirectoryEntry>>>,
    wake: Notify,
    /// Where rooms of other nodes that appeared, changed or went away go (their
    /// summary as last known, for their lobby's listing), and rooms of this node that
    /// another node now owns (it adopted them while this node was cut off: this
    /// node's copy must stop).
    heard: UnboundedSender<Heard>,
    /// Remote rooms hidden because their owner is down, as of the last sweep.
    hidden: Mutex<HashSet<String>>,
    /// This node's rooms' saved states to write (None: delete).
    state_dirty: Mutex<HashMap<String, Option<Vec<u8>>>>,
    /// The directory and state buckets, once open.
    stores: OnceLock<Stores>,
    /// Seals what this node writes and opens what it reads.
    seal: Arc<Seal>,
}

fn key(id: &str) -> String {
    format!("room.{id}")
}

impl Directory {
    pub(super) fn new(node: &str, seal: Arc<Seal>, heard: UnboundedSender<Heard>) -> Directory {
        Directory {
            node: node.to_owned(),
            remote: Mutex::default(),
            local: Mutex::default(),
            dirty: Mutex::default(),
            wake: Notify::new(),
            heard,
            hidden: Mutex::default(),
            state_dirty: Mutex::default(),
            stores: OnceLock::new(),
            seal,
        }
    }

    /// The value stored under `key` of `bucket`, if this cluster sealed it.
    fn open<'a>(&self, bucket: &str, key: &str, sealed: &'a [u8]) -> Option<&'a [u8]> {
        match self.seal.open_value(bucket, key, sealed) {
            Ok(value) => Some(value),
            Err(why) => {
                count_rejected(
                    if bucket == BUCKET {
                        "directory"
                    } else {
                        "state"
                    },
                    why,
                );
                None
            }
        }
    }

    /// Stores the saved state of a room of this node (coalesced: only the latest of a
    /// burst is written). Too large a state is not stored, and logged.
    pub fn put_state(&self, id: &str, state: Vec<u8>) {
        if state.len() > MAX_STATE_BYTES {
            tracing::warn!(
                room = id,
                bytes = state.len(),
                "cluster: a room's saved state is too large to share"
            );
            return;
        }
        Self::lock(&self.state_dirty).insert(id.to_owned(), Some(state));
        self.wake.notify_one();
    }

    /// Rooms of other nodes whose owner is down: candidates for adoption.
    pub fn orphans(&self, live: &dyn Fn(&str) -> bool) -> Vec<DirectoryEntry> {
        Self::lock(&self.remote)
            .values()
            .filter(|e| !live(&e.owner))
            .cloned()
            .collect()
    }

    /// Takes room `id` over from its dead owner: its directory entry names this node
    /// (compare-and-swap on the entry's revision, so only one node ever wins), and its
    /// saved state is returned for the room to be started from.
    pub async fn claim(
        &self,
        id: &str,
        owner_is_dead: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<Vec<u8>, ClaimError> {
        let (rooms, states) = self.stores.get().ok_or(ClaimError::NotReady)?;
        let nats = |e: &dyn std::fmt::Display| ClaimError::Nats(e.to_string());
        let entry = rooms
            .entry(key(id))
            .await
            .map_err(|e| nats(&e))?
            .filter(|e| matches!(e.operation, async_nats::jetstream::kv::Operation::Put))
            .ok_or(ClaimError::Gone)?;
        let value = self
            .open(BUCKET, &key(id), &entry.value)
            .ok_or(ClaimError::Gone)?;
        let mut current: DirectoryEntry =
            serde_json::from_slice(value).map_err(|_| ClaimError::Gone)?;
        if current.owner == self.node || !owner_is_dead(&current.owner) {
            return Err(ClaimError::Gone);
        }
        let sealed_state = states
            .get(key(id))
            .await
            .map_err(|e| nats(&e))?
            .ok_or(ClaimError::NoState)?;
        let state = self
            .open(STATE_BUCKET, &key(id), &sealed_state)
            .ok_or(ClaimError::NoState)?;
        current.owner = self.node.clone();
        current.summary.node = Some(self.node.clone());
        let bytes = serde_json::to_vec(&current).map_err(|e| nats(&e))?;
        let bytes = self.seal.seal_value(BUCKET, &key(id), &bytes);
        rooms
            .update(key(id), bytes.into(), entry.revision)
            .await
            .map_err(|_| ClaimError::Lost)?;
        Self::lock(&self.local).insert(id.to_owned(), current);
        Ok(state.to_vec())
    }

    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A room of this node, created by `creator`, was created or changed.
    pub fn put(&self, summary: &RoomSummary, creator: Option<&str>) {
        let entry = DirectoryEntry {
            summary: summary.clone(),
            owner: self.node.clone(),
            creator: creator.map(str::to_owned),
        };
        Self::lock(&self.local).insert(summary.id.clone(), entry.clone());
        Self::lock(&self.dirty).insert(summary.id.clone(), Some(entry));
        self.wake.notify_one();
    }

    /// A room of this node ended.
    pub fn remove(&self, id: &str) {
        Self::lock(&self.local).remove(id);
        Self::lock(&self.dirty).insert(id.to_owned(), None);
        Self::lock(&self.state_dirty).insert(id.to_owned(), None);
        self.wake.notify_one();
    }

    /// Every room of this node is written again (after an outage).
    pub(super) fn rewrite_all(&self) {
        let local = Self::lock(&self.local).clone();
        let mut dirty = Self::lock(&self.dirty);
        for (id, entry) in local {
            dirty.entry(id).or_insert(Some(entry));
        }
        drop(dirty);
        self.wake.notify_one();
    }

    /// Public rooms of other live nodes in `lobby`.
    pub fn remote_rooms(&self, lobby: &str, live: &dyn Fn(&str) -> bool) -> Vec<RoomSummary> {
        Self::lock(&self.remote)
            .values()
            .filter(|e| !e.summary.private && e.summary.lobby == lobby && live(&e.owner))
            .map(|e| e.summary.clone())
            .collect()
    }

    /// How many rooms of other live nodes (private ones too) `creator` created.
    pub fn remote_rooms_of(&self, creator: &str, live: &dyn Fn(&str) -> bool) -> usize {
        Self::lock(&self.remote)
            .values()
            .filter(|e| e.creator.as_deref() == Some(creator) && live(&e.owner))
            .count()
    }

    /// The room `id` of another node (private ones too), if known.
    pub fn remote_room(&self, id: &str) -> Option<DirectoryEntry> {
        Self::lock(&self.remote).get(id).cloned()
    }

    /// Tells lobbies about rooms whose owner went down or came back.
    pub(super) fn sweep(&self, live: &dyn Fn(&str) -> bool) {
        let remote = Self::lock(&self.remote);
        let hidden_now: HashSet<String> = remote
            .values()
            .filter(|e| !live(&e.owner))
            .map(|e| e.summary.id.clone())
            .collect();
        let mut hidden = Self::lock(&self.hidden);
        let changed: Vec<RoomSummary> = hidden_now
            .symmetric_difference(&hidden)
            .filter_map(|id| remote.get(id).map(|e| e.summary.clone()))
            .collect();
        *hidden = hidden_now;
        drop(hidden);
        drop(remote);
        for summary in &changed {
            self.changed(summary);
        }
    }

    fn changed(&self, summary: &RoomSummary) {
        // Fails only once the cluster task has stopped: nobody is left to tell.
        let _ = self.heard.send(Heard::Room(summary.clone()));
    }

    /// An entry of the bucket, as the watch delivers it (sealed).
    fn on_entry(&self, key: &str, sealed: Option<&[u8]>) {
        let Some(id) = key.strip_prefix("room.") else {
            return;
        };
        let value = match sealed {
            Some(sealed) => match self.open(BUCKET, key, sealed) {
                Some(value) => Some(value),
                // Not ours to believe: as if nothing had been written.
                None => return,
            },
            None => None,
        };
        let entry = value
            .and_then(|v| serde_json::from_slice::<DirectoryEntry>(v).ok())
            // An entry must describe the room under whose key it is.
            .filter(|e| e.summary.id == id);
        if let Some(entry) = &entry
            && entry.owner != self.node
            && Self::lock(&self.local).remove(id).is_some()
        {
            // Adopted by another node while this one was cut off: stop this copy.
            tracing::warn!(room = id, owner = %entry.owner, "cluster: a room of this node was adopted elsewhere");
            Self::lock(&self.dirty).remove(id);
            Self::lock(&self.state_dirty).remove(id);
            let _ = self.heard.send(Heard::Displaced(id.to_owned()));
        }
        let mut remote = Self::lock(&self.remote);
        let before = match entry {
            Some(entry) if entry.owner != self.node => {
                let summary = entry.summary.clone();
                remote.insert(id.to_owned(), entry);
                drop(remote);
                self.changed(&summary);
                return;
            }
            // Our own entry, or a deleted one: not a room of another node (any more).
            _ => remote.remove(id),
        };
        drop(remote);
        if let Some(before) = before {
            self.changed(&before.summary);
        }
    }

    /// Keeps the bucket and this copy in step until `shutdown`: watches everyone's
    /// entries and writes this node's.
    pub(super) async fn run(
        self: Arc<Self>,
        client: async_nats::Client,
        shutdown: CancellationToken,
    ) {
        let js = async_nats::jetstream::new(client);
        let (store, states) = loop {
            let opened = match open_bucket(&js, BUCKET).await {
                Ok(rooms) => open_bucket(&js, STATE_BUCKET)
                    .await
                    .map(|states| (rooms, states)),
                Err(error) => Err(error),
            };
            match opened {
                Ok(stores) => break stores,
                Err(error) => {
                    tracing::warn!(%error, "cluster: room directory bucket not ready; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let _ = self.stores.set((store.clone(), states.clone()));
        let watcher = tokio::spawn(self.clone().watch(store.clone(), shutdown.clone()));
        loop {
            let batch: Vec<(String, Option<DirectoryEntry>)> =
                Self::lock(&self.dirty).drain().collect();
            let mut failed = false;
            for (id, entry) in batch {
                let written = match &entry {
                    Some(entry) => match serde_json::to_vec(entry) {
                        Ok(bytes) => {
                            let sealed = self.seal.seal_value(BUCKET, &key(&id), &bytes);
                            store.put(key(&id), sealed.into()).await.map(|_| ()).is_ok()
                        }
                        Err(_) => true,
                    },
                    None => store.delete(key(&id)).await.is_ok(),
                };
                if !written {
                    failed = true;
                    // Unless something newer replaced it meanwhile, write it again later.
                    Self::lock(&self.dirty).entry(id).or_insert(entry);
                }
            }
            let states_batch: Vec<(String, Option<Vec<u8>>)> =
                Self::lock(&self.state_dirty).drain().collect();
            for (id, state) in states_batch {
                let written = match &state {
                    Some(bytes) => {
                        let sealed = self.seal.seal_value(STATE_BUCKET, &key(&id), bytes);
                        states.put(key(&id), sealed.into()).await.is_ok()
                    }
                    None => states.purge(key(&id)).await.is_ok(),
                };
                if !written {
                    failed = true;
                    Self::lock(&self.state_dirty).entry(id).or_insert(state);
                }
            }
            let retry = tokio::time::sleep(if failed {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(3600)
            });
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = retry => {}
            }
        }
        watcher.abort();
    }

    async fn watch(
        self: Arc<Self>,
        store: async_nats::jetstream::kv::Store,
        shutdown: CancellationToken,
    ) {
        use async_nats::jetstream::kv::Operation;
        loop {
            match store.watch_with_history(">").await {
                Ok(mut watch) => {
                    while let Some(entry) = watch.next().await {
                        let Ok(entry) = entry else { break };
                        let value =
                            matches!(entry.operation, Operation::Put).then_some(&entry.value[..]);
                        self.on_entry(&entry.key, value);
                    }
                }
                Err(error) => tracing::debug!(%error, "cluster: cannot watch the room directory"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Opens key-value bucket `bucket`, creating it if need be (file storage, one value
/// per key). Made as the stream a bucket is, because async-nats's `create_key_value`
/// first reads the account's info in a form nats-server 2.9 does not send.
pub async fn open_bucket(
    js: &async_nats::jetstream::Context,
    bucket: &str,
) -> Result<async_nats::jetstream::kv::Store, async_nats::Error> {
    use async_nats::jetstream::stream;
    let config = stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: 1,
        discard: stream::DiscardPolicy::New,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    js.get_or_create_stream(config).await?;
    Ok(js.get_key_value(bucket).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kurve_shared::lobby::RoomPhase;

    fn summary(id: &str, lobby: &str, private: bool) -> RoomSummary {
        RoomSummary {
            id: id.into(),
            name: format!("room {id}"),
            lobby: lobby.into(),
            game: "curve".into(),
            phase: RoomPhase::Waiting,
            players: Vec::new(),
            spectators: 0,
            max_players: 6,
            private,
            node: Some("b".into()),
        }
    }

    fn seal() -> Arc<Seal> {
        Arc::new(Seal::new(b"test secret"))
    }

    fn entry(id: &str, owner: &str, private: bool) -> Vec<u8> {
        let bytes = serde_json::to_vec(&DirectoryEntry {
            summary: summary(id, "main", private),
            owner: owner.into(),
            creator: None,
        })
        .unwrap();
        seal().seal_value(BUCKET, &key(id), &bytes)
    }

    #[test]
    fn other_nodes_rooms_are_listed_while_their_owner_lives() {
        let (heard, mut told) = tokio::sync::mpsc::unbounded_channel();
        let directory = Directory::new("a", seal(), heard);
        directory.on_entry("room.r1", Some(&entry("r1", "b", false)));
        directory.on_entry("room.r2", Some(&entry("r2", "b", true)));
        directory.on_entry("room.mine", Some(&entry("mine", "a", false)));
        directory.on_entry("junk", Some(b"{}"));
        let unsealed = serde_json::to_vec(&DirectoryEntry {
            summary: summary("gold", "main", false),
            owner: "b".into(),
            creator: None,
        })
        .unwrap();
        directory.on_entry("room.gold", Some(&unsealed));
        directory.on_entry("room.moved", Some(&entry("r1", "b", false)));
        let all_live = |_: &str| true;
        let listed: Vec<String> = directory
            .remote_rooms("main", &all_live)
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(listed, ["r1"], "private and own rooms are not listed");
        assert!(
            directory.remote_room("r2").is_some(),
            "a private room can be joined"
        );
        assert!(directory.remote_rooms("other", &all_live).is_empty());

        let b_down = |node: &str| node != "b";
        assert!(directory.remote_rooms("main", &b_down).is_empty());
        directory.sweep(&b_down);
        directory.on_entry("room.r1", None);
        assert!(directory.remote_room("r1").is_none());
        let told: Vec<String> = std::iter::from_fn(|| told.try_recv().ok())
            .filter_map(|heard| match heard {
                Heard::Room(summary) => Some(summary.id),
                _ => None,
            })
            .collect();
        assert_eq!(told.iter().filter(|id| *id == "r1").count(), 3, "{told:?}");
    }
}
