//! The authorization endpoint, sessions, sign-in and token lifetimes.

use super::keys::KeyRotation;
use super::settings::{Setting, setting as s};
use super::{ConfigError, RawSettings};

/// Settings of the authorization endpoint, sessions and sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// A session ends after this long without a request.
    pub session_idle: chrono::Duration,
    /// A session ends this long after sign-in, whatever its use.
    pub session_max: chrono::Duration,
    /// Authorization code lifetime (docs/SECURITY.md invariant 2: 60 s by default).
    pub code_ttl: chrono::Duration,
    /// Accept PKCE `plain` (RFC 7636 §4.2; off by default).
    pub pkce_allow_plain: bool,
    /// First-party clients get `offline_access` without the consent page
    /// (off by default: OpenID Connect Core §11).
    pub first_party_offline_without_consent: bool,
    /// Sign-in attempts per (account, client address) within the window;
    /// the next one locks the pair.
    pub login_max_failures: u32,
    /// Sign-in attempts per account from all addresses within the window;
    /// the next one locks the account.
    pub login_account_max_failures: u32,
    /// Failed sign-ins per client address within the window that lock it.
    pub login_ip_max_failures: u32,
    /// Counting window for failures.
    pub login_failure_window: chrono::Duration,
    /// How long a lock lasts.
    pub login_lockout: chrono::Duration,
    /// Device authorization lifetime (RFC 8628 `expires_in`).
    pub device_code_ttl: chrono::Duration,
    /// Least time between two polls of a device code (`interval`).
    pub device_poll_interval: chrono::Duration,
    /// Wrong user codes per client address within the window.
    pub device_user_code_max_failures: u32,
    /// Longest wait between two attempts of one outbound delivery.
    pub delivery_retry_max: chrono::Duration,
    /// An outbound delivery older than this is given up.
    pub delivery_max_age: chrono::Duration,
}
/// Token lifetimes and formats (per-client overrides are set with
/// `client create --access-token-ttl` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// `PORTCULLIS_ACCESS_TOKEN_TTL_SECS` (default 600).
    pub access_ttl: chrono::Duration,
    /// `PORTCULLIS_ID_TOKEN_TTL_SECS` (default 600).
    pub id_ttl: chrono::Duration,
    /// `PORTCULLIS_REFRESH_TOKEN_TTL_SECS` (default 30 days).
    pub refresh_ttl: chrono::Duration,
    /// `PORTCULLIS_REFRESH_TOKEN_ABSOLUTE_TTL_SECS` (default 90 days).
    pub refresh_absolute_ttl: chrono::Duration,
    /// `PORTCULLIS_ACCESS_TOKEN_ALG`: `ES256` (default), `RS256` or `PS256`.
    pub access_token_alg: crate::ports::JwsAlg,
    /// `PORTCULLIS_ACCESS_TOKEN_AUDIENCE` (default: the issuer).
    pub access_token_audience: Option<String>,
    /// `PORTCULLIS_REFRESH_GRACE_SECS` (default 10; 0 = none).
    pub refresh_grace: chrono::Duration,
    /// `PORTCULLIS_DPOP_PROOF_WINDOW_SECS` (default 60): how old a DPoP
    /// proof may be (RFC 9449 §11.1).
    pub dpop_proof_window: chrono::Duration,
    /// `PORTCULLIS_DPOP_NONCE` (default false): require server nonces in
    /// DPoP proofs (RFC 9449 §8).
    pub dpop_nonce: bool,
}
/// A number of seconds as a `chrono::Duration`.
fn secs(raw: &RawSettings, setting: &Setting) -> Result<chrono::Duration, ConfigError> {
    raw.number(setting).map(chrono::Duration::seconds)
}

