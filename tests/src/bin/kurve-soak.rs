//! `kurve-soak`: bot players over real sockets against a running kurve server
//! (CONTRACT §5), and `kurve-soak floor`, the cost of one send to compare the server's
//! CPU per frame with. See `kurve_tests::soak` for what the bots do and what is measured.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kurve_tests::netem::Profile;
use kurve_tests::soak::floor::{self, FloorConfig};
use kurve_tests::soak::{
    self, BotsMode, LobbyLayout, NetemConfig, Scenario, SoakConfig, Thresholds, net,
};

/// Soak a kurve server with bots: idle lobby sockets with presence, or rooms that play.
#[derive(Debug, Parser)]
#[command(name = "kurve-soak", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    soak: Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the floor: CPU per send of one thread writing small frames to loopback
    /// sockets (no server involved).
    Floor(FloorArgs),
}

/// `kurve-soak floor`.
#[derive(Debug, clap::Args)]
struct FloorArgs {
    /// Loopback socket pairs.
    #[arg(long, default_value_t = 1000)]
    sockets: usize,

    /// Rounds per second; each round writes one frame to every socket.
    #[arg(long, default_value_t = 60.0)]
    rounds_per_sec: f64,

    /// Frame size, bytes.
    #[arg(long, default_value_t = 200)]
    bytes: usize,

    /// How long the sender runs (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = soak::parse_duration)]
    duration: Duration,

    /// Write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The soak run (no subcommand).
#[derive(Debug, clap::Args)]
struct Args {
    /// Server URL; loopback only (127.0.0.0/8, ::1, localhost).
    #[arg(long, default_value = "ws://127.0.0.1:4000")]
    url: String,

    /// Number of bots (one socket each).
    #[arg(long, default_value_t = 100)]
    bots: u32,

    /// What the bots do.
    #[arg(long, value_enum, default_value_t = Scenario::Idle)]
    scenario: Scenario,

    /// Players per room (play), 2–8.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(2..=8))]
    room_size: u8,

    /// Spectators per room (play).
    #[arg(long, default_value_t = 0)]
    spectators: u32,

    /// The game of the rooms bots create (`GET /api/games`: curve, bumper).
    #[arg(long, default_value = "curve")]
    game: String,

    /// What bots do in their room (play): steer in a rebuilt arena (Curve) or board
    /// (Bumper), or stay light (read tick numbers only, send inputs at --input-hz).
    #[arg(long, value_enum, default_value_t = BotsMode::Steer)]
    bots_mode: BotsMode,

    /// Inputs per second of each light player (--bots-mode light); the server drops
    /// a socket's inputs beyond 120 a second.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    input_hz: u32,

    /// Ask each room for this network send rate (`send_hz` in create_room); below the
    /// tick rate, frames carry several ticks (`ticks`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    send_hz: Option<u32>,

    /// The floor (`kurve-soak floor`), µs per send: the report also gives the server's
    /// CPU per delivered frame as a multiple of it.
    #[arg(long)]
    floor_us: Option<f64>,

    /// Spread the bots evenly over this many lobbies.
    #[arg(long, conflicts_with = "lobby_size")]
    lobbies: Option<u32>,

    /// Run only shard K of N (`K/N`): the bots whose index modulo N is K, for one of N
    /// processes driving the N nodes of a cluster together (same --bots, --lobby-size
    /// and --lobby-prefix in each): every lobby then has members on every node, and
    /// each process checks its bots see their whole lobby. Idle scenario only.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u32, u32)>,

    /// Bots per lobby (default 200); `--lobby-size N` with N ≥ --bots puts all in one.
    #[arg(long)]
    lobby_size: Option<u32>,

    /// How long the run lasts from the first launch (e.g. 60s, 2m); a bounded drain follows.
    #[arg(long, default_value = "60s", value_parser = soak::parse_duration)]
    duration: Duration,

    /// Longest drain after the run, while bots close their sockets.
    #[arg(long, default_value = "10s", value_parser = soak::parse_duration)]
    drain: Duration,

    /// Bots launched per second (0 = as fast as --max-connecting allows).
    #[arg(long, default_value_t = 2000.0)]
    ramp_per_sec: f64,

