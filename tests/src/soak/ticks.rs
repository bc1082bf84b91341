//! Room frames by tick number: decoding them, and the delivery and jitter they add up to.
//!
//! A room sends its deltas as the binary broadcast `tick` (one MessagePack `Tick`) or,
//! when its network send rate (`send_hz`) is below its tick rate, as `ticks` (an array
//! of consecutive `Tick`s, in order, one frame per send period). Delivery is counted
//! by tick number, so a `ticks` frame counts every tick it carries and duplicates and
//! gaps show; jitter is measured per frame, against the send period.

use std::time::Instant;

use kurve_shared::game::{self, Tick};
use serde::Deserialize;

use super::stats::LocalStats;

/// The binary event of one tick.
pub const TICK: &[u8] = b"tick";

/// The binary event of several consecutive ticks.
pub const TICKS: &[u8] = b"ticks";

/// Frames per second assumed until the room's join reply says otherwise (kurve's tick
/// rate).
pub const DEFAULT_FRAME_HZ: u32 = 60;

/// The tick number of a `Tick`; every other field is skipped.
#[derive(Deserialize)]
struct TickNo {
    tick: u64,
}

/// Appends the tick numbers of a `tick` or `ticks` payload to `out`, decoding nothing
/// else; another event adds nothing.
pub fn tick_numbers(
    event: &[u8],
    payload: &[u8],
    out: &mut Vec<u64>,
) -> Result<(), rmp_serde::decode::Error> {
    match event {
        TICK => out.push(rmp_serde::from_slice::<TickNo>(payload)?.tick),
        TICKS => {
            let ticks: Vec<TickNo> = rmp_serde::from_slice(payload)?;
            out.extend(ticks.iter().map(|t| t.tick));
        }
        _ => {}
    }
    Ok(())
}

/// The whole ticks of a `tick` or `ticks` payload, in order, for bots that keep an arena.
pub fn decode_ticks(event: &[u8], payload: &[u8]) -> Result<Vec<Tick>, game::CodecError> {
    match event {
        TICKS => Ok(rmp_serde::from_slice(payload)?),
        _ => Ok(vec![game::decode_tick(payload)?]),
    }
}

/// One bot's tick stream: what was received and expected, by tick number, and how
/// evenly frames arrive.
#[derive(Debug, Clone)]
pub struct TickTrack {
    /// The last tick counted; `None` at the start of a sequence (joining a waiting room,
    /// or after a stay in `waiting`, after which tick numbers jump).
    last: Option<u64>,
    /// Arrival of the last frame, while the sequence runs.
    last_frame: Option<Instant>,
    /// Expected time between frames, µs (1 / send rate).
    period_us: u64,
}

impl TickTrack {
    /// A track expecting `frame_hz` frames per second, at the start of a sequence.
    pub fn new(frame_hz: u32) -> Self {
        TickTrack {
            last: None,
            last_frame: None,
            period_us: 1_000_000 / u64::from(frame_hz.max(1)),
        }
    }

    /// Sets the expected frame rate (from the room's join reply).
    pub fn set_frame_hz(&mut self, frame_hz: u32) {
        self.period_us = 1_000_000 / u64::from(frame_hz.max(1));
    }

    /// The last tick counted.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Starts over: after `after` (a snapshot's tick) when given, otherwise with
    /// whatever tick comes next. The next frame is not timed.
    pub fn restart(&mut self, after: Option<u64>) {
        self.last = after;
        self.last_frame = None;
    }

    /// A resync: the server found this member behind, dropped the ticks queued for it
    /// and sent a fresh snapshot at `tick`; ticks resume at `tick + 1`. The ticks
    /// between the last one counted and `tick` count as expected and not received (so
    /// delivery shows them as missed, not as an error), and the sequence restarts at
    /// `tick`. Returns how many were skipped.
    pub fn resync(&mut self, tick: u64, local: &mut LocalStats) -> u64 {
        let skipped = self.last.map_or(0, |last| tick.saturating_sub(last));
        local.ticks_expected += skipped;
        self.restart(Some(tick));
        skipped
    }

