//! Configuration (CONTRACT §1) and the capacities every queue and limit is sized by.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Command line and environment of `kurve-server`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kurve-server",
    version,
    about = "kurve multiplayer game server"
)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (tests do this).
    #[arg(long, env = "KURVE_BIND", default_value = "127.0.0.1:4000")]
    pub bind: SocketAddr,

    /// `sqlite://PATH` (created and migrated if missing) or `sqlite::memory:`.
    #[arg(long, env = "KURVE_DATABASE_URL", default_value = "sqlite://kurve.db")]
    pub database_url: String,

    /// Simulation rate of every room, in ticks per second.
    #[arg(long, env = "KURVE_TICK_HZ", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub tick_hz: u32,

    /// Network send rate of rooms, in frames per second (default: the tick rate). Below
    /// the tick rate a frame carries every tick since the previous one (`ticks`); a room
    /// may ask for its own rate when it is created. Rounded to a divisor of the tick rate.
    #[arg(long, env = "KURVE_SEND_HZ", value_parser = clap::value_parser!(u32).range(1..=240))]
    pub send_hz: Option<u32>,

    /// Match target per opponent: a match is won at `points · (players − 1)` with a lead
    /// of 2 (GAME.md's default is 10). Lower it for short matches.
    #[arg(long, env = "KURVE_POINTS_PER_OPPONENT", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub points_per_opponent: u32,

    /// Bumper's match clock, in seconds (the match also ends when someone reaches the
    /// target). Lower it for short matches.
    #[arg(long, env = "KURVE_BUMPER_MATCH_SECS", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub bumper_match_secs: u32,

    /// Log one JSON object per line instead of human text.
    #[arg(long, env = "KURVE_LOG_JSON")]
    pub log_json: bool,

    /// Directory of the built web client served at `/`.
    #[arg(long, env = "KURVE_STATIC_DIR", default_value = "web-client/dist")]
    pub static_dir: PathBuf,

    /// Lifetime of a sign-in token, in hours.
    #[arg(long, env = "KURVE_TOKEN_TTL_HOURS", default_value_t = 24)]
    pub token_ttl_hours: u64,

    /// A socket that sends nothing for this many seconds is closed. The official client
    /// sends a heartbeat every 30 s, so the default (Phoenix's) is two missed heartbeats.
    #[arg(long, env = "KURVE_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_secs: u64,

    /// Client budgets (CONTRACT §8).
    #[command(flatten)]
    pub limits: LimitsConfig,

    /// Join a cluster through this NATS server (`nats://HOST:PORT`). Without it the node
    /// runs alone and NATS is on no path.
    #[arg(long = "cluster", env = "KURVE_CLUSTER_URL")]
    pub cluster_url: Option<String>,

    /// This node's id in the cluster (default: a random one).
    #[arg(long, env = "KURVE_NODE_ID", value_parser = parse_node_id)]
    pub node_id: Option<String>,

    /// The secret every node of a cluster shares (at least 32 bytes): it signs sign-in
    /// tokens and authenticates every message between nodes. Give it in the environment
    /// rather than on the command line, which other users of the machine can read.
    /// Without it a single node makes a random one (tokens end with the process) and a
    /// cluster refuses to start.
    #[arg(long, env = "KURVE_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// How a node of a cluster proves itself to NATS and PostgreSQL (CONTRACT §9,
    /// cluster security).
    #[command(flatten)]
    pub cluster_security: ClusterSecurityConfig,

    /// Seconds a node of the cluster may stay silent before the others take it for
    /// down: its presence sessions leave and its rooms are adopted.
    #[arg(long = "node-down-after", env = "KURVE_NODE_DOWN_AFTER", default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=60))]
    pub node_down_after_secs: u64,

    /// The operator's token (at least 32 bytes): with it the operator page `/admin` and
    /// the `admin:stats` topic exist; a socket connecting with it as its `token` is the
    /// operator's. Without it neither exists.
    #[arg(long, env = "KURVE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Enables test-only hooks (e.g. the `debug_crash` room event that makes a room panic).
    /// Never set in production.
    #[arg(long, env = "KURVE_TEST_HOOKS", hide = true)]
    pub test_hooks: bool,
}

