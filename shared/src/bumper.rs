//! Bumper's wire (docs/design/bumper-wire.md): the binary `tick` and `snapshot`
//! (MessagePack, named fields), the JSON lifecycle payloads, and [`Board`], which
//! applies every tick to a snapshot as a client does (bots and tests use it).
//!
//! Units: positions in 1/[`POS_SCALE`] px, velocities in 1/[`POS_SCALE`] px per second,
//! times in ticks.
//!
//! **Invariant:** nothing here simulates; the server's `games::bumper` is the only author
//! of Bumper's state.

use serde::{Deserialize, Serialize};

pub use crate::envelope::CodecError;
use crate::envelope::decode_limited;
pub use crate::room::{Standing, seat_color};

/// Wire units per pixel.
pub const POS_SCALE: i32 = 32;

/// The phase of a Bumper room.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Players join and press ready; no ticks are sent.
    #[default]
    Waiting,
    /// Discs are placed and still.
    Countdown,
    /// Discs move, push and fall.
    Playing,
    /// The match ended; standings are final. Then back to `waiting`.
    Finished,
}

/// One disc on the floe in a tick. Short keys: there is one per disc per tick.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscUpdate {
    /// Seat.
    #[serde(rename = "s")]
    pub seat: u8,
    pub x: i32,
    pub y: i32,
    pub vx: i32,
    pub vy: i32,
    /// The last input `seq` applied to this seat, sent once after it changes.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<u32>,
}

/// A player as placed when play begins.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct StartPlayer {
    pub seat: u8,
    pub id: String,
    pub name: String,
    pub x: i32,
    pub y: i32,
}

/// Something that happened in a tick, in order (`e` names the kind).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum Event {
    /// The phase changed.
    Phase {
        phase: Phase,
        /// When it ends by itself, if it does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<u64>,
    },
    /// Play begins (at `playing`).
    Start {
        players: Vec<StartPlayer>,
        match_ends_at: u64,
    },
    /// A disc left the floe; `by` pushed it (touched it within 3 s).
    Fall {
        seat: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<u8>,
    },
    /// A disc appeared on the floe, at rest.
    Spawn { seat: u8, x: i32, y: i32 },
    /// A disc dashed.
    Dash { seat: u8 },
    /// A seat's totals changed.
    Score { seat: u8, points: u32, falls: u32 },
    /// A socket dropped or came back.
    Connection { seat: u8, connected: bool },
    /// A player sits in `seat`.
    Seat { seat: u8, id: String, name: String },
    /// The seat is free.
    Left { seat: u8 },
    /// A ready flag changed.
    Ready { seat: u8, ready: bool },
}

/// One tick: every disc on the floe (by seat), the floe's radius when it changed, and
/// what happened.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Tick {
    pub tick: u64,
    #[serde(rename = "d", default)]
    pub discs: Vec<DiscUpdate>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub floe_r: Option<i32>,
    #[serde(rename = "ev", default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

/// A seated player in a snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PlayerState {
    pub seat: u8,
    pub id: String,
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    pub points: u32,
    pub falls: u32,
    pub ready: bool,
    pub connected: bool,
    /// On the floe.
    pub alive: bool,
    pub x: i32,
    pub y: i32,
    pub vx: i32,
    pub vy: i32,
    /// The first tick the disc may dash again.
    pub dash_ready_at: u64,
    /// When a fallen disc comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respawn_at: Option<u64>,
    /// The last input `seq` applied to this seat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
}

/// The whole state of a Bumper room (join and resync).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The last simulated tick; the next `tick` carries `tick + 1`.
    pub tick: u64,
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_ends_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_ends_at: Option<u64>,
    /// Points that win.
    pub target: u32,
    /// The floe's radius now.
    pub floe_r: i32,
    /// Seated players by seat.
    pub players: Vec<PlayerState>,
}

/// The JSON `phase` payload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PhaseMsg {
    pub phase: Phase,
    /// The tick of the change.
    pub tick: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<u64>,
}

