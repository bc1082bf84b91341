//! Wire types of a `room:<id>` topic.
//!
//! - Binary (MessagePack, named fields, [`encode_snapshot`] / [`encode_tick`]): the join
//!   [`Snapshot`] and the per-tick [`Tick`] delta.
//! - JSON lifecycle events ([`RoomEvent`]): `phase`, `round_start`, `round_end`, `match_end`.
//!
//! Units: positions and radii are integers in wire units, 1/[`POS_SCALE`] px; headings
//! are `u16` binary angles (65536 = one full turn, 0 = +x, increasing towards +y, i.e.
//! clockwise on a screen whose y axis points down); durations are ticks.

use serde::{Deserialize, Serialize};

use super::geom::Pt;

/// Wire position units per pixel: `x_px = x / POS_SCALE`.
pub const POS_SCALE: i32 = 32;

/// Heading units per full turn: `radians = heading * 2π / HEADING_TURN`.
pub const HEADING_TURN: u32 = 65536;

use crate::envelope::decode_limited;
pub use crate::envelope::{CodecError, json_form, ticks_frame};
pub use crate::room::{SEAT_COLORS, Standing, seat_color};

/// Phase of a room's game.
///
/// `round_over` is an extension of the contract's list; a room summary shows it as
/// `playing` (see [`Phase::summary`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Players join and press ready; no ticks are broadcast.
    #[default]
    Waiting,
    /// Heads are shown and rotate in place; nothing moves.
    Countdown,
    /// Heads move, draw and die.
    Playing,
    /// The round was decided; a pause before the next countdown or `finished`.
    RoundOver,
    /// The match ended; standings are final. Then back to `waiting`.
    Finished,
}

impl Phase {
    /// The phase as the contract's RoomSummary spells it
    /// (`waiting | countdown | playing | finished`).
    pub fn summary(self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Countdown => "countdown",
            Phase::Playing | Phase::RoundOver => "playing",
            Phase::Finished => "finished",
        }
    }
}

/// Power-up kinds, as in GAME.md's table.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// Picker: speed and turn rate ×1.5.
    SpeedSelf,
    /// Everyone else: speed and turn rate ×1.5.
    SpeedOthers,
    /// Picker: speed and turn rate ×2/3.
    SlowSelf,
    /// Everyone else: speed and turn rate ×2/3.
    SlowOthers,
    /// Picker: line radius ×0.5.
    ThinSelf,
    /// Everyone else: line radius ×2.
    FatOthers,
    /// Everyone else: left and right swapped.
    ReverseOthers,
    /// Picker: no trail, passes through trails and heads (walls still kill), 3 s.
    GhostSelf,
    /// Everyone: walls wrap around, 6 s.
    WrapAll,
    /// Every trail erased at once (no lasting effect).
    ClearAll,
}

impl ItemKind {
    /// Every kind, in a fixed order (the item RNG indexes this).
    pub const ALL: [ItemKind; 10] = [
        ItemKind::SpeedSelf,
        ItemKind::SpeedOthers,
        ItemKind::SlowSelf,
        ItemKind::SlowOthers,
        ItemKind::ThinSelf,
        ItemKind::FatOthers,
        ItemKind::ReverseOthers,
        ItemKind::GhostSelf,
        ItemKind::WrapAll,
        ItemKind::ClearAll,
    ];
}

/// What a head did this tick, for drawing.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(into = "u8", try_from = "u8")]
pub enum Draw {
    /// `0`: did not move (countdown: rotating in place).
    Still,
    /// `1`: moved and drew a line from its previous position.
    Solid,
    /// `2`: moved without drawing (a gap, or ghost).
    Gap,
    /// `3`: jumped across a wrapping wall; no line between the two positions.
    Wrap,
}

impl From<Draw> for u8 {
    fn from(d: Draw) -> u8 {
        match d {
            Draw::Still => 0,
            Draw::Solid => 1,
            Draw::Gap => 2,
            Draw::Wrap => 3,
        }
    }
}

impl TryFrom<u8> for Draw {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        Ok(match v {
            0 => Draw::Still,
            1 => Draw::Solid,
            2 => Draw::Gap,
            3 => Draw::Wrap,
            _ => return Err(format!("invalid draw kind {v}")),
        })
    }
}

/// Why a head died.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DeathCause {
    /// Touched a lethal wall.
    Wall,
    /// Touched a trail (`by` = its owner, possibly itself).
    Trail,
    /// Touched another head; both die (`by` = the other).
    HeadOn,
    /// Left the room, or its seat expired after a disconnect.
    Left,
}

