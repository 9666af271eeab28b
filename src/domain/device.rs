//! Device authorizations (RFC 8628): the user-code alphabet and the record.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{ClientId, ScopeSet, TokenHash, UserId};

/// The user-code alphabet of RFC 8628 §6.1: twenty consonants, no vowels
/// (no words), none easily confused.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Characters in a user code (§6.1: 20^8 ≈ 2^34.5 codes).
pub const USER_CODE_LEN: usize = 8;

/// A user code in its normalized form: [`USER_CODE_LEN`] characters of
/// [`USER_CODE_ALPHABET`], upper case, no hyphen. Shown as `XXXX-XXXX`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserCode(String);

impl UserCode {
    /// Normalizes what a user typed (RFC 8628 §6.1: case-insensitive, the
    /// hyphen and spaces optional); `None` if it cannot be a user code.
    pub fn parse(input: &str) -> Option<Self> {
        if input.len() > 64 {
            return None;
        }
        let code: String = input
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let ok =
            code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
        ok.then_some(Self(code))
    }

    /// A code from [`USER_CODE_LEN`] indexes into [`USER_CODE_ALPHABET`]
    /// (each below 20); `None` otherwise.
    pub fn from_indexes(indexes: &[u8]) -> Option<Self> {
        if indexes.len() != USER_CODE_LEN {
            return None;
        }
        let code: Option<String> = indexes
            .iter()
            .map(|i| {
                USER_CODE_ALPHABET
                    .get(usize::from(*i))
                    .map(|b| char::from(*b))
            })
            .collect();
        code.map(Self)
    }

    /// A value read back from storage.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The normalized form (stored, compared).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form shown to users: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(self.0.len() / 2);
        format!("{a}-{b}")
    }
}

impl fmt::Debug for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A live user code is a (short-lived) credential: never logged.
        f.write_str("UserCode(..)")
    }
}

/// Where a device authorization stands. It moves pending → approved |
/// denied, and approved → redeemed, each step one conditional update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// The user approved; the device has not fetched its tokens yet.
    Approved,
    /// The user denied.
    Denied,
    /// The device fetched its tokens (once).
    Redeemed,
}

impl DeviceStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
        }
    }

    /// Parses a stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "redeemed" => Self::Redeemed,
            _ => return None,
        })
    }
}

/// A device authorization (RFC 8628 §3.2): only the device code's hash is
/// kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// SHA-256 of the device code.
    pub code_hash: TokenHash,
    /// The user code, normalized.
    pub user_code: UserCode,
    /// The client that asked.
    pub client_id: ClientId,
    /// The scope asked (already limited to the client's).
    pub scope: ScopeSet,
    /// Resources (RFC 8707).
    pub resources: Vec<String>,
    /// Where it stands.
    pub status: DeviceStatus,
    /// The user who decided.
    pub user_id: Option<UserId>,
    /// The session that decided (the tokens' `sid`).
    pub session_id: Option<String>,
    /// When that user authenticated.
    pub auth_time: Option<DateTime<Utc>>,
    /// The methods of that authentication (JSON array).
    pub amr: Option<String>,
    /// Its class.
    pub acr: Option<String>,
    /// Seconds the device must wait between polls (§3.5: grows by 5 at
    /// each `slow_down`).
    pub interval_secs: i64,
    /// The last poll.
    pub last_polled_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry of the device code and the user code alike.
    pub expires_at: DateTime<Utc>,
    /// When the user decided.
    pub decided_at: Option<DateTime<Utc>>,
}

/// A user's decision on a pending device authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDecision {
    /// Approved (else denied).
    pub approved: bool,
    /// The user.
    pub user_id: UserId,
    /// Their session.
    pub session_id: String,
    /// When they authenticated.
    pub auth_time: DateTime<Utc>,
    /// The methods (JSON array).
    pub amr: Option<String>,
    /// The class.
    pub acr: Option<String>,
    /// When.
    pub decided_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_normalized_case_insensitive_with_optional_hyphen() {
        for input in [
            "BCDF-GHJK",
            "bcdf-ghjk",
            "BCDFGHJK",
            "bcdfghjk",
            " bcdf ghjk ",
            "Bc-Df-Gh-Jk",
        ] {
            assert_eq!(
                UserCode::parse(input).map(|c| c.as_str().to_owned()),
                Some("BCDFGHJK".to_owned()),
                "{input:?}"
            );
        }
        let c = UserCode::parse("wxzb-cdfg").unwrap();
        assert_eq!(c.display(), "WXZB-CDFG");
    }

    #[test]
    fn user_codes_outside_the_alphabet_or_length_are_refused() {
        // Vowels and digits are not in the §6.1 alphabet.
        for input in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-FGHJ",
            "BCDF-GHJ1",
            "BCDF_GHJK",
            "ÄBCD-FGHJ",
        ] {
            assert_eq!(UserCode::parse(input), None, "{input:?}");
        }
        assert_eq!(UserCode::parse(&"B".repeat(100)), None);
    }

    #[test]
    fn the_alphabet_is_rfc_8628s_base_20() {
        assert_eq!(USER_CODE_ALPHABET.len(), 20);
        assert!(USER_CODE_ALPHABET.iter().all(|b| !b"AEIOUY".contains(b)));
        let mut sorted = USER_CODE_ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
        assert_eq!(
            UserCode::from_indexes(&[0, 1, 2, 3, 16, 17, 18, 19]).map(|c| c.display()),
            Some("BCDF-VWXZ".to_owned())
        );
        assert_eq!(UserCode::from_indexes(&[20, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(UserCode::from_indexes(&[0; 7]), None);
    }

    #[test]
    fn status_round_trips() {
        for s in [
            DeviceStatus::Pending,
            DeviceStatus::Approved,
            DeviceStatus::Denied,
            DeviceStatus::Redeemed,
        ] {
            assert_eq!(DeviceStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeviceStatus::parse("other"), None);
    }
}
