//! What a lobby needs from the rooms ([`LobbyRooms`]: create, quick join, list, "listing
//! changed?"), declared here so imports run one way: `room` implements it (and reaches
//! lobbies through [`super::Running`]); `lobby` knows rooms only through this trait and
//! never imports `room`.

use std::sync::Arc;

use kurve_shared::lobby::RoomSummary;
use kurve_shared::room::GameInfo;

use crate::protocol::error::ChannelError;

/// Longest room name, in characters.
pub const MAX_ROOM_NAME: usize = 32;

/// Longest room password, in characters.
pub const MAX_PASSWORD: usize = 64;

/// What a room is asked to be.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RoomSpec {
    pub name: String,
    pub lobby: Arc<str>,
    pub max_players: u8,
    pub private: bool,
    pub password: Option<String>,
    /// The room's own network send rate (frames per second), if it asked for one.
    pub send_hz: Option<u32>,
    /// The user who asked for the room (None: made by the server or a test); a user may
    /// have only so many open at once (`--max-rooms-per-user`).
    pub creator: Option<Arc<str>>,
    /// The game the room plays. Not written for `curve`, so a Curve room's spec (sent to
    /// another node, and inside its shared state) is what it was before games.
    #[serde(
        default = "kurve_shared::room::default_game",
        skip_serializing_if = "is_default_game"
    )]
    pub game: String,
}

fn is_default_game(game: &str) -> bool {
    game == kurve_shared::room::DEFAULT_GAME
}

/// Why a room could not be created.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize,
)]
pub enum CreateError {
    /// The server holds its most rooms, or the creator has as many open as allowed.
    #[error("too many rooms")]
    TooMany,
    #[error("server shutting down")]
    Unavailable,
    /// No game of that id runs here.
    #[error("no such game")]
    UnknownGame,
}

/// A room being made on another node.
pub type RemoteCreate =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Arc<str>, CreateError>> + Send>>;

/// The rooms as a lobby uses them.
pub trait LobbyRooms: Send + Sync {
    /// Starts a room here, or — when another node has fewer players —
    /// returns the creation under way there.
    fn create_placed(&self, spec: RoomSpec) -> Result<Result<Arc<str>, RemoteCreate>, CreateError>;
    /// Starts a room on this node; returns its id.
    fn create(&self, spec: RoomSpec) -> Result<Arc<str>, CreateError>;
    /// A waiting public room of `lobby` with a free seat, else a new one made for
    /// `creator` (placed as [`LobbyRooms::create_placed`] places it).
    fn quick_join(
        &self,
        lobby: &Arc<str>,
        game: &str,
        creator: Option<Arc<str>>,
    ) -> Result<Result<Arc<str>, RemoteCreate>, CreateError>;
    /// The game called `id`, if this server hosts it.
    fn game(&self, id: &str) -> Option<GameInfo>;
    /// Public rooms of `lobby`, by id.
    fn list(&self, lobby: &str) -> Vec<RoomSummary>;
    /// Whether `lobby`'s listing changed since it last asked; clears the mark.
    fn take_listing_change(&self, lobby: &str) -> bool;
}

impl From<CreateError> for ChannelError {
    fn from(error: CreateError) -> Self {
        match error {
            CreateError::TooMany => ChannelError::TooManyRooms,
            CreateError::Unavailable => ChannelError::Unavailable,
            CreateError::UnknownGame => ChannelError::InvalidRoom,
        }
    }
}
