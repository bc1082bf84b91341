//! The account store: registered accounts, guests' names, finished matches and the
//! leaderboard, over one SQLite connection.
//!
//! One connection behind a mutex is enough: every statement here is a short indexed
//! read or a single small write, and the slow part of sign-in (argon2) runs outside
//! the lock.
//!
//! **Invariant:** the mutex is only ever taken inside `spawn_blocking`, never held
//! across an `.await`, and never while hashing a password.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::Rng;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::Serialize;

use super::postgres::PgStore;
use super::{AuthError, User, names, password};
use crate::db::{self, DbError};

pub use super::names::MAX_NAME_CHARS;

/// Length of the random part of a guest id: 64^12 = 2^72 ids, so two guests
/// colliding while both are online is not a practical concern.
const GUEST_ID_CHARS: usize = 12;

/// The alphabet of guest ids (RFC 4648 "base64url").
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A finished match, as the room hands it over for storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchRecord {
    pub room_id: String,
    /// The room's name when the match ended.
    pub room_name: String,
    /// Rounds played.
    pub rounds: u32,
    pub seed: u64,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    /// `None` when the match ended without a winner (everyone left).
    pub winner_user_id: Option<String>,
    /// The inputs that, with `seed`, replay the match.
    pub input_log: Vec<u8>,
    pub players: Vec<MatchPlayer>,
}

/// One participant's result in a [`MatchRecord`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchPlayer {
    pub user_id: String,
    pub name: String,
    pub guest: bool,
    pub points: u32,
    /// 1 for the winner.
    pub place: u32,
    pub won: bool,
}

/// A finished match as `GET /api/matches` lists it (CONTRACT §7).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MatchSummary {
    pub id: i64,
    pub room_name: String,
    /// Unix milliseconds.
    pub finished_at: i64,
    pub duration_ms: i64,
    pub rounds: u32,
    /// Best first.
    pub players: Vec<MatchSummaryPlayer>,
    /// The winner's user id; null when nobody won.
    pub winner: Option<String>,
}

/// One player of a [`MatchSummary`].
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MatchSummaryPlayer {
    pub id: String,
    pub name: String,
    pub points: u32,
    pub place: u32,
}

/// What a replay needs of a stored match: its input log and recorded standings.
#[derive(Clone, Debug)]
pub struct StoredMatch {
    pub summary: MatchSummary,
    pub input_log: Vec<u8>,
    /// As recorded when the match ended, best first.
    pub players: Vec<MatchPlayer>,
}

/// One row of `GET /api/leaderboard`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LeaderboardEntry {
    pub name: String,
    pub wins: u32,
    pub points: u64,
    pub matches: u32,
}

/// Accounts and match history. Cheap to clone; all clones share one connection.
/// SQLite (embedded, one node) or PostgreSQL (one store for a cluster): same tables,
/// same answers.
#[derive(Clone)]
pub struct AccountStore {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<Mutex<Connection>>),
    Postgres(Arc<PgStore>),
}

impl fmt::Debug for AccountStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountStore").finish_non_exhaustive()
    }
}

/// Normalises `raw` (NFKC, trimmed) and checks it against the naming rules: 1–24
/// characters, each a letter or digit that UTS #39 allows in identifiers, a space, `_`,
/// `-` or `.`. Returns the name as it will be shown.
pub fn validate_name(raw: &str) -> Result<String, AuthError> {
    names::normalize(raw).map_err(AuthError::InvalidName)
}

/// The form uniqueness is checked on: lookalike names share it.
fn name_key(name: &str) -> String {
    names::skeleton(name)
}

fn guest_id() -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(1 + GUEST_ID_CHARS);
    id.push('g');
    for _ in 0..GUEST_ID_CHARS {
        id.push(char::from(URL_SAFE[rng.random_range(0..URL_SAFE.len())]));
    }
    id
}

fn account_user(rowid: i64, name: String) -> User {
    User {
        id: format!("u{rowid}"),
        name,
        guest: false,
    }
}

impl AccountStore {
    /// Opens (creating and migrating) the database at `database_url`:
    /// `sqlite://PATH` or `sqlite::memory:`.
    pub fn open(database_url: &str) -> Result<Self, DbError> {
        let conn = db::open(database_url)?;
        rekey_names(&conn)?;
        Ok(Self::from_connection(conn))
    }

    /// Wraps an already migrated connection.
    pub fn from_connection(conn: Connection) -> Self {
        Self {
            backend: Backend::Sqlite(Arc::new(Mutex::new(conn))),
        }
    }

