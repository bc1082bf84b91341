//! kurve-server: Phoenix Channels over WebSocket, presence, lobbies and fixed-tick rooms.
//!
//! [`build`] makes the shared state (database, lobbies, rooms) and [`serve`] serves one
//! listener with it until the shutdown token is cancelled, then drains; `main` and the
//! tests both call the pair (tests on port 0), [`run`] chains them. [`http::router`]
//! builds every route.
//!
//! [`build`] makes every part once, with everything it needs, in this order: the
//! cluster (only with `--cluster`; it needs nothing of the rest), the topic table
//! (with the cluster's bus as its [`pubsub::Remote`]), the table of running lobbies
//! ([`lobby::Running`]), the rooms (given that table, and the cluster or
//! [`room::remote::SingleNode`] as their [`room::remote::RemoteRooms`]), the lobbies
//! (given the rooms, and the cluster's tracker or [`lobby::replica::SingleNode`] as
//! their [`lobby::replica::PresenceReplica`]), and the relay. What the cluster hears
//! from other nodes reaches the lobbies and rooms through [`cluster::Cluster::run`],
//! started by [`serve`] with them. Nothing is set after it is made.

pub mod actor;
pub mod admin;
pub mod app;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod game;
pub mod games;
pub mod http;
pub mod limits;
pub mod lobby;
pub mod mailbox;
pub mod metrics;
pub mod outbound;
pub mod presence;
pub mod protocol;
pub mod pubsub;
pub mod relay;
pub mod replay;
pub mod room;
pub mod sim;
pub mod socket;
pub mod store;
pub mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{App, AppInner};
use crate::auth::{Accounts, Auth, TokenSigner};
use crate::config::{Config, shutdown};
use crate::limits::Limits;
use crate::lobby::replica::PresenceReplica;
use crate::lobby::{Lobbies, LobbyDeps, MAIN, Running};
use crate::pubsub::PubSub;
use crate::room::remote::RemoteRooms;
use crate::room::{RoomDeps, Rooms};
use crate::store::Store;
use crate::supervisor::{RestartIntensity, Supervisor};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] store::DbError),
    #[error("token secret: {0}")]
    Secret(#[from] auth::TokenError),
    #[error("lobby:main could not start: {0}")]
    Lobby(&'static str),
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "KURVE_ADMIN_TOKEN must be at least {} bytes",
        config::MIN_ADMIN_TOKEN_BYTES
    )]
    WeakAdminToken,
    #[error(
        "a cluster needs one database for every node: give --database-url postgres://… \
         (SQLite is embedded in one node)"
    )]
    ClusterNeedsPostgres,
    #[error(
        "a cluster needs one secret for every node: set KURVE_SECRET (at least 32 bytes) \
         on each; it authenticates the messages between nodes"
    )]
    ClusterNeedsSecret,
}

