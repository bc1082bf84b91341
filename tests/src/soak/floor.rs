//! The floor benchmark: what one small send costs the sending thread when nothing else
//! happens, so that a server's CPU per delivered frame can be read as a multiple of it.
//!
//! `sockets` loopback TCP pairs are opened. A reader thread drains every receiving end
//! (a current-thread tokio runtime, one task per socket). One sender thread writes one
//! `bytes`-byte frame to every sending end per round, `rounds_per_sec` rounds a second,
//! for `duration`, with nonblocking writes: a short or refused write is counted, never
//! retried. The sender's own CPU time (from `/proc/thread-self`) divided by its writes
//! is the floor, in µs per send. Everything stays on 127.0.0.1 and is bounded in count
//! and time.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde::Serialize;

use super::procstat::{CpuSource, ThreadCpu};

/// At most this many socket pairs (each uses an ephemeral port on 127.0.0.1 and two
/// descriptors).
pub const MAX_SOCKETS: usize = 20_000;

/// The longest run.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// The largest frame.
pub const MAX_BYTES: usize = 64 * 1024;

/// The fastest round rate.
pub const MAX_ROUNDS_PER_SEC: f64 = 10_000.0;

/// The reader gives up this long after the sender's end, if some socket never closed.
const READER_GRACE: Duration = Duration::from_secs(5);

/// What the benchmark does.
#[derive(Debug, Clone)]
pub struct FloorConfig {
    /// Loopback socket pairs.
    pub sockets: usize,
    /// Rounds per second; each writes one frame to every socket.
    pub rounds_per_sec: f64,
    /// Frame size.
    pub bytes: usize,
    pub duration: Duration,
}

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct FloorReport {
    pub sockets: usize,
    pub rounds_per_sec: f64,
    pub bytes: usize,
    pub duration_s: f64,
    /// Rounds the sender ran.
    pub rounds: u64,
    /// Rounds that started more than a period late.
    pub late_rounds: u64,
    /// Writes attempted (one per socket per round).
    pub writes: u64,
    pub full_writes: u64,
    /// Writes that took part of the frame.
    pub short_writes: u64,
    /// Writes refused because the socket buffer was full (`WouldBlock`).
    pub refused_writes: u64,
    /// Writes that failed otherwise.
    pub failed_writes: u64,
    pub bytes_sent: u64,
    pub bytes_read: u64,
    /// The sender thread's CPU time over its rounds, s.
    pub sender_cpu_s: f64,
    pub cpu_source: CpuSource,
    /// `sender_cpu_s / writes`, µs.
    pub us_per_send: Option<f64>,
}

/// The sender's counts.
#[derive(Debug, Default)]
struct Tally {
    rounds: u64,
    late_rounds: u64,
    writes: u64,
    full_writes: u64,
    short_writes: u64,
    refused_writes: u64,
    failed_writes: u64,
    bytes_sent: u64,
}

/// Runs the benchmark (blocking; it takes `duration` and a little more).
pub fn run(cfg: &FloorConfig) -> anyhow::Result<FloorReport> {
    ensure!(
        (1..=MAX_SOCKETS).contains(&cfg.sockets),
        "--sockets must be 1–{MAX_SOCKETS}"
    );
    ensure!(
        (1..=MAX_BYTES).contains(&cfg.bytes),
        "--bytes must be 1–{MAX_BYTES}"
    );
    ensure!(
        cfg.rounds_per_sec > 0.0 && cfg.rounds_per_sec <= MAX_ROUNDS_PER_SEC,
        "--rounds-per-sec must be above 0 and at most {MAX_ROUNDS_PER_SEC}"
    );
    ensure!(
        !cfg.duration.is_zero() && cfg.duration <= MAX_DURATION,
        "--duration must be above 0 and at most {} s",
        MAX_DURATION.as_secs()
    );
    let (senders, receivers) = socket_pairs(cfg.sockets)?;
    let bytes_read = Arc::new(AtomicU64::new(0));
    let reader = {
        let bytes_read = bytes_read.clone();
        let give_up = cfg.duration + READER_GRACE;
        std::thread::Builder::new()
            .name("floor-reader".into())
            .spawn(move || read_all(receivers, bytes_read, give_up))
            .context("starting the reader thread")?
    };
    let sender = {
        let cfg = cfg.clone();
        std::thread::Builder::new()
            .name("floor-sender".into())
            .spawn(move || send_rounds(senders, &cfg))
            .context("starting the sender thread")?
    };
    let sent = sender
        .join()
        .map_err(|_| anyhow::anyhow!("the sender thread panicked"))?;
    let read = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
    read?;
    let (tally, (sender_cpu_s, cpu_source)) = sent?;
    Ok(FloorReport {
        sockets: cfg.sockets,
        rounds_per_sec: cfg.rounds_per_sec,
        bytes: cfg.bytes,
        duration_s: cfg.duration.as_secs_f64(),
        rounds: tally.rounds,
        late_rounds: tally.late_rounds,
        writes: tally.writes,
        full_writes: tally.full_writes,
        short_writes: tally.short_writes,
        refused_writes: tally.refused_writes,
        failed_writes: tally.failed_writes,
        bytes_sent: tally.bytes_sent,
        bytes_read: bytes_read.load(Relaxed),
        sender_cpu_s,
        cpu_source,
        us_per_send: (tally.writes > 0).then(|| sender_cpu_s * 1e6 / tally.writes as f64),
    })
}

