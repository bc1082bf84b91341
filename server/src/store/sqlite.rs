//! The SQLite engine: opening a database from a URL, tuning it, migrating its schema,
//! and every query in SQLite's dialect.
//!
//! One connection behind a mutex is enough: every statement here is a short indexed
//! read or a single small write, and the slow part of sign-in (argon2) runs in `auth/`,
//! outside the lock.
//!
//! **Invariant:** the mutex is only ever taken inside `spawn_blocking`, never held
//! across an `.await`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use refinery::{Migration, Runner, Target};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::{
    AccountRow, DbError, LeaderboardEntry, MatchPlayer, MatchRecord, MatchSummary,
    MatchSummaryPlayer, StoredMatch, now_ms,
};

/// How long a statement waits for another connection's write lock before giving up
/// with `SQLITE_BUSY`. Our own writes are short, so a few seconds means something
/// else (a backup, a second server on the same file) holds the lock for too long.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The URL that selects a private in-memory database (gone when the process exits).
pub const MEMORY_URL: &str = "sqlite::memory:";

/// The schema, oldest migration first, as refinery names them (`V<n>__<name>`).
/// Append new migrations; never edit old ones: databases in the field have applied
/// them, and refinery refuses to start on one whose recorded checksum differs.
const MIGRATIONS: &[(&str, &str)] = &[
    ("V1__init", include_str!("../../migrations/0001_init.sql")),
    (
        "V2__match_history",
        include_str!("../../migrations/0002_match_history.sql"),
    ),
    (
        "V3__match_game",
        include_str!("../../migrations/0003_match_game.sql"),
    ),
];

/// Where a database URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Memory,
    File(PathBuf),
}

/// Parses `sqlite::memory:` or `sqlite://PATH` (relative `sqlite://kurve.db`,
/// absolute `sqlite:///var/lib/kurve.db`). A `?query` suffix, as other tools write
/// it (`?mode=rwc`), is ignored: the file is always created if missing.
pub fn parse_url(url: &str) -> Result<Location, DbError> {
    let invalid = || DbError::InvalidUrl(url.to_owned());
    if url == MEMORY_URL {
        return Ok(Location::Memory);
    }
    let rest = url.strip_prefix("sqlite://").ok_or_else(invalid)?;
    let path = rest.split_once('?').map_or(rest, |(path, _query)| path);
    if path.is_empty() {
        return Err(invalid());
    }
    if path == ":memory:" {
        return Ok(Location::Memory);
    }
    Ok(Location::File(PathBuf::from(path)))
}

/// Opens (creating if missing) and migrates the database at `url`.
///
/// File databases use WAL, so readers never wait for the writer, and a busy timeout,
/// so a briefly held lock is waited out instead of failing the request.
fn open_connection(url: &str) -> Result<Connection, DbError> {
    let mut conn = match parse_url(url)? {
        Location::Memory => Connection::open_in_memory()?,
        Location::File(path) => {
            let conn = Connection::open(&path)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %path.display(), mode, "sqlite refused wal mode");
            }
            // In WAL mode NORMAL is durable across application crashes; only an
            // OS crash or power loss can lose the last commits.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn
        }
    };
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn runner() -> Result<Runner, DbError> {
    let migrations = MIGRATIONS
        .iter()
        .map(|(name, sql)| Migration::unapplied(name, sql))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Runner::new(&migrations))
}

/// Brings the schema up to date. Safe to run on every start: applied migrations are
/// recorded in refinery's `refinery_schema_history` and skipped.
///
/// A database made before refinery (by `rusqlite_migration`) has no history there;
/// it counted its applied migrations in `PRAGMA user_version`. Those are recorded as
/// applied without running them again, once, and `user_version` is left as it was.
fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    let latest = runner()?;
    let history: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master \
         WHERE type = 'table' AND name = 'refinery_schema_history'",
        [],
        |row| row.get(0),
    )?;
    if !history || latest.get_last_applied_migration(conn)?.is_none() {
        let applied: i32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if applied > 0 {
            runner()?
                .set_target(Target::FakeVersion(applied))
                .run(conn)?;
            tracing::info!(
                version = applied,
                "sqlite: migrations counted in user_version recorded in refinery's history"
            );
        }
    }
    latest.run(conn)?;
    Ok(())
}

