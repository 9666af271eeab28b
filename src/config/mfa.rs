//! Multi-factor sign-in settings (`PORTCULLIS_WEBAUTHN_RP_ID`, ...; issue
//! 17, docs/MFA.md).

use super::settings::setting as s;
use super::{ConfigError, RawSettings};

/// TOTP and WebAuthn settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaConfig {
    /// `PORTCULLIS_WEBAUTHN_RP_ID`: the WebAuthn relying-party id, a
    /// registrable domain suffix of the issuer's host (default: the host).
    pub rp_id: String,
    /// The origin passkey answers must come from: the issuer's origin.
    pub rp_origin: String,
    /// `PORTCULLIS_WEBAUTHN_RP_NAME`: the name authenticators show.
    pub rp_name: String,
    /// `PORTCULLIS_TOTP_ISSUER`: the issuer label in authenticator apps.
    pub totp_issuer: String,
}

/// Reads the MFA settings; `issuer` gives the defaults and the origin.
pub(super) fn parse_mfa(raw: &RawSettings, issuer: &str) -> Result<MfaConfig, ConfigError> {
    let url = url::Url::parse(issuer)
        .map_err(|e| ConfigError::new(s::ISSUER.env, format!("not a URL: {e}")))?;
    let host = url.host_str().unwrap_or("localhost").to_owned();
    let rp_origin = url.origin().ascii_serialization();
    let rp_id = match raw.text(&s::WEBAUTHN_RP_ID) {
        None => host.clone(),
        Some(id) => {
            let id = id.trim().to_ascii_lowercase();
            // WebAuthn §5.1.3 / §13.4.9: the RP ID is the origin's effective
            // domain or a registrable suffix of it.
            let suffix = host == id || host.ends_with(&format!(".{id}"));
            if id.is_empty() || !suffix {
                return Err(ConfigError::new(
                    s::WEBAUTHN_RP_ID.env,
                    format!(
                        "must be the issuer's host {host:?} or a domain it ends with, got {id:?}"
                    ),
                ));
            }
            id
        }
    };
    let name = |setting, default: &str| {
        raw.text(setting)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
            .to_owned()
    };
    Ok(MfaConfig {
        rp_name: name(&s::WEBAUTHN_RP_NAME, "portcullis"),
        totp_issuer: name(&s::TOTP_ISSUER, &host),
        rp_id,
        rp_origin,
    })
}
