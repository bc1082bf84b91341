//! Accounts: registering, signing in and guests' names, over the [`Store`].
//!
//! The rules live here (what a name may be, which names are taken, how a password is
//! checked); the rows live in `store/`. The slow part of sign-in (argon2) runs on the
//! password pool, never while the database is busy for us.

use rand::Rng;

use super::{AuthError, User, names, password};
use crate::store::{DbError, Store};

pub use super::names::MAX_NAME_CHARS;

/// Length of the random part of a guest id: 64^12 = 2^72 ids, so two guests
/// colliding while both are online is not a practical concern.
const GUEST_ID_CHARS: usize = 12;

/// The alphabet of guest ids (RFC 4648 "base64url").
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Registered accounts and guests' names. Cheap to clone; clones share the store.
#[derive(Clone, Debug)]
pub struct Accounts {
    store: Store,
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

impl Accounts {
    /// The accounts in `store`, every name key first brought to the current
    /// [`name_key`] rule (it was plain lower case before lookalikes were folded).
    pub async fn open(store: Store) -> Result<Accounts, DbError> {
        store.rekey_names(name_key).await?;
        Ok(Accounts { store })
    }

    /// Creates an account. The password is hashed before the row is written; the
    /// name is checked both before hashing (cheap refusal) and by the UNIQUE index
    /// (two registrations racing for one name).
    pub async fn register(&self, name: &str, password: &str) -> Result<User, AuthError> {
        let name = validate_name(name)?;
        password::check_strength(password).map_err(AuthError::WeakPassword)?;
        let key = name_key(&name);
        if self.store.name_exists(&key).await? {
            return Err(AuthError::NameTaken);
        }
        let phc = password::hash(password.to_owned()).await?;
        match self.store.insert_account(&name, &key, &phc).await? {
            Some(id) => Ok(account_user(id, name)),
            None => Err(AuthError::NameTaken),
        }
    }

    /// Checks a name and password. Unknown names and wrong passwords fail the same
    /// way and take about as long.
    pub async fn login(&self, name: &str, password: &str) -> Result<User, AuthError> {
        // Anything longer cannot be a stored password; refuse before hashing it.
        if password.chars().count() > password::MAX_PASSWORD_CHARS {
            return Err(AuthError::InvalidCredentials);
        }
        let key = name_key(name.trim());
        let Some(account) = self.store.find_account(&key).await? else {
            password::verify_dummy(password.to_owned()).await?;
            return Err(AuthError::InvalidCredentials);
        };
        if password::verify(password.to_owned(), account.password_hash).await? {
            Ok(account_user(account.id, account.name))
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }

    /// A guest identity. Not stored; refused if a registered account has the name,
    /// so nobody can pass as a registered player.
    pub async fn guest(&self, name: &str) -> Result<User, AuthError> {
        let name = validate_name(name)?;
        if self.store.name_exists(&name_key(&name)).await? {
            return Err(AuthError::NameTaken);
        }
        Ok(User {
            id: guest_id(),
            name,
            guest: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MEMORY_URL;

    async fn store() -> Accounts {
        let store = Store::open(MEMORY_URL).expect("expected an in-memory store");
        Accounts::open(store).await.expect("expected the accounts")
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
        let store = store().await;
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
        let store = store().await;
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
        let store = store().await;
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
        let store = store().await;
        store
            .register("Ada", "correct horse")
            .await
            .expect("expected registration to succeed");
        let Store::Sqlite(db) = &store.store else {
            panic!("expected a SQLite store");
        };
        let stored: String = db
            .connection()
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
}
