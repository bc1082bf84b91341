//! Precise tick deadlines for rooms: one timer thread instead of tokio's timer wheel.
//!
//! tokio's timers have a granularity of one millisecond and fire from whichever worker
//! happens to turn its timer wheel, so a room's tick could be up to a millisecond late
//! before it even waits in the run queue. Here one thread keeps every room's next
//! deadline in a heap and sleeps on a condition variable until the earliest one
//! (nanosecond timeouts; Linux wakes it within tens of microseconds), then wakes that
//! room's task. Rooms start at different moments, so their phases are spread over the
//! tick period and wake-ups do not bunch up.
//!
//! Each room owns one [`Alarm`]; it holds at most one live entry in the heap at a time.
//! An entry left behind by a wait the room abandoned (its `select!` took another
//! branch) still fires, and the wake is absorbed: [`Alarm::sleep_until`] only returns
//! once the deadline has (nearly) passed. Deadlines within [`COALESCE`] of each other
//! fire from one wake-up, so rooms due together run back to back.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use tokio::sync::Notify;

/// Deadlines this close together are fired by one wake-up of the timer thread: the
/// rooms involved then run back to back instead of each waking a parked worker. A tick
/// may so run up to this much early, never late for it.
const COALESCE: std::time::Duration = std::time::Duration::from_micros(250);

/// A room's handle on the timer thread.
pub struct Alarm {
    slot: Arc<Slot>,
    timer: &'static Timer,
}

struct Slot {
    notify: Notify,
    /// The deadline this slot has an entry for, to add one entry per deadline only.
    armed: Mutex<Option<Instant>>,
}

struct Entry {
    at: Instant,
    /// Breaks ties so the heap never compares slots.
    seq: u64,
    slot: Arc<Slot>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Heap {
    entries: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

struct Timer {
    heap: Mutex<Heap>,
    /// Signalled when an entry earlier than every other is added.
    earlier: Condvar,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a push, a pop or a read: a panic cannot leave it half done.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The process's timer thread, started on first use.
fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            heap: Mutex::new(Heap::default()),
            earlier: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("kurve-ticks".into())
            .spawn(move || timer.run())
            .expect("the tick timer thread starts");
        timer
    })
}

impl Timer {
    /// Fires every entry whose time has come, then sleeps until the next one.
    fn run(&self) {
        let mut heap = lock(&self.heap);
        loop {
            let now = Instant::now();
            let next = heap.entries.peek().map(|Reverse(entry)| entry.at);
            match next {
                Some(at) if at <= now + COALESCE => {
                    let Some(Reverse(entry)) = heap.entries.pop() else {
                        continue;
                    };
                    let mut armed = lock(&entry.slot.armed);
                    if *armed == Some(entry.at) {
                        *armed = None;
                    }
                    drop(armed);
                    entry.slot.notify.notify_one();
                }
                Some(at) => {
                    heap = self
                        .earlier
                        .wait_timeout(heap, at - now)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0;
                }
                None => {
                    heap = self
                        .earlier
                        .wait(heap)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
        }
    }

    fn add(&self, at: Instant, slot: Arc<Slot>) {
        let mut heap = lock(&self.heap);
        let earliest = heap.entries.peek().is_none_or(|Reverse(e)| at < e.at);
        heap.seq += 1;
        let seq = heap.seq;
        heap.entries.push(Reverse(Entry { at, seq, slot }));
        drop(heap);
        if earliest {
            self.earlier.notify_one();
        }
    }
}

impl Default for Alarm {
    fn default() -> Self {
        Self::new()
    }
}

impl Alarm {
    pub fn new() -> Self {
        Alarm {
            slot: Arc::new(Slot {
                notify: Notify::new(),
                armed: Mutex::new(None),
            }),
            timer: timer(),
        }
    }

    /// Completes at `deadline`, or up to [`COALESCE`] before it when the timer thread
    /// fires it together with an earlier one; never later for that. Cancel-safe: dropping the future
    /// leaves at most one entry behind, whose wake-up is harmless.
    pub async fn sleep_until(&self, deadline: Instant) {
        loop {
            if Instant::now() + COALESCE >= deadline {
                return;
            }
            let notified = self.slot.notify.notified();
            self.arm(deadline);
            notified.await;
        }
    }

    fn arm(&self, deadline: Instant) {
        let mut armed = lock(&self.slot.armed);
        if *armed == Some(deadline) {
            return;
        }
        *armed = Some(deadline);
        drop(armed);
        self.timer.add(deadline, self.slot.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn wakes_at_or_after_the_deadline_in_order() {
        let alarms: Vec<Alarm> = (0..20).map(|_| Alarm::new()).collect();
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (i, alarm) in alarms.into_iter().enumerate() {
            // Deadlines in reverse order of registration.
            let deadline = start + Duration::from_millis(2 * (20 - i as u64));
            tasks.push(tokio::spawn(async move {
                alarm.sleep_until(deadline).await;
                (deadline, Instant::now())
            }));
        }
        for task in tasks {
            let (deadline, woke) = task.await.unwrap();
            assert!(
                woke + COALESCE >= deadline,
                "never earlier than the coalescing slack"
            );
        }
    }

    #[tokio::test]
    async fn an_abandoned_wait_does_not_wake_the_next_one_early() {
        let alarm = Alarm::new();
        let soon = Instant::now() + Duration::from_millis(1);
        // Start a wait and abandon it: its entry stays in the heap.
        let _ = tokio::time::timeout(Duration::from_micros(10), alarm.sleep_until(soon)).await;
        let later = Instant::now() + Duration::from_millis(20);
        alarm.sleep_until(later).await;
        assert!(
            Instant::now() + COALESCE >= later,
            "the stale entry's wake was absorbed"
        );
    }
}
