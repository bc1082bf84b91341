//! A network between a client and the server: a TCP proxy that delays, jitters, caps
//! and stalls each direction of every connection it carries, as a path over the
//! internet would, while keeping TCP's promises (bytes in order and intact, bounded
//! buffering with backpressure, the end of a stream passed on in both directions).
//!
//! Used in-process by `kurve-soak --netem PROFILE` (bots connect through it) and as the
//! `kurve-netem` binary, which the browser tests start in front of a server (it carries
//! HTTP and WebSocket alike, being plain TCP).
//!
//! **Why our own.** We looked for a well-kept crate first. Toxiproxy is a Go server
//! driven over HTTP; its Rust crate (`toxiproxy_rust`) is only a client for it, so every
//! run and CI machine would need the Go binary installed and started. `tokio-netem`
//! (0.1, new) wraps a single stream's reads or writes with delays and throttles; it has
//! no seeded jitter that keeps order, no stalls, and we would still write the listener
//! and the pairing of connections around it. What kurve needs fits in one small module
//! on tokio alone: a pure timing rule per direction ([`Link`], tested without sleeping)
//! and a loop that reads, stamps and writes ([`pipe`]), so we wrote that.
//!
//! **The model.** Each direction of a connection is a [`Link`]. A chunk read from the
//! sender at `now` is delivered at `max(previous delivery, link free + n·8/bps + latency
//! ± jitter)`, or at the end of a stall it would land in. Stalls (200–600 ms, at
//! exponentially distributed intervals) stand for a lost segment: everything behind it
//! waits for the retransmission, then arrives at once. Jitter and stalls come from a
//! ChaCha8 generator seeded per connection and direction from the proxy's seed, so a
//! run with the same seed and the same traffic gives the same delays.
//!
//! **What is not modelled.** No loss visible to the endpoints (TCP hides it; the stall
//! is its cost), no reordering (TCP hides that too), no congestion control reacting to
//! the cap: the cap is a fixed-rate pipe with a [`MAX_IN_FLIGHT`] queue in front of it.
//! Delays are slept with tokio's 1 ms timer, so a sub-millisecond delay (`lan`) comes
//! out as up to a millisecond or two per direction; `rtt:0` writes without sleeping.
//!
//! **What it costs.** Measured with the release binary on the 2-core dev VM, reading
//! the proxy's own CPU time from /proc: 1 GiB in 64 KiB writes through `rtt:0` took
//! 0.95 ms of CPU per MB (about 105 MB/s, limited by the Python sender); through
//! `broadband` it ran at 3.6 MB/s (29 Mbit/s, the [`MAX_IN_FLIGHT`] window over 15 ms)
//! for 4.5 ms per MB. Game-like traffic costs per frame, not per byte: 300 connections
//! each sent 200-byte frames at 60 Hz (6.5–7.5 k frames/s in all) for 15 µs of proxy
//! CPU per frame at `rtt:0`, 17 µs at `mobile` and 21 µs at `broadband` (a read, a
//! timer and a write each), 11–14 % of a core. In `kurve-soak` the proxy shares the
//! load generator's process, so a thousand bots at 60 Hz through it would take about
//! a core: use `--netem-share` or fewer bots when the machine is small.

mod link;
mod pipe;
mod profile;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

pub use link::Link;
pub use pipe::{Counters, pipe, relay};
pub use profile::{OneWay, ParseProfileError, Profile};

/// The shortest stall. A retransmission timeout starts at 200 ms in Linux
/// (`TCP_RTO_MIN`), so no loss costs less than this once the sender has to time out.
pub const STALL_MIN: Duration = Duration::from_millis(200);

/// The longest stall: a lost retransmission (the timeout doubles) on a path with a few
/// hundred ms of RTT.
pub const STALL_MAX: Duration = Duration::from_millis(600);

/// Bytes one read takes from the sender. A snapshot (tens of KiB) takes a few reads, a
/// tick frame (a few hundred bytes) one; the buffer is allocated once per direction.
pub const READ_CHUNK: usize = 16 * 1024;

/// On a capped link reads are cut into pieces this long (the TCP payload of one
/// Ethernet frame with timestamps), so a long burst arrives bit by bit at the link's
/// rate instead of all at once when its last byte would.
pub const SEGMENT: usize = 1448;

