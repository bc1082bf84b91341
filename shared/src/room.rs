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

/// The room's rules and rates, as the client needs them to draw and predict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomConfig {
    pub arena: ArenaSize,
    /// Item radius, wire units.
    pub item_radius: i32,
    pub lobby: String,
    pub max_players: u8,
    /// What a client needs to predict its own head with the room's rules.
    pub motion: Motion,
    pub name: String,
    /// Wire units per px.
    pub pos_scale: i32,
    pub room_id: String,
    /// Frames sent per second (each frame carries `ticks` when below `tick_hz`).
    pub send_hz: u32,
    /// Simulation ticks per second.
    pub tick_hz: u32,
}

impl RoomConfig {
    /// Frames per second the room sends: `send_hz`, else `tick_hz`; None if both are 0.
    pub fn frame_hz(&self) -> Option<u32> {
        [self.send_hz, self.tick_hz].into_iter().find(|&hz| hz > 0)
    }
}

/// The arena's size, px.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArenaSize {
    pub h: u32,
    pub w: u32,
}

/// The motion rules of the room's game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Motion {
    pub speed_px_per_s: u32,
    pub turn_rate_mrad_per_s: u32,
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
                arena: ArenaSize { h: 600, w: 800 },
                item_radius: 480,
                lobby: "main".into(),
                max_players: 6,
                motion: Motion {
                    speed_px_per_s: 90,
                    turn_rate_mrad_per_s: 2950,
                },
                name: "r".into(),
                pos_scale: 32,
                room_id: "abc".into(),
                send_hz: 60,
                tick_hz: 60,
            },
            you: You {
                color: Some("#f00".into()),
                id: "u1".into(),
                role: Role::Player,
                seat: Some(2),
            },
        };
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            text,
            r##"{"config":{"arena":{"h":600,"w":800},"item_radius":480,"lobby":"main","max_players":6,"motion":{"speed_px_per_s":90,"turn_rate_mrad_per_s":2950},"name":"r","pos_scale":32,"room_id":"abc","send_hz":60,"tick_hz":60},"you":{"color":"#f00","id":"u1","role":"player","seat":2}}"##
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
