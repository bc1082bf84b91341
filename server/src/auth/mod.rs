//! Sign-in: tokens, password hashing and the account store.
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

pub use accounts::{
    AccountStore, LeaderboardEntry, MAX_NAME_CHARS, MatchPlayer, MatchRecord, MatchSummary,
    MatchSummaryPlayer, StoredMatch, validate_name,
};
pub use tokens::{DEFAULT_TOKEN_TTL, TokenError, TokenSigner};

use crate::db::DbError;

/// Who is making a request, as a token proves it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    /// `"u<rowid>"` for registered accounts, `"g<12 url-safe chars>"` for guests.
    pub id: String,
    pub name: String,
    pub guest: bool,
}

/// Everything sign-in needs, shared by the HTTP routes and the socket upgrade.
#[derive(Clone, Debug)]
pub struct Auth {
    pub tokens: TokenSigner,
    pub accounts: AccountStore,
}

impl Auth {
    pub fn new(tokens: TokenSigner, accounts: AccountStore) -> Self {
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
