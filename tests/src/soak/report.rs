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
use super::timeline::Point;
use super::{BotsMode, Scenario, Shared};

/// The server's usage over a run, sampled from /proc.
#[derive(Debug, Clone)]
pub(crate) struct UsageTrack {
    pid: Option<u32>,
    start: Option<(Instant, ProcSample)>,
    last: Option<(Instant, ProcSample)>,
    /// The reading when the steady window opened.
    window: Option<(Instant, ProcSample)>,
    steady: Option<(Instant, ProcSample)>,
    peak_rss_kb: u64,
    /// This process's own CPU time (the bots' cost) when the window opened and when
    /// the steady part ended, s.
    own_window: Option<f64>,
    own_steady: Option<f64>,
}

impl UsageTrack {
    pub fn new(pid: Option<u32>) -> Self {
        let start = pid.and_then(procstat::sample).map(|s| (Instant::now(), s));
        UsageTrack {
            pid,
            start,
            last: start,
            window: None,
            steady: None,
            peak_rss_kb: start.map_or(0, |(_, s)| s.rss_kb),
            own_window: None,
            own_steady: None,
        }
    }

    pub fn sample(&mut self) {
        if let Some(s) = self.pid.and_then(procstat::sample) {
            self.peak_rss_kb = self.peak_rss_kb.max(s.rss_kb);
            self.last = Some((Instant::now(), s));
        }
    }

    /// The reading when the steady window opens (every bot in).
    pub fn mark_window(&mut self) {
        self.sample();
        self.window = self.last;
        self.own_window = procstat::own_cpu_s();
    }

    /// The reading at the end of the steady part, before bots disconnect.
    pub fn mark_steady(&mut self) {
        self.sample();
        self.steady = self.last;
        self.own_steady = procstat::own_cpu_s();
    }
}

/// Readings at the end of the steady part.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steady {
    /// The stop signal.
    pub at: Instant,
    /// Bots connected then.
    pub connected: u64,
    /// Room frames delivered to all bots by then.
    pub frames: u64,
    /// When the steady window opened, and the frames delivered by then.
    pub window: Option<(Instant, u64)>,
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

/// The steady window of a `play` run: from every bot being in to the end of the
/// steady part.
#[derive(Debug, Clone, Serialize)]
pub struct SteadyWindow {
    pub seconds: f64,
    /// Room frames (`tick` or `ticks`) delivered to all bots in the window.
    pub frames: u64,
    /// The server's CPU time in the window, s.
    pub server_cpu_s: Option<f64>,
    /// Server CPU per delivered frame, µs.
    pub server_us_per_frame: Option<f64>,
    /// CPU per send from the floor benchmark (`--floor-us`), µs.
    pub floor_us: Option<f64>,
    /// `server_us_per_frame / floor_us`.
    pub floor_ratio: Option<f64>,
    /// The load generator's own CPU time in the window (this process: every bot of
    /// it, their kernel time included), s. On the server's machine it shares the
    /// cores, and part of the jitter it reports is its own.
    pub bots_cpu_s: Option<f64>,
    /// The load generator's CPU per frame it received, µs.
    pub bots_us_per_frame: Option<f64>,
}

