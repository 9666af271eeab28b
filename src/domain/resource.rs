//! Resource indicators (RFC 8707): the identifiers of the APIs that access
//! tokens are meant for.

/// RFC 8707 §2: "an absolute URI, as specified by Section 4.3 of
/// [RFC3986]. The URI MUST NOT include a fragment component." Also at most
/// 512 bytes (the column) and no whitespace (lists are space-separated).
pub fn is_resource_indicator(value: &str) -> bool {
    if value.is_empty()
        || value.len() > 512
        || value.contains('#')
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    // An absolute URI: a scheme (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ))
    // followed by ":" and something.
    let Some((scheme, rest)) = value.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::is_resource_indicator;

    #[test]
    fn absolute_uris_without_fragments_are_resource_indicators() {
        for ok in [
            "https://api.example.com",
            "https://api.example.com/v1?x=1",
            "urn:example:api",
        ] {
            assert!(is_resource_indicator(ok), "{ok}");
        }
        for bad in [
            "",
            "api",
            "/relative",
            "https://api.example.com/#frag",
            "1http://x",
            "https://a b",
            "https:",
        ] {
            assert!(!is_resource_indicator(bad), "{bad}");
        }
        assert!(!is_resource_indicator(&format!(
            "https://x/{}",
            "a".repeat(600)
        )));
    }
}
