//! Sign-in: tokens, password hashing, names and the account rules (the rows are in
//! [`crate::store`]).
//!
//! A request signs in once (`/api/guest`, `/api/register`, `/api/login`) and gets a
//! token; every later request and the WebSocket upgrade present that token, and
//! [`TokenSigner::verify`] turns it back into a [`User`] without touching the database.
//!
//! **Invariant:** guests are never stored; only registered accounts have rows.

pub mod accounts;
pub mod names;
pub mod password;
pub mod tokens;

use serde::{Deserialize, Serialize};

pub use accounts::{Accounts, MAX_NAME_CHARS, validate_name};
pub use tokens::{DEFAULT_TOKEN_TTL, TokenError, TokenSigner};

use crate::store::DbError;

/// Who is making a request, as a token proves it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    /// `"u<rowid>"` for registered accounts, `"g<12 url-safe chars>"` for guests.
    pub id: String,
    pub name: String,
    pub guest: bool,
}

impl User {
    /// The id of the operator's sockets (those that connect with `KURVE_ADMIN_TOKEN`);
    /// no token we issue can carry it ("u…" and "g…" only).
    pub const OPERATOR_ID: &'static str = "operator";

    /// The user of a socket that connected with the operator's token.
    pub fn operator() -> User {
        User {
            id: Self::OPERATOR_ID.to_owned(),
            name: "operator".to_owned(),
            guest: true,
        }
    }

    pub fn is_operator(&self) -> bool {
        self.id == Self::OPERATOR_ID
    }
}

/// Everything sign-in needs, shared by the HTTP routes and the socket upgrade.
#[derive(Clone, Debug)]
pub struct Auth {
    pub tokens: TokenSigner,
    pub accounts: Accounts,
}

impl Auth {
    /// The user `token` names: one we signed, or the operator when it is the operator's
    /// token (compared in constant time).
    pub fn socket_user(&self, token: &str, admin_token: Option<&str>) -> Result<User, TokenError> {
        if let Some(admin) = admin_token
            && constant_time_eq(token.as_bytes(), admin.as_bytes())
        {
            return Ok(User::operator());
        }
        self.tokens.verify(token)
    }

    pub fn new(tokens: TokenSigner, accounts: Accounts) -> Self {
        Self { tokens, accounts }
    }
}

/// Why signing in or registering failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The name breaks the naming rules; the text says which.
    #[error("{0}")]
    InvalidName(names::NameError),
    /// A registered account already uses this name (case-insensitively).
    #[error("that name is taken")]
    NameTaken,
    /// The new password breaks the password rules; the text says which.
    #[error("{0}")]
    WeakPassword(&'static str),
    /// Unknown name or wrong password: deliberately not told apart.
    #[error("wrong name or password")]
    InvalidCredentials,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Password(#[from] password::PasswordError),
}

/// Equality that takes as long whatever the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