/// Reads the settings of the authorization endpoint, sessions and sign-in.
pub(super) fn parse_auth_settings(raw: &RawSettings) -> Result<AuthSettings, ConfigError> {
    let session_idle = secs(raw, &s::SESSION_IDLE_SECS)?;
    let session_max = secs(raw, &s::SESSION_MAX_SECS)?;
    if session_max < session_idle {
        return Err(ConfigError::new(
            s::SESSION_MAX_SECS.env,
            "must not be shorter than PORTCULLIS_SESSION_IDLE_SECS",
        ));
    }
    // The per-account lock is the one an attacker anywhere can trip, so it
    // must sit above the per-(account, address) one: otherwise the lock
    // that spares the user from other addresses never comes first.
    let login_max_failures: u32 = raw.number(&s::LOGIN_MAX_FAILURES)?;
    let login_account_max_failures: u32 = raw.number(&s::LOGIN_ACCOUNT_MAX_FAILURES)?;
    if login_account_max_failures <= login_max_failures {
        return Err(ConfigError::new(
            s::LOGIN_ACCOUNT_MAX_FAILURES.env,
            format!(
                "must be greater than PORTCULLIS_LOGIN_MAX_FAILURES ({login_max_failures}), got {login_account_max_failures}"
            ),
        ));
    }
    Ok(AuthSettings {
        session_idle,
        session_max,
        code_ttl: secs(raw, &s::AUTH_CODE_TTL_SECS)?,
        pkce_allow_plain: raw.flag(&s::PKCE_ALLOW_PLAIN)?,
        first_party_offline_without_consent: raw.flag(&s::FIRST_PARTY_OFFLINE_WITHOUT_CONSENT)?,
        login_max_failures,
        login_account_max_failures,
        login_ip_max_failures: raw.number(&s::LOGIN_IP_MAX_FAILURES)?,
        login_failure_window: secs(raw, &s::LOGIN_FAILURE_WINDOW_SECS)?,
        login_lockout: secs(raw, &s::LOGIN_LOCKOUT_SECS)?,
        device_code_ttl: secs(raw, &s::DEVICE_CODE_TTL_SECS)?,
        device_poll_interval: secs(raw, &s::DEVICE_POLL_INTERVAL_SECS)?,
        device_user_code_max_failures: raw.number(&s::DEVICE_USER_CODE_MAX_FAILURES)?,
        delivery_retry_max: secs(raw, &s::DELIVERY_RETRY_MAX_SECS)?,
        delivery_max_age: secs(raw, &s::DELIVERY_MAX_AGE_SECS)?,
    })
}

/// A JWT lifetime: at most `PORTCULLIS_MAX_TOKEN_TTL_SECS`; when not set,
/// the default is capped to it.
fn jwt_ttl(
    raw: &RawSettings,
    setting: &Setting,
    max: i64,
) -> Result<chrono::Duration, ConfigError> {
    let ttl: i64 = raw.number(setting)?;
    if ttl <= max {
        Ok(chrono::Duration::seconds(ttl))
    } else if raw.is_set(setting) {
        Err(ConfigError::new(
            setting.env,
            format!("must be between 1 and {max} (PORTCULLIS_MAX_TOKEN_TTL_SECS), got {ttl}"),
        ))
    } else {
        Ok(chrono::Duration::seconds(max))
    }
}

/// Reads the token lifetimes and formats.
pub(super) fn parse_token_config(
    raw: &RawSettings,
    rotation: &KeyRotation,
) -> Result<TokenConfig, ConfigError> {
    let max = i64::try_from(rotation.max_token_ttl.as_secs()).unwrap_or(i64::MAX);
    let access_token_alg = match raw.text(&s::ACCESS_TOKEN_ALG) {
        None => crate::ports::JwsAlg::Es256,
        Some(a) => a
            .parse()
            .map_err(|e: String| ConfigError::new(s::ACCESS_TOKEN_ALG.env, e))?,
    };
    Ok(TokenConfig {
        access_ttl: jwt_ttl(raw, &s::ACCESS_TOKEN_TTL_SECS, max)?,
        id_ttl: jwt_ttl(raw, &s::ID_TOKEN_TTL_SECS, max)?,
        refresh_ttl: secs(raw, &s::REFRESH_TOKEN_TTL_SECS)?,
        refresh_absolute_ttl: secs(raw, &s::REFRESH_TOKEN_ABSOLUTE_TTL_SECS)?,
        access_token_alg,
        refresh_grace: secs(raw, &s::REFRESH_GRACE_SECS)?,
        dpop_proof_window: secs(raw, &s::DPOP_PROOF_WINDOW_SECS)?,
        dpop_nonce: raw.flag(&s::DPOP_NONCE)?,
        access_token_audience: raw
            .text(&s::ACCESS_TOKEN_AUDIENCE)
            .filter(|a| !a.trim().is_empty())
            .map(str::to_owned),
    })
}
