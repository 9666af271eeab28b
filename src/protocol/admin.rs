//! The admin API's rules (`/admin/v1`): who may call it and how its lists
//! are paged. Authentication is OAuth itself (issue 15): a bearer access
//! token from the client-credentials grant whose client holds
//! `admin:read` or `admin:write`, checked like any access token
//! ([`resource::validate`], which includes the revocation check) and
//! refused with `invalid_token` (401) or `insufficient_scope` (403) as
//! RFC 6750 §3.1 says.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::error::{ErrorCode, OAuthError};
use super::resource;
use super::token::TokenCtx;
use crate::domain::{ClientId, ScopeSet};

/// The scope that lets a client read through the admin API.
pub const ADMIN_READ: &str = "admin:read";
/// The scope that lets a client change things through the admin API (it
/// implies [`ADMIN_READ`]).
pub const ADMIN_WRITE: &str = "admin:write";

/// Whether `scope` contains an admin scope.
pub fn has_admin_scope(scope: &ScopeSet) -> bool {
    scope.contains(ADMIN_READ) || scope.contains(ADMIN_WRITE)
}

/// The scopes given only by an operator (`client create --scope`, the
/// admin API, `admin bootstrap`), never through dynamic registration: the
/// admin scopes and the Shared Signals receiver role
/// (`protocol::ssf::RECEIVER_SCOPE`, which lets a client hear of the
/// users who signed in to it).
pub const OPERATOR_ONLY_SCOPES: [&str; 3] = [ADMIN_READ, ADMIN_WRITE, super::ssf::RECEIVER_SCOPE];

/// Whether `scope` contains one of [`OPERATOR_ONLY_SCOPES`].
pub fn has_operator_only_scope(scope: &ScopeSet) -> bool {
    OPERATOR_ONLY_SCOPES.iter().any(|s| scope.contains(s))
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reading (`GET`): `admin:read` or `admin:write`.
    Read,
    /// Changing anything: `admin:write`.
    Write,
}

impl Need {
    /// Whether `scope` satisfies this need.
    pub fn met_by(self, scope: &ScopeSet) -> bool {
        match self {
            Self::Read => has_admin_scope(scope),
            Self::Write => scope.contains(ADMIN_WRITE),
        }
    }

    /// The scope to name in an `insufficient_scope` answer.
    pub fn scope(self) -> &'static str {
        match self {
            Self::Read => ADMIN_READ,
            Self::Write => ADMIN_WRITE,
        }
    }
}

/// The client calling the admin API, after [`authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    /// The acting client (named in every `admin_change` event).
    pub client_id: ClientId,
    /// The admin scopes in effect: those of the token that the client still
    /// holds.
    pub scope: ScopeSet,
}

/// Checks `token` for a call that needs `need`: a client-credentials
/// token of a client that still exists ([`resource::client_credentials_caller`]),
/// whose scope that the client *still* holds meets `need` (an operator who
/// takes `admin:write` away from a client takes it from its live tokens
/// too); otherwise `insufficient_scope` (403).
pub async fn authorize(
    ctx: &TokenCtx<'_>,
    token: &str,
    need: Need,
) -> Result<AdminCaller, OAuthError> {
    let (client_id, scope) = resource::client_credentials_caller(ctx, token).await?;
    if !need.met_by(&scope) {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            match need {
                Need::Read => "this call needs the admin:read or admin:write scope",
                Need::Write => "this call needs the admin:write scope",
            },
        ));
    }
    Ok(AdminCaller { client_id, scope })
}

// ---- paging ---------------------------------------------------------------

/// Page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: u64 = 500;
/// Longest cursor accepted, in characters.
const MAX_CURSOR_CHARS: usize = 512;

/// A request for one page of a list ordered by a unique key: the rows whose
/// key comes after `after`, at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The key of the last row of the previous page (decoded from the
    /// cursor); `None` for the first page.
    pub after: Option<String>,
    /// Rows per page, 1 to [`MAX_PAGE_SIZE`].
    pub limit: u64,
}

impl PageRequest {
    /// Reads the `limit` and `cursor` query parameters. A cursor is opaque
    /// to callers (base64url of the last key); a malformed one or a limit
    /// out of range is `invalid_request`.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, OAuthError> {
        let bad = |t: &'static str| OAuthError::new(ErrorCode::InvalidRequest, t);
        let limit = match limit {
            None => DEFAULT_PAGE_SIZE,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| bad("limit must be a whole number from 1 to 500"))?,
        };
        let after = match cursor {
            None | Some("") => None,
            Some(c) if c.len() > MAX_CURSOR_CHARS => return Err(bad("cursor is malformed")),
            Some(c) => Some(
                URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| bad("cursor is malformed"))?,
            ),
        };
        Ok(Self { after, limit })
    }

    /// How many rows to fetch: one more than the page, to know whether
    /// another page follows.
    pub fn fetch(&self) -> u64 {
        self.limit + 1
    }
}

/// One page of a list, as the admin API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor of the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts `rows` (fetched with [`PageRequest::fetch`], ordered by the key
    /// `key` gives) to the page, with the cursor of the next one.
    pub fn of(mut rows: Vec<T>, req: &PageRequest, key: impl Fn(&T) -> String) -> Self {
        let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| URL_SAFE_NO_PAD.encode(key(r)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with each row mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn write_implies_read_and_nothing_else_does() {
        assert!(Need::Read.met_by(&scopes("admin:read")));
        assert!(Need::Read.met_by(&scopes("admin:write")));
        assert!(!Need::Write.met_by(&scopes("admin:read")));
        assert!(Need::Write.met_by(&scopes("api admin:write")));
        assert!(!Need::Read.met_by(&scopes("openid admin admin:readx")));
        assert!(!Need::Read.met_by(&scopes("")));
    }

    #[test]
    fn page_requests_are_bounded_and_cursors_opaque() {
        let first = PageRequest::parse(None, None).unwrap();
        assert_eq!(first.limit, DEFAULT_PAGE_SIZE);
        assert_eq!(first.after, None);
        for bad in ["0", "501", "-1", "ten", ""] {
            assert!(PageRequest::parse(Some(bad), None).is_err(), "{bad}");
        }
        assert!(PageRequest::parse(None, Some("%%%")).is_err());
        assert!(PageRequest::parse(None, Some(&"A".repeat(600))).is_err());
        let rows: Vec<String> = (1..=5).map(|i| format!("k{i}")).collect();
        let req = PageRequest::parse(Some("2"), None).unwrap();
        let page = Page::of(rows[..3].to_vec(), &req, Clone::clone);
        assert_eq!(page.items, ["k1", "k2"]);
        let cursor = page.next_cursor.unwrap();
        let next = PageRequest::parse(Some("2"), Some(&cursor)).unwrap();
        assert_eq!(next.after.as_deref(), Some("k2"));
        let last = Page::of(rows[3..].to_vec(), &next, Clone::clone);
        assert_eq!(last.items, ["k4", "k5"]);
        assert_eq!(last.next_cursor, None);
    }
}
