//! What rooms need from the other nodes: their rooms, and a place for this node's.
//!
//! The room table ([`super::Rooms`]) holds this node's rooms. When several nodes
//! serve as one, every node's rooms are listed and joinable everywhere (CONTRACT §9), a new room may be
//! placed on another node, and a room of a node that dies is adopted by another from
//! the state it shared. [`RemoteRooms`] is all of that as the room table asks for it;
//! on a single node it is [`SingleNode`]: no other node, nothing shared.

use kurve_shared::lobby::RoomSummary;

use crate::game::SavedGame;
use crate::lobby::rooms::{CreateError, RemoteCreate, RoomSpec};

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
    /// The node a new room of `game` should go to when it is not this one (only a node
    /// that hosts the game).
    fn placement(&self, game: &str) -> Option<String>;
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

    fn placement(&self, _game: &str) -> Option<String> {
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
    pub saved: &'a dyn SavedGame,
}

/// MessagePack `fixstr` keys of a shared state.
const SPEC_KEY: &[u8] = b"\xa4spec";
const SAVED_KEY: &[u8] = b"\xa5saved";

impl SharedState<'_> {
    /// The state's bytes, None (logged) if the spec does not encode: a MessagePack map
    /// `{"spec": …, "saved": …}` whose `saved` is the game's own encoding, spliced in
    /// as it is (for Curve, the same bytes as before games: nodes of either version
    /// adopt each other's rooms).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let spec = match rmp_serde::to_vec_named(self.spec) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(room = self.id, %error, "cannot encode a room's spec");
                return None;
            }
        };
        let saved = self.saved.encode();
        let mut out =
            Vec::with_capacity(1 + SPEC_KEY.len() + spec.len() + SAVED_KEY.len() + saved.len());
        out.push(0x82);
        out.extend_from_slice(SPEC_KEY);
        out.extend_from_slice(&spec);
        out.extend_from_slice(SAVED_KEY);
        out.extend_from_slice(&saved);
        Some(out)
    }
}

/// A shared state read back: what [`SharedState::encode`] wrote — the spec decoded,
/// the game's bytes left for its [`crate::game::GameKind::restore`].
pub(super) struct AdoptedState {
    pub spec: RoomSpec,
    pub saved: Vec<u8>,
}

/// Bytes that are not a shared state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("not a map of spec and saved")]
    Shape,
    #[error("its spec: {0}")]
    Spec(#[from] rmp_serde::decode::Error),
}

impl AdoptedState {
    pub(super) fn decode(bytes: &[u8]) -> Result<AdoptedState, StateError> {
        let rest = bytes
            .strip_prefix(&[0x82])
            .and_then(|b| b.strip_prefix(SPEC_KEY))
            .ok_or(StateError::Shape)?;
        let mut reader = rest;
        let spec: RoomSpec = {
            let mut de = rmp_serde::Deserializer::new(&mut reader);
            de.set_max_depth(crate::game::envelope::MAX_DEPTH);
            serde::Deserialize::deserialize(&mut de)?
        };
        let saved = reader.strip_prefix(SAVED_KEY).ok_or(StateError::Shape)?;
        Ok(AdoptedState {
            spec,
            saved: saved.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    /// A game's saved bytes; never resumed here.
    struct Saved(Vec<u8>);

    impl SavedGame for Saved {
        fn resume(&self) -> Box<dyn crate::game::RoomGame> {
            unreachable!("the test only encodes")
        }
        fn encode(&self) -> Vec<u8> {
            self.0.clone()
        }
    }

    fn spec() -> RoomSpec {
        RoomSpec {
            name: "Ann's room".into(),
            lobby: "main".into(),
            max_players: 4,
            private: true,
            password: Some("pw".into()),
            send_hz: Some(30),
            creator: Some("u1".into()),
            game: "curve".into(),
        }
    }

    #[test]
    fn a_shared_state_reads_back_as_the_adopter_starts_it() {
        #[derive(serde::Serialize)]
        struct Before<'a> {
            spec: &'a RoomSpec,
            saved: (u32, &'a str),
        }
        let mut spec = spec();
        let game_bytes = rmp_serde::to_vec_named(&(7_u32, "state")).unwrap();
        let saved = Saved(game_bytes.clone());
        let bytes = SharedState {
            id: "abc",
            spec: &spec,
            saved: &saved,
        }
        .encode()
        .expect("a saved game encodes");
        assert_eq!(
            bytes,
            rmp_serde::to_vec_named(&Before {
                spec: &spec,
                saved: (7, "state"),
            })
            .unwrap(),
            "a default-game state is what one encoding of both made before games"
        );
        let adopted = AdoptedState::decode(&bytes).expect("what was shared decodes");
        assert_eq!(adopted.spec.password.as_deref(), Some("pw"));
        assert_eq!(adopted.spec.creator.as_deref(), Some("u1"));
        assert_eq!(adopted.saved, game_bytes);
        spec.game = "bumper".into();
        let other = SharedState {
            id: "abc",
            spec: &spec,
            saved: &saved,
        }
        .encode()
        .unwrap();
        let adopted = AdoptedState::decode(&other).unwrap();
        assert_eq!(adopted.spec.game, "bumper");
        assert_eq!(adopted.saved, game_bytes);
        assert!(AdoptedState::decode(b"not a state").is_err());
        assert!(AdoptedState::decode(&bytes[..10]).is_err());
    }

    #[test]
    fn a_single_node_has_no_other_rooms_and_places_none_elsewhere() {
        let alone = SingleNode;
        assert!(alone.listed("main").is_empty());
        assert_eq!(alone.owner("abc"), None);
        assert_eq!(alone.created_by("u1"), 0);
        assert_eq!(alone.placement("curve"), None);
        let created = alone.create_on("b".into(), spec()).now_or_never();
        assert!(
            matches!(created, Some(Err(CreateError::Unavailable))),
            "no other node to create on"
        );
    }
}
