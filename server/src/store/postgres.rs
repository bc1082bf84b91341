//! The PostgreSQL engine: the one database every node of a cluster shares
//! (`--database-url postgres://…`). Same tables and migration numbers as SQLite, in
//! PostgreSQL's dialect (`migrations/postgres/`); same queries and answers.
//!
//! A small pool of connections (deadpool): tokio-postgres pipelines concurrent queries
//! on each, and no query needs a transaction of several statements (a match and its
//! players are one statement), so nothing holds a connection across a slow step. A
//! connection the database closed (a restart, an idle timeout) is dropped when it
//! comes back to the pool and a new one made on the next query.
//!
//! TLS (rustls) follows the URL's `sslmode` as libpq does: absent, `disable` or
//! `prefer` connect in the clear; `require` encrypts without checking the server's
//! certificate (unless `sslrootcert` names a CA, which is then checked, as libpq
//! does); `verify-ca` and `verify-full` check the certificate against `sslrootcert`
//! (or the system's roots) and the host name — `verify-ca` is held to `verify-full`'s
//! host check too, the stricter reading.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use refinery::{Migration, Runner, Target};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use super::{
    AccountRow, DbError, LeaderboardEntry, MatchPlayer, MatchRecord, MatchSummary,
    MatchSummaryPlayer, StoredMatch, is_postgres, now_ms,
};

/// The schema, oldest first, numbered like the SQLite migrations and named as refinery
/// names them (`V<n>__<name>`). Append; never edit (refinery checks the checksums).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "V1__init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        "V2__match_history",
        include_str!("../../migrations/postgres/0002_match_history.sql"),
    ),
    (
        "V3__match_game",
        include_str!("../../migrations/postgres/0003_match_game.sql"),
    ),
];

/// The advisory lock nodes take while migrating, so that nodes starting together
/// migrate one after the other (refinery takes none of its own).
const MIGRATION_LOCK: i64 = 0x6b75_7276_6500;

/// Connections one node keeps open at most. Every query is a short indexed read or
/// one statement, and each connection pipelines the queries given to it, so a few
/// serve a node's sign-ins, match writes and history reads; 8 per node keeps a
/// cluster of a dozen nodes under PostgreSQL's default `max_connections` (100).
pub const MAX_CONNECTIONS: usize = 8;

/// The PostgreSQL store. Cheap to clone; clones share one pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

