//! Client authentication at the token, revocation and introspection
//! endpoints (RFC 6749 §2.3, OpenID Connect Core §9, RFC 7523 §2.2/§3).

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Utc};

use crate::domain::{Client, ClientId, RevokedAccessToken, TokenEndpointAuthMethod};
use crate::ports::Store;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::params::RawParams;

/// The client assertion type of RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Credentials as presented, before checking.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
    /// `client_id` + `client_secret` in the body.
    Post {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
    /// `client_assertion` (RFC 7523).
    Jwt {
        /// The assertion.
        assertion: String,
        /// `client_id`, if also sent.
        id: Option<String>,
    },
    /// Only `client_id`: a public client.
    Public {
        /// Client id.
        id: String,
    },
}

impl Presented {
    /// Whether HTTP Basic was used (for the 401 challenge).
    pub fn is_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// Parses `Authorization: Basic …` (RFC 6749 §2.3.1: the client id and the
/// secret are form-urlencoded, joined by a colon, then base64-encoded).
pub fn parse_basic(authorization: &str) -> Option<(String, String)> {
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let decode = |s: &str| -> Option<String> {
        let plus_as_space = s.replace('+', " ");
        percent_decode(&plus_as_space)
    };
    let id = decode(id)?;
    if id.is_empty() {
        return None;
    }
    Some((id, decode(secret)?))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads the credentials from the `Authorization` header and the form. More
/// than one method is an `invalid_request` (RFC 6749 §2.3: "MUST NOT use
/// more than one authentication method in each request").
pub fn presented(authorization: Option<&str>, form: &RawParams) -> Result<Presented, OAuthError> {
    let basic = match authorization {
        Some(h) if h.trim_start().to_ascii_lowercase().starts_with("basic ") => {
            Some(parse_basic(h).ok_or_else(|| {
                OAuthError::new(ErrorCode::InvalidClient, "malformed HTTP Basic credentials")
            })?)
        }
        _ => None,
    };
    let id = form.get("client_id").map(str::to_owned);
    let secret = form.get("client_secret").map(str::to_owned);
    let assertion = form.get("client_assertion").map(str::to_owned);
    let methods = usize::from(basic.is_some())
        + usize::from(secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if let Some((bid, bsecret)) = basic {
        if id.as_ref().is_some_and(|i| *i != bid) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the Basic credentials",
            ));
        }
        return Ok(Presented::Basic {
            id: bid,
            secret: bsecret,
        });
    }
    if let Some(assertion) = assertion {
        if form.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        return Ok(Presented::Jwt { assertion, id });
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Presented::Post { id, secret }),
        (Some(id), None) => Ok(Presented::Public { id }),
        (None, _) => Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "client authentication is required",
        )),
    }
}

/// Fetches a client's JWK Set from its `jwks_uri` (an adapter: HTTP with a
/// cache).
#[async_trait]
pub trait ClientJwksFetcher: Send + Sync {
    /// The JWK Set document at `uri`; `refresh` bypasses any cache (after a
    /// `kid` was not found).
    async fn fetch(&self, uri: &str, refresh: bool) -> Result<String, String>;
}

fn invalid_client(detail: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, detail)
}

