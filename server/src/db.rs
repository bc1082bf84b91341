//! The SQLite database: opening it from a URL, tuning it and migrating its schema.
//!
//! The queries live with the store that owns them (the account store in `auth`);
//! this module only hands out a ready, migrated [`Connection`].
//!
//! **Invariant:** nothing here is async. Callers run every call that touches a
//! connection inside `tokio::task::spawn_blocking`.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

/// How long a statement waits for another connection's write lock before giving up
/// with `SQLITE_BUSY`. Our own writes are short, so a few seconds means something
/// else (a backup, a second server on the same file) holds the lock for too long.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The URL that selects a private in-memory database (gone when the process exits).
pub const MEMORY_URL: &str = "sqlite::memory:";

/// The schema, oldest migration first. Append new migrations; never edit old ones,
/// because databases in the field have already applied them.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../migrations/0001_init.sql")),
    M::up(include_str!("../migrations/0002_match_history.sql")),
];

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
    /// PostgreSQL's TLS cannot be set up as the URL asks (a CA file unreadable or empty).
    #[error("postgres tls: {0}")]
    Tls(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    TaskFailed(String),
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

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
pub fn open(url: &str) -> Result<Connection, DbError> {
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

/// Brings the schema up to date. Safe to run on every start: applied migrations are
/// recorded in `user_version` and skipped.
pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    Migrations::from_slice(MIGRATIONS).to_latest(conn)?;
    Ok(())
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS)
            .validate()
            .expect("expected the migration list to apply cleanly to an empty database");
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
        let conn = open(MEMORY_URL).expect("expected an in-memory database to open");
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

        let conn = open(&url).expect("expected the file database to be created and migrated");
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

        let conn = open(&url).expect("expected reopening (migrating again) to succeed");
        let accounts: i64 = conn
            .query_row("SELECT count(*) FROM accounts", [], |row| row.get(0))
            .expect("expected the accounts table to survive a reopen");
        assert_eq!(accounts, 1, "expected the row written before the reopen");
        drop(conn);

        std::fs::remove_dir_all(&dir).ok();
    }
}
