//! The state every handler and socket shares.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{Admin, AdminDeps, ConnectedUsers};
use crate::auth::Auth;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::limits::Limits;
use crate::lobby::Lobbies;
use crate::pubsub::PubSub;
use crate::relay::Relay;
use crate::replay::{ReplayDeps, Replays};
use crate::room::Rooms;
use crate::store::Store;
use crate::supervisor::Supervisor;

/// Shared server state. Cheap to clone.
#[derive(Clone)]
pub struct App(Arc<AppInner>);

pub struct AppInner {
    pub config: Config,
    pub auth: Auth,
    /// Accounts' rows, finished matches and the leaderboard.
    pub store: Store,
    /// Per-address budgets (CONTRACT §8).
    pub limits: Limits,
    pub pubsub: PubSub,
    pub lobbies: Lobbies,
    pub rooms: Rooms,
    /// Running replays of finished matches (`replay:<match_id>`).
    pub replays: Replays,
    /// The operator's `admin:stats` (only with `KURVE_ADMIN_TOKEN`).
    pub admin: Option<Admin>,
    /// Signed-in users with a socket open.
    pub users: ConnectedUsers,
    /// This node's view of the cluster (only with `--cluster`).
    pub cluster: Option<Cluster>,
    /// Room members across nodes (only with `--cluster`).
    pub relay: Option<Relay>,
    /// Parent of every lobby and room task.
    pub supervisor: Supervisor,
    pub metrics: PrometheusHandle,
    /// Cancelled on SIGINT/SIGTERM (or by a test): sockets say goodbye and close.
    pub shutdown: CancellationToken,
    /// Every socket task, so shutdown can wait for them to finish.
    pub sockets: TaskTracker,
    next_socket_id: AtomicU64,
}

impl Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl FromRef<App> for Auth {
    fn from_ref(app: &App) -> Auth {
        app.auth.clone()
    }
}

impl FromRef<App> for Store {
    fn from_ref(app: &App) -> Store {
        app.store.clone()
    }
}

impl FromRef<App> for Limits {
    fn from_ref(app: &App) -> Limits {
        app.limits.clone()
    }
}

impl App {
    pub fn new(inner: AppInner) -> Self {
        App(Arc::new(inner))
    }

    /// A process-unique id for a new socket.
    pub fn next_socket_id(&self) -> u64 {
        self.next_socket_id.fetch_add(1, Ordering::Relaxed)
    }
}

impl AppInner {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        cluster: Option<Cluster>,
        relay: Option<Relay>,
        auth: Auth,
        store: Store,
        limits: Limits,
        pubsub: PubSub,
        lobbies: Lobbies,
        rooms: Rooms,
        supervisor: Supervisor,
        metrics: PrometheusHandle,
        shutdown: CancellationToken,
    ) -> Self {
        let replays = Replays::new(
            supervisor.clone(),
            ReplayDeps {
                pubsub: pubsub.clone(),
                store: store.clone(),
                games: rooms.games().clone(),
                test_hooks: config.test_hooks,
            },
        );
        let users = ConnectedUsers::default();
        let admin = config.admin_token.is_some().then(|| {
            Admin::start(
                &supervisor,
                AdminDeps {
                    pubsub: pubsub.clone(),
                    rooms: rooms.clone(),
                    lobbies: lobbies.clone(),
                    replays: replays.clone(),
                    metrics: metrics.clone(),
                    users: users.clone(),
                },
            )
        });
        AppInner {
            cluster,
            relay,
            config,
            auth,
            store,
            limits,
            pubsub,
            lobbies,
            rooms,
            replays,
            admin,
            users,
            supervisor,
            metrics,
            shutdown,
            sockets: TaskTracker::new(),
            next_socket_id: AtomicU64::new(1),
        }
    }
}
