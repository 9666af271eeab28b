//! HTTP Basic client credentials (RFC 6749 §2.3.1), as the token,
//! revocation and introspection endpoints read them: the raw header value,
//! and a fuzzed `id:secret` wrapped in a well-formed header. What parses
//! must re-encode and parse back to the same pair.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use portcullis::protocol::client_auth::parse_basic;
use portcullis::protocol::params::MAX_VALUE_LEN;

fn check(header: &str) {
    let Some((id, secret)) = parse_basic(header) else {
        return;
    };
    assert!(!id.is_empty() && id.len() <= MAX_VALUE_LEN);
    assert!(secret.len() <= MAX_VALUE_LEN);
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let again = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret)))
    );
    assert_eq!(
        parse_basic(&again),
        Some((id, secret)),
        "round trip of {header:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    check(&format!("Basic {}", STANDARD.encode(data)));
});
