//! Prometheus metrics: names, descriptions, and handles for the hot paths.
//!
//! The `metrics` facade has one global recorder per process. [`install`] puts the
//! Prometheus recorder in place once; servers started later in the same process (tests
//! start several) share it. Hot paths (every frame) use handles looked up once in
//! [`hot`], so counting a frame is one atomic add.

use std::sync::OnceLock;

use metrics::{Counter, Gauge, Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for durations, in seconds: 10 µs to 1 s, dense around a 60 Hz
/// tick's 16.7 ms budget and the 2 ms lateness bound.
const TIME_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.0167, 0.033,
    0.1, 0.25, 1.0,
];

pub const SOCKETS_OPEN: &str = "kurve_sockets_open";
pub const LONGPOLL_SESSIONS: &str = "kurve_longpoll_sessions_open";
pub const LONGPOLL_REQUESTS: &str = "kurve_longpoll_requests_total";
pub const SOCKETS_ACCEPTED: &str = "kurve_sockets_accepted_total";
pub const SOCKETS_REFUSED: &str = "kurve_sockets_refused_total";
pub const CHANNELS_JOINED: &str = "kurve_channels_joined";
pub const FRAMES_IN: &str = "kurve_frames_in_total";
pub const FRAMES_OUT: &str = "kurve_frames_out_total";
pub const BYTES_IN: &str = "kurve_bytes_in_total";
pub const BYTES_OUT: &str = "kurve_bytes_out_total";
pub const MALFORMED_FRAMES: &str = "kurve_malformed_frames_total";
pub const SLOW_CLIENTS: &str = "kurve_slow_clients_disconnected_total";
pub const RESYNCS: &str = "kurve_resyncs_total";
pub const FRAMES_SKIPPED: &str = "kurve_frames_skipped_total";
pub const IDLE_CLOSED: &str = "kurve_idle_sockets_closed_total";
pub const PRESENCE_SESSIONS: &str = "kurve_presence_sessions";
pub const PRESENCE_DIFFS: &str = "kurve_presence_diffs_total";
pub const CHAT_MESSAGES: &str = "kurve_chat_messages_total";
pub const CHAT_REFUSED: &str = "kurve_chat_refused_total";
pub const LOBBIES: &str = "kurve_lobbies";
pub const ROOMS: &str = "kurve_rooms";
pub const ROOM_RESTARTS: &str = "kurve_room_restarts_total";
pub const TICKS: &str = "kurve_ticks_total";
pub const TICKS_SKIPPED: &str = "kurve_ticks_skipped_total";
pub const TICK_DURATION: &str = "kurve_tick_duration_seconds";
pub const TICK_LATENESS: &str = "kurve_tick_lateness_seconds";
pub const TICK_BYTES: &str = "kurve_tick_bytes_total";
pub const INPUTS_DROPPED: &str = "kurve_inputs_dropped_total";
pub const CLUSTER_NODES: &str = "kurve_cluster_nodes";
pub const CLUSTER_MESSAGES_IN: &str = "kurve_cluster_messages_in_total";
pub const CLUSTER_MESSAGES_OUT: &str = "kurve_cluster_messages_out_total";
pub const CLUSTER_BYTES_IN: &str = "kurve_cluster_bytes_in_total";
pub const CLUSTER_BYTES_OUT: &str = "kurve_cluster_bytes_out_total";
pub const CLUSTER_CONNECTS: &str = "kurve_cluster_connects_total";
pub const CLUSTER_DROPPED: &str = "kurve_cluster_dropped_total";
pub const CLUSTER_BROADCASTS: &str = "kurve_cluster_broadcasts_total";
pub const CLUSTER_TOPICS: &str = "kurve_cluster_topics";
pub const CLUSTER_REMOTE_MEMBERS: &str = "kurve_cluster_remote_members";
pub const CLUSTER_TRANSFERS: &str = "kurve_cluster_presence_transfers_total";
pub const CLUSTER_ADOPTIONS: &str = "kurve_cluster_adoptions_total";
pub const CLUSTER_RELAY_LAG: &str = "kurve_cluster_relay_lag_seconds";
pub const CLUSTER_RELAY_JOINS: &str = "kurve_cluster_relay_joins_total";
pub const CLUSTER_RELAYED_MEMBERS: &str = "kurve_cluster_relayed_members";
pub const CLUSTER_REJECTED: &str = "kurve_cluster_rejected_messages_total";

