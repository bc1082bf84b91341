//! The account store on PostgreSQL gives the same answers as on SQLite: the same
//! script of registrations, sign-ins and matches is run on both and compared. Runs on
//! a private server of Debian's PostgreSQL (`scripts/install-postgres.sh`).

use kurve_server::auth::{AccountStore, AuthError, MatchPlayer, MatchRecord};
use kurve_tests::services::Postgres;

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

fn record(ended_at_ms: i64, players: Vec<MatchPlayer>) -> MatchRecord {
    MatchRecord {
        room_id: "r1".into(),
        room_name: "Room one".into(),
        rounds: 3,
        seed: u64::MAX,
        started_at_ms: 1_000,
        ended_at_ms,
        winner_user_id: players.iter().find(|p| p.won).map(|p| p.user_id.clone()),
        input_log: vec![1, 2, 3, 255],
        players,
    }
}

/// Everything a store answers to one script, as text to compare.
async fn script(store: &AccountStore) -> Vec<String> {
    let mut out = Vec::new();
    let ada = store
        .register("Ada", "correct horse battery")
        .await
        .expect("register Ada");
    let bob = store
        .register("Bob", "another good passphrase")
        .await
        .expect("register Bob");
    out.push(format!("{:?}", (&ada.name, &bob.name, ada.id != bob.id)));
    out.push(format!(
        "{:?}",
        matches!(
            store.register("ADA", "correct horse battery").await,
            Err(AuthError::NameTaken)
        )
    ));
    out.push(format!(
        "{:?}",
        store
            .login("ada", "correct horse battery")
            .await
            .map(|u| u.id == ada.id)
            .ok()
    ));
    out.push(format!(
        "{:?}",
        matches!(
            store.login("ada", "wrong").await,
            Err(AuthError::InvalidCredentials)
        )
    ));
    out.push(format!(
        "{:?}",
        matches!(store.guest("Bob").await, Err(AuthError::NameTaken))
    ));
    let first = store
        .record_match(record(
            61_000,
            vec![
                player(&ada.id, "Ada", 12, 1),
                player(&bob.id, "Bob", 4, 2),
                player("gGUESTguest12", "Guest", 2, 3),
            ],
        ))
        .await
        .expect("first match");
    let second = store
        .record_match(record(
            90_000,
            vec![player(&bob.id, "Bob", 10, 1), player(&ada.id, "Ada", 9, 2)],
        ))
        .await
        .expect("second match");
    out.push(format!(
        "{:?}",
        store.leaderboard(10).await.expect("leaderboard")
    ));
    let listed = store.matches(10, None).await.expect("matches");
    out.push(format!(
        "{:?}",
        listed.iter().map(|m| m.id == second).collect::<Vec<_>>()
    ));
    let strip = |mut m: kurve_server::auth::MatchSummary| {
        m.id = 0;
        for p in &mut m.players {
            p.id = p.id.chars().next().map(String::from).unwrap_or_default();
        }
        m.winner = m.winner.map(|w| w[..1].to_owned());
        format!("{m:?}")
    };
    out.extend(listed.into_iter().map(strip));
    out.push(format!(
        "{}",
        store
            .matches(10, Some(ada.id.clone()))
            .await
            .expect("mine")
            .len()
    ));
    out.push(format!(
        "{}",
        store
            .matches(10, Some("u999".into()))
            .await
            .expect("none")
            .len()
    ));
    let stored = store
        .stored_match(first)
        .await
        .expect("read")
        .expect("stored");
    out.push(format!(
        "{:?}",
        (
            stored.input_log,
            stored
                .players
                .iter()
                .map(|p| (p.name.clone(), p.guest, p.points, p.place, p.won))
                .collect::<Vec<_>>()
        )
    ));
    out.push(format!(
        "{:?}",
        store.stored_match(9_999).await.expect("read").is_none()
    ));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_answers_as_sqlite_does() {
    let postgres = Postgres::start();
    let on_postgres = AccountStore::connect(&postgres.url)
        .await
        .expect("postgres store");
    let on_sqlite = AccountStore::connect("sqlite::memory:")
        .await
        .expect("sqlite store");
    let expected = script(&on_sqlite).await;
    let got = script(&on_postgres).await;
    assert_eq!(got, expected);
    // A second connection (another node) migrates nothing and sees the same data.
    let again = AccountStore::connect(&postgres.url)
        .await
        .expect("second node");
    assert_eq!(
        again.leaderboard(10).await.expect("leaderboard"),
        on_postgres.leaderboard(10).await.expect("leaderboard")
    );
    assert!(again.login("Ada", "correct horse battery").await.is_ok());
}
