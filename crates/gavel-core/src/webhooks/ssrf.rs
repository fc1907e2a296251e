//! The SSRF guard of webhooks: which URLs an endpoint may have, and which addresses the
//! dispatcher may connect to.
//!
//! Only `http`/`https` URLs without credentials. Unless `Settings::webhooks_allow_private`, the
//! host is refused at creation (and at re-enabling) if it is `localhost` / `*.localhost`
//! (trailing dots ignored) or an address in one of the blocked ranges ([`blocked_range`]: 0/8,
//! 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.168/16, 198.18/15, 224/4,
//! 240/4; ::/96, 64:ff9b:1::/48, 100::/64, fc00::/7, fe80::/10, fec0::/10, ff00::/8), and the
//! dispatcher refuses every resolved address in those ranges at connection time (DNS can change)
//! from the same table. Redirects are never followed (gavel-server).
//!
//! Invariants:
//! * one table serves the check at creation ([`validate_url`]) and the one at connection time
//!   ([`blocked_range`]), so the two can never disagree;
//! * what is judged is what would be dialled: hosts are read by the WHATWG parser the HTTP client
//!   itself uses, so `2130706433`, `0x7f000001`, `127.1` and full-width digits are the address
//!   they dial;
//! * IPv6 addresses that embed an IPv4 one (`::ffff:0:0/96`, `64:ff9b::/96`, `2002::/16`) are
//!   judged by that IPv4 address ([`embedded_ipv4`]).

use crate::error::{CoreError, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One blocked range: a prefix and why it is refused (the reason ends up in error messages).
struct Range<T> {
    net: T,
    len: u8,
    what: &'static str,
}

/// IPv4 ranges a webhook must not reach unless private targets are allowed. One table serves the
/// check at creation and the one at connection time, so the two can never disagree.
const BLOCKED_V4: &[Range<Ipv4Addr>] = &[
    Range { net: Ipv4Addr::new(0, 0, 0, 0), len: 8, what: "\"this network\" 0.0.0.0/8" },
    Range { net: Ipv4Addr::new(10, 0, 0, 0), len: 8, what: "private 10.0.0.0/8" },
    Range { net: Ipv4Addr::new(100, 64, 0, 0), len: 10, what: "carrier-grade NAT 100.64.0.0/10" },
    Range { net: Ipv4Addr::new(127, 0, 0, 0), len: 8, what: "loopback 127.0.0.0/8" },
    Range { net: Ipv4Addr::new(169, 254, 0, 0), len: 16, what: "link-local 169.254.0.0/16" },
    Range { net: Ipv4Addr::new(172, 16, 0, 0), len: 12, what: "private 172.16.0.0/12" },
    Range { net: Ipv4Addr::new(192, 0, 0, 0), len: 24, what: "IETF protocol assignments 192.0.0.0/24" },
    Range { net: Ipv4Addr::new(192, 168, 0, 0), len: 16, what: "private 192.168.0.0/16" },
    Range { net: Ipv4Addr::new(198, 18, 0, 0), len: 15, what: "benchmarking 198.18.0.0/15" },
    Range { net: Ipv4Addr::new(224, 0, 0, 0), len: 4, what: "multicast 224.0.0.0/4" },
    // Includes the limited broadcast address 255.255.255.255.
    Range { net: Ipv4Addr::new(240, 0, 0, 0), len: 4, what: "reserved 240.0.0.0/4" },
];

/// IPv6 ranges refused outright. Ranges that embed an IPv4 address (`::ffff:0:0/96`,
/// `64:ff9b::/96`, `2002::/16`) are not here: they are judged by the address they carry.
const BLOCKED_V6: &[Range<Ipv6Addr>] = &[
    // IPv4-compatible addresses (deprecated, RFC 4291 2.5.5.1), and with them :: and ::1.
    Range {
        net: Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        len: 96,
        what: "IPv4-compatible ::/96 (with :: and ::1)",
    },
    Range {
        net: Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        len: 48,
        what: "local-use NAT64 64:ff9b:1::/48",
    },
    Range { net: Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), len: 64, what: "discard-only 100::/64" },
    Range { net: Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), len: 7, what: "unique local fc00::/7" },
    Range { net: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), len: 10, what: "link-local fe80::/10" },
    Range { net: Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), len: 10, what: "site-local fec0::/10" },
    Range { net: Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), len: 8, what: "multicast ff00::/8" },
];

fn in_prefix(addr: u128, net: u128, len: u8, bits: u32) -> bool {
    let len = u32::from(len).min(bits);
    len == 0 || (addr ^ net) >> (bits - len) == 0
}

