//! Resource indicators (RFC 8707): the identifiers of the APIs that access
//! tokens are meant for, the APIs an operator registered ([`ApiResource`]),
//! and the pure rules of the `resource` parameter at `/authorize` and
//! `/token`.

use chrono::{DateTime, Utc};

use super::ScopeSet;

/// The OpenID Connect scopes: they are about the user (the ID token,
/// `/userinfo`, refresh tokens), never an API's, so an API may not define
/// them and an API's access token never carries them.
pub const OPENID_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// An API registered as a resource (RFC 8707): access tokens meant for it
/// carry its identifier as `aud` and only the scopes it defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResource {
    /// The resource indicator (an absolute URI without a fragment,
    /// [`is_resource_indicator`]).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The scopes the API defines (never an OpenID scope).
    pub scopes: ScopeSet,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl ApiResource {
    /// The scope of an access token for this API out of the `granted`
    /// scopes: those the API defines, never an OpenID scope.
    pub fn scope_of(&self, granted: &ScopeSet) -> ScopeSet {
        let kept: Vec<&str> = granted
            .iter()
            .filter(|s| self.scopes.contains(s) && !OPENID_SCOPES.contains(s))
            .collect();
        ScopeSet::from_tokens(kept).unwrap_or_default()
    }
}

/// Why a `resource` parameter was refused: RFC 8707 §2 `invalid_target`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an absolute URI without a fragment.
    #[error("resource {0:?} is not an absolute URI without a fragment (RFC 8707 section 2)")]
    Malformed(String),
    /// More than one `resource` in a token request: an access token has
    /// one audience here.
    #[error("at most one resource per token request: an access token is meant for one resource")]
    Several,
    /// Not among the resources the client may ask for.
    #[error("resource {0:?} is not allowed for this client")]
    NotAllowed(String),
    /// Not among the resources the grant was authorized for (a refresh or
    /// a code exchange may narrow them, never widen them: RFC 8707 §2.2).
    #[error("resource {0:?} was not part of the authorization")]
    NotGranted(String),
    /// Not a registered API.
    #[error("resource {0:?} is not registered")]
    Unknown(String),
}

fn well_formed(r: &str) -> Result<(), TargetError> {
    if is_resource_indicator(r) {
        Ok(())
    } else {
        Err(TargetError::Malformed(r.to_owned()))
    }
}

/// The resources of an authorization request (RFC 8707 §2.1: one or more
/// `resource` parameters): each well formed and among the client's
/// `allowed` resources. Sorted, without duplicates; empty when none was
/// asked (the default resource).
pub fn authorization_resources(
    asked: &[&str],
    allowed: &[String],
) -> Result<Vec<String>, TargetError> {
    let mut out = Vec::with_capacity(asked.len());
    for r in asked {
        well_formed(r)?;
        if !allowed.iter().any(|a| a == r) {
            return Err(TargetError::NotAllowed((*r).to_owned()));
        }
        out.push((*r).to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The one resource a token request names, if any (RFC 8707 §2: the
/// `resource` parameter; several are refused: one audience per access
/// token).
pub fn requested_resource<'a>(asked: &[&'a str]) -> Result<Option<&'a str>, TargetError> {
    match asked {
        [] => Ok(None),
        [one] => well_formed(one).map(|()| Some(*one)),
        _ => Err(TargetError::Several),
    }
}

/// The resource of an access token from a grant authorized for `granted`
/// (a code, a refresh token; RFC 8707 §2.2): the one asked, which must be
/// among them; none asked: the grant's resource when it has exactly one,
/// else `None` (the default resource).
pub fn grant_resource<'a>(
    asked: &[&'a str],
    granted: &'a [String],
) -> Result<Option<&'a str>, TargetError> {
    match requested_resource(asked)? {
        Some(r) if granted.iter().any(|g| g == r) => Ok(Some(r)),
        Some(r) => Err(TargetError::NotGranted(r.to_owned())),
        None => Ok(match granted {
            [only] => Some(only.as_str()),
            _ => None,
        }),
    }
}

/// The resource of a client's own access token (client credentials): the
/// one asked, which must be among the client's `allowed` resources; none
/// asked: `None` (the default resource).
pub fn client_resource<'a>(
    asked: &[&'a str],
    allowed: &[String],
) -> Result<Option<&'a str>, TargetError> {
    match requested_resource(asked)? {
        Some(r) if allowed.iter().any(|a| a == r) => Ok(Some(r)),
        Some(r) => Err(TargetError::NotAllowed(r.to_owned())),
        None => Ok(None),
    }
}

