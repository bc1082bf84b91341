//! Storage: accounts' rows, finished matches and the leaderboard, in SQLite (one node,
//! embedded) or PostgreSQL (one database every node of a cluster shares).
//!
//! [`Store`] is a closed enum of the two engines: each method matches once and hands
//! the call to `sqlite.rs` or `postgres.rs`, which hold every query in their dialect.
//! Both have the same tables and give the same answers (`tests/tests/postgres_store.rs`
//! runs one script on both and compares). Migrations are refinery's on both engines,
//! numbered alike (`migrations/` and `migrations/postgres/`).
//!
//! What an account may be called, how passwords are hashed and who may sign in are
//! `auth/`'s rules; this module stores what it is given and knows no rule but SQL's.
//!
//! **Invariant:** nothing here imports `auth/`: the account rules reach the store as
//! plain values (a name key, a PHC string) or a function (`rekey_names`).

mod postgres;
mod sqlite;

use kurve_shared::room::Standing;
use serde::Serialize;

pub use postgres::{PgStore, url_with_ca as database_url_with_ca};
pub use sqlite::{Location, MEMORY_URL, SqliteStore, parse_url};

/// A finished match, as the room hands it over for storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchRecord {
    pub room_id: String,
    /// The room's name when the match ended.
    pub room_name: String,
    /// The game played (`GET /api/games`).
    pub game: String,
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

impl From<&Standing> for MatchPlayer {
    /// A player's standing at the end of a match, as it is stored. Registered users'
    /// ids start with `u`; every other id (guests' `g…`) is a guest's.
    fn from(s: &Standing) -> MatchPlayer {
        MatchPlayer {
            user_id: s.id.clone(),
            name: s.name.clone(),
            guest: !s.id.starts_with('u'),
            points: s.points,
            place: s.place,
            won: s.won,
        }
    }
}

/// A finished match as `GET /api/matches` lists it (CONTRACT §7).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MatchSummary {
    pub id: i64,
    pub room_name: String,
    /// The game played; `curve` for every match stored before games could be chosen.
    pub game: String,
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

/// A registered account's row, as sign-in reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRow {
    /// The row id; the user id is `u<id>`.
    pub id: i64,
    /// The name as it is shown.
    pub name: String,
    /// The argon2 PHC string.
    pub password_hash: String,
}

/// Why the database could not be opened or queried.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite://PATH`, `sqlite::memory:` nor `postgres://…`.
    #[error(
        "unsupported database url {0:?}: expected sqlite://PATH, sqlite::memory: or postgres://…"
    )]
    InvalidUrl(String),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No pooled PostgreSQL connection could be had for a reason other than the
    /// database's own error (which is [`DbError::Postgres`]).
    #[error("postgres pool: {0}")]
    Pool(String),
    /// PostgreSQL's TLS cannot be set up as the URL asks (a CA file unreadable or empty).
    #[error("postgres tls: {0}")]
    Tls(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migration(#[from] refinery::Error),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    TaskFailed(String),
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(error: deadpool_postgres::PoolError) -> DbError {
        match error {
            deadpool_postgres::PoolError::Backend(error) => DbError::Postgres(error),
            other => DbError::Pool(other.to_string()),
        }
    }
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// The database. Cheap to clone; clones share one SQLite connection or one
/// PostgreSQL pool.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Sqlite(_) => f.write_str("Store::Sqlite"),
            Store::Postgres(_) => f.write_str("Store::Postgres"),
        }
    }
}

impl Store {
    /// Opens (creating and migrating) the SQLite database at `database_url`:
    /// `sqlite://PATH` or `sqlite::memory:`.
    pub fn open(database_url: &str) -> Result<Store, DbError> {
        SqliteStore::open(database_url).map(Store::Sqlite)
    }

    /// Opens the database at `database_url`: `postgres://…` (connecting and migrating),
    /// or SQLite as [`Store::open`] does.
    pub async fn connect(database_url: &str) -> Result<Store, DbError> {
        if is_postgres(database_url) {
            PgStore::open(database_url).await.map(Store::Postgres)
        } else {
            Store::open(database_url)
        }
    }

