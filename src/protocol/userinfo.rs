//! The UserInfo endpoint (OpenID Connect Core §5.3, RFC 6750, RFC 9449
//! §7): the access token (bearer, or DPoP with its proof), its checks, and
//! the claims released.

use serde_json::{Map, Value};

use super::error::{ErrorCode, OAuthError};
use super::params::RawParams;
use super::resource;
use super::token::TokenCtx;
use super::token::issue::user_claims;
use crate::domain::mfa::Acr;
use crate::domain::{ClientId, UserId};

/// The authentication scheme an access token came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RFC 6750: `Authorization: Bearer`, or the `access_token` form field.
    Bearer,
    /// RFC 9449 §7.1: `Authorization: DPoP`, with a proof in the `DPoP`
    /// header.
    Dpop,
}

/// A presented access token and its scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The token.
    pub token: String,
    /// How it came.
    pub scheme: Scheme,
}

/// The pure step: the bearer token, from `Authorization: Bearer` or the
/// `access_token` form field of a POST (RFC 6750 §2.1–2.2); never both,
/// never the query. `form` is the form body, when the request has one.
/// `None`: no credentials at all (RFC 6750 §3.1: a challenge without an
/// error code). The `DPoP` scheme is refused here (the admin API and
/// registration take bearer tokens only); `/userinfo` reads
/// [`credentials`].
pub fn bearer_token(
    authorization: Option<&str>,
    form: Option<&RawParams>,
) -> Result<Option<String>, OAuthError> {
    match credentials(authorization, form)? {
        Some(Credentials {
            scheme: Scheme::Dpop,
            ..
        }) => Err(OAuthError::invalid_request(
            "the Authorization header must be Bearer <token>",
        )),
        other => Ok(other.map(|c| c.token)),
    }
}

/// [`bearer_token`], and the `DPoP` scheme (RFC 9449 §7.1: `Authorization:
/// DPoP <token>`; its proof is checked by
/// [`resource::validate_presented`]). The form field is a bearer
/// presentation (RFC 6750 §2.2).
pub fn credentials(
    authorization: Option<&str>,
    form: Option<&RawParams>,
) -> Result<Option<Credentials>, OAuthError> {
    let header_token = match authorization {
        Some(h) => {
            let h = h.trim();
            let (scheme, token) = h.split_once(' ').unwrap_or((h, ""));
            // RFC 9110 §11.1: the scheme is case-insensitive.
            let scheme = if scheme.eq_ignore_ascii_case("bearer") {
                Scheme::Bearer
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Scheme::Dpop
            } else {
                return Err(OAuthError::invalid_request(
                    "the Authorization header must be Bearer <token> or DPoP <token>",
                ));
            };
            if token.trim().is_empty() {
                return Err(OAuthError::invalid_request(
                    "the Authorization header has no token",
                ));
            }
            Some(Credentials {
                token: token.trim().to_owned(),
                scheme,
            })
        }
        None => None,
    };
    let form_token = match form {
        Some(form) => {
            if form.is_repeated("access_token") {
                return Err(OAuthError::invalid_request(
                    "access_token was given more than once",
                ));
            }
            form.get("access_token").map(|t| Credentials {
                token: t.to_owned(),
                scheme: Scheme::Bearer,
            })
        }
        None => None,
    };
    match (header_token, form_token) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "use one way to send the access token (RFC 6750 section 2)",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// RFC 9470 §3: the class a token's client requires (its
/// [`Client::acr_floor`](crate::domain::Client::acr_floor)) that the
/// token's `acr` does not meet; `None` when the token is strong enough.
pub fn step_up_needed(floor: Acr, token_acr: Option<&str>) -> Option<Acr> {
    let have = token_acr.and_then(Acr::parse).unwrap_or(Acr::OneFactor);
    (have < floor).then_some(floor)
}

/// The claims about the token's user (OIDC Core §5.3.2): the token must be
/// valid and presented as it must be (a DPoP-bound one with a proof of its
/// key: [`resource::validate_presented`]), carry `openid`, meet its
/// client's authentication requirement (RFC 9470
/// `insufficient_user_authentication`), and its user must exist and be
/// enabled.
pub async fn handle(
    ctx: &TokenCtx<'_>,
    token: &str,
    presentation: &resource::Presentation<'_>,
) -> Result<Map<String, Value>, OAuthError> {
    let claims = resource::validate_presented(ctx, token, presentation).await?;
    if !claims.scope.contains("openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token lacks the openid scope",
        ));
    }
    let floor = match ClientId::parse(&claims.client_id) {
        Some(id) => ctx
            .store
            .clients()
            .get_client(&id)
            .await?
            .map_or(Acr::OneFactor, |c| c.acr_floor()),
        None => Acr::OneFactor,
    };
    let token_acr = claims.all.get("acr").and_then(Value::as_str);
    if step_up_needed(floor, token_acr).is_some() {
        return Err(OAuthError::new(
            ErrorCode::InsufficientUserAuthentication,
            "the client requires a two-factor authentication; authenticate again with acr_values",
        ));
    }
    let user = ctx
        .store
        .users()
        .user_by_id(&UserId::new(claims.subject.clone()))
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidToken, "the user no longer exists"))?;
    Ok(user_claims(&user, &claims.scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_mfa_asks_for_two_factors() {
        for (require, acr, want) in [
            (false, None, None),
            (false, Some("urn:portcullis:acr:1fa"), None),
            (true, None, Some(Acr::TwoFactor)),
            (true, Some("urn:portcullis:acr:1fa"), Some(Acr::TwoFactor)),
            (true, Some("unknown"), Some(Acr::TwoFactor)),
            (true, Some("urn:portcullis:acr:2fa"), None),
            (true, Some("phr"), None),
        ] {
            let floor = if require {
                Acr::TwoFactor
            } else {
                Acr::OneFactor
            };
            assert_eq!(step_up_needed(floor, acr), want, "{require} {acr:?}");
        }
    }

    #[test]
    fn one_way_to_send_the_token() {
        let form = RawParams::parse(b"access_token=f");
        assert_eq!(bearer_token(None, None).unwrap(), None);
        assert_eq!(
            bearer_token(Some("Bearer h"), None).unwrap().as_deref(),
            Some("h")
        );
        assert_eq!(
            bearer_token(None, Some(&form)).unwrap().as_deref(),
            Some("f")
        );
        // The DPoP scheme: read by `credentials`, refused by `bearer_token`.
        assert_eq!(
            credentials(Some("DPoP h"), None).unwrap(),
            Some(Credentials {
                token: "h".into(),
                scheme: Scheme::Dpop
            })
        );
        assert_eq!(
            credentials(Some("dpop  h "), None).unwrap().unwrap().scheme,
            Scheme::Dpop
        );
        assert_eq!(
            credentials(None, Some(&form)).unwrap().unwrap().scheme,
            Scheme::Bearer
        );
        assert!(credentials(Some("DPoP h"), Some(&form)).is_err());
        assert!(credentials(Some("DPoP "), None).is_err());
        assert!(bearer_token(Some("DPoP h"), None).is_err());
        for (auth, form) in [
            (Some("Bearer h"), Some(&form)),
            (Some("Basic abc"), None),
            (Some("Bearer "), None),
            (
                None,
                Some(&RawParams::parse(b"access_token=a&access_token=b")),
            ),
        ] {
            assert_eq!(
                bearer_token(auth, form).unwrap_err().code,
                ErrorCode::InvalidRequest
            );
        }
    }
}
