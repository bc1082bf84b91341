//! The other nodes' rooms, as this node's room directory asks for them
//! ([`RemoteRooms`]): the shared directory ([`super::directory`]) read with the table of
//! live nodes, placement by load, and creation on another node by a sealed request to
//! `kurve.v1.node.<id>.create` (served by `crate::relay`'s `create`).

use std::sync::Arc;
use std::time::Duration;

use kurve_shared::lobby::RoomSummary;

use super::{Cluster, create_subject};
use crate::lobby::rooms::{CreateError, RemoteCreate, RoomSpec};
use crate::room::remote::{RemoteRooms, SharedState};

/// How long a room creation on another node may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(5);

impl RemoteRooms for Cluster {
    fn listed(&self, lobby: &str) -> Vec<RoomSummary> {
        self.directory()
            .remote_rooms(lobby, &|node| self.is_live(node))
    }

    fn owner(&self, id: &str) -> Option<String> {
        let entry = self.directory().remote_room(id)?;
        self.is_live(&entry.owner).then_some(entry.owner)
    }

    /// Another node's newest rooms count once its directory write arrives here.
    fn created_by(&self, creator: &str) -> usize {
        self.directory()
            .remote_rooms_of(creator, &|node| self.is_live(node))
    }

    fn placement(&self, game: &str) -> Option<String> {
        Cluster::placement(self, game)
    }

    fn create_on(&self, node: String, spec: RoomSpec) -> RemoteCreate {
        let cluster = self.clone();
        Box::pin(async move {
            let request = serde_json::to_vec(&spec).map_err(|_| CreateError::Unavailable)?;
            let reply = cluster
                .request(create_subject(&node), request.into(), CREATE_TIMEOUT)
                .await
                .map_err(|_| CreateError::Unavailable)?;
            let created: Result<String, CreateError> =
                serde_json::from_slice(&reply).map_err(|_| CreateError::Unavailable)?;
            created.map(Arc::from)
        })
    }

    fn share(&self, summary: &RoomSummary, creator: Option<&str>) {
        self.directory().put(summary, creator);
    }

    fn share_state(&self, state: SharedState<'_>) {
        if let Some(bytes) = state.encode() {
            self.directory().put_state(state.id, bytes);
        }
    }

    fn unshare(&self, id: &str) {
        self.directory().remove(id);
    }
}