/// The JSON `match_end` payload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MatchEndMsg {
    /// Everyone who started the match, best first.
    pub standings: Vec<Standing>,
    /// The winner's user id; none in a draw.
    pub winner: Option<String>,
    /// Always 1: Bumper has no rounds.
    pub rounds: u32,
    pub duration_ticks: u64,
    /// Ended because fewer than two players stayed.
    pub forfeit: bool,
}

/// MessagePack (named fields) of a tick.
pub fn encode_tick(t: &Tick) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(t)?)
}

/// Decodes a tick.
pub fn decode_tick(b: &[u8]) -> Result<Tick, CodecError> {
    decode_limited(b)
}

/// Decodes a `ticks` payload.
pub fn decode_ticks(b: &[u8]) -> Result<Vec<Tick>, CodecError> {
    decode_limited(b)
}

/// MessagePack (named fields) of a snapshot.
pub fn encode_snapshot(s: &Snapshot) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(s)?)
}

/// Decodes a snapshot.
pub fn decode_snapshot(b: &[u8]) -> Result<Snapshot, CodecError> {
    decode_limited(b)
}

/// A player as a [`Board`] knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardPlayer {
    pub seat: u8,
    pub id: String,
    pub name: String,
    pub points: u32,
    pub falls: u32,
    pub ready: bool,
    pub connected: bool,
    pub alive: bool,
    pub x: i32,
    pub y: i32,
    pub vx: i32,
    pub vy: i32,
    /// The last input `seq` acknowledged to this seat.
    pub ack: Option<u32>,
}

/// A tick that does not follow the last one: the client needs a new snapshot.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("expected tick {expected}, got {got}")]
pub struct OutOfSequence {
    pub expected: u64,
    pub got: u64,
}

/// A client's state of a Bumper room: a snapshot plus every tick since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    pub tick: u64,
    pub phase: Phase,
    pub phase_ends_at: Option<u64>,
    pub match_ends_at: Option<u64>,
    pub target: u32,
    pub floe_r: i32,
    /// By seat.
    pub players: Vec<BoardPlayer>,
}

impl Board {
    /// The state a snapshot describes.
    pub fn from_snapshot(s: &Snapshot) -> Board {
        Board {
            tick: s.tick,
            phase: s.phase,
            phase_ends_at: s.phase_ends_at,
            match_ends_at: s.match_ends_at,
            target: s.target,
            floe_r: s.floe_r,
            players: s
                .players
                .iter()
                .map(|p| BoardPlayer {
                    seat: p.seat,
                    id: p.id.clone(),
                    name: p.name.clone(),
                    points: p.points,
                    falls: p.falls,
                    ready: p.ready,
                    connected: p.connected,
                    alive: p.alive,
                    x: p.x,
                    y: p.y,
                    vx: p.vx,
                    vy: p.vy,
                    ack: p.seq,
                })
                .collect(),
        }
    }

    /// The player in `seat`.
    pub fn player(&self, seat: u8) -> Option<&BoardPlayer> {
        self.players.iter().find(|p| p.seat == seat)
    }

    fn player_mut(&mut self, seat: u8) -> Option<&mut BoardPlayer> {
        self.players.iter_mut().find(|p| p.seat == seat)
    }

    /// Applies one tick: its events in order, then its discs (every disc on the floe;
    /// a seat not listed is off it). Ticks jump only after a stay in `waiting`.
    pub fn apply_tick(&mut self, t: &Tick) -> Result<(), OutOfSequence> {
        if t.tick != self.tick + 1 && self.phase != Phase::Waiting {
            return Err(OutOfSequence {
                expected: self.tick + 1,
                got: t.tick,
            });
        }
        self.tick = t.tick;
        for e in &t.events {
            self.apply_event(e);
        }
        if let Some(r) = t.floe_r {
            self.floe_r = r;
        }
        for p in &mut self.players {
            match t.discs.iter().find(|d| d.seat == p.seat) {
                Some(d) => {
                    (p.alive, p.x, p.y, p.vx, p.vy) = (true, d.x, d.y, d.vx, d.vy);
                    p.ack = d.ack.or(p.ack);
                }
                None => p.alive = false,
            }
        }
        Ok(())
    }

