//! The client address as rate limits and sign-in throttling count it.

use std::net::{IpAddr, Ipv6Addr};

/// The block of addresses one client is assumed to hold, for rate limits
/// and sign-in throttling: an IPv6 client usually holds a whole /64 (one
/// subnet, RFC 4291 §2.5.4 and RFC 7421), so an IPv6 address counts as its
/// /64 prefix, or one client could draw 2^64 fresh counts. An IPv4 address,
/// and an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`), count as the IPv4
/// address.
#[must_use]
pub fn address_block(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The client address as a sign-in throttle key ([`address_block`]):
/// `192.0.2.1`, or `2001:db8:1:2::/64` for IPv6. Anything that is not an
/// address (the `unknown` of a request without a peer address) is kept as
/// it is.
#[must_use]
pub fn throttle_address(ip: &str) -> String {
    match ip.parse::<IpAddr>().map(address_block) {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(prefix)) => format!("{prefix}/64"),
        Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::throttle_address;

    #[test]
    fn ipv6_counts_per_64_and_ipv4_per_address() {
        for (ip, key) in [
            ("192.0.2.1", "192.0.2.1"),
            ("192.0.2.2", "192.0.2.2"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
            ("::ffff:c000:201", "192.0.2.1"),
            ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
            ("2001:0DB8:0001:0002:abcd:0:0:7", "2001:db8:1:2::/64"),
            ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
            ("::1", "::/64"),
            ("fe80::1", "fe80::/64"),
            ("unknown", "unknown"),
        ] {
            assert_eq!(throttle_address(ip), key, "{ip}");
        }
    }
}
