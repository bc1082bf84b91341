//! Phoenix-compatible presence: who is on a topic, as the official JS `Presence` syncs it.
//!
//! A [`Presence`] belongs to the actor that owns a topic (a lobby or a room) and is
//! changed only by it. Entries are keyed by user id; every tracked session (a socket) of
//! that user is one *meta* with a unique `phx_ref`, so one user in two tabs is one key
//! with two metas.
//!
//! Changes are gathered into a pending diff that the owner flushes every
//! [`crate::config::PRESENCE_FLUSH`]: one `presence_diff` carries many joins and leaves.
//! A joiner gets a state no older than the last flush — possibly without the changes
//! (its own join among them) made since — and then the next diff, which carries every
//! change since that flush. Overlaps are harmless: the JS client applies joins by
//! `phx_ref` (no duplicates) and ignores leaves of refs it does not hold. So a client's
//! view is complete at most one flush interval after its join.
//!
//! A session that joins and leaves (or changes twice) inside one window is sent as its
//! net effect: nothing, or only its latest meta, unless a `presence_state` already
//! showed it to someone, whose leave is then sent.
//!
//! The encoded state is cached until the next flush, so during a join storm into a lobby
//! of 5,000 the state is serialized a few times a second rather than once per joiner.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeStruct, Serializer};

/// One tracked session of a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta<M> {
    /// Unique for every track (and every update): the JS client tells metas apart by it.
    pub phx_ref: Arc<str>,
    /// On an update, the ref this meta replaces (Phoenix's `phx_ref_prev`).
    pub phx_ref_prev: Option<Arc<str>>,
    pub data: M,
}

/// Metas serialize as the app's fields plus `phx_ref` (and `phx_ref_prev`).
impl<M: MetaFields> Serialize for Meta<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let extra = usize::from(self.phx_ref_prev.is_some());
        let mut s = serializer.serialize_struct("Meta", M::FIELDS + 1 + extra)?;
        s.serialize_field("phx_ref", &*self.phx_ref)?;
        if let Some(prev) = &self.phx_ref_prev {
            s.serialize_field("phx_ref_prev", &**prev)?;
        }
        self.data.serialize_fields(&mut s)?;
        s.end()
    }
}

/// The app's part of a meta, written as flat fields next to `phx_ref`.
pub trait MetaFields: Clone {
    /// How many fields [`MetaFields::serialize_fields`] writes at most.
    const FIELDS: usize;
    fn serialize_fields<S: SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error>;
}

/// Makes a `phx_ref` that is unique in this process and across restarts: a random
/// per-boot prefix (clients keep refs across a reconnect) and a counter.
pub fn new_ref() -> Arc<str> {
    static BOOT: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let boot = BOOT.get_or_init(|| {
        let n: u32 = rand::random();
        format!("{n:08x}")
    });
    let mut text = String::with_capacity(boot.len() + 10);
    text.push_str(boot);
    let _ = write!(text, "{:x}", COUNTER.fetch_add(1, Ordering::Relaxed));
    Arc::from(text)
}

/// Joins and leaves since the last flush, per key.
#[derive(Debug)]
struct PendingDiff<M> {
    joins: BTreeMap<Arc<str>, Vec<Meta<M>>>,
    leaves: BTreeMap<Arc<str>, Vec<Meta<M>>>,
    /// Pending joins a `presence_state` has already shown to someone: their leaves
    /// must be sent even inside the window.
    shown: HashSet<Arc<str>>,
}

impl<M> Default for PendingDiff<M> {
    fn default() -> Self {
        PendingDiff {
            joins: BTreeMap::new(),
            leaves: BTreeMap::new(),
            shown: HashSet::new(),
        }
    }
}

impl<M> PendingDiff<M> {
    fn is_empty(&self) -> bool {
        self.joins.is_empty() && self.leaves.is_empty()
    }
}

/// Serializes `{key: {"metas": [...]}}` for a map of metas.
struct Entries<'a, M>(&'a BTreeMap<Arc<str>, Vec<Meta<M>>>);

impl<M: MetaFields> Serialize for Entries<'_, M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, metas) in self.0 {
            map.serialize_entry(&**key, &MetaList(metas))?;
        }
        map.end()
    }
}

struct MetaList<'a, M>(&'a [Meta<M>]);

impl<M: MetaFields> Serialize for MetaList<'_, M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Presence", 1)?;
        s.serialize_field("metas", self.0)?;
        s.end()
    }
}

/// The presence of one topic.
#[derive(Debug)]
pub struct Presence<M> {
    entries: BTreeMap<Arc<str>, Vec<Meta<M>>>,
    pending: PendingDiff<M>,
    /// `presence_state` payload, valid until the next flush (see the module docs).
    state_cache: Option<Arc<str>>,
    metas: usize,
}

