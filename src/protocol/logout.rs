//! OpenID Connect RP-Initiated Logout 1.0 §2–§3: which client asks, whether
//! its `post_logout_redirect_uri` is registered, and whether the request can
//! be trusted without asking the user.
//!
//! And the one way a login session ends as a logout ([`end_session`],
//! [`end_user_sessions`], [`end_other_sessions`]): the session ends, its
//! online grants are revoked, and every client that signed in to it and
//! registered a `backchannel_logout_uri` gets a logout token queued in the
//! durable outbox (OpenID Connect Back-Channel Logout 1.0 §2.5,
//! [`queue_backchannel_logout`]), all in the caller's unit of work: the
//! notification commits with the session end or not at all. The worker
//! (`app::backchannel`) builds and sends the tokens ([`logout_token_claims`]).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::params::RawParams;
use crate::domain::{Client, ClientId, TokenHash, UserId};
use crate::ports::deliveries::{BACKCHANNEL_LOGOUT, Delivery};
use crate::ports::repositories::GrantSelector;
use crate::ports::{KeyProvider, Repositories, StoreError};

/// The member of a logout token's `events` claim (Back-Channel Logout 1.0
/// §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The `typ` header of a logout token (§2.4: explicit typing, RFC 8725 §3.11).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// How long a logout token is valid (§2.4 `exp`: short; it is made afresh
/// at each attempt).
pub const LOGOUT_TOKEN_TTL: Duration = Duration::minutes(2);

/// What a queued back-channel logout notification carries (the payload of
/// its delivery); the token is built from it at each attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutNotice {
    /// `jti`: the same at every attempt (§2.4), so that a receiver can
    /// tell a retry from a new logout.
    pub jti: String,
    /// `sub`: the user, as the client knows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `sid`: the login session that ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// The claims of a logout token for `client` (Back-Channel Logout 1.0
/// §2.4): `iss`, `aud`, `iat`, `exp`, `jti`, `sub` and/or `sid`, `events`;
/// never `nonce` (§2.4: it is prohibited). `None` when the notice carries
/// neither `sub` nor `sid`, or no `sid` while the client requires one
/// (`backchannel_logout_session_required`, §2.2): nothing may be sent then.
pub fn logout_token_claims(
    issuer: &str,
    client: &Client,
    notice: &LogoutNotice,
    now: DateTime<Utc>,
) -> Option<Map<String, Value>> {
    claims_for(
        issuer,
        (&client.id, client.backchannel_logout_session_required),
        notice,
        now,
    )
}

fn claims_for(
    issuer: &str,
    (client, session_required): (&ClientId, bool),
    notice: &LogoutNotice,
    now: DateTime<Utc>,
) -> Option<Map<String, Value>> {
    if notice.sid.is_none() && (session_required || notice.sub.is_none()) {
        return None;
    }
    let mut c = Map::new();
    c.insert("iss".into(), json!(issuer));
    c.insert("aud".into(), json!(client.as_str()));
    c.insert("iat".into(), json!(now.timestamp()));
    c.insert("exp".into(), json!((now + LOGOUT_TOKEN_TTL).timestamp()));
    c.insert("jti".into(), json!(notice.jti));
    if let Some(sub) = &notice.sub {
        c.insert("sub".into(), json!(sub));
    }
    if let Some(sid) = &notice.sid {
        c.insert("sid".into(), json!(sid));
    }
    c.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
    Some(c)
}

