//! HTTP: the router, and the routes that are not about accounts.

pub mod accounts;
pub mod error;
pub mod leaderboard;
pub mod longpoll;
pub mod matches;
pub mod serve;
pub mod websocket;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::services::{ServeDir, ServeFile};

use crate::app::App;
use crate::lobby::MAIN;
use crate::protocol::valid_name;
use error::ApiError;

/// Every route of the server.
pub fn router(app: App) -> Router {
    let static_dir = app.config.static_dir.clone();
    let index = static_dir.join("index.html");
    let router = Router::new()
        .merge(accounts::routes())
        .merge(leaderboard::routes())
        .merge(longpoll::routes())
        .merge(matches::routes())
        .route("/api/rooms", get(rooms))
        .route("/api/games", get(games))
        .route("/healthz", get(healthz))
        .route("/api/cluster", get(cluster))
        .route("/metrics", get(metrics))
        .route("/socket/websocket", get(websocket::upgrade))
        .route("/admin", get(admin_page))
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed);
    let router = if index.is_file() {
        router.fallback_service(ServeDir::new(&static_dir).fallback(ServeFile::new(index)))
    } else {
        tracing::warn!(dir = %static_dir.display(), "web client not built; serving a placeholder at /");
        router.fallback(not_built)
    };
    router
        .layer(middleware::from_fn(refuse_long_uri))
        .with_state(app)
}

/// The longest request target (path and query) served; longer ones get 414. Every
/// route here is short: a long one is a probe, not a page.
pub const MAX_URI_BYTES: usize = 2048;

/// `414` for an over-long request target, before any route (or the file server) sees it.
async fn refuse_long_uri(request: axum::extract::Request, next: middleware::Next) -> Response {
    let uri = request.uri();
    let len = uri.path().len() + uri.query().map_or(0, str::len);
    if len > MAX_URI_BYTES {
        return ApiError::UriTooLong.into_response();
    }
    next.run(request).await
}

/// Any `/api/…` path that is not a route: 404 in the error shape, never the web client.
async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such api route")
}

/// A route that exists, called with a method it does not take.
async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// `GET /healthz`: 200 `ok`; in a cluster only while the node reaches it (CONTRACT §9).
async fn healthz(State(app): State<App>) -> Response {
    match &app.cluster {
        Some(cluster) if !cluster.healthy() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is unreachable",
        )
            .into_response(),
        _ => "ok".into_response(),
    }
}

/// `GET /api/cluster`: this node and every live node (404 without `--cluster`).
async fn cluster(State(app): State<App>) -> Result<Response, ApiError> {
    let cluster = app
        .cluster
        .as_ref()
        .ok_or(ApiError::NotFound("this server is not in a cluster"))?;
    Ok(axum::Json(serde_json::json!({
        "node": cluster.node_id(),
        "nodes": cluster.nodes(),
    }))
    .into_response())
}

/// `GET /admin`: the web client's operator page, only when the server has an operator
/// token (CONTRACT §7); otherwise the page does not exist.
async fn admin_page(State(app): State<App>) -> Response {
    if app.config.admin_token.is_none() {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found",
        )
            .into_response();
    }
    match tokio::fs::read(app.config.static_dir.join("index.html")).await {
        Ok(page) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            page,
        )
            .into_response(),
        Err(_) => not_built().await.into_response(),
    }
}

/// Served at `/` when the web client has not been built (`scripts/run.sh` builds it).
async fn not_built() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>kurve</title><h1>kurve</h1>\
         <p>The web client is not built. Start the server with <code>scripts/run.sh</code>, \
         which builds it, or point <code>--static-dir</code> at a build.</p>",
    )
}

/// `GET /api/rooms?lobby=main`: the public rooms of a lobby (none if it is not running).
async fn rooms(
    State(app): State<App>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let lobby = query.get("lobby").map_or(MAIN, String::as_str);
    if !valid_name(lobby) {
        return Err(ApiError::BadRequest(
            "lobby must match [a-z0-9_-]{1,32}".into(),
        ));
    }
    let rooms = app.rooms.list(lobby);
    Ok(axum::Json(serde_json::json!({ "rooms": rooms })).into_response())
}

/// `GET /api/games`: every game this server hosts, the default first (CONTRACT §11).
async fn games(State(app): State<App>) -> Response {
    axum::Json(app.rooms.games().list()).into_response()
}

/// `GET /metrics`: Prometheus text exposition.
async fn metrics(State(app): State<App>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}
