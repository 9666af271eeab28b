//! Where the server may send a request of its own (a client's `jwks_uri`
//! today; back-channel logout, request objects and webhooks later): the one
//! home of the outbound destination rule. Registration checks the URL with
//! [`check_outbound_url`]; the outbound adapter checks every address a name
//! resolves to with [`is_public_address`] at connect time, so that a name
//! that resolves (or rebinds) to an internal address does not pass.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why a URL or an address may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// Not a URL.
    #[error("not a URL ({0})")]
    NotAUrl(String),
    /// Not `https` (plain `http` only under the development exception).
    #[error("must be an https URL")]
    NotHttps,
    /// User info in the URL (it would be sent as credentials).
    #[error("must not carry user info")]
    UserInfo,
    /// No host.
    #[error("must name a host")]
    NoHost,
    /// A literal address (or a resolved one) that is not public.
    #[error("{0} is a loopback, private, link-local or otherwise internal address")]
    Internal(IpAddr),
}

/// Whether `ip` is an address on the public internet: not loopback,
/// private (RFC 1918, RFC 4193 unique local), link-local (RFC 3927,
/// 169.254.169.254 cloud metadata included; fe80::/10), carrier-grade NAT
/// (RFC 6598), unspecified, broadcast, multicast, documentation,
/// benchmarking or reserved. IPv4-mapped and IPv4-compatible IPv6
/// addresses are judged as the IPv4 address they carry; the IPv6 ranges
/// that lead to an IPv4 address through a translator or tunnel (NAT64,
/// IPv4-translated, 6to4, Teredo) and discard-only 100::/64 are refused
/// whole.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// Whether `ip` is loopback or private (RFC 1918, RFC 4193, RFC 6598): the
/// addresses the development exception admits. Link-local (cloud metadata)
/// stays refused even then.
pub fn is_loopback_or_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || is_shared_v4(v4),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// Whether the outbound client may connect to `ip`: a public address, or
/// (with `allow_insecure`, for development and tests) a loopback or
/// private one.
pub fn may_connect(ip: IpAddr, allow_insecure: bool) -> bool {
    is_public_address(ip) || (allow_insecure && is_loopback_or_private(ip))
}

fn is_shared_v4(v4: Ipv4Addr) -> bool {
    // 100.64.0.0/10 (RFC 6598, carrier-grade NAT).
    let [a, b, ..] = v4.octets();
    a == 100 && (b & 0xc0) == 64
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_unspecified()
        || v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || is_shared_v4(v4)
        || a == 0 // 0.0.0.0/8 "this network"
        || a >= 240 // 240.0.0.0/4 reserved
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24 IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18)) // 198.18.0.0/15 benchmarking
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    !(v6.is_unspecified()
        || v6.is_loopback()
        || v6.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation (RFC 3849)
        || (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0) // 2001:2::/48 benchmarking (RFC 5180)
        // 2001::/32 Teredo (RFC 4380): tunnels to an IPv4 server and an
        // obfuscated IPv4 client address, either of which may be internal.
        || (s[0] == 0x2001 && s[1] == 0)
        // 64:ff9b::/96 well-known NAT64 prefix (RFC 6052 §2.1) and
        // 64:ff9b:1::/48 local-use NAT64 prefix (RFC 8215): both reach any
        // IPv4 address a translator is given, and a local-use prefix places
        // the IPv4 address where the operator's prefix length puts it
        // (RFC 6052 §2.2), so it cannot be unwrapped reliably. Refused
        // whole, as is the rest of 64:ff9b::/32 (unassigned).
        || (s[0] == 0x0064 && s[1] == 0xff9b)
        // 100::/64 discard-only (RFC 6666): a blackhole by design.
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
        || s[0] == 0x2002 // 2002::/16 6to4 (RFC 3056; embeds any IPv4)
        // ::ffff:0:0/96 IPv4-translated (RFC 2765 §2.1, SIIT): a translator
        // reaches the IPv4 address it carries; `to_canonical` does not
        // unwrap it (only ::ffff:a.b.c.d), and nothing public uses it.
        || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0xffff && s[5] == 0)
        || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)) // ::/96 IPv4-compatible (RFC 4291 §2.5.5.1)
}

