//! OAuth 2.0 / OpenID Connect error codes and the error value the protocol
//! layer returns (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3, RFC 7009 §2.2.1,
//! OpenID Connect Core §3.1.2.6).

use std::borrow::Cow;
use std::fmt;

/// A boxed error kept as the hidden cause of an [`OAuthError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every error code the server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// RFC 6749 §4.1.2.1, §5.2.
    InvalidRequest,
    /// RFC 6749 §5.2.
    InvalidClient,
    /// RFC 6749 §5.2.
    InvalidGrant,
    /// RFC 6749 §4.1.2.1, §5.2.
    UnauthorizedClient,
    /// RFC 6749 §5.2.
    UnsupportedGrantType,
    /// RFC 6749 §4.1.2.1, §5.2.
    InvalidScope,
    /// RFC 6749 §4.1.2.1.
    AccessDenied,
    /// RFC 6749 §4.1.2.1.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1.
    ServerError,
    /// RFC 6749 §4.1.2.1.
    TemporarilyUnavailable,
    /// RFC 6750 §3.1.
    InvalidToken,
    /// RFC 6750 §3.1.
    InsufficientScope,
    /// RFC 7009 §2.2.1.
    UnsupportedTokenType,
    /// OIDC Core §3.1.2.6.
    InteractionRequired,
    /// OIDC Core §3.1.2.6.
    LoginRequired,
    /// OIDC Core §3.1.2.6.
    ConsentRequired,
    /// OIDC Core §3.1.2.6.
    AccountSelectionRequired,
    /// OIDC Core §3.1.2.6.
    InvalidRequestUri,
    /// OIDC Core §3.1.2.6.
    InvalidRequestObject,
    /// OIDC Core §3.1.2.6.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6.
    RequestUriNotSupported,
    /// OIDC Core §3.1.2.6.
    RegistrationNotSupported,
    /// OpenID Connect Core Unmet Authentication Requirements 1.0 §2: the
    /// authentication the request (`acr_values`, an essential `acr` claim)
    /// or the client (`require_mfa`) requires cannot be given.
    UnmetAuthenticationRequirements,
    /// RFC 9470 §3: the token's authentication is weaker than the
    /// resource requires (step-up).
    InsufficientUserAuthentication,
    /// RFC 8707 §2: a `resource` parameter is malformed, unknown, not
    /// allowed for the client, or not part of the grant.
    InvalidTarget,
    /// RFC 8628 §3.5: the user has not decided yet; poll again.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; the interval grows by 5 seconds.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
    /// RFC 9449 §5, §7.1: the DPoP proof is missing where one is
    /// required, or invalid.
    InvalidDpopProof,
    /// RFC 9449 §8, §9: the DPoP proof must carry the server's nonce (the
    /// response's `DPoP-Nonce` header has it).
    UseDpopNonce,
}

impl ErrorCode {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InteractionRequired => "interaction_required",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::InsufficientUserAuthentication => "insufficient_user_authentication",
            Self::InvalidTarget => "invalid_target",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error: the code and description go to the client; the source
/// is logged and never sent.
#[derive(Debug)]
pub struct OAuthError {
    /// The error code.
    pub code: ErrorCode,
    /// Human-readable text for the developer of the client (ASCII, RFC 6749
    /// §5.2 `error_description` character set).
    pub description: Cow<'static, str>,
    /// The internal cause, for the log only.
    pub source: Option<BoxError>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            source: None,
        }
    }

    /// Attaches the internal cause.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant` (RFC 6749 §5.2): the code, refresh token or other
    /// grant is invalid, expired, revoked or bound to another client.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_target` (RFC 8707 §2).
    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }

    /// `server_error` with a generic description; the cause is logged.
    pub fn server_error(source: impl Into<BoxError>) -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
        .with_source(source)
    }

    /// `temporarily_unavailable`: a dependency (database, KMS) is down.
    pub fn temporarily_unavailable(source: impl Into<BoxError>) -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable; retry later",
        )
        .with_source(source)
    }

    /// The description made safe for the `error_description` character set
    /// (RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E).
    pub fn safe_description(&self) -> String {
        self.description
            .chars()
            .map(|c| match c {
                '"' | '\\' => '\'',
                c if (' '..='~').contains(&c) => c,
                _ => '?',
            })
            .collect()
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<crate::ports::StoreError> for OAuthError {
    fn from(e: crate::ports::StoreError) -> Self {
        match e {
            crate::ports::StoreError::Unavailable(_) => Self::temporarily_unavailable(e),
            _ => Self::server_error(e),
        }
    }
}

/// A signing failure: KMS or the database down is `temporarily_unavailable`
/// (503, so the client retries); anything else is `server_error`.
impl From<crate::ports::KeyError> for OAuthError {
    fn from(e: crate::ports::KeyError) -> Self {
        if e.is_unavailable() {
            Self::temporarily_unavailable(e)
        } else {
            Self::server_error(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_is_limited_to_the_rfc6749_charset() {
        let e = OAuthError::invalid_request("bad \"x\" \\ é\n");
        assert_eq!(e.safe_description(), "bad 'x' ' ??");
    }

    #[test]
    fn store_outage_is_temporarily_unavailable() {
        let e: OAuthError = crate::ports::StoreError::Unavailable("down".into()).into();
        assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);
        let e: OAuthError = crate::ports::StoreError::Internal("bug".into()).into();
        assert_eq!(e.code, ErrorCode::ServerError);
        assert!(!e.description.contains("bug"));
    }

    #[test]
    fn kms_outage_is_temporarily_unavailable() {
        let e: OAuthError =
            crate::ports::KeyError::Unavailable("KMS Sign: timed out".into()).into();
        assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);
        assert!(!e.description.contains("KMS"));
        let e: OAuthError = crate::ports::KeyError::PayloadTooLarge {
            len: 5000,
            max: 4096,
        }
        .into();
        assert_eq!(e.code, ErrorCode::ServerError);
    }
}
