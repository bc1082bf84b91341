//! The JSON replies and pushes of a `room:<id>` topic and of room creation
//! (docs/PROTOCOL.md): what the server sends, what bots and tests read.
//!
//! Fields are declared in the order they go on the wire (alphabetical, as the server
//! has always sent them).

use serde::{Deserialize, Serialize};

/// How a client is in a room: `phx_join`'s `"as"` and the join reply's `you.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Player,
    Spectator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Player => "player",
            Role::Spectator => "spectator",
        }
    }
}

/// The colour of each seat, `#rrggbb`; a seat index is also the colour index.
pub const SEAT_COLORS: [&str; 8] = [
    "#ff4136", "#2ecc40", "#0074d9", "#ffdc00", "#b10dc9", "#ff851b", "#7fdbff", "#f012be",
];

/// Colour of a seat (seats wrap around the palette).
pub fn seat_color(seat: u8) -> String {
    SEAT_COLORS[seat as usize % SEAT_COLORS.len()].to_string()
}

/// One line of final standings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Seat (colour index).
    pub seat: u8,
    /// Final points.
    pub points: u32,
    /// 1-based place; equal points share a place.
    pub place: u32,
    /// The match winner.
    pub won: bool,
    /// Left before the end.
    pub left: bool,
}

/// A game the server hosts (`GET /api/games`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameInfo {
    /// What `create_room {"game"}` names it by.
    pub id: String,
    /// Shown to people.
    pub name: String,
    pub min_players: u8,
    pub max_players: u8,
}

/// The game a room plays when nothing says otherwise: every client older than the
/// choice of games can draw only this one.
pub const DEFAULT_GAME: &str = "curve";

/// [`DEFAULT_GAME`], for serde defaults.
pub fn default_game() -> String {
    DEFAULT_GAME.to_string()
}

/// The reply to `create_room` and `quick_join` on a lobby: the room to join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCreated {
    pub room_id: String,
}

/// The reply to a room's `phx_join`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomJoined {
    pub config: RoomConfig,
    pub you: You,
}

/// Who the joining client is in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct You {
    /// The seat's colour (players only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    pub id: String,
    pub role: Role,
    /// The seat, 0-based (players only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<u8>,
}

/// The room's rules and rates, as the client needs them to draw and predict: the
/// runtime's fields, typed, and the game's own (`rules`; for Curve `arena`,
/// `item_radius`, `motion`, `pos_scale`). The server sends the fields sorted by name,
/// game's and runtime's together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomConfig {
    /// The game's id (`GET /api/games`).
    #[serde(default = "default_game")]
    pub game: String,
    pub lobby: String,
    pub max_players: u8,
    pub name: String,
    pub room_id: String,
    /// Frames sent per second (each frame carries `ticks` when below `tick_hz`).
    pub send_hz: u32,
    /// Simulation ticks per second.
    pub tick_hz: u32,
    /// The game's part of the config.
    #[serde(flatten)]
    pub rules: serde_json::Map<String, serde_json::Value>,
}

impl RoomConfig {
    /// Frames per second the room sends: `send_hz`, else `tick_hz`; None if both are 0.
    pub fn frame_hz(&self) -> Option<u32> {
        [self.send_hz, self.tick_hz].into_iter().find(|&hz| hz > 0)
    }
}

/// Broadcast on a room a moment after a match ends, once it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchSaved {
    pub match_id: i64,
    /// Where the web client plays it back: `/#/replay/<match_id>`.
    pub replay: String,
}

impl MatchSaved {
    pub fn new(match_id: i64) -> Self {
        MatchSaved {
            match_id,
            replay: format!("/#/replay/{match_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_reply_has_the_documented_shape_in_wire_order() {
        let reply = RoomJoined {
            config: RoomConfig {
                game: "curve".into(),
                lobby: "main".into(),
                max_players: 6,
                name: "r".into(),
                room_id: "abc".into(),
                send_hz: 60,
                tick_hz: 60,
                rules: serde_json::from_str(
                    r#"{"arena":{"h":600,"w":800},"item_radius":480,"motion":{"speed_px_per_s":90,"turn_rate_mrad_per_s":2950},"pos_scale":32}"#,
                )
                .unwrap(),
            },
            you: You {
                color: Some("#f00".into()),
                id: "u1".into(),
                role: Role::Player,
                seat: Some(2),
            },
        };
        // The server sends it through a JSON value: every key sorted.
        let text = serde_json::to_value(&reply).unwrap().to_string();
        assert_eq!(
            text,
            r##"{"config":{"arena":{"h":600,"w":800},"game":"curve","item_radius":480,"lobby":"main","max_players":6,"motion":{"speed_px_per_s":90,"turn_rate_mrad_per_s":2950},"name":"r","pos_scale":32,"room_id":"abc","send_hz":60,"tick_hz":60},"you":{"color":"#f00","id":"u1","role":"player","seat":2}}"##
        );
        assert_eq!(serde_json::from_str::<RoomJoined>(&text).unwrap(), reply);
        let spectator = You {
            color: None,
            id: "g1".into(),
            role: Role::Spectator,
            seat: None,
        };
        assert_eq!(
            serde_json::to_string(&spectator).unwrap(),
            r#"{"id":"g1","role":"spectator"}"#
        );
    }

    #[test]
    fn match_saved_links_its_replay() {
        assert_eq!(
            serde_json::to_string(&MatchSaved::new(42)).unwrap(),
            r##"{"match_id":42,"replay":"/#/replay/42"}"##
        );
    }

    #[test]
    fn the_frame_rate_is_the_send_rate_else_the_tick_rate() {
        let mut config: RoomConfig = serde_json::from_str(
            r#"{"arena":{"h":1,"w":1},"item_radius":1,"lobby":"l","max_players":2,"motion":{"speed_px_per_s":1,"turn_rate_mrad_per_s":1},"name":"n","pos_scale":32,"room_id":"r","send_hz":20,"tick_hz":60}"#,
        )
        .unwrap();
        assert_eq!(config.frame_hz(), Some(20));
        config.send_hz = 0;
        assert_eq!(config.frame_hz(), Some(60));
        config.tick_hz = 0;
        assert_eq!(config.frame_hz(), None);
    }
}
