//! What rooms need from the other nodes: their rooms, and a place for this node's.
//!
//! The room table ([`super::Rooms`]) holds this node's rooms. When several nodes
//! serve as one, every node's rooms are listed and joinable everywhere (CONTRACT §9), a new room may be
//! placed on another node, and a room of a node that dies is adopted by another from
//! the state it shared. [`RemoteRooms`] is all of that as the room table asks for it;
//! on a single node it is [`SingleNode`]: no other node, nothing shared.

use kurve_shared::lobby::RoomSummary;

use crate::lobby::rooms::{CreateError, RemoteCreate, RoomSpec};
use crate::sim::SavedGame;

/// The other nodes' rooms, as the room table uses them. Nothing here waits:
/// writes are queued by the implementation, and a creation elsewhere is a future.
pub trait RemoteRooms: Send + Sync {
    /// Public rooms of `lobby` on other live nodes.
    fn listed(&self, lobby: &str) -> Vec<RoomSummary>;
    /// The node running room `id` when it is another live node.
    fn owner(&self, id: &str) -> Option<String>;
    /// How many open rooms of other live nodes `creator` created (the per-user budget
    /// holds across nodes).
    fn created_by(&self, creator: &str) -> usize;
    /// The node a new room should go to when it is not this one.
    fn placement(&self) -> Option<String>;
    /// Creates a room on node `node` (one that [`RemoteRooms::placement`] named).
    fn create_on(&self, node: String, spec: RoomSpec) -> RemoteCreate;
    /// A room of this node, made by `creator`, was created or changed.
    fn share(&self, summary: &RoomSummary, creator: Option<&str>);
    /// A room of this node saved its state: another node adopts it from there if this
    /// one dies.
    fn share_state(&self, state: SharedState<'_>);
    /// A room of this node ended.
    fn unshare(&self, id: &str);
}

/// A server alone: no other node has rooms, and this node's are shared with nobody.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleNode;

impl RemoteRooms for SingleNode {
    fn listed(&self, _lobby: &str) -> Vec<RoomSummary> {
        Vec::new()
    }

    fn owner(&self, _id: &str) -> Option<String> {
        None
    }

    fn created_by(&self, _creator: &str) -> usize {
        0
    }

    fn placement(&self) -> Option<String> {
        None
    }

    fn create_on(&self, _node: String, _spec: RoomSpec) -> RemoteCreate {
        Box::pin(async { Err(CreateError::Unavailable) })
    }

    fn share(&self, _summary: &RoomSummary, _creator: Option<&str>) {}

    fn share_state(&self, _state: SharedState<'_>) {}

    fn unshare(&self, _id: &str) {}
}

/// A room's saved state as another node adopts it ([`super::Rooms::adopt`]); encoded
/// only by an implementation that shares it.
pub struct SharedState<'a> {
    pub id: &'a str,
    pub spec: &'a RoomSpec,
    pub saved: &'a SavedGame,
}

impl SharedState<'_> {
    /// The state's bytes (MessagePack), None (logged) if it does not encode.
    pub fn encode(&self) -> Option<Vec<u8>> {
        #[derive(serde::Serialize)]
        struct StateRef<'a> {
            spec: &'a RoomSpec,
            saved: &'a SavedGame,
        }
        let state = StateRef {
            spec: self.spec,
            saved: self.saved,
        };
        match rmp_serde::to_vec_named(&state) {
            Ok(bytes) => Some(bytes),
            Err(error) => {
                tracing::warn!(room = self.id, %error, "cannot encode a room's state");
                None
            }
        }
    }
}

/// A shared state read back: what [`SharedState::encode`] wrote.
#[derive(serde::Deserialize)]
pub(super) struct AdoptedState {
    pub spec: RoomSpec,
    pub saved: SavedGame,
}

impl AdoptedState {
    pub(super) fn decode(bytes: &[u8]) -> Result<AdoptedState, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Game, GameConfig};
    use futures_util::FutureExt;

    fn spec() -> RoomSpec {
        RoomSpec {
            name: "Ann's room".into(),
            lobby: "main".into(),
            max_players: 4,
            private: true,
            password: Some("pw".into()),
            send_hz: Some(30),
            creator: Some("u1".into()),
        }
    }

    #[test]
    fn a_shared_state_reads_back_as_the_adopter_starts_it() {
        let spec = spec();
        let saved = Game::new(GameConfig::default(), 7, spec.max_players).save();
        let bytes = SharedState {
            id: "abc",
            spec: &spec,
            saved: &saved,
        }
        .encode()
        .expect("a saved game encodes");
        let adopted = AdoptedState::decode(&bytes).expect("what was shared decodes");
        assert_eq!(adopted.spec.password.as_deref(), Some("pw"));
        assert_eq!(adopted.spec.creator.as_deref(), Some("u1"));
        let again = SharedState {
            id: "abc",
            spec: &adopted.spec,
            saved: &adopted.saved,
        }
        .encode()
        .expect("it encodes again");
        assert_eq!(again, bytes, "the adopted state is the one shared");
        assert!(AdoptedState::decode(b"not a state").is_err());
    }

    #[test]
    fn a_single_node_has_no_other_rooms_and_places_none_elsewhere() {
        let alone = SingleNode;
        assert!(alone.listed("main").is_empty());
        assert_eq!(alone.owner("abc"), None);
        assert_eq!(alone.created_by("u1"), 0);
        assert_eq!(alone.placement(), None);
        let created = alone.create_on("b".into(), spec()).now_or_never();
        assert!(
            matches!(created, Some(Err(CreateError::Unavailable))),
            "no other node to create on"
        );
    }
}
