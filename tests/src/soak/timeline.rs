//! The run over time: one point a second (bots connected, delivery, tick jitter and
//! input latency percentiles of that second, the server's RSS and CPU), for the HTML
//! report's plots and the JSON report.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::Shared;
use super::procstat::{self, ProcSample};

/// One second of the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// Seconds since the run started.
    pub t_s: f64,
    pub connected: u64,
    /// Ticks received / expected in this second (None when none were expected).
    pub delivery: Option<f64>,
    pub jitter_p50_ms: Option<f64>,
    pub jitter_p99_ms: Option<f64>,
    /// Input latency of this second: echo for steering bots, next tick for light ones.
    pub input_p50_ms: Option<f64>,
    pub input_p99_ms: Option<f64>,
    pub server_rss_kb: Option<u64>,
    /// Server CPU in this second, % of one core.
    pub server_cpu_percent: Option<f64>,
}

/// What the previous second ended with.
struct Last {
    at: Instant,
    received: u64,
    expected: u64,
    jitter: Histogram<u64>,
    input: Histogram<u64>,
    server: Option<ProcSample>,
}

/// Records a point every second until the run stops.
pub(crate) async fn record(shared: Arc<Shared>, server_pid: Option<u32>) -> Vec<Point> {
    let mut points = Vec::new();
    let mut last = read(&shared, server_pid);
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.tick().await;
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            _ = every.tick() => {
                let now = read(&shared, server_pid);
                points.push(point(&shared, &last, &now));
                last = now;
            }
        }
    }
    points
}

fn read(shared: &Shared, server_pid: Option<u32>) -> Last {
    let s = &shared.stats;
    let (jitter, input) = s.with_hists(|h| {
        let input = if h.echo.is_empty() {
            h.input_tick.clone()
        } else {
            h.echo.clone()
        };
        (h.jitter.clone(), input)
    });
    Last {
        at: Instant::now(),
        received: s.ticks_received.load(Relaxed),
        expected: s.ticks_expected.load(Relaxed),
        jitter,
        input,
        server: server_pid.and_then(procstat::sample),
    }
}

/// The quantile `q` (ms) of what `now` recorded since `then`.
fn quantile_since(now: &Histogram<u64>, then: &Histogram<u64>, q: f64) -> Option<f64> {
    let mut since = now.clone();
    // Histograms only grow during a run; a failed subtraction means a reset: use it all.
    if since.subtract(then).is_err() {
        since = now.clone();
    }
    (!since.is_empty()).then(|| since.value_at_quantile(q) as f64 / 1000.0)
}

fn point(shared: &Shared, last: &Last, now: &Last) -> Point {
    let expected = now.expected.saturating_sub(last.expected);
    let received = now.received.saturating_sub(last.received);
    let secs = now.at.duration_since(last.at).as_secs_f64();
    let cpu = match (&last.server, &now.server) {
        (Some(a), Some(b)) if secs > 0.0 => Some((b.cpu_s - a.cpu_s).max(0.0) / secs * 100.0),
        _ => None,
    };
    Point {
        t_s: now.at.duration_since(shared.t0).as_secs_f64(),
        connected: shared.stats.connected_now.load(Relaxed),
        delivery: (expected > 0).then(|| received as f64 / expected as f64),
        jitter_p50_ms: quantile_since(&now.jitter, &last.jitter, 0.5),
        jitter_p99_ms: quantile_since(&now.jitter, &last.jitter, 0.99),
        input_p50_ms: quantile_since(&now.input, &last.input, 0.5),
        input_p99_ms: quantile_since(&now.input, &last.input, 0.99),
        server_rss_kb: now.server.map(|s| s.rss_kb),
        server_cpu_percent: cpu,
    }
}