    /// Opens the database at `database_url`: `postgres://…` (connecting and migrating),
    /// or SQLite as [`AccountStore::open`] does.
    pub async fn connect(database_url: &str) -> Result<Self, DbError> {
        if !db::is_postgres(database_url) {
            return Self::open(database_url);
        }
        let store = PgStore::open(database_url).await?;
        store.rekey_names(name_key).await?;
        Ok(Self {
            backend: Backend::Postgres(Arc::new(store)),
        })
    }

    fn postgres(&self) -> Option<&PgStore> {
        match &self.backend {
            Backend::Postgres(store) => Some(store),
            Backend::Sqlite(_) => None,
        }
    }

    /// Creates an account. The password is hashed before the row is written; the
    /// name is checked both before hashing (cheap refusal) and by the UNIQUE index
    /// (two registrations racing for one name).
    pub async fn register(&self, name: &str, password: &str) -> Result<User, AuthError> {
        let name = validate_name(name)?;
        password::check_strength(password).map_err(AuthError::WeakPassword)?;
        let key = name_key(&name);
        if self.name_exists(key.clone()).await? {
            return Err(AuthError::NameTaken);
        }
        let phc = password::hash(password.to_owned()).await?;
        if let Some(pg) = self.postgres() {
            return match pg.insert_account(&name, &key, &phc).await? {
                Some(id) => Ok(account_user(id, name)),
                None => Err(AuthError::NameTaken),
            };
        }
        self.with_conn(move |conn| {
            let inserted = conn.execute(
                "INSERT INTO accounts (name, name_key, password_hash, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![name, key, phc, db::now_ms()],
            );
            match inserted {
                Ok(_) => Ok(account_user(conn.last_insert_rowid(), name)),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == ErrorCode::ConstraintViolation =>
                {
                    Err(AuthError::NameTaken)
                }
                Err(e) => Err(DbError::from(e).into()),
            }
        })
        .await
    }

