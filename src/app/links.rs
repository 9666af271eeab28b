//! Single-use links sent by mail (issue 16): e-mail verification, password
//! reset, sign-up invitations. The token is 256 bits from the `Rng` port,
//! put only in the mail; the store keeps its SHA-256 (the rule of
//! docs/SECURITY.md invariant 2, applied to links). A newer link of the
//! same purpose ends the older ones; a use is one conditional update, so a
//! link works once even when clicked twice at the same moment.

use chrono::{DateTime, Duration, Utc};

use crate::domain::{LinkPurpose, TokenHash, UserId, UserLink};
use crate::ports::{Repositories, Rng, StoreError};
use crate::protocol::endpoints::Endpoint;

/// Makes a link of `purpose` for `user` (none for an invitation) and
/// `email`, valid for `ttl`, through `repos` (the caller's unit of work);
/// returns the token to put in the mail's URL ([`url`]).
pub async fn issue(
    repos: &dyn Repositories,
    rng: &dyn Rng,
    now: DateTime<Utc>,
    purpose: LinkPurpose,
    user: Option<&UserId>,
    email: &str,
    ttl: Duration,
) -> Result<String, StoreError> {
    let token = rng.token();
    repos
        .links()
        .insert_link(&UserLink {
            token_hash: TokenHash::of(&token),
            purpose,
            user_id: user.cloned(),
            email: email.to_owned(),
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
        })
        .await?;
    Ok(token)
}

/// Longest token read from a link (the server's are 43 characters).
const MAX_TOKEN_CHARS: usize = 128;

/// Whether `token` has the shape of a link token (non-empty, at most
/// 128 characters): anything else is refused before the store is asked.
pub fn token_shape_ok(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_CHARS
}

/// The page a link of `purpose` opens.
pub fn endpoint(purpose: LinkPurpose) -> Endpoint {
    match purpose {
        LinkPurpose::VerifyEmail => Endpoint::EmailVerify,
        LinkPurpose::ResetPassword => Endpoint::PasswordReset,
        LinkPurpose::Invite => Endpoint::Signup,
    }
}

/// The absolute URL of a link: the page under `issuer`, with the token in
/// the query (`?token=...`). Opening it shows a form; only posting the form
/// uses the link, so that a mail scanner that fetches every URL uses
/// nothing.
pub fn url(issuer: &str, purpose: LinkPurpose, token: &str) -> String {
    format!("{issuer}{}?token={token}", endpoint(purpose).path())
}

/// A link that still works at `now`: known, of `purpose`, unused and not
/// expired. For the page that shows the form; the form's post uses it with
/// `UserLinkRepository::use_link`.
pub async fn peek(
    repos: &dyn Repositories,
    token: &str,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Result<Option<UserLink>, StoreError> {
    Ok(repos
        .links()
        .get_link(&TokenHash::of(token))
        .await?
        .filter(|l| l.purpose == purpose && l.used_at.is_none() && l.expires_at > now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_open_their_pages_with_the_token_in_the_query() {
        assert_eq!(
            url("https://id.example", LinkPurpose::ResetPassword, "abc"),
            "https://id.example/password/reset?token=abc"
        );
        assert_eq!(
            url("https://id.example", LinkPurpose::VerifyEmail, "t"),
            "https://id.example/email/verify?token=t"
        );
        assert_eq!(
            url("https://id.example", LinkPurpose::Invite, "t"),
            "https://id.example/signup?token=t"
        );
    }
}
