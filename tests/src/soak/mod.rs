//! The soak runner (CONTRACT §5): thousands of bots over real sockets against a running
//! server, as a library so the test suite can run it in-process.
//!
//! One tokio task per bot ([`bot`]), no per-bot thread. A run has three parts, each
//! bounded in time: the ramp (bots launched at `ramp_per_sec`, at most `max_connecting`
//! signing in or handshaking at once), the steady part up to `duration` after the start,
//! and a drain (`drain`) in which every bot closes its socket; tasks still alive after
//! it are aborted.
//!
//! Scenarios:
//! - [`Scenario::Idle`]: every bot joins its lobby and stays, heartbeating. The join
//!   storm is measured as "all see all": the time from the first lobby join until every
//!   bot's presence view (presence_state + presence_diffs) holds its whole lobby.
//! - [`Scenario::Play`]: bots are grouped into rooms of `room_size` players and
//!   `spectators` spectators; the first of each group creates the room in its lobby, the
//!   others join `room:<id>`; players press ready and then, by [`BotsMode`], either
//!   steer by looking ahead in a [`kurve_shared::game::Arena`] fed with the snapshot
//!   and every tick, or stay light ([`light`]): read tick numbers only and send inputs
//!   at a fixed rate.
//!
//! With [`NetemConfig`] (`--netem PROFILE`), a [`crate::netem`] proxy runs in this
//! process in front of the server and a share of the bots open their WebSocket through
//! it (one proxied connection each; signing in stays direct). What those bots measure
//! then includes the network: delivery, jitter and input latency as a player on that
//! network would see them, and resyncs when the server finds them behind.
//!
//! In `play`, the *steady window* runs from the moment every bot is in (or failed to
//! get in) to the end of the steady part; the report divides the server's CPU time in
//! it by the room frames delivered to all bots in it, to compare with the cost of one
//! send measured by [`floor`].

mod bot;
pub mod floor;
pub mod html;
pub mod light;
pub mod net;
pub mod procstat;
pub mod push;
mod report;
pub mod signin;
pub mod stats;
pub mod steer;
pub mod ticks;
pub mod timeline;
pub mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::netem::{self, Profile};
pub use report::{Latency, NetemReport, Report, ServerUsage, SteadyWindow, Threshold};
use signin::SignIn;
use stats::Stats;

/// What the bots do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Sit in lobbies with presence.
    Idle,
    /// Play in rooms.
    Play,
}

/// What bots do in a room, in `play`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BotsMode {
    /// Rebuild the arena from the snapshot and every tick, and steer to survive.
    Steer,
    /// Read only tick numbers; players send inputs at a fixed rate.
    Light,
}

/// How bots are spread over lobbies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LobbyLayout {
    /// This many lobbies, filled evenly in order.
    Count(u32),
    /// Lobbies of this many bots.
    Size(u32),
}

/// Limits a run must stay within; a miss makes the run fail.
#[derive(Debug, Clone, Default)]
pub struct Thresholds {
    /// Input latency p99 (input-to-echo when steering, input-to-tick when light) and
    /// tick jitter p99, ms.
    pub max_p99_ms: Option<f64>,
    /// Ticks received / ticks expected.
    pub min_delivery: Option<f64>,
    /// Bots that did not get in (sign-in, connect, lobby or room join).
    pub max_join_failures: Option<u64>,
    /// Join storm: time until every bot saw its whole lobby, ms.
    pub max_see_all_ms: Option<f64>,
}

/// A network between the bots and the server (`--netem`).
#[derive(Debug, Clone)]
pub struct NetemConfig {
    pub profile: Profile,
    /// The share of the bots (0–1) that connect through it, spread evenly by index so
    /// that every room gets its part.
    pub share: f64,
    /// Seeds the network's jitter and stalls.
    pub seed: u64,
}