    /// Whether a registered account has this name key.
    pub async fn name_exists(&self, key: &str) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(db) => db.name_exists(key.to_owned()).await,
            Store::Postgres(db) => db.name_exists(key).await,
        }
    }

    /// Inserts an account; its row id, or `None` when the name key is taken.
    pub async fn insert_account(
        &self,
        name: &str,
        key: &str,
        password_hash: &str,
    ) -> Result<Option<i64>, DbError> {
        match self {
            Store::Sqlite(db) => {
                db.insert_account(name.to_owned(), key.to_owned(), password_hash.to_owned())
                    .await
            }
            Store::Postgres(db) => db.insert_account(name, key, password_hash).await,
        }
    }

    /// The account with this name key.
    pub async fn find_account(&self, key: &str) -> Result<Option<AccountRow>, DbError> {
        match self {
            Store::Sqlite(db) => db.find_account(key.to_owned()).await,
            Store::Postgres(db) => db.find_account(key).await,
        }
    }

    /// Gives every account the name key `key_of` makes of its name. Two accounts whose
    /// names now make one key keep their old keys (the UNIQUE index refuses the
    /// second): both still sign in, and new lookalikes of either are refused.
    pub async fn rekey_names(&self, key_of: fn(&str) -> String) -> Result<(), DbError> {
        match self {
            Store::Sqlite(db) => db.rekey_names(key_of).await,
            Store::Postgres(db) => db.rekey_names(key_of).await,
        }
    }

    /// Stores a finished match and its players together; returns its id.
    pub async fn record_match(&self, m: MatchRecord) -> Result<i64, DbError> {
        match self {
            Store::Sqlite(db) => db.record_match(m).await,
            Store::Postgres(db) => db.record_match(&m).await,
        }
    }

    /// Registered players with at least one match, best first: most wins, then
    /// most points, then name. Guests play but are not ranked.
    /// The top `limit` registered players, over every game's matches or over one
    /// game's (`game`).
    pub async fn leaderboard(
        &self,
        limit: usize,
        game: Option<String>,
    ) -> Result<Vec<LeaderboardEntry>, DbError> {
        match self {
            Store::Sqlite(db) => db.leaderboard(limit, game).await,
            Store::Postgres(db) => db.leaderboard(limit, game).await,
        }
    }

    /// The newest `limit` finished matches, newest first; only those `player` played in
    /// when given.
    pub async fn matches(
        &self,
        limit: usize,
        player: Option<String>,
    ) -> Result<Vec<MatchSummary>, DbError> {
        match self {
            Store::Sqlite(db) => db.matches(limit, player).await,
            Store::Postgres(db) => db.matches(limit, player).await,
        }
    }

    /// One finished match, if it exists.
    pub async fn match_summary(&self, id: i64) -> Result<Option<MatchSummary>, DbError> {
        match self {
            Store::Sqlite(db) => db.match_summary(id).await,
            Store::Postgres(db) => db.match_summary(id).await,
        }
    }

    /// One finished match with what a replay needs.
    pub async fn stored_match(&self, id: i64) -> Result<Option<StoredMatch>, DbError> {
        match self {
            Store::Sqlite(db) => db.stored_match(id).await,
            Store::Postgres(db) => db.stored_match(id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standing_is_stored_as_a_guest_unless_its_id_is_an_accounts() {
        let standing = |id: &str| Standing {
            id: id.into(),
            name: "Ada".into(),
            seat: 2,
            points: 7,
            place: 1,
            won: true,
            left: false,
        };
        assert_eq!(
            MatchPlayer::from(&standing("u3")),
            MatchPlayer {
                user_id: "u3".into(),
                name: "Ada".into(),
                guest: false,
                points: 7,
                place: 1,
                won: true,
            },
            "expected a registered player's standing kept field for field"
        );
        assert!(
            MatchPlayer::from(&standing("gABCDEFGHIJKL")).guest,
            "expected a g… id to be a guest's"
        );
    }
}