/// Queues, in `uow`, one back-channel logout notification for every
/// client that signed in to the login session `session_id` (it holds a
/// grant made in it: live, revoked or `offline_access`, since the client's
/// own session ends all the same) and registered a `backchannel_logout_uri`
/// (Back-Channel Logout 1.0 §2.5). Call it in the unit of work that ends
/// the session. Each notification's id (its token's `jti`) is derived from
/// the session and the client, so queueing twice queues once. Returns how
/// many were queued.
pub async fn queue_backchannel_logout(
    uow: &dyn Repositories,
    session_id: &str,
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    let mut queued = 0;
    for target in uow.deliveries().logout_targets(session_id).await? {
        let id = TokenHash::of(&format!(
            "{BACKCHANNEL_LOGOUT} {session_id} {}",
            target.client_id
        ))
        .as_str()
        .to_owned();
        let notice = LogoutNotice {
            jti: id.clone(),
            sub: Some(target.subject.as_str().to_owned()),
            sid: Some(session_id.to_owned()),
        };
        let payload = serde_json::to_string(&notice)
            .map_err(|e| StoreError::Internal(format!("logout notice: {e}")))?;
        let delivery = Delivery::new(
            id,
            BACKCHANNEL_LOGOUT,
            Some(target.client_id),
            target.uri,
            payload,
            now,
        );
        if uow.deliveries().enqueue_delivery(&delivery).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Ends the login session `id` as a logout does, in `uow`: the session
/// ends, its online grants are revoked (not the `offline_access` ones:
/// OpenID Connect Core §11) and its clients' back-channel logout
/// notifications are queued ([`queue_backchannel_logout`]). `false` if it
/// had ended already (nothing else happens then: whoever ended it did).
/// The one way a session ends as a logout: RP-initiated logout, the
/// account page, the CLI and the admin API.
pub async fn end_session(
    uow: &dyn Repositories,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if !uow.sessions().end_session(id, now).await? {
        return Ok(false);
    }
    uow.grants()
        .revoke_grants(GrantSelector::SessionOnline(id), now)
        .await?;
    queue_backchannel_logout(uow, id, now).await?;
    Ok(true)
}

/// Sessions read per round by [`end_user_sessions`].
const SESSION_BATCH: u64 = 100;

/// Ends every session of `user` that has not ended or expired, each as
/// [`end_session`] does, then any left (a pending sign-in), in `uow`.
/// Returns the ids of the sessions ended one by one.
pub async fn end_user_sessions(
    uow: &dyn Repositories,
    user: &UserId,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    end_sessions_but(uow, user, None, now).await
}

/// Ends every session of `user` but `keep` (the account page's "sign out
/// everywhere else"), each as [`end_session`] does, in `uow`. Returns how
/// many ended.
pub async fn end_other_sessions(
    uow: &dyn Repositories,
    user: &UserId,
    keep: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let ended = end_sessions_but(uow, user, Some(keep), now).await?;
    Ok(u64::try_from(ended.len()).unwrap_or(u64::MAX))
}

async fn end_sessions_but(
    uow: &dyn Repositories,
    user: &UserId,
    keep: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let mut ended = Vec::new();
    let mut after: Option<String> = None;
    loop {
        // Idle ones too (seen since 1970: every one): the clients'
        // sessions may still be open.
        let batch = uow
            .sessions()
            .list_live_sessions(
                user,
                now,
                DateTime::<Utc>::UNIX_EPOCH,
                after.as_deref(),
                SESSION_BATCH,
            )
            .await?;
        for s in &batch {
            if Some(s.id.as_str()) != keep && end_session(uow, &s.id, now).await? {
                ended.push(s.id.clone());
            }
        }
        match batch.last() {
            Some(last) if batch.len() as u64 == SESSION_BATCH => after = Some(last.id.clone()),
            _ => break,
        }
    }
    // What is left has no client to notify: sessions that expired.
    match keep {
        None => uow.sessions().end_user_sessions(user, now).await?,
        Some(k) => uow.sessions().end_other_sessions(user, k, now).await?,
    };
    Ok(ended)
}

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
    fn a_logout_token_has_the_claims_of_section_2_4_and_no_nonce() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let rp = ClientId::parse("rp").unwrap();
        let notice = |sub: Option<&str>, sid: Option<&str>| LogoutNotice {
            jti: "j1".into(),
            sub: sub.map(str::to_owned),
            sid: sid.map(str::to_owned),
        };
        let c = claims_for(
            "https://id.example",
            (&rp, true),
            &notice(Some("u"), Some("s")),
            now,
        )
        .unwrap();
        assert_eq!(
            Value::Object(c),
            json!({
                "iss": "https://id.example", "aud": "rp", "iat": 1_700_000_000,
                "exp": 1_700_000_120, "jti": "j1", "sub": "u", "sid": "s",
                "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
            })
        );
        // §2.4: sub or sid; §2.2: sid when the client requires it.
        let sub_only = notice(Some("u"), None);
        assert!(claims_for("i", (&rp, false), &sub_only, now).is_some());
        assert!(claims_for("i", (&rp, true), &sub_only, now).is_none());
        assert!(claims_for("i", (&rp, false), &notice(None, None), now).is_none());
        let sid_only = claims_for("i", (&rp, true), &notice(None, Some("s")), now).unwrap();
        assert!(!sid_only.contains_key("sub"));
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
