//! Counters shared by every bot, and the latency histograms.
//!
//! Counters are relaxed atomics; bots batch per-tick counts and histogram samples
//! locally ([`LocalStats`]) and flush them now and then, so a tick costs no lock.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hdrhistogram::Histogram;

/// Largest recorded value, µs (60 s); larger samples are clamped.
const HIST_MAX_US: u64 = 60_000_000;

/// Samples a bot gathers before taking the histogram lock.
const LOCAL_BATCH: usize = 128;

/// Every counter of a run.
#[derive(Default)]
pub struct Stats {
    pub launched: AtomicU64,
    pub signed_in: AtomicU64,
    pub connected_now: AtomicU64,
    pub connected_peak: AtomicU64,
    pub connected_total: AtomicU64,
    pub lobby_joins_ok: AtomicU64,
    pub lobby_joins_failed: AtomicU64,
    pub room_joins_ok: AtomicU64,
    pub room_joins_failed: AtomicU64,
    pub rooms_created: AtomicU64,
    pub rounds: AtomicU64,
    pub matches: AtomicU64,
    pub presence_complete: AtomicU64,
    /// When the last bot first saw its whole lobby, µs since the run started.
    pub presence_last_complete_us: AtomicU64,
    /// When the first lobby join was sent, µs since the run started (+1, 0 = none yet).
    pub first_join_us: AtomicU64,
    pub snapshots: AtomicU64,
    /// Snapshots the server sent a member it found behind (not the one after a join).
    pub resyncs: AtomicU64,
    /// Ticks skipped by resyncs: between the last tick seen and the snapshot's tick.
    /// They count as expected and not received.
    pub ticks_skipped_by_resync: AtomicU64,
    pub ticks_received: AtomicU64,
    pub ticks_expected: AtomicU64,
    /// Ticks that came again (at or before the last one counted).
    pub ticks_duplicate: AtomicU64,
    /// Room frames carrying ticks (`tick` or `ticks`).
    pub frames_received: AtomicU64,
    pub inputs_sent: AtomicU64,
    /// Bots done getting in: in their lobby and room, or failed on the way.
    pub settled: AtomicU64,
    pub heartbeats: AtomicU64,
    /// Bots whose socket ended before the run's stop (closed by the server, an error,
    /// or given up after a failed lobby join); the errors say why.
    pub disconnects: AtomicU64,
    /// Bots connected through the netem proxy.
    pub netem_bots: AtomicU64,
    hists: Mutex<Hists>,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// Latency histograms, µs.
pub struct Hists {
    /// |inter-arrival − frame period| between consecutive frames.
    pub jitter: Histogram<u64>,
    /// Input sent → first tick whose heading reflects it (steering bots).
    pub echo: Histogram<u64>,
    /// Input sent → first frame with a tick newer than the last one seen (light bots).
    pub input_tick: Histogram<u64>,
    /// Lobby join sent → join reply.
    pub join: Histogram<u64>,
}

impl Default for Hists {
    fn default() -> Self {
        let h = || Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid histogram bounds");
        Hists {
            jitter: h(),
            echo: h(),
            input_tick: h(),
            join: h(),
        }
    }
}

impl Stats {
    /// Counts one error of `kind`.
    pub fn error(&self, kind: impl Into<String>) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *errors.entry(kind.into()).or_default() += 1;
    }

    /// A copy of the error counts.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `f` on the histograms under their lock.
    pub fn with_hists<T>(&self, f: impl FnOnce(&mut Hists) -> T) -> T {
        f(&mut self.hists.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn connected(&self) {
        self.connected_total.fetch_add(1, Relaxed);
        let now = self.connected_now.fetch_add(1, Relaxed) + 1;
        self.connected_peak.fetch_max(now, Relaxed);
    }

    pub fn disconnected(&self) {
        self.connected_now.fetch_sub(1, Relaxed);
    }
}

/// What one bot gathers between flushes.
#[derive(Default)]
pub struct LocalStats {
    pub ticks_received: u64,
    pub ticks_expected: u64,
    pub ticks_duplicate: u64,
    pub frames_received: u64,
    pub jitter_us: Vec<u64>,
    pub echo_us: Vec<u64>,
    pub input_tick_us: Vec<u64>,
}

impl LocalStats {
    /// Whether enough has gathered to be worth a flush.
    pub fn due(&self) -> bool {
        self.ticks_received >= LOCAL_BATCH as u64
            || self.jitter_us.len() >= LOCAL_BATCH
            || self.echo_us.len() >= LOCAL_BATCH
            || self.input_tick_us.len() >= LOCAL_BATCH
    }

    /// Moves everything into `stats`.
    pub fn flush(&mut self, stats: &Stats) {
        for (local, shared) in [
            (&mut self.ticks_received, &stats.ticks_received),
            (&mut self.ticks_expected, &stats.ticks_expected),
            (&mut self.ticks_duplicate, &stats.ticks_duplicate),
            (&mut self.frames_received, &stats.frames_received),
        ] {
            if *local > 0 {
                shared.fetch_add(std::mem::take(local), Relaxed);
            }
        }
        if !self.jitter_us.is_empty() || !self.echo_us.is_empty() || !self.input_tick_us.is_empty()
        {
            stats.with_hists(|h| {
                let record = |hist: &mut Histogram<u64>, samples: &mut Vec<u64>| {
                    for v in samples.drain(..) {
                        hist.saturating_record(v.clamp(1, HIST_MAX_US));
                    }
                };
                record(&mut h.jitter, &mut self.jitter_us);
                record(&mut h.echo, &mut self.echo_us);
                record(&mut h.input_tick, &mut self.input_tick_us);
            });
        }
    }
}

/// p50 / p99 / max of a histogram in ms, `None` without samples.
pub fn percentiles(h: &Histogram<u64>) -> Option<(f64, f64, f64)> {
    (!h.is_empty()).then(|| {
        (
            h.value_at_quantile(0.50) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0,
        )
    })
}