/// The SQLite store. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `url`: `sqlite://PATH` or
    /// `sqlite::memory:`.
    pub fn open(url: &str) -> Result<SqliteStore, DbError> {
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(open_connection(url)?)),
        })
    }

    /// The connection, for tests that look at rows directly.
    #[cfg(test)]
    pub(crate) fn connection(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || f(&mut lock(&conn)))
            .await
            .map_err(|e| DbError::TaskFailed(e.to_string()))?
    }

    pub async fn name_exists(&self, key: String) -> Result<bool, DbError> {
        self.with_conn(move |conn| {
            Ok(conn
                .query_row("SELECT 1 FROM accounts WHERE name_key = ?1", [key], |_| {
                    Ok(())
                })
                .optional()?
                .is_some())
        })
        .await
    }

    /// Inserts an account; `None` when the UNIQUE index refuses its name key.
    pub async fn insert_account(
        &self,
        name: String,
        key: String,
        password_hash: String,
    ) -> Result<Option<i64>, DbError> {
        self.with_conn(move |conn| {
            let inserted = conn.execute(
                "INSERT INTO accounts (name, name_key, password_hash, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![name, key, password_hash, now_ms()],
            );
            match inserted {
                Ok(_) => Ok(Some(conn.last_insert_rowid())),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == ErrorCode::ConstraintViolation =>
                {
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    pub async fn find_account(&self, key: String) -> Result<Option<AccountRow>, DbError> {
        self.with_conn(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT id, name, password_hash FROM accounts WHERE name_key = ?1",
                    [key],
                    |row| {
                        Ok(AccountRow {
                            id: row.get(0)?,
                            name: row.get(1)?,
                            password_hash: row.get(2)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    /// See [`super::Store::rekey_names`].
    pub async fn rekey_names(&self, key_of: fn(&str) -> String) -> Result<(), DbError> {
        self.with_conn(move |conn| {
            let rows: Vec<(i64, String, String)> = conn
                .prepare("SELECT id, name, name_key FROM accounts")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<Result<_, _>>()?;
            for (id, name, old_key) in rows {
                let key = key_of(&name);
                if key == old_key {
                    continue;
                }
                match conn.execute(
                    "UPDATE accounts SET name_key = ?1 WHERE id = ?2",
                    params![key, id],
                ) {
                    Ok(_) => {}
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == ErrorCode::ConstraintViolation =>
                    {
                        tracing::warn!(
                            account = id,
                            "an older account's name looks like another's; its key is kept"
                        );
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        })
        .await
    }

    /// Stores a finished match and its players in one transaction; returns its id.
    pub async fn record_match(&self, m: MatchRecord) -> Result<i64, DbError> {
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO matches \
                 (room_id, seed, started_at, ended_at, duration_ms, winner_user_id, input_log, \
                  room_name, rounds, game) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    m.room_id,
                    // SQLite integers are signed 64-bit; keep the seed's bits as they are.
                    m.seed as i64,
                    m.started_at_ms,
                    m.ended_at_ms,
                    m.ended_at_ms.saturating_sub(m.started_at_ms).max(0),
                    m.winner_user_id,
                    m.input_log,
                    m.room_name,
                    m.rounds,
                    m.game,
                ],
            )?;
            let match_id = tx.last_insert_rowid();
            {
                let mut insert = tx.prepare(
                    "INSERT INTO match_players \
                     (match_id, user_id, name, guest, points, place, won) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for p in &m.players {
                    insert.execute(params![
                        match_id, p.user_id, p.name, p.guest, p.points, p.place, p.won
                    ])?;
                }
            }
            tx.commit()?;
            Ok(match_id)
        })
        .await
    }

    pub async fn leaderboard(
        &self,
        limit: usize,
        game: Option<String>,
    ) -> Result<Vec<LeaderboardEntry>, DbError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT a.name, s.wins, s.points, s.matches \
                 FROM (SELECT user_id, SUM(won) AS wins, SUM(points) AS points, \
                              COUNT(*) AS matches \
                       FROM match_players WHERE guest = 0 \
                         AND (?2 IS NULL OR match_id IN (SELECT id FROM matches WHERE game = ?2)) \
                       GROUP BY user_id) AS s \
                 JOIN accounts AS a \
                   ON substr(s.user_id, 1, 1) = 'u' AND a.id = CAST(substr(s.user_id, 2) AS INTEGER) \
                 ORDER BY s.wins DESC, s.points DESC, a.name_key, a.id \
                 LIMIT ?1",
            )?;
            let rows = query.query_map(params![limit, game], |row| {
                Ok(LeaderboardEntry {
                    name: row.get(0)?,
                    wins: row.get(1)?,
                    points: row.get(2)?,
                    matches: row.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub async fn matches(
        &self,
        limit: usize,
        player: Option<String>,
    ) -> Result<Vec<MatchSummary>, DbError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            let ids: Vec<i64> = match player {
                None => conn
                    .prepare_cached(
                        "SELECT id FROM matches ORDER BY ended_at DESC, id DESC LIMIT ?1",
                    )?
                    .query_map([limit], |row| row.get(0))?
                    .collect::<Result<_, _>>()?,
                Some(player) => conn
                    .prepare_cached(
                        "SELECT m.id FROM matches AS m \
                         WHERE m.id IN (SELECT match_id FROM match_players WHERE user_id = ?2) \
                         ORDER BY m.ended_at DESC, m.id DESC LIMIT ?1",
                    )?
                    .query_map(params![limit, player], |row| row.get(0))?
                    .collect::<Result<_, _>>()?,
            };
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some((summary, _)) = load_match(conn, id, false)? {
                    out.push(summary);
                }
            }
            Ok(out)
        })
        .await
    }

    pub async fn match_summary(&self, id: i64) -> Result<Option<MatchSummary>, DbError> {
        self.with_conn(move |conn| Ok(load_match(conn, id, false)?.map(|(s, _)| s)))
            .await
    }

    pub async fn stored_match(&self, id: i64) -> Result<Option<StoredMatch>, DbError> {
        self.with_conn(move |conn| {
            let Some((summary, log)) = load_match(conn, id, true)? else {
                return Ok(None);
            };
            let players = conn
                .prepare_cached(
                    "SELECT user_id, name, guest, points, place, won FROM match_players \
                     WHERE match_id = ?1 ORDER BY place, rowid",
                )?
                .query_map([id], |row| {
                    Ok(MatchPlayer {
                        user_id: row.get(0)?,
                        name: row.get(1)?,
                        guest: row.get(2)?,
                        points: row.get(3)?,
                        place: row.get(4)?,
                        won: row.get(5)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(Some(StoredMatch {
                summary,
                input_log: log.unwrap_or_default(),
                players,
            }))
        })
        .await
    }
}

/// A match's input log, when it was asked for.
type MaybeLog = Option<Vec<u8>>;

/// A match's summary (and its input log when `with_log`), if the match exists.
fn load_match(
    conn: &Connection,
    id: i64,
    with_log: bool,
) -> Result<Option<(MatchSummary, MaybeLog)>, DbError> {
    let row = conn
        .prepare_cached(
            "SELECT room_name, room_id, ended_at, duration_ms, rounds, winner_user_id, \
             CASE WHEN ?2 THEN input_log END, game FROM matches WHERE id = ?1",
        )?
        .query_row(params![id, with_log], |row| {
            let room_name: Option<String> = row.get(0)?;
            let room_id: Option<String> = row.get(1)?;
            Ok((
                room_name.or(room_id).unwrap_or_default(),
                row.get::<_, Option<i64>>(2)?.unwrap_or(0),
                row.get::<_, Option<i64>>(3)?.unwrap_or(0),
                row.get::<_, Option<u32>>(4)?.unwrap_or(0),
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<Vec<u8>>>(6)?,
                row.get::<_, String>(7)?,
            ))
        })
        .optional()?;
    let Some((room_name, finished_at, duration_ms, rounds, winner, log, game)) = row else {
        return Ok(None);
    };
    let players = conn
        .prepare_cached(
            "SELECT user_id, name, points, place FROM match_players \
             WHERE match_id = ?1 ORDER BY place, rowid",
        )?
        .query_map([id], |row| {
            Ok(MatchSummaryPlayer {
                id: row.get(0)?,
                name: row.get(1)?,
                points: row.get(2)?,
                place: row.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let summary = MatchSummary {
        id,
        room_name,
        game,
        finished_at,
        duration_ms,
        rounds,
        players,
        winner,
    };
    Ok(Some((summary, log)))
}

/// A panic while holding the lock leaves the connection usable (an open
/// transaction is rolled back when it is dropped), so poisoning is ignored.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SqliteStore {
        SqliteStore::open(MEMORY_URL).expect("expected an in-memory store")
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

    fn record(players: Vec<MatchPlayer>) -> MatchRecord {
        MatchRecord {
            room_id: "r1".into(),
            room_name: "Room one".into(),
            game: "curve".into(),
            rounds: 3,
            seed: u64::MAX,
            started_at_ms: 1_000,
            ended_at_ms: 61_000,
            winner_user_id: players.iter().find(|p| p.won).map(|p| p.user_id.clone()),
            input_log: vec![1, 2, 3],
            players,
        }
    }

    /// The schema's tables and indexes as SQLite prints them, refinery's own left out.
    fn schema(conn: &Connection) -> Vec<(String, String)> {
        conn.prepare(
            "SELECT name, sql FROM sqlite_master \
             WHERE name NOT LIKE 'refinery%' AND sql IS NOT NULL ORDER BY name",
        )
        .expect("expected sqlite_master to be queryable")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("expected the schema rows")
        .collect::<Result<_, _>>()
        .expect("expected readable schema rows")
    }

    /// A database as the code before refinery made it: `rusqlite_migration` applied
    /// both migrations and counted them in `user_version`.
    fn made_by_the_old_runner(path: &std::path::Path) -> Connection {
        let mut conn = Connection::open(path).expect("expected a database file");
        let old = [
            rusqlite_migration::M::up(include_str!("../../migrations/0001_init.sql")),
            rusqlite_migration::M::up(include_str!("../../migrations/0002_match_history.sql")),
        ];
        rusqlite_migration::Migrations::from_slice(&old)
            .to_latest(&mut conn)
            .expect("expected the old runner to migrate");
        conn
    }

    #[test]
    fn migrations_are_valid() {
        let mut conn = Connection::open_in_memory().expect("expected an in-memory database");
        let report = runner()
            .expect("expected every migration name to parse")
            .run(&mut conn)
            .expect("expected the migration list to apply cleanly to an empty database");
        assert_eq!(
            report.applied_migrations().len(),
            MIGRATIONS.len(),
            "expected every migration applied to an empty database"
        );
        let again = runner().expect("names").run(&mut conn).expect("a re-run");
        assert!(
            again.applied_migrations().is_empty(),
            "expected a second run to apply nothing"
        );
    }

    #[test]
    fn a_fresh_database_has_the_schema_the_old_runner_made() {
        let dir = tempfile::tempdir().expect("expected a temp dir");
        let old = made_by_the_old_runner(&dir.path().join("old.db"));
        // What came after the old runner: a match's game.
        old.execute_batch(include_str!("../../migrations/0003_match_game.sql"))
            .expect("expected the game column to apply");
        let new = open_connection(MEMORY_URL).expect("expected a fresh database");
        assert_eq!(
            schema(&new),
            schema(&old),
            "expected the same tables, columns and indexes"
        );
    }

    #[test]
    fn a_database_the_old_runner_made_upgrades_with_its_rows() {
        let dir = tempfile::tempdir().expect("expected a temp dir");
        let path = dir.path().join("kurve.db");
        let conn = made_by_the_old_runner(&path);
        conn.execute(
            "INSERT INTO accounts (name, name_key, password_hash, created_at) \
             VALUES ('Ada', 'ada', 'phc', 5)",
            [],
        )
        .expect("expected an account row");
        conn.execute(
            "INSERT INTO matches (room_id, seed, room_name, rounds, input_log) \
             VALUES ('r1', -1, 'Room one', 3, x'010203')",
            [],
        )
        .expect("expected a match row");
        drop(conn);

        let url = format!("sqlite://{}", path.display());
        let upgraded = open_connection(&url).expect("expected the old database to open");
        let (name, key, phc): (String, String, String) = upgraded
            .query_row(
                "SELECT name, name_key, password_hash FROM accounts",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("expected the account row kept");
        assert_eq!(
            (name.as_str(), key.as_str(), phc.as_str()),
            ("Ada", "ada", "phc")
        );
        let (room, log, game): (String, Vec<u8>, String) = upgraded
            .query_row(
                "SELECT room_name, input_log, game FROM matches",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("expected the match row kept");
        assert_eq!((room.as_str(), log), ("Room one", vec![1, 2, 3]));
        assert_eq!(game, "curve", "a match stored before games was Curve");
        let recorded: Vec<i32> = upgraded
            .prepare("SELECT version FROM refinery_schema_history ORDER BY version")
            .expect("expected refinery's history")
            .query_map([], |row| row.get(0))
            .expect("expected history rows")
            .collect::<Result<_, _>>()
            .expect("expected readable versions");
        assert_eq!(
            recorded,
            [1, 2, 3],
            "expected both old migrations recorded, not re-run, and the new one run"
        );
        drop(upgraded);
        open_connection(&url).expect("expected a second open to migrate nothing");
    }

    #[tokio::test]
    async fn match_history_lists_newest_first_with_players_by_place() {
        let store = store();
        let first = store
            .record_match(record(vec![
                player("u1", "Ada", 12, 1),
                player("u2", "Bob", 4, 2),
            ]))
            .await
            .expect("first");
        let second = store
            .record_match(MatchRecord {
                ended_at_ms: 90_000,
                ..record(vec![player("u2", "Bob", 10, 1), player("u1", "Ada", 9, 2)])
            })
            .await
            .expect("second");
        let listed = store.matches(10, None).await.expect("list");
        assert_eq!(
            listed.iter().map(|m| m.id).collect::<Vec<_>>(),
            [second, first]
        );
        let m = &listed[1];
        assert_eq!(m.room_name, "Room one");
        assert_eq!(m.rounds, 3);
        assert_eq!(m.duration_ms, 60_000);
        assert_eq!(m.winner.as_deref(), Some("u1"));
        assert_eq!(
            m.players
                .iter()
                .map(|p| (p.name.as_str(), p.points, p.place))
                .collect::<Vec<_>>(),
            [("Ada", 12, 1), ("Bob", 4, 2)]
        );
        assert_eq!(
            store.matches(1, None).await.expect("list").len(),
            1,
            "the limit"
        );
        let bobs = store.matches(10, Some("u2".into())).await.expect("list");
        assert_eq!(bobs.len(), 2, "Bob played both");
        let none = store.matches(10, Some("u9".into())).await.expect("list");
        assert!(none.is_empty(), "nobody else played");
        let stored = store
            .stored_match(first)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(stored.input_log, vec![1, 2, 3]);
        assert_eq!(stored.players[0].user_id, "u1");
        assert!(store.stored_match(999).await.expect("read").is_none());
    }

    #[tokio::test]
    async fn leaderboard_ranks_registered_players() {
        let store = store();
        assert_eq!(
            store.leaderboard(10, None).await.expect("leaderboard"),
            vec![],
            "expected an empty leaderboard before any match"
        );
        let mut ids = Vec::new();
        for (name, key) in [
            ("Ada", "ada"),
            ("bob", "bob"),
            ("Cy", "cy"),
            ("Idle", "idle"),
        ] {
            let id = store
                .insert_account(name.into(), key.into(), "phc".into())
                .await
                .expect("an insert")
                .expect("a free name");
            ids.push(format!("u{id}"));
        }
        let [ada, bob, cy, _idle] = &ids[..] else {
            panic!("expected four accounts");
        };

        // Ada: 1 win, 5 points. Bob: 1 win, 5 points (ties Ada, loses on name).
        // Cy: 0 wins, 9 points. The guest wins a match but is not ranked.
        store
            .record_match(record(vec![
                player(ada, "Ada", 3, 1),
                player(bob, "bob", 2, 2),
                player(cy, "Cy", 4, 3),
            ]))
            .await
            .expect("expected the first match to be stored");
        store
            .record_match(record(vec![
                player(bob, "bob", 3, 1),
                player(ada, "Ada", 2, 2),
                player(cy, "Cy", 5, 3),
            ]))
            .await
            .expect("expected the second match to be stored");
        let id = store
            .record_match(record(vec![
                player("gGUESTGUEST12", "Guest", 9, 1),
                player(cy, "Cy", 0, 2),
            ]))
            .await
            .expect("expected the third match to be stored");
        assert_eq!(id, 3, "expected match ids to count up from 1");

        let board = store.leaderboard(10, None).await.expect("leaderboard");
        let entry = |name: &str, wins, points, matches| LeaderboardEntry {
            name: name.into(),
            wins,
            points,
            matches,
        };
        assert_eq!(
            board,
            vec![
                entry("Ada", 1, 5, 2),
                entry("bob", 1, 5, 2),
                entry("Cy", 0, 9, 3),
            ],
            "expected wins desc, points desc, then name; guests and idle accounts absent"
        );
        assert_eq!(
            store.leaderboard(1, None).await.expect("leaderboard").len(),
            1,
            "expected the limit to cap the rows"
        );
    }

    #[tokio::test]
    async fn match_rows_keep_every_field() {
        let store = store();
        let id = store
            .record_match(record(vec![player("gAAAAAAAAAAAA", "G", 1, 1)]))
            .await
            .expect("expected the match to be stored");
        let (seed, duration, winner, log): (i64, i64, Option<String>, Vec<u8>) = store
            .connection()
            .query_row(
                "SELECT seed, duration_ms, winner_user_id, input_log FROM matches WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .expect("expected the match row");
        assert_eq!(seed as u64, u64::MAX, "expected the seed's bits kept");
        assert_eq!(duration, 60_000, "expected duration = ended - started");
        assert_eq!(
            winner.as_deref(),
            Some("gAAAAAAAAAAAA"),
            "expected the winner id"
        );
        assert_eq!(log, vec![1, 2, 3], "expected the input log verbatim");
    }

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_url("sqlite::memory:").ok(),
            Some(Location::Memory),
            "expected sqlite::memory: to mean an in-memory database"
        );
        assert_eq!(
            parse_url("sqlite://kurve.db").ok(),
            Some(Location::File(PathBuf::from("kurve.db"))),
            "expected a relative path after sqlite://"
        );
        assert_eq!(
            parse_url("sqlite:///var/lib/kurve.db?mode=rwc").ok(),
            Some(Location::File(PathBuf::from("/var/lib/kurve.db"))),
            "expected an absolute path with the query dropped"
        );
        for bad in [
            "",
            "kurve.db",
            "postgres://x",
            "sqlite://",
            "sqlite:kurve.db",
        ] {
            assert!(
                matches!(parse_url(bad), Err(DbError::InvalidUrl(_))),
                "expected {bad:?} to be rejected as an invalid url"
            );
        }
    }

    #[test]
    fn memory_database_has_the_schema() {
        let conn = open_connection(MEMORY_URL).expect("expected an in-memory database to open");
        for table in ["accounts", "matches", "match_players"] {
            let found: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |row| row.get(0),
                )
                .expect("expected sqlite_master to be queryable");
            assert_eq!(found, 1, "expected table {table} after migrating");
        }
    }

    #[test]
    fn file_database_reopens_and_migrates_twice() {
        let dir =
            std::env::temp_dir().join(format!("kurve-db-test-{}-{}", std::process::id(), now_ms()));
        std::fs::create_dir_all(&dir).expect("expected a temp dir");
        let path = dir.join("kurve.db");
        let url = format!("sqlite://{}", path.display());

        let conn =
            open_connection(&url).expect("expected the file database to be created and migrated");
        conn.execute(
            "INSERT INTO accounts (name, name_key, password_hash, created_at) \
             VALUES ('Ada', 'ada', 'x', 0)",
            [],
        )
        .expect("expected an insert into the fresh schema");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .expect("expected journal_mode to be readable");
        assert_eq!(
            mode.to_lowercase(),
            "wal",
            "expected a file database in WAL mode"
        );
        drop(conn);

        let conn = open_connection(&url).expect("expected reopening (migrating again) to succeed");
        let accounts: i64 = conn
            .query_row("SELECT count(*) FROM accounts", [], |row| row.get(0))
            .expect("expected the accounts table to survive a reopen");
        assert_eq!(accounts, 1, "expected the row written before the reopen");
        drop(conn);

        std::fs::remove_dir_all(&dir).ok();
    }
}