    /// At most this many bots signing in or handshaking at once.
    #[arg(long, default_value_t = 256)]
    max_connecting: usize,

    /// Loopback source addresses to spread sockets over, e.g. 127.0.0.2-127.0.0.250.
    /// Defaults to that range when the server is on 127.0.0.1.
    #[arg(long)]
    source_ips: Option<String>,

    /// The server's pid for RSS/CPU; by default the process listening on the URL's
    /// port is looked up in /proc.
    #[arg(long)]
    server_pid: Option<u32>,

    /// Lobby name prefix (lobbies are PREFIX-0, PREFIX-1, ...); random by default.
    #[arg(long)]
    lobby_prefix: Option<String>,

    /// Heartbeat period.
    #[arg(long, default_value = "30s", value_parser = soak::parse_duration)]
    heartbeat: Duration,

    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,

    /// Write the report as one self-contained HTML page (plots over time, thresholds)
    /// to this file.
    #[arg(long)]
    html: Option<PathBuf>,

    /// Fail if a p99 (input latency and tick jitter in play, lobby join in idle) exceeds
    /// this.
    #[arg(long)]
    max_p99_ms: Option<f64>,

    /// Fail if the tick delivery ratio is below this (e.g. 0.999).
    #[arg(long)]
    min_delivery: Option<f64>,

    /// Fail if more bots than this did not get in (sign-in, connect, lobby or room join).
    #[arg(long)]
    max_join_failures: Option<u64>,

    /// Fail if "all see all" in the join storm takes longer than this (ms), or never happens.
    #[arg(long)]
    max_see_all_ms: Option<f64>,

    /// Put a network between the bots and the server: lan, broadband, mobile, bad,
    /// rtt:MS (a fixed round trip), or rtt=MS,jitter=MS,kbit=N,stall_every=MS. A proxy
    /// in this process gives each bot's WebSocket its own delayed, jittered, capped and
    /// stalling connection (signing in stays direct).
    #[arg(long)]
    netem: Option<Profile>,

    /// The share of the bots (0–1) that connect through --netem, spread evenly.
    #[arg(long, default_value_t = 1.0, requires = "netem", value_parser = parse_share)]
    netem_share: f64,

    /// Seed of the network's jitter and stalls (random by default; the report gives it).
    #[arg(long, requires = "netem")]
    netem_seed: Option<u64>,

    /// No live progress line.
    #[arg(long)]
    quiet: bool,
}

/// The soak configuration and where to write the JSON and HTML reports.
type Outputs = (SoakConfig, Option<PathBuf>, Option<PathBuf>);

fn config(args: Args) -> anyhow::Result<Outputs> {
    let server = net::server_addr(&args.url)?;
    let mut cfg = SoakConfig::new(args.url, args.bots);
    cfg.scenario = args.scenario;
    cfg.room_size = args.room_size;
    cfg.spectators = args.spectators;
    if kurve_tests::soak::light::inputs_for(&args.game).is_none() {
        anyhow::bail!("kurve-soak has no bots for game {:?}", args.game);
    }
    cfg.bots_mode = args.bots_mode;
    cfg.game = args.game;
    cfg.input_hz = args.input_hz;
    cfg.send_hz = args.send_hz;
    cfg.floor_us = args.floor_us;
    cfg.lobbies = match (args.lobbies, args.lobby_size) {
        (Some(n), _) => LobbyLayout::Count(n.max(1)),
        (None, Some(m)) => LobbyLayout::Size(m.max(1)),
        (None, None) => LobbyLayout::Size(200),
    };
    cfg.duration = args.duration;
    cfg.drain = args.drain;
    cfg.ramp_per_sec = args.ramp_per_sec.max(0.0);
    cfg.max_connecting = args.max_connecting.max(1);
    cfg.source_ips = match args.source_ips {
        Some(spec) => net::source_range(&spec)?,
        None if server.ip() == std::net::Ipv4Addr::LOCALHOST => {
            net::source_range("127.0.0.2-127.0.0.250")?
        }
        None => Vec::new(),
    };
    cfg.server_pid = args.server_pid;
    if let Some(prefix) = args.lobby_prefix {
        cfg.lobby_prefix = prefix;
    }
    if let Some(shard) = args.shard {
        cfg.shard = shard;
    }
    cfg.heartbeat = args.heartbeat.max(Duration::from_secs(1));
    cfg.thresholds = Thresholds {
        max_p99_ms: args.max_p99_ms,
        min_delivery: args.min_delivery,
        max_join_failures: args.max_join_failures,
        max_see_all_ms: args.max_see_all_ms,
    };
    cfg.netem = args.netem.map(|profile| {
        let mut netem = NetemConfig::new(profile);
        netem.share = args.netem_share;
        if let Some(seed) = args.netem_seed {
            netem.seed = seed;
        }
        netem
    });
    cfg.progress = !args.quiet;
    Ok((cfg, args.json, args.html))
}

/// A share, 0–1.
fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err("expected a share from 0 to 1, e.g. 0.5".into()),
    }
}