/// A pool of connections to `url`, TLS as its `sslmode` asks. Connects nothing yet.
fn pool(url: &str) -> Result<Pool, DbError> {
    let (url, tls) = tls::settings(url)?;
    let config: tokio_postgres::Config = url.parse()?;
    // Fast recycling checks only that the connection is still open, as the single
    // connection before the pool was checked before each query.
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls {
        None => Manager::from_config(config, NoTls, manager_config),
        Some(tls) => Manager::from_config(
            config,
            tokio_postgres_rustls::MakeRustlsConnect::new(tls),
            manager_config,
        ),
    };
    Pool::builder(manager)
        .max_size(MAX_CONNECTIONS)
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

/// `url` with `sslrootcert` set to `ca` (`--database-ca`) unless the URL names one.
pub fn url_with_ca(url: &str, ca: Option<&std::path::Path>) -> String {
    match ca {
        Some(ca) if is_postgres(url) && !url.contains("sslrootcert=") => {
            let path: String =
                form_urlencoded::byte_serialize(ca.as_os_str().as_encoded_bytes()).collect();
            let joiner = if url.contains('?') { '&' } else { '?' };
            format!("{url}{joiner}sslrootcert={path}")
        }
        _ => url.to_owned(),
    }
}

/// PostgreSQL over TLS, as the URL's `sslmode` asks.
mod tls {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

    use crate::store::DbError;

    /// What the URL's `sslmode` asks for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Mode {
        Clear,
        /// Encrypted; the certificate is checked only if a CA is named.
        Require,
        /// Encrypted; certificate and host name checked.
        Verify,
    }

    /// The URL as tokio-postgres takes it (it knows neither `verify-*` nor
    /// `sslrootcert`, so those are read here and the mode passed on as `require`),
    /// the mode and the CA file named.
    pub(super) fn parse(url: &str) -> (String, Mode, Option<String>) {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_owned(), Mode::Clear, None);
        };
        let mut mode = Mode::Clear;
        let mut ca = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    mode = match value {
                        "require" => Mode::Require,
                        "verify-ca" | "verify-full" => Mode::Verify,
                        _ => Mode::Clear,
                    };
                    if mode == Mode::Clear {
                        kept.push(pair.to_owned());
                    } else {
                        kept.push("sslmode=require".to_owned());
                    }
                }
                "sslrootcert" => {
                    let path = form_urlencoded::parse(format!("p={value}").as_bytes())
                        .next()
                        .map_or_else(|| value.to_owned(), |(_, v)| v.into_owned());
                    ca = Some(path);
                }
                _ => kept.push(pair.to_owned()),
            }
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (url, mode, ca)
    }

    /// The URL to connect with and, when it asks for TLS, the TLS configuration.
    pub(super) fn settings(url: &str) -> Result<(String, Option<ClientConfig>), DbError> {
        let (url, mode, ca) = parse(url);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| DbError::Tls(e.to_string()))?;
        let config = match (mode, ca) {
            (Mode::Clear, _) => return Ok((url, None)),
            (Mode::Require, None) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                .with_no_client_auth(),
            (Mode::Require | Mode::Verify, ca) => builder
                .with_root_certificates(roots(ca.as_deref())?)
                .with_no_client_auth(),
        };
        Ok((url, Some(config)))
    }

    /// The CAs in `path`, or the system's.
    fn roots(path: Option<&str>) -> Result<RootCertStore, DbError> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = RootCertStore::empty();
        match path {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| DbError::Tls(format!("{path}: {e}")))?;
                for cert in certs {
                    let cert = cert.map_err(|e| DbError::Tls(format!("{path}: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| DbError::Tls(format!("{path}: {e}")))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    // One unusable system certificate does not make the others wrong.
                    let _ = roots.add(cert);
                }
            }
        }
        if roots.is_empty() {
            return Err(DbError::Tls(format!(
                "no CA certificate in {}",
                path.unwrap_or("the system's store")
            )));
        }
        Ok(roots)
    }

    /// `sslmode=require` without a CA: libpq encrypts and checks nothing about who
    /// answers. The handshake's signatures are still checked, so the session is bound
    /// to the certificate shown; only the certificate itself is taken on trust.
    #[derive(Debug)]
    struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for EncryptOnly {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn sslmode_and_sslrootcert_are_read_and_passed_on_as_tokio_postgres_takes_them() {
            assert_eq!(
                parse("postgres://u@h/db"),
                ("postgres://u@h/db".into(), Mode::Clear, None)
            );
            assert_eq!(
                parse("postgres://u@h/db?sslmode=disable"),
                (
                    "postgres://u@h/db?sslmode=disable".into(),
                    Mode::Clear,
                    None
                )
            );
            assert_eq!(
                parse("postgres://u@h/db?sslmode=require&connect_timeout=5"),
                (
                    "postgres://u@h/db?sslmode=require&connect_timeout=5".into(),
                    Mode::Require,
                    None
                )
            );
            assert_eq!(
                parse("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"),
                (
                    "postgres://u@h/db?sslmode=require".into(),
                    Mode::Verify,
                    Some("/etc/ca.pem".into())
                )
            );
            assert!(settings("postgres://u@h/db?sslmode=require").is_ok_and(|(_, c)| c.is_some()));
            let with_ca = super::super::url_with_ca(
                "postgres://u@h/db?sslmode=verify-full",
                Some(std::path::Path::new("/etc/pg ca.pem")),
            );
            assert_eq!(parse(&with_ca).2.as_deref(), Some("/etc/pg ca.pem"));
            assert!(
                settings("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent").is_err(),
                "an unreadable CA file is an error, not a silent fallback"
            );
        }
    }
}

fn runner() -> Result<Runner, DbError> {
    let migrations = MIGRATIONS
        .iter()
        .map(|(name, sql)| Migration::unapplied(name, sql))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Runner::new(&migrations))
}

/// Brings the schema up to date; applied migrations are recorded in refinery's
/// `refinery_schema_history` and skipped.
///
/// A database migrated before refinery recorded its versions in `kurve_migrations`
/// instead: those are recorded as applied without running them again, once. The old
/// table is left as it was (nothing reads it once refinery's history has rows).
async fn migrate(client: &mut Client) -> Result<(), DbError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = async {
        let latest = runner()?;
        let tables = client
            .query_one(
                "SELECT to_regclass('refinery_schema_history') IS NOT NULL, \
                        to_regclass('kurve_migrations') IS NOT NULL",
                &[],
            )
            .await?;
        let (history, old_history): (bool, bool) = (tables.get(0), tables.get(1));
        let recorded = history
            && latest
                .get_last_applied_migration_async(client)
                .await?
                .is_some();
        if !recorded && old_history {
            let old: Option<i32> = client
                .query_one("SELECT max(version) FROM kurve_migrations", &[])
                .await?
                .get(0);
            if let Some(version) = old {
                runner()?
                    .set_target(Target::FakeVersion(version))
                    .run_async(client)
                    .await?;
                tracing::info!(
                    version,
                    "postgres: migrations recorded in kurve_migrations adopted by refinery"
                );
            }
        }
        for migration in latest.run_async(client).await?.applied_migrations() {
            tracing::info!(version = migration.version(), "postgres: migration applied");
        }
        Ok::<(), DbError>(())
    }
    .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    result
}

