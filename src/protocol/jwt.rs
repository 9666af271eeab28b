//! Reading a JWT before its signature is checked: the header (`alg`, `kid`)
//! picks the key and the claims (`iss`) pick whose keys to use, for
//! `private_key_jwt` client assertions (RFC 7523) and `id_token_hint`.
//! Nothing returned here is trusted until the signature is verified.
//!
//! This is the one JWT reader of the request path (client assertions at
//! every client-authenticating endpoint, the access token's `typ` after
//! its signature was checked); `fuzz/fuzz_targets/jwt_compact.rs` fuzzes it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Longest compact serialization accepted, in bytes: far more than any
/// client assertion or ID token, and a bound on the work a bad input costs.
pub const MAX_COMPACT_LEN: usize = 16 * 1024;

/// Splits a JWS compact serialization (RFC 7515 §7.1) and decodes its
/// header and payload, without verifying anything.
///
/// Returns `None` unless the token has exactly three parts, each in
/// base64url without padding (RFC 7515 §2), the header a JSON object with
/// a string `alg` (RFC 7515 §4.1.1) and the payload a JSON object (a JWT
/// Claims Set, RFC 7519 §7.2 step 10). A JWE (five parts) is refused.
/// Duplicate member names keep the last value (RFC 7515 §5.2 permits
/// either refusing or that).
pub fn split_compact(token: &str) -> Option<(Value, Value)> {
    if token.len() > MAX_COMPACT_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    URL_SAFE_NO_PAD.decode(signature).ok()?;
    let header = decode_object(header)?;
    if !header.get("alg").is_some_and(Value::is_string) {
        return None;
    }
    let claims = decode_object(payload)?;
    Some((header, claims))
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

/// How the time claims of a JWT a client made are judged ([`check_times`]).
#[derive(Debug, Clone, Copy)]
pub struct TimeRules {
    /// The clock skew allowed either way (RFC 7519 §4.1.4/§4.1.5: "a small
    /// leeway").
    pub skew: chrono::Duration,
    /// The longest the JWT may live, counted from the first of
    /// `lifetime_from` that it carries (else from now).
    pub max_lifetime: chrono::Duration,
    /// The claims the lifetime is counted from, in order (`iat` for client
    /// assertions; `nbf`, then `iat`, for request objects).
    pub lifetime_from: &'static [&'static str],
}

/// Why the time claims of a JWT were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeProblem {
    /// `exp`, `nbf` or `iat` is not a NumericDate.
    Malformed,
    /// No `exp`.
    NoExp,
    /// `exp` is past (beyond the skew).
    Expired,
    /// `nbf` is in the future (beyond the skew).
    NotYetValid,
    /// `iat` is in the future (beyond the skew).
    IssuedInFuture,
    /// It lives longer than the rules allow.
    TooLong,
}

/// The time claims of a JWT a client made (a client assertion, a request
/// object): `exp` required and not past, `nbf` and `iat` when present not
/// in the future, and at most `max_lifetime` long, each with the skew.
/// The one home of this rule; each caller words its own errors. Returns
/// `exp`.
pub fn check_times(
    claims: &serde_json::Map<String, Value>,
    now: chrono::DateTime<chrono::Utc>,
    rules: TimeRules,
) -> Result<chrono::DateTime<chrono::Utc>, TimeProblem> {
    let time = |name: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, TimeProblem> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => numeric_date(v)
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(Some)
                .ok_or(TimeProblem::Malformed),
        }
    };
    let exp = time("exp")?.ok_or(TimeProblem::NoExp)?;
    if exp <= now - rules.skew {
        return Err(TimeProblem::Expired);
    }
    if time("nbf")?.is_some_and(|t| t > now + rules.skew) {
        return Err(TimeProblem::NotYetValid);
    }
    if time("iat")?.is_some_and(|t| t > now + rules.skew) {
        return Err(TimeProblem::IssuedInFuture);
    }
    let mut start = now;
    for name in rules.lifetime_from {
        if let Some(t) = time(name)? {
            start = t;
            break;
        }
    }
    if exp - start > rules.max_lifetime || exp > now + rules.max_lifetime + rules.skew {
        return Err(TimeProblem::TooLong);
    }
    Ok(exp)
}