/// Bytes one direction holds at most between reading and delivering. This is the link's
/// queue plus what is on the wire: 64 KiB is half a second at 1 Mbit/s (a modestly
/// bloated mobile queue), and without a cap it limits a 30 ms RTT path to about
/// 30 Mbit/s per connection (29 measured), like a TCP window would. When it is full the proxy stops
/// reading, so the sender's kernel buffer fills and the server sees a slow client as
/// it would behind a real link.
pub const MAX_IN_FLIGHT: usize = 64 * 1024;

/// Receive buffer of the proxy's sockets, bytes (Linux doubles it for bookkeeping). On
/// loopback the kernel would otherwise grow it to several MiB, and that much buffering
/// in front of the link would hide its backpressure from the sender for seconds.
pub const SOCKET_BUFFER: u32 = 64 * 1024;

/// Pending connections the listener queues. The soak runner opens up to 256 connections
/// at once (`--max-connecting`); the kernel caps this at `somaxconn` anyway.
pub const ACCEPT_BACKLOG: u32 = 1024;

/// After a failed accept (usually out of file descriptors) the loop waits this long, so
/// it does not spin while connections close.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A proxy running in this process.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `listen` (port 0 for a free one) and forwards every connection to
    /// `upstream` through `profile`, with jitter and stalls drawn from `seed`.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        profile: &Profile,
        seed: u64,
    ) -> io::Result<Proxy> {
        let listener = bind(listen)?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(
            listener,
            upstream,
            profile.one_way(),
            seed,
            counters.clone(),
            shutdown.clone(),
        ));
        Ok(Proxy {
            addr,
            counters,
            shutdown,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections and bytes so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Closes every connection and the listener, and waits for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// A listener on `addr` whose accepted sockets get [`SOCKET_BUFFER`] (set before
/// `listen`, as the window scale is fixed at the handshake).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_recv_buffer_size(SOCKET_BUFFER)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Accepts connections on `listener` until `shutdown`, relaying each to `upstream`
/// through two [`Link`]s with `params`; then closes them all and returns.
///
/// There is no limit on connections: the proxy fronts a test run, and every connection
/// is one the run opened on purpose; the kernel's file limit is the bound.
pub async fn serve(
    listener: TcpListener,
    upstream: SocketAddr,
    params: OneWay,
    seed: u64,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let mut index = 0u64;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (client, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "netem accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        counters
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let connection = Connection {
            index,
            peer,
            upstream,
            params,
            seed,
        };
        index += 1;
        let (counters, shutdown) = (counters.clone(), shutdown.clone());
        tracker.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = connection.run(client, &counters) => {}
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// One accepted connection, before its upstream side exists.
struct Connection {
    /// Its place in accept order; with the seed, it picks the random streams.
    index: u64,
    peer: SocketAddr,
    upstream: SocketAddr,
    params: OneWay,
    seed: u64,
}

impl Connection {
    async fn run(self, client: TcpStream, counters: &Counters) {
        let server = match self.connect().await {
            Ok(server) => server,
            Err(error) => {
                // The client sees its connection closed, as if refused late.
                debug!(peer = %self.peer, %error, "netem upstream connect failed");
                return;
            }
        };
        if let Err(error) = client.set_nodelay(true).and(server.set_nodelay(true)) {
            debug!(peer = %self.peer, %error, "netem nodelay failed");
        }
        let now = Instant::now();
        let up = Link::new(self.params, self.rng(0), now);
        let down = Link::new(self.params, self.rng(1), now);
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        if let Err(error) = relay(
            client_read,
            client_write,
            server_read,
            server_write,
            up,
            down,
            counters,
        )
        .await
        {
            debug!(peer = %self.peer, %error, "netem connection ended");
        }
    }

    /// Connects to the server from the client's own loopback address when there is one,
    /// so the server sees the same per-address picture as without the proxy (the soak
    /// runner spreads its bots over 127.0.0.0/8).
    async fn connect(&self) -> io::Result<TcpStream> {
        let socket = match self.upstream {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_recv_buffer_size(SOCKET_BUFFER)?;
        if let (IpAddr::V4(ip), SocketAddr::V4(_)) = (self.peer.ip(), self.upstream)
            && ip.is_loopback()
        {
            socket.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
        }
        socket.connect(self.upstream).await
    }

    /// The random stream of one direction (0 up, 1 down) of this connection.
    fn rng(&self, direction: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.index * 2 + direction);
        rng
    }
}

#[cfg(test)]
mod tests;
