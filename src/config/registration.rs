//! Dynamic client registration (`PORTCULLIS_REGISTRATION*`, RFC 7591).

use super::settings::setting as s;
use super::{ConfigError, RawSettings};
use crate::domain::ScopeSet;
use crate::protocol::admin::has_operator_only_scope;

/// Who may register a client at `/register` (RFC 7591 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// No dynamic registration: `/register` answers 404 like an unknown
    /// path and discovery does not list it (the default).
    Off,
    /// The bearer of an initial access token (RFC 7591 §3), made by an
    /// operator with `portcullis registration token create` or the admin
    /// API.
    Token,
    /// Anyone (RFC 7591 §3 open registration): an explicit opt-in.
    Open,
}

impl RegistrationMode {
    /// Whether `/register` is served.
    pub fn is_on(self) -> bool {
        self != Self::Off
    }
}

/// The dynamic-registration settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationConfig {
    /// `PORTCULLIS_REGISTRATION`.
    pub mode: RegistrationMode,
    /// `PORTCULLIS_REGISTRATION_SCOPES`: the scopes a registrant may ask
    /// for; never an admin scope.
    pub scopes: ScopeSet,
}

/// Reads `PORTCULLIS_REGISTRATION` and `PORTCULLIS_REGISTRATION_SCOPES`.
pub(super) fn parse_registration(raw: &RawSettings) -> Result<RegistrationConfig, ConfigError> {
    let mode = match raw.text(&s::REGISTRATION).unwrap_or("off") {
        "off" => RegistrationMode::Off,
        "token" => RegistrationMode::Token,
        "open" => RegistrationMode::Open,
        other => {
            return Err(ConfigError::new(
                s::REGISTRATION.env,
                format!("expected off, token or open, got {other:?}"),
            ));
        }
    };
    let scopes = ScopeSet::parse(raw.text(&s::REGISTRATION_SCOPES).unwrap_or_default())
        .map_err(|e| ConfigError::new(s::REGISTRATION_SCOPES.env, e.to_string()))?;
    if has_operator_only_scope(&scopes) {
        return Err(ConfigError::new(
            s::REGISTRATION_SCOPES.env,
            "admin:read, admin:write and ssf:receiver are given by an operator only, never by registration",
        ));
    }
    Ok(RegistrationConfig { mode, scopes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(mode: Option<&str>, scopes: Option<&str>) -> Result<RegistrationConfig, ConfigError> {
        let raw = RawSettings {
            registration: mode.map(str::to_owned),
            registration_scopes: scopes.map(str::to_owned),
            ..RawSettings::default()
        };
        parse_registration(&raw)
    }

    #[test]
    fn off_by_default_and_the_standard_scopes() {
        let c = parse(None, None).unwrap();
        assert_eq!(c.mode, RegistrationMode::Off);
        assert_eq!(c.scopes.to_string(), "email offline_access openid profile");
        assert_eq!(
            parse(Some("token"), None).unwrap().mode,
            RegistrationMode::Token
        );
        assert_eq!(
            parse(Some("open"), None).unwrap().mode,
            RegistrationMode::Open
        );
    }

    #[test]
    fn unknown_modes_and_admin_scopes_stop_start_up() {
        assert!(parse(Some("on"), None).is_err());
        assert!(parse(Some("OPEN"), None).is_err());
        assert!(parse(None, Some("openid admin:read")).is_err());
        assert!(parse(None, Some("openid \u{7f}")).is_err());
        assert!(parse(None, Some("openid api:read")).is_ok());
    }
}