fn decode_object(part: &str) -> Option<Value> {
    if part.is_empty() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.is_object().then_some(value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn token(header: &Value, claims: &Value, sig: &str) -> String {
        format!("{}.{}.{sig}", b64(header), b64(claims))
    }

    #[test]
    fn header_and_claims_are_decoded_without_verifying() {
        let h = json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
        let c = json!({"iss": "client-1", "sub": "client-1", "aud": "https://id.example/token"});
        let (header, claims) = split_compact(&token(&h, &c, "c2ln")).unwrap();
        assert_eq!(header["kid"], "k1");
        assert_eq!(claims["iss"], "client-1");
    }

    #[test]
    fn the_rfc_7519_example_parses() {
        // RFC 7519 §3.1 (its header has a line break, hence base64 of "\r\n").
        let t = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
                 eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
                 dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let (header, claims) = split_compact(t).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(claims["iss"], "joe");
        assert_eq!(claims["exp"], 1_300_819_380);
    }

    #[test]
    fn an_unsigned_token_still_parses_for_the_caller_to_refuse() {
        let t = token(&json!({"alg": "none"}), &json!({"iss": "x"}), "");
        assert!(split_compact(&t).is_some());
    }

    #[test]
    fn the_lifetime_counts_from_the_first_claim_of_the_rules() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let t = now.timestamp();
        let rules = |from: &'static [&'static str]| TimeRules {
            skew: chrono::Duration::seconds(30),
            max_lifetime: chrono::Duration::seconds(300),
            lifetime_from: from,
        };
        let claims = json!({"nbf": t - 10, "iat": t - 600, "exp": t + 60});
        let claims = claims.as_object().unwrap();
        assert!(check_times(claims, now, rules(&["nbf", "iat"])).is_ok());
        assert_eq!(
            check_times(claims, now, rules(&["iat"])),
            Err(TimeProblem::TooLong)
        );
        let none = json!({"exp": t + 400});
        assert_eq!(
            check_times(none.as_object().unwrap(), now, rules(&["iat"])),
            Err(TimeProblem::TooLong),
            "no claim: counted from now"
        );
        assert_eq!(
            check_times(json!({"exp": "x"}).as_object().unwrap(), now, rules(&[])),
            Err(TimeProblem::Malformed)
        );
    }

    #[test]
    fn numeric_dates_drop_the_fraction_and_refuse_text() {
        assert_eq!(numeric_date(&json!(1_700_000_000.75)), Some(1_700_000_000));
        assert_eq!(numeric_date(&json!(17)), Some(17));
        assert_eq!(numeric_date(&json!("17")), None);
        assert_eq!(numeric_date(&json!(-1.5)), None);
        assert_eq!(numeric_date(&json!(1e16)), None);
    }

    #[test]
    fn numbers_survive_a_round_trip_through_split_compact() {
        // Found by fuzz/fuzz_targets/jwt_compact.rs: a 130-digit integer was
        // parsed to a float that, printed and parsed again, was another
        // float (serde_json's fast float parser is not exactly rounded
        // without its `float_roundtrip` feature).
        let big = format!("{{\"n\":4{}}}", "1".repeat(129));
        let t = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "RS256"})),
            URL_SAFE_NO_PAD.encode(&big)
        );
        let (header, claims) = split_compact(&t).unwrap();
        let again = token(&header, &claims, "c2ln");
        assert_eq!(split_compact(&again), Some((header, claims)));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let h = json!({"alg": "ES256"});
        let c = json!({"iss": "x"});
        let good = token(&h, &c, "c2ln");
        let long = token(&h, &json!({"pad": "x".repeat(MAX_COMPACT_LEN)}), "c2ln");
        for bad in [
            String::new(),
            "..".into(),
            "a.b".into(),
            format!("{good}.x.y"),
            format!("{good}.x"),
            token(&json!({"kid": "k"}), &c, "c2ln"),
            token(&json!({"alg": 5}), &c, "c2ln"),
            token(&json!(["alg"]), &c, "c2ln"),
            token(&h, &json!("a string"), "c2ln"),
            token(&h, &json!([1, 2]), "c2ln"),
            token(&h, &c, "c2ln="),
            token(&h, &c, "!!"),
            format!("{}=.{}.c2ln", b64(&h), b64(&c)),
            "!!.!!.!!".into(),
            format!("{}.{}.c2ln", b64(&h), URL_SAFE_NO_PAD.encode("{not json")),
            format!("{}.{}.c2ln", URL_SAFE_NO_PAD.encode([0xff, 0xfe]), b64(&c)),
            long,
        ] {
            assert_eq!(split_compact(&bad), None, "{bad:?}");
        }
    }
}