/// The network between the bots and the server (`--netem`), and what crossed it.
#[derive(Debug, Clone, Serialize)]
pub struct NetemReport {
    /// The profile as given (`mobile`, `rtt:150`, ...).
    pub profile: String,
    /// The profile spelled out: RTT, jitter, cap, stalls.
    pub described: String,
    pub seed: u64,
    /// The share of the bots meant to go through it.
    pub share: f64,
    /// Bots (of this process) meant to go through it.
    pub bots_assigned: u64,
    /// Bots that connected through it.
    pub bots_connected: u64,
    /// Connections the proxy accepted.
    pub connections: u64,
    /// Bytes it delivered to the server and to the bots.
    pub bytes_to_server: u64,
    pub bytes_to_bots: u64,
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
    pub bots_mode: BotsMode,
    /// Inputs per second of each light player.
    pub input_hz: Option<u32>,
    /// Asked of each room at creation.
    pub send_hz: Option<u32>,
    pub lobby_size: u32,
    pub duration_s: f64,
    pub elapsed_s: f64,
    pub bots_launched: u64,
    pub bots_signed_in: u64,
    pub bots_connected_peak: u64,
    /// Bots connected when the steady part ended (before the drain).
    pub bots_connected_at_end: u64,
    /// Bots whose socket ended before the run's stop; `errors` says why.
    pub disconnects: u64,
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
    /// Snapshots sent to a member the server found behind (not after a join); ticks
    /// resume after them.
    pub resyncs: u64,
    /// Ticks the resyncs skipped; counted as expected and not received.
    pub ticks_skipped_by_resync: u64,
    pub ticks_received: u64,
    pub ticks_expected: u64,
    /// Ticks that came again.
    pub ticks_duplicate: u64,
    pub delivery_ratio: Option<f64>,
    /// Room frames carrying ticks (one tick each, or several with `send_hz`).
    pub frames_received: u64,
    /// |frame inter-arrival − frame period| (1 / send_hz, else 1 / tick_hz), at the bots:
    /// with `netem`, the network's jitter is part of it.
    pub tick_jitter: Option<Latency>,
    pub inputs_sent: u64,
    /// Input sent → first tick whose heading reflects it (steering bots).
    pub input_echo: Option<Latency>,
    /// Input sent → first frame with a tick newer than the last one seen (light bots).
    pub input_to_tick: Option<Latency>,
    pub heartbeats: u64,
    /// The network between (some of) the bots and the server, if any.
    pub netem: Option<NetemReport>,
    pub server: Option<ServerUsage>,
    pub steady_window: Option<SteadyWindow>,
    pub errors: BTreeMap<String, u64>,
    pub thresholds: Vec<Threshold>,
    pub passed: bool,
    /// One point a second over the run (the HTML report's plots).
    pub timeline: Vec<Point>,
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
    steady: Steady,
    usage: UsageTrack,
    timeline: Vec<Point>,
    netem: Option<NetemReport>,
) -> Report {
    let cfg = &shared.cfg;
    let s = &shared.stats;
    let connected_steady = steady.connected;
    let (tick_jitter, input_echo, input_to_tick, lobby_join) = s.with_hists(|h| {
        (
            latency(&h.jitter),
            latency(&h.echo),
            latency(&h.input_tick),
            latency(&h.join),
        )
    });
    let ticks_received = s.ticks_received.load(Relaxed);
    let ticks_expected = s.ticks_expected.load(Relaxed);
    let presence_complete = s.presence_complete.load(Relaxed);
    let first_join = s.first_join_us.load(Relaxed);
    let all_see_all_ms =
        (presence_complete == u64::from(cfg.local_bots()) && first_join > 0).then(|| {
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
        + u64::from(cfg.local_bots()).saturating_sub(launched);
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
    let steady_window = steady.window.map(|(opened, frames_then)| {
        let frames = steady.frames.saturating_sub(frames_then);
        let server_cpu_s = match (usage.window, usage.steady) {
            (Some((_, from)), Some((_, to))) => Some((to.cpu_s - from.cpu_s).max(0.0)),
            _ => None,
        };
        let per_frame_us = |cpu_s: Option<f64>| {
            cpu_s
                .filter(|_| frames > 0)
                .map(|cpu| cpu * 1e6 / frames as f64)
        };
        let server_us_per_frame = per_frame_us(server_cpu_s);
        let bots_cpu_s = usage
            .own_window
            .zip(usage.own_steady)
            .map(|(from, to)| (to - from).max(0.0));
        let bots_us_per_frame = per_frame_us(bots_cpu_s);
        SteadyWindow {
            seconds: steady.at.saturating_duration_since(opened).as_secs_f64(),
            frames,
            server_cpu_s,
            server_us_per_frame,
            floor_us: cfg.floor_us,
            floor_ratio: server_us_per_frame
                .zip(cfg.floor_us.filter(|&f| f > 0.0))
                .map(|(us, floor)| us / floor),
            bots_cpu_s,
            bots_us_per_frame,
        }
    });
    let delivery_ratio =
        (ticks_expected > 0).then(|| ticks_received as f64 / ticks_expected as f64);
    let mut report = Report {
        scenario: cfg.scenario,
        url: cfg.url.clone(),
        bots: cfg.bots,
        room_size: cfg.room_size,
        spectators: cfg.spectators,
        bots_mode: cfg.bots_mode,
        input_hz: (cfg.bots_mode == BotsMode::Light).then_some(cfg.input_hz),
        send_hz: cfg.send_hz,
        lobby_size: cfg.lobby_size(),
        duration_s: cfg.duration.as_secs_f64(),
        elapsed_s: steady.at.saturating_duration_since(shared.t0).as_secs_f64(),
        bots_launched: launched,
        bots_signed_in: s.signed_in.load(Relaxed),
        bots_connected_peak: s.connected_peak.load(Relaxed),
        bots_connected_at_end: connected_steady,
        disconnects: s.disconnects.load(Relaxed),
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
        resyncs: s.resyncs.load(Relaxed),
        ticks_skipped_by_resync: s.ticks_skipped_by_resync.load(Relaxed),
        ticks_received,
        ticks_expected,
        ticks_duplicate: s.ticks_duplicate.load(Relaxed),
        delivery_ratio,
        frames_received: s.frames_received.load(Relaxed),
        tick_jitter,
        inputs_sent: s.inputs_sent.load(Relaxed),
        input_echo,
        input_to_tick,
        heartbeats: s.heartbeats.load(Relaxed),
        netem,
        timeline,
        server,
        steady_window,
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
        let (name, input) = match r.bots_mode {
            BotsMode::Steer => ("input_echo_p99_ms", r.input_echo),
            BotsMode::Light => ("input_to_tick_p99_ms", r.input_to_tick),
        };
        max(name, t.max_p99_ms, input.map(|l| l.p99_ms));
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
    let bots = shared.cfg.local_bots();
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

/// `812 kB`, `3.4 MB`.
fn amount(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{:.0} kB", bytes as f64 / 1e3)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
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
            "  bots        launched {}  signed in {}  connected peak {}  at end {}  disconnected early {}",
            self.bots_launched,
            self.bots_signed_in,
            self.bots_connected_peak,
            self.bots_connected_at_end,
            self.disconnects
        )?;
        if let Some(n) = &self.netem {
            writeln!(
                f,
                "  netem       {}, seed {}: {} of {} bots connected through it ({} connections; {} to the bots, {} to the server)",
                n.described,
                n.seed,
                n.bots_connected,
                n.bots_assigned,
                n.connections,
                amount(n.bytes_to_bots),
                amount(n.bytes_to_server)
            )?;
        }
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
            let input_rate = self
                .input_hz
                .map_or_else(String::new, |hz| format!(", {hz} inputs/s per player"));
            let send_rate = self
                .send_hz
                .map_or_else(String::new, |hz| format!(", send_hz {hz} asked"));
            writeln!(
                f,
                "  bots        {:?}{input_rate}{send_rate}",
                self.bots_mode
            )?;
            writeln!(
                f,
                "  ticks       received {} of {} expected, delivery {}, {} duplicates  ({} frames, {} snapshots, {} resyncs skipping {} ticks)",
                self.ticks_received,
                self.ticks_expected,
                self.delivery_ratio
                    .map_or_else(|| "-".into(), |d| format!("{d:.5}")),
                self.ticks_duplicate,
                self.frames_received,
                self.snapshots,
                self.resyncs,
                self.ticks_skipped_by_resync
            )?;
            let network = match &self.netem {
                Some(n) => format!(
                    "  (at the bots: includes {}'s network jitter for {} of them)",
                    n.profile, n.bots_connected
                ),
                None => String::new(),
            };
            writeln!(f, "  tick jitter {}{network}", lat(&self.tick_jitter))?;
            match self.bots_mode {
                BotsMode::Steer => writeln!(
                    f,
                    "  input echo  {}  ({} inputs sent)",
                    lat(&self.input_echo),
                    self.inputs_sent
                )?,
                BotsMode::Light => writeln!(
                    f,
                    "  input→tick  {}  ({} inputs sent)",
                    lat(&self.input_to_tick),
                    self.inputs_sent
                )?,
            }
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
        if let Some(w) = &self.steady_window {
            let per_frame = match (w.server_us_per_frame, w.server_cpu_s) {
                (Some(us), _) => format!("server CPU per delivered frame {us:.2} µs"),
                (None, Some(_)) => "server CPU per delivered frame - (no frames)".into(),
                (None, None) => "server CPU per delivered frame - (server not sampled)".into(),
            };
            let floor = match (w.floor_ratio, w.floor_us) {
                (Some(ratio), Some(floor)) => format!(" = {ratio:.2}× the floor of {floor:.3} µs"),
                _ => String::new(),
            };
            writeln!(
                f,
                "  steady      {per_frame}{floor}  ({} frames in {:.1} s)",
                w.frames, w.seconds
            )?;
            if let (Some(cpu), Some(us)) = (w.bots_cpu_s, w.bots_us_per_frame) {
                let percent = if w.seconds > 0.0 {
                    100.0 * cpu / w.seconds
                } else {
                    0.0
                };
                writeln!(
                    f,
                    "  load        this process (the bots) used {percent:.0}% of one core: {us:.2} µs per frame received"
                )?;
            }
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