/// Room settings a client needs to draw.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ArenaConfig {
    /// Arena width, px.
    pub w: u32,
    /// Arena height, px.
    pub h: u32,
    /// Simulation ticks per second (one `tick` message each).
    pub tick_hz: u32,
    /// Wire units per px ([`POS_SCALE`]).
    pub pos_scale: i32,
    /// Item radius, wire units.
    pub item_radius: i32,
}

/// A player as of a snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PlayerState {
    /// Seat index (0..8), also the colour index; the key used by every tick event.
    pub seat: u8,
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// Points in the current (or last) match.
    pub score: u32,
    /// Pressed ready (meaningful in `waiting`).
    pub ready: bool,
    /// Socket connected (a disconnected head keeps its last input).
    pub connected: bool,
    /// Head on the field and alive this round.
    pub alive: bool,
    /// Head position, wire units.
    pub x: i32,
    /// Head position, wire units.
    pub y: i32,
    /// Heading, u16 binary angle.
    pub heading: u16,
    /// Line (and head) radius, wire units.
    pub radius: i32,
    /// In a gap (not drawing) right now.
    pub gap: bool,
    /// The player's last polyline in [`Snapshot::trails`] is still being extended:
    /// the next `Solid` move appends to it instead of starting a new one.
    pub pen: bool,
    /// The head's exact simulation state and input acknowledgement, so a client can
    /// predict its own head from a snapshot as well as from a round start (absent from
    /// snapshots of older servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<ExactHead>,
}

/// A head's simulation state at full precision (the wire's `x`, `y`, `heading` are it
/// rounded down), and the last input `seq` applied to the seat. With it and the seat's
/// acknowledged inputs, a client's port of the motion rules reproduces every later
/// position exactly (docs/PROTOCOL.md, "Input acknowledgement and prediction").
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExactHead {
    /// Position, 1/1024 px (wire units × 32).
    pub fx: i64,
    /// Position, 1/1024 px.
    pub fy: i64,
    /// Heading, u32 binary angle (2^32 per turn); the wire `heading` is its top 16 bits.
    pub hf: u32,
    /// The last `seq` of an `input` applied to this seat, if its player sent one since
    /// connecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
}

/// A polyline of one player's trail, unbroken (no gap, no wrap, one radius).
///
/// `pts` is delta-encoded and flat: `[x0, y0, dx1, dy1, dx2, dy2, ...]` where point
/// `k` = point `k-1` + `(dxk, dyk)`; a polyline always has ≥ 2 points.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Polyline {
    /// Owner's seat.
    pub seat: u8,
    /// Radius, wire units (drawn with round caps and joins).
    pub r: i32,
    /// Delta-encoded points.
    pub pts: Vec<i32>,
}

impl Polyline {
    /// Encodes absolute points.
    pub fn from_points(seat: u8, r: i32, points: &[Pt]) -> Self {
        let mut pts = Vec::with_capacity(points.len() * 2);
        let mut prev = [0, 0];
        for p in points {
            pts.push(p[0] - prev[0]);
            pts.push(p[1] - prev[1]);
            prev = *p;
        }
        Self { seat, r, pts }
    }

    /// Decodes to absolute points.
    pub fn points(&self) -> Vec<Pt> {
        let mut out = Vec::with_capacity(self.pts.len() / 2);
        let mut cur = [0, 0];
        for d in self.pts.chunks_exact(2) {
            cur = [cur[0] + d[0], cur[1] + d[1]];
            out.push(cur);
        }
        out
    }
}

/// An item lying on the field.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Unique within a match.
    pub id: u32,
    /// What it does.
    pub kind: ItemKind,
    /// Centre, wire units.
    pub x: i32,
    /// Centre, wire units.
    pub y: i32,
}

/// An active effect.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    /// Unique within a match.
    pub id: u32,
    /// Which item caused it.
    pub kind: ItemKind,
    /// Seat of the picker.
    pub by: u8,
    /// Seats it applies to (`wrap_all`: every seat).
    pub targets: Vec<u8>,
    /// Tick at which it ends (an `effect_end` event is sent then).
    pub ends_at: u64,
}

