//! Rooms placed on this node by another node's lobby: a sealed request on
//! `kurve.v1.node.<id>.create` with a [`RoomSpec`], answered with the new room's id or
//! why not (asked by the cluster's [`crate::room::remote::RemoteRooms::create_on`]).

use super::Relay;
use crate::cluster::Request;
use crate::lobby::rooms::{CreateError, RoomSpec};

impl Relay {
    /// Creates the room another node asked for here, and answers.
    pub(super) async fn create(&self, request: Request) {
        let created = serde_json::from_slice::<RoomSpec>(&request.payload)
            .map_err(|_| CreateError::Unavailable)
            .and_then(|spec| self.inner.rooms.create(spec))
            .map(|id| id.to_string());
        if let Ok(payload) = serde_json::to_vec(&created) {
            request.answer(payload.into()).await;
        }
    }
}
