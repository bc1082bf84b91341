//! Session tokens: HS256 JWTs carrying the [`User`] they were issued to.
//!
//! Clients treat tokens as opaque strings; only this module reads them.
//!
//! **Invariant:** a token is trusted only after its signature and expiry check out;
//! nothing else (no database lookup) is consulted, so a token outlives a deleted
//! account until it expires.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::User;

/// How long a token is valid: a day of play without signing in again.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The shortest secret we accept: HS256 is only as strong as its key, and 32 bytes
/// match the hash's 256-bit output.
pub const MIN_SECRET_BYTES: usize = 32;

/// The environment variable holding the signing secret.
pub const SECRET_ENV: &str = "KURVE_SECRET";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Well formed and correctly signed, but past its `exp`.
    #[error("token expired")]
    Expired,
    /// Malformed, forged, signed with another key or algorithm, or missing claims.
    #[error("invalid token")]
    Invalid,
    #[error("token secret must be at least {MIN_SECRET_BYTES} bytes")]
    WeakSecret,
    #[error("could not sign token: {0}")]
    Sign(jsonwebtoken::errors::Error),
}

/// What a token says. Times are Unix seconds, as JWT wants them.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    name: String,
    guest: bool,
    iat: u64,
    exp: u64,
}

/// What a long-poll session token says: which session, and whose.
#[derive(Debug, Serialize, Deserialize)]
struct SessionClaims {
    sid: String,
    sub: String,
    iat: u64,
    exp: u64,
}

/// Issues and verifies tokens with one secret. Cheap to clone.
#[derive(Clone)]
pub struct TokenSigner {
    inner: Arc<Keys>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the keys.
        f.debug_struct("TokenSigner")
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer with the given secret (at least [`MIN_SECRET_BYTES`]).
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Self, TokenError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TokenError::WeakSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // We issue and verify on the same clock, so no grace period is needed.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Ok(Self {
            inner: Arc::new(Keys {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                validation,
                ttl,
            }),
        })
    }

    /// A signer with 32 fresh random bytes: tokens die with the process.
    pub fn random(ttl: Duration) -> Self {
        let mut secret = [0_u8; MIN_SECRET_BYTES];
        // ThreadRng is a CSPRNG seeded from the operating system.
        rand::rng().fill_bytes(&mut secret);
        Self::new(&secret, ttl).expect("a secret of MIN_SECRET_BYTES is long enough")
    }

    /// The configured secret if there is one, else a random one. The flag is `true`
    /// when the secret was generated, so the caller can warn that tokens will not
    /// survive a restart. An empty value counts as unset; a short one is refused.
    pub fn from_secret_or_random(
        secret: Option<&[u8]>,
        ttl: Duration,
    ) -> Result<(Self, bool), TokenError> {
        match secret {
            Some(secret) if !secret.is_empty() => Ok((Self::new(secret, ttl)?, false)),
            _ => Ok((Self::random(ttl), true)),
        }
    }

    /// [`Self::from_secret_or_random`] with the secret from `KURVE_SECRET`.
    pub fn from_env(ttl: Duration) -> Result<(Self, bool), TokenError> {
        let secret = std::env::var_os(SECRET_ENV);
        let secret = secret.as_ref().map(|s| s.as_encoded_bytes());
        Self::from_secret_or_random(secret, ttl)
    }

    /// How long issued tokens stay valid.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// A token for `user`, valid for the signer's TTL from now.
    pub fn issue(&self, user: &User) -> Result<String, TokenError> {
        self.issue_at(user, jsonwebtoken::get_current_timestamp())
    }

    /// [`Self::issue`] as if the clock read `now_secs` (Unix seconds); lets tests
    /// mint already expired tokens without sleeping.
    pub(crate) fn issue_at(&self, user: &User, now_secs: u64) -> Result<String, TokenError> {
        let claims = Claims {
            sub: user.id.clone(),
            name: user.name.clone(),
            guest: user.guest,
            iat: now_secs,
            exp: now_secs.saturating_add(self.inner.ttl.as_secs()),
        };
        self.sign(&claims)
    }

    /// Signs any claims with this signer's key (HS256).
    fn sign(&self, claims: &impl Serialize) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.inner.encoding)
            .map_err(TokenError::Sign)
    }

    /// Claims of type `C` from a token signed with this key and not expired.
    fn decode<C: serde::de::DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        jsonwebtoken::decode::<C>(token.trim(), &self.inner.decoding, &self.inner.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }

    /// The user a token was issued to, if it is ours and still valid.
    pub fn verify(&self, token: &str) -> Result<User, TokenError> {
        let Claims {
            sub, name, guest, ..
        } = self.decode(token)?;
        // Ids say what they are ("u…" registered, "g…" guest); a token where the two
        // disagree was not issued by us.
        let prefix = if guest { 'g' } else { 'u' };
        if !sub.starts_with(prefix) {
            return Err(TokenError::Invalid);
        }
        Ok(User {
            id: sub,
            name,
            guest,
        })
    }
}