/// The IPv4 address an IPv6 address carries by construction: IPv4-mapped `::ffff:a.b.c.d`, the
/// NAT64 well-known prefix `64:ff9b::a.b.c.d` (RFC 6052) and 6to4 `2002:aabb:ccdd::/48` (RFC 3056).
/// Such an address reaches that IPv4 host, so it is judged as that host.
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return Some(low);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

/// Why a webhook must not reach `ip` unless private targets are allowed, or `None` if it may.
/// Used at creation (literal addresses) and at connection time (every resolved address).
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let a = u128::from(u32::from(v4));
            BLOCKED_V4.iter().find(|r| in_prefix(a, u128::from(u32::from(r.net)), r.len, 32)).map(|r| r.what)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return blocked_range(IpAddr::V4(v4));
            }
            let a = u128::from(v6);
            BLOCKED_V6.iter().find(|r| in_prefix(a, u128::from(r.net), r.len, 128)).map(|r| r.what)
        }
    }
}

/// Whether a webhook must not reach `ip` unless private targets are allowed ([`blocked_range`]).
pub fn is_private(ip: IpAddr) -> bool {
    blocked_range(ip).is_some()
}

/// Whether a host name (already lower-cased and IDNA-mapped by the URL parser) names the local
/// machine: `localhost` and `*.localhost` (RFC 6761), with or without trailing dots.
fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    name == "localhost" || name.ends_with(".localhost")
}

