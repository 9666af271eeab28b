//! Signed request objects (JAR, RFC 9101): the `request` parameter at
//! `/authorize` and `/par` (and the body of an external `request_uri` when
//! the operator allows them). A request object is a JWS the client signed
//! with one of its registered keys; its claims ARE the authorization
//! request, and every parameter outside it is ignored but `client_id`
//! (RFC 9101 §5, §6.3).
//!
//! The signature is checked by the one verifier of what clients sign
//! ([`client_auth::verify_client_jws`]: the client's `jwks` or `jwks_uri`
//! through the hardened outbound client and its cache, RS256, ES256 or
//! PS256 only); the claims by [`check_claims`]; the claims become request
//! parameters by [`to_params`].

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use super::client_auth::{
    self, ASSERTION_CLOCK_SKEW, ClientJwksFetcher, ClientJwsError, ClientJwsKind,
};
use super::error::{ErrorCode, OAuthError};
use super::jwt::{self, TimeProblem};
use super::params::RawParams;
use crate::domain::Client;

/// The longest a request object may live (`exp` − `nbf`, else `exp` −
/// `iat`, else `exp` − now): 60 minutes, as the FAPI 2.0 Message Signing
/// profile asks (RFC 9101 sets no bound).
pub const MAX_LIFETIME: Duration = Duration::minutes(60);

/// The registered JWT claims of a request object that are not
/// authorization request parameters (RFC 7519 §4.1).
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti", "sub"];

/// A request object was refused (`invalid_request_object`).
#[derive(Debug)]
pub struct Refused {
    /// The error for the client.
    pub error: OAuthError,
    /// Why, for the event (`encrypted`, `malformed`, `type`, `algorithm`, `keys`,
    /// `signature`, `claims`).
    pub reason: &'static str,
    /// The object's parameters when its signature verified (its claims
    /// were wrong): the client signed them, so their `redirect_uri`, once
    /// verified as registered, may carry the error.
    pub signed: Option<RawParams>,
}

fn refused(reason: &'static str, description: &'static str) -> Refused {
    Refused {
        error: OAuthError::new(ErrorCode::InvalidRequestObject, description),
        reason,
        signed: None,
    }
}