/// `K/N`, K < N.
fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let (k, n) = text.split_once('/').ok_or("expected K/N, e.g. 0/5")?;
    let k: u32 = k.parse().map_err(|_| "K is not a number")?;
    let n: u32 = n.parse().map_err(|_| "N is not a number")?;
    if n == 0 || k >= n {
        return Err("expected K < N".into());
    }
    Ok((k, n))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Floor(args)) => run_floor(args),
        None => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(run_soak(cli.soak)),
            Err(error) => {
                eprintln!("kurve-soak: starting the runtime: {error}");
                ExitCode::from(2)
            }
        },
    }
}

async fn run_soak(args: Args) -> ExitCode {
    let (cfg, json, html) = match config(args) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("kurve-soak: {error:#}");
            return ExitCode::from(2);
        }
    };
    match net::raise_nofile_limit() {
        Ok(limit) if u64::from(cfg.bots) + 64 > limit => eprintln!(
            "kurve-soak: warning: {} bots but only {limit} open files allowed",
            cfg.bots
        ),
        Ok(_) => {}
        Err(error) => eprintln!("kurve-soak: warning: {error:#}"),
    }
    let report = match soak::run(cfg).await {
        Ok(r) => r,
        Err(error) => {
            eprintln!("kurve-soak: {error:#}");
            return ExitCode::from(2);
        }
    };
    println!("{report}");
    if let Some(path) = json
        && !write_json(&path, &report)
    {
        return ExitCode::from(2);
    }
    if let Some(path) = html {
        if let Err(error) = std::fs::write(&path, soak::html::render(&report)) {
            eprintln!("kurve-soak: writing {}: {error}", path.display());
            return ExitCode::from(2);
        }
        println!("report: {}", path.display());
    }
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run_floor(args: FloorArgs) -> ExitCode {
    let cfg = FloorConfig {
        sockets: args.sockets,
        rounds_per_sec: args.rounds_per_sec,
        bytes: args.bytes,
        duration: args.duration,
    };
    match net::raise_nofile_limit() {
        Ok(limit) if 2 * cfg.sockets as u64 + 64 > limit => eprintln!(
            "kurve-soak: warning: {} socket pairs but only {limit} open files allowed",
            cfg.sockets
        ),
        Ok(_) => {}
        Err(error) => eprintln!("kurve-soak: warning: {error:#}"),
    }
    let report = match floor::run(&cfg) {
        Ok(r) => r,
        Err(error) => {
            eprintln!("kurve-soak floor: {error:#}");
            return ExitCode::from(2);
        }
    };
    println!("{report}");
    if let Some(path) = args.json
        && !write_json(&path, &report)
    {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// Writes `value` as pretty JSON; `false` (after saying why) if that failed.
fn write_json(path: &Path, value: &impl serde::Serialize) -> bool {
    let written = serde_json::to_vec_pretty(value)
        .map_err(anyhow::Error::from)
        .and_then(|bytes| std::fs::write(path, bytes).map_err(anyhow::Error::from));
    if let Err(error) = &written {
        eprintln!("kurve-soak: writing {}: {error:#}", path.display());
    }
    written.is_ok()
}
