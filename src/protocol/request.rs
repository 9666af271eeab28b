//! Where an authorization request's parameters come from, and what the
//! sign-in and consent forms carry of it: the query (or form body) itself,
//! a signed request object (`request`, RFC 9101), a pushed request
//! (`request_uri` from `/par`, RFC 9126 §4) or, when the operator allows
//! it, an external `request_uri` whose body is a request object (RFC 9101
//! §5.2).
//!
//! What the forms carry keeps the request's integrity: a plain request
//! carries its parameters (each step validates them again, so a tampered
//! form can do no more than a fresh request); a request object carries
//! `client_id` and the object itself (verified again at each step); a
//! pushed request carries `client_id`, `request_uri` and the interaction's
//! secret, never the pushed parameters (docs/SECURITY.md).

use super::authorize::{CARRIED_PARAMS, PageError, VerifiedRedirect, verify_client_and_redirect};
use super::error::OAuthError;
use super::interaction::Ctx;
use super::jwt::MAX_COMPACT_LEN;
use super::params::RawParams;
use super::{par, request_object};
use crate::domain::par::is_pushed;
use crate::domain::{Client, ClientId, TokenHash};

/// The carried field of a pushed request's interaction secret.
pub const INTERACTION: &str = "interaction";

/// Which step reads the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `/authorize`: a pushed request's `request_uri` is used (started)
    /// here, once.
    Authorize,
    /// A form of the interaction (`/login`, `/login/factor`,
    /// `/login/passkey`, `/consent`): a pushed request continues only with
    /// its interaction secret.
    Carried,
}

/// A request whose parameters are known.
#[derive(Debug)]
pub struct Resolved {
    /// The authorization request's parameters (to validate).
    pub params: RawParams,
    /// What the interaction's forms carry.
    pub carried: String,
    /// The client the request names, when it exists.
    pub client: Option<Client>,
    /// The pushed request's hash, for one that came through `/par`.
    pub pushed: Option<TokenHash>,
}

/// Why the parameters cannot be had: a page, or (a request object whose
/// claims were wrong but whose signature and redirect URI verified) an
/// error for the client.
#[derive(Debug)]
pub enum Unresolved {
    /// Shown to the user; nothing is redirected.
    Page(PageError),
    /// Sent to the verified redirect URI.
    Redirect(VerifiedRedirect, OAuthError),
}

/// A request that cannot go on.
#[derive(Debug)]
pub struct NotResolved {
    /// What to show or send.
    pub outcome: Unresolved,
    /// What refused it (for the events), when it was a request object or a
    /// `request_uri`.
    pub refusal: Option<Refusal>,
    /// The client the outer `client_id` names, when it exists.
    pub client: Option<ClientId>,
}