/// Verifies the request object `token` of `client` (the client the outer
/// `client_id` names) for our `issuer` at `now`, and returns its claims as
/// the request's parameters.
pub async fn decode(
    client: &Client,
    token: &str,
    fetcher: &dyn ClientJwksFetcher,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<RawParams, Refused> {
    // RFC 9101 §6.1: an encrypted (nested) request object is a JWE; we
    // publish no encryption key, so none can be meant for us.
    if token.split('.').count() == 5 {
        return Err(refused(
            "encrypted",
            "encrypted request objects are not supported",
        ));
    }
    let claims = client_auth::verify_client_jws(client, token, ClientJwsKind::RequestObject, fetcher)
        .await
        .map_err(|e| match e {
            ClientJwsError::Malformed => refused(
                "malformed",
                "the request object is not a JWS compact serialization",
            ),
            // RFC 9101 §10.8: explicit typing keeps other JWTs of the
            // client (an assertion, a DPoP proof) from being taken for it.
            ClientJwsError::Type => refused(
                "type",
                "the request object's typ must be oauth-authz-req+jwt (or JWT)",
            ),
            ClientJwsError::Algorithm => refused(
                "algorithm",
                "the request object must be signed with RS256, ES256 or PS256 (none and HMAC are refused)",
            ),
            ClientJwsError::NoKeys => refused("keys", "the client has no registered keys"),
            ClientJwsError::KeysUnavailable(cause) => Refused {
                error: OAuthError::new(
                    ErrorCode::InvalidRequestObject,
                    "the client's jwks_uri could not be fetched",
                )
                .with_source(cause),
                reason: "keys",
                signed: None,
            },
            ClientJwsError::InvalidKeys(cause) => Refused {
                error: OAuthError::new(
                    ErrorCode::InvalidRequestObject,
                    "the client's JWK Set is invalid",
                )
                .with_source(cause),
                reason: "keys",
                signed: None,
            },
            ClientJwsError::Signature => refused(
                "signature",
                "the request object's signature does not verify with the client's keys",
            ),
        })?;
    let params = to_params(&claims).map_err(|d| refused("claims", d))?;
    check_claims(&claims, client.id.as_str(), issuer, now).map_err(|d| Refused {
        signed: Some(params.clone()),
        ..refused("claims", d)
    })?;
    Ok(params)
}

/// The claim checks of a request object whose signature verified (RFC
/// 9101 §6.3, §10.2; FAPI 2.0 Message Signing §5.3.1): `iss` the client;
/// `aud` the issuer (a string, or an array holding it); `client_id` the
/// outer `client_id`; `exp` present and not past; `nbf` and `iat`, when
/// present, not in the future; at most [`MAX_LIFETIME`] long. Skew: the
/// one client assertions allow ([`ASSERTION_CLOCK_SKEW`]). `Err`: the
/// description.
pub fn check_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    if s("iss") != Some(client_id) {
        return Err("the request object's iss must be the client_id");
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(list)) => list.iter().any(|v| v.as_str() == Some(issuer)),
        _ => false,
    };
    if !aud_ok {
        return Err("the request object's aud must be the issuer");
    }
    // RFC 9101 §5: the client_id inside is the one outside.
    if s("client_id") != Some(client_id) {
        return Err("the request object's client_id must be the client_id of the request");
    }
    let rules = jwt::TimeRules {
        skew: ASSERTION_CLOCK_SKEW,
        max_lifetime: MAX_LIFETIME,
        lifetime_from: &["nbf", "iat"],
    };
    jwt::check_times(claims, now, rules).map_err(|p| match p {
        TimeProblem::Malformed => "the request object has a malformed time claim",
        TimeProblem::NoExp => "the request object has no exp",
        TimeProblem::Expired => "the request object has expired",
        TimeProblem::NotYetValid => "the request object is not valid yet (nbf)",
        TimeProblem::IssuedInFuture => "the request object was issued in the future (iat)",
        TimeProblem::TooLong => "the request object lives too long (more than 60 minutes)",
    })?;
    Ok(())
}

