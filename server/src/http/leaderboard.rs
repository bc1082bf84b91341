//! `GET /api/leaderboard`: registered players ranked by wins, then points, then name.

use axum::Router;
use axum::extract::{FromRef, Query, State};
use axum::routing::get;
use serde::Serialize;

use super::error::{ApiError, ApiJson};
use crate::protocol::valid_name;
use crate::store::{LeaderboardEntry, Store};

/// How many players the leaderboard lists: a page's worth, and a bound on the
/// work one anonymous request can cause.
pub const LEADERBOARD_SIZE: usize = 100;

/// `/api/leaderboard`.
pub fn routes<S>() -> Router<S>
where
    Store: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/api/leaderboard", get(leaderboard))
}

#[derive(Debug, Serialize)]
struct Leaderboard {
    players: Vec<LeaderboardEntry>,
}

/// `?game=<id>`: only that game's matches count.
#[derive(Debug, serde::Deserialize)]
struct LeaderboardQuery {
    game: Option<String>,
}

async fn leaderboard(
    State(store): State<Store>,
    Query(query): Query<LeaderboardQuery>,
) -> Result<ApiJson<Leaderboard>, ApiError> {
    if query.game.as_deref().is_some_and(|g| !valid_name(g)) {
        return Err(ApiError::BadRequest(
            "game must match [a-z0-9_-]{1,32}".into(),
        ));
    }
    let players = store.leaderboard(LEADERBOARD_SIZE, query.game).await?;
    Ok(ApiJson(Leaderboard { players }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Accounts;
    use crate::store::{MEMORY_URL, MatchPlayer, MatchRecord};
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use serde_json::{Value, json};
    use tower::ServiceExt;

    async fn fetch(store: &Store) -> (StatusCode, Value) {
        fetch_at(store, "/api/leaderboard").await
    }

    async fn fetch_at(store: &Store, uri: &str) -> (StatusCode, Value) {
        let response = routes::<Store>()
            .with_state(store.clone())
            .oneshot(
                Request::get(uri)
                    .body(Body::empty())
                    .expect("expected a valid request"),
            )
            .await
            .expect("expected the router to answer");
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1024 * 1024)
            .await
            .expect("expected a readable body");
        (
            status,
            serde_json::from_slice(&bytes).expect("expected a JSON body"),
        )
    }

    fn player(user_id: &str, name: &str, points: u32, place: u32) -> MatchPlayer {
        MatchPlayer {
            user_id: user_id.into(),
            name: name.into(),
            guest: user_id.starts_with('g'),
            points,
            place,
            won: place == 1,
        }
    }

    #[tokio::test]
    async fn empty_then_ranked() {
        let store = Store::open(MEMORY_URL).expect("expected an in-memory store");
        let accounts = Accounts::open(store.clone())
            .await
            .expect("expected the accounts");
        let (status, json) = fetch(&store).await;
        assert_eq!(status, StatusCode::OK, "expected 200 for the leaderboard");
        assert_eq!(
            json,
            json!({"players": []}),
            "expected no players before any match"
        );

        let ada = accounts.register("Ada", "password1").await.expect("ada");
        let bob = accounts.register("Bob", "password2").await.expect("bob");
        for (winner, game) in [(&bob, "curve"), (&bob, "curve"), (&ada, "bumper")] {
            let loser = if winner.id == ada.id { &bob } else { &ada };
            store
                .record_match(MatchRecord {
                    room_id: "r".into(),
                    room_name: "R".into(),
                    game: game.into(),
                    rounds: 1,
                    seed: 7,
                    started_at_ms: 0,
                    ended_at_ms: 1_000,
                    winner_user_id: Some("gGUESTGUEST1".into()),
                    input_log: Vec::new(),
                    players: vec![
                        player("gGUESTGUEST1", "Guest", 10, 1),
                        player(&winner.id, &winner.name, 4, 2),
                        player(&loser.id, &loser.name, 1, 3),
                    ],
                })
                .await
                .expect("expected the match to be stored");
        }

        let (status, json) = fetch(&store).await;
        assert_eq!(status, StatusCode::OK, "expected 200 for the leaderboard");
        // Nobody registered won (the guest did), so points decide: Bob 4+4+1, Ada 1+1+4.
        assert_eq!(
            json,
            json!({"players": [
                {"name": "Bob", "wins": 0, "points": 9, "matches": 3},
                {"name": "Ada", "wins": 0, "points": 6, "matches": 3},
            ]}),
            "expected registered players ranked by points with the guest left out"
        );
        let (_, bumper) = fetch_at(&store, "/api/leaderboard?game=bumper").await;
        assert_eq!(
            bumper,
            json!({"players": [
                {"name": "Ada", "wins": 0, "points": 4, "matches": 1},
                {"name": "Bob", "wins": 0, "points": 1, "matches": 1},
            ]}),
            "expected only Bumper's match to count"
        );
        let (_, none) = fetch_at(&store, "/api/leaderboard?game=chess").await;
        assert_eq!(none, json!({"players": []}), "no match of that game");
        let (status, _) = fetch_at(&store, "/api/leaderboard?game=NOT%20A%20GAME").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