/// The complete state of a room's game: enough to draw the arena exactly.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The last simulated tick; the next `tick` message carries `tick + 1`.
    pub tick: u64,
    /// Current phase.
    pub phase: Phase,
    /// Round number in the match (1-based; 0 before the first).
    pub round: u32,
    /// Tick at which the current phase ends by itself (countdown, round over,
    /// finished); `None` while waiting or playing.
    pub phase_ends_at: Option<u64>,
    /// Points needed to win (10·(N−1)); 0 when no match runs or in practice.
    pub target: u32,
    /// Drawing settings.
    pub config: ArenaConfig,
    /// Seated players by seat.
    pub players: Vec<PlayerState>,
    /// Every trail polyline of the round so far, in creation order.
    pub trails: Vec<Polyline>,
    /// Items on the field, by id.
    pub items: Vec<Item>,
    /// Active effects, by id.
    pub effects: Vec<Effect>,
}

/// One head's change in a tick. Short keys because there is one per head per tick.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadUpdate {
    /// Seat.
    #[serde(rename = "s")]
    pub seat: u8,
    /// New position, wire units.
    pub x: i32,
    /// New position, wire units.
    pub y: i32,
    /// New heading, u16 binary angle.
    #[serde(rename = "h")]
    pub heading: u16,
    /// What happened between the old and the new position.
    #[serde(rename = "d")]
    pub draw: Draw,
    /// The last `seq` of an `input` applied to this seat, present only when it changed
    /// since the seat's last head update that carried one (most ticks carry none, and a
    /// tick is fanned out to every member 60 times a second). The input of that `seq`
    /// steered this tick.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<u32>,
}

/// A player as announced at the start of a round.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RoundPlayer {
    /// Seat (colour index).
    pub seat: u8,
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// Points so far in this match.
    pub score: u32,
    /// Spawn position, wire units.
    pub x: i32,
    /// Spawn position, wire units.
    pub y: i32,
    /// Spawn heading.
    pub heading: u16,
    /// Spawn heading at full precision (u32 binary angle; `heading` is its top 16 bits),
    /// for a client that predicts its head. The spawn position is exact in wire units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf: Option<u32>,
    /// Line radius, wire units.
    pub radius: i32,
    /// Socket connected.
    pub connected: bool,
}

/// A seat's score.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SeatScore {
    /// Seat.
    pub seat: u8,
    /// Points.
    pub score: u32,
}

/// Something that happened in a tick, after the heads moved, in order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A round begins (its countdown starts): trails, items and effects are cleared and
    /// these players are placed; nobody else has a head.
    RoundStart {
        /// Round number.
        round: u32,
        /// Points needed to win this match (0 in practice).
        target: u32,
        /// Spawns and colours, by seat.
        players: Vec<RoundPlayer>,
    },
    /// The phase changed.
    Phase {
        /// New phase.
        phase: Phase,
        /// Round number.
        round: u32,
        /// Tick at which it ends by itself, if it does.
        ends_at: Option<u64>,
    },
    /// A head started (`on`) or ended a gap.
    Gap {
        /// Seat.
        seat: u8,
        /// In a gap now.
        on: bool,
    },
    /// A head died at its current position.
    Death {
        /// Seat.
        seat: u8,
        /// Why.
        cause: DeathCause,
        /// Whose trail or head (`trail`, `head_on`).
        by: Option<u8>,
    },
    /// A score changed.
    Score {
        /// Seat.
        seat: u8,
        /// New total.
        score: u32,
        /// Points gained.
        delta: u32,
    },
    /// An item appeared.
    ItemSpawn {
        /// The item.
        item: Item,
    },
    /// An item was picked up (and removed).
    ItemPickup {
        /// Item id.
        id: u32,
        /// Picker's seat.
        seat: u8,
    },
    /// An effect began.
    EffectStart {
        /// The effect.
        effect: Effect,
    },
    /// An effect ended.
    EffectEnd {
        /// Effect id.
        id: u32,
    },
    /// A player's line radius changed; its current polyline ends (the next solid move
    /// starts a new one).
    Radius {
        /// Seat.
        seat: u8,
        /// New radius, wire units.
        r: i32,
    },
    /// Every trail was erased (`clear_all`).
    Clear,
    /// The round was decided.
    RoundEnd {
        /// Round number.
        round: u32,
        /// The last head standing, if any.
        winner: Option<u8>,
        /// Scores by seat.
        scores: Vec<SeatScore>,
    },
    /// The match ended (sent when `finished` begins).
    MatchEnd {
        /// Winner's seat, if any.
        winner: Option<u8>,
        /// Final scores by seat (seated players only).
        scores: Vec<SeatScore>,
    },
    /// A socket dropped or came back.
    Connection {
        /// Seat.
        seat: u8,
        /// Connected now.
        connected: bool,
    },
    /// A player left its seat for good.
    Left {
        /// Seat.
        seat: u8,
    },
}