/// RFC 8707 §2: "an absolute URI, as specified by Section 4.3 of
/// [RFC3986]. The URI MUST NOT include a fragment component." Also at most
/// 512 bytes (the column) and no whitespace (lists are space-separated).
pub fn is_resource_indicator(value: &str) -> bool {
    if value.is_empty()
        || value.len() > 512
        || value.contains('#')
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    // An absolute URI: a scheme (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ))
    // followed by ":" and something.
    let Some((scheme, rest)) = value.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    const A: &str = "https://a.example";
    const B: &str = "https://b.example";

    #[test]
    fn an_authorization_asks_for_allowed_resources_only() {
        let allowed = list(&[A, B]);
        assert_eq!(authorization_resources(&[], &allowed), Ok(vec![]));
        assert_eq!(
            authorization_resources(&[B, A, B], &allowed),
            Ok(list(&[A, B]))
        );
        assert_eq!(
            authorization_resources(&[A, "https://c.example"], &allowed),
            Err(TargetError::NotAllowed("https://c.example".into()))
        );
        assert_eq!(
            authorization_resources(&["https://a.example#f"], &list(&["https://a.example#f"])),
            Err(TargetError::Malformed("https://a.example#f".into()))
        );
        assert!(matches!(
            authorization_resources(&[A], &[]),
            Err(TargetError::NotAllowed(_))
        ));
    }

    #[test]
    fn a_grant_may_narrow_its_resources_never_widen_them() {
        let two = list(&[A, B]);
        let one = list(&[A]);
        assert_eq!(grant_resource(&[], &[]), Ok(None), "the default resource");
        assert_eq!(grant_resource(&[], &one), Ok(Some(A)), "its only resource");
        assert_eq!(grant_resource(&[], &two), Ok(None), "several: the default");
        assert_eq!(grant_resource(&[B], &two), Ok(Some(B)), "narrowed");
        assert_eq!(
            grant_resource(&[B], &one),
            Err(TargetError::NotGranted(B.into())),
            "widened"
        );
        assert_eq!(
            grant_resource(&[A], &[]),
            Err(TargetError::NotGranted(A.into()))
        );
        assert_eq!(grant_resource(&[A, B], &two), Err(TargetError::Several));
        assert_eq!(grant_resource(&[A, A], &two), Err(TargetError::Several));
        assert!(matches!(
            grant_resource(&["api"], &two),
            Err(TargetError::Malformed(_))
        ));
    }

    #[test]
    fn a_client_asks_for_its_allowed_resources() {
        let allowed = list(&[A]);
        assert_eq!(client_resource(&[], &allowed), Ok(None));
        assert_eq!(client_resource(&[A], &allowed), Ok(Some(A)));
        assert_eq!(
            client_resource(&[B], &allowed),
            Err(TargetError::NotAllowed(B.into()))
        );
        assert_eq!(
            client_resource(&[A, B], &allowed),
            Err(TargetError::Several)
        );
    }

    #[test]
    fn an_apis_token_carries_only_the_scopes_it_defines() {
        let now = Utc::now();
        let api = ApiResource {
            id: A.into(),
            name: "A".into(),
            scopes: ScopeSet::parse("read write openid").unwrap(),
            created_at: now,
            updated_at: now,
        };
        let granted = ScopeSet::parse("openid profile offline_access read other").unwrap();
        assert_eq!(api.scope_of(&granted), ScopeSet::parse("read").unwrap());
        assert!(
            api.scope_of(&ScopeSet::parse("openid email").unwrap())
                .is_empty()
        );
    }

    #[test]
    fn absolute_uris_without_fragments_are_resource_indicators() {
        for ok in [
            "https://api.example.com",
            "https://api.example.com/v1?x=1",
            "urn:example:api",
        ] {
            assert!(is_resource_indicator(ok), "{ok}");
        }
        for bad in [
            "",
            "api",
            "/relative",
            "https://api.example.com/#frag",
            "1http://x",
            "https://a b",
            "https:",
        ] {
            assert!(!is_resource_indicator(bad), "{bad}");
        }
        assert!(!is_resource_indicator(&format!(
            "https://x/{}",
            "a".repeat(600)
        )));
    }
}
