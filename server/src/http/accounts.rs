//! Sign-in routes: `/api/guest`, `/api/register`, `/api/login`, `/api/me`, and the
//! [`AuthUser`] extractor that other routes use to require a token.

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiJson};
use super::serve::ClientIp;
use crate::auth::password::PasswordError;
use crate::auth::{Auth, AuthError, User};
use crate::limits::{Limits, Refusal};

/// The largest request body these routes read: a name and a password fit many
/// times over, and anything bigger is refused before it is buffered.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// `/api/guest`, `/api/register`, `/api/login` and `/api/me`.
pub fn routes<S>() -> Router<S>
where
    Auth: FromRef<S>,
    Limits: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/guest", post(guest))
        .route("/api/register", post(register))
        .route("/api/login", post(login))
        .route("/api/me", get(me))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

#[derive(Deserialize)]
struct GuestRequest {
    name: String,
}

/// Deliberately not `Debug`: the password must not end up in a log line.
#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

/// What every successful sign-in returns.
#[derive(Debug, Serialize)]
struct Session {
    token: String,
    user: User,
}

#[derive(Debug, Serialize)]
struct Me {
    user: User,
}

/// An account error as the client gets it; a full hashing queue is counted as a refusal
/// (`kurve_limit_refusals_total{kind="password_hash_queue"}`).
fn refused(error: AuthError) -> ApiError {
    if matches!(error, AuthError::Password(PasswordError::Busy)) {
        Refusal::PasswordHashQueue.count();
    }
    error.into()
}

fn session(auth: &Auth, user: User) -> Result<ApiJson<Session>, ApiError> {
    let token = auth.tokens.issue(&user)?;
    Ok(ApiJson(Session { token, user }))
}

async fn guest(
    State(auth): State<Auth>,
    State(limits): State<Limits>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<GuestRequest>,
) -> Result<ApiJson<Session>, ApiError> {
    limits.guest_sign_in(client)?;
    let user = auth.accounts.guest(&req.name).await?;
    session(&auth, user)
}

async fn register(
    State(auth): State<Auth>,
    ApiJson(req): ApiJson<Credentials>,
) -> Result<(StatusCode, ApiJson<Session>), ApiError> {
    let user = auth
        .accounts
        .register(&req.name, &req.password)
        .await
        .map_err(refused)?;
    tracing::info!(user = %user.id, "account registered");
    Ok((StatusCode::CREATED, session(&auth, user)?))
}

/// Every login attempt spends from its failure budgets (name and address, name, address)
/// before any hashing; one that succeeds (or fails for the server's reasons) gives it
/// back. A name under attack slows a clean address down rather than refusing it.
async fn login(
    State(auth): State<Auth>,
    State(limits): State<Limits>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<Credentials>,
) -> Result<ApiJson<Session>, ApiError> {
    let attempt = limits.login_attempt(&req.name, client)?;
    if !attempt.slow_down().is_zero() {
        tokio::time::sleep(attempt.slow_down()).await;
    }
    match auth.accounts.login(&req.name, &req.password).await {
        Ok(user) => {
            limits.refund_login(attempt);
            session(&auth, user)
        }
        Err(AuthError::InvalidCredentials) => Err(ApiError::InvalidCredentials),
        Err(other) => {
            limits.refund_login(attempt);
            Err(refused(other))
        }
    }
}

async fn me(AuthUser(user): AuthUser) -> ApiJson<Me> {
    ApiJson(Me { user })
}

/// The signed-in user of a request, from `Authorization: Bearer <token>`.
/// Rejects with 401 `unauthorized` (missing, malformed, forged) or `token_expired`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser(pub User);

