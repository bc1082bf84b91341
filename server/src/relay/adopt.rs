//! Adoption: the rooms of a node that went down start again on one survivor, from the
//! state they last shared (CONTRACT §9: within 5 s).

use super::{Relay, lock};
use crate::cluster::directory::ClaimError;

/// How many times this node tries to adopt a room of a dead node that has no saved
/// state (its state may still be on its way) before it gives up on it. The sweep runs
/// every second, so this is ten seconds: well past a saved state's write, short enough
/// that an entry nobody can adopt stops costing a claim a second.
const ADOPT_TRIES_WITHOUT_STATE: u32 = 10;

impl Relay {
    /// Rooms of nodes that went down are adopted: every node picks the same adopter
    /// (of the live nodes that host the room's game, the one with the fewest rooms,
    /// then the lowest id), and only one claim of the directory entry can succeed. A
    /// node never claims a room it could not run: the claim takes the state away.
    pub(super) fn adopt_orphans(&self) {
        let cluster = &self.inner.cluster;
        let orphans = cluster.directory().orphans(&|node| cluster.is_live(node));
        // Forget the rooms that are no longer orphans (gone, or adopted elsewhere).
        lock(&self.inner.stateless).retain(|id, _| orphans.iter().any(|o| o.summary.id == *id));
        if orphans.is_empty() {
            return;
        }
        let nodes = cluster.nodes();
        let adopter = |game: &str| {
            nodes
                .iter()
                .filter(|n| n.games.iter().any(|g| g == game))
                .min_by(|a, b| (a.rooms, &a.id).cmp(&(b.rooms, &b.id)))
        };
        for orphan in orphans {
            if adopter(&orphan.summary.game).is_none_or(|n| n.id != self.node()) {
                continue;
            }
            let id = orphan.summary.id;
            if lock(&self.inner.stateless)
                .get(&id)
                .is_some_and(|tries| *tries >= ADOPT_TRIES_WITHOUT_STATE)
            {
                continue;
            }
            if !lock(&self.inner.adopting).insert(id.clone()) {
                continue;
            }
            let relay = self.clone();
            tokio::spawn(async move {
                let cluster = &relay.inner.cluster;
                let claimed = cluster
                    .directory()
                    .claim(&id, &|node| !cluster.is_live(node))
                    .await;
                match claimed {
                    Ok(state) => {
                        lock(&relay.inner.stateless).remove(&id);
                        match relay.inner.rooms.adopt(&id, &state) {
                            Ok(()) => {
                                metrics::counter!(crate::metrics::CLUSTER_ADOPTIONS).increment(1);
                            }
                            Err(error) => {
                                tracing::warn!(room = %id, %error, "relay: cannot adopt a room");
                            }
                        }
                    }
                    Err(ClaimError::NoState) => {
                        let mut stateless = lock(&relay.inner.stateless);
                        let tries = stateless.entry(id.clone()).or_default();
                        *tries += 1;
                        // Logged once, when this node gives up on it.
                        if *tries == ADOPT_TRIES_WITHOUT_STATE {
                            tracing::warn!(
                                room = %id,
                                owner = %orphan.owner,
                                tries = *tries,
                                "relay: a dead node's room has no saved state; not adopted"
                            );
                        }
                    }
                    Err(error) => {
                        tracing::debug!(room = %id, %error, "relay: room not adopted here")
                    }
                }
                lock(&relay.inner.adopting).remove(&id);
            });
        }
    }
}
