//! `kurve-server`: parses the configuration, sets up logging, and serves until
//! SIGINT/SIGTERM.

use anyhow::Context;
use clap::Parser;
use kurve_server::config::{Config, SHUTDOWN_HARD_EXIT};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_logging(config.log_json);
    install_panic_hook();
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    // Signals are watched before the server announces itself, so a SIGTERM sent as soon
    // as the line below appears still drains cleanly.
    let signals = Signals::install()?;
    tokio::spawn(watch_signals(signals, shutdown.clone()));
    let app = kurve_server::build(config, shutdown).await?;
    // One line on stdout that scripts and tests wait for; logs go to stderr.
    println!("listening on http://{addr}");
    tracing::info!(%addr, "kurve listening");
    kurve_server::serve(listener, app).await?;
    Ok(())
}

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A closed stderr (a log collector that died) must not turn logging into panics:
    // writes that fail are dropped.
    // Colours only for a terminal: redirected logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .log_internal_errors(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Logs panics as one line with their location. A room or lobby that panics is
/// restarted by the supervisor; the default hook would also capture and symbolize a
/// backtrace when `RUST_BACKTRACE` is set, which stalls a runtime worker (and every
/// room scheduled on it) for hundreds of milliseconds.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(%location, message, "task panicked");
    }));
}

/// The process's SIGINT and SIGTERM streams.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt()).context("watching SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("watching SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }
}

/// Cancels `shutdown` on SIGINT or SIGTERM, and exits the process if draining takes
/// longer than [`SHUTDOWN_HARD_EXIT`]. The token is cancelled before anything is logged.
async fn watch_signals(mut signals: Signals, shutdown: CancellationToken) {
    let which = signals.recv().await;
    shutdown.cancel();
    tracing::info!(signal = which, "shutting down");
    tokio::time::sleep(SHUTDOWN_HARD_EXIT).await;
    tracing::error!("shutdown took too long, exiting");
    std::process::exit(0);
}