/// What refused a request, for the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A pushed request's `request_uri` (`unknown`, `expired`, `used`,
    /// `other_client`, `interaction`), or an external one not registered
    /// (`unregistered`) or that could not be fetched (`unavailable`).
    RequestUri(&'static str),
    /// A request object (`request_object::Refused::reason`).
    RequestObject(&'static str),
}

async fn find_client(ctx: &Ctx<'_>, params: &RawParams) -> Result<Option<Client>, OAuthError> {
    match params.get("client_id").and_then(ClientId::parse) {
        Some(id) if !params.is_repeated("client_id") => {
            Ok(ctx.store.clients().get_client(&id).await?)
        }
        _ => Ok(None),
    }
}

fn carry(pairs: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    ser.finish()
}

/// Reads the request `raw` (a query, a form body, or what a form carried)
/// at `entry`. `Ok(Err(..))`: the request cannot go on; `Err`: a
/// dependency failed.
pub async fn resolve(
    ctx: &Ctx<'_>,
    raw: &[u8],
    entry: Entry,
) -> Result<Result<Resolved, NotResolved>, OAuthError> {
    let outer = RawParams::parse(raw);
    let page = |e: PageError, refusal: Option<Refusal>, client: Option<&Client>| {
        Ok(Err(NotResolved {
            outcome: Unresolved::Page(e),
            refusal,
            client: client.map(|c| c.id.clone()),
        }))
    };
    let (request, uri) = (outer.get("request"), outer.get("request_uri"));
    if request.is_none() && uri.is_none() {
        let client = find_client(ctx, &outer).await?;
        return Ok(Ok(Resolved {
            carried: outer.encode_only(CARRIED_PARAMS),
            params: outer,
            client,
            pushed: None,
        }));
    }
    if (request.is_some() && uri.is_some())
        || outer.is_repeated("request")
        || outer.is_repeated("request_uri")
    {
        return page(PageError::RequestConflict, None, None);
    }
    // RFC 9101 §5 and RFC 9126 §4: `client_id` is sent outside too; it
    // names the client whose keys verify the object, or that pushed.
    if outer.is_repeated("client_id") || outer.get("client_id").and_then(ClientId::parse).is_none()
    {
        return page(PageError::MissingClient, None, None);
    }
    let Some(client) = find_client(ctx, &outer).await? else {
        return page(PageError::UnknownClient, None, None);
    };
    let token = match (request, uri) {
        (Some(token), _) => token.to_owned(),
        (None, Some(uri)) if is_pushed(uri) => {
            return par::resume(ctx, client, uri, outer.get(INTERACTION), entry).await;
        }
        (None, Some(uri)) if external_allowed(ctx, &client) => {
            // RFC 9101 §10.4.1: only a location the client registered is
            // fetched (`request_uris`), so that /authorize is no way to make
            // the server send requests where anyone likes.
            if !client.has_request_uri(uri) {
                return page(
                    PageError::RequestUriUnregistered,
                    Some(Refusal::RequestUri("unregistered")),
                    Some(&client),
                );
            }
            match fetch(ctx, uri).await {
                Some(token) => token,
                None => {
                    return page(
                        PageError::RequestUriUnavailable,
                        Some(Refusal::RequestUri("unavailable")),
                        Some(&client),
                    );
                }
            }
        }
        // Neither form, none allowed (external URIs off, or a client that
        // must push): the checks refuse it, never fetched
        // (`request_uri_not_supported`, redirected when the outer client
        // and redirect URI verify).
        _ => {
            return Ok(Ok(Resolved {
                carried: outer.encode_only(CARRIED_PARAMS),
                params: outer,
                client: Some(client),
                pushed: None,
            }));
        }
    };
    let now = ctx.clock.now();
    match request_object::decode(&client, &token, ctx.client_jwks, &ctx.settings.issuer, now).await
    {
        Ok(params) => Ok(Ok(Resolved {
            params,
            carried: carry(&[("client_id", client.id.as_str()), ("request", &token)]),
            client: Some(client),
            pushed: None,
        })),
        Err(refused) => {
            tracing::info!(
                client_id = %client.id,
                error = %refused.error,
                source = ?refused.error.source,
                "request object refused"
            );
            let why = Some(Refusal::RequestObject(refused.reason));
            let redirect = refused
                .signed
                .as_ref()
                .and_then(|p| verify_client_and_redirect(p, Some(&client)).ok());
            match redirect {
                Some(r) => Ok(Err(NotResolved {
                    outcome: Unresolved::Redirect(r, refused.error),
                    refusal: why,
                    client: Some(client.id),
                })),
                None => page(PageError::RequestObject, why, Some(&client)),
            }
        }
    }
}

/// Whether an external `request_uri` of `client` may be fetched at all:
/// the operator allows them (`PORTCULLIS_REQUEST_URI_EXTERNAL`) and the
/// client is not one that must push its requests (RFC 9126 §6: its
/// `/authorize` takes only a `request_uri` of `/par`; FAPI 2.0 clients
/// always must).
fn external_allowed(ctx: &Ctx<'_>, client: &Client) -> bool {
    ctx.settings.request_uri_external
        && !ctx.settings.require_pushed
        && !client.require_pushed_authorization_requests
}

/// The body of an external `request_uri` (RFC 9101 §5.2.3), through the
/// one outbound client (https only, no internal address, timeouts, a body
/// cap): a request object, or `None`.
async fn fetch(ctx: &Ctx<'_>, uri: &str) -> Option<String> {
    let answer = ctx
        .outbound
        .get(
            uri,
            "application/oauth-authz-req+jwt, application/jwt",
            MAX_COMPACT_LEN,
        )
        .await;
    match answer {
        Ok(r) if (200..300).contains(&r.status) => String::from_utf8(r.body)
            .ok()
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty()),
        Ok(r) => {
            tracing::info!(status = r.status, "request_uri answered with an error");
            None
        }
        Err(e) => {
            tracing::info!(error = %e, "request_uri could not be fetched");
            None
        }
    }
}

pub(crate) fn carried_pushed(client: &ClientId, uri: &str, secret: &str) -> String {
    carry(&[
        ("client_id", client.as_str()),
        ("request_uri", uri),
        (INTERACTION, secret),
    ])
}