impl<S> FromRequestParts<S> for AuthUser
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let auth = Auth::from_ref(state);
        Ok(Self(auth.tokens.verify(token)?))
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing bearer token"))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed authorization header"))?;
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let (scheme, token) = value.trim().split_once(' ').ok_or(ApiError::Unauthorized(
        "expected authorization: Bearer <token>",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "expected authorization: Bearer <token>",
        ));
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Accounts, DEFAULT_TOKEN_TTL, TokenSigner};
    use crate::store::{MEMORY_URL, Store};
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    async fn auth() -> Auth {
        let store = Store::open(MEMORY_URL).expect("expected an in-memory store");
        Auth::new(
            TokenSigner::random(DEFAULT_TOKEN_TTL),
            Accounts::open(store).await.expect("expected the accounts"),
        )
    }

    #[derive(Clone)]
    struct TestState {
        auth: Auth,
        limits: Limits,
    }

    impl FromRef<TestState> for Auth {
        fn from_ref(state: &TestState) -> Auth {
            state.auth.clone()
        }
    }

    impl FromRef<TestState> for Limits {
        fn from_ref(state: &TestState) -> Limits {
            state.limits.clone()
        }
    }

    fn app(auth: &Auth) -> Router {
        routes::<TestState>().with_state(TestState {
            auth: auth.clone(),
            limits: Limits::new(crate::config::LimitsConfig::default()),
        })
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
        let response = app
            .clone()
            .oneshot(request)
            .await
            .expect("expected the router to answer");
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1024 * 1024)
            .await
            .expect("expected a readable body");
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "expected a JSON body, got {e}: {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, json)
    }

    fn post_raw(path: &str, body: impl Into<Body>) -> Request<Body> {
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.into())
            .expect("expected a valid request")
    }

    fn post_json(path: &str, body: Value) -> Request<Body> {
        post_raw(path, body.to_string())
    }

    fn get_me(authorization: Option<&str>) -> Request<Body> {
        let mut request = Request::get("/api/me");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        request
            .body(Body::empty())
            .expect("expected a valid request")
    }

    /// Asserts the contract's error shape and returns the code.
    fn error_code(json: &Value) -> &str {
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "expected error.message to be non-empty text, got {json}"
        );
        json["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected error.code to be a string, got {json}"))
    }

    #[tokio::test]
    async fn guest_signs_in() {
        let auth = auth().await;
        let (status, json) = send(
            &app(&auth),
            post_json("/api/guest", json!({"name": " Zoë "})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "expected 200 for a guest, got {json}"
        );
        assert_eq!(json["user"]["name"], "Zoë", "expected the trimmed name");
        assert_eq!(json["user"]["guest"], true, "expected guest: true");
        let id = json["user"]["id"].as_str().expect("expected a string id");
        assert!(
            id.starts_with('g') && id.len() == 13,
            "expected a guest id, got {id}"
        );
        let token = json["token"].as_str().expect("expected a string token");
        assert_eq!(
            auth.tokens.verify(token).ok().map(|u| u.id),
            Some(id.to_owned()),
            "expected the token to carry the guest's id"
        );
    }

    #[tokio::test]
    async fn invalid_names_are_422() {
        let auth = auth().await;
        let app = app(&auth);
        let long = "n".repeat(25);
        for name in ["", "   ", long.as_str(), "<b>", "😀", "a😀b"] {
            for path in ["/api/guest", "/api/register"] {
                let body = json!({"name": name, "password": "long enough"});
                let (status, json) = send(&app, post_json(path, body)).await;
                assert_eq!(
                    status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "expected 422 for name {name:?} on {path}, got {json}"
                );
                assert_eq!(
                    error_code(&json),
                    "invalid_name",
                    "expected invalid_name for {name:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn register_then_duplicate_is_409() {
        let auth = auth().await;
        let app = app(&auth);
        let (status, json) = send(
            &app,
            post_json(
                "/api/register",
                json!({"name": "Ada", "password": "correct horse"}),
            ),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "expected 201 on register, got {json}"
        );
        assert_eq!(
            json["user"],
            json!({"id": "u1", "name": "Ada", "guest": false}),
            "expected the registered user"
        );
        assert!(json["token"].is_string(), "expected a token, got {json}");

        let (status, json) = send(
            &app,
            post_json(
                "/api/register",
                json!({"name": "ADA", "password": "other horse"}),
            ),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "expected 409 for a case-only duplicate"
        );
        assert_eq!(error_code(&json), "name_taken", "expected name_taken");

        let (status, json) = send(&app, post_json("/api/guest", json!({"name": "ada"}))).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "expected 409 for a guest using a registered name"
        );
        assert_eq!(
            error_code(&json),
            "name_taken",
            "expected name_taken for the guest"
        );
    }

    #[tokio::test]
    async fn weak_password_is_422() {
        let auth = auth().await;
        let (status, json) = send(
            &app(&auth),
            post_json(
                "/api/register",
                json!({"name": "Ada", "password": "1234567"}),
            ),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "expected 422, got {json}"
        );
        assert_eq!(error_code(&json), "weak_password", "expected weak_password");
    }

    #[tokio::test]
    async fn login_checks_credentials() {
        let auth = auth().await;
        let app = app(&auth);
        let creds = json!({"name": "Ada", "password": "correct horse"});
        let (status, _) = send(&app, post_json("/api/register", creds.clone())).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "expected registration to succeed"
        );

        let (status, json) = send(&app, post_json("/api/login", creds)).await;
        assert_eq!(status, StatusCode::OK, "expected 200 on login, got {json}");
        assert_eq!(
            json["user"],
            json!({"id": "u1", "name": "Ada", "guest": false}),
            "expected login to return the account"
        );
        assert!(json["token"].is_string(), "expected a token on login");

        for (name, password, what) in [
            ("Ada", "wrong horse", "a wrong password"),
            ("Bob", "correct horse", "an unknown name"),
        ] {
            let body = json!({"name": name, "password": password});
            let (status, json) = send(&app, post_json("/api/login", body)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "expected 401 for {what}");
            assert_eq!(
                error_code(&json),
                "invalid_credentials",
                "expected invalid_credentials for {what}"
            );
        }
    }

    #[tokio::test]
    async fn me_needs_a_valid_token() {
        let auth = auth().await;
        let app = app(&auth);
        let (_, json) = send(&app, post_json("/api/guest", json!({"name": "Zed"}))).await;
        let token = json["token"].as_str().expect("expected a token").to_owned();

        let (status, json) = send(&app, get_me(Some(&format!("Bearer {token}")))).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "expected 200 with a valid token, got {json}"
        );
        assert_eq!(json["user"]["name"], "Zed", "expected the token's user");
        assert_eq!(json["user"]["guest"], true, "expected the guest flag");

        let (status, json) = send(&app, get_me(None)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "expected 401 without a token"
        );
        assert_eq!(
            error_code(&json),
            "unauthorized",
            "expected unauthorized without a token"
        );

        let forger = TokenSigner::random(DEFAULT_TOKEN_TTL);
        let forged = forger
            .issue(&User {
                id: "u1".into(),
                name: "Admin".into(),
                guest: false,
            })
            .expect("expected a token");
        for bad in [
            format!("Bearer {forged}"),
            format!("Basic {token}"),
            "Bearer".to_owned(),
            "Bearer not.a.jwt".to_owned(),
        ] {
            let (status, json) = send(&app, get_me(Some(&bad))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "expected 401 for {bad:?}");
            assert_eq!(
                error_code(&json),
                "unauthorized",
                "expected unauthorized for {bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn me_reports_expired_tokens() {
        let auth = auth().await;
        let guest = User {
            id: "gAAAAAAAAAAAA".into(),
            name: "Old".into(),
            guest: true,
        };
        // Issued two days ago with the default 24 h TTL: expired a day ago.
        let two_days_ago = jsonwebtoken::get_current_timestamp() - 2 * 24 * 60 * 60;
        let token = auth
            .tokens
            .issue_at(&guest, two_days_ago)
            .expect("expected a token");
        let (status, json) = send(&app(&auth), get_me(Some(&format!("Bearer {token}")))).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "expected 401 for an expired token"
        );
        assert_eq!(error_code(&json), "token_expired", "expected token_expired");
    }

    #[tokio::test]
    async fn bad_bodies_get_the_error_shape() {
        let auth = auth().await;
        let app = app(&auth);

        let (status, json) = send(&app, post_raw("/api/login", "{\"name\": ")).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "expected 400 for malformed JSON"
        );
        assert_eq!(
            error_code(&json),
            "bad_request",
            "expected bad_request for malformed JSON"
        );

        let wrong_types = json!({"name": 5, "password": ["x"]});
        let (status, json) = send(&app, post_json("/api/register", wrong_types)).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "expected 400 for wrong field types"
        );
        assert_eq!(
            error_code(&json),
            "bad_request",
            "expected bad_request for wrong types"
        );

        let (status, json) = send(&app, post_json("/api/guest", json!({}))).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "expected 400 for a missing field"
        );
        assert_eq!(
            error_code(&json),
            "bad_request",
            "expected bad_request for a missing field"
        );

        let huge = json!({"name": "x".repeat(MAX_BODY_BYTES + 1)});
        let (status, json) = send(&app, post_json("/api/guest", huge)).await;
        assert_eq!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "expected 413 for a huge body"
        );
        assert_eq!(
            error_code(&json),
            "payload_too_large",
            "expected payload_too_large"
        );

        let no_type = Request::post("/api/guest")
            .body(Body::from(json!({"name": "Zed"}).to_string()))
            .expect("expected a valid request");
        let (status, json) = send(&app, no_type).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected 415 without a JSON content type"
        );
        assert_eq!(
            error_code(&json),
            "unsupported_media_type",
            "expected unsupported_media_type without a JSON content type"
        );
    }
}