    /// Checks a name and password. Unknown names and wrong passwords fail the same
    /// way and take about as long.
    pub async fn login(&self, name: &str, password: &str) -> Result<User, AuthError> {
        // Anything longer cannot be a stored password; refuse before hashing it.
        if password.chars().count() > password::MAX_PASSWORD_CHARS {
            return Err(AuthError::InvalidCredentials);
        }
        let key = name_key(name.trim());
        let found = if let Some(pg) = self.postgres() {
            pg.find_account(&key).await?
        } else {
            self.with_conn(move |conn| {
                conn.query_row(
                    "SELECT id, name, password_hash FROM accounts WHERE name_key = ?1",
                    [key],
                    |row| Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(|e| AuthError::Db(e.into()))
            })
            .await?
        };
        let Some((rowid, name, phc)) = found else {
            password::verify_dummy(password.to_owned()).await?;
            return Err(AuthError::InvalidCredentials);
        };
        if password::verify(password.to_owned(), phc).await? {
            Ok(account_user(rowid, name))
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }

    /// A guest identity. Not stored; refused if a registered account has the name,
    /// so nobody can pass as a registered player.
    pub async fn guest(&self, name: &str) -> Result<User, AuthError> {
        let name = validate_name(name)?;
        if self.name_exists(name_key(&name)).await? {
            return Err(AuthError::NameTaken);
        }
        Ok(User {
            id: guest_id(),
            name,
            guest: true,
        })
    }

    /// Stores a finished match and its players in one transaction; returns its id.
    pub async fn record_match(&self, m: MatchRecord) -> Result<i64, DbError> {
        if let Some(pg) = self.postgres() {
            return pg.record_match(&m).await;
        }
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO matches \
                 (room_id, seed, started_at, ended_at, duration_ms, winner_user_id, input_log, \
                  room_name, rounds) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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

    /// Registered players with at least one match, best first: most wins, then
    /// most points, then name. Guests play but are not ranked.
    pub async fn leaderboard(&self, limit: usize) -> Result<Vec<LeaderboardEntry>, DbError> {
        if let Some(pg) = self.postgres() {
            return pg.leaderboard(limit).await;
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT a.name, s.wins, s.points, s.matches \
                 FROM (SELECT user_id, SUM(won) AS wins, SUM(points) AS points, \
                              COUNT(*) AS matches \
                       FROM match_players WHERE guest = 0 GROUP BY user_id) AS s \
                 JOIN accounts AS a \
                   ON substr(s.user_id, 1, 1) = 'u' AND a.id = CAST(substr(s.user_id, 2) AS INTEGER) \
                 ORDER BY s.wins DESC, s.points DESC, a.name_key, a.id \
                 LIMIT ?1",
            )?;
            let rows = query.query_map([limit], |row| {
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

    /// The newest `limit` finished matches, newest first; only those `player` played in
    /// when given.
    pub async fn matches(
        &self,
        limit: usize,
        player: Option<String>,
    ) -> Result<Vec<MatchSummary>, DbError> {
        if let Some(pg) = self.postgres() {
            return pg.matches(limit, player).await;
        }
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

    /// One finished match, if it exists.
    pub async fn match_summary(&self, id: i64) -> Result<Option<MatchSummary>, DbError> {
        if let Some(pg) = self.postgres() {
            return pg.match_summary(id).await;
        }
        self.with_conn(move |conn| Ok(load_match(conn, id, false)?.map(|(s, _)| s)))
            .await
    }

    /// One finished match with what a replay needs.
    pub async fn stored_match(&self, id: i64) -> Result<Option<StoredMatch>, DbError> {
        if let Some(pg) = self.postgres() {
            return pg.stored_match(id).await;
        }
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

    async fn name_exists(&self, key: String) -> Result<bool, DbError> {
        if let Some(pg) = self.postgres() {
            return pg.name_exists(&key).await;
        }
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

    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let Backend::Sqlite(conn) = &self.backend else {
            return Err(E::from(DbError::TaskFailed(
                "a SQLite query on a PostgreSQL store".into(),
            )));
        };
        let conn = Arc::clone(conn);
        tokio::task::spawn_blocking(move || f(&mut lock(&conn)))
            .await
            .map_err(|e| E::from(DbError::TaskFailed(e.to_string())))?
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
             CASE WHEN ?2 THEN input_log END FROM matches WHERE id = ?1",
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
            ))
        })
        .optional()?;
    let Some((room_name, finished_at, duration_ms, rounds, winner, log)) = row else {
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
        finished_at,
        duration_ms,
        rounds,
        players,
        winner,
    };
    Ok(Some((summary, log)))
}

/// Brings every account's `name_key` to the current [`name_key`] rule (it was plain
/// lower case before lookalikes were folded). Two old accounts whose names now collide
/// keep their old keys: both still sign in, and new lookalikes of either are refused.
fn rekey_names(conn: &Connection) -> Result<(), DbError> {
    let rows: Vec<(i64, String, String)> = conn
        .prepare("SELECT id, name, name_key FROM accounts")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (id, name, old_key) in rows {
        let key = name_key(&name);
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
}

/// A panic while holding the lock leaves the connection usable (an open
/// transaction is rolled back when it is dropped), so poisoning is ignored.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> AccountStore {
        AccountStore::open(db::MEMORY_URL).expect("expected an in-memory store")
    }

    impl AccountStore {
        fn sqlite(&self) -> &Mutex<Connection> {
            match &self.backend {
                Backend::Sqlite(conn) => conn,
                Backend::Postgres(_) => panic!("a SQLite store"),
            }
        }
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
    async fn match_history_lists_newest_first_with_players_by_place() {
        let store = AccountStore::open("sqlite::memory:").expect("store");
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

    fn record(players: Vec<MatchPlayer>) -> MatchRecord {
        MatchRecord {
            room_id: "r1".into(),
            room_name: "Room one".into(),
            rounds: 3,
            seed: u64::MAX,
            started_at_ms: 1_000,
            ended_at_ms: 61_000,
            winner_user_id: players.iter().find(|p| p.won).map(|p| p.user_id.clone()),
            input_log: vec![1, 2, 3],
            players,
        }
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(
            validate_name("  Ada Lovelace ").ok().as_deref(),
            Some("Ada Lovelace"),
            "expected surrounding spaces to be trimmed"
        );
        for ok in ["a", "x_y-z.1", "Zoë", "名前", &"n".repeat(24)] {
            assert!(
                validate_name(ok).is_ok(),
                "expected {ok:?} to be a valid name"
            );
        }
        for bad in [
            "",
            "   ",
            &"n".repeat(25),
            "<b>",
            "a😀",
            "tab\there",
            "a/b",
            "a@b",
        ] {
            assert!(
                matches!(validate_name(bad), Err(AuthError::InvalidName(_))),
                "expected {bad:?} to be an invalid name"
            );
        }
    }

    #[test]
    fn guest_ids_are_url_safe() {
        let id = guest_id();
        assert_eq!(id.len(), 13, "expected 'g' plus 12 characters, got {id}");
        assert!(id.starts_with('g'), "expected a guest id to start with g");
        assert!(
            id[1..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "expected only url-safe characters in {id}"
        );
        assert_ne!(guest_id(), guest_id(), "expected guest ids to be random");
    }

    #[tokio::test]
    async fn register_then_login() {
        let store = store();
        let user = store
            .register(" Ada ", "correct horse")
            .await
            .expect("expected registration to succeed");
        assert_eq!(
            user,
            User {
                id: "u1".into(),
                name: "Ada".into(),
                guest: false
            },
            "expected the first account to be u1 with the trimmed name"
        );
        let again = store
            .login("ADA", "correct horse")
            .await
            .expect("expected login with another case of the name to succeed");
        assert_eq!(again, user, "expected login to return the registered user");
        assert!(
            matches!(
                store.login("Ada", "wrong horse").await,
                Err(AuthError::InvalidCredentials)
            ),
            "expected a wrong password to be invalid credentials"
        );
        assert!(
            matches!(
                store.login("Bob", "correct horse").await,
                Err(AuthError::InvalidCredentials)
            ),
            "expected an unknown name to be invalid credentials"
        );
    }

    #[tokio::test]
    async fn names_are_unique_case_insensitively() {
        let store = store();
        store
            .register("Ada", "correct horse")
            .await
            .expect("expected the first registration to succeed");
        assert!(
            matches!(
                store.register("aDA", "another pass").await,
                Err(AuthError::NameTaken)
            ),
            "expected a differently cased duplicate to be taken"
        );
        assert!(
            matches!(store.guest("ada").await, Err(AuthError::NameTaken)),
            "expected a guest not to take a registered name"
        );
        let guest = store
            .guest("Bob")
            .await
            .expect("expected a free guest name");
        assert!(
            guest.guest && guest.id.starts_with('g'),
            "expected a guest user"
        );
        store
            .register("Bob", "correct horse")
            .await
            .expect("expected a guest's name to stay registrable (guests are not stored)");
    }

    #[tokio::test]
    async fn weak_passwords_are_refused() {
        let store = store();
        assert!(
            matches!(
                store.register("Ada", "short").await,
                Err(AuthError::WeakPassword(_))
            ),
            "expected a 5-character password to be weak"
        );
    }

    #[tokio::test]
    async fn stores_a_phc_hash_not_the_password() {
        let store = store();
        store
            .register("Ada", "correct horse")
            .await
            .expect("expected registration to succeed");
        let stored: String = lock(store.sqlite())
            .query_row("SELECT password_hash FROM accounts", [], |row| row.get(0))
            .expect("expected one account row");
        assert!(
            stored.starts_with("$argon2id$v=19$"),
            "expected an argon2id PHC string, got {stored}"
        );
        assert!(
            !stored.contains("correct horse"),
            "expected the stored hash not to contain the password"
        );
    }

    #[tokio::test]
    async fn leaderboard_ranks_registered_players() {
        let store = store();
        assert_eq!(
            store.leaderboard(10).await.expect("leaderboard"),
            vec![],
            "expected an empty leaderboard before any match"
        );
        let ada = store.register("Ada", "password1").await.expect("ada");
        let bob = store.register("bob", "password2").await.expect("bob");
        let cy = store.register("Cy", "password3").await.expect("cy");
        let _idle = store.register("Idle", "password4").await.expect("idle");

        // Ada: 1 win, 5 points. Bob: 1 win, 5 points (ties Ada, loses on name).
        // Cy: 0 wins, 9 points. The guest wins a match but is not ranked.
        store
            .record_match(record(vec![
                player(&ada.id, "Ada", 3, 1),
                player(&bob.id, "bob", 2, 2),
                player(&cy.id, "Cy", 4, 3),
            ]))
            .await
            .expect("expected the first match to be stored");
        store
            .record_match(record(vec![
                player(&bob.id, "bob", 3, 1),
                player(&ada.id, "Ada", 2, 2),
                player(&cy.id, "Cy", 5, 3),
            ]))
            .await
            .expect("expected the second match to be stored");
        let id = store
            .record_match(record(vec![
                player("gGUESTGUEST12", "Guest", 9, 1),
                player(&cy.id, "Cy", 0, 2),
            ]))
            .await
            .expect("expected the third match to be stored");
        assert_eq!(id, 3, "expected match ids to count up from 1");

        let board = store.leaderboard(10).await.expect("leaderboard");
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
            store.leaderboard(1).await.expect("leaderboard").len(),
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
        let (seed, duration, winner, log): (i64, i64, Option<String>, Vec<u8>) = lock(
            store.sqlite(),
        )
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
}