/// NATS credentials and TLS, and PostgreSQL's CA (CONTRACT §9, cluster security).
/// Secrets (passwords, tokens, seeds) are best given in the environment or in files:
/// a command line is visible to every user of the machine.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterSecurityConfig {
    /// NATS user name (with `--nats-password`).
    #[arg(long, env = "KURVE_NATS_USER", requires = "nats_password")]
    pub nats_user: Option<String>,

    /// NATS password (with `--nats-user`).
    #[arg(
        long,
        env = "KURVE_NATS_PASSWORD",
        hide_env_values = true,
        requires = "nats_user"
    )]
    pub nats_password: Option<String>,

    /// NATS authentication token.
    #[arg(long, env = "KURVE_NATS_TOKEN", hide_env_values = true, conflicts_with_all = ["nats_user", "nats_nkey", "nats_creds"])]
    pub nats_token: Option<String>,

    /// NATS NKey seed (`SU…`): the node signs NATS's challenge with it.
    #[arg(long, env = "KURVE_NATS_NKEY", hide_env_values = true, conflicts_with_all = ["nats_user", "nats_creds"])]
    pub nats_nkey: Option<String>,

    /// A NATS `.creds` file (a user JWT and its NKey seed).
    #[arg(long, env = "KURVE_NATS_CREDS", conflicts_with = "nats_user")]
    pub nats_creds: Option<PathBuf>,

    /// Require TLS to NATS even with a `nats://` URL (`tls://` requires it anyway).
    #[arg(long, env = "KURVE_NATS_TLS")]
    pub nats_tls: bool,

    /// PEM file of the CA(s) NATS's certificate is checked against (default: the
    /// system's roots).
    #[arg(long, env = "KURVE_NATS_CA")]
    pub nats_ca: Option<PathBuf>,

    /// PEM client certificate for NATS's TLS (with `--nats-key`), when NATS verifies
    /// clients.
    #[arg(long, env = "KURVE_NATS_CERT", requires = "nats_key")]
    pub nats_cert: Option<PathBuf>,

    /// PEM private key of `--nats-cert`.
    #[arg(long, env = "KURVE_NATS_KEY", requires = "nats_cert")]
    pub nats_key: Option<PathBuf>,

    /// PEM file of the CA(s) PostgreSQL's certificate is checked against under
    /// `sslmode=verify-full` or `verify-ca` (default: `sslrootcert` in the URL, else the
    /// system's roots).
    #[arg(long, env = "KURVE_DATABASE_CA")]
    pub database_ca: Option<PathBuf>,
}

impl ClusterSecurityConfig {
    /// Whether anything asks for TLS to NATS.
    pub fn nats_wants_tls(&self) -> bool {
        self.nats_tls || self.nats_ca.is_some() || self.nats_cert.is_some()
    }
}

/// Whether the per-address budgets apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LimitsMode {
    On,
    /// Lifts the per-address budgets, for load tests run from one machine.
    Off,
}

/// What one client may spend (CONTRACT §8). Every refusal is counted in
/// `kurve_limit_refusals_total` by kind.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitsConfig {
    /// `off` lifts the per-address budgets (logins, guests, sockets per address), for
    /// load tests run from one machine. Per-socket budgets always hold.
    #[arg(
        long = "limits",
        env = "KURVE_LIMITS",
        value_enum,
        default_value = "on"
    )]
    pub limits: LimitsMode,

    /// Peers whose `X-Forwarded-For` names the client (a reverse proxy); repeat or
    /// separate with commas. Nobody else's is believed.
    #[arg(
        long = "trusted-proxy",
        env = "KURVE_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,

    /// Failed logins per name per minute (then 429 `rate_limited`).
    #[arg(long, env = "KURVE_MAX_FAILED_LOGINS_PER_NAME", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_failed_logins_per_name: u32,

    /// Failed logins per client address per minute.
    #[arg(long, env = "KURVE_MAX_FAILED_LOGINS_PER_ADDRESS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_failed_logins_per_address: u32,

    /// Guest sign-ins per client address per minute.
    #[arg(long, env = "KURVE_MAX_GUEST_SIGN_INS_PER_ADDRESS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_guest_sign_ins_per_address: u32,

    /// Sockets open at once per client address (then 403 on the upgrade).
    #[arg(long, env = "KURVE_MAX_SOCKETS_PER_ADDRESS", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sockets_per_address: u32,

    /// Lobbies (other than `lobby:main`) one client address may keep running by joining
    /// new names (then `too_many_lobbies`); a lobby stops 60 s after its last member left.
    #[arg(long, env = "KURVE_MAX_LOBBIES_PER_ADDRESS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_lobbies_per_address: u32,

    /// Channels one socket may have joined (then `too_many_channels`).
    #[arg(long, env = "KURVE_MAX_CHANNELS_PER_SOCKET", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_channels_per_socket: u32,

    /// Open rooms one user may have created (then `too_many_rooms`).
    #[arg(long, env = "KURVE_MAX_ROOMS_PER_USER", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rooms_per_user: u32,

    /// Lobby joins plus room creations one socket may make per second (then
    /// `rate_limited`).
    #[arg(long, env = "KURVE_MAX_JOINS_PER_SOCKET", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_joins_per_socket: u32,

    /// Wrong room passwords per minute per (room, user), and per client address, over
    /// all sockets (then `rate_limited` before the password is looked at): reconnecting
    /// must not buy a guesser a fresh budget.
    #[arg(long, env = "KURVE_MAX_WRONG_ROOM_PASSWORDS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_wrong_room_passwords: u32,

    /// Replay channels one user may have open at once (then `too_many_replays`): every
    /// viewer has its own playback, a re-simulation stepping at the match's tick rate.
    #[arg(long, env = "KURVE_MAX_REPLAYS_PER_USER", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_replays_per_user: u32,

    /// Replay channels one client address may have open at once, over all its users
    /// (then `too_many_replays`): guests are free, so the per-user cap alone is not one.
    #[arg(long, env = "KURVE_MAX_REPLAYS_PER_ADDRESS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_replays_per_address: u32,

    /// TCP connections one peer address may hold open at once (more are closed as they
    /// are accepted, counted as `connections_per_address`): above the 200 sockets an
    /// address may open, with room for its HTTP requests. A trusted proxy is not capped.
    #[arg(long, env = "KURVE_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_address: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            limits: LimitsMode::On,
            trusted_proxies: Vec::new(),
            max_failed_logins_per_name: 5,
            max_failed_logins_per_address: 20,
            max_guest_sign_ins_per_address: 30,
            max_sockets_per_address: 200,
            max_lobbies_per_address: 10,
            max_channels_per_socket: 16,
            max_rooms_per_user: 3,
            max_joins_per_socket: 10,
            max_wrong_room_passwords: 5,
            max_replays_per_user: 3,
            max_replays_per_address: 10,
            max_connections_per_address: 256,
        }
    }
}

