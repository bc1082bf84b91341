//! A fixed-rate tick clock driven by deadlines, so it does not drift.
//!
//! Tick *n* is due at `start + n·period`, computed from the start rather than by adding
//! up sleeps, so rounding and wake-up delays never accumulate. A room that wakes late
//! runs the ticks it owes back to back, up to [`MAX_CATCH_UP`]; if it is further behind
//! than that (the machine was starved), the rest are skipped *and counted*, and the
//! schedule restarts from now.

use std::time::Duration;

use tokio::time::Instant;

/// Most overdue ticks run back to back after one late wake-up (a quarter second at
/// 60 Hz). Beyond that, catching up would only make clients see the game fast-forward.
pub const MAX_CATCH_UP: u32 = 15;

/// What the room should do after waking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Ticks to run now (≥ 1).
    pub run: u32,
    /// Ticks given up because the room was too far behind (counted in metrics).
    pub skipped: u64,
    /// How late the first due tick is.
    pub lateness: Duration,
}

#[derive(Debug)]
pub struct TickClock {
    start: Instant,
    hz: u64,
    /// Index of the next tick to run.
    next: u64,
}

impl TickClock {
    pub fn new(hz: u32, now: Instant) -> Self {
        TickClock {
            start: now,
            hz: u64::from(hz.max(1)),
            next: 1,
        }
    }

    /// One tick's length (rounded down to a nanosecond; deadlines themselves are exact).
    pub fn period(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / self.hz)
    }

    /// When the next tick is due.
    pub fn deadline(&self) -> Instant {
        self.due_at(self.next)
    }

    /// Tick `n` is due exactly `n/hz` seconds after the start (integer nanoseconds, so
    /// 60 ticks are exactly one second and nothing accumulates).
    fn due_at(&self, n: u64) -> Instant {
        let nanos = u128::from(n) * 1_000_000_000 / u128::from(self.hz);
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Called at `now` (at or after [`TickClock::deadline`]): how many ticks to run.
    pub fn wake(&mut self, now: Instant) -> Due {
        let first_due = self.due_at(self.next);
        let lateness = now.saturating_duration_since(first_due);
        let owed = 1 + (lateness.as_nanos() / self.period().as_nanos().max(1)) as u64;
        if owed <= u64::from(MAX_CATCH_UP) {
            self.next += owed;
            return Due {
                run: owed as u32,
                skipped: 0,
                lateness,
            };
        }
        // Too far behind: run a bounded burst, count the rest, restart the schedule.
        let skipped = owed - u64::from(MAX_CATCH_UP);
        self.start = now;
        self.next = 1;
        Due {
            run: MAX_CATCH_UP,
            skipped,
            lateness,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_time_wakes_run_one_tick_and_do_not_drift() {
        let t0 = Instant::now();
        let mut clock = TickClock::new(60, t0);
        for n in 1..=600u32 {
            let deadline = clock.deadline();
            // Each wake is a little late, but the deadlines stay on the grid.
            let due = clock.wake(deadline + Duration::from_micros(300));
            assert_eq!(due.run, 1, "tick {n} should run alone");
            assert_eq!(due.skipped, 0);
        }
        let expected = t0 + Duration::from_secs(10) + Duration::from_nanos(16_666_666);
        assert_eq!(
            clock.deadline(),
            expected,
            "deadlines derive from the start: no drift"
        );
    }

    #[test]
    fn a_late_wake_catches_up_the_ticks_it_owes() {
        let t0 = Instant::now();
        let mut clock = TickClock::new(60, t0);
        let late = clock.deadline() + clock.period() * 3 + Duration::from_micros(10);
        let due = clock.wake(late);
        assert_eq!(due.run, 4, "the due tick plus three overdue ones");
        assert_eq!(due.skipped, 0);
        assert!(due.lateness >= clock.period() * 3);
        assert!(
            clock.deadline() > late,
            "caught up: the next deadline is ahead"
        );
    }

    #[test]
    fn a_starved_room_skips_and_counts_beyond_the_bound() {
        let t0 = Instant::now();
        let mut clock = TickClock::new(60, t0);
        let late = clock.deadline() + Duration::from_secs(2);
        let due = clock.wake(late);
        assert_eq!(due.run, MAX_CATCH_UP);
        assert_eq!(
            due.skipped,
            121 - u64::from(MAX_CATCH_UP),
            "2 s at 60 Hz owed 121 ticks"
        );
        assert_eq!(
            clock.deadline(),
            late + clock.period(),
            "schedule restarts from now"
        );
    }
}
