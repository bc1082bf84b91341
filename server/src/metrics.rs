//! Prometheus metrics: names, descriptions, and handles for the hot paths.
//!
//! The `metrics` facade has one global recorder per process. [`install`] puts the
//! Prometheus recorder in place once; servers started later in the same process (tests
//! start several) share it. Hot paths (every frame) use handles looked up once in
//! [`hot`], so counting a frame is one atomic add.

use std::sync::OnceLock;

use metrics::{Counter, Gauge, Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const SOCKETS_OPEN: &str = "kurve_sockets_open";
pub const SOCKETS_ACCEPTED: &str = "kurve_sockets_accepted_total";
pub const SOCKETS_REFUSED: &str = "kurve_sockets_refused_total";
pub const CHANNELS_JOINED: &str = "kurve_channels_joined";
pub const FRAMES_IN: &str = "kurve_frames_in_total";
pub const FRAMES_OUT: &str = "kurve_frames_out_total";
pub const BYTES_IN: &str = "kurve_bytes_in_total";
pub const BYTES_OUT: &str = "kurve_bytes_out_total";
pub const MALFORMED_FRAMES: &str = "kurve_malformed_frames_total";
pub const SLOW_CLIENTS: &str = "kurve_slow_clients_disconnected_total";
pub const IDLE_CLOSED: &str = "kurve_idle_sockets_closed_total";
pub const PRESENCE_SESSIONS: &str = "kurve_presence_sessions";
pub const PRESENCE_DIFFS: &str = "kurve_presence_diffs_total";
pub const CHAT_MESSAGES: &str = "kurve_chat_messages_total";
pub const CHAT_REFUSED: &str = "kurve_chat_refused_total";
pub const LOBBIES: &str = "kurve_lobbies";

/// Handles used on every frame.
pub struct Hot {
    pub frames_in: Counter,
    pub frames_out: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub sockets_open: Gauge,
    pub slow_clients: Counter,
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static HOT: OnceLock<Hot> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
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
        slow_clients: metrics::counter!(SLOW_CLIENTS),
    })
}

/// Counts a socket closed because its outbound queue overflowed.
pub fn slow_client_disconnected() {
    hot().slow_clients.increment(1);
}

/// Counts an accepted WebSocket.
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
    describe_gauge!(SOCKETS_OPEN, "WebSocket connections open now");
    describe_counter!(SOCKETS_ACCEPTED, "WebSocket upgrades accepted");
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
        "Sockets closed because they did not read their frames in time"
    );
    describe_counter!(IDLE_CLOSED, "Sockets closed after 60 s without a frame");
    describe_gauge!(PRESENCE_SESSIONS, "Tracked presence sessions, by kind");
    describe_counter!(PRESENCE_DIFFS, "presence_diff broadcasts sent");
    describe_counter!(CHAT_MESSAGES, "Chat messages broadcast");
    describe_counter!(CHAT_REFUSED, "Chat messages refused (length or rate)");
    describe_gauge!(LOBBIES, "Lobbies running");
    describe_histogram!(
        "kurve_tick_duration_seconds",
        Unit::Seconds,
        "Time to step a room"
    );
}