/// Handles used on every frame.
pub struct Hot {
    pub frames_in: Counter,
    pub frames_out: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub sockets_open: Gauge,
    /// Slow clients closed, by why.
    pub slow_no_progress: Counter,
    pub slow_memory: Counter,
    /// State broadcasts not sent to a member that fell behind (a resync replaces them).
    pub frames_skipped: Counter,
    /// Resyncs asked of actors for a member that fell behind and drained.
    pub resyncs: Counter,
    /// Room inputs over a socket's budget, dropped.
    pub inputs_dropped: Counter,
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static HOT: OnceLock<Hot> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), TIME_BUCKETS)
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            describe();
            handle
        })
        .clone()
}

/// The hot-path handles. Call after [`install`]; before it they would count nowhere.
pub fn hot() -> &'static Hot {
    HOT.get_or_init(|| Hot {
        frames_in: metrics::counter!(FRAMES_IN),
        frames_out: metrics::counter!(FRAMES_OUT),
        bytes_in: metrics::counter!(BYTES_IN),
        bytes_out: metrics::counter!(BYTES_OUT),
        sockets_open: metrics::gauge!(SOCKETS_OPEN),
        slow_no_progress: metrics::counter!(SLOW_CLIENTS, "reason" => "no_progress"),
        slow_memory: metrics::counter!(SLOW_CLIENTS, "reason" => "memory"),
        frames_skipped: metrics::counter!(FRAMES_SKIPPED),
        resyncs: metrics::counter!(RESYNCS),
        inputs_dropped: metrics::counter!(INPUTS_DROPPED),
    })
}

/// Why a slow client was closed (CONTRACT §10).
#[derive(Debug, Clone, Copy)]
pub enum SlowClient {
    /// Its writes made no progress for the no-progress bound (it stopped reading).
    NoProgress,
    /// What cannot be discarded (replies, pushes, events; or a long-poll client's
    /// unpolled messages) passed its bound.
    Memory,
}

/// Counts a socket closed as a slow client.
pub fn slow_client_disconnected(why: SlowClient) {
    match why {
        SlowClient::NoProgress => hot().slow_no_progress.increment(1),
        SlowClient::Memory => hot().slow_memory.increment(1),
    }
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds recorded histogram samples into buckets every [`UPKEEP_EVERY`] until
/// `shutdown`. The recorder buffers every sample until upkeep runs, so without this
/// task a server nobody scrapes would grow by every tick's duration and lateness.
pub async fn upkeep(handle: PrometheusHandle, shutdown: tokio_util::sync::CancellationToken) {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => handle.run_upkeep(),
        }
    }
}

/// The long-poll sessions open now (also counted in [`SOCKETS_OPEN`]).
pub fn longpoll_sessions() -> Gauge {
    metrics::gauge!(LONGPOLL_SESSIONS)
}

/// Counts one long-poll request by method (`get`, `post`, `options`).
pub fn count_longpoll_request(method: &'static str) {
    metrics::counter!(LONGPOLL_REQUESTS, "method" => method).increment(1);
}

/// Counts an accepted socket (WebSocket or long-poll session).
pub fn count_accepted() {
    metrics::counter!(SOCKETS_ACCEPTED).increment(1);
}

/// Counts a refused upgrade (token or version).
pub fn count_refused() {
    metrics::counter!(SOCKETS_REFUSED).increment(1);
}

/// Counts a frame that could not be decoded.
pub fn count_malformed() {
    metrics::counter!(MALFORMED_FRAMES).increment(1);
}

/// Counts a socket closed for silence.
pub fn count_idle_closed() {
    metrics::counter!(IDLE_CLOSED).increment(1);
}