impl Config {
    /// See [`Config::idle_timeout_secs`].
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// A configuration for tests: port 0, in-memory database, test hooks on.
    pub fn for_tests() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: "sqlite::memory:".into(),
            tick_hz: 60,
            send_hz: None,
            points_per_opponent: 10,
            bumper_match_secs: 120,
            log_json: false,
            static_dir: PathBuf::from("web-client/dist"),
            token_ttl_hours: 24,
            idle_timeout_secs: 60,
            limits: LimitsConfig::default(),
            admin_token: None,
            cluster_url: None,
            node_id: None,
            node_down_after_secs: 3,
            secret: None,
            cluster_security: ClusterSecurityConfig::default(),
            test_hooks: true,
        }
    }
}

/// A node id: 1–32 of `[A-Za-z0-9_-]` (it goes into NATS subjects).
fn parse_node_id(text: &str) -> Result<String, String> {
    let ok = (1..=32).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(text.to_owned())
    } else {
        Err("a node id is 1–32 letters, digits, '_' or '-'".into())
    }
}

/// The shortest operator token accepted (CONTRACT §7).
pub const MIN_ADMIN_TOKEN_BYTES: usize = 32;

/// The largest WebSocket frame (and message) a client may send. Phoenix's frames are
/// small JSON arrays; 64 KiB leaves room for a long chat line many times over, and a
/// bigger frame closes the socket with 1009 (CONTRACT §3).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Items a socket may have waiting to be written before it counts as behind: the next
/// state broadcast (a tick, a presence diff, a listing change) starts a resync of its
/// topic instead of queueing (`outbound`, CONTRACT §10). At 60 ticks per second a room
/// adds 60 frames a second, so this is about two seconds of one room's ticks, or a
/// burst of a busy lobby's diffs (on top of the few the kernel may hold, see
/// `outbound::io::KERNEL_UNSENT_BYTES`).
pub const RESYNC_QUEUE: usize = 128;

/// A socket that has had frames waiting this long without once catching up is behind,
/// whatever the frame count, so the bound is the same at every send rate. A mobile
/// link's stall (a lost packet's retransmission, 200–600 ms) stays under it: catching
/// up on half a second of ticks costs less than a snapshot.
pub const RESYNC_BACKLOG: Duration = Duration::from_secs(1);

/// Bytes of replies, pushes and events (what a resync cannot replace) a socket may
/// have waiting; past this it is closed as a slow client. A player's own traffic is a
/// few hundred bytes a second, so 1 MiB is minutes of it: only a client that does not
/// read reaches it, and it never costs more.
pub const MAX_KEPT_BYTES: usize = 1024 * 1024;

/// A socket whose writes make no progress (no byte accepted by its kernel buffer) for
/// this long has stopped reading; it is closed as a slow client. Long enough for a
/// phone whose link or JavaScript paused, short enough that a dead peer's resources
/// go back soon (CONTRACT §10).
pub const NO_PROGRESS_TIMEOUT: Duration = Duration::from_secs(15);

