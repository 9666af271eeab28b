//! Pushed authorization requests and request objects
//! (`PORTCULLIS_PAR_LIFETIME_SECS`, `PORTCULLIS_REQUIRE_PAR`,
//! `PORTCULLIS_REQUEST_URI_EXTERNAL`; RFC 9126, RFC 9101).

use super::settings::setting as s;
use super::{ConfigError, RawSettings};

/// The settings of `/par` and of `request_uri` at `/authorize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParConfig {
    /// How long a `request_uri` from `/par` may be used (60 s by default,
    /// RFC 9126 §2.2).
    pub lifetime: chrono::Duration,
    /// Every client must push its requests (RFC 9126 §6).
    pub require: bool,
    /// An external `request_uri` is fetched as a request object (off by
    /// default: `request_uri_not_supported`).
    pub request_uri_external: bool,
}

/// Reads the settings.
pub(super) fn parse_par(raw: &RawSettings) -> Result<ParConfig, ConfigError> {
    Ok(ParConfig {
        lifetime: chrono::Duration::seconds(raw.number(&s::PAR_LIFETIME_SECS)?),
        require: raw.flag(&s::REQUIRE_PAR)?,
        request_uri_external: raw.flag(&s::REQUEST_URI_EXTERNAL)?,
    })
}
