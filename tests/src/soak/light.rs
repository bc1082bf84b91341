//! Light bots: room members that do not rebuild the arena.
//!
//! A light bot signs in, joins its lobby and room and presses ready exactly as a
//! steering bot does (the same [`super::bot`] code). In the room it reads only the tick
//! numbers of each frame ([`super::ticks::tick_numbers`]) and the phase (from the
//! snapshot's head, then from `phase` events), and a player sends `input` at a fixed
//! rate, cycling through its game's inputs ([`inputs_for`]: Curve turns -1, 0, +1;
//! Bumper pushes round the compass and dashes), whatever the arena looks like. Besides delivery and
//! jitter (the [`super::ticks::TickTrack`] every bot keeps) it measures input → next
//! tick: the time from sending an input to the first frame carrying a tick newer than
//! the last one seen when the input was sent.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use kurve_shared::game::Phase;
use serde::Deserialize;
use serde::de::IntoDeserializer;
use serde::de::value::{Error as ValueError, StrDeserializer};

use super::stats::LocalStats;

/// The inputs a light Curve player sends, in turn.
const TURNS: [&str; 3] = [r#"{"turn":-1}"#, r#"{"turn":0}"#, r#"{"turn":1}"#];

/// The inputs a light Bumper player sends, in turn.
const PUSHES: [&str; 4] = [
    r#"{"move":[100,0]}"#,
    r#"{"move":[0,100],"dash":true}"#,
    r#"{"move":[-100,0]}"#,
    r#"{"move":[0,-100]}"#,
];

/// The inputs a light player of `game` cycles through; None for a game it cannot play.
pub fn inputs_for(game: &str) -> Option<&'static [&'static str]> {
    match game {
        "curve" => Some(&TURNS),
        "bumper" => Some(&PUSHES),
        _ => None,
    }
}

/// At most this many inputs are timed at once; more are sent untimed until a frame
/// answers the oldest (only when frames stop coming).
const MAX_PENDING: usize = 256;

/// What a light bot reads of a snapshot; every other field is skipped.
#[derive(Debug, Deserialize)]
pub struct SnapshotHead {
    pub tick: u64,
    pub phase: Phase,
}

/// Decodes the tick and phase of a `snapshot` payload.
pub fn snapshot_head(payload: &[u8]) -> Result<SnapshotHead, rmp_serde::decode::Error> {
    rmp_serde::from_slice(payload)
}

/// A phase by its wire name (`waiting`, `countdown`, `playing`, ...).
pub fn phase_named(name: &str) -> Option<Phase> {
    let de: StrDeserializer<'_, ValueError> = name.into_deserializer();
    Phase::deserialize(de).ok()
}

/// A light bot's state in its room.
#[derive(Debug)]
pub struct LightRoom {
    /// The room's phase; `None` until the snapshot.
    pub phase: Option<Phase>,
    /// Time between inputs; `None` for a spectator, which sends none.
    every: Option<Duration>,
    /// When the next input is due.
    due: Instant,
    /// The inputs it cycles through, and the index of the next.
    inputs: &'static [&'static str],
    next_turn: usize,
    /// Inputs awaiting a newer tick: (the last tick seen when sent, sent at), oldest
    /// first.
    pending: VecDeque<(u64, Instant)>,
}

impl LightRoom {
    /// A player sending `input_hz` inputs a second, the first one `spread` (0–1) of a
    /// period from `now` so that bots do not send in lockstep; or, with `None`, a
    /// spectator.
    pub fn new(input_hz: Option<u32>, now: Instant, spread: f64) -> Self {
        Self::playing(&TURNS, input_hz, now, spread)
    }