/// Checks a webhook URL: http(s), a host, no credentials, and (unless allowed) no private target.
///
/// The host is read by the WHATWG URL parser (the `url` crate), the same one the dispatcher's
/// HTTP client (ureq) uses on the same stored string, so what is judged here is what would be
/// dialled: `http://2130706433`, `0x7f000001`, `127.1` or full-width digits are 127.0.0.1 to
/// both. Names are checked again after DNS at connection time.
pub fn validate_url(url: &str, allow_private: bool) -> Result<()> {
    let bad = |why: &str| Err(CoreError::Invalid(format!("webhook url {url:?}: {why}")));
    if url.len() > 2048 {
        return bad("longer than 2048 characters");
    }
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        return bad("must start with http:// or https://");
    };
    // The raw authority too: WHATWG parsing silently drops tabs and newlines and treats `\` as
    // `/`, so refuse anything that would be read differently by a less lenient reader.
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
    if authority.is_empty() {
        return bad("has no host");
    }
    if authority.contains('@') {
        return bad("must not carry credentials");
    }
    if authority.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("the host contains whitespace");
    }
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return bad(&e.to_string()),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return bad("must not carry credentials");
    }
    let host = match parsed.host() {
        None => return bad("has no host"),
        Some(url::Host::Domain("")) => return bad("has no host"),
        Some(h) => h,
    };
    if allow_private {
        return Ok(());
    }
    let private = |what: &str| {
        bad(&format!(
            "is a private, loopback or reserved address ({what}; set webhooks_allow_private to allow it)"
        ))
    };
    match host {
        url::Host::Ipv4(v4) => blocked_range(IpAddr::V4(v4)).map_or(Ok(()), private),
        url::Host::Ipv6(v6) => blocked_range(IpAddr::V6(v6)).map_or(Ok(()), private),
        url::Host::Domain(name) if is_localhost_name(name) => {
            bad("is a private loopback host name (localhost; set webhooks_allow_private to allow it)")
        }
        url::Host::Domain(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_private_addresses() {
        for ok in
            ["https://hooks.example.com/x", "http://203.0.113.9:8080/h?a=b", "https://[2001:db8::1]:443/"]
        {
            assert!(validate_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://example.com",
            "example.com",
            "https://",
            "https://u:p@example.com",
            "http://127.0.0.1:9/",
            "http://10.1.2.3/",
            "http://192.168.0.1",
            "http://169.254.169.254/latest",
            "http://[::1]:80/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:8080",
            "http://100.64.0.1",
            "http://0.0.0.0",
            "http://example.com:http/",
        ] {
            assert!(validate_url(bad, false).is_err(), "{bad}");
        }
        assert!(validate_url("http://127.0.0.1:9/", true).is_ok());
        assert!(validate_url("ftp://127.0.0.1", true).is_err());
    }

    /// Issue 14: every spelling the HTTP client reads as a blocked address or a local name is
    /// refused at creation, not only at connection time; public hosts still pass.
    #[test]
    fn creation_check_canonicalizes_hosts_like_the_client() {
        for ok in [
            "https://example.com/hook",
            "https://93.184.216.34/",
            "http://93.184.216.34:8080/x",
            "https://example.com./hook",
            "https://[2606:2800:220:1:248:1893:25c8:1946]/",
            // NAT64 of a public host (what DNS64 hands out on IPv6-only networks).
            "https://[64:ff9b::5db8:d822]/",
            "https://[2002:5db8:d822::1]/",
            "https://localhost.example.com/",
            "https://mylocalhost/",
            "https://203.0.113.9/",
        ] {
            assert!(validate_url(ok, false).is_ok(), "{ok}: {:?}", validate_url(ok, false));
        }
        for bad in [
            // 127.0.0.1 in the spellings WHATWG (and so ureq) accepts.
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7F.1/",
            "http://127.1/",
            "http://127.0.1/",
            "http://0177.0.0.1/",
            "http://017700000001/",
            "http://127.0.0.1./",
            "http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}/",
            "http://\u{ff11}\u{ff12}\u{ff17}\u{ff0e}1/",
            "http://0/",
            "http://0x0a000001/",
            "http://3232235521/",
            // Local names, any case, trailing dots.
            "http://localhost./",
            "http://localhost../",
            "http://LOCALHOST/",
            "http://api.localhost/",
            "http://api.localhost./x",
            "http://\u{ff4c}ocalhost/",
            // The ranges the old list lacked.
            "http://198.18.0.1/",
            "http://198.19.255.254/",
            "http://192.0.0.8/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
            "http://[::127.0.0.1]/",
            "http://[::]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[fec0::1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[64:ff9b:1::1]/",
            // No host.
            "http:///x",
            "http://:80/",
        ] {
            let r = validate_url(bad, false);
            assert!(r.is_err(), "{bad} was accepted");
        }
        // The opt-out still admits private targets (the tests' receivers live on loopback).
        for ok in ["http://2130706433/", "http://localhost./", "http://[64:ff9b::7f00:1]/"] {
            assert!(validate_url(ok, true).is_ok(), "{ok}");
        }
    }

    #[test]
    fn range_table_judges_embedded_ipv4_by_that_address() {
        let v4 = |s: &str| IpAddr::V4(s.parse().unwrap());
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        for blocked in [
            v4("0.0.0.0"),
            v4("10.255.255.255"),
            v4("100.64.0.1"),
            v4("100.127.255.255"),
            v4("127.255.255.254"),
            v4("169.254.169.254"),
            v4("172.31.0.1"),
            v4("192.0.0.1"),
            v4("192.168.1.1"),
            v4("198.18.0.0"),
            v4("198.19.255.255"),
            v4("224.0.0.1"),
            v4("240.0.0.0"),
            v4("255.255.255.255"),
            v6("::"),
            v6("::1"),
            v6("::127.0.0.1"),
            v6("::8.8.8.8"),
            v6("::ffff:127.0.0.1"),
            v6("::ffff:192.168.0.1"),
            v6("64:ff9b::7f00:1"),
            v6("64:ff9b::10.0.0.1"),
            v6("2002:7f00:1::"),
            v6("2002:c0a8:101::1"),
            v6("64:ff9b:1::1"),
            v6("100::1"),
            v6("fc00::1"),
            v6("fd12::1"),
            v6("fe80::1"),
            v6("febf::1"),
            v6("fec0::1"),
            v6("feff::1"),
            v6("ff02::1"),
        ] {
            assert!(blocked_range(blocked).is_some(), "{blocked} should be blocked");
        }
        for public in [
            v4("1.1.1.1"),
            v4("93.184.216.34"),
            v4("100.63.255.255"),
            v4("100.128.0.0"),
            v4("172.32.0.1"),
            v4("192.0.1.1"),
            v4("198.17.255.255"),
            v4("198.20.0.0"),
            v4("223.255.255.255"),
            v6("2606:4700::1111"),
            v6("::ffff:93.184.216.34"),
            v6("64:ff9b::93.184.216.34"),
            v6("2002:5db8:d822::"),
            v6("64:ff9c::1"),
            v6("2003::1"),
            v6("fbff::1"),
        ] {
            assert_eq!(blocked_range(public), None, "{public} should be allowed");
        }
        assert_eq!(embedded_ipv4("::ffff:127.0.0.1".parse().unwrap()), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(embedded_ipv4("64:ff9b::7f00:1".parse().unwrap()), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(embedded_ipv4("2002:7f00:1::".parse().unwrap()), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(embedded_ipv4("2001:db8::1".parse().unwrap()), None);
        // The reason names the range, for the error message.
        assert_eq!(blocked_range(v4("198.18.3.4")), Some("benchmarking 198.18.0.0/15"));
        assert!(is_private(v6("::ffff:127.0.0.1")));
    }
}