impl NetemConfig {
    /// Every bot through `profile`, with a random seed.
    pub fn new(profile: Profile) -> Self {
        NetemConfig {
            profile,
            share: 1.0,
            seed: rand::random(),
        }
    }

    /// Whether bot `i` connects through the network: bot `i` does when the running
    /// count `⌊(i + 1) · share⌋` steps up at it (all at 1, every other one at 0.5).
    pub fn carries(&self, i: u32) -> bool {
        let share = self.share.clamp(0.0, 1.0);
        (f64::from(i + 1) * share).floor() > (f64::from(i) * share).floor()
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// `ws://HOST:PORT`, loopback only.
    pub url: String,
    pub bots: u32,
    pub scenario: Scenario,
    /// Players per room (2–8).
    pub room_size: u8,
    /// Spectators per room.
    pub spectators: u32,
    /// The game of the rooms bots create (`GET /api/games`).
    pub game: String,
    /// What bots do in their room.
    pub bots_mode: BotsMode,
    /// Inputs per second of each light player.
    pub input_hz: u32,
    /// Asked of each room at creation (`send_hz` in `create_room`); `None` leaves it out.
    pub send_hz: Option<u32>,
    /// The floor benchmark's CPU per send, µs, to compare the server's CPU per frame with.
    pub floor_us: Option<f64>,
    pub lobbies: LobbyLayout,
    /// From the first launch to the stop signal.
    pub duration: Duration,
    /// After the stop signal, how long bots get to close before being aborted.
    pub drain: Duration,
    /// Bots launched per second; 0 = as fast as `max_connecting` allows.
    pub ramp_per_sec: f64,
    /// At most this many bots signing in or handshaking at once.
    pub max_connecting: usize,
    /// Keep-alive HTTP connections used for sign-in.
    pub signin_connections: usize,
    /// Loopback source addresses to spread sockets over; empty = the kernel's choice.
    pub source_ips: Vec<Ipv4Addr>,
    /// The server's pid; if `None` and `find_server`, the process listening on the
    /// URL's port is looked up in /proc.
    pub server_pid: Option<u32>,
    pub find_server: bool,
    /// Heartbeat period (the JS client's is 30 s).
    pub heartbeat: Duration,
    /// Lobby names are `<lobby_prefix>-<n>`; a random default keeps runs apart.
    pub lobby_prefix: String,
    /// This process runs shard `.0` of `.1`: the bots whose index modulo `.1` is `.0`.
    /// Several processes (one per cluster node) then share lobbies, each lobby's members
    /// spread over all of them; bot names stay unique.
    pub shard: (u32, u32),
    pub thresholds: Thresholds,
    /// Put a network between (a share of) the bots and the server.
    pub netem: Option<NetemConfig>,
    /// Draw a live progress line on stderr.
    pub progress: bool,
}

impl SoakConfig {
    /// Defaults for `bots` bots against `url`: idle, lobbies of 200, 60 s.
    pub fn new(url: impl Into<String>, bots: u32) -> Self {
        SoakConfig {
            url: url.into(),
            bots,
            scenario: Scenario::Idle,
            room_size: 6,
            spectators: 0,
            game: "curve".into(),
            bots_mode: BotsMode::Steer,
            input_hz: 10,
            send_hz: None,
            floor_us: None,
            lobbies: LobbyLayout::Size(200),
            duration: Duration::from_secs(60),
            drain: Duration::from_secs(10),
            ramp_per_sec: 2000.0,
            max_connecting: 256,
            signin_connections: 8,
            source_ips: Vec::new(),
            server_pid: None,
            find_server: true,
            heartbeat: Duration::from_secs(30),
            lobby_prefix: format!("soak-{:04x}", rand::random::<u16>()),
            shard: (0, 1),
            thresholds: Thresholds::default(),
            netem: None,
            progress: false,
        }
    }

    /// Whether bot `i` is run by this process.
    pub(crate) fn is_local(&self, i: u32) -> bool {
        i % self.shard.1.max(1) == self.shard.0
    }