    /// [`LightRoom::new`] for a game whose inputs are `inputs`.
    pub fn playing(
        inputs: &'static [&'static str],
        input_hz: Option<u32>,
        now: Instant,
        spread: f64,
    ) -> Self {
        let every = input_hz.map(|hz| Duration::from_secs_f64(1.0 / f64::from(hz.max(1))));
        LightRoom {
            phase: None,
            every,
            due: now + every.unwrap_or_default().mul_f64(spread.clamp(0.0, 1.0)),
            inputs,
            next_turn: 0,
            pending: VecDeque::new(),
        }
    }

    /// When the next input is due, for a player.
    pub fn input_due(&self) -> Option<Instant> {
        self.every.map(|_| self.due)
    }

    /// The input payload to send at `now`, if one is due and ticks flow (not in
    /// `waiting`, nor before the snapshot). It is timed from `last_tick`, the last tick
    /// seen; without one it goes untimed. A bot that fell behind skips, never bursts.
    pub fn input(&mut self, now: Instant, last_tick: Option<u64>) -> Option<&'static str> {
        let every = self.every?;
        if now < self.due {
            return None;
        }
        self.due += every;
        if self.due <= now {
            self.due = now + every;
        }
        if matches!(self.phase, None | Some(Phase::Waiting)) {
            return None;
        }
        let payload = self.inputs[self.next_turn % self.inputs.len()];
        self.next_turn = (self.next_turn + 1) % self.inputs.len();
        if let Some(last) = last_tick
            && self.pending.len() < MAX_PENDING
        {
            self.pending.push_back((last, now));
        }
        Some(payload)
    }

    /// A frame carrying ticks up to `newest` arrived at `now`: every input sent when the
    /// last tick seen was older has its answer.
    pub fn frame(&mut self, now: Instant, newest: u64, local: &mut LocalStats) {
        while let Some(&(seen, sent)) = self.pending.front()
            && seen < newest
        {
            local
                .input_tick_us
                .push(now.duration_since(sent).as_micros() as u64);
            self.pending.pop_front();
        }
    }

    /// The room went to `waiting` (ticks stop, and their numbers jump after it).
    pub fn on_waiting(&mut self) {
        self.phase = Some(Phase::Waiting);
        self.pending.clear();
    }

    /// A new snapshot: inputs in flight are no longer timed.
    pub fn on_snapshot(&mut self, phase: Phase) {
        self.phase = Some(phase);
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kurve_shared::game::{ArenaConfig, Snapshot, encode_snapshot};

    #[test]
    fn inputs_cycle_and_are_answered_by_a_newer_tick() {
        let t0 = Instant::now();
        let mut room = LightRoom::new(Some(10), t0, 0.0);
        assert_eq!(
            room.input(t0, Some(5)),
            None,
            "no input before the snapshot"
        );
        room.on_snapshot(Phase::Playing);
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(room.input(at(100), Some(5)), Some(TURNS[0]));
        assert_eq!(room.input(at(150), Some(5)), None, "not due yet");
        assert_eq!(room.input(at(200), Some(5)), Some(TURNS[1]));
        let mut local = LocalStats::default();
        room.frame(at(210), 5, &mut local);
        assert!(local.input_tick_us.is_empty(), "tick 5 is not newer");
        assert_eq!(room.input(at(300), Some(6)), Some(TURNS[2]));
        room.frame(at(320), 7, &mut local);
        assert_eq!(local.input_tick_us, vec![220_000, 120_000, 20_000]);
        assert_eq!(
            room.input(at(400), Some(7)),
            Some(TURNS[0]),
            "the cycle restarts"
        );
        room.on_waiting();
        assert_eq!(room.input(at(500), Some(7)), None, "none while waiting");
        assert_eq!(room.input_due(), Some(at(600)));
        assert_eq!(LightRoom::new(None, t0, 0.5).input_due(), None, "spectator");
    }

    #[test]
    fn snapshot_heads_and_phase_names_decode() {
        let snapshot = Snapshot {
            tick: 77,
            phase: Phase::Countdown,
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
            players: vec![],
            trails: vec![],
            items: vec![],
            effects: vec![],
        };
        let head = snapshot_head(&encode_snapshot(&snapshot).unwrap()).unwrap();
        assert_eq!((head.tick, head.phase), (77, Phase::Countdown));
        assert_eq!(phase_named("round_over"), Some(Phase::RoundOver));
        assert_eq!(phase_named("waiting"), Some(Phase::Waiting));
        assert_eq!(phase_named("nap"), None);
    }
}