/// The per-tick delta, broadcast every tick except while `waiting`.
///
/// A client applies `heads` first (moving and drawing), then `events` in order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Tick {
    /// Consecutive tick number (the previous message, or the snapshot, had `tick - 1`;
    /// a jump only happens after a stay in `waiting`).
    pub tick: u64,
    /// Every head that moved or turned this tick, by seat.
    #[serde(default)]
    pub heads: Vec<HeadUpdate>,
    /// What happened, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

/// Payload of the JSON `phase` event.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PhaseMsg {
    /// New phase.
    pub phase: Phase,
    /// Round number (0 before the first round of a match).
    pub round: u32,
    /// The tick at which the change happened.
    pub tick: u64,
    /// Tick at which the phase ends by itself, if it does.
    pub ends_at: Option<u64>,
    /// Duration of the phase in ticks, if it ends by itself.
    pub duration_ticks: Option<u32>,
}

/// A player's line in `round_end` / `round_start`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ScoreLine {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Seat (colour index).
    pub seat: u8,
    /// `#rrggbb`.
    pub color: String,
    /// Points.
    pub score: u32,
}

/// Payload of the JSON `round_start` event.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RoundStartMsg {
    /// Round number (1-based).
    pub round: u32,
    /// Points needed to win (0 in practice).
    pub target: u32,
    /// The round's players with their scores so far.
    pub players: Vec<ScoreLine>,
}

/// Payload of the JSON `round_end` event.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RoundEndMsg {
    /// Round number.
    pub round: u32,
    /// User id of the last head standing, or null.
    pub winner: Option<String>,
    /// Scores of the seated players.
    pub scores: Vec<ScoreLine>,
}

/// Payload of the JSON `match_end` event.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MatchEndMsg {
    /// Everyone who started the match, best first.
    pub standings: Vec<Standing>,
    /// User id of the winner, or null.
    pub winner: Option<String>,
    /// Rounds played.
    pub rounds: u32,
    /// Match length in ticks.
    pub duration_ticks: u64,
    /// Ended because fewer than two players remained seated.
    pub forfeit: bool,
}

/// A JSON lifecycle event of a room, pushed to every subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomEvent {
    /// `phase`.
    Phase(PhaseMsg),
    /// `round_start`.
    RoundStart(RoundStartMsg),
    /// `round_end`.
    RoundEnd(RoundEndMsg),
    /// `match_end`.
    MatchEnd(MatchEndMsg),
}

impl RoomEvent {
    /// The Phoenix event name.
    pub fn name(&self) -> &'static str {
        match self {
            RoomEvent::Phase(_) => "phase",
            RoomEvent::RoundStart(_) => "round_start",
            RoomEvent::RoundEnd(_) => "round_end",
            RoomEvent::MatchEnd(_) => "match_end",
        }
    }

    /// The JSON payload.
    pub fn payload(&self) -> serde_json::Value {
        let v = match self {
            RoomEvent::Phase(m) => serde_json::to_value(m),
            RoomEvent::RoundStart(m) => serde_json::to_value(m),
            RoomEvent::RoundEnd(m) => serde_json::to_value(m),
            RoomEvent::MatchEnd(m) => serde_json::to_value(m),
        };
        v.unwrap_or(serde_json::Value::Null)
    }
}

/// MessagePack (named fields) of a snapshot.
pub fn encode_snapshot(s: &Snapshot) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(s)?)
}

/// Decodes a snapshot.
pub fn decode_snapshot(b: &[u8]) -> Result<Snapshot, CodecError> {
    decode_limited(b)
}

/// MessagePack (named fields) of a tick.
pub fn encode_tick(t: &Tick) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(t)?)
}

/// Decodes a tick.
pub fn decode_tick(b: &[u8]) -> Result<Tick, CodecError> {
    decode_limited(b)
}

/// MessagePack of consecutive ticks in order: the `ticks` event, sent when a room's
/// send rate is below its tick rate (an array of what `tick` carries one of).
pub fn encode_ticks(ticks: &[Tick]) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(ticks)?)
}

