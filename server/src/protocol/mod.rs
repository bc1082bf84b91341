//! What clients may send on each topic, decoded once at the edge (the socket's task)
//! into typed values: actors never pick raw JSON apart. A payload that does not decode
//! is refused there with `bad_payload` naming the field at fault; [`error`] holds every
//! refusal a channel can answer with.
//!
//! This module imports none of the actors or the socket: `socket`, `actor`, `lobby`
//! and `room` all import it, never the reverse.

pub mod error;

use kurve_shared::lobby::ChatIn;
use kurve_shared::phoenix::InPayload;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use error::ChannelError;

/// Lobby names and room ids: 1–32 of `[a-z0-9_-]`.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A client event on `lobby:<name>`.
#[derive(Debug, Clone, PartialEq)]
pub enum LobbyEvent {
    Chat(ChatIn),
    CreateRoom(CreateRoom),
    QuickJoin(QuickJoin),
    /// Test hook: the lobby panics (refused as unknown without `--test-hooks`).
    DebugCrash,
}

/// `create_room`, as sent; the lobby checks it against the rules.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    pub name: Option<String>,
    pub max_players: Option<u8>,
    #[serde(default)]
    pub private: bool,
    pub password: Option<String>,
    /// Frames per second this room sends (1 to 240; default the server's).
    pub send_hz: Option<u32>,
    /// The game it plays (`GET /api/games`; default `curve`).
    pub game: Option<String>,
}

/// `quick_join {"game"?}`: a seat in a waiting room of that game (default `curve`),
/// or a new room. Other keys are ignored, as they were before games could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct QuickJoin {
    pub game: Option<String>,
}

/// A client event on `room:<id>`. Between nodes (the relay) it travels as JSON in a
/// shape nodes from before the choice of games read too ([`RoomEventWire`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(from = "RoomEventWire", into = "RoomEventWire")]
pub enum RoomEvent {
    /// `input {…, "seq"?: u32}`: the rest of the payload is the game's (Curve's is
    /// `{"turn": -1|0|1}`), which the room's game decodes. `seq` (increasing per socket
    /// and room) is acknowledged in the seat's ticks (docs/PROTOCOL.md, "Input
    /// acknowledgement and prediction"); inputs without one are applied the same way.
    Input {
        payload: serde_json::Value,
        seq: Option<u32>,
    },
    /// `ready {"ready"?}` (default true).
    Ready { ready: bool },
    /// Test hook: the room panics (refused as unknown without `--test-hooks`).
    DebugCrash,
}

/// [`RoomEvent`] between nodes. An input also carries its `turn` beside the payload when
/// it has one: a node from before games reads Curve's input as
/// `{"Input":{"turn":-1,"seq":null}}` (and ignores `payload`), and such a node's input,
/// which has no `payload`, is read here as the Curve input it is. A cluster can thus be
/// upgraded one node at a time.
#[derive(serde::Serialize, Deserialize)]
enum RoomEventWire {
    Input {
        #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
        payload: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn: Option<i64>,
        seq: Option<u32>,
    },
    Ready {
        ready: bool,
    },
    DebugCrash,
}

impl From<RoomEventWire> for RoomEvent {
    fn from(wire: RoomEventWire) -> RoomEvent {
        match wire {
            RoomEventWire::Input {
                payload: serde_json::Value::Null,
                turn: Some(turn),
                seq,
            } => RoomEvent::Input {
                payload: serde_json::json!({ "turn": turn }),
                seq,
            },
            RoomEventWire::Input { payload, seq, .. } => RoomEvent::Input { payload, seq },
            RoomEventWire::Ready { ready } => RoomEvent::Ready { ready },
            RoomEventWire::DebugCrash => RoomEvent::DebugCrash,
        }
    }
}

impl From<RoomEvent> for RoomEventWire {
    fn from(event: RoomEvent) -> RoomEventWire {
        match event {
            RoomEvent::Input { payload, seq } => RoomEventWire::Input {
                turn: payload.get("turn").and_then(serde_json::Value::as_i64),
                payload,
                seq,
            },
            RoomEvent::Ready { ready } => RoomEventWire::Ready { ready },
            RoomEvent::DebugCrash => RoomEventWire::DebugCrash,
        }
    }
}

/// A client event on `replay:<match_id>`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplayEvent {
    /// `control {"speed"?: 0|0.5|1|2|4, "seek_tick"?: N}`: pause or change speed, and
    /// jump (both may come in one event).
    Control {
        speed: Option<Speed>,
        seek_tick: Option<u64>,
    },
}

/// A replay speed: 0 (paused), 0.5, 1, 2 or 4 times real time.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct Speed(pub f64);

