//! The session cookie and CSRF tokens (docs/SECURITY.md invariants 7 and 8).
//!
//! The cookie carries only a random 256-bit value; the server stores its
//! SHA-256. Before sign-in the cookie holds a random value with no session
//! behind it, so that the login form's CSRF token is bound to the browser
//! without writing anything for anonymous visitors.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Config;

/// The cookie name: `__Host-` prefixed when the issuer is https.
pub fn cookie_name(config: &Config) -> &'static str {
    if config.issuer_is_https() {
        "__Host-portcullis-session"
    } else {
        "portcullis-session"
    }
}

/// The session cookie's value, if the request has one.
pub fn read_cookie(headers: &HeaderMap, config: &Config) -> Option<String> {
    let name = cookie_name(config);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty() && v.len() <= 128)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value for the session cookie (HttpOnly, SameSite=Lax,
/// Path=/, Secure with https).
pub fn set_cookie(config: &Config, value: &str) -> Option<HeaderValue> {
    let secure = if config.issuer_is_https() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}",
        cookie_name(config)
    ))
    .ok()
}

/// A `Set-Cookie` value that deletes the session cookie.
pub fn clear_cookie(config: &Config) -> Option<HeaderValue> {
    let secure = if config.issuer_is_https() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        cookie_name(config)
    ))
    .ok()
}

/// The CSRF token bound to a cookie value.
pub fn csrf_token(cookie_value: &str) -> String {
    let digest = Sha256::digest(format!("portcullis-csrf|{cookie_value}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// Whether `token` is the CSRF token of `cookie_value` (constant time).
pub fn csrf_ok(cookie_value: Option<&str>, token: Option<&str>) -> bool {
    match (cookie_value, token) {
        (Some(c), Some(t)) => csrf_token(c).as_bytes().ct_eq(t.as_bytes()).into(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_is_bound_to_the_cookie() {
        let t = csrf_token("cookie-a");
        assert!(csrf_ok(Some("cookie-a"), Some(&t)));
        assert!(!csrf_ok(Some("cookie-b"), Some(&t)));
        assert!(!csrf_ok(None, Some(&t)));
        assert!(!csrf_ok(Some("cookie-a"), None));
    }

    #[test]
    fn reads_the_cookie_among_others() {
        let config = Config::from_raw(crate::config::RawSettings::default()).unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; portcullis-session=xyz; b=2"),
        );
        assert_eq!(read_cookie(&h, &config).as_deref(), Some("xyz"));
    }
}