impl TokenSigner {
    /// A long-poll session token: session `sid` of user `user_id`, signed like a user
    /// token but never accepted as one (and the reverse).
    pub fn issue_session(&self, sid: &str, user_id: &str) -> Result<String, TokenError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = SessionClaims {
            sid: sid.to_owned(),
            sub: user_id.to_owned(),
            iat: now,
            exp: now.saturating_add(self.inner.ttl.as_secs()),
        };
        self.sign(&claims)
    }

    /// The session id and user id of a session token we issued and that is still valid.
    pub fn verify_session(&self, token: &str) -> Result<(String, String), TokenError> {
        let claims: SessionClaims = self.decode(token)?;
        Ok((claims.sid, claims.sub))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_and_user_tokens_are_not_interchangeable() {
        let signer = TokenSigner::random(DEFAULT_TOKEN_TTL);
        let session = signer.issue_session("s1", "u1").expect("a session token");
        assert_eq!(
            signer.verify_session(&session).ok(),
            Some(("s1".to_owned(), "u1".to_owned()))
        );
        assert!(signer.verify(&session).is_err(), "not a user token");
        let user = signer.issue(&ada()).expect("a user token");
        assert!(signer.verify_session(&user).is_err(), "not a session token");
        let other = TokenSigner::random(DEFAULT_TOKEN_TTL);
        assert!(
            other.verify_session(&session).is_err(),
            "another key's session"
        );
    }

    fn ada() -> User {
        User {
            id: "u1".into(),
            name: "Ada".into(),
            guest: false,
        }
    }

    #[test]
    fn round_trips_the_user() {
        let signer = TokenSigner::random(DEFAULT_TOKEN_TTL);
        let token = signer.issue(&ada()).expect("expected a token");
        assert_eq!(
            signer.verify(&token).ok(),
            Some(ada()),
            "expected verify to return the user the token was issued to"
        );
    }

    #[test]
    fn rejects_short_secrets() {
        assert!(
            matches!(
                TokenSigner::new(&[7; 31], DEFAULT_TOKEN_TTL),
                Err(TokenError::WeakSecret)
            ),
            "expected a 31-byte secret to be refused"
        );
        assert!(
            TokenSigner::new(&[7; 32], DEFAULT_TOKEN_TTL).is_ok(),
            "expected a 32-byte secret to be accepted"
        );
        assert!(
            matches!(
                TokenSigner::from_secret_or_random(Some(b"short"), DEFAULT_TOKEN_TTL),
                Err(TokenError::WeakSecret)
            ),
            "expected a short configured secret to be refused, not replaced"
        );
    }

    #[test]
    fn reports_whether_the_secret_was_generated() {
        let (_, generated) = TokenSigner::from_secret_or_random(None, DEFAULT_TOKEN_TTL)
            .expect("expected a random signer");
        assert!(generated, "expected no secret to mean a generated one");
        let (_, generated) = TokenSigner::from_secret_or_random(Some(b""), DEFAULT_TOKEN_TTL)
            .expect("expected an empty secret to count as unset");
        assert!(
            generated,
            "expected an empty secret to mean a generated one"
        );
        let secret = [1_u8; 40];
        let (_, generated) = TokenSigner::from_secret_or_random(Some(&secret), DEFAULT_TOKEN_TTL)
            .expect("expected a configured signer");
        assert!(!generated, "expected a configured secret to be used as is");
    }

    #[test]
    fn same_secret_verifies_across_signers() {
        let secret = [9_u8; 32];
        let a = TokenSigner::new(&secret, DEFAULT_TOKEN_TTL).expect("signer a");
        let b = TokenSigner::new(&secret, DEFAULT_TOKEN_TTL).expect("signer b");
        let token = a.issue(&ada()).expect("expected a token");
        assert_eq!(
            b.verify(&token).ok(),
            Some(ada()),
            "expected a restart with the same secret to accept old tokens"
        );
    }

    #[test]
    fn rejects_tokens_from_another_secret() {
        let ours = TokenSigner::random(DEFAULT_TOKEN_TTL);
        let theirs = TokenSigner::random(DEFAULT_TOKEN_TTL);
        let token = theirs.issue(&ada()).expect("expected a token");
        assert!(
            matches!(ours.verify(&token), Err(TokenError::Invalid)),
            "expected a token signed with another secret to be invalid"
        );
    }

    #[test]
    fn rejects_garbage_and_tampering() {
        let signer = TokenSigner::random(DEFAULT_TOKEN_TTL);
        for garbage in ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
            assert!(
                matches!(signer.verify(garbage), Err(TokenError::Invalid)),
                "expected {garbage:?} to be invalid"
            );
        }
        let token = signer.issue(&ada()).expect("expected a token");
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_claims = jsonwebtoken::crypto::sign(
            b"{}",
            &EncodingKey::from_secret(b"not it"),
            Algorithm::HS256,
        )
        .expect("expected a signature");
        parts[2] = &forged_claims;
        let forged = parts.join(".");
        assert!(
            matches!(signer.verify(&forged), Err(TokenError::Invalid)),
            "expected a token with a replaced signature to be invalid"
        );
    }

    #[test]
    fn expired_tokens_are_told_apart() {
        let signer = TokenSigner::random(Duration::from_secs(60));
        let long_ago = jsonwebtoken::get_current_timestamp() - 3600;
        let token = signer.issue_at(&ada(), long_ago).expect("expected a token");
        assert!(
            matches!(signer.verify(&token), Err(TokenError::Expired)),
            "expected a token whose exp is an hour-minus-a-minute past to be expired"
        );
    }

    #[test]
    fn rejects_mismatched_guest_flag() {
        let signer = TokenSigner::random(DEFAULT_TOKEN_TTL);
        let liar = User {
            id: "u1".into(),
            name: "Ada".into(),
            guest: true,
        };
        let token = signer.issue(&liar).expect("expected a token");
        assert!(
            matches!(signer.verify(&token), Err(TokenError::Invalid)),
            "expected a guest token with a registered id to be invalid"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let signer = TokenSigner::new(&[b'k'; 32], DEFAULT_TOKEN_TTL).expect("signer");
        let shown = format!("{signer:?}");
        assert!(
            !shown.contains("kkkk"),
            "expected Debug not to print the secret, got {shown}"
        );
    }
}