impl TryFrom<f64> for Speed {
    type Error = String;
    fn try_from(value: f64) -> Result<Self, String> {
        if [0.0, 0.5, 1.0, 2.0, 4.0].contains(&value) {
            Ok(Speed(value))
        } else {
            Err(format!("speed must be 0, 0.5, 1, 2 or 4, not {value}"))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlIn {
    speed: Option<Speed>,
    seek_tick: Option<u64>,
}

impl ReplayEvent {
    pub fn decode(event: &str, payload: InPayload) -> Result<Self, ChannelError> {
        Ok(match event {
            "control" => {
                let control: ControlIn = decode(payload)?;
                ReplayEvent::Control {
                    speed: control.speed,
                    seek_tick: control.seek_tick,
                }
            }
            _ => return Err(ChannelError::UnknownEvent),
        })
    }
}

/// A client event on `admin:stats` (the operator's socket only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminEvent {
    /// `rooms {}`: every room with its tick.
    Rooms,
    /// `close_room {"id"}`.
    CloseRoom { id: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseRoomIn {
    id: String,
}

impl AdminEvent {
    pub fn decode(event: &str, payload: InPayload) -> Result<Self, ChannelError> {
        Ok(match event {
            "rooms" => AdminEvent::Rooms,
            "close_room" => AdminEvent::CloseRoom {
                id: decode::<CloseRoomIn>(payload)?.id,
            },
            _ => return Err(ChannelError::UnknownEvent),
        })
    }
}

/// How a client joins a room.
pub use kurve_shared::room::Role;

/// `phx_join` params of a room: `{"as"?, "password"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
pub struct RoomJoin {
    #[serde(rename = "as", default)]
    pub role: Role,
    pub password: Option<String>,
}

/// The runtime's part of an `input`: the game reads the rest.
#[derive(Deserialize)]
struct InputSeq {
    /// A client that predicts numbers its inputs; u32, so a negative or oversized
    /// `seq` is refused naming the field.
    #[serde(default)]
    seq: Option<u32>,
}

#[derive(Deserialize)]
struct ReadyIn {
    #[serde(default = "yes")]
    ready: bool,
}

fn yes() -> bool {
    true
}

impl LobbyEvent {
    pub fn decode(event: &str, payload: InPayload) -> Result<Self, ChannelError> {
        Ok(match event {
            "chat" => LobbyEvent::Chat(decode(payload)?),
            "create_room" => LobbyEvent::CreateRoom(decode(payload)?),
            // Lenient: before games, clients sent anything here.
            "quick_join" => LobbyEvent::QuickJoin(decode(payload).unwrap_or_default()),
            "debug_crash" => LobbyEvent::DebugCrash,
            _ => return Err(ChannelError::UnknownEvent),
        })
    }
}

impl RoomEvent {
    pub fn decode(event: &str, payload: InPayload) -> Result<Self, ChannelError> {
        Ok(match event {
            "input" => {
                let payload = match payload {
                    InPayload::Json(serde_json::Value::Object(map)) => {
                        serde_json::Value::Object(map)
                    }
                    InPayload::Json(serde_json::Value::Null) => serde_json::json!({}),
                    _ => return Err(ChannelError::BadPayload { field: None }),
                };
                let seq = decode_json::<InputSeq>(&payload)?.seq;
                RoomEvent::Input { payload, seq }
            }
            "ready" => RoomEvent::Ready {
                ready: decode::<ReadyIn>(payload)?.ready,
            },
            "debug_crash" => RoomEvent::DebugCrash,
            _ => return Err(ChannelError::UnknownEvent),
        })
    }
}

impl RoomJoin {
    /// Decodes room join params (absent or null params are `{}`).
    pub fn decode(params: serde_json::Value) -> Result<Self, ChannelError> {
        decode(InPayload::Json(params))
    }
}

/// Decodes a game's part of a JSON payload into `T` (a game's `input`), refusing it as
/// the edge refuses any payload: `bad_payload` naming the field at fault.
pub fn decode_json<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, ChannelError> {
    decode(InPayload::Json(value.clone()))
}

/// Decodes a JSON payload into `T`; a null payload counts as `{}`. The error names the
/// path of the first field that does not fit.
fn decode<T: DeserializeOwned>(payload: InPayload) -> Result<T, ChannelError> {
    let value = match payload {
        InPayload::Json(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
        InPayload::Json(value) => value,
        InPayload::Binary(_) => return Err(ChannelError::BadPayload { field: None }),
    };
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." {
            // serde reports a missing or unknown field at the level that holds it.
            field_named_in(&error.inner().to_string())
        } else {
            Some(path)
        };
        ChannelError::BadPayload { field }
    })
}

/// The field a serde message quotes (`missing field `body``, `unknown field `x``).
fn field_named_in(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bad(field: &str) -> ChannelError {
        ChannelError::BadPayload {
            field: Some(field.into()),
        }
    }

    #[test]
    fn room_events_decode_or_name_the_field() {
        let j = InPayload::Json;
        assert_eq!(
            RoomEvent::decode("input", j(json!({"turn": -1}))),
            Ok(RoomEvent::Input {
                payload: json!({"turn": -1}),
                seq: None
            })
        );
        assert_eq!(
            RoomEvent::decode("input", j(json!({"turn": 1, "seq": 4_000_000_000u32}))),
            Ok(RoomEvent::Input {
                payload: json!({"turn": 1, "seq": 4_000_000_000u32}),
                seq: Some(4_000_000_000)
            }),
            "seq is a u32"
        );
        assert_eq!(
            RoomEvent::decode("input", j(json!({"turn": 1, "seq": -1}))),
            Err(bad("seq"))
        );
        assert_eq!(
            RoomEvent::decode("input", j(json!({"turn": 1, "seq": 5_000_000_000u64}))),
            Err(bad("seq"))
        );
        assert_eq!(
            RoomEvent::decode("input", j(json!([1]))),
            Err(ChannelError::BadPayload { field: None }),
            "an input is an object; the game reads its fields"
        );
        assert_eq!(
            RoomEvent::decode("ready", j(json!({}))),
            Ok(RoomEvent::Ready { ready: true })
        );
        assert_eq!(
            RoomEvent::decode("ready", j(json!(null))),
            Ok(RoomEvent::Ready { ready: true })
        );
        assert_eq!(
            RoomEvent::decode("ready", j(json!({"ready": false}))),
            Ok(RoomEvent::Ready { ready: false })
        );
        assert_eq!(
            RoomEvent::decode("ready", j(json!({"ready": "yes"}))),
            Err(bad("ready"))
        );
        assert_eq!(
            RoomEvent::decode("ready", InPayload::Binary(bytes::Bytes::new())),
            Err(ChannelError::BadPayload { field: None })
        );
        assert_eq!(
            RoomEvent::decode("fly", j(json!({}))),
            Err(ChannelError::UnknownEvent)
        );
    }

    #[test]
    fn room_events_cross_nodes_of_either_version() {
        let curve = RoomEvent::Input {
            payload: json!({"turn": -1, "seq": 3}),
            seq: Some(3),
        };
        let text = serde_json::to_value(&curve).unwrap();
        assert_eq!(
            text,
            json!({"Input": {"payload": {"turn": -1, "seq": 3}, "turn": -1, "seq": 3}}),
            "a node from before games reads `turn` and `seq`"
        );
        assert_eq!(serde_json::from_value::<RoomEvent>(text).unwrap(), curve);
        let old: RoomEvent = serde_json::from_str(r#"{"Input":{"turn":1,"seq":null}}"#)
            .expect("an old node's input");
        assert_eq!(
            old,
            RoomEvent::Input {
                payload: json!({"turn": 1}),
                seq: None
            }
        );
        let bumper = RoomEvent::Input {
            payload: json!({"move": [100, 0], "dash": true}),
            seq: None,
        };
        let text = serde_json::to_string(&bumper).unwrap();
        assert!(!text.contains("\"turn\""), "{text}");
        assert_eq!(serde_json::from_str::<RoomEvent>(&text).unwrap(), bumper);
        for event in [RoomEvent::Ready { ready: false }, RoomEvent::DebugCrash] {
            let text = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<RoomEvent>(&text).unwrap(), event);
        }
        assert_eq!(
            serde_json::to_string(&RoomEvent::Ready { ready: true }).unwrap(),
            r#"{"Ready":{"ready":true}}"#,
            "as before games"
        );
    }

    #[test]
    fn lobby_events_decode_or_name_the_field() {
        let j = InPayload::Json;
        assert_eq!(
            LobbyEvent::decode("chat", j(json!({"body": "hi"}))),
            Ok(LobbyEvent::Chat(ChatIn { body: "hi".into() }))
        );
        assert_eq!(LobbyEvent::decode("chat", j(json!({}))), Err(bad("body")));
        assert_eq!(
            LobbyEvent::decode("chat", j(json!({"body": 5}))),
            Err(bad("body"))
        );
        assert_eq!(
            LobbyEvent::decode("create_room", j(json!({"max_players": 300}))),
            Err(bad("max_players"))
        );
        assert_eq!(
            LobbyEvent::decode("create_room", j(json!({"colour": "red"}))),
            Err(bad("colour"))
        );
        assert!(matches!(
            LobbyEvent::decode("create_room", j(json!({"name": "x", "private": true}))),
            Ok(LobbyEvent::CreateRoom(CreateRoom { private: true, .. }))
        ));
        assert_eq!(
            LobbyEvent::decode("quick_join", j(json!({}))),
            Ok(LobbyEvent::QuickJoin(QuickJoin::default()))
        );
    }

    #[test]
    fn room_join_params() {
        assert_eq!(RoomJoin::decode(json!(null)), Ok(RoomJoin::default()));
        assert_eq!(
            RoomJoin::decode(json!({"as": "spectator", "password": "pw"})),
            Ok(RoomJoin {
                role: Role::Spectator,
                password: Some("pw".into())
            })
        );
        assert_eq!(RoomJoin::decode(json!({"as": "referee"})), Err(bad("as")));
        assert_eq!(
            RoomJoin::decode(json!({"password": 1})),
            Err(bad("password"))
        );
    }
}
