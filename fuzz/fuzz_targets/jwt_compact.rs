//! JWT compact parsing before verification (`private_key_jwt` client
//! assertions at every client-authenticating endpoint; the access token's
//! `typ`): `jwt::split_compact`, the function the server runs, on any text
//! and on a token built from fuzzed header and payload bytes.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use portcullis::protocol::jwt::{MAX_COMPACT_LEN, split_compact};

fn check(token: &str) {
    let Some((header, claims)) = split_compact(token) else {
        return;
    };
    assert!(token.len() <= MAX_COMPACT_LEN);
    assert!(header.is_object() && header["alg"].is_string());
    assert!(claims.is_object());
    let again = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    if again.len() <= MAX_COMPACT_LEN {
        assert_eq!(split_compact(&again), Some((header, claims)));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    // Split the bytes into a header and a payload at the first 0xff.
    let (h, c) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"{\"alg\":\"RS256\"}"[..], data),
    };
    check(&format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(h),
        URL_SAFE_NO_PAD.encode(c)
    ));
});
