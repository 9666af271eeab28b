//! The session cookie and CSRF tokens (docs/SECURITY.md invariants 7 and 8).
//!
//! The cookie carries a random 256-bit value (the session id; the server
//! stores its SHA-256) and an HMAC-SHA-256 tag of it under the server's
//! [`SessionKey`]: `<value>.<tag>`. A cookie whose tag does not verify was
//! not issued by this server: it is ignored and replaced, never adopted (a
//! cookie planted by another site, or by a sibling domain, cannot fix the
//! session a victim signs in to). Before sign-in the cookie holds a random
//! value with no session behind it, so that the login form's CSRF token is
//! bound to the browser without writing anything for anonymous visitors.
//!
//! The CSRF token is another HMAC of the same value under the same key, with
//! its own label: nobody without the key can compute the token of a cookie
//! value (OWASP CSRF Prevention Cheat Sheet, "Signed Double-Submit Cookie").

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit as _, Mac as _};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::config::Config;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The server key of session cookies and CSRF tokens: 32 random bytes kept
/// in `<data_dir>/session.key` (created 0600 on first start, like the master
/// key; `adapters::keys::local::open_secret`). Instances that serve the same
/// browsers share it.
pub struct SessionKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// Wraps key material (at least 32 bytes).
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Option<Self> {
        (bytes.len() >= 32).then_some(Self(bytes))
    }

    /// A 32-byte key for another use, derived from this one: HMAC-SHA-256
    /// of `label` (the DPoP nonce key, `factory::token_settings`). Instances
    /// that share the session key derive the same keys.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.0) else {
            return [0; 32];
        };
        mac.update(b"derive\0");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// HMAC-SHA-256 of `label`, a NUL and `value`, base64url without padding.
    fn tag(&self, label: &str, value: &str) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(label.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// The cookie name: `__Host-` prefixed when the issuer is https.
pub fn cookie_name(config: &Config) -> &'static str {
    if config.issuer_is_https() {
        "__Host-portcullis-session"
    } else {
        "portcullis-session"
    }
}

/// The session value of the request's cookie, if it has one that this
/// server issued (its tag verifies under `key`). A cookie the server did not
/// issue is treated as absent, so the response replaces it.
pub fn read_cookie(headers: &HeaderMap, config: &Config, key: &SessionKey) -> Option<String> {
    let name = cookie_name(config);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, v)| *k == name && !v.is_empty() && v.len() <= 128)
        .find_map(|(_, v)| {
            let (value, tag) = v.split_once('.')?;
            let issued: bool = key
                .tag(COOKIE_LABEL, value)
                .as_bytes()
                .ct_eq(tag.as_bytes())
                .into();
            (issued && !value.is_empty()).then(|| value.to_owned())
        })
}

const COOKIE_LABEL: &str = "portcullis-session-cookie";
const CSRF_LABEL: &str = "portcullis-csrf";

/// A `Set-Cookie` value for the session cookie holding `value` and its tag
/// (HttpOnly, SameSite=Lax, Path=/, Secure with https).
pub fn set_cookie(config: &Config, key: &SessionKey, value: &str) -> Option<HeaderValue> {
    let secure = if config.issuer_is_https() {
        "; Secure"
    } else {
        ""
    };
    let tag = key.tag(COOKIE_LABEL, value);
    HeaderValue::from_str(&format!(
        "{}={value}.{tag}; Path=/; HttpOnly; SameSite=Lax{secure}",
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

/// The CSRF token bound to a session value: its HMAC under the server key.
pub fn csrf_token(key: &SessionKey, cookie_value: &str) -> String {
    key.tag(CSRF_LABEL, cookie_value)
}

/// Whether `token` is the CSRF token of `cookie_value` (constant time).
pub fn csrf_ok(key: &SessionKey, cookie_value: Option<&str>, token: Option<&str>) -> bool {
    match (cookie_value, token) {
        (Some(c), Some(t)) => csrf_token(key, c).as_bytes().ct_eq(t.as_bytes()).into(),
        _ => false,
    }
}

/// The cookie value a page's CSRF token is bound to: the browser's own (a
/// cookie this server issued, from [`read_cookie`]) or, for a browser
/// without one, a fresh random value; `true` when fresh (the response must
/// set it with [`set_cookie`]). Every hosted form gets its cookie here.
pub fn cookie_or_fresh(cookie: Option<String>, rng: &dyn crate::ports::Rng) -> (String, bool) {
    match cookie {
        Some(c) => (c, false),
        None => (rng.token(), true),
    }
}

/// The CSRF gate of every hosted form (docs/SECURITY.md invariant 8):
/// `Ok` when the form's token is the one of the browser's cookie
/// ([`csrf_ok`]); otherwise the one 403 page, whose last sentence
/// (`start_over`) says where to begin again. A handler calls it before it
/// changes anything.
pub fn require_csrf(
    key: &SessionKey,
    cookie_value: Option<&str>,
    token: Option<&str>,
    start_over: &str,
) -> Result<(), crate::error::AppError> {
    if csrf_ok(key, cookie_value, token) {
        return Ok(());
    }
    Err(crate::error::AppError::page(
        axum::http::StatusCode::FORBIDDEN,
        "Your session has expired",
        format!("For your security, this form can no longer be used. {start_over}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SessionKey {
        SessionKey::new(Zeroizing::new(vec![byte; 32])).unwrap()
    }

    #[test]
    fn csrf_is_bound_to_the_cookie_and_the_key() {
        let k = key(1);
        let t = csrf_token(&k, "cookie-a");
        assert!(csrf_ok(&k, Some("cookie-a"), Some(&t)));
        assert!(!csrf_ok(&k, Some("cookie-b"), Some(&t)));
        assert!(!csrf_ok(&k, None, Some(&t)));
        assert!(!csrf_ok(&k, Some("cookie-a"), None));
        assert!(!csrf_ok(&key(2), Some("cookie-a"), Some(&t)), "another key");
        // Not the unkeyed hash of earlier releases.
        let unkeyed = URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(
            b"portcullis-csrf|cookie-a",
        ));
        assert!(!csrf_ok(&k, Some("cookie-a"), Some(&unkeyed)));
        assert!(
            SessionKey::new(Zeroizing::new(vec![0; 16])).is_none(),
            "too short"
        );
    }

    fn cookie_header(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn reads_only_a_cookie_the_server_issued() {
        let config = Config::from_raw(crate::config::RawSettings::default()).unwrap();
        let k = key(1);
        let set = set_cookie(&config, &k, "xyz").unwrap();
        let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
        let h = cookie_header(&format!("a=1; {pair}; b=2"));
        assert_eq!(read_cookie(&h, &config, &k).as_deref(), Some("xyz"));
        assert_eq!(read_cookie(&h, &config, &key(2)), None, "another key");
        for planted in [
            "portcullis-session=xyz",
            "portcullis-session=xyz.",
            "portcullis-session=.abc",
            "portcullis-session=abc.xyz",
        ] {
            assert_eq!(
                read_cookie(&cookie_header(planted), &config, &k),
                None,
                "{planted}"
            );
        }
        // A planted cookie beside the issued one does not hide it.
        let h = cookie_header(&format!("portcullis-session=evil; {pair}"));
        assert_eq!(read_cookie(&h, &config, &k).as_deref(), Some("xyz"));
    }
}