/// Decodes a `ticks` payload.
pub fn decode_ticks(b: &[u8]) -> Result<Vec<Tick>, CodecError> {
    decode_limited(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deeply_nested_frame_is_an_error_not_a_stack_overflow() {
        // 100,000 nested one-element arrays, then nil.
        let mut frame = vec![0x91_u8; 100_000];
        frame.push(0xc0);
        let decoded = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                (
                    decode_tick(&frame).is_err(),
                    decode_ticks(&frame).is_err(),
                    decode_snapshot(&frame).is_err(),
                )
            })
            .expect("a thread")
            .join()
            .expect("no stack overflow");
        assert_eq!(decoded, (true, true, true));
    }

    fn tick() -> Tick {
        Tick {
            tick: 42,
            heads: vec![HeadUpdate {
                seat: 1,
                x: 16000,
                y: 12000,
                heading: 65535,
                draw: Draw::Solid,
                ack: Some(7),
            }],
            events: vec![
                Event::Death {
                    seat: 2,
                    cause: DeathCause::Trail,
                    by: Some(1),
                },
                Event::Death {
                    seat: 3,
                    cause: DeathCause::Wall,
                    by: None,
                },
                Event::Clear,
                Event::ItemSpawn {
                    item: Item {
                        id: 7,
                        kind: ItemKind::WrapAll,
                        x: 1,
                        y: 2,
                    },
                },
                Event::Phase {
                    phase: Phase::RoundOver,
                    round: 3,
                    ends_at: Some(99),
                },
            ],
        }
    }

    #[test]
    fn a_ticks_frame_of_encoded_ticks_is_what_encode_ticks_gives() {
        // Across the array header's sizes: fixarray (< 16), array 16, array 32.
        for n in [1, 2, 15, 16, 17, 60, 65_535, 65_536] {
            let ticks: Vec<Tick> = (0..n)
                .map(|i| Tick {
                    tick: i as u64,
                    ..if i % 2 == 0 {
                        tick()
                    } else {
                        Tick {
                            tick: 0,
                            heads: vec![],
                            events: vec![],
                        }
                    }
                })
                .collect();
            let encoded: Vec<Vec<u8>> = ticks.iter().map(|t| encode_tick(t).unwrap()).collect();
            assert!(
                ticks_frame(&encoded) == encode_ticks(&ticks).unwrap(),
                "{n} ticks: the same bytes"
            );
        }
        assert_eq!(ticks_frame::<Vec<u8>>(&[]), encode_ticks(&[]).unwrap());
    }

    #[test]
    fn tick_round_trips_with_named_fields() {
        let t = tick();
        let b = encode_tick(&t).unwrap();
        assert_eq!(decode_tick(&b).expect("decodes"), t, "round trip");
        let v: serde_json::Value = rmp_serde::from_slice(&b).expect("generic msgpack");
        assert_eq!(v["tick"], 42, "named field tick: {v}");
        assert_eq!(v["heads"][0]["d"], 1, "draw is a small integer: {v}");
        assert_eq!(v["events"][0]["type"], "death", "events are tagged: {v}");
        assert_eq!(v["events"][0]["cause"], "trail", "snake_case enums: {v}");
    }

    #[test]
    fn the_json_form_decodes_to_the_same_tick() {
        let t = tick();
        let json = json_form(&encode_tick(&t).unwrap()).expect("a JSON form");
        let back: Tick = serde_json::from_str(&json).expect("the JSON form decodes");
        assert_eq!(back, t, "same value: {json}");
        let ticks = vec![
            t.clone(),
            Tick {
                tick: 43,
                heads: vec![],
                events: vec![],
            },
        ];
        let json = json_form(&encode_ticks(&ticks).unwrap()).expect("a JSON form");
        let back: Vec<Tick> = serde_json::from_str(&json).expect("the JSON form decodes");
        assert_eq!(back, ticks, "same ticks: {json}");
        assert!(json_form(&[0xc1]).is_err(), "not MessagePack");
    }

    #[test]
    fn empty_events_are_omitted() {
        let t = Tick {
            tick: 1,
            heads: vec![],
            events: vec![],
        };
        let b = encode_tick(&t).unwrap();
        assert_eq!(decode_tick(&b).expect("decodes"), t, "round trip");
        assert!(b.len() < 16, "an empty tick is tiny: {} bytes", b.len());
    }

    #[test]
    fn polylines_are_delta_encoded() {
        let pts = vec![[1000, 2000], [1048, 2000], [1090, 2030]];
        let p = Polyline::from_points(0, 96, &pts);
        assert_eq!(
            p.pts,
            vec![1000, 2000, 48, 0, 42, 30],
            "first absolute, then deltas"
        );
        assert_eq!(p.points(), pts, "decodes back");
    }

    #[test]
    fn lifecycle_payloads_are_json() {
        let e = RoomEvent::RoundEnd(RoundEndMsg {
            round: 2,
            winner: None,
            scores: vec![],
        });
        assert_eq!(e.name(), "round_end", "event name");
        assert_eq!(
            e.payload()["winner"],
            serde_json::Value::Null,
            "null winner"
        );
        assert_eq!(Phase::RoundOver.summary(), "playing", "summary phase");
    }
}
