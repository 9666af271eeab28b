//! Pushed Authorization Requests (RFC 9126): the endpoint (`/par`, §2) and
//! the life of what it stores. A client pushes its authorization request
//! (authenticated as at the token endpoint); it is validated as
//! `/authorize` would validate it, and stored under the SHA-256 of a
//! 256-bit `request_uri` that lives `PORTCULLIS_PAR_LIFETIME_SECS`. The
//! first `/authorize` with the `request_uri` starts it (one conditional
//! update: single use) and binds the interaction to a fresh secret that
//! only that browser's forms carry; the code (or an error for the client)
//! completes it (one conditional update: at most one code).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::authorize::{self, AuthorizePolicy, CARRIED_PARAMS, PageError};
use super::error::OAuthError;
use super::interaction::Ctx;
use super::params::RawParams;
use super::request::{Entry, NotResolved, Refusal, Resolved, Unresolved, carried_pushed};
use super::request_object;
use crate::domain::par::{PushedRequest, request_uri, request_uri_hash};
use crate::domain::{Client, ClientId, ScopeSet, TokenHash};

/// The pushed authorization response (RFC 9126 §2.2).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PushedResponse {
    /// `urn:ietf:params:oauth:request_uri:<256-bit random>`.
    pub request_uri: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// What a push did, for the events.
#[derive(Debug, Default)]
pub struct PushReport {
    /// The parameters came in a request object.
    pub signed: bool,
    /// The scopes pushed (once validated).
    pub scope: Option<ScopeSet>,
    /// Why a request object was refused.
    pub object_refused: Option<&'static str>,
}

/// The client's credentials, which are no part of the authorization
/// request (RFC 9126 §2.1: the pushed request is the body without them).
const CREDENTIALS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// `POST /par` for the authenticated `client` with the body `form`.
/// `Err`: the error for the client (JSON, never a redirect: RFC 9126 §2.3).
pub async fn push(
    ctx: &Ctx<'_>,
    client: &Client,
    form: &RawParams,
    dpop: Option<&super::dpop::Proof>,
    report: &mut PushReport,
) -> Result<PushedResponse, OAuthError> {
    // §2.1: "The request_uri authorization request parameter is one
    // exception, and it MUST NOT be provided."
    if form.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri is not allowed in a pushed authorization request (RFC 9126 section 2.1)",
        ));
    }
    if form
        .get("client_id")
        .is_some_and(|id| id != client.id.as_str())
    {
        return Err(OAuthError::invalid_request(
            "client_id must be the authenticated client",
        ));
    }
    let now = ctx.clock.now();
    let params = match form.get("request") {
        // §3: a request object's claims are the request; nothing outside
        // it counts (RFC 9101 §6.3).
        Some(token) => {
            report.signed = true;
            request_object::decode(client, token, ctx.client_jwks, &ctx.settings.issuer, now)
                .await
                .map_err(|r| {
                    report.object_refused = Some(r.reason);
                    r.error
                })?
        }
        None => form.without(CREDENTIALS),
    }
    .with("client_id", client.id.as_str());
    // RFC 9449 §10.1: a DPoP proof at /par binds the code to its key, as
    // `dpop_jkt` does; both given, they must name the same key.
    let params = match dpop {
        None => params,
        Some(p) if params.get("dpop_jkt").is_none_or(|j| j == p.jkt) => {
            params.with("dpop_jkt", &p.jkt)
        }
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "dpop_jkt does not match the key of the DPoP proof (RFC 9449 section 10.1)",
            ));
        }
    };
    let redirect = authorize::verify_client_and_redirect(&params, Some(client))
        .map_err(|e| OAuthError::invalid_request(page_description(&e)))?;
    let policy = AuthorizePolicy {
        pkce_allow_plain: ctx.settings.pkce_allow_plain,
        require_pushed: ctx.settings.require_pushed,
    };
    let (validated, _) = authorize::check_request(
        &params,
        client,
        &redirect,
        policy,
        true,
        ctx.keys,
        &ctx.settings.issuer,
    )
    .map_err(|e| e.error)?;
    report.scope = Some(validated.scope);
    // docs/SECURITY.md: a 256-bit random value, stored only as its SHA-256.
    let random = ctx.rng.token();
    let lifetime = ctx.settings.par_lifetime;
    ctx.store
        .pushed_requests()
        .insert_pushed_request(&PushedRequest {
            uri_hash: TokenHash::of(&random),
            client_id: client.id.clone(),
            params: params.encode_only(CARRIED_PARAMS),
            created_at: now,
            expires_at: now + lifetime,
            started_at: None,
            interaction_hash: None,
            interaction_expires_at: None,
            completed_at: None,
        })
        .await?;
    Ok(PushedResponse {
        request_uri: request_uri(&random),
        expires_in: lifetime.num_seconds(),
    })
}