    /// How many bots this process runs.
    pub(crate) fn local_bots(&self) -> u32 {
        (0..self.bots).filter(|&i| self.is_local(i)).count() as u32
    }

    fn lobby_size(&self) -> u32 {
        match self.lobbies {
            LobbyLayout::Size(m) => m.max(1),
            LobbyLayout::Count(n) => self.bots.div_ceil(n.max(1)).max(1),
        }
    }

    fn group_size(&self) -> u32 {
        u32::from(self.room_size) + self.spectators
    }
}

/// Where a bot belongs: its lobby, and in `play` its room group and role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    /// Lobby number.
    pub lobby: u32,
    /// Index of the lobby's first bot.
    pub lobby_base: u32,
    /// Bots in the lobby.
    pub lobby_len: u32,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Idle scenario: lobby only.
    Idle,
    /// Creates the room of `group`, then plays in it.
    Creator {
        group: u32,
        players: u32,
    },
    /// Plays in the room of `group`, which has `players` players.
    Player {
        group: u32,
        players: u32,
    },
    Spectator {
        group: u32,
    },
}

impl Role {
    pub fn group(self) -> Option<u32> {
        match self {
            Role::Idle => None,
            Role::Creator { group, .. }
            | Role::Player { group, .. }
            | Role::Spectator { group } => Some(group),
        }
    }
}

fn place(cfg: &SoakConfig, i: u32) -> Place {
    let size = cfg.lobby_size();
    let lobby = i / size;
    let lobby_base = lobby * size;
    let lobby_len = size.min(cfg.bots - lobby_base);
    let role = match cfg.scenario {
        Scenario::Idle => Role::Idle,
        Scenario::Play => {
            let g = cfg.group_size();
            let group = i / g;
            let pos = i % g;
            let members = g.min(cfg.bots - group * g);
            let players = u32::from(cfg.room_size).min(members);
            match pos {
                0 => Role::Creator { group, players },
                p if p < players => Role::Player { group, players },
                _ => Role::Spectator { group },
            }
        }
    };
    Place {
        lobby,
        lobby_base,
        lobby_len,
        role,
    }
}

/// What every bot shares.
pub(crate) struct Shared {
    pub cfg: SoakConfig,
    pub server: SocketAddr,
    /// The in-process network proxy in front of the server, for the bots it carries.
    pub netem: Option<SocketAddr>,
    pub stats: Stats,
    pub stop: CancellationToken,
    pub t0: Instant,
    pub signin: SignIn,
    pub connecting: Semaphore,
    /// Room id of each group, published by its creator.
    pub rooms: Vec<watch::Sender<Option<Arc<str>>>>,
}

impl Shared {
    /// Where bot `i` opens its WebSocket, and whether that is through the network proxy.
    pub fn target(&self, i: u32) -> (SocketAddr, bool) {
        match (self.netem, &self.cfg.netem) {
            (Some(proxy), Some(netem)) if netem.carries(i) => (proxy, true),
            _ => (self.server, false),
        }
    }

    /// µs since the run started.
    pub fn since_start_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.t0).as_micros() as u64
    }
}