fn unsigned(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

impl PgStore {
    /// Connects and migrates: a database that cannot be reached fails the start.
    pub async fn open(url: &str) -> Result<PgStore, DbError> {
        let pool = pool(url)?;
        let mut client = pool.get().await?;
        migrate(&mut client).await?;
        Ok(PgStore { pool })
    }

    /// A pooled connection: an idle one still open, or a new one.
    async fn client(&self) -> Result<deadpool_postgres::Object, DbError> {
        Ok(self.pool.get().await?)
    }

    pub async fn name_exists(&self, key: &str) -> Result<bool, DbError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT 1 FROM accounts WHERE name_key = $1", &[&key])
            .await?;
        Ok(row.is_some())
    }

    /// Inserts an account; None when the name key is taken.
    pub async fn insert_account(
        &self,
        name: &str,
        key: &str,
        password_hash: &str,
    ) -> Result<Option<i64>, DbError> {
        let client = self.client().await?;
        let inserted = client
            .query_one(
                "INSERT INTO accounts (name, name_key, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[&name, &key, &password_hash, &now_ms()],
            )
            .await;
        match inserted {
            Ok(row) => Ok(Some(row.get(0))),
            Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// The account with this name key: id, name and password hash.
    pub async fn find_account(&self, key: &str) -> Result<Option<AccountRow>, DbError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, name, password_hash FROM accounts WHERE name_key = $1",
                &[&key],
            )
            .await?;
        Ok(row.map(|row| AccountRow {
            id: row.get(0),
            name: row.get(1),
            password_hash: row.get(2),
        }))
    }

    /// See [`super::Store::rekey_names`].
    pub async fn rekey_names(&self, key_of: fn(&str) -> String) -> Result<(), DbError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT id, name, name_key FROM accounts", &[])
            .await?;
        for row in rows {
            let (id, name, old): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
            let key = key_of(&name);
            if key == old {
                continue;
            }
            match client
                .execute(
                    "UPDATE accounts SET name_key = $1 WHERE id = $2",
                    &[&key, &id],
                )
                .await
            {
                Ok(_) => {}
                Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    tracing::warn!(
                        account = id,
                        "an older account's name looks like another's; its key is kept"
                    );
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Stores a match and its players in one statement; returns its id.
    pub async fn record_match(&self, m: &MatchRecord) -> Result<i64, DbError> {
        let client = self.client().await?;
        let user_ids: Vec<&str> = m.players.iter().map(|p| p.user_id.as_str()).collect();
        let names: Vec<&str> = m.players.iter().map(|p| p.name.as_str()).collect();
        let guests: Vec<bool> = m.players.iter().map(|p| p.guest).collect();
        let points: Vec<i64> = m.players.iter().map(|p| i64::from(p.points)).collect();
        let places: Vec<i64> = m.players.iter().map(|p| i64::from(p.place)).collect();
        let won: Vec<bool> = m.players.iter().map(|p| p.won).collect();
        let row = client
            .query_one(
                "WITH m AS ( \
                   INSERT INTO matches (room_id, seed, started_at, ended_at, duration_ms, \
                     winner_user_id, input_log, room_name, rounds, game) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $16) RETURNING id), \
                 p AS ( \
                   INSERT INTO match_players (match_id, user_id, name, guest, points, place, won) \
                   SELECT m.id, p.user_id, p.name, p.guest, p.points, p.place, p.won \
                   FROM m, unnest($10::text[], $11::text[], $12::bool[], $13::int8[], \
                                  $14::int8[], $15::bool[]) WITH ORDINALITY \
                        AS p(user_id, name, guest, points, place, won, n) \
                   ORDER BY p.n) \
                 SELECT id FROM m",
                &[
                    &m.room_id,
                    &(m.seed as i64),
                    &m.started_at_ms,
                    &m.ended_at_ms,
                    &m.ended_at_ms.saturating_sub(m.started_at_ms).max(0),
                    &m.winner_user_id,
                    &m.input_log,
                    &m.room_name,
                    &i64::from(m.rounds),
                    &user_ids,
                    &names,
                    &guests,
                    &points,
                    &places,
                    &won,
                    &m.game,
                ],
            )
            .await?;
        Ok(row.get(0))
    }

    pub async fn leaderboard(
        &self,
        limit: usize,
        game: Option<String>,
    ) -> Result<Vec<LeaderboardEntry>, DbError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT a.name, s.wins, s.points, s.matches \
                 FROM (SELECT user_id, SUM(CASE WHEN won THEN 1 ELSE 0 END)::int8 AS wins, \
                              SUM(points)::int8 AS points, COUNT(*) AS matches \
                       FROM match_players WHERE NOT guest AND user_id LIKE 'u%' \
                         AND ($2::text IS NULL OR match_id IN \
                              (SELECT id FROM matches WHERE game = $2::text)) \
                       GROUP BY user_id) AS s \
                 JOIN accounts AS a ON a.id::text = substr(s.user_id, 2) \
                 ORDER BY s.wins DESC, s.points DESC, a.name_key, a.id \
                 LIMIT $1",
                &[&limit, &game],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| LeaderboardEntry {
                name: row.get(0),
                wins: unsigned(row.get(1)),
                points: u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
                matches: unsigned(row.get(3)),
            })
            .collect())
    }

    pub async fn matches(
        &self,
        limit: usize,
        player: Option<String>,
    ) -> Result<Vec<MatchSummary>, DbError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match player {
            None => {
                client
                    .query(
                        "SELECT id FROM matches ORDER BY ended_at DESC, id DESC LIMIT $1",
                        &[&limit],
                    )
                    .await?
            }
            Some(player) => {
                client
                    .query(
                        "SELECT m.id FROM matches AS m \
                         WHERE m.id IN (SELECT match_id FROM match_players WHERE user_id = $2) \
                         ORDER BY m.ended_at DESC, m.id DESC LIMIT $1",
                        &[&limit, &player],
                    )
                    .await?
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some((summary, _)) = self.load_match(&client, row.get(0), false).await? {
                out.push(summary);
            }
        }
        Ok(out)
    }

    pub async fn match_summary(&self, id: i64) -> Result<Option<MatchSummary>, DbError> {
        let client = self.client().await?;
        Ok(self.load_match(&client, id, false).await?.map(|(s, _)| s))
    }

    pub async fn stored_match(&self, id: i64) -> Result<Option<StoredMatch>, DbError> {
        let client = self.client().await?;
        let Some((summary, log)) = self.load_match(&client, id, true).await? else {
            return Ok(None);
        };
        let players = client
            .query(
                "SELECT user_id, name, guest, points, place, won FROM match_players \
                 WHERE match_id = $1 ORDER BY place, id",
                &[&id],
            )
            .await?
            .iter()
            .map(|row| MatchPlayer {
                user_id: row.get(0),
                name: row.get(1),
                guest: row.get(2),
                points: unsigned(row.get(3)),
                place: unsigned(row.get(4)),
                won: row.get(5),
            })
            .collect();
        Ok(Some(StoredMatch {
            summary,
            input_log: log.unwrap_or_default(),
            players,
        }))
    }

    async fn load_match(
        &self,
        client: &Client,
        id: i64,
        with_log: bool,
    ) -> Result<Option<(MatchSummary, Option<Vec<u8>>)>, DbError> {
        let Some(row) = client
            .query_opt(
                "SELECT room_name, room_id, ended_at, duration_ms, rounds, winner_user_id, \
                 CASE WHEN $2 THEN input_log END, game FROM matches WHERE id = $1",
                &[&id, &with_log],
            )
            .await?
        else {
            return Ok(None);
        };
        let room_name: Option<String> = row.get(0);
        let room_id: Option<String> = row.get(1);
        let players = client
            .query(
                "SELECT user_id, name, points, place FROM match_players \
                 WHERE match_id = $1 ORDER BY place, id",
                &[&id],
            )
            .await?
            .iter()
            .map(|row| MatchSummaryPlayer {
                id: row.get(0),
                name: row.get(1),
                points: unsigned(row.get(2)),
                place: unsigned(row.get(3)),
            })
            .collect();
        let summary = MatchSummary {
            id,
            room_name: room_name.or(room_id).unwrap_or_default(),
            game: row.get(7),
            finished_at: row.get::<_, Option<i64>>(2).unwrap_or(0),
            duration_ms: row.get::<_, Option<i64>>(3).unwrap_or(0),
            rounds: unsigned(row.get::<_, Option<i64>>(4).unwrap_or(0)),
            players,
            winner: row.get(5),
        };
        Ok(Some((summary, row.get(6))))
    }
}