/// Authenticates the client. `audiences` are the values a client assertion
/// may carry in `aud` (the token endpoint URL and the issuer).
pub async fn authenticate(
    presented: &Presented,
    store: &dyn Store,
    fetcher: &dyn ClientJwksFetcher,
    audiences: &[&str],
    now: DateTime<Utc>,
) -> Result<Client, OAuthError> {
    let method = match presented {
        Presented::Basic { .. } => TokenEndpointAuthMethod::ClientSecretBasic,
        Presented::Post { .. } => TokenEndpointAuthMethod::ClientSecretPost,
        Presented::Public { .. } => TokenEndpointAuthMethod::None,
        Presented::Jwt { .. } => TokenEndpointAuthMethod::PrivateKeyJwt,
    };
    let id = match presented {
        Presented::Basic { id, .. } | Presented::Post { id, .. } | Presented::Public { id } => {
            Some(id.clone())
        }
        Presented::Jwt { id, assertion } => id
            .clone()
            .or_else(|| crate::protocol::jwt_peek::issuer(assertion)),
    };
    let client_id = id
        .as_deref()
        .and_then(ClientId::parse)
        .ok_or_else(|| invalid_client("unknown client"))?;
    let client = store
        .get_client(&client_id)
        .await?
        .ok_or_else(|| invalid_client("unknown client"))?;
    // OIDC Core §9: the client uses the method it registered, no other.
    if client.auth_method != method {
        return Err(invalid_client(
            "the client is not registered for this authentication method",
        ));
    }
    match presented {
        Presented::Basic { secret, .. } | Presented::Post { secret, .. } => {
            let ok = client
                .secret_hash
                .as_ref()
                .is_some_and(|h| h.matches(secret));
            if !ok {
                return Err(invalid_client("client authentication failed"));
            }
        }
        Presented::Public { .. } => {}
        Presented::Jwt { assertion, .. } => {
            verify_assertion(&client, assertion, store, fetcher, audiences, now).await?;
        }
    }
    Ok(client)
}

/// RFC 7523 §3 and OIDC Core §9: `iss` = `sub` = client id, `aud` names us,
/// `exp` in the future, `jti` used once, signed by a key of the client.
async fn verify_assertion(
    client: &Client,
    assertion: &str,
    store: &dyn Store,
    fetcher: &dyn ClientJwksFetcher,
    audiences: &[&str],
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let header = crate::protocol::jwt_peek::header(assertion)
        .ok_or_else(|| invalid_client("malformed client assertion"))?;
    let alg = header
        .get("alg")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let kid = header
        .get("kid")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    if !matches!(alg.as_str(), "RS256" | "ES256" | "PS256") {
        return Err(invalid_client(
            "client assertion algorithm must be RS256, ES256 or PS256",
        ));
    }
    let claims =
        match verify_with_client_keys(client, assertion, &alg, kid.as_deref(), fetcher, false)
            .await?
        {
            Some(c) => c,
            None if client.jwks_uri.is_some() => {
                // The client may have rotated its keys: fetch once more.
                verify_with_client_keys(client, assertion, &alg, kid.as_deref(), fetcher, true)
                    .await?
                    .ok_or_else(|| invalid_client("client assertion signature does not verify"))?
            }
            None => return Err(invalid_client("client assertion signature does not verify")),
        };
    let s = |k: &str| claims.get(k).and_then(|v| v.as_str());
    if s("iss") != Some(client.id.as_str()) || s("sub") != Some(client.id.as_str()) {
        return Err(invalid_client(
            "client assertion iss and sub must be the client id",
        ));
    }
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => audiences.contains(&a.as_str()),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str())
            .any(|a| audiences.contains(&a)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid_client(
            "client assertion aud must be the token endpoint",
        ));
    }
    let exp = claims
        .get("exp")
        .and_then(crate::protocol::jwt_peek::numeric_date)
        .ok_or_else(|| invalid_client("client assertion has no exp"))?;
    let exp = DateTime::from_timestamp(exp, 0)
        .ok_or_else(|| invalid_client("client assertion exp is invalid"))?;
    if exp <= now - chrono::Duration::seconds(30) {
        return Err(invalid_client("client assertion has expired"));
    }
    if exp > now + chrono::Duration::hours(1) {
        return Err(invalid_client(
            "client assertion lives too long (more than an hour)",
        ));
    }
    let jti = s("jti").ok_or_else(|| invalid_client("client assertion has no jti"))?;
    // One use per jti (RFC 7523 §3 item 7): remembered until it expires, in
    // the revoked-token table under a prefix of its own.
    let key = format!(
        "assertion:{}:{}",
        client.id,
        jti.chars().take(200).collect::<String>()
    );
    if store.is_token_revoked(&key).await? {
        return Err(invalid_client("client assertion was already used"));
    }
    store
        .insert_revoked_token(&RevokedAccessToken {
            jti: key,
            client_id: client.id.clone(),
            revoked_at: now,
            expires_at: exp,
        })
        .await?;
    Ok(())
}

