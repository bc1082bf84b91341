//! The live progress line, the final report (human text and JSON) and the thresholds.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::procstat::{self, ProcSample};
use super::stats::percentiles;
use super::{Scenario, Shared};

/// The server's usage over a run, sampled from /proc.
#[derive(Debug, Clone)]
pub(crate) struct UsageTrack {
    pid: Option<u32>,
    start: Option<(Instant, ProcSample)>,
    last: Option<(Instant, ProcSample)>,
    steady: Option<(Instant, ProcSample)>,
    peak_rss_kb: u64,
}

impl UsageTrack {
    pub fn new(pid: Option<u32>) -> Self {
        let start = pid.and_then(procstat::sample).map(|s| (Instant::now(), s));
        UsageTrack {
            pid,
            start,
            last: start,
            steady: None,
            peak_rss_kb: start.map_or(0, |(_, s)| s.rss_kb),
        }
    }

    pub fn sample(&mut self) {
        if let Some(s) = self.pid.and_then(procstat::sample) {
            self.peak_rss_kb = self.peak_rss_kb.max(s.rss_kb);
            self.last = Some((Instant::now(), s));
        }
    }

    /// The reading at the end of the steady part, before bots disconnect.
    pub fn mark_steady(&mut self) {
        self.sample();
        self.steady = self.last;
    }
}

/// The server's memory and CPU, when it runs on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    pub pid: u32,
    /// RSS before the first bot, KiB.
    pub rss_start_kb: u64,
    /// RSS at the end of the steady part (all bots still connected), KiB.
    pub rss_steady_kb: u64,
    pub rss_peak_kb: u64,
    /// (steady − start) / bots connected at the end, KiB.
    pub kb_per_bot: Option<f64>,
    /// Average CPU over the run up to the end of the steady part, % of one core.
    pub cpu_percent: f64,
}

/// One threshold and how the run did against it.
#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    pub name: String,
    pub limit: f64,
    pub actual: Option<f64>,
    pub ok: bool,
}

/// p50 / p99 / max in ms.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    pub url: String,
    pub bots: u32,
    pub room_size: u8,
    pub spectators: u32,
    pub lobby_size: u32,
    pub duration_s: f64,
    pub elapsed_s: f64,
    pub bots_launched: u64,
    pub bots_signed_in: u64,
    pub bots_connected_peak: u64,
    /// Bots connected when the steady part ended (before the drain).
    pub bots_connected_at_end: u64,
    pub lobby_joins_ok: u64,
    pub lobby_joins_failed: u64,
    pub room_joins_ok: u64,
    pub room_joins_failed: u64,
    /// Bots that did not get where they should (sign-in, connect, lobby or room join).
    pub join_failures: u64,
    pub rooms_created: u64,
    pub rounds_played: u64,
    pub matches_played: u64,
    /// Bots whose presence view held their whole lobby at some point.
    pub presence_complete_bots: u64,
    /// First lobby join → the last bot seeing its whole lobby; `None` if some never did.
    pub all_see_all_ms: Option<f64>,
    pub lobby_join: Option<Latency>,
    pub snapshots: u64,
    pub ticks_received: u64,
    pub ticks_expected: u64,
    pub delivery_ratio: Option<f64>,
    /// |tick inter-arrival − tick period|.
    pub tick_jitter: Option<Latency>,
    pub inputs_sent: u64,
    /// Input sent → first tick whose heading reflects it.
    pub input_echo: Option<Latency>,
    pub heartbeats: u64,
    pub server: Option<ServerUsage>,
    pub errors: BTreeMap<String, u64>,
    pub thresholds: Vec<Threshold>,
    pub passed: bool,
}

fn latency(h: &hdrhistogram::Histogram<u64>) -> Option<Latency> {
    percentiles(h).map(|(p50_ms, p99_ms, max_ms)| Latency {
        samples: h.len(),
        p50_ms,
        p99_ms,
        max_ms,
    })
}

