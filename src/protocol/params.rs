//! Request parameters from a query string or a form body, keeping track of
//! repeated and oversized ones (RFC 6749 §3.1: "Request and response
//! parameters MUST NOT be included more than once"), except the parameters
//! a spec lets repeat ([`REPEATABLE`]: RFC 8707 `resource`), whose every
//! value is kept ([`RawParams::get_all`]).

use std::collections::{BTreeMap, BTreeSet};

/// Longest accepted parameter value, in bytes ([`max_len`]).
pub const MAX_VALUE_LEN: usize = 4096;

/// Parameters whose value is a JWS compact serialization (a signed request
/// object, RFC 9101; a client assertion, RFC 7523; an ID token hint): they
/// may be as long as the one JWS reader takes ([`super::jwt::MAX_COMPACT_LEN`],
/// 16 KiB), so that a request object with many claims can be pushed to
/// `/par` as it can be sent to `/authorize`.
pub const JWS_PARAMS: &[&str] = &["request", "client_assertion", "id_token_hint"];

/// The longest value `name` may have, in bytes.
pub fn max_len(name: &str) -> usize {
    if JWS_PARAMS.contains(&name) {
        super::jwt::MAX_COMPACT_LEN
    } else {
        MAX_VALUE_LEN
    }
}

/// Parameters that may be given more than once: RFC 8707 §2 `resource`
/// ("may be used multiple times"). The endpoint decides how many it takes.
pub const REPEATABLE: &[&str] = &["resource"];

/// Parsed `application/x-www-form-urlencoded` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawParams {
    values: BTreeMap<String, Vec<String>>,
    repeated: BTreeSet<String>,
    oversized: BTreeSet<String>,
}