impl<M> Default for Presence<M> {
    fn default() -> Self {
        Presence {
            entries: BTreeMap::new(),
            pending: PendingDiff::default(),
            state_cache: None,
            metas: 0,
        }
    }
}

impl<M: MetaFields> Presence<M> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tracks a new session of `key`; returns its `phx_ref`.
    pub fn track(&mut self, key: &str, data: M) -> Arc<str> {
        let meta = Meta {
            phx_ref: new_ref(),
            phx_ref_prev: None,
            data,
        };
        let phx_ref = meta.phx_ref.clone();
        self.insert(key, meta);
        phx_ref
    }

    /// Adds a session tracked elsewhere (on another node) under its own ref; returns
    /// false, changing nothing, when that ref is already here.
    pub fn insert(&mut self, key: &str, meta: Meta<M>) -> bool {
        if self
            .entries
            .get(key)
            .is_some_and(|metas| metas.iter().any(|m| m.phx_ref == meta.phx_ref))
        {
            return false;
        }
        let key = self.key(key);
        self.pending
            .joins
            .entry(key.clone())
            .or_insert_with(|| Vec::with_capacity(1))
            .push(meta.clone());
        // Most users have one session: room for exactly one meta, not Vec's default four.
        self.entries
            .entry(key)
            .or_insert_with(|| Vec::with_capacity(1))
            .push(meta);
        self.metas += 1;
        true
    }

    /// Stops tracking the session `phx_ref` of `key`; returns whether it was tracked.
    pub fn untrack(&mut self, key: &str, phx_ref: &str) -> bool {
        let Some(metas) = self.entries.get_mut(key) else {
            return false;
        };
        let Some(index) = metas.iter().position(|m| &*m.phx_ref == phx_ref) else {
            return false;
        };
        let meta = metas.remove(index);
        let key = self.key(key);
        if self.entries.get(&key).is_some_and(Vec::is_empty) {
            self.entries.remove(&key);
        }
        self.metas -= 1;
        // A session that joined and left inside one window was never seen: nothing to
        // tell anyone.
        if take_unsent_join(&mut self.pending, &key, &meta.phx_ref).is_none() {
            self.pending.leaves.entry(key).or_default().push(meta);
        }
        true
    }

    /// Replaces the session `phx_ref`'s data: a leave of the old meta and a join of a new
    /// one (new ref, `phx_ref_prev` = old ref) in the same diff, as Phoenix does.
    /// Returns the new ref, or None when `phx_ref` is not tracked.
    pub fn update(&mut self, key: &str, phx_ref: &str, data: M) -> Option<Arc<str>> {
        let key = self.key(key);
        let metas = self.entries.get_mut(&key)?;
        let slot = metas.iter_mut().find(|m| &*m.phx_ref == phx_ref)?;
        let unsent = take_unsent_join(&mut self.pending, &key, phx_ref).is_some();
        let new = Meta {
            phx_ref: new_ref(),
            // An old meta that was never sent is replaced outright: the new one points
            // back at what clients last saw.
            phx_ref_prev: if unsent {
                slot.phx_ref_prev.clone()
            } else {
                Some(slot.phx_ref.clone())
            },
            data,
        };
        let old = std::mem::replace(slot, new.clone());
        if !unsent {
            self.pending
                .leaves
                .entry(key.clone())
                .or_default()
                .push(old);
        }
        let new_ref = new.phx_ref.clone();
        self.pending.joins.entry(key).or_default().push(new);
        Some(new_ref)
    }

    /// The metas of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&[Meta<M>]> {
        self.entries.get(key).map(Vec::as_slice)
    }

    /// Number of keys (users) present.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Number of metas (sessions) present.
    pub fn sessions(&self) -> usize {
        self.metas
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `presence_state` payload: `{key: {"metas": [...]}}`.
    pub fn state_json(&mut self) -> Arc<str> {
        if let Some(cached) = &self.state_cache {
            return cached.clone();
        }
        let json: Arc<str> = serde_json::to_string(&Entries(&self.entries))
            .unwrap_or_else(|_| "{}".into())
            .into();
        let shown = self
            .pending
            .joins
            .values()
            .flatten()
            .map(|m| m.phx_ref.clone());
        self.pending.shown.extend(shown);
        self.state_cache = Some(json.clone());
        json
    }

    /// Whether a flush would produce a diff.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Takes the pending changes as a `presence_diff` payload
    /// (`{"joins": {...}, "leaves": {...}}`), or None when nothing changed.
    pub fn flush(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let pending = std::mem::take(&mut self.pending);
        self.state_cache = None;
        #[derive(Serialize)]
        #[serde(bound = "")]
        struct Diff<'a, M: MetaFields> {
            joins: Entries<'a, M>,
            leaves: Entries<'a, M>,
        }
        let diff = Diff {
            joins: Entries(&pending.joins),
            leaves: Entries(&pending.leaves),
        };
        Some(serde_json::to_string(&diff).unwrap_or_else(|_| "{}".into()))
    }

    /// Reuses the `Arc<str>` of an existing key so many metas share one allocation.
    fn key(&self, key: &str) -> Arc<str> {
        self.entries
            .get_key_value(key)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| Arc::from(key))
    }
}

