//! The client-side arena: a [`Snapshot`] plus every [`Tick`] applied in order gives
//! exactly the state the server drew. Rust bots and tests use it; the browser client
//! implements the same rules (see `docs/PROTOCOL.md`).

use super::geom::{Pt, dist2};
use super::grid::{Segment, SegmentGrid};
use super::wire::{
    ArenaConfig, Draw, Effect, Event, Item, ItemKind, Phase, PlayerState, Polyline, Snapshot, Tick,
    seat_color,
};

/// Grid cell side for the arena's `is_free` index, px.
const GRID_CELL_PX: i32 = 16;

/// A player as the arena knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaPlayer {
    /// Seat (colour index).
    pub seat: u8,
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// Points.
    pub score: u32,
    /// Ready flag.
    pub ready: bool,
    /// Socket connected.
    pub connected: bool,
    /// Head alive this round.
    pub alive: bool,
    /// Head position, wire units.
    pub pos: Pt,
    /// Heading, u16 binary angle.
    pub heading: u16,
    /// Line radius, wire units.
    pub radius: i32,
    /// In a gap.
    pub gap: bool,
    /// Index into [`Arena::trails`] of the polyline being extended, if any.
    pub open: Option<usize>,
}

/// One unbroken piece of trail, with absolute points (wire units).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trail {
    /// Owner's seat.
    pub seat: u8,
    /// Radius, wire units.
    pub r: i32,
    /// Points, ≥ 2.
    pub points: Vec<Pt>,
}

/// Applying a tick failed: the client missed messages and needs a new snapshot.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArenaError {
    /// A tick arrived out of sequence.
    #[error("expected tick {expected}, got {got}")]
    OutOfSequence {
        /// `last + 1`.
        expected: u64,
        /// What arrived.
        got: u64,
    },
}

/// The reconstructed state of a room's game.
#[derive(Clone, Debug)]
pub struct Arena {
    /// Last applied tick.
    pub tick: u64,
    /// Phase.
    pub phase: Phase,
    /// Round number.
    pub round: u32,
    /// Tick at which the phase ends by itself.
    pub phase_ends_at: Option<u64>,
    /// Points needed to win.
    pub target: u32,
    /// Drawing settings.
    pub config: ArenaConfig,
    /// Players by seat.
    pub players: Vec<ArenaPlayer>,
    /// Trails in creation order.
    pub trails: Vec<Trail>,
    /// Items on the field.
    pub items: Vec<Item>,
    /// Active effects.
    pub effects: Vec<Effect>,
    grid: SegmentGrid,
}

impl PartialEq for Arena {
    fn eq(&self, o: &Self) -> bool {
        self.tick == o.tick
            && self.phase == o.phase
            && self.round == o.round
            && self.phase_ends_at == o.phase_ends_at
            && self.target == o.target
            && self.config == o.config
            && self.players == o.players
            && self.trails == o.trails
            && self.items == o.items
            && self.effects == o.effects
    }
}

