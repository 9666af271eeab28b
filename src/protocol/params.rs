//! Request parameters from a query string or a form body, keeping track of
//! repeated and oversized ones (RFC 6749 §3.1: "Request and response
//! parameters MUST NOT be included more than once").

use std::collections::{BTreeMap, BTreeSet};

/// Longest accepted parameter value, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;

/// Parsed `application/x-www-form-urlencoded` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawParams {
    values: BTreeMap<String, String>,
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
            if v.len() > MAX_VALUE_LEN {
                out.oversized.insert(key.clone());
            }
            match out.values.entry(key) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    out.repeated.insert(e.key().clone());
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(v.into_owned());
                }
            }
        }
        out
    }

    /// The value of `name`, if given once or more (the first one).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `name` was given more than once.
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

    /// Re-encodes the given parameters (those present) as a form string.
    pub fn encode_only(&self, names: &[&str]) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for name in names {
            if let Some(v) = self.get(name) {
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
    fn encode_only_keeps_the_named_parameters() {
        let p = RawParams::parse(b"client_id=a&x=1&state=s%20t");
        assert_eq!(
            p.encode_only(&["client_id", "state", "nonce"]),
            "client_id=a&state=s+t"
        );
    }
}