/// The rule for a URL the server will call (a registered `jwks_uri`):
/// `https` with a host and no user info, and, when the host is a literal
/// address, a public one. With `allow_insecure` (development), `http` and
/// literal loopback or private addresses pass too. A host name is checked
/// later, on the addresses it resolves to, by the outbound adapter.
pub fn check_outbound_url(raw: &str, allow_insecure: bool) -> Result<Url, DestinationError> {
    let url = Url::parse(raw).map_err(|e| DestinationError::NotAUrl(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => return Err(DestinationError::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DestinationError::UserInfo);
    }
    let ip = match url.host() {
        None => return Err(DestinationError::NoHost),
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
    };
    if let Some(ip) = ip
        && !may_connect(ip, allow_insecure)
    {
        return Err(DestinationError::Internal(ip));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::808:808", // NAT64 of a public IPv4: refused all the same
            // Local-use NAT64 (RFC 8215), 127.0.0.1 embedded as for a /48
            // and as for a /96 prefix.
            "64:ff9b:1:7f00:0:1::",
            "64:ff9b:1::7f00:1",
            "64:ff9b:1:ffff::a9fe:a9fe",
            // IPv4-translated (RFC 2765): 127.0.0.1, 169.254.169.254, 10.0.0.1.
            "::ffff:0:127.0.0.1",
            "::ffff:0:169.254.169.254",
            "::ffff:0:a00:1",
            // Teredo (RFC 4380).
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1", // discard-only (RFC 6666)
            "100::ffff:ffff:ffff:ffff",
            "2001:2::1", // benchmarking (RFC 5180)
            "2002:a9fe:a9fe::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_public_address(ip), "{ip}");
        }
        // Neighbours of the refused ranges stay public.
        for ip in [
            "93.184.215.14",
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700::1111",
            "2001:4860:4860::8888", // 2001:4860::/32, next to Teredo
            "2001:1::1",            // PCP anycast (RFC 7723), beside Teredo
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_public_address(ip), "{ip}");
        }
    }

    #[test]
    fn the_development_exception_admits_loopback_and_private_never_link_local() {
        for ip in ["127.0.0.1", "10.0.0.1", "192.168.0.1", "::1", "fd00::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(may_connect(ip, true), "{ip}");
            assert!(!may_connect(ip, false), "{ip}");
        }
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "0.0.0.0",
            "224.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b:1::7f00:1",
            "2001::1",
            "100::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!may_connect(ip, true), "{ip}");
        }
    }

    #[test]
    fn registered_urls_are_https_to_a_name_or_a_public_address() {
        let ok = |u: &str| check_outbound_url(u, false).map(|_| ());
        assert_eq!(ok("https://rp.example.com/jwks"), Ok(()));
        assert_eq!(ok("https://93.184.215.14/jwks"), Ok(()));
        assert_eq!(
            ok("http://rp.example.com/jwks"),
            Err(DestinationError::NotHttps)
        );
        assert_eq!(
            ok("ftp://rp.example.com/jwks"),
            Err(DestinationError::NotHttps)
        );
        assert_eq!(
            ok("https://user:pw@rp.example.com/jwks"),
            Err(DestinationError::UserInfo)
        );
        assert!(matches!(ok("not a url"), Err(DestinationError::NotAUrl(_))));
        for internal in [
            "https://127.0.0.1/jwks",
            "https://[::1]/jwks",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.7/jwks",
            "https://192.168.1.1:8443/jwks",
            "https://[::ffff:127.0.0.1]/jwks",
            "https://0x7f000001/jwks",
            "https://2130706433/jwks",
            "https://[::ffff:0:7f00:1]/jwks",
            "https://[64:ff9b:1::a9fe:a9fe]/jwks",
            "https://[2001::a9fe:a9fe]/jwks",
            "https://[100::1]/jwks",
        ] {
            assert!(
                matches!(ok(internal), Err(DestinationError::Internal(_))),
                "{internal}"
            );
        }
        // Development: http and loopback pass, link-local never.
        assert!(check_outbound_url("http://127.0.0.1:8080/jwks", true).is_ok());
        assert!(check_outbound_url("http://169.254.169.254/", true).is_err());
    }
}
