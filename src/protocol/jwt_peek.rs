//! Reading a compact JWS's header and claims WITHOUT verifying it, to find
//! which key to verify it with (`kid`, `iss`). Nothing read here is trusted.

use base64::Engine as _;
use serde_json::{Map, Value};

fn part(token: &str, index: usize) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    if token.len() > 16 * 1024 || token.split('.').count() != 3 {
        return None;
    }
    let raw = parts.nth(index)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch, possibly with a
/// fraction, which is dropped.
#[allow(clippy::cast_possible_truncation)] // range-checked just before
pub fn numeric_date(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    (0.0..1e15).contains(&f).then(|| f.trunc() as i64)
}

/// The protected header.
pub fn header(token: &str) -> Option<Map<String, Value>> {
    part(token, 0)
}

/// The claims.
pub fn claims(token: &str) -> Option<Map<String, Value>> {
    part(token, 1)
}

/// The `iss` claim.
pub fn issuer(token: &str) -> Option<String> {
    claims(token)?.get("iss")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_and_claims_and_refuses_junk() {
        let e = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let t = format!(
            "{}.{}.sig",
            e(r#"{"alg":"RS256","kid":"k1"}"#),
            e(r#"{"iss":"c1"}"#)
        );
        assert_eq!(header(&t).unwrap()["kid"], "k1");
        assert_eq!(issuer(&t).as_deref(), Some("c1"));
        assert!(header("a.b").is_none());
        assert!(header("!!.!!.!!").is_none());
        assert!(claims(&format!("{}.{}.s", e("{}"), e("[1]"))).is_none());
        assert_eq!(
            numeric_date(&serde_json::json!(1_700_000_000.75)),
            Some(1_700_000_000)
        );
        assert_eq!(numeric_date(&serde_json::json!(17)), Some(17));
        assert_eq!(numeric_date(&serde_json::json!("17")), None);
    }
}