/// Builds the shared state: opens (and migrates) the database, starts `lobby:main`.
pub async fn build(config: Config, shutdown: CancellationToken) -> Result<App, StartError> {
    if config.cluster_url.is_some() && !store::is_postgres(&config.database_url) {
        return Err(StartError::ClusterNeedsPostgres);
    }
    if config
        .admin_token
        .as_ref()
        .is_some_and(|t| t.len() < config::MIN_ADMIN_TOKEN_BYTES)
    {
        return Err(StartError::WeakAdminToken);
    }
    let metrics = metrics::install();
    let ttl = Duration::from_secs(config.token_ttl_hours * 3600);
    // The configured secret (`--secret`, `KURVE_SECRET`); a configuration built in code
    // without one still finds `KURVE_SECRET` in the environment.
    let secret: Option<Vec<u8>> = config
        .secret
        .as_ref()
        .map(|s| s.as_bytes().to_vec())
        .or_else(|| {
            std::env::var_os(auth::tokens::SECRET_ENV).map(|s| s.as_encoded_bytes().to_vec())
        })
        .filter(|s| !s.is_empty());
    if config.cluster_url.is_some() && secret.is_none() {
        return Err(StartError::ClusterNeedsSecret);
    }
    let (tokens, generated) = TokenSigner::from_secret_or_random(secret.as_deref(), ttl)?;
    if generated {
        tracing::warn!(
            "KURVE_SECRET is not set: using a random secret, tokens end with this process"
        );
    }
    let store = Store::connect(&store::database_url_with_ca(
        &config.database_url,
        config.cluster_security.database_ca.as_deref(),
    ))
    .await?;
    let accounts = Accounts::open(store.clone()).await?;
    // A node of a cluster has an id (given, or random); a single node has none.
    let node_id = config.cluster_url.as_ref().map(|_| {
        config
            .node_id
            .clone()
            .unwrap_or_else(cluster::random_node_id)
    });
    let config = Config {
        node_id: node_id.clone(),
        ..config
    };
    let limits = Limits::new(config.limits.clone());
    let supervisor = Supervisor::new("kurve", RestartIntensity::default(), &shutdown);
    let cluster = config
        .cluster_url
        .as_deref()
        .zip(node_id.as_deref())
        .map(|(url, id)| {
            cluster::Cluster::new(cluster::Settings {
                url: url.to_owned(),
                node_id: id.to_owned(),
                down_after: Duration::from_secs(config.node_down_after_secs),
                secret: secret.clone().unwrap_or_default(),
                security: config.cluster_security.clone(),
            })
        });
    // What the core needs from other nodes: the cluster, or a single node's nothing.
    let (pubsub, remote_rooms, presence): (PubSub, Arc<dyn RemoteRooms>, Arc<dyn PresenceReplica>) =
        match &cluster {
            Some(cluster) => (
                PubSub::with_remote(cluster.bus()),
                Arc::new(cluster.clone()),
                cluster.tracker(),
            ),
            None => (
                PubSub::new(),
                Arc::new(room::remote::SingleNode),
                Arc::new(lobby::replica::SingleNode),
            ),
        };
    // Rooms reach lobbies through the table of running lobbies, made before both.
    let running = Running::default();
    let rooms = Rooms::new(
        supervisor.clone(),
        RoomDeps {
            pubsub: pubsub.clone(),
            store: store.clone(),
            lobbies: running.clone(),
            games: games::all(
                sim::GameConfig {
                    tick_hz: config.tick_hz,
                    points_per_opponent: config.points_per_opponent,
                    ..sim::GameConfig::default()
                },
                games::bumper::BumperConfig {
                    tick_hz: config.tick_hz,
                    match_secs: config.bumper_match_secs,
                    ..games::bumper::BumperConfig::default()
                },
            ),
            send_hz: config.send_hz.unwrap_or(config.tick_hz),
            max_rooms_per_user: config.limits.max_rooms_per_user as usize,
            test_hooks: config.test_hooks,
            writes: TaskTracker::new(),
            node: node_id.as_deref().map(Arc::from),
            remote: remote_rooms,
        },
    );
    let lobbies = Lobbies::new(
        supervisor.clone(),
        running,
        LobbyDeps {
            pubsub: pubsub.clone(),
            test_hooks: config.test_hooks,
            max_lobbies_per_address: config.limits.max_lobbies_per_address as usize,
            rooms: Arc::new(rooms.clone()),
            presence,
        },
    );
    let relay = cluster
        .clone()
        .map(|cluster| relay::Relay::new(cluster, pubsub.clone(), rooms.clone()));
    lobbies
        .get_or_start(&Arc::from(MAIN), None)
        .map_err(|e| StartError::Lobby(e.reason()))?;
    Ok(App::new(AppInner::new(
        config,
        cluster,
        relay,
        Auth::new(tokens, accounts),
        store,
        limits,
        pubsub,
        lobbies,
        rooms,
        supervisor,
        metrics,
        shutdown,
    )))
}

/// Serves `listener` until `shutdown` is cancelled, then drains: sockets are told
/// (`server_shutdown`, close 1012), lobbies and rooms stop, and it returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    let app = build(config, shutdown.clone()).await?;
    serve(listener, app).await
}

/// Serves an already built [`App`] (tests use this to keep a handle on the state).
pub async fn serve(listener: TcpListener, app: App) -> Result<(), StartError> {
    let router = http::router(app.clone());
    let shutdown = app.shutdown.clone();
    tokio::spawn(metrics::upkeep(app.metrics.clone(), shutdown.clone()));
    if let (Some(cluster), Some(relay)) = (app.cluster.clone(), app.relay.clone()) {
        let state = app.clone();
        let games: Vec<String> = app.rooms.games().list().into_iter().map(|g| g.id).collect();
        let load: cluster::LoadFn = Arc::new(move || cluster::Load {
            sockets: state.sockets.len(),
            rooms: state.rooms.len(),
            players: state.rooms.players(),
            games: games.clone(),
        });
        let local = cluster::Local {
            load,
            pubsub: app.pubsub.clone(),
            lobbies: app.lobbies.clone(),
            rooms: app.rooms.clone(),
            direct: relay.direct_sink(),
        };
        tokio::spawn(cluster.run(local, shutdown.clone()));
        tokio::spawn(relay.run(shutdown.clone()));
    }
    http::serve::serve(listener, router, app.limits.clone(), shutdown).await;
    // HTTP stopped accepting; the socket tasks watch the same token and close.
    app.sockets.close();
    if tokio::time::timeout(shutdown::SOCKETS, app.sockets.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            left = app.sockets.len(),
            "sockets still open after the grace period"
        );
    }
    if tokio::time::timeout(shutdown::CHILDREN, app.supervisor.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("lobbies and rooms still running after the grace period");
    }
    // Matches that ended during the drain are written before the process exits.
    let writes = app.rooms.writes();
    writes.close();
    if tokio::time::timeout(shutdown::DATABASE_WRITES, writes.wait())
        .await
        .is_err()
    {
        tracing::warn!("database writes still in flight at exit");
    }
    tracing::info!("server stopped");
    Ok(())
}
