//! `kurve-server`: parses the configuration, sets up logging, and serves until
//! SIGINT/SIGTERM.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use kurve_server::config::Config;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// The process exits at the latest this long after a shutdown signal (CONTRACT §1).
const HARD_EXIT_AFTER: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_logging(config.log_json);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    // One line on stdout that scripts and tests wait for; logs go to stderr.
    println!("listening on http://{addr}");
    tracing::info!(%addr, database = %config.database_url, tick_hz = config.tick_hz, "kurve listening");

    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    kurve_server::run(listener, config, shutdown).await?;
    Ok(())
}

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Cancels `shutdown` on SIGINT or SIGTERM, and exits the process if draining takes
/// longer than [`HARD_EXIT_AFTER`].
async fn watch_signals(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received, shutting down"),
        _ = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
    shutdown.cancel();
    tokio::time::sleep(HARD_EXIT_AFTER).await;
    tracing::error!("shutdown took too long, exiting");
    std::process::exit(0);
}