/// The description of a client or redirect-URI refusal at `/par` (for a
/// developer, not an end user).
fn page_description(e: &PageError) -> &'static str {
    match e {
        PageError::MissingRedirect => "redirect_uri is required",
        PageError::UnregisteredRedirect => "redirect_uri is not registered for the client",
        _ => "the request does not name the client",
    }
}

/// The pushed request of `uri` for `client` (the outer `client_id`),
/// RFC 9126 §4. At `/authorize` it is started (single use) with a fresh
/// interaction secret; in a form it continues only with that secret, while
/// its interaction lasts and before it completed. Anything else is an
/// error page (the redirect URI is not trustworthy yet) that changes
/// nothing.
pub(crate) async fn resume(
    ctx: &Ctx<'_>,
    client: Client,
    uri: &str,
    secret: Option<&str>,
    entry: Entry,
) -> Result<Result<Resolved, NotResolved>, OAuthError> {
    let refuse = |why: &'static str| {
        tracing::info!(client_id = %client.id, reason = why, "request_uri refused");
        Ok(Err(NotResolved {
            outcome: Unresolved::Page(PageError::RequestUri),
            refusal: Some(Refusal::RequestUri(why)),
            client: Some(client.id.clone()),
        }))
    };
    let Some(hash) = request_uri_hash(uri) else {
        return refuse("unknown");
    };
    let now = ctx.clock.now();
    let repo = ctx.store.pushed_requests();
    let (row, secret) = match (entry, secret) {
        (Entry::Authorize, _) => {
            let secret = ctx.rng.token();
            let until = now + ctx.settings.session_idle;
            let started = repo
                .start_pushed_request(&hash, &client.id, &TokenHash::of(&secret), until, now)
                .await?;
            let row = repo.pushed_request(&hash).await?;
            match row {
                Some(row) if started => (row, secret),
                None => return refuse("unknown"),
                Some(r) if r.client_id != client.id => return refuse("other_client"),
                Some(r) if r.started_at.is_some() => return refuse("used"),
                Some(_) => return refuse("expired"),
            }
        }
        (Entry::Carried, Some(secret)) => {
            let Some(row) = repo.pushed_request(&hash).await? else {
                return refuse("unknown");
            };
            if !continues(&row, &client.id, secret, now) {
                return refuse("interaction");
            }
            (row, secret.to_owned())
        }
        (Entry::Carried, None) => return refuse("interaction"),
    };
    Ok(Ok(Resolved {
        params: RawParams::parse(row.params.as_bytes()),
        carried: carried_pushed(&client.id, uri, &secret),
        client: Some(client),
        pushed: Some(hash),
    }))
}

/// Whether a form carrying `secret` may continue the interaction of the
/// pushed request `row` for `client` at `now`: the client's, started with
/// that secret, not completed, within the interaction's time.
fn continues(row: &PushedRequest, client: &ClientId, secret: &str, now: DateTime<Utc>) -> bool {
    row.client_id == *client
        && row.started_at.is_some()
        && row.completed_at.is_none()
        && row
            .interaction_hash
            .as_ref()
            .is_some_and(|h| h.matches(secret))
        && row.interaction_expires_at.is_some_and(|t| now < t)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn an_interaction_continues_only_with_its_secret_in_its_time() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let client = ClientId::parse("c1").unwrap();
        let row = PushedRequest {
            uri_hash: TokenHash::of("r"),
            client_id: ClientId::parse("c1").unwrap(),
            params: String::new(),
            created_at: now,
            expires_at: now + Duration::seconds(60),
            started_at: Some(now),
            interaction_hash: Some(TokenHash::of("secret")),
            interaction_expires_at: Some(now + Duration::minutes(30)),
            completed_at: None,
        };
        assert!(continues(&row, &client, "secret", now));
        assert!(!continues(&row, &client, "other", now), "wrong secret");
        assert!(
            !continues(&row, &ClientId::parse("c2").unwrap(), "secret", now),
            "another client"
        );
        assert!(
            !continues(&row, &client, "secret", now + Duration::minutes(30)),
            "the interaction is over"
        );
        let done = PushedRequest {
            completed_at: Some(now),
            ..row.clone()
        };
        assert!(!continues(&done, &client, "secret", now), "completed");
        let fresh = PushedRequest {
            started_at: None,
            interaction_hash: None,
            interaction_expires_at: None,
            ..row
        };
        assert!(!continues(&fresh, &client, "secret", now), "never started");
    }
}