pub(crate) fn build(
    shared: &Shared,
    steady_at: Instant,
    connected_steady: u64,
    usage: UsageTrack,
) -> Report {
    let cfg = &shared.cfg;
    let s = &shared.stats;
    let (tick_jitter, input_echo, lobby_join) =
        s.with_hists(|h| (latency(&h.jitter), latency(&h.echo), latency(&h.join)));
    let ticks_received = s.ticks_received.load(Relaxed);
    let ticks_expected = s.ticks_expected.load(Relaxed);
    let presence_complete = s.presence_complete.load(Relaxed);
    let first_join = s.first_join_us.load(Relaxed);
    let all_see_all_ms = (presence_complete == u64::from(cfg.bots) && first_join > 0).then(|| {
        s.presence_last_complete_us
            .load(Relaxed)
            .saturating_sub(first_join - 1) as f64
            / 1000.0
    });
    let lobby_failed = s.lobby_joins_failed.load(Relaxed);
    let room_failed = s.room_joins_failed.load(Relaxed);
    let launched = s.launched.load(Relaxed);
    let connected_total = s.connected_total.load(Relaxed);
    let join_failures = lobby_failed
        + room_failed
        + launched.saturating_sub(connected_total)
        + u64::from(cfg.bots).saturating_sub(launched);
    let server = match (usage.pid, usage.start, usage.steady.or(usage.last)) {
        (Some(pid), Some((t_start, start)), Some((t_end, end))) => {
            let wall = t_end.saturating_duration_since(t_start).as_secs_f64();
            Some(ServerUsage {
                pid,
                rss_start_kb: start.rss_kb,
                rss_steady_kb: end.rss_kb,
                rss_peak_kb: usage.peak_rss_kb,
                kb_per_bot: (connected_steady > 0).then(|| {
                    (end.rss_kb as f64 - start.rss_kb as f64) / connected_steady.max(1) as f64
                }),
                cpu_percent: if wall > 0.0 {
                    100.0 * (end.cpu_s - start.cpu_s) / wall
                } else {
                    0.0
                },
            })
        }
        _ => None,
    };
    let delivery_ratio =
        (ticks_expected > 0).then(|| ticks_received as f64 / ticks_expected as f64);
    let mut report = Report {
        scenario: cfg.scenario,
        url: cfg.url.clone(),
        bots: cfg.bots,
        room_size: cfg.room_size,
        spectators: cfg.spectators,
        lobby_size: cfg.lobby_size(),
        duration_s: cfg.duration.as_secs_f64(),
        elapsed_s: steady_at.saturating_duration_since(shared.t0).as_secs_f64(),
        bots_launched: launched,
        bots_signed_in: s.signed_in.load(Relaxed),
        bots_connected_peak: s.connected_peak.load(Relaxed),
        bots_connected_at_end: connected_steady,
        lobby_joins_ok: s.lobby_joins_ok.load(Relaxed),
        lobby_joins_failed: lobby_failed,
        room_joins_ok: s.room_joins_ok.load(Relaxed),
        room_joins_failed: room_failed,
        join_failures,
        rooms_created: s.rooms_created.load(Relaxed),
        rounds_played: s.rounds.load(Relaxed),
        matches_played: s.matches.load(Relaxed),
        presence_complete_bots: presence_complete,
        all_see_all_ms,
        lobby_join,
        snapshots: s.snapshots.load(Relaxed),
        ticks_received,
        ticks_expected,
        delivery_ratio,
        tick_jitter,
        inputs_sent: s.inputs_sent.load(Relaxed),
        input_echo,
        heartbeats: s.heartbeats.load(Relaxed),
        server,
        errors: s.errors(),
        thresholds: Vec::new(),
        passed: true,
    };
    report.thresholds = thresholds(&report, &cfg.thresholds);
    report.passed = report.thresholds.iter().all(|t| t.ok);
    report
}

fn thresholds(r: &Report, t: &super::Thresholds) -> Vec<Threshold> {
    let mut out = Vec::new();
    let mut max = |name: &str, limit: Option<f64>, actual: Option<f64>| {
        if let Some(limit) = limit {
            out.push(Threshold {
                name: name.into(),
                limit,
                ok: actual.is_some_and(|a| a <= limit),
                actual,
            });
        }
    };
    if r.scenario == Scenario::Play {
        max(
            "input_echo_p99_ms",
            t.max_p99_ms,
            r.input_echo.map(|l| l.p99_ms),
        );
        max(
            "tick_jitter_p99_ms",
            t.max_p99_ms,
            r.tick_jitter.map(|l| l.p99_ms),
        );
    } else {
        max(
            "lobby_join_p99_ms",
            t.max_p99_ms,
            r.lobby_join.map(|l| l.p99_ms),
        );
    }
    max(
        "join_failures",
        t.max_join_failures.map(|n| n as f64),
        Some(r.join_failures as f64),
    );
    max("all_see_all_ms", t.max_see_all_ms, r.all_see_all_ms);
    if let Some(limit) = t.min_delivery {
        out.push(Threshold {
            name: "min_delivery_ratio".into(),
            limit,
            actual: r.delivery_ratio,
            ok: r.delivery_ratio.is_some_and(|d| d >= limit),
        });
    }
    out
}

