//! Lobby wire types (CONTRACT §4 `lobby:*`), serialized as JSON.

use serde::{Deserialize, Serialize};

/// Where a room is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomPhase {
    Waiting,
    Countdown,
    Playing,
    Finished,
}

/// A user as other users see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicUser {
    pub id: String,
    pub name: String,
}

/// A room as listed in a lobby and by `GET /api/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub id: String,
    pub name: String,
    pub lobby: String,
    /// The game it plays (`GET /api/games`); absent in what older nodes listed.
    #[serde(default = "crate::room::default_game")]
    pub game: String,
    pub phase: RoomPhase,
    pub players: Vec<PublicUser>,
    pub spectators: u32,
    pub max_players: u8,
    pub private: bool,
    /// In a cluster, the id of the node that runs the room (absent on a single node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The lobby join reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LobbyJoined {
    pub rooms: Vec<RoomSummary>,
}

/// What a user is doing, shown in lobby presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Lobby,
    Playing,
    Spectating,
}

/// Client → server `chat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatIn {
    pub body: String,
}

/// Server → clients `chat` broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatOut {
    pub user: PublicUser,
    pub body: String,
    /// Unix time in milliseconds when the server accepted the message.
    pub at: u64,
}
