//! [`AppError`]: the only error type handlers return, and how each kind is
//! rendered (docs/SECURITY.md invariant 12).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::protocol::error::{BoxError, ErrorCode, OAuthError};

/// How the client authenticated, so that `invalid_client` can answer with
/// the right challenge (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// HTTP Basic was used: answer 401 with `WWW-Authenticate: Basic`.
    Basic,
    /// Anything else.
    Other,
}

/// A message for a hosted error page.
#[derive(Debug, Clone)]
pub struct PageMsg {
    /// Short title.
    pub title: String,
    /// Explanation for the end user.
    pub detail: String,
}

impl AppError {
    /// A hosted error page.
    pub fn page(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Page(
            status,
            PageMsg {
                title: title.into(),
                detail: detail.into(),
            },
        )
    }
}

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum AppError {
    /// Token-style endpoints: RFC 6749 §5.2 JSON.
    Token(OAuthError, AuthScheme),
    /// Bearer-protected resources: RFC 6750 §3.
    Bearer(OAuthError),
    /// A resource's error for a DPoP presentation or a DPoP-bound token:
    /// RFC 9449 §7.1, the `DPoP` challenge with `algs`.
    Dpop(OAuthError),
    /// A bearer-protected resource was asked without any credentials: 401
    /// with a challenge that has no error code (RFC 6750 §3.1; the JSON body
    /// says what is missing).
    NoBearer,
    /// A hosted page that cannot go on (unknown client, bad redirect URI).
    Page(StatusCode, PageMsg),
    /// An unexpected failure: generic body, detail in the log.
    Internal(BoxError),
    /// The body could not be read (too large: 413; the connection broke):
    /// axum's own answer.
    Body(axum::extract::rejection::BytesRejection),
    /// The admin API and dynamic registration (RFC 7591 §3.2.2): JSON
    /// `{"error", "error_description"}` with the status it carries.
    Api(ApiError),
}

/// An error of a JSON API that is not an OAuth endpoint (the admin API,
/// dynamic registration): a status, a machine-readable code and a
/// description for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// `error`: `invalid_request`, `not_found`, `conflict`,
    /// `invalid_redirect_uri`, `invalid_client_metadata`, ...
    pub error: &'static str,
    /// `error_description`.
    pub description: String,
}

impl ApiError {
    /// An error with any status and code.
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 404 `not_found`.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    /// 409 `conflict`.
    pub fn conflict(description: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", description)
    }
}

impl From<ApiError> for AppError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<crate::app::operator::OperatorError> for AppError {
    /// Operator rules refused (400, 404, 409: nothing was written) or a
    /// dependency failed (503 when the database is unreachable, else 500).
    fn from(e: crate::app::operator::OperatorError) -> Self {
        use crate::app::operator::OperatorError as E;
        use crate::ports::StoreError;
        match e {
            E::Invalid(m) => Self::Api(ApiError::invalid_request(m)),
            E::InvalidRedirectUri(m) => Self::Api(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_redirect_uri",
                m,
            )),
            E::NotFound(m) => Self::Api(ApiError::not_found(m)),
            E::Conflict(m) => Self::Api(ApiError::conflict(m)),
            E::Store(StoreError::Unavailable(m)) => {
                Self::Token(OAuthError::temporarily_unavailable(m), AuthScheme::Other)
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    detail: &'a str,
}

fn log_source(err: &OAuthError) {
    if let Some(src) = &err.source {
        match err.code {
            ErrorCode::ServerError => {
                tracing::error!(error = %src, code = %err.code, "request failed");
            }
            ErrorCode::TemporarilyUnavailable => {
                tracing::warn!(error = %src, code = %err.code, "dependency unavailable");
            }
            _ => tracing::info!(error = %src, code = %err.code, "request refused"),
        }
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Renders a hosted error page.
pub fn render_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = ErrorPage { title, detail }
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><p>{status}</p>"));
    let mut resp = (status, Html(body)).into_response();
    no_store(&mut resp);
    resp
}

/// RFC 6750 §3 (and RFC 9470 §3, RFC 9449 §7.1): a protected resource's
/// error, with its `WWW-Authenticate` challenge: `Bearer`, or `DPoP` with
/// the proof algorithms (`algs`) when `dpop`.
fn resource_response(err: &OAuthError, dpop: bool) -> Response {
    log_source(err);
    let status = match err.code {
        // RFC 9470 §3: insufficient_user_authentication is a 401; RFC 9449
        // §7.1 and §9: so are the DPoP errors of a resource.
        ErrorCode::InvalidToken
        | ErrorCode::InsufficientUserAuthentication
        | ErrorCode::InvalidDpopProof
        | ErrorCode::UseDpopNonce => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let scheme = if dpop { "DPoP" } else { "Bearer" };
    let mut challenge = format!(
        "{scheme} realm=\"portcullis\", error=\"{}\", error_description=\"{}\"",
        err.code.as_str(),
        err.safe_description()
    );
    if dpop {
        challenge.push_str(", algs=\"");
        challenge.push_str(&crate::protocol::dpop::challenge_algs());
        challenge.push('"');
    }
    // RFC 9470 §3: the challenge says which class to ask for
    // (the one a client's `require_mfa` requires).
    if err.code == ErrorCode::InsufficientUserAuthentication {
        challenge.push_str(", acr_values=\"");
        challenge.push_str(crate::domain::mfa::Acr::TwoFactor.as_str());
        challenge.push('"');
    }
    let body = ErrorBody {
        error: err.code.as_str(),
        error_description: Some(err.safe_description()),
    };
    let mut resp = (status, axum::Json(body)).into_response();
    no_store(&mut resp);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::Token(err, scheme) => {
                log_source(&err);
                let status = match err.code {
                    ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
                    ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_REQUEST,
                };
                let body = ErrorBody {
                    error: err.code.as_str(),
                    error_description: Some(err.safe_description()),
                };
                let mut resp = (status, axum::Json(body)).into_response();
                no_store(&mut resp);
                if err.code == ErrorCode::InvalidClient && scheme == AuthScheme::Basic {
                    resp.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"portcullis\", charset=\"UTF-8\""),
                    );
                }
                if err.code == ErrorCode::TemporarilyUnavailable {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                }
                resp
            }
            Self::Bearer(err) => resource_response(&err, false),
            Self::Dpop(err) => resource_response(&err, true),
            Self::NoBearer => {
                let body = ErrorBody {
                    error: ErrorCode::InvalidToken.as_str(),
                    error_description: Some("no access token was presented".into()),
                };
                let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"portcullis\""),
                );
                no_store(&mut resp);
                resp
            }
            Self::Page(status, msg) => {
                let mut resp = render_page(status, &msg.title, &msg.detail);
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                }
                resp
            }
            Self::Body(rejection) => rejection.into_response(),
            Self::Api(e) => {
                let body = ErrorBody {
                    error: e.error,
                    error_description: Some(e.description),
                };
                let mut resp = (e.status, axum::Json(body)).into_response();
                no_store(&mut resp);
                resp
            }
            Self::Internal(err) => {
                tracing::error!(error = %err, "internal error");
                let body = ErrorBody {
                    error: ErrorCode::ServerError.as_str(),
                    error_description: Some("the server could not complete the request".into()),
                };
                let mut resp =
                    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response();
                no_store(&mut resp);
                resp
            }
        }
    }
}