impl RawParams {
    /// Parses a query string or form body. Empty values count as absent
    /// (RFC 6749 §3.1: "Parameters sent without a value MUST be treated as
    /// if they were omitted").
    pub fn parse(input: &[u8]) -> Self {
        let mut out = Self::default();
        for (k, v) in url::form_urlencoded::parse(input) {
            if v.is_empty() {
                continue;
            }
            let key = k.into_owned();
            if v.len() > max_len(&key) {
                out.oversized.insert(key.clone());
            }
            match out.values.entry(key) {
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    if !REPEATABLE.contains(&e.key().as_str()) {
                        out.repeated.insert(e.key().clone());
                    }
                    e.get_mut().push(v.into_owned());
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(vec![v.into_owned()]);
                }
            }
        }
        out
    }

    /// The value of `name`, if given once or more (the first one).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// Every value of `name`, in the order given (empty when absent).
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.values
            .get(name)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether `name` was given more than once (never for a
    /// [`REPEATABLE`] parameter).
    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.contains(name)
    }

    /// The first repeated parameter, if any.
    pub fn first_repeated(&self) -> Option<&str> {
        self.repeated.iter().next().map(String::as_str)
    }

    /// The first oversized parameter, if any.
    pub fn first_oversized(&self) -> Option<&str> {
        self.oversized.iter().next().map(String::as_str)
    }

    /// These parameters without `names` (e.g. a pushed request without the
    /// client's credentials).
    #[must_use]
    pub fn without(&self, names: &[&str]) -> Self {
        let mut out = self.clone();
        for name in names {
            out.values.remove(*name);
            out.repeated.remove(*name);
            out.oversized.remove(*name);
        }
        out
    }

    /// These parameters with `name` set to the one value `value` (whatever
    /// it had before).
    #[must_use]
    pub fn with(&self, name: &str, value: &str) -> Self {
        let mut out = self.without(&[name]);
        if value.len() > max_len(name) {
            out.oversized.insert(name.to_owned());
        }
        out.values.insert(name.to_owned(), vec![value.to_owned()]);
        out
    }

    /// Re-encodes the given parameters (those present) as a form string:
    /// every value of a [`REPEATABLE`] parameter, the value [`Self::get`]
    /// reports of any other, so that parsing the result gives the same
    /// values and reports nothing repeated.
    pub fn encode_only(&self, names: &[&str]) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for name in names {
            if REPEATABLE.contains(name) {
                for v in self.get_all(name) {
                    ser.append_pair(name, v);
                }
            } else if let Some(v) = self.get(name) {
                ser.append_pair(name, v);
            }
        }
        ser.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_oversized_and_empty_parameters_are_tracked() {
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        let p = RawParams::parse(format!("a=1&a=2&b=&c=%20&d={long}").as_bytes());
        assert_eq!(p.get("a"), Some("1"));
        assert!(p.is_repeated("a"));
        assert_eq!(p.get("b"), None, "an empty value is absent");
        assert_eq!(p.get("c"), Some(" "));
        assert_eq!(p.first_oversized(), Some("d"));
    }

    #[test]
    fn a_jws_parameter_may_be_as_long_as_a_jws() {
        let jws = "x".repeat(MAX_VALUE_LEN + 1);
        let too_long = "x".repeat(super::super::jwt::MAX_COMPACT_LEN + 1);
        for name in JWS_PARAMS {
            let p = RawParams::parse(format!("{name}={jws}").as_bytes());
            assert_eq!(p.first_oversized(), None, "{name}");
            let p = RawParams::parse(format!("{name}={too_long}").as_bytes());
            assert_eq!(p.first_oversized(), Some(*name));
            assert_eq!(
                RawParams::default().with(name, &too_long).first_oversized(),
                Some(*name)
            );
        }
        let p = RawParams::parse(format!("scope={jws}").as_bytes());
        assert_eq!(p.first_oversized(), Some("scope"));
    }

    #[test]
    fn resource_may_repeat_and_keeps_every_value() {
        let p = RawParams::parse(b"resource=https%3A%2F%2Fa&scope=x&resource=https%3A%2F%2Fb");
        assert_eq!(p.get_all("resource"), ["https://a", "https://b"]);
        assert_eq!(p.get("resource"), Some("https://a"));
        assert!(!p.is_repeated("resource"));
        assert_eq!(p.first_repeated(), None);
        assert_eq!(p.get_all("nothing"), Vec::<&str>::new());
        assert_eq!(
            p.encode_only(&["scope", "resource"]),
            "scope=x&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb"
        );
        let twice = RawParams::parse(b"scope=a&scope=b");
        assert_eq!(twice.first_repeated(), Some("scope"));
    }

    #[test]
    fn encode_only_keeps_the_named_parameters() {
        let p = RawParams::parse(b"client_id=a&x=1&state=s%20t");
        assert_eq!(
            p.encode_only(&["client_id", "state", "nonce"]),
            "client_id=a&state=s+t"
        );
    }

    #[test]
    fn parameters_can_be_removed_and_set() {
        let p = RawParams::parse(b"client_id=a&client_secret=s&scope=x&scope=y");
        let q = p
            .without(&["client_secret", "scope"])
            .with("client_id", "b");
        assert_eq!(q.get("client_id"), Some("b"));
        assert_eq!(q.get("client_secret"), None);
        assert_eq!(q.first_repeated(), None, "the repeated scope went with it");
        assert_eq!(p.with("scope", "z").get_all("scope"), ["z"]);
        assert_eq!(p.with("scope", "z").first_repeated(), None);
    }

    /// The fuzz target's round trip (fuzz/fuzz_targets/token_form.rs): a
    /// repeated parameter that may not repeat is re-encoded once, with the
    /// value `get` reports, so the re-parsed form reports nothing repeated.
    #[test]
    fn encode_only_writes_a_repeated_parameter_once() {
        let p = RawParams::parse(
            b"grant_type=refresh_token&refresh_token=t&scope=a&scope=b&resource=r1&resource=r2",
        );
        assert!(p.is_repeated("scope"));
        let encoded = p.encode_only(&["grant_type", "scope", "resource"]);
        assert_eq!(
            encoded,
            "grant_type=refresh_token&scope=a&resource=r1&resource=r2"
        );
        let q = RawParams::parse(encoded.as_bytes());
        assert_eq!(q.first_repeated(), None);
        assert_eq!(q.get("scope"), p.get("scope"));
        assert_eq!(q.get_all("resource"), p.get_all("resource"));
    }
}
