//! HTTP Basic client credentials at the token endpoint (RFC 6749 §2.3.1).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::params::MAX_VALUE_LEN;

/// Standard base64 (RFC 4648 §4), with or without padding: RFC 7617 pads,
/// but some clients do not, and the padding carries no information.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Parses an `Authorization: Basic …` header value into the client id and
/// secret.
///
/// RFC 6749 §2.3.1: the client id and secret are each encoded with
/// `application/x-www-form-urlencoded` (Appendix B), then joined by `:` and
/// base64-encoded as in HTTP Basic (RFC 7617 §2). So the user-id is split at
/// the first `:`, and each part is percent-decoded (`+` is a space).
///
/// Returns `None` for anything malformed: another scheme, bad base64, no
/// `:`, an empty client id, a bad `%` escape, text that is not UTF-8, or a
/// part longer than [`MAX_VALUE_LEN`] bytes. An empty secret is returned as
/// `""` (RFC 7617 allows it); it authenticates no client.
pub fn parse_basic(authorization: &str) -> Option<(String, String)> {
    // RFC 9110 §11.1: the scheme is case-insensitive; 1*SP before token68.
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let token = rest.trim_start_matches(' ');
    // Two parts of MAX_VALUE_LEN bytes, each up to 3x longer when
    // percent-encoded, then 4/3 longer in base64: under 8x MAX_VALUE_LEN.
    if token.is_empty() || token.len() > 8 * MAX_VALUE_LEN + 16 {
        return None;
    }
    let decoded = BASE64.decode(token).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let id = form_decode(id)?;
    let secret = form_decode(secret)?;
    if id.is_empty() || id.len() > MAX_VALUE_LEN || secret.len() > MAX_VALUE_LEN {
        return None;
    }
    Some((id, secret))
}

/// Strict `application/x-www-form-urlencoded` decoding of one value: `+` is
/// a space, `%XX` a byte; a `%` not followed by two hex digits is an error,
/// and so is a result that is not UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[allow(clippy::unnecessary_wraps)] // compared with parse_basic's result
    fn pair(id: &str, secret: &str) -> Option<(String, String)> {
        Some((id.to_owned(), secret.to_owned()))
    }

    #[test]
    fn the_rfc_6749_example_parses() {
        // RFC 6749 §2.3.1.
        assert_eq!(
            parse_basic("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3"),
            pair("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw")
        );
    }

    #[test]
    fn parts_are_form_urldecoded_after_splitting_at_the_first_colon() {
        assert_eq!(
            parse_basic(&basic("a%3Ab:p%40ss%2Bw+rd%3Ax")),
            pair("a:b", "p@ss+w rd:x")
        );
        assert_eq!(parse_basic(&basic("id:a:b")), pair("id", "a:b"));
        assert_eq!(
            parse_basic(&basic("caf%C3%A9:s")),
            pair("café", "s"),
            "percent-encoded UTF-8"
        );
    }

    #[test]
    fn scheme_case_spacing_and_padding_are_lenient() {
        let want = pair("client", "secret");
        assert_eq!(parse_basic("basic Y2xpZW50OnNlY3JldA=="), want);
        assert_eq!(parse_basic("BASIC   Y2xpZW50OnNlY3JldA=="), want);
        assert_eq!(parse_basic("Basic Y2xpZW50OnNlY3JldA"), want, "no padding");
        assert_eq!(parse_basic(&basic("client:")), pair("client", ""));
    }

    #[test]
    fn malformed_values_are_refused() {
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        for bad in [
            String::new(),
            "Basic".into(),
            "Basic ".into(),
            "Bearer Y2xpZW50OnNlY3JldA==".into(),
            "Basic !!!!".into(),
            "Basic Y2xp ZW50OnNlY3JldA==".into(),
            basic("no-colon"),
            basic(":secret"),
            basic("id%zz:secret"),
            basic("id:secret%4"),
            basic("id:%FF"),
            basic(&format!("{long}:s")),
            basic(&format!("id:{long}")),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode([0xff, b':', b'x'])
            ),
        ] {
            assert_eq!(parse_basic(&bad), None, "{bad:?}");
        }
    }
}
