//! OpenID Connect RP-Initiated Logout 1.0 §2–§3: which client asks, whether
//! its `post_logout_redirect_uri` is registered, and whether the request can
//! be trusted without asking the user.

use serde_json::Value;

use super::params::RawParams;
use crate::domain::{Client, ClientId};
use crate::ports::KeyProvider;

/// Why a logout request is refused (shown as a page, never redirected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutError {
    /// A repeated parameter (RFC 6749 §3.1 applies by analogy).
    #[error("The sign-out request repeats a parameter.")]
    Repeated,
    /// `id_token_hint` is not an ID token we issued.
    #[error("The sign-out request carries an ID token this server did not issue.")]
    BadHint,
    /// `client_id` and the hint's audience differ.
    #[error("The sign-out request names two different applications.")]
    ClientMismatch,
    /// `post_logout_redirect_uri` without a known client, or unregistered.
    #[error("The address to return to after signing out is not registered for this application.")]
    UnregisteredRedirect,
}

/// The hint's claims that matter.
#[derive(Debug, Clone, Default)]
pub struct Hint {
    /// `sub`.
    pub subject: Option<String>,
    /// `sid`.
    pub session_id: Option<String>,
    /// `aud` (the client).
    pub client_id: Option<String>,
}

/// Verifies `id_token_hint`: our signature and issuer. An expired ID token
/// is still a valid hint (§2: "the OP SHOULD accept ID Tokens ... even when
/// expired").
pub fn verify_hint(keys: &dyn KeyProvider, issuer: &str, token: &str) -> Result<Hint, LogoutError> {
    let claims = keys.verify_jwt(token).map_err(|_| LogoutError::BadHint)?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(LogoutError::BadHint);
    }
    // An access token is not an ID token.
    if claims.contains_key("scope") && claims.contains_key("client_id") {
        return Err(LogoutError::BadHint);
    }
    let aud = match claims.get("aud") {
        Some(Value::String(a)) => Some(a.clone()),
        Some(Value::Array(list)) => list.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let s = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Hint {
        subject: s("sub"),
        session_id: s("sid"),
        client_id: aud,
    })
}

/// The client the request is about: `client_id` or the hint's audience.
pub fn client_id(params: &RawParams, hint: Option<&Hint>) -> Result<Option<ClientId>, LogoutError> {
    let from_param = params.get("client_id").map(str::to_owned);
    let from_hint = hint.and_then(|h| h.client_id.clone());
    let id = match (from_param, from_hint) {
        (Some(a), Some(b)) if a != b => return Err(LogoutError::ClientMismatch),
        (a, b) => a.or(b),
    };
    Ok(id.as_deref().and_then(ClientId::parse))
}

/// Checks `post_logout_redirect_uri` by exact match against the client's
/// registered ones (§3).
pub fn check_redirect(
    params: &RawParams,
    client: Option<&Client>,
) -> Result<Option<String>, LogoutError> {
    let Some(uri) = params.get("post_logout_redirect_uri") else {
        return Ok(None);
    };
    let client = client.ok_or(LogoutError::UnregisteredRedirect)?;
    if client
        .post_logout_redirect_uris
        .iter()
        .any(|u| u.as_str() == uri)
    {
        Ok(Some(uri.to_owned()))
    } else {
        Err(LogoutError::UnregisteredRedirect)
    }
}

/// The redirect after logout, with `state` (§3).
pub fn redirect_url(uri: &str, state: Option<&str>) -> String {
    match state {
        None => uri.to_owned(),
        Some(s) => {
            let enc: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("state", s)
                .finish();
            let sep = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{sep}{enc}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_and_hint_must_agree() {
        let hint = Hint {
            client_id: Some("a".into()),
            ..Hint::default()
        };
        let p = RawParams::parse(b"client_id=b");
        assert_eq!(client_id(&p, Some(&hint)), Err(LogoutError::ClientMismatch));
        let p = RawParams::parse(b"");
        assert_eq!(client_id(&p, Some(&hint)).unwrap().unwrap().as_str(), "a");
    }

    #[test]
    fn state_is_appended_to_the_redirect() {
        assert_eq!(
            redirect_url("https://rp.example/bye?x=1", Some("s t")),
            "https://rp.example/bye?x=1&state=s+t"
        );
        assert_eq!(
            redirect_url("https://rp.example/bye", None),
            "https://rp.example/bye"
        );
    }
}
