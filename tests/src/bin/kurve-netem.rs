//! `kurve-netem`: a network between clients and a kurve server (delay, jitter, a
//! bandwidth cap, stalls), as a TCP proxy that carries HTTP and WebSocket alike. See
//! `kurve_tests::netem` for the model.
//!
//! Prints `listening on IP:PORT` on stdout once bound (a test that spawns it with
//! `--listen 127.0.0.1:0` reads the port from that line), then runs until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use kurve_tests::netem::{self, Counters, Profile};
use tokio_util::sync::CancellationToken;

/// Put a network between clients and a server: every connection to --listen is
/// forwarded to --upstream with the profile's delay, jitter, cap and stalls.
#[derive(Debug, Parser)]
#[command(name = "kurve-netem", version)]
struct Args {
    /// Where clients connect (port 0 for a free port, printed once bound).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// The server, e.g. 127.0.0.1:4000.
    #[arg(long)]
    upstream: SocketAddr,

    /// lan, broadband, mobile, bad; rtt:MS (a fixed round trip); or
    /// rtt=MS,jitter=MS,kbit=N,stall_every=MS.
    #[arg(long, default_value = "broadband")]
    profile: Profile,

    /// Seed of the jitter and stalls (random by default, printed on stderr).
    #[arg(long)]
    seed: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let seed = args.seed.unwrap_or_else(rand::random);
    let listener =
        netem::bind(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "kurve-netem: {} → {}, profile {}, seed {seed}",
        addr, args.upstream, args.profile
    );
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()?;
    drop(stdout);

    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        stop.cancel();
    });
    let counters = Arc::new(Counters::default());
    netem::serve(
        listener,
        args.upstream,
        args.profile.one_way(),
        seed,
        counters.clone(),
        shutdown,
    )
    .await;
    let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "kurve-netem: {} connections, {} bytes up, {} bytes down",
        load(&counters.connections),
        load(&counters.upstream_bytes),
        load(&counters.downstream_bytes)
    );
    Ok(())
}

/// SIGINT or SIGTERM (a test's `kill()`); SIGINT only where there is no SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