async fn verify_with_client_keys(
    client: &Client,
    assertion: &str,
    alg: &str,
    kid: Option<&str>,
    fetcher: &dyn ClientJwksFetcher,
    refresh: bool,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, OAuthError> {
    let doc = match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => jwks.clone(),
        (None, Some(uri)) => fetcher.fetch(uri, refresh).await.map_err(|e| {
            OAuthError::new(
                ErrorCode::InvalidClient,
                "the client's jwks_uri could not be fetched",
            )
            .with_source(e)
        })?,
        (None, None) => return Err(invalid_client("the client has no registered keys")),
    };
    let set = josekit::jwk::JwkSet::from_bytes(doc.as_bytes()).map_err(|e| {
        OAuthError::new(ErrorCode::InvalidClient, "the client's JWK Set is invalid").with_source(e)
    })?;
    let candidates: Vec<&josekit::jwk::Jwk> = match kid {
        Some(k) => set.get(k),
        None => set.keys(),
    };
    for jwk in candidates {
        let verified = match alg {
            "RS256" => josekit::jws::RS256
                .verifier_from_jwk(jwk)
                .ok()
                .map(|v| josekit::jwt::decode_with_verifier(assertion, &v)),
            "PS256" => josekit::jws::PS256
                .verifier_from_jwk(jwk)
                .ok()
                .map(|v| josekit::jwt::decode_with_verifier(assertion, &v)),
            "ES256" => josekit::jws::ES256
                .verifier_from_jwk(jwk)
                .ok()
                .map(|v| josekit::jwt::decode_with_verifier(assertion, &v)),
            _ => None,
        };
        if let Some(Ok((payload, _))) = verified {
            return Ok(Some(payload.claims_set().clone()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn basic_credentials_are_url_decoded_per_rfc6749_2_3_1() {
        assert_eq!(
            parse_basic(&format!("Basic {}", b64("my%20app:p%3Aw+d"))),
            Some(("my app".into(), "p:w d".into()))
        );
        assert_eq!(
            parse_basic(&format!("basic {}", b64("c1:s"))),
            Some(("c1".into(), "s".into()))
        );
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic(&format!("Basic {}", b64("nocolon"))), None);
        assert_eq!(parse_basic(&format!("Basic {}", b64(":secret"))), None);
        assert_eq!(parse_basic(&format!("Bearer {}", b64("c1:s"))), None);
        assert_eq!(parse_basic(&format!("Basic {}", b64("c1:%zz"))), None);
    }

    #[test]
    fn more_than_one_method_is_invalid_request() {
        let form = RawParams::parse(b"client_id=c1&client_secret=s");
        let basic = format!("Basic {}", b64("c1:s"));
        assert_eq!(
            presented(Some(&basic), &form).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            presented(None, &form).unwrap(),
            Presented::Post {
                id: "c1".into(),
                secret: "s".into()
            }
        );
        let form = RawParams::parse(b"client_id=c1");
        assert_eq!(
            presented(None, &form).unwrap(),
            Presented::Public { id: "c1".into() }
        );
        assert_eq!(
            presented(None, &RawParams::parse(b"")).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        let form = RawParams::parse(b"client_assertion=x.y.z&client_assertion_type=wrong");
        assert_eq!(
            presented(None, &form).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            presented(Some("Basic %%%"), &RawParams::parse(b""))
                .unwrap_err()
                .code,
            ErrorCode::InvalidClient
        );
    }
}