    fn apply_event(&mut self, e: &Event) {
        match e {
            Event::Phase { phase, ends_at } => {
                self.phase = *phase;
                self.phase_ends_at = *ends_at;
                if *phase == Phase::Waiting {
                    self.match_ends_at = None;
                    for p in &mut self.players {
                        p.ready = false;
                    }
                }
            }
            Event::Start {
                players,
                match_ends_at,
            } => {
                self.match_ends_at = Some(*match_ends_at);
                for s in players {
                    if let Some(p) = self.player_mut(s.seat) {
                        (p.x, p.y) = (s.x, s.y);
                    }
                }
            }
            Event::Fall { seat, .. } => {
                if let Some(p) = self.player_mut(*seat) {
                    p.alive = false;
                }
            }
            Event::Spawn { seat, x, y } => {
                if let Some(p) = self.player_mut(*seat) {
                    (p.alive, p.x, p.y, p.vx, p.vy) = (true, *x, *y, 0, 0);
                }
            }
            Event::Dash { .. } => {}
            Event::Score {
                seat,
                points,
                falls,
            } => {
                if let Some(p) = self.player_mut(*seat) {
                    (p.points, p.falls) = (*points, *falls);
                }
            }
            Event::Connection { seat, connected } => {
                if let Some(p) = self.player_mut(*seat) {
                    p.connected = *connected;
                }
            }
            Event::Seat { seat, id, name } => {
                if let Some(p) = self.player_mut(*seat).filter(|p| p.id == *id) {
                    p.name = name.clone();
                    return;
                }
                self.players.retain(|p| p.seat != *seat);
                let at = self.players.partition_point(|p| p.seat < *seat);
                self.players.insert(
                    at,
                    BoardPlayer {
                        seat: *seat,
                        id: id.clone(),
                        name: name.clone(),
                        points: 0,
                        falls: 0,
                        ready: false,
                        connected: true,
                        alive: false,
                        x: 0,
                        y: 0,
                        vx: 0,
                        vy: 0,
                        ack: None,
                    },
                );
            }
            Event::Left { seat } => self.players.retain(|p| p.seat != *seat),
            Event::Ready { seat, ready } => {
                if let Some(p) = self.player_mut(*seat) {
                    p.ready = *ready;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{json_form, tick_number, ticks_frame};

    fn tick() -> Tick {
        Tick {
            tick: 42,
            discs: vec![
                DiscUpdate {
                    seat: 0,
                    x: 16384,
                    y: 12288,
                    vx: -3200,
                    vy: 0,
                    ack: Some(9),
                },
                DiscUpdate {
                    seat: 3,
                    x: 1,
                    y: 2,
                    vx: 3,
                    vy: 4,
                    ack: None,
                },
            ],
            floe_r: Some(11000),
            events: vec![
                Event::Fall {
                    seat: 1,
                    by: Some(0),
                },
                Event::Score {
                    seat: 0,
                    points: 3,
                    falls: 0,
                },
                Event::Phase {
                    phase: Phase::Playing,
                    ends_at: None,
                },
            ],
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            tick: 41,
            phase: Phase::Playing,
            phase_ends_at: None,
            match_ends_at: Some(7300),
            target: 10,
            floe_r: 11520,
            players: [0u8, 1, 3]
                .iter()
                .map(|&seat| PlayerState {
                    seat,
                    id: format!("u{seat}"),
                    name: format!("P{seat}"),
                    color: seat_color(seat),
                    points: 2,
                    falls: 1,
                    ready: true,
                    connected: true,
                    alive: true,
                    x: 100,
                    y: 200,
                    vx: 0,
                    vy: 0,
                    dash_ready_at: 0,
                    respawn_at: None,
                    seq: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_tick_round_trips_with_the_wire_s_keys() {
        let t = tick();
        let b = encode_tick(&t).unwrap();
        assert_eq!(decode_tick(&b).unwrap(), t, "round trip");
        assert_eq!(tick_number(&b).unwrap(), 42, "the envelope reads `tick`");
        let v: serde_json::Value = rmp_serde::from_slice(&b).unwrap();
        assert_eq!(v["d"][0]["s"], 0, "short disc keys: {v}");
        assert_eq!(v["d"][0]["a"], 9, "the ack: {v}");
        assert!(v["d"][1].get("a").is_none(), "no ack, no key: {v}");
        assert_eq!(v["r"], 11000, "the floe radius: {v}");
        assert_eq!(
            v["ev"][0],
            serde_json::json!({"e": "fall", "seat": 1, "by": 0})
        );
        assert_eq!(
            v["ev"][2],
            serde_json::json!({"e": "phase", "phase": "playing"})
        );
    }

    #[test]
    fn a_quiet_tick_has_only_tick_and_discs() {
        let b = encode_tick(&Tick {
            tick: 7,
            ..Tick::default()
        })
        .unwrap();
        let v: serde_json::Value = rmp_serde::from_slice(&b).unwrap();
        assert_eq!(v, serde_json::json!({"tick": 7, "d": []}));
    }

    #[test]
    fn every_event_round_trips() {
        let events = vec![
            Event::Phase {
                phase: Phase::Countdown,
                ends_at: Some(180),
            },
            Event::Start {
                players: vec![StartPlayer {
                    seat: 2,
                    id: "u".into(),
                    name: "U".into(),
                    x: 5,
                    y: 6,
                }],
                match_ends_at: 900,
            },
            Event::Fall { seat: 1, by: None },
            Event::Spawn {
                seat: 1,
                x: 7,
                y: 8,
            },
            Event::Dash { seat: 2 },
            Event::Connection {
                seat: 2,
                connected: false,
            },
            Event::Seat {
                seat: 4,
                id: "v".into(),
                name: "V".into(),
            },
            Event::Left { seat: 4 },
            Event::Ready {
                seat: 2,
                ready: true,
            },
        ];
        let t = Tick {
            tick: 1,
            events,
            ..Tick::default()
        };
        let frame = ticks_frame(&[encode_tick(&t).unwrap()]);
        assert_eq!(decode_ticks(&frame).unwrap(), vec![t.clone()], "round trip");
        let json = json_form(&frame).unwrap();
        assert!(
            json.contains(r#"{"e":"spawn","seat":1,"x":7,"y":8}"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"e":"fall","seat":1}"#),
            "no by, no key: {json}"
        );
    }

    #[test]
    fn a_snapshot_round_trips() {
        let s = snapshot();
        let b = encode_snapshot(&s).unwrap();
        assert_eq!(decode_snapshot(&b).unwrap(), s, "round trip");
        assert_eq!(tick_number(&b).unwrap(), 41, "a snapshot has `tick`");
        let v: serde_json::Value = rmp_serde::from_slice(&b).unwrap();
        assert!(v.get("phase_ends_at").is_none(), "absent when none: {v}");
        assert!(v["players"][0].get("respawn_at").is_none(), "{v}");
        assert_eq!(v["players"][1]["color"], seat_color(1));
    }

    #[test]
    fn a_board_follows_ticks() {
        let mut board = Board::from_snapshot(&snapshot());
        board.apply_tick(&tick()).unwrap();
        let p0 = board.player(0).unwrap();
        assert_eq!((p0.x, p0.vx, p0.ack, p0.points), (16384, -3200, Some(9), 3));
        assert!(!board.player(1).unwrap().alive, "seat 1 fell");
        assert_eq!(board.floe_r, 11000);
        assert_eq!(
            board.apply_tick(&Tick {
                tick: 44,
                ..Tick::default()
            }),
            Err(OutOfSequence {
                expected: 43,
                got: 44
            })
        );
        let roster = Tick {
            tick: 43,
            events: vec![
                Event::Left { seat: 3 },
                Event::Seat {
                    seat: 5,
                    id: "u5".into(),
                    name: "P5".into(),
                },
                Event::Phase {
                    phase: Phase::Waiting,
                    ends_at: None,
                },
            ],
            ..Tick::default()
        };
        board.apply_tick(&roster).unwrap();
        let seats: Vec<u8> = board.players.iter().map(|p| p.seat).collect();
        assert_eq!(
            seats,
            vec![0, 1, 5],
            "seat 3 left, seat 5 sat down, in order"
        );
        assert!(board.players.iter().all(|p| !p.alive && !p.ready));
        assert_eq!(board.match_ends_at, None);
    }
}