/// `n` connected pairs on 127.0.0.1: (sending ends, nonblocking with NODELAY as the
/// server's sockets are; receiving ends).
fn socket_pairs(n: usize) -> anyhow::Result<(Vec<TcpStream>, Vec<TcpStream>)> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a loopback listener")?;
    let addr = listener.local_addr()?;
    let mut senders = Vec::with_capacity(n);
    let mut receivers = Vec::with_capacity(n);
    for i in 0..n {
        let receiver =
            TcpStream::connect(addr).with_context(|| format!("opening socket pair {i}"))?;
        let (sender, _) = listener
            .accept()
            .with_context(|| format!("accepting socket pair {i}"))?;
        sender.set_nodelay(true)?;
        sender.set_nonblocking(true)?;
        receiver.set_nonblocking(true)?;
        senders.push(sender);
        receivers.push(receiver);
    }
    Ok((senders, receivers))
}

/// The sender thread: rounds until the duration is over, then its CPU time. The
/// sockets close when it returns.
fn send_rounds(
    sockets: Vec<TcpStream>,
    cfg: &FloorConfig,
) -> anyhow::Result<(Tally, (f64, CpuSource))> {
    let frame = vec![0x2a_u8; cfg.bytes];
    let period = Duration::from_secs_f64(1.0 / cfg.rounds_per_sec);
    let mut tally = Tally::default();
    let cpu_start = ThreadCpu::now();
    let start = Instant::now();
    let end = start + cfg.duration;
    let mut due = start;
    while due < end {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > period {
            tally.late_rounds += 1;
        }
        for mut socket in &sockets {
            tally.writes += 1;
            match socket.write(&frame) {
                Ok(n) => {
                    tally.bytes_sent += n as u64;
                    if n == frame.len() {
                        tally.full_writes += 1;
                    } else {
                        tally.short_writes += 1;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => tally.refused_writes += 1,
                Err(_) => tally.failed_writes += 1,
            }
        }
        tally.rounds += 1;
        due += period;
    }
    let cpu = ThreadCpu::now()
        .since(&cpu_start)
        .context("reading the sender's CPU time in /proc/thread-self")?;
    Ok((tally, cpu))
}

/// The reader thread: drains every socket until it closes, or until `give_up`.
fn read_all(
    sockets: Vec<TcpStream>,
    bytes_read: Arc<AtomicU64>,
    give_up: Duration,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the reader's runtime")?;
    runtime.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for socket in sockets {
            let socket = tokio::net::TcpStream::from_std(socket)?;
            tasks.spawn(read_until_closed(socket, bytes_read.clone()));
        }
        let _ = tokio::time::timeout(give_up, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        anyhow::Ok(())
    })
}

async fn read_until_closed(socket: tokio::net::TcpStream, bytes_read: Arc<AtomicU64>) {
    while socket.readable().await.is_ok() && drain(&socket, &bytes_read) {}
}

/// Reads what is there; `false` once the socket is closed or failed.
fn drain(socket: &tokio::net::TcpStream, bytes_read: &AtomicU64) -> bool {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match socket.try_read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                bytes_read.fetch_add(n as u64, Relaxed);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

impl fmt::Display for FloorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kurve-soak floor: {} loopback sockets, {}-byte frames, {} rounds/s, {:.0} s",
            self.sockets, self.bytes, self.rounds_per_sec, self.duration_s
        )?;
        writeln!(
            f,
            "  sender      {} writes in {} rounds ({} late): {} full, {} short, {} refused, {} failed",
            self.writes,
            self.rounds,
            self.late_rounds,
            self.full_writes,
            self.short_writes,
            self.refused_writes,
            self.failed_writes
        )?;
        writeln!(
            f,
            "  bytes       {} sent, {} read",
            self.bytes_sent, self.bytes_read
        )?;
        write!(
            f,
            "  floor       {:.3} s of sender CPU ({}) = {} per send",
            self.sender_cpu_s,
            self.cpu_source.name(),
            self.us_per_send
                .map_or_else(|| "-".into(), |us| format!("{us:.3} µs"))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_floor_run_sends_and_reads_everything() {
        let cfg = FloorConfig {
            sockets: 8,
            rounds_per_sec: 100.0,
            bytes: 200,
            duration: Duration::from_millis(300),
        };
        let report = run(&cfg).unwrap();
        assert!(report.rounds >= 1);
        assert_eq!(report.writes, report.rounds * 8);
        assert_eq!(report.full_writes, report.writes, "{report}");
        assert_eq!(
            report.bytes_read, report.bytes_sent,
            "the reader drained all"
        );
        assert!(report.us_per_send.is_some());
        let none = FloorConfig { sockets: 0, ..cfg };
        assert!(run(&none).is_err(), "bounded: at least one socket");
    }
}
