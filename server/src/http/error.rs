//! The one place HTTP errors are shaped: `{"error": {"code", "message"}}` with a
//! fitting status.
//!
//! **Invariant:** client errors are not logged as errors; server faults are logged
//! here with `error!` and reach the client only as `500 internal`, without details.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::error;

use crate::auth::{AuthError, TokenError};
use crate::store::DbError;

/// Everything an HTTP handler can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, wrong field types, missing fields, bad query.
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("expected a request with content-type: application/json")]
    UnsupportedMediaType,
    /// No credentials, or credentials we did not issue.
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("token expired; sign in again")]
    TokenExpired,
    #[error("wrong name or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("that name is taken")]
    NameTaken,
    #[error("{0}")]
    InvalidName(&'static str),
    #[error("{0}")]
    WeakPassword(&'static str),
    /// A budget of CONTRACT §8 is spent; `Retry-After` says when to come back.
    #[error("too many requests; try again in {} s", retry_after_secs(*.0))]
    RateLimited(std::time::Duration),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request target is too long")]
    UriTooLong,
    /// The server is too busy for this request right now (password hashing queue full).
    #[error("the server is busy; try again in a moment")]
    Overloaded,
    /// A server fault. The source is logged, never shown.
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized(_) | Self::TokenExpired | Self::InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::NameTaken => StatusCode::CONFLICT,
            Self::InvalidName(_) | Self::WeakPassword(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unauthorized(_) => "unauthorized",
            Self::TokenExpired => "token_expired",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::NameTaken => "name_taken",
            Self::InvalidName(_) => "invalid_name",
            Self::WeakPassword(_) => "weak_password",
            Self::RateLimited(_) => "rate_limited",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UriTooLong => "uri_too_long",
            Self::Overloaded => "overloaded",
            Self::Internal(_) => "internal",
        }
    }

    /// The human text shown to clients; never the cause of a server fault.
    fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        }
    }

    fn internal(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(source))
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(source) = &self {
            error!(error = %source, "request failed");
        }
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.public_message(),
            },
        };
        let retry_after = match &self {
            Self::RateLimited(after) => Some(retry_after_secs(*after)),
            Self::Overloaded => Some(1),
            _ => None,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 asks 401 responses to name the scheme they expect.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Whole seconds to wait, rounded up, at least one.
fn retry_after_secs(after: std::time::Duration) -> u64 {
    (after.as_secs_f64().ceil() as u64).max(1)
}

impl From<crate::limits::Limited> for ApiError {
    fn from(limited: crate::limits::Limited) -> Self {
        Self::RateLimited(limited.retry_after)
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::InvalidName(why) => Self::InvalidName(why.message()),
            AuthError::NameTaken => Self::NameTaken,
            AuthError::WeakPassword(why) => Self::WeakPassword(why),
            AuthError::InvalidCredentials => Self::InvalidCredentials,
            AuthError::Db(e) => Self::internal(e),
            AuthError::Password(crate::auth::password::PasswordError::Busy) => Self::Overloaded,
            AuthError::Password(e) => Self::internal(e),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        Self::internal(err)
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Expired => Self::TokenExpired,
            TokenError::Invalid => Self::Unauthorized("invalid token"),
            // Issuing failed: our fault, not the client's.
            TokenError::WeakSecret | TokenError::Sign(_) => Self::internal(err),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            // Syntax errors (400) and type errors (axum says 422) are both the
            // client's malformed request; 422 is kept for rule violations.
            status if status.is_client_error() => Self::BadRequest(rejection.body_text()),
            _ => Self::internal(rejection),
        }
    }
}

/// JSON in and out. As an extractor it is axum's `Json`, except that rejections
/// come back in the contract's error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn body_of(err: ApiError) -> (StatusCode, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 64 * 1024)
            .await
            .expect("expected a readable body");
        let json = serde_json::from_slice(&bytes).expect("expected a JSON error body");
        (status, json)
    }

    #[tokio::test]
    async fn shapes_client_errors() {
        let (status, json) = body_of(ApiError::NameTaken).await;
        assert_eq!(status, StatusCode::CONFLICT, "expected 409 for name_taken");
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "name_taken", "message": "that name is taken"}}),
            "expected the contract's error shape"
        );
    }

    #[tokio::test]
    async fn hides_server_faults() {
        let fault = DbError::TaskFailed("secret detail".into());
        let (status, json) = body_of(ApiError::from(fault)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "expected 500");
        assert_eq!(json["error"]["code"], "internal", "expected code internal");
        assert!(
            !json.to_string().contains("secret detail"),
            "expected the fault's detail to stay out of the response, got {json}"
        );
    }

    #[tokio::test]
    async fn unauthorized_names_the_scheme() {
        let response = ApiError::TokenExpired.into_response();
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE),
            Some(&HeaderValue::from_static("Bearer")),
            "expected a 401 to carry WWW-Authenticate: Bearer"
        );
    }
}
