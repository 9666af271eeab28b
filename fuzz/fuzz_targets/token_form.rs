//! The token request form: `RawParams::parse` with repeated, empty,
//! oversized and badly encoded keys. Checks that what is reported is
//! consistent and that re-encoding the token parameters round-trips.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::protocol::params::{MAX_VALUE_LEN, RawParams};

const TOKEN_PARAMS: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "resource",
];

fuzz_target!(|data: &[u8]| {
    let p = RawParams::parse(data);
    if let Some(name) = p.first_repeated() {
        assert!(p.is_repeated(name));
        assert!(p.get(name).is_some(), "a repeated parameter has a value");
    }
    if let Some(name) = p.first_oversized() {
        assert!(p.get(name).is_some());
    }
    for name in TOKEN_PARAMS {
        if let Some(v) = p.get(name) {
            assert!(!v.is_empty(), "empty values count as absent");
        }
    }
    let encoded = p.encode_only(TOKEN_PARAMS);
    let q = RawParams::parse(encoded.as_bytes());
    for name in TOKEN_PARAMS {
        assert_eq!(p.get(name), q.get(name), "{name} round-trips");
        assert!(!q.is_repeated(name));
        if q.get(name).is_some_and(|v| v.len() > MAX_VALUE_LEN) {
            assert!(q.first_oversized().is_some());
        }
    }
});
