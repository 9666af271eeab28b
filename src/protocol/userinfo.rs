//! The UserInfo endpoint (OpenID Connect Core §5.3, RFC 6750): the bearer
//! token, its checks, and the claims released.

use serde_json::{Map, Value};

use super::error::{ErrorCode, OAuthError};
use super::params::RawParams;
use super::resource;
use super::token::TokenCtx;
use super::token::issue::user_claims;
use crate::domain::UserId;

/// The pure step: the bearer token, from `Authorization: Bearer` or the
/// `access_token` form field of a POST (RFC 6750 §2.1–2.2); never both,
/// never the query. `form` is the form body, when the request has one.
/// `None`: no credentials at all (RFC 6750 §3.1: a challenge without an
/// error code).
pub fn bearer_token(
    authorization: Option<&str>,
    form: Option<&RawParams>,
) -> Result<Option<String>, OAuthError> {
    let header_token = match authorization {
        Some(h) => {
            let (scheme, token) = h.trim().split_once(' ').unwrap_or((h, ""));
            if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                return Err(OAuthError::invalid_request(
                    "the Authorization header must be Bearer <token>",
                ));
            }
            Some(token.trim().to_owned())
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
            form.get("access_token").map(str::to_owned)
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

/// The claims about the token's user (OIDC Core §5.3.2): the token must be
/// valid, carry `openid`, and its user must exist and be enabled.
pub async fn handle(ctx: &TokenCtx<'_>, token: &str) -> Result<Map<String, Value>, OAuthError> {
    let claims = resource::validate(ctx, token).await?;
    if !claims.scope.contains("openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token lacks the openid scope",
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