    /// Counts one frame's ticks (in the order they came): each tick past the last one
    /// counts as received, the numbers skipped to reach it as expected, and a tick at
    /// or before the last one as a duplicate. A frame whose first tick follows the last
    /// one directly adds a jitter sample: |time since the previous frame − period|.
    pub fn frame(&mut self, now: Instant, ticks: &[u64], local: &mut LocalStats) {
        let Some(&first) = ticks.first() else {
            return;
        };
        local.frames_received += 1;
        let continues = self.last.is_some_and(|last| first == last + 1);
        if continues && let Some(previous) = self.last_frame {
            let dt = now.duration_since(previous).as_micros() as u64;
            local.jitter_us.push(dt.abs_diff(self.period_us));
        }
        for &tick in ticks {
            match self.last {
                Some(last) if tick <= last => {
                    local.ticks_duplicate += 1;
                    continue;
                }
                Some(last) => local.ticks_expected += tick - last,
                None => local.ticks_expected += 1,
            }
            local.ticks_received += 1;
            self.last = Some(tick);
        }
        self.last_frame = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn frames_count_every_tick_they_carry() {
        let t0 = Instant::now();
        let mut track = TickTrack::new(20);
        let mut local = LocalStats::default();
        track.restart(Some(10));
        track.frame(t0, &[11, 12, 13], &mut local);
        track.frame(t0 + Duration::from_millis(60), &[14, 15, 16], &mut local);
        assert_eq!((local.ticks_received, local.ticks_expected), (6, 6));
        assert_eq!(local.frames_received, 2);
        assert_eq!(
            local.jitter_us,
            vec![10_000],
            "60 ms against a 50 ms period"
        );
        // A gap of two ticks, then a duplicate.
        track.frame(t0 + Duration::from_millis(110), &[19, 20], &mut local);
        track.frame(t0 + Duration::from_millis(160), &[20, 21], &mut local);
        assert_eq!((local.ticks_received, local.ticks_expected), (9, 11));
        assert_eq!(local.ticks_duplicate, 1);
        assert_eq!(
            local.jitter_us.len(),
            1,
            "neither a gap nor an overlap is timed"
        );
        // After a stay in waiting the numbers jump without counting as a gap.
        track.restart(None);
        track.frame(t0 + Duration::from_secs(5), &[500], &mut local);
        assert_eq!((local.ticks_received, local.ticks_expected), (10, 12));
        assert_eq!(track.last(), Some(500));
    }

    #[test]
    fn a_resync_counts_the_skipped_ticks_as_missed() {
        let t0 = Instant::now();
        let mut track = TickTrack::new(60);
        let mut local = LocalStats::default();
        track.restart(Some(100));
        track.frame(t0, &[101], &mut local);
        track.frame(t0 + Duration::from_millis(16), &[102], &mut local);
        // Behind: ticks 103..=140 were dropped, the snapshot is at 140.
        assert_eq!(track.resync(140, &mut local), 38);
        track.frame(t0 + Duration::from_millis(700), &[141], &mut local);
        track.frame(t0 + Duration::from_millis(716), &[142], &mut local);
        assert_eq!(
            (local.ticks_received, local.ticks_expected),
            (4, 42),
            "4 received; 101–142 expected (the snapshot's own tick included)"
        );
        assert_eq!(local.ticks_duplicate, 0, "no tick came twice");
        assert_eq!(
            local.jitter_us.len(),
            2,
            "the first frame after the snapshot is not timed against the one before it"
        );
        let mut fresh = TickTrack::new(60);
        assert_eq!(
            fresh.resync(500, &mut local),
            0,
            "nothing is missed when no sequence ran (waiting, or the first snapshot)"
        );
    }
}
