//! End-user self-service and mail (`PORTCULLIS_SMTP_URL`,
//! `PORTCULLIS_SIGNUP`, ...; issue 16).

use std::path::{Path, PathBuf};

use chrono::Duration;

use super::settings::setting as s;
use super::{ConfigError, RawSettings};

/// Who may sign up at `/signup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupMode {
    /// No self-registration: `/signup` answers 404 (the default).
    Off,
    /// Only with an invitation link (`portcullis user invite`).
    Invite,
    /// Anyone.
    Open,
}

/// Where mail goes.
#[derive(Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// `.eml` files in this directory (the embedded default).
    Files(PathBuf),
    /// An SMTP server: the URL as set (it may hold credentials; `Debug`
    /// hides it).
    Smtp(String),
}

impl std::fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Files(dir) => f.debug_tuple("Files").field(dir).finish(),
            Self::Smtp(_) => f.write_str("Smtp(<redacted>)"),
        }
    }
}

/// Mail and the self-service pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfServiceConfig {
    /// `PORTCULLIS_SMTP_URL` / `PORTCULLIS_OUTBOX_DIR`.
    pub transport: MailTransport,
    /// `PORTCULLIS_MAIL_FROM`.
    pub mail_from: String,
    /// `PORTCULLIS_MAIL_PER_ADDRESS_PER_HOUR`.
    pub mail_per_address_per_hour: u32,
    /// `PORTCULLIS_MAIL_RETRY_MAX_SECS`.
    pub mail_retry_max: Duration,
    /// `PORTCULLIS_EMAIL_VERIFY_TTL_SECS`.
    pub email_verify_ttl: Duration,
    /// `PORTCULLIS_PASSWORD_RESET_TTL_SECS`.
    pub password_reset_ttl: Duration,
    /// `PORTCULLIS_SIGNUP`.
    pub signup: SignupMode,
    /// `PORTCULLIS_REQUIRE_VERIFIED_EMAIL`.
    pub require_verified_email: bool,
    /// `PORTCULLIS_ACCOUNT_REAUTH_SECS`.
    pub account_reauth: Duration,
}

/// Reads the self-service settings; `issuer` gives the default sender's
/// host, `data_dir` the default outbox directory.
pub(super) fn parse_self_service(
    raw: &RawSettings,
    issuer: &str,
    data_dir: &Path,
) -> Result<SelfServiceConfig, ConfigError> {
    let transport = match raw.text(&s::SMTP_URL) {
        Some(url) => {
            check_smtp_url(url).map_err(|e| ConfigError::new(s::SMTP_URL.env, e))?;
            MailTransport::Smtp(url.to_owned())
        }
        None => MailTransport::Files(
            raw.text(&s::OUTBOX_DIR)
                .map_or_else(|| data_dir.join("outbox"), PathBuf::from),
        ),
    };
    let mail_from = if let Some(from) = raw.text(&s::MAIL_FROM) {
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                s::MAIL_FROM.env,
                format!("expected `Name <address>` or an address, got {from:?}"),
            ));
        }
        from.to_owned()
    } else {
        let host = url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".to_owned());
        // `localhost` and bare IPs make no valid address domain for some
        // servers; the operator sets PORTCULLIS_MAIL_FROM then.
        format!("portcullis <no-reply@{host}>")
    };
    let signup = match raw.text(&s::SIGNUP).unwrap_or("off") {
        "off" => SignupMode::Off,
        "invite" => SignupMode::Invite,
        "open" => SignupMode::Open,
        other => {
            return Err(ConfigError::new(
                s::SIGNUP.env,
                format!("expected off, invite or open, got {other:?}"),
            ));
        }
    };
    let secs = |setting| raw.number::<i64>(setting).map(Duration::seconds);
    Ok(SelfServiceConfig {
        transport,
        mail_from,
        mail_per_address_per_hour: raw.number(&s::MAIL_PER_ADDRESS_PER_HOUR)?,
        mail_retry_max: secs(&s::MAIL_RETRY_MAX_SECS)?,
        email_verify_ttl: secs(&s::EMAIL_VERIFY_TTL_SECS)?,
        password_reset_ttl: secs(&s::PASSWORD_RESET_TTL_SECS)?,
        signup,
        require_verified_email: raw.flag(&s::REQUIRE_VERIFIED_EMAIL)?,
        account_reauth: secs(&s::ACCOUNT_REAUTH_SECS)?,
    })
}

/// Checks an SMTP URL's shape: `smtp://` or `smtps://`, a host, and no
/// `tls` value but `none` (plain SMTP, for a local relay).
fn check_smtp_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw)
        .map_err(|_| "expected smtp://HOST:PORT or smtps://HOST:PORT".to_owned())?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(format!(
            "expected the scheme smtp or smtps, got {:?}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL names no host".to_owned());
    }
    for (k, v) in url.query_pairs() {
        if k != "tls" || v != "none" {
            return Err(format!("unknown parameter {k}={v} (only tls=none)"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(adjust: impl FnOnce(&mut RawSettings)) -> Result<SelfServiceConfig, ConfigError> {
        let mut raw = RawSettings::default();
        adjust(&mut raw);
        parse_self_service(&raw, "https://id.example.com", Path::new("data"))
    }

    #[test]
    fn defaults_write_files_and_keep_signup_off() {
        let c = parse(|_| {}).unwrap();
        assert_eq!(
            c.transport,
            MailTransport::Files(PathBuf::from("data/outbox"))
        );
        assert_eq!(c.mail_from, "portcullis <no-reply@id.example.com>");
        assert_eq!(c.signup, SignupMode::Off);
        assert_eq!(c.password_reset_ttl, Duration::minutes(30));
        assert!(!c.require_verified_email);
    }

    #[test]
    fn smtp_urls_are_checked() {
        for ok in [
            "smtp://mail.example.com:587",
            "smtps://u:p@mail.example.com",
            "smtp://127.0.0.1:2525?tls=none",
        ] {
            let c = parse(|r| r.smtp_url = Some(ok.into())).unwrap();
            assert_eq!(c.transport, MailTransport::Smtp(ok.into()), "{ok}");
            assert!(
                !format!("{c:?}").contains(ok),
                "the URL may hold a password"
            );
        }
        for bad in ["http://x", "smtp://", "smtp://h?tls=maybe", "nonsense"] {
            let e = parse(|r| r.smtp_url = Some(bad.into())).unwrap_err();
            assert_eq!(e.setting, "PORTCULLIS_SMTP_URL", "{bad}");
        }
    }

    #[test]
    fn signup_modes_and_a_bad_sender() {
        assert_eq!(
            parse(|r| r.signup = Some("invite".into())).unwrap().signup,
            SignupMode::Invite
        );
        assert!(parse(|r| r.signup = Some("yes".into())).is_err());
        assert!(parse(|r| r.mail_from = Some("not an address".into())).is_err());
    }
}
