//! Where in the tick period each room ticks, chosen so rooms spread out evenly.
//!
//! A room's tick is one burst of work (the step and one send per member). If rooms
//! start ticking whenever their players happen to be ready, their phases fall at random
//! in the period: some moments get several bursts at once and the last room of such a
//! pile-up ticks late, while the rest of the period idles. Here the period is cut into
//! [`SLOTS`] equal slots; a room that starts ticking takes a lease on the slot with the
//! fewest rooms and starts its schedule on that slot's boundary, and gives the lease
//! back when it stops ticking (idle, closed, crashed: the lease is dropped).

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// Slots per tick period (at 60 Hz, one every 0.52 ms).
pub const SLOTS: usize = 32;

/// How many ticking rooms hold each slot.
#[derive(Debug)]
pub struct PhaseTable {
    counts: Mutex<[u32; SLOTS]>,
    /// The instant every slot boundary is measured from.
    epoch: Instant,
}

/// A room's slot; given back when dropped.
#[derive(Debug)]
pub struct PhaseLease {
    table: &'static PhaseTable,
    slot: usize,
}

impl PhaseTable {
    /// The process's table.
    pub fn global() -> &'static PhaseTable {
        static TABLE: OnceLock<PhaseTable> = OnceLock::new();
        TABLE.get_or_init(PhaseTable::new)
    }

    fn new() -> Self {
        PhaseTable {
            counts: Mutex::new([0; SLOTS]),
            epoch: Instant::now(),
        }
    }

    fn counts(&self) -> MutexGuard<'_, [u32; SLOTS]> {
        // Every critical section is one read or one increment: nothing is left half done.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the least-held slot (the lowest-numbered among equals).
    pub fn lease(&'static self) -> PhaseLease {
        let mut counts = self.counts();
        let slot = (0..SLOTS)
            .min_by_key(|&i| counts[i])
            .expect("SLOTS is not zero");
        counts[slot] += 1;
        PhaseLease { table: self, slot }
    }

    /// How many rooms hold each slot.
    #[cfg(test)]
    fn snapshot(&self) -> [u32; SLOTS] {
        *self.counts()
    }
}

impl PhaseLease {
    #[cfg(test)]
    fn slot(&self) -> usize {
        self.slot
    }

    /// The first boundary of this lease's slot at or after `now`, for a tick `period`
    /// long: a schedule started there ticks on the slot.
    pub fn start_at_or_after(&self, now: Instant, period: Duration) -> Instant {
        let period_ns = period.as_nanos().max(1);
        let offset_ns = period_ns * self.slot as u128 / SLOTS as u128;
        let since = now.saturating_duration_since(self.table.epoch).as_nanos();
        let into_period = since % period_ns;
        let wait = (offset_ns + period_ns - into_period) % period_ns;
        now + Duration::from_nanos(u64::try_from(wait).unwrap_or(0))
    }
}

impl Drop for PhaseLease {
    fn drop(&mut self) {
        let mut counts = self.table.counts();
        counts[self.slot] = counts[self.slot].saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> &'static PhaseTable {
        Box::leak(Box::new(PhaseTable::new()))
    }

    #[test]
    fn leases_fill_every_slot_before_doubling_any() {
        let table = table();
        let leases: Vec<PhaseLease> = (0..SLOTS * 2 + 3).map(|_| table.lease()).collect();
        let counts = table.snapshot();
        assert!(counts[..3].iter().all(|&c| c == 3), "{counts:?}");
        assert!(counts[3..].iter().all(|&c| c == 2), "{counts:?}");
        drop(leases);
        assert_eq!(
            table.snapshot(),
            [0; SLOTS],
            "dropped leases give slots back"
        );
    }

    #[test]
    fn a_freed_slot_is_taken_next() {
        let table = table();
        let mut leases: Vec<PhaseLease> = (0..SLOTS).map(|_| table.lease()).collect();
        let freed = leases.remove(7);
        assert_eq!(freed.slot(), 7);
        drop(freed);
        assert_eq!(table.lease().slot(), 7);
    }

    #[test]
    fn a_schedule_starts_on_its_slot_boundary_within_one_period() {
        let table = table();
        let period = Duration::from_nanos(16_666_666);
        let leases: Vec<PhaseLease> = (0..SLOTS).map(|_| table.lease()).collect();
        let now = Instant::now();
        let epoch = table.epoch;
        for lease in &leases {
            let start = lease.start_at_or_after(now, period);
            assert!(start >= now && start < now + period);
            let into = (start - epoch).as_nanos() % period.as_nanos();
            let want = period.as_nanos() * lease.slot() as u128 / SLOTS as u128;
            assert!(
                into.abs_diff(want) <= 1,
                "slot {} starts {into} ns into the period, not {want}",
                lease.slot()
            );
        }
    }
}
