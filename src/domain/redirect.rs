//! Registered redirect URIs (RFC 6749 §3.1.2, RFC 8252 §7, OAuth 2.0 Security
//! BCP §4.1).

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// Not an absolute URI (RFC 6749 §3.1.2).
    #[error("redirect URI {0:?} is not an absolute URI")]
    NotAbsolute(String),
    /// Has a fragment (RFC 6749 §3.1.2: "MUST NOT include a fragment").
    #[error("redirect URI {0:?} has a fragment, which RFC 6749 §3.1.2 forbids")]
    Fragment(String),
    /// Plain http to a host that is not loopback.
    #[error("redirect URI {0:?} uses http for a non-loopback host; use https (or --allow-http)")]
    InsecureHttp(String),
    /// A custom scheme that is not a reverse-domain name (RFC 8252 §7.1).
    #[error(
        "redirect URI {0:?} uses a custom scheme that is not reverse-domain (RFC 8252 §7.1), or a scheme that cannot carry a response"
    )]
    BadScheme(String),
    /// Longer than we store.
    #[error("redirect URI is longer than 2000 characters")]
    TooLong,
}

/// A redirect URI as registered. It is compared to the one in a request by
/// exact string match (docs/SECURITY.md invariant 1), so the original text is kept
/// verbatim, never a normalized form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Validates a URI for registration. `allow_http` permits plain http to
    /// non-loopback hosts (development set-ups only).
    pub fn parse(raw: &str, allow_http: bool) -> Result<Self, RedirectUriError> {
        if raw.len() > 2000 {
            return Err(RedirectUriError::TooLong);
        }
        let url = Url::parse(raw).map_err(|_| RedirectUriError::NotAbsolute(raw.to_owned()))?;
        if raw.contains('#') || url.fragment().is_some() {
            return Err(RedirectUriError::Fragment(raw.to_owned()));
        }
        match url.scheme() {
            "https" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(RedirectUriError::NotAbsolute(raw.to_owned()));
                }
            }
            "http" => {
                let loopback = matches!(
                    url.host(),
                    Some(url::Host::Ipv4(ip)) if ip.is_loopback()
                ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                    || url.host_str() == Some("localhost");
                if !loopback && !allow_http {
                    return Err(RedirectUriError::InsecureHttp(raw.to_owned()));
                }
            }
            "javascript" | "data" | "file" | "vbscript" | "about" | "blob" => {
                return Err(RedirectUriError::BadScheme(raw.to_owned()));
            }
            scheme => {
                // RFC 8252 §7.1: private-use schemes are reverse domain names.
                if !scheme.contains('.') {
                    return Err(RedirectUriError::BadScheme(raw.to_owned()));
                }
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// Wraps a value read back from storage (validated when registered).
    pub fn from_stored(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_loopback_http_and_reverse_domain_schemes() {
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1:8000/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(RedirectUri::parse(ok, false).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_relative_fragment_plain_http_and_dangerous_schemes() {
        assert!(matches!(
            RedirectUri::parse("/cb", false),
            Err(RedirectUriError::NotAbsolute(_))
        ));
        assert!(matches!(
            RedirectUri::parse("https://a.example/cb#frag", false),
            Err(RedirectUriError::Fragment(_))
        ));
        assert!(matches!(
            RedirectUri::parse("http://a.example/cb", false),
            Err(RedirectUriError::InsecureHttp(_))
        ));
        assert!(RedirectUri::parse("http://a.example/cb", true).is_ok());
        assert!(matches!(
            RedirectUri::parse("javascript:alert(1)", false),
            Err(RedirectUriError::BadScheme(_))
        ));
        assert!(matches!(
            RedirectUri::parse("myapp:/cb", false),
            Err(RedirectUriError::BadScheme(_))
        ));
    }

    #[test]
    fn keeps_the_registered_text_verbatim() {
        let r = RedirectUri::parse("https://App.Example.com:443/cb", false).unwrap();
        assert_eq!(r.as_str(), "https://App.Example.com:443/cb");
    }
}