/// The claims of a request object as authorization request parameters
/// (RFC 9101 §4): strings as they are; numbers (`max_age`) and booleans as
/// their JSON text; an object (`claims`) as JSON text; an array of strings
/// as the parameter repeated (`resource`, RFC 8707), any other array as
/// JSON text. The registered JWT claims (`iss`, `aud`, `exp`, ...) are not
/// parameters. A `request` or `request_uri` inside is refused (RFC 9101
/// §4: "MUST NOT").
pub fn to_params(claims: &Map<String, Value>) -> Result<RawParams, &'static str> {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        if name == "request" || name == "request_uri" {
            return Err("a request object must not contain request or request_uri");
        }
        match value {
            Value::Null => {}
            Value::String(v) => {
                ser.append_pair(name, v);
            }
            Value::Array(list) if list.iter().all(Value::is_string) => {
                for v in list.iter().filter_map(Value::as_str) {
                    ser.append_pair(name, v);
                }
            }
            other => {
                ser.append_pair(name, &other.to_string());
            }
        }
    }
    Ok(RawParams::parse(ser.finish().as_bytes()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://as.example";

    fn obj(v: &Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn claims_table() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let t = now.timestamp();
        let base = || json!({"iss": "c1", "aud": ISS, "client_id": "c1", "iat": t, "nbf": t, "exp": t + 300});
        let with = |k: &str, v: Value| {
            let mut c = base();
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v;
            }
            c
        };
        let cases: Vec<(&str, Value, bool)> = vec![
            ("a good object", base(), true),
            (
                "aud an array holding the issuer",
                with("aud", json!(["https://x.example", ISS])),
                true,
            ),
            (
                "aud another party",
                with("aud", json!("https://rs.example")),
                false,
            ),
            (
                "aud an array without the issuer",
                with("aud", json!(["https://rs.example"])),
                false,
            ),
            ("no aud", with("aud", json!(null)), false),
            ("iss another client", with("iss", json!("c2")), false),
            ("no iss", with("iss", json!(null)), false),
            (
                "client_id another client",
                with("client_id", json!("c2")),
                false,
            ),
            ("no client_id", with("client_id", json!(null)), false),
            ("no exp", with("exp", json!(null)), false),
            ("exp as text", with("exp", json!("soon")), false),
            ("expired beyond the skew", with("exp", json!(t - 31)), false),
            (
                "nbf in the future beyond the skew",
                with("nbf", json!(t + 31)),
                false,
            ),
            ("nbf within the skew", with("nbf", json!(t + 29)), true),
            (
                "iat in the future beyond the skew",
                with("iat", json!(t + 31)),
                false,
            ),
            (
                "exactly 60 minutes from nbf",
                with("exp", json!(t + 3600)),
                true,
            ),
            ("61 minutes from nbf", with("exp", json!(t + 3660)), false),
        ];
        let mut no_nbf = with("nbf", json!(null));
        no_nbf["iat"] = json!(t - 3000);
        no_nbf["exp"] = json!(t + 900);
        let mut neither = with("nbf", json!(null));
        neither.as_object_mut().unwrap().remove("iat");
        let mut neither_long = neither.clone();
        neither_long["exp"] = json!(t + 3700);
        let cases = cases.into_iter().chain([
            (
                "exp - iat beyond 60 minutes when there is no nbf",
                no_nbf,
                false,
            ),
            ("no nbf nor iat, exp within 60 minutes", neither, true),
            ("no nbf nor iat, exp beyond 60 minutes", neither_long, false),
        ]);
        for (why, claims, ok) in cases {
            let got = check_claims(&obj(&claims), "c1", ISS, now);
            assert_eq!(got.is_ok(), ok, "{why}: {got:?}");
        }
    }

    #[test]
    fn claims_become_parameters() {
        let claims = json!({
            "iss": "c1", "aud": ISS, "exp": 1, "nbf": 1, "iat": 1, "jti": "j", "sub": "s",
            "client_id": "c1",
            "response_type": "code",
            "scope": "openid profile",
            "max_age": 60,
            "claims": {"id_token": {"acr": {"essential": true}}},
            "resource": ["https://a.example", "https://b.example"],
            "ui_locales": null,
            "flag": true,
        });
        let p = to_params(&obj(&claims)).unwrap();
        assert_eq!(p.get("client_id"), Some("c1"));
        assert_eq!(p.get("scope"), Some("openid profile"));
        assert_eq!(p.get("max_age"), Some("60"));
        assert_eq!(p.get("flag"), Some("true"));
        let c: Value = serde_json::from_str(p.get("claims").unwrap()).unwrap();
        assert_eq!(c["id_token"]["acr"]["essential"], true);
        assert_eq!(
            p.get_all("resource"),
            ["https://a.example", "https://b.example"]
        );
        for jwt_claim in [
            "iss",
            "aud",
            "exp",
            "nbf",
            "iat",
            "jti",
            "sub",
            "ui_locales",
        ] {
            assert_eq!(p.get(jwt_claim), None, "{jwt_claim}");
        }
        // An array of strings for a parameter that may not repeat: repeated,
        // so that the authorization checks refuse it.
        let p = to_params(&obj(&json!({"scope": ["a", "b"]}))).unwrap();
        assert_eq!(p.first_repeated(), Some("scope"));
        for nested in ["request", "request_uri"] {
            let mut c = claims.clone();
            c[nested] = json!("x");
            assert!(to_params(&obj(&c)).is_err(), "{nested}");
        }
    }
}