/// Runs a soak and returns its report (thresholds evaluated; see [`Report::passed`]).
pub async fn run(cfg: SoakConfig) -> anyhow::Result<Report> {
    let server = net::server_addr(&cfg.url)?;
    ensure!(cfg.bots > 0, "--bots must be at least 1");
    ensure!(
        cfg.shard.1 == 1 || cfg.scenario == Scenario::Idle,
        "--shard is for the idle scenario (rooms are not split over processes)"
    );
    ensure!(cfg.shard.0 < cfg.shard.1, "--shard K/N needs K < N");
    ensure!(
        (2..=8).contains(&cfg.room_size) || cfg.scenario == Scenario::Idle,
        "--room-size must be 2–8"
    );
    ensure!(cfg.input_hz > 0, "--input-hz must be at least 1");
    ensure!(
        cfg.source_ips.iter().all(Ipv4Addr::is_loopback),
        "source addresses must be in 127.0.0.0/8"
    );
    let server_pid = cfg.server_pid.or_else(|| {
        cfg.find_server
            .then(|| procstat::find_listener(server))
            .flatten()
    });
    if let Some(netem) = &cfg.netem {
        ensure!(
            (0.0..=1.0).contains(&netem.share),
            "--netem-share must be between 0 and 1"
        );
    }
    let proxy = match &cfg.netem {
        Some(netem) => Some(
            netem::Proxy::start(
                SocketAddr::new(server.ip(), 0),
                server,
                &netem.profile,
                netem.seed,
            )
            .await
            .context("starting the netem proxy")?,
        ),
        None => None,
    };
    let groups = match cfg.scenario {
        Scenario::Idle => 0,
        Scenario::Play => cfg.bots.div_ceil(cfg.group_size()),
    };
    let shared = Arc::new(Shared {
        server,
        netem: proxy.as_ref().map(netem::Proxy::addr),
        stats: Stats::default(),
        stop: CancellationToken::new(),
        t0: Instant::now(),
        signin: SignIn::new(server, cfg.signin_connections),
        connecting: Semaphore::new(cfg.max_connecting.max(1)),
        rooms: (0..groups).map(|_| watch::channel(None).0).collect(),
        cfg,
    });
    let cfg = &shared.cfg;

    let usage = Arc::new(Mutex::new(report::UsageTrack::new(server_pid)));
    let sampler = tokio::spawn(sample_server(usage.clone(), shared.stop.clone()));
    let timeline = tokio::spawn(timeline::record(shared.clone(), server_pid));
    let progress = cfg
        .progress
        .then(|| tokio::spawn(report::progress(shared.clone())));

    let deadline = tokio::time::Instant::from_std(shared.t0 + cfg.duration);
    let mut bots = JoinSet::new();
    let launch = async {
        for (n, i) in (0..cfg.bots).filter(|&i| cfg.is_local(i)).enumerate() {
            if cfg.ramp_per_sec > 0.0 {
                let at = shared.t0 + Duration::from_secs_f64(n as f64 / cfg.ramp_per_sec);
                tokio::time::sleep_until(at.into()).await;
            }
            shared.stats.launched.fetch_add(1, Relaxed);
            bots.spawn(bot::run(shared.clone(), i, place(cfg, i)));
        }
    };
    // Launching stops at the deadline; bots not launched by then are reported.
    let launched = tokio::time::timeout_at(deadline, launch).await.is_ok();
    let window = if launched && cfg.scenario == Scenario::Play {
        open_window(&shared, &usage, deadline).await
    } else {
        None
    };
    tokio::time::sleep_until(deadline).await;
    let steady = report::Steady {
        at: Instant::now(),
        connected: shared.stats.connected_now.load(Relaxed),
        frames: shared.stats.frames_received.load(Relaxed),
        window,
    };
    if let Ok(mut u) = usage.lock() {
        u.mark_steady();
    }

    shared.stop.cancel();
    let drained = tokio::time::timeout(cfg.drain, async {
        while bots.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    if !drained {
        shared.stats.error("drain:aborted");
        bots.shutdown().await;
    }
    let _ = sampler.await;
    let timeline = timeline.await.unwrap_or_default();
    if let Some(p) = progress {
        let _ = p.await;
    }
    let usage = usage
        .lock()
        .map(|u| u.clone())
        .unwrap_or_else(|e| e.into_inner().clone());
    // The proxy outlives the drain, so bots close through it as they connected.
    let netem = match (proxy, &cfg.netem) {
        (Some(proxy), Some(netem)) => {
            let counters = proxy.counters();
            let report = NetemReport {
                profile: netem.profile.name.clone(),
                described: netem.profile.to_string(),
                seed: netem.seed,
                share: netem.share,
                bots_assigned: (0..cfg.bots)
                    .filter(|&i| cfg.is_local(i) && netem.carries(i))
                    .count() as u64,
                bots_connected: shared.stats.netem_bots.load(Relaxed),
                connections: counters.connections.load(Relaxed),
                bytes_to_server: counters.upstream_bytes.load(Relaxed),
                bytes_to_bots: counters.downstream_bytes.load(Relaxed),
            };
            proxy.stop().await;
            Some(report)
        }
        _ => None,
    };
    Ok(report::build(&shared, steady, usage, timeline, netem))
}

/// Waits (until `deadline`) for every bot to be in or to have failed, then opens the
/// steady window: its start time and the frames delivered so far, with a server reading.
async fn open_window(
    shared: &Shared,
    usage: &Mutex<report::UsageTrack>,
    deadline: tokio::time::Instant,
) -> Option<(Instant, u64)> {
    let settled = async {
        while shared.stats.settled.load(Relaxed) < u64::from(shared.cfg.local_bots()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout_at(deadline, settled).await.ok()?;
    if let Ok(mut u) = usage.lock() {
        u.mark_window();
    }
    Some((Instant::now(), shared.stats.frames_received.load(Relaxed)))
}

/// Samples the server's RSS and CPU every 500 ms until `stop`.
async fn sample_server(usage: Arc<Mutex<report::UsageTrack>>, stop: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {
                if let Ok(mut u) = usage.lock() {
                    u.sample();
                }
            }
        }
    }
}

/// Parses `60s`, `500ms`, `2m`, `1h` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text}: expected a duration like 60s, 500ms, 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("{other}: unknown unit (ms, s, m, h)")),
    };
    if !secs.is_finite() || !(0.0..=7.0 * 86400.0).contains(&secs) {
        return Err(format!("{text}: out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn a_netem_share_spreads_evenly_over_the_bots() {
        let mut netem = NetemConfig::new("broadband".parse().unwrap());
        assert!((0..100).all(|i| netem.carries(i)), "all by default");
        netem.share = 0.5;
        let carried: Vec<u32> = (0..8).filter(|&i| netem.carries(i)).collect();
        assert_eq!(carried, [1, 3, 5, 7], "every other bot");
        netem.share = 0.25;
        assert_eq!((0..1000).filter(|&i| netem.carries(i)).count(), 250);
        netem.share = 0.0;
        assert!(!(0..100).any(|i| netem.carries(i)), "none at 0");
    }

    #[test]
    fn bots_are_placed_in_lobbies_and_groups() {
        let mut cfg = SoakConfig::new("ws://127.0.0.1:1", 10);
        cfg.lobbies = LobbyLayout::Size(4);
        assert_eq!(
            place(&cfg, 9),
            Place {
                lobby: 2,
                lobby_base: 8,
                lobby_len: 2,
                role: Role::Idle
            }
        );
        cfg.lobbies = LobbyLayout::Count(3);
        assert_eq!(place(&cfg, 9).lobby_len, 2, "lobbies of 4, 4, 2");
        cfg.scenario = Scenario::Play;
        cfg.room_size = 3;
        cfg.spectators = 1;
        let roles: Vec<Role> = (0..10).map(|i| place(&cfg, i).role).collect();
        assert_eq!(
            roles[..5],
            [
                Role::Creator {
                    group: 0,
                    players: 3
                },
                Role::Player {
                    group: 0,
                    players: 3
                },
                Role::Player {
                    group: 0,
                    players: 3
                },
                Role::Spectator { group: 0 },
                Role::Creator {
                    group: 1,
                    players: 3
                },
            ]
        );
        assert_eq!(
            roles[8..],
            [
                Role::Creator {
                    group: 2,
                    players: 2
                },
                Role::Player {
                    group: 2,
                    players: 2
                }
            ],
            "the last group is short"
        );
    }
}
