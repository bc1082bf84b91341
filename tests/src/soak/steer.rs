//! Steering a bot's curve: look ahead along each of the three turns and keep the one
//! that stays clear longest.

use kurve_shared::game::{Arena, ArenaPlayer, ItemKind, Pt};

/// Speed assumed until one is observed: 1.5 px per tick in wire units.
pub const DEFAULT_SPEED: f64 = 48.0;

/// Heading change per tick while turning, until one is observed (≈ 2.95 rad/s at 60 Hz).
pub const DEFAULT_TURN_RATE: f64 = 513.0;

/// How many ticks ahead a path is checked.
const LOOKAHEAD: u32 = 48;

/// A path is checked every this many ticks (with segment checks between samples).
const SAMPLE_EVERY: u32 = 6;

/// The first checked sample: closer than this the bot's own fresh trail is in the way.
const FIRST_SAMPLE: u32 = 8;

/// Extra clearance around the head, wire units (2 px).
const MARGIN: i32 = 64;

/// What a bot has learnt about its own motion.
#[derive(Debug, Clone, Copy)]
pub struct Motion {
    /// Wire units per tick.
    pub speed: f64,
    /// Heading units per tick while turning.
    pub turn_rate: f64,
}

impl Default for Motion {
    fn default() -> Self {
        Motion {
            speed: DEFAULT_SPEED,
            turn_rate: DEFAULT_TURN_RATE,
        }
    }
}

impl Motion {
    /// Learns from one observed step of the bot's own head.
    pub fn observe(&mut self, from: Pt, to: Pt, heading_delta: i16) {
        let (dx, dy) = ((to[0] - from[0]) as f64, (to[1] - from[1]) as f64);
        let d = (dx * dx + dy * dy).sqrt();
        // Ignore wraps and respawns: a real step is a few px at most.
        if d > 1.0 && d < 8.0 * DEFAULT_SPEED {
            self.speed = 0.8 * self.speed + 0.2 * d;
        }
        let dh = f64::from(heading_delta.unsigned_abs());
        if dh > 1.0 && dh < 8.0 * DEFAULT_TURN_RATE {
            self.turn_rate = 0.8 * self.turn_rate + 0.2 * dh;
        }
    }
}

/// How many ticks the path with a constant `turn` stays clear (up to [`LOOKAHEAD`]).
pub fn clear_ticks(arena: &Arena, me: &ArenaPlayer, turn: i8, motion: Motion) -> u32 {
    let r = me.radius.max(32) + MARGIN;
    let mut heading = f64::from(me.heading);
    let (mut x, mut y) = (f64::from(me.pos[0]), f64::from(me.pos[1]));
    let mut prev: Option<Pt> = None;
    for step in 1..=LOOKAHEAD {
        heading += f64::from(turn) * motion.turn_rate;
        let angle = heading / 65536.0 * std::f64::consts::TAU;
        x += angle.cos() * motion.speed;
        y += angle.sin() * motion.speed;
        if step < FIRST_SAMPLE || !(step - FIRST_SAMPLE).is_multiple_of(SAMPLE_EVERY) {
            continue;
        }
        let p: Pt = [x.round() as i32, y.round() as i32];
        if !arena.is_free(p, r, Some(me.seat)) {
            return step;
        }
        if let Some(a) = prev
            && arena.path_hits_trail(a, p, r)
        {
            return step;
        }
        prev = Some(p);
    }
    LOOKAHEAD + 1
}

/// The turn to hold next: the current one while its path is clear (unless `wiggle`
/// asks for a change), otherwise the clearest of the three.
pub fn choose(
    arena: &Arena,
    me: &ArenaPlayer,
    current: i8,
    motion: Motion,
    wiggle: Option<i8>,
) -> i8 {
    let reversed = arena
        .effects
        .iter()
        .any(|e| e.kind == ItemKind::ReverseOthers && e.targets.contains(&me.seat));
    // The server turns a reversed head the other way: plan in screen terms, send the
    // input that produces it.
    let to_input = |t: i8| if reversed { -t } else { t };
    let current_screen = to_input(current);
    if let Some(w) = wiggle
        && w != current_screen
        && clear_ticks(arena, me, w, motion) > LOOKAHEAD
    {
        return to_input(w);
    }
    let here = clear_ticks(arena, me, current_screen, motion);
    if here > LOOKAHEAD {
        return current;
    }
    let mut best = (here, current_screen);
    for t in [0, -1, 1] {
        if t == current_screen {
            continue;
        }
        let c = clear_ticks(arena, me, t, motion);
        if c > best.0 {
            best = (c, t);
        }
    }
    to_input(best.1)
}

/// The signed heading change between two headings (binary angles).
pub fn heading_delta(from: u16, to: u16) -> i16 {
    to.wrapping_sub(from) as i16
}

/// Whether an effect reverses `seat`'s steering right now.
pub fn reversed(arena: &Arena, seat: u8) -> bool {
    arena
        .effects
        .iter()
        .any(|e| e.kind == ItemKind::ReverseOthers && e.targets.contains(&seat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kurve_shared::game::{ArenaConfig, Phase, PlayerState, Snapshot};

    fn arena_with_head(x: i32, y: i32, heading: u16) -> Arena {
        Arena::from_snapshot(&Snapshot {
            tick: 1,
            phase: Phase::Playing,
            round: 1,
            phase_ends_at: None,
            target: 10,
            config: ArenaConfig {
                w: 1024,
                h: 768,
                tick_hz: 60,
                pos_scale: 32,
                item_radius: 448,
            },
            players: vec![PlayerState {
                seat: 0,
                id: "u".into(),
                name: "n".into(),
                color: "#fff".into(),
                score: 0,
                ready: true,
                connected: true,
                alive: true,
                x,
                y,
                heading,
                radius: 96,
                gap: false,
                pen: false,
                exact: None,
            }],
            trails: vec![],
            items: vec![],
            effects: vec![],
        })
    }

    #[test]
    fn keeps_going_in_open_field_and_turns_before_a_wall() {
        let a = arena_with_head(512 * 32, 384 * 32, 0);
        let me = a.player(0).unwrap().clone();
        assert_eq!(choose(&a, &me, 0, Motion::default(), None), 0);
        // 40 px from the right wall, heading right: must turn.
        let a = arena_with_head(984 * 32, 384 * 32, 0);
        let me = a.player(0).unwrap().clone();
        assert!(clear_ticks(&a, &me, 0, Motion::default()) <= LOOKAHEAD);
        assert_ne!(choose(&a, &me, 0, Motion::default(), None), 0);
    }

    #[test]
    fn heading_delta_wraps() {
        assert_eq!(heading_delta(65500, 100), 136);
        assert_eq!(heading_delta(100, 65500), -136);
    }
}
