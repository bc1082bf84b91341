//! The store on PostgreSQL gives the same answers as on SQLite: the same script of
//! registrations, sign-ins and matches is run on both and compared. A database the
//! migration runner before refinery made opens with its rows, and has the schema a
//! fresh one gets. Runs on a private server of Debian's PostgreSQL
//! (`scripts/install-postgres.sh`).

use kurve_server::auth::{Accounts, AuthError};
use kurve_server::store::{MatchPlayer, MatchRecord, Store};
use kurve_tests::services::Postgres;
use tokio_postgres::NoTls;

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
        game: "curve".into(),
        rounds: 3,
        seed: u64::MAX,
        started_at_ms: 1_000,
        ended_at_ms,
        winner_user_id: players.iter().find(|p| p.won).map(|p| p.user_id.clone()),
        input_log: vec![1, 2, 3, 255],
        players,
    }
}

/// The store at `url` and the accounts over it, as a node opens them.
async fn connect(url: &str) -> (Accounts, Store) {
    let store = Store::connect(url).await.expect("a store");
    let accounts = Accounts::open(store.clone()).await.expect("the accounts");
    (accounts, store)
}

/// Everything a store answers to one script, as text to compare.
async fn script(accounts: &Accounts, store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let ada = accounts
        .register("Ada", "correct horse battery")
        .await
        .expect("register Ada");
    let bob = accounts
        .register("Bob", "another good passphrase")
        .await
        .expect("register Bob");
    out.push(format!("{:?}", (&ada.name, &bob.name, ada.id != bob.id)));
    out.push(format!(
        "{:?}",
        matches!(
            accounts.register("ADA", "correct horse battery").await,
            Err(AuthError::NameTaken)
        )
    ));
    out.push(format!(
        "{:?}",
        accounts
            .login("ada", "correct horse battery")
            .await
            .map(|u| u.id == ada.id)
            .ok()
    ));
    out.push(format!(
        "{:?}",
        matches!(
            accounts.login("ada", "wrong").await,
            Err(AuthError::InvalidCredentials)
        )
    ));
    out.push(format!(
        "{:?}",
        matches!(accounts.guest("Bob").await, Err(AuthError::NameTaken))
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
        store.leaderboard(10, None).await.expect("leaderboard")
    ));
    for game in ["curve", "bumper"] {
        out.push(format!(
            "{game}: {:?}",
            store
                .leaderboard(10, Some(game.into()))
                .await
                .expect("one game's leaderboard")
        ));
    }
    let listed = store.matches(10, None).await.expect("matches");
    out.push(format!(
        "{:?}",
        listed.iter().map(|m| m.id == second).collect::<Vec<_>>()
    ));
    let strip = |mut m: kurve_server::store::MatchSummary| {
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
    let (pg_accounts, on_postgres) = connect(&postgres.url).await;
    let (sqlite_accounts, on_sqlite) = connect("sqlite::memory:").await;
    let expected = script(&sqlite_accounts, &on_sqlite).await;
    let got = script(&pg_accounts, &on_postgres).await;
    assert_eq!(got, expected);
    // A second connection (another node) migrates nothing and sees the same data.
    let (again_accounts, again) = connect(&postgres.url).await;
    assert_eq!(
        again.leaderboard(10, None).await.expect("leaderboard"),
        on_postgres
            .leaderboard(10, None)
            .await
            .expect("leaderboard")
    );
    assert!(
        again_accounts
            .login("Ada", "correct horse battery")
            .await
            .is_ok()
    );
}

/// A plain connection, for writing and reading what the store does not.
async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("a plain connection");
    tokio::spawn(connection);
    client
}

/// The kurve tables' columns and indexes, as PostgreSQL describes them.
async fn schema(client: &tokio_postgres::Client) -> Vec<String> {
    let columns = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, \
                    coalesce(column_default, ''), is_identity::text \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name IN ('accounts', 'matches', 'match_players') \
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .await
        .expect("the columns");
    let indexes = client
        .query(
            "SELECT indexname::text, indexdef FROM pg_indexes \
             WHERE schemaname = 'public' AND tablename IN ('accounts', 'matches', 'match_players') \
             ORDER BY indexname",
            &[],
        )
        .await
        .expect("the indexes");
    columns
        .iter()
        .map(|r| {
            let fields: Vec<String> = (0..6).map(|i| r.get::<_, String>(i)).collect();
            fields.join(" ")
        })
        .chain(
            indexes
                .iter()
                .map(|r| format!("{} {}", r.get::<_, String>(0), r.get::<_, String>(1))),
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_the_old_runner_made_upgrades_with_its_rows() {
    let postgres = Postgres::start();
    let old = raw(&postgres.url).await;
    // What the hand-written runner before refinery did: its own table, and each
    // migration applied in a transaction with its row.
    old.batch_execute(
        "CREATE TABLE IF NOT EXISTS kurve_migrations \
         (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await
    .expect("the old bookkeeping");
    for (version, sql) in [
        (
            1,
            include_str!("../../server/migrations/postgres/0001_init.sql"),
        ),
        (
            2,
            include_str!("../../server/migrations/postgres/0002_match_history.sql"),
        ),
    ] {
        old.batch_execute(&format!(
            "BEGIN; {sql}; INSERT INTO kurve_migrations VALUES ({version}, 1); COMMIT;"
        ))
        .await
        .expect("an old migration");
    }
    old.batch_execute(
        "INSERT INTO accounts (name, name_key, password_hash, created_at) \
           VALUES ('Ada', 'ada', 'phc', 5); \
         INSERT INTO matches (room_id, seed, started_at, ended_at, duration_ms, winner_user_id, \
           input_log, room_name, rounds) \
           VALUES ('r1', -1, 1000, 61000, 60000, 'u1', '\\x0102ff', 'Room one', 3); \
         INSERT INTO match_players (match_id, user_id, name, guest, points, place, won) \
           VALUES (1, 'u1', 'Ada', false, 12, 1, true)",
    )
    .await
    .expect("rows written by the old code");

    let (accounts, store) = connect(&postgres.url).await;
    let versions: Vec<i32> = old
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .expect("refinery's history")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        versions,
        [1, 2, 3],
        "both old migrations recorded, not re-run, and the match's game added"
    );
    assert_eq!(
        format!(
            "{:?}",
            store.leaderboard(10, None).await.expect("leaderboard")
        ),
        r#"[LeaderboardEntry { name: "Ada", wins: 1, points: 12, matches: 1 }]"#,
        "the old rows ranked"
    );
    let stored = store
        .stored_match(1)
        .await
        .expect("read")
        .expect("the old match");
    assert_eq!(stored.input_log, vec![1, 2, 255]);
    assert_eq!(stored.summary.room_name, "Room one");
    assert_eq!(
        stored.summary.game, "curve",
        "a match stored before games was Curve"
    );
    assert_eq!(stored.players[0].user_id, "u1");
    let bob = accounts
        .register("Bob", "another good passphrase")
        .await
        .expect("a new account after the upgrade");
    assert_eq!(bob.id, "u2", "the old account's id is not reused");
    connect(&postgres.url).await;

    // A fresh database gets the schema the old runner made.
    old.batch_execute("CREATE DATABASE fresh")
        .await
        .expect("a second database");
    let (server, _) = postgres
        .url
        .rsplit_once('/')
        .expect("a database in the url");
    let fresh_url = format!("{server}/fresh");
    connect(&fresh_url).await;
    let fresh = raw(&fresh_url).await;
    assert_eq!(schema(&fresh).await, schema(&old).await);
}