/// Removes and returns the pending join of `phx_ref`, if it has not been sent yet.
fn take_unsent_join<M>(
    pending: &mut PendingDiff<M>,
    key: &Arc<str>,
    phx_ref: &str,
) -> Option<Meta<M>> {
    if pending.shown.contains(phx_ref) {
        return None;
    }
    let joins = pending.joins.get_mut(key)?;
    let index = joins.iter().position(|m| &*m.phx_ref == phx_ref)?;
    let meta = joins.remove(index);
    if joins.is_empty() {
        pending.joins.remove(key);
    }
    Some(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[derive(Debug, Clone, PartialEq)]
    struct Status(&'static str);

    impl MetaFields for Status {
        const FIELDS: usize = 1;
        fn serialize_fields<S: SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error> {
            s.serialize_field("status", self.0)
        }
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("valid JSON")
    }

    /// A model of the JS client's `Presence.syncDiff`, to check convergence.
    fn apply_diff(state: &mut serde_json::Map<String, Value>, diff: &Value) {
        for (key, joined) in diff["joins"].as_object().unwrap() {
            let joined_metas = joined["metas"].as_array().unwrap().clone();
            let joined_refs: Vec<&Value> = joined_metas.iter().map(|m| &m["phx_ref"]).collect();
            let mut metas: Vec<Value> = state
                .get(key)
                .map(|p| p["metas"].as_array().unwrap().clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|m| !joined_refs.contains(&&m["phx_ref"]))
                .collect();
            metas.extend(joined_metas.iter().cloned());
            state.insert(key.clone(), json!({ "metas": metas }));
        }
        for (key, left) in diff["leaves"].as_object().unwrap() {
            let Some(current) = state.get_mut(key) else {
                continue;
            };
            let left_refs: Vec<&Value> = left["metas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| &m["phx_ref"])
                .collect();
            let remaining: Vec<Value> = current["metas"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| !left_refs.contains(&&m["phx_ref"]))
                .cloned()
                .collect();
            if remaining.is_empty() {
                state.remove(key);
            } else {
                current["metas"] = Value::Array(remaining);
            }
        }
    }

    fn refs(state: &serde_json::Map<String, Value>) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = state
            .iter()
            .map(|(k, v)| {
                let mut r: Vec<String> = v["metas"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["phx_ref"].as_str().unwrap().to_owned())
                    .collect();
                r.sort();
                (k.clone(), r)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn state_lists_every_session_of_a_key() {
        let mut p = Presence::new();
        let a = p.track("u1", Status("lobby"));
        let b = p.track("u1", Status("playing"));
        p.track("u2", Status("lobby"));
        let state = parse(&p.state_json());
        let metas = state["u1"]["metas"].as_array().expect("u1 metas");
        assert_eq!(
            metas.len(),
            2,
            "one user in two tabs is one key with two metas"
        );
        assert_eq!(metas[0]["phx_ref"], json!(&*a));
        assert_eq!(metas[1]["phx_ref"], json!(&*b));
        assert_eq!(metas[1]["status"], json!("playing"));
        assert_eq!(p.len(), 2);
        assert_eq!(p.sessions(), 3);
    }

    #[test]
    fn a_join_and_leave_inside_one_window_cancel_out() {
        let mut p = Presence::new();
        let stays = p.track("u1", Status("lobby"));
        p.flush();
        for _ in 0..100 {
            let churn = p.track("u2", Status("lobby"));
            assert!(p.untrack("u2", &churn));
        }
        assert!(p.flush().is_none(), "nothing anyone saw changed");
        let updated = p.update("u1", &stays, Status("playing")).expect("tracked");
        let again = p
            .update("u1", &updated, Status("spectating"))
            .expect("tracked");
        let diff = parse(&p.flush().expect("a diff"));
        let joins = diff["joins"]["u1"]["metas"].as_array().expect("joins");
        let leaves = diff["leaves"]["u1"]["metas"].as_array().expect("leaves");
        assert_eq!(joins.len(), 1, "only the latest meta is sent: {diff}");
        assert_eq!(joins[0]["phx_ref"], json!(&*again));
        assert_eq!(joins[0]["status"], json!("spectating"));
        assert_eq!(
            joins[0]["phx_ref_prev"],
            json!(&*stays),
            "points at what was seen"
        );
        assert_eq!(leaves.len(), 1);
        assert_eq!(leaves[0]["phx_ref"], json!(&*stays));
    }

    #[test]
    fn refs_are_unique() {
        let refs: std::collections::HashSet<Arc<str>> = (0..1000).map(|_| new_ref()).collect();
        assert_eq!(refs.len(), 1000, "every phx_ref must be unique");
    }

    #[test]
    fn diff_carries_joins_and_leaves_since_the_last_flush() {
        let mut p = Presence::new();
        let a = p.track("u1", Status("lobby"));
        let first = parse(&p.flush().expect("a diff after a track"));
        assert_eq!(first["joins"]["u1"]["metas"][0]["phx_ref"], json!(&*a));
        assert_eq!(first["leaves"], json!({}));
        assert!(p.flush().is_none(), "nothing changed since the last flush");
        assert!(p.untrack("u1", &a));
        let second = parse(&p.flush().expect("a diff after an untrack"));
        assert_eq!(second["leaves"]["u1"]["metas"][0]["phx_ref"], json!(&*a));
        assert!(p.is_empty(), "the key goes when its last meta leaves");
        assert!(!p.untrack("u1", &a), "untracking twice is a no-op");
    }

    #[test]
    fn update_is_a_leave_plus_a_join_with_prev_ref() {
        let mut p = Presence::new();
        let a = p.track("u1", Status("lobby"));
        p.flush();
        let b = p.update("u1", &a, Status("playing")).expect("tracked");
        assert_ne!(a, b, "an update gets a new ref");
        let diff = parse(&p.flush().unwrap());
        assert_eq!(diff["leaves"]["u1"]["metas"][0]["phx_ref"], json!(&*a));
        let joined = &diff["joins"]["u1"]["metas"][0];
        assert_eq!(joined["phx_ref"], json!(&*b));
        assert_eq!(joined["phx_ref_prev"], json!(&*a));
        assert_eq!(joined["status"], json!("playing"));
        assert!(p.update("u1", "nope", Status("x")).is_none());
    }

    #[test]
    fn state_cache_lives_until_the_next_flush() {
        let mut p = Presence::new();
        p.track("u1", Status("lobby"));
        let first = p.state_json();
        p.track("u2", Status("lobby"));
        let second = p.state_json();
        assert!(Arc::ptr_eq(&first, &second), "cached within a flush window");
        p.flush();
        let third = p.state_json();
        assert!(parse(&third)["u2"].is_object(), "fresh state after a flush");
    }

    /// A joiner that receives a state in the middle of a window and then every diff ends
    /// with exactly the server's presence, however the changes interleave.
    #[test]
    fn late_joiners_converge_with_coalesced_diffs() {
        let mut p = Presence::new();
        let mut live: Vec<(String, Arc<str>)> = Vec::new();
        let mut observers: Vec<serde_json::Map<String, Value>> = Vec::new();
        let mut rng_state: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 7;
            rng_state ^= rng_state << 17;
            rng_state
        };
        for step in 0..2000 {
            match next() % 5 {
                0 | 1 => {
                    let key = format!("u{}", next() % 40);
                    let r = p.track(&key, Status("lobby"));
                    live.push((key, r));
                }
                2 if !live.is_empty() => {
                    let (key, r) = live.swap_remove((next() as usize) % live.len());
                    assert!(p.untrack(&key, &r));
                }
                3 if !live.is_empty() => {
                    let i = (next() as usize) % live.len();
                    let (key, r) = live[i].clone();
                    let n = p.update(&key, &r, Status("playing")).unwrap();
                    live[i].1 = n;
                }
                _ => {
                    // A new observer joins and receives the (possibly cached) state.
                    let state = parse(&p.state_json());
                    observers.push(state.as_object().unwrap().clone());
                }
            }
            if step % 7 == 0
                && let Some(diff) = p.flush()
            {
                let diff = parse(&diff);
                for o in &mut observers {
                    apply_diff(o, &diff);
                }
            }
        }
        if let Some(diff) = p.flush() {
            let diff = parse(&diff);
            for o in &mut observers {
                apply_diff(o, &diff);
            }
        }
        let truth = parse(&p.state_json());
        let truth = refs(truth.as_object().unwrap());
        assert!(
            observers.len() > 100,
            "the test should create many observers"
        );
        for (i, o) in observers.iter().enumerate() {
            assert_eq!(refs(o), truth, "observer {i} should converge to the server");
        }
    }
}