fn describe() {
    describe_gauge!(
        SOCKETS_OPEN,
        "Sockets open now: WebSocket connections and long-poll sessions"
    );
    describe_gauge!(LONGPOLL_SESSIONS, "Long-poll sessions open now");
    describe_gauge!(
        CLUSTER_NODES,
        "Live nodes of the cluster, this one included"
    );
    describe_counter!(CLUSTER_MESSAGES_IN, "NATS messages received by this node");
    describe_counter!(CLUSTER_MESSAGES_OUT, "NATS messages sent by this node");
    describe_counter!(CLUSTER_BYTES_IN, Unit::Bytes, "NATS payload bytes received");
    describe_counter!(CLUSTER_BYTES_OUT, Unit::Bytes, "NATS payload bytes sent");
    describe_counter!(
        CLUSTER_CONNECTS,
        "Connections to NATS made (the first and every reconnect)"
    );
    describe_counter!(
        CLUSTER_DROPPED,
        "Messages for NATS dropped: NATS away, the publish queue full, or a failed publish"
    );
    describe_counter!(
        CLUSTER_BROADCASTS,
        "Topic broadcasts carried to (out) or from (in) other nodes"
    );
    describe_gauge!(
        CLUSTER_TOPICS,
        "Topics this node is subscribed to in NATS (it has local subscribers)"
    );
    describe_gauge!(
        CLUSTER_REMOTE_MEMBERS,
        "Presence sessions of other nodes known to this node"
    );
    describe_histogram!(
        CLUSTER_RELAY_LAG,
        Unit::Seconds,
        "From a broadcast on its node to its arrival here through NATS (nodes' clocks assumed in step)"
    );
    describe_counter!(
        CLUSTER_ADOPTIONS,
        "Rooms of dead nodes this node took over, from their saved state"
    );
    describe_counter!(
        CLUSTER_RELAY_JOINS,
        "Joins of members on other nodes into this node's rooms"
    );
    describe_gauge!(
        CLUSTER_RELAYED_MEMBERS,
        "Room members across nodes: side=member (here, in another node's room), side=room (another node's, in a room here)"
    );
    describe_counter!(
        CLUSTER_TRANSFERS,
        "Whole-presence transfers answered (out) or received (in)"
    );
    describe_counter!(
        CLUSTER_REJECTED,
        "Cluster messages and bucket values refused for a missing, wrong or stale MAC, by what (subject kind) and reason"
    );
    describe_counter!(LONGPOLL_REQUESTS, "Long-poll HTTP requests, by method");
    describe_counter!(
        SOCKETS_ACCEPTED,
        "Sockets accepted: WebSocket upgrades and long-poll sessions"
    );
    describe_counter!(
        SOCKETS_REFUSED,
        "WebSocket upgrades refused (bad token or version)"
    );
    describe_gauge!(CHANNELS_JOINED, "Channels joined now, by kind");
    describe_counter!(FRAMES_IN, "Frames received from clients");
    describe_counter!(FRAMES_OUT, "Frames written to clients");
    describe_counter!(BYTES_IN, Unit::Bytes, "Payload bytes received");
    describe_counter!(BYTES_OUT, Unit::Bytes, "Payload bytes written");
    describe_counter!(MALFORMED_FRAMES, "Frames that could not be decoded");
    describe_counter!(
        SLOW_CLIENTS,
        "Sockets closed as slow clients: reason=no_progress (no byte written for 15 s), reason=memory (what cannot be discarded passed its bound)"
    );
    describe_counter!(
        RESYNCS,
        "Fresh snapshots (or presence_state and room list) sent to a member that fell behind"
    );
    describe_counter!(
        FRAMES_SKIPPED,
        "State broadcasts (ticks, diffs, listing changes) not sent to a member that fell behind"
    );
    describe_counter!(IDLE_CLOSED, "Sockets closed after 60 s without a frame");
    describe_gauge!(PRESENCE_SESSIONS, "Tracked presence sessions, by kind");
    describe_counter!(PRESENCE_DIFFS, "presence_diff broadcasts sent");
    describe_counter!(CHAT_MESSAGES, "Chat messages broadcast");
    describe_counter!(CHAT_REFUSED, "Chat messages refused (length or rate)");
    describe_gauge!(LOBBIES, "Lobbies running");
    describe_gauge!(ROOMS, "Rooms running, by phase");
    describe_counter!(ROOM_RESTARTS, "Rooms restarted after a panic");
    describe_counter!(TICKS, "Room ticks simulated");
    describe_counter!(
        TICKS_SKIPPED,
        "Ticks given up because a room fell too far behind"
    );
    describe_histogram!(
        TICK_DURATION,
        Unit::Seconds,
        "Time to step a room and fan out its tick"
    );
    describe_histogram!(
        TICK_LATENESS,
        Unit::Seconds,
        "How late a room woke for its tick deadline"
    );
    describe_counter!(
        TICK_BYTES,
        Unit::Bytes,
        "Encoded tick deltas (once per room tick)"
    );
    describe_counter!(
        INPUTS_DROPPED,
        "Inputs dropped by the per-socket rate limit"
    );
}
