//! The SMTP transport (`PORTCULLIS_SMTP_URL`), through `lettre`:
//!
//! - `smtp://host[:port]`: STARTTLS, required (default port 587);
//! - `smtps://host[:port]`: TLS from the first byte (default port 465);
//! - `...?tls=none`: plain SMTP, for a relay on loopback (default port 25);
//! - `user:password@` in the URL: SMTP authentication (percent-decoded).
//!
//! A reply of the 5xx class refusing the mail itself is
//! [`MailError::Permanent`]; everything else (no connection, a timeout, a
//! 4xx reply, a TLS failure, refused credentials, which the operator can
//! fix) is [`MailError::Transient`]. Neither the body nor the password is
//! ever logged or put in an error.

use std::time::Duration;

use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};

use super::{Sender, message};
use crate::domain::OutboxMail;
use crate::ports::{MailError, Mailer};

/// How long one SMTP command may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// STARTTLS, required (`smtp://`).
    StartTls,
    /// Implicit TLS (`smtps://`).
    Implicit,
    /// None (`?tls=none`).
    Plain,
}

/// What an SMTP URL asks for.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    /// Server host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Protection.
    pub security: Security,
    /// User name and password, when the URL has them.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

impl SmtpTarget {
    /// Reads an SMTP URL (its shape was checked with the configuration).
    /// The error never repeats the URL: it may hold a password.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|_| "not a URL".to_owned())?;
        let plain = url.query_pairs().any(|(k, v)| k == "tls" && v == "none");
        let security = match (url.scheme(), plain) {
            (_, true) => Security::Plain,
            ("smtp", false) => Security::StartTls,
            ("smtps", false) => Security::Implicit,
            (other, _) => return Err(format!("unknown scheme {other:?}")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| "the URL names no host".to_owned())?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port().unwrap_or(match security {
            Security::StartTls => 587,
            Security::Implicit => 465,
            Security::Plain => 25,
        });
        let credentials = (!url.username().is_empty()).then(|| {
            (
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or_default()),
            )
        });
        Ok(Self {
            host,
            port,
            security,
            credentials,
        })
    }

    /// Builds the `lettre` transport.
    pub fn transport(
        &self,
        timeout: Duration,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        type T = AsyncSmtpTransport<Tokio1Executor>;
        let builder = match self.security {
            Security::StartTls => T::starttls_relay(&self.host),
            Security::Implicit => T::relay(&self.host),
            Security::Plain => Ok(T::builder_dangerous(self.host.as_str())),
        }
        .map_err(|e| format!("SMTP transport: {e}"))?;
        let mut builder = builder.port(self.port).timeout(Some(timeout));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }
}

/// Decodes `%XX` escapes (userinfo of a URL); invalid escapes stay as they
/// are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| char::from(*b).to_digit(16));
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SMTP replies about the client's credentials (530, 534, 535, 538): the
/// operator fixes them, then the mail goes; never a reason to give up on a
/// mail.
const CREDENTIAL_CODES: [&str; 4] = ["530", "534", "535", "538"];

/// Maps a `lettre` error: a permanent (5xx) reply about the mail is
/// [`MailError::Permanent`], the rest [`MailError::Transient`].
pub fn classify(e: &lettre::transport::smtp::Error) -> MailError {
    let code = e.status().map(|c| c.to_string());
    let text = e.to_string();
    if e.is_permanent()
        && !code
            .as_deref()
            .is_some_and(|c| CREDENTIAL_CODES.contains(&c))
    {
        MailError::Permanent(text)
    } else {
        MailError::Transient(text)
    }
}

/// Sends mail to an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sender: Sender,
}

impl SmtpMailer {
    /// A transport for `url` (`PORTCULLIS_SMTP_URL`) sending as `sender`.
    /// Connects on the first mail.
    pub fn new(url: &str, sender: Sender) -> Result<Self, String> {
        let transport = SmtpTarget::parse(url)?.transport(TIMEOUT)?;
        Ok(Self { transport, sender })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutboxMail) -> Result<(), MailError> {
        let msg = message(&self.sender, mail)?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    fn name(&self) -> &'static str {
        "smtp"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_to_a_transport() {
        let t = |u: &str| SmtpTarget::parse(u).unwrap();
        assert_eq!(
            t("smtp://mail.example.com"),
            SmtpTarget {
                host: "mail.example.com".into(),
                port: 587,
                security: Security::StartTls,
                credentials: None,
            }
        );
        let s = t("smtps://us%40er:p%3Ass%20w@mail.example.com");
        assert_eq!((s.security, s.port), (Security::Implicit, 465));
        assert_eq!(
            s.credentials,
            Some(("us@er".to_owned(), "p:ss w".to_owned()))
        );
        assert!(
            !format!("{s:?}").contains("p:ss"),
            "Debug hides the password"
        );
        let p = t("smtp://127.0.0.1:2525?tls=none");
        assert_eq!(
            (p.host.as_str(), p.port, p.security),
            ("127.0.0.1", 2525, Security::Plain)
        );
        assert_eq!(t("smtps://[::1]:1465").host, "::1");
        assert_eq!(t("smtp://h:2587").port, 2587);
        for bad in ["http://h", "smtp://", "nonsense"] {
            assert!(SmtpTarget::parse(bad).is_err(), "{bad}");
        }
        // Each shape builds a transport.
        for u in [
            "smtp://h",
            "smtps://u:p@h",
            "smtp://127.0.0.1:2525?tls=none",
        ] {
            t(u).transport(TIMEOUT).unwrap();
        }
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("a%41%zz%4"), "aA%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }
}
