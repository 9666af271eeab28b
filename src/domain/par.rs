//! Pushed authorization requests (RFC 9126): the `request_uri` form and the
//! stored record.

use chrono::{DateTime, Utc};

use super::{ClientId, TokenHash};

/// The prefix of every `request_uri` `/par` issues (RFC 9126 §2.2: a URN
/// of the `urn:ietf:params:oauth:request_uri` namespace).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The random part of a `request_uri` (a 256-bit value from the `Rng`
/// port, base64url: 43 characters).
const RANDOM_LEN: usize = 43;

/// The `request_uri` for the random value `random`.
pub fn request_uri(random: &str) -> String {
    format!("{REQUEST_URI_PREFIX}{random}")
}

/// Whether `uri` is of the form `/par` issues (the prefix, whatever
/// follows): such a URI is never fetched, and is looked up by
/// [`request_uri_hash`].
pub fn is_pushed(uri: &str) -> bool {
    uri.starts_with(REQUEST_URI_PREFIX)
}

/// The hash a pushed request is stored under: the SHA-256 of the random
/// part of its `request_uri` (docs/SECURITY.md: the URI itself is never
/// stored). `None` when `uri` is not of the `/par` form or its random part
/// cannot be one we issued (so that nothing is looked up for it).
pub fn request_uri_hash(uri: &str) -> Option<TokenHash> {
    let random = uri.strip_prefix(REQUEST_URI_PREFIX)?;
    let ok = random.len() == RANDOM_LEN
        && random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| TokenHash::of(random))
}

/// A pushed authorization request. It moves pushed → started (the first
/// `/authorize` with its `request_uri`, which also binds the interaction to
/// a secret given to that browser) → completed (a code or an error went back
/// to the client), each step one conditional update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    /// SHA-256 of the `request_uri`'s random part.
    pub uri_hash: TokenHash,
    /// The client that pushed it (and the only one that may use it).
    pub client_id: ClientId,
    /// The validated authorization request parameters, form-encoded.
    pub params: String,
    /// When it was pushed.
    pub created_at: DateTime<Utc>,
    /// The `request_uri` is refused at `/authorize` from this time on.
    pub expires_at: DateTime<Utc>,
    /// When an `/authorize` started with it (single use).
    pub started_at: Option<DateTime<Utc>>,
    /// SHA-256 of the secret the interaction's forms carry.
    pub interaction_hash: Option<TokenHash>,
    /// The interaction's forms are refused from this time on.
    pub interaction_expires_at: Option<DateTime<Utc>>,
    /// When a code or an error went back to the client.
    pub completed_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_par_form_with_a_random_part_of_ours_is_looked_up() {
        let random = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";
        assert_eq!(random.len(), 43);
        let uri = request_uri(random);
        assert!(is_pushed(&uri));
        assert_eq!(request_uri_hash(&uri), Some(TokenHash::of(random)));
        for bad in [
            "urn:ietf:params:oauth:request_uri:short",
            "urn:ietf:params:oauth:request_uri:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd%",
            "urn:ietf:params:oauth:request_uri:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcdef",
            "https://rp.example/request.jwt",
            "URN:IETF:PARAMS:OAUTH:REQUEST_URI:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        ] {
            assert_eq!(request_uri_hash(bad), None, "{bad}");
        }
        assert!(is_pushed("urn:ietf:params:oauth:request_uri:short"));
        assert!(!is_pushed("https://rp.example/request.jwt"));
    }
}
