//! kurve-tests: helpers for the Rust integration tests and the `kurve-soak` bot runner.
//!
//! - [`spawn_server`] starts a real server in this process on port 0.
//! - [`client::PhxClient`] speaks the Phoenix V2 protocol over a real WebSocket, through
//!   the codec in `kurve-shared`, as the official JS client does.
//! - [`netem`] puts a network (delay, jitter, a bandwidth cap, stalls) between a client
//!   and the server: a TCP proxy, used by `kurve-soak --netem` and `kurve-netem`.

pub mod client;
pub mod decoders;
pub mod netem;
pub mod services;
pub mod soak;

use std::net::SocketAddr;

use kurve_server::app::App;
use kurve_server::auth::User;
use kurve_server::config::Config;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub app: App,
    pub shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl TestServer {
    /// `ws://127.0.0.1:PORT`
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// A signed token for a guest called `name`, without going through HTTP.
    pub fn guest_token(&self, name: &str) -> (User, String) {
        let suffix: u64 = rand::random();
        let user = User {
            id: format!("g{suffix:012x}"),
            name: name.to_owned(),
            guest: true,
        };
        let token = self
            .app
            .auth
            .tokens
            .issue(&user)
            .expect("issuing a token for a test user");
        (user, token)
    }

    /// A counter or gauge of `/metrics`, summed over its labels; `name` may carry some
    /// (`kurve_x_total{reason="y"}`). 0 when absent.
    pub fn metric(&self, name: &str) -> f64 {
        self.app
            .metrics
            .render()
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Cancels the server and waits for it to drain.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(15), self.task).await;
    }
}

/// Starts a server on 127.0.0.1:0 with an in-memory database and test hooks.
pub async fn spawn_server() -> TestServer {
    spawn_server_with(Config::for_tests()).await
}

/// A test configuration for load: the per-address budgets (CONTRACT §8) lifted, as
/// `--limits off` does, since every bot comes from 127.0.0.1.
pub fn load_test_config() -> Config {
    let mut config = Config::for_tests();
    config.limits.limits = kurve_server::config::LimitsMode::Off;
    config
}

/// Starts a server with `config` (its bind address is ignored: port 0 is used).
pub async fn spawn_server_with(config: Config) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a test port");
    let addr = listener.local_addr().expect("test listener address");
    let shutdown = CancellationToken::new();
    let app = kurve_server::build(config, shutdown.clone())
        .await
        .expect("building the test server");
    let serve_app = app.clone();
    let task = tokio::spawn(async move {
        if let Err(error) = kurve_server::serve(listener, serve_app).await {
            panic!("test server failed: {error}");
        }
    });
    TestServer {
        addr,
        app,
        shutdown,
        task,
    }
}