/// Updates a progress line on stderr every 250 ms until the run stops.
pub(crate) async fn progress(shared: Arc<Shared>) {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut every = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            _ = every.tick() => bar.set_message(line(&shared)),
        }
    }
    bar.finish_and_clear();
}

fn line(shared: &Shared) -> String {
    let s = &shared.stats;
    let bots = shared.cfg.bots;
    let mut text = format!(
        "connected {}/{bots}  lobby ok {} fail {}  seen-all {}",
        s.connected_now.load(Relaxed),
        s.lobby_joins_ok.load(Relaxed),
        s.lobby_joins_failed.load(Relaxed),
        s.presence_complete.load(Relaxed),
    );
    if shared.cfg.scenario == Scenario::Play {
        let expected = s.ticks_expected.load(Relaxed);
        let received = s.ticks_received.load(Relaxed);
        text.push_str(&format!(
            "  rooms {} joins {}/{}  rounds {}  ticks {}  delivery {}",
            s.rooms_created.load(Relaxed),
            s.room_joins_ok.load(Relaxed),
            s.room_joins_failed.load(Relaxed),
            s.rounds.load(Relaxed),
            received,
            if expected > 0 {
                format!("{:.4}", received as f64 / expected as f64)
            } else {
                "-".into()
            }
        ));
    }
    let errors: u64 = s.errors().values().sum();
    if errors > 0 {
        text.push_str(&format!("  errors {errors}"));
    }
    text
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1} ms"))
}

fn lat(l: &Option<Latency>) -> String {
    l.map_or_else(
        || "no samples".into(),
        |l| {
            format!(
                "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} samples)",
                l.p50_ms, l.p99_ms, l.max_ms, l.samples
            )
        },
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kurve-soak {:?}: {} bots against {}, lobbies of {}, {:.0} s",
            self.scenario, self.bots, self.url, self.lobby_size, self.duration_s
        )?;
        writeln!(
            f,
            "  bots        launched {}  signed in {}  connected peak {}  at end {}",
            self.bots_launched,
            self.bots_signed_in,
            self.bots_connected_peak,
            self.bots_connected_at_end
        )?;
        writeln!(
            f,
            "  joins       lobby ok {} failed {}  room ok {} failed {}  bots not in: {}",
            self.lobby_joins_ok,
            self.lobby_joins_failed,
            self.room_joins_ok,
            self.room_joins_failed,
            self.join_failures
        )?;
        writeln!(f, "  lobby join  {}", lat(&self.lobby_join))?;
        writeln!(
            f,
            "  presence    {} bots saw their whole lobby; all see all after {}",
            self.presence_complete_bots,
            opt_ms(self.all_see_all_ms)
        )?;
        if self.scenario == Scenario::Play {
            writeln!(
                f,
                "  rooms       {} created, {} rounds, {} matches; {} players + {} spectators per room",
                self.rooms_created,
                self.rounds_played,
                self.matches_played,
                self.room_size,
                self.spectators
            )?;
            writeln!(
                f,
                "  ticks       received {} of {} expected, delivery {}  ({} snapshots)",
                self.ticks_received,
                self.ticks_expected,
                self.delivery_ratio
                    .map_or_else(|| "-".into(), |d| format!("{d:.5}")),
                self.snapshots
            )?;
            writeln!(f, "  tick jitter {}", lat(&self.tick_jitter))?;
            writeln!(
                f,
                "  input echo  {}  ({} inputs sent)",
                lat(&self.input_echo),
                self.inputs_sent
            )?;
        }
        match &self.server {
            Some(s) => writeln!(
                f,
                "  server      pid {}  RSS start {} KiB  steady {} KiB  peak {} KiB  per bot {}  CPU {:.0}%",
                s.pid,
                s.rss_start_kb,
                s.rss_steady_kb,
                s.rss_peak_kb,
                s.kb_per_bot
                    .map_or_else(|| "-".into(), |k| format!("{k:.1} KiB")),
                s.cpu_percent
            )?,
            None => writeln!(f, "  server      not found on this machine")?,
        }
        if self.errors.is_empty() {
            writeln!(f, "  errors      none")?;
        } else {
            writeln!(f, "  errors")?;
            for (kind, n) in &self.errors {
                writeln!(f, "    {kind:<32} {n}")?;
            }
        }
        for t in &self.thresholds {
            writeln!(
                f,
                "  threshold   {:<20} limit {}  actual {}  {}",
                t.name,
                t.limit,
                t.actual.map_or_else(|| "-".into(), |a| format!("{a:.3}")),
                if t.ok { "ok" } else { "MISSED" }
            )?;
        }
        write!(
            f,
            "  result      {}",
            if self.passed { "PASS" } else { "FAIL" }
        )
    }
}