impl Arena {
    /// Builds the arena from a join snapshot.
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let cfg = &s.config;
        let grid = SegmentGrid::new(
            cfg.w as i32 * cfg.pos_scale,
            cfg.h as i32 * cfg.pos_scale,
            GRID_CELL_PX * cfg.pos_scale,
        );
        let mut a = Arena {
            tick: 0,
            phase: Phase::Waiting,
            round: 0,
            phase_ends_at: None,
            target: 0,
            config: cfg.clone(),
            players: Vec::new(),
            trails: Vec::new(),
            items: Vec::new(),
            effects: Vec::new(),
            grid,
        };
        a.apply_snapshot(s);
        a
    }

    /// Replaces the whole state by a snapshot (a join or a resync).
    pub fn apply_snapshot(&mut self, s: &Snapshot) {
        self.tick = s.tick;
        self.phase = s.phase;
        self.round = s.round;
        self.phase_ends_at = s.phase_ends_at;
        self.target = s.target;
        self.config = s.config.clone();
        self.items = s.items.clone();
        self.effects = s.effects.clone();
        self.grid = SegmentGrid::new(
            self.config.w as i32 * self.config.pos_scale,
            self.config.h as i32 * self.config.pos_scale,
            GRID_CELL_PX * self.config.pos_scale,
        );
        self.trails.clear();
        for pl in &s.trails {
            let t = Trail {
                seat: pl.seat,
                r: pl.r,
                points: pl.points(),
            };
            for w in t.points.windows(2) {
                self.grid.insert(Segment {
                    a: w[0],
                    b: w[1],
                    r: t.r,
                    seat: t.seat,
                    arc: 0,
                });
            }
            self.trails.push(t);
        }
        self.players = s
            .players
            .iter()
            .map(|p: &PlayerState| ArenaPlayer {
                seat: p.seat,
                id: p.id.clone(),
                name: p.name.clone(),
                color: p.color.clone(),
                score: p.score,
                ready: p.ready,
                connected: p.connected,
                alive: p.alive,
                pos: [p.x, p.y],
                heading: p.heading,
                radius: p.radius,
                gap: p.gap,
                open: if p.pen {
                    self.trails.iter().rposition(|t| t.seat == p.seat)
                } else {
                    None
                },
            })
            .collect();
    }

    /// The player in `seat`, if seated.
    pub fn player(&self, seat: u8) -> Option<&ArenaPlayer> {
        self.players.iter().find(|p| p.seat == seat)
    }

    fn player_mut(&mut self, seat: u8) -> Option<&mut ArenaPlayer> {
        self.players.iter_mut().find(|p| p.seat == seat)
    }

    /// Applies one tick: heads first, then events in order.
    pub fn apply_tick(&mut self, t: &Tick) -> Result<(), ArenaError> {
        if t.tick != self.tick + 1 && self.phase != Phase::Waiting {
            return Err(ArenaError::OutOfSequence {
                expected: self.tick + 1,
                got: t.tick,
            });
        }
        self.tick = t.tick;
        for h in &t.heads {
            self.apply_head(h.seat, [h.x, h.y], h.heading, h.draw);
        }
        for e in &t.events {
            self.apply_event(e);
        }
        Ok(())
    }

    fn apply_head(&mut self, seat: u8, to: Pt, heading: u16, draw: Draw) {
        let Some(idx) = self.players.iter().position(|p| p.seat == seat) else {
            return;
        };
        let (from, open, r) = {
            let p = &self.players[idx];
            (p.pos, p.open, p.radius)
        };
        let mut new_open = open;
        match draw {
            Draw::Still => {}
            Draw::Solid => {
                match open {
                    Some(i) => self.trails[i].points.push(to),
                    None => {
                        self.trails.push(Trail {
                            seat,
                            r,
                            points: vec![from, to],
                        });
                        new_open = Some(self.trails.len() - 1);
                    }
                }
                let tr = &self.trails[new_open.unwrap_or_default()];
                self.grid.insert(Segment {
                    a: from,
                    b: to,
                    r: tr.r,
                    seat,
                    arc: 0,
                });
            }
            Draw::Gap | Draw::Wrap => new_open = None,
        }
        let p = &mut self.players[idx];
        p.pos = to;
        p.heading = heading;
        p.open = new_open;
    }

    fn apply_event(&mut self, e: &Event) {
        match e {
            Event::RoundStart {
                round,
                target,
                players,
            } => {
                self.round = *round;
                self.target = *target;
                self.trails.clear();
                self.grid.clear();
                self.items.clear();
                self.effects.clear();
                self.players = players
                    .iter()
                    .map(|p| ArenaPlayer {
                        seat: p.seat,
                        id: p.id.clone(),
                        name: p.name.clone(),
                        color: if p.color.is_empty() {
                            seat_color(p.seat)
                        } else {
                            p.color.clone()
                        },
                        score: p.score,
                        ready: true,
                        connected: p.connected,
                        alive: true,
                        pos: [p.x, p.y],
                        heading: p.heading,
                        radius: p.radius,
                        gap: false,
                        open: None,
                    })
                    .collect();
            }
            Event::Phase {
                phase,
                round,
                ends_at,
            } => {
                self.phase = *phase;
                self.round = *round;
                self.phase_ends_at = *ends_at;
                if *phase == Phase::Waiting {
                    // Back to waiting: the board is cleared and ready flags reset.
                    self.trails.clear();
                    self.grid.clear();
                    self.items.clear();
                    self.effects.clear();
                    for p in &mut self.players {
                        p.ready = false;
                        p.alive = false;
                        p.open = None;
                    }
                }
            }
            Event::Gap { seat, on } => {
                if let Some(p) = self.player_mut(*seat) {
                    p.gap = *on;
                }
            }
            Event::Death { seat, .. } => {
                if let Some(p) = self.player_mut(*seat) {
                    p.alive = false;
                    p.open = None;
                }
            }
            Event::Score { seat, score, .. } => {
                if let Some(p) = self.player_mut(*seat) {
                    p.score = *score;
                }
            }
            Event::ItemSpawn { item } => self.items.push(item.clone()),
            Event::ItemPickup { id, .. } => self.items.retain(|i| i.id != *id),
            Event::EffectStart { effect } => self.effects.push(effect.clone()),
            Event::EffectEnd { id } => self.effects.retain(|x| x.id != *id),
            Event::Radius { seat, r } => {
                if let Some(p) = self.player_mut(*seat) {
                    p.radius = *r;
                    p.open = None;
                }
            }
            Event::Clear => {
                self.trails.clear();
                self.grid.clear();
                for p in &mut self.players {
                    p.open = None;
                }
            }
            Event::RoundEnd { scores, .. } | Event::MatchEnd { scores, .. } => {
                for s in scores {
                    if let Some(p) = self.player_mut(s.seat) {
                        p.score = s.score;
                    }
                }
            }
            Event::Connection { seat, connected } => {
                if let Some(p) = self.player_mut(*seat) {
                    p.connected = *connected;
                }
            }
            Event::Left { seat } => self.players.retain(|p| p.seat != *seat),
        }
    }

    /// The trails as wire polylines (the same form a snapshot carries).
    pub fn polylines(&self) -> Vec<Polyline> {
        self.trails
            .iter()
            .map(|t| Polyline::from_points(t.seat, t.r, &t.points))
            .collect()
    }

    /// Whether walls wrap right now (a `wrap_all` effect is active).
    pub fn walls_wrap(&self) -> bool {
        self.effects.iter().any(|e| e.kind == ItemKind::WrapAll)
    }

    /// Whether a circle at `p` with radius `r` (wire units) touches nothing lethal:
    /// no wall (unless walls wrap), no trail, no living head. `ignore` skips one seat's
    /// head (a bot's own). Bots use this to look ahead.
    pub fn is_free(&self, p: Pt, r: i32, ignore: Option<u8>) -> bool {
        let (w, h) = (
            self.config.w as i32 * self.config.pos_scale,
            self.config.h as i32 * self.config.pos_scale,
        );
        if !self.walls_wrap() && (p[0] - r < 0 || p[1] - r < 0 || p[0] + r > w || p[1] + r > h) {
            return false;
        }
        if self.grid.first_hit(p, p, r, |_| false).is_some() {
            return false;
        }
        !self.players.iter().any(|o| {
            o.alive && Some(o.seat) != ignore && {
                let rr = (r + o.radius) as i64;
                dist2(p, o.pos) < rr * rr
            }
        })
    }

    /// [`Arena::is_free`] in pixels.
    pub fn is_free_px(&self, x: f64, y: f64, r: f64, ignore: Option<u8>) -> bool {
        let s = self.config.pos_scale as f64;
        self.is_free(
            [(x * s) as i32, (y * s) as i32],
            (r * s).ceil() as i32,
            ignore,
        )
    }

    /// Whether a segment from `a` to `b` with radius `r` touches a trail (no walls, no
    /// heads): for path checks longer than one step.
    pub fn path_hits_trail(&self, a: Pt, b: Pt, r: i32) -> bool {
        self.grid.first_hit(a, b, r, |_| false).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::wire::{HeadUpdate, RoundPlayer};

    fn empty() -> Snapshot {
        Snapshot {
            tick: 10,
            phase: Phase::Countdown,
            round: 1,
            phase_ends_at: Some(20),
            target: 10,
            config: ArenaConfig {
                w: 1024,
                h: 768,
                tick_hz: 60,
                pos_scale: 32,
                item_radius: 448,
            },
            players: vec![],
            trails: vec![],
            items: vec![],
            effects: vec![],
        }
    }

    fn start() -> Event {
        let p = |seat: u8, x: i32| RoundPlayer {
            seat,
            id: format!("u{seat}"),
            name: "n".into(),
            color: seat_color(seat),
            score: 0,
            x,
            y: 3200,
            heading: 0,
            hf: None,
            radius: 96,
            connected: true,
        };
        Event::RoundStart {
            round: 1,
            target: 10,
            players: vec![p(0, 3200), p(1, 9600)],
        }
    }

    /// An arena from the empty snapshot whose round started at tick 11.
    fn started() -> Arena {
        let mut a = Arena::from_snapshot(&empty());
        a.apply_tick(&Tick {
            tick: 11,
            heads: vec![],
            events: vec![start()],
        })
        .expect("seq");
        a
    }

    fn mv(tick: u64, seat: u8, x: i32, draw: Draw) -> Tick {
        Tick {
            tick,
            heads: vec![HeadUpdate {
                seat,
                x,
                y: 3200,
                heading: 0,
                draw,
                ack: None,
            }],
            events: vec![],
        }
    }

    #[test]
    fn applies_heads_then_events_and_breaks_lines_at_gaps() {
        let mut a = started();
        a.apply_tick(&mv(12, 0, 3248, Draw::Solid)).expect("seq");
        a.apply_tick(&mv(13, 0, 3296, Draw::Solid)).expect("seq");
        assert_eq!(a.trails.len(), 1, "one polyline");
        assert_eq!(
            a.trails[0].points,
            vec![[3200, 3200], [3248, 3200], [3296, 3200]],
            "extended"
        );
        a.apply_tick(&mv(14, 0, 3344, Draw::Gap)).expect("seq");
        a.apply_tick(&mv(15, 0, 3392, Draw::Solid)).expect("seq");
        assert_eq!(a.trails.len(), 2, "a gap breaks the line");
        assert_eq!(
            a.trails[1].points,
            vec![[3344, 3200], [3392, 3200]],
            "new line starts where the gap ended"
        );
        assert_eq!(
            a.apply_tick(&mv(17, 0, 0, Draw::Still)),
            Err(ArenaError::OutOfSequence {
                expected: 16,
                got: 17
            }),
            "a missed tick is detected"
        );
    }

    #[test]
    fn is_free_sees_walls_trails_and_heads() {
        let mut a = started();
        a.apply_tick(&mv(12, 0, 6400, Draw::Solid)).expect("seq");
        assert!(!a.is_free([4800, 3200], 96, Some(0)), "on the trail");
        assert!(a.is_free([4800, 3600], 96, Some(0)), "12.5 px beside it");
        assert!(!a.is_free([50, 3600], 96, None), "in the wall");
        assert!(!a.is_free([9600, 3250], 96, Some(0)), "on another head");
        assert!(a.is_free_px(500.0, 500.0, 3.0, None), "open field");
    }

    /// The server resyncs a member that fell behind with a fresh snapshot at any time
    /// (CONTRACT §10): it replaces everything, trails and collision grid included, and
    /// ticks continue from `snapshot.tick + 1`.
    #[test]
    fn a_snapshot_mid_round_is_a_full_reset() {
        let mut a = started();
        a.apply_tick(&mv(12, 0, 6400, Draw::Solid)).expect("seq");
        assert!(
            !a.is_free([4800, 3200], 96, Some(0)),
            "a trail before the resync"
        );
        let mut later = empty();
        later.tick = 40;
        later.phase = Phase::Playing;
        a.apply_snapshot(&later);
        assert_eq!((a.tick, a.trails.len(), a.players.len()), (40, 0, 0));
        assert!(
            a.is_free([4800, 3200], 96, Some(0)),
            "the old trail is gone from the grid"
        );
        assert_eq!(
            a.apply_tick(&mv(13, 0, 6448, Draw::Solid)),
            Err(ArenaError::OutOfSequence {
                expected: 41,
                got: 13
            }),
            "ticks from before the snapshot do not apply"
        );
        a.apply_tick(&mv(41, 0, 6448, Draw::Solid))
            .expect("the tick after the snapshot");
    }
}
