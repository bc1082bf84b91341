//! `GET /api/matches` and `GET /api/matches/<id>`: finished matches, newest first
//! (CONTRACT §7), optionally one player's (`?player=<user id>`). Each links to its
//! replay (`/#/replay/<id>`).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRef, Path, Query, State};
use axum::routing::get;
use serde::Serialize;

use super::error::{ApiError, ApiJson};
use crate::store::{MatchSummary, Store};

/// Matches listed when the request names no `limit`.
pub const DEFAULT_MATCHES: usize = 20;

/// The most matches one request lists.
pub const MAX_MATCHES: usize = 100;

/// `/api/matches`, `/api/matches/{id}`.
pub fn routes<S>() -> Router<S>
where
    Store: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/matches", get(list))
        .route("/api/matches/{id}", get(one))
}

#[derive(Debug, Serialize)]
struct Matches {
    matches: Vec<MatchSummary>,
}

#[derive(Debug, Serialize)]
struct OneMatch {
    #[serde(flatten)]
    summary: MatchSummary,
    replay: String,
}

async fn list(
    State(store): State<Store>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<ApiJson<Matches>, ApiError> {
    let limit = match query.get("limit") {
        None => DEFAULT_MATCHES,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_MATCHES).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "limit must be a number from 1 to {MAX_MATCHES}"
                )));
            }
        },
    };
    // `player=<user id>`: that player's own history.
    let player = query.get("player").cloned();
    let matches = store.matches(limit, player).await?;
    Ok(ApiJson(Matches { matches }))
}

async fn one(
    State(store): State<Store>,
    Path(id): Path<String>,
) -> Result<ApiJson<OneMatch>, ApiError> {
    let not_found = || ApiError::NotFound("no such match");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let summary = store.match_summary(id).await?.ok_or_else(not_found)?;
    Ok(ApiJson(OneMatch {
        replay: format!("/#/replay/{}", summary.id),
        summary,
    }))
}