/// Commands waiting in a lobby's mailbox. A full mailbox answers `overloaded` instead
/// of queueing: the lobby is one task and must not be buried.
pub const LOBBY_MAILBOX: usize = 4096;

/// How long presence changes are gathered before one `presence_diff` goes out. During a
/// join storm this turns N² single-entry diffs into a few dozen larger ones; the
/// official `Presence` applies many joins and leaves in one diff.
pub const PRESENCE_FLUSH: Duration = Duration::from_millis(50);

/// Longest presence gathering window, for the biggest lobbies.
pub const PRESENCE_FLUSH_MAX: Duration = Duration::from_millis(500);

/// Presence window per subscriber. Every flush is one frame per member, so a window
/// proportional to the member count caps a topic's presence traffic at about 20,000
/// frames a second (a profile of a 5,000-member join storm showed the server bound by
/// those small writes, not by bytes). Up to 1,000 members the window stays 50 ms.
pub const PRESENCE_FLUSH_PER_MEMBER: Duration = Duration::from_micros(50);

/// The presence window for a topic with `members` subscribers.
pub fn presence_flush_window(members: usize) -> Duration {
    let scaled =
        PRESENCE_FLUSH_PER_MEMBER.saturating_mul(u32::try_from(members).unwrap_or(u32::MAX));
    scaled.clamp(PRESENCE_FLUSH, PRESENCE_FLUSH_MAX)
}

/// Longest chat message, in characters (CONTRACT §4).
pub const CHAT_MAX_CHARS: usize = 280;

/// Chat messages one user may send per [`CHAT_WINDOW`].
pub const CHAT_BURST: u32 = 5;

/// Window over which [`CHAT_BURST`] applies.
pub const CHAT_WINDOW: Duration = Duration::from_secs(10);

/// Lobbies that may exist at once; `lobby:<name>` is started on first join, so without a
/// bound a client could start lobbies without end.
pub const MAX_LOBBIES: usize = 1000;

/// How long an empty lobby (other than `lobby:main`) lives before it stops.
pub const EMPTY_LOBBY_TTL: Duration = Duration::from_secs(60);

/// SIGINT/SIGTERM: the process exits at the latest this long after the signal, whatever
/// is still running (CONTRACT §1: within 10 s).
pub const SHUTDOWN_HARD_EXIT: Duration = Duration::from_secs(10);

/// The drain after a shutdown signal, step by step; the steps run one after another and
/// add up to [`SHUTDOWN_TOTAL`], under [`SHUTDOWN_HARD_EXIT`], so each step gets its
/// whole budget before the hard exit cuts anything short.
pub mod shutdown {
    use std::time::Duration;

    /// HTTP requests in flight finish (new connections are no longer accepted).
    pub const HTTP_REQUESTS: Duration = Duration::from_secs(1);
    /// Sockets push `server_shutdown` and close with 1012.
    pub const SOCKETS: Duration = Duration::from_secs(2);
    /// Lobbies and rooms stop: each gets `supervisor::STOP_GRACE`, its monitor a little
    /// slack after that.
    pub const CHILDREN: Duration = Duration::from_secs(3);
    /// Match results written during the drain reach the database.
    pub const DATABASE_WRITES: Duration = Duration::from_secs(2);
}

/// Every step of the drain, end to end.
pub const SHUTDOWN_TOTAL: Duration = Duration::from_secs(
    shutdown::HTTP_REQUESTS.as_secs()
        + shutdown::SOCKETS.as_secs()
        + shutdown::CHILDREN.as_secs()
        + shutdown::DATABASE_WRITES.as_secs(),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_budgets_add_up_under_the_hard_exit() {
        assert!(
            SHUTDOWN_TOTAL < SHUTDOWN_HARD_EXIT,
            "the drain ({SHUTDOWN_TOTAL:?}) must end before the hard exit ({SHUTDOWN_HARD_EXIT:?})"
        );
        assert!(
            crate::supervisor::STOP_GRACE + crate::supervisor::MONITOR_SLACK <= shutdown::CHILDREN,
            "a child's grace and its monitor's slack fit in the children's step"
        );
    }

    #[test]
    fn presence_window_grows_with_the_lobby_within_bounds() {
        assert_eq!(presence_flush_window(0), PRESENCE_FLUSH);
        assert_eq!(
            presence_flush_window(200),
            PRESENCE_FLUSH,
            "small lobbies: 50 ms"
        );
        assert_eq!(presence_flush_window(1000), PRESENCE_FLUSH);
        assert_eq!(presence_flush_window(5000), Duration::from_millis(250));
        assert_eq!(
            presence_flush_window(1_000_000),
            PRESENCE_FLUSH_MAX,
            "capped"
        );
    }
}
