//! The client address of a request: the TCP peer, or — only when the peer is one of the
//! operator's reverse proxies (`trusted_proxies` in gavel.toml) — the address that proxy says it
//! forwarded for.
//!
//! Invariants:
//! * a forwarding header is read only when the peer is a trusted proxy; from anyone else it is
//!   ignored, so a client can never choose its own address (and its own budget);
//! * from a trusted peer, `X-Forwarded-For` (every occurrence, in order) is read right to left and
//!   the first address that is not itself a trusted proxy is the client; if the header is
//!   absent, `Forwarded` (RFC 7239) `for=` is read the same way. Entries left of the client are
//!   whatever the client sent and are never looked at;
//! * a header that cannot be read (not an address, `unknown`, an obfuscated name, not ASCII)
//!   before the client is found means the peer is the client: a malformed header never
//!   yields an address, and never fails the request;
//! * the layer ([`resolve`]) runs first, so every later use — the budgets of the unauthenticated
//!   routes, share-link access records, the aggregation of failed authentications, the access
//!   log — reads the same [`ClientAddr`].

use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The address budgets and records are kept under (a request extension set by [`resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// What [`resolve`] stored; without it (a router used without the layer's connection info,
    /// as in tests that call it directly), the peer, else the unspecified address.
    pub fn of(parts: &Parts) -> ClientAddr {
        parts.extensions.get::<ClientAddr>().copied().unwrap_or_else(|| ClientAddr(peer(&parts.extensions)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(parts))
    }
}

fn peer(extensions: &axum::http::Extensions) -> IpAddr {
    extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// The operator's reverse proxies: the only peers whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses; the error names the entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpNet>().or_else(|_| e.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                    format!("trusted_proxies entry {e:?} is not a CIDR (e.g. \"10.0.0.0/8\") or an address")
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let forwarded_for = HeaderName::from_static("x-forwarded-for");
        let chain = if headers.contains_key(&forwarded_for) {
            joined(headers, &forwarded_for).map(|all| all.split(',').map(parse_xff_entry).collect::<Vec<_>>())
        } else if headers.contains_key(axum::http::header::FORWARDED) {
            joined(headers, &axum::http::header::FORWARDED).map(|all| parse_forwarded(&all))
        } else {
            return peer;
        };
        let Some(chain) = chain else { return peer };
        for hop in chain.into_iter().rev() {
            match hop {
                Some(addr) if self.contains(addr) => continue,
                Some(addr) => return canonical(addr),
                None => return peer,
            }
        }
        // Every hop is one of the operator's proxies: the request started there.
        peer
    }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`, how a dual-stack socket reports it) is the
/// IPv4 address: one client, one budget, and `10.0.0.0/8` matches it.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// Every occurrence of a header joined with commas (RFC 9110: the same as one list); `None` when
/// one is not visible ASCII.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let values: Option<Vec<&str>> = headers.get_all(name).iter().map(|v| v.to_str().ok()).collect();
    values.map(|v| v.join(","))
}

/// One `X-Forwarded-For` entry: an address, possibly `[v6]:port` or `v4:port` as some proxies
/// write it.
fn parse_xff_entry(entry: &str) -> Option<IpAddr> {
    parse_node(entry.trim())
}

/// A node as written in `X-Forwarded-For` or in `Forwarded: for=` (quotes already removed).
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(addr) = node.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok())) {
            return None;
        }
        return v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    node.parse::<SocketAddr>().ok().filter(SocketAddr::is_ipv4).map(|s| s.ip())
}

/// The `for=` node of each element of a `Forwarded` header, in order (`None` for an element
/// without one, or one that is not an address: `unknown`, `_hidden`, garbage).
fn parse_forwarded(all: &str) -> Vec<Option<IpAddr>> {
    all.split(',')
        .map(|element| {
            let node = element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
            })?;
            let node = match node.strip_prefix('"') {
                Some(quoted) => quoted.strip_suffix('"')?,
                None => node,
            };
            parse_node(node)
        })
        .collect()
}

/// The layer (outermost but for nothing): sets the request's [`ClientAddr`].
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = peer(req.extensions());
    let client = state.trusted_proxies.client(peer, req.headers());
    req.extensions_mut().insert(ClientAddr(client));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let p = proxies(&["10.0.0.0/8"]);
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(p.client(ip("192.0.2.9"), &spoofed), ip("192.0.2.9"));
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.1"), &spoofed), ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "fd00::/8"]);
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.1.1")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("203.0.113.7"), "the client's own claim is left of it");
        let two = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "203.0.113.8, 10.2.2.2")]);
        assert_eq!(p.client(ip("10.0.0.1"), &two), ip("203.0.113.8"), "occurrences are one list");
        let v6 = headers(&[("x-forwarded-for", "[2001:db8::1]:4711")]);
        assert_eq!(p.client(ip("fd00::1"), &v6), ip("2001:db8::1"));
        let mapped = headers(&[("x-forwarded-for", "::ffff:198.51.100.4")]);
        assert_eq!(p.client(ip("::ffff:10.0.0.1"), &mapped), ip("198.51.100.4"), "mapped IPv4 is IPv4");
        let all_proxies = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(p.client(ip("10.0.0.1"), &all_proxies), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let p = proxies(&["127.0.0.1"]);
        let h = headers(&[("forwarded", r#"for=192.0.2.60;proto=http, For="[2001:db8:cafe::17]:4711""#)]);
        assert_eq!(p.client(ip("127.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=198.51.100.17;by=203.0.113.43, for=127.0.0.1")]);
        assert_eq!(p.client(ip("127.0.0.1"), &h), ip("198.51.100.17"));
        let both = headers(&[("x-forwarded-for", "203.0.113.1"), ("forwarded", "for=203.0.113.2")]);
        assert_eq!(p.client(ip("127.0.0.1"), &both), ip("203.0.113.1"));
    }

    #[test]
    fn a_malformed_header_means_the_peer_is_the_client() {
        let p = proxies(&["127.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        for h in [
            headers(&[("x-forwarded-for", "not-an-address")]),
            headers(&[("x-forwarded-for", "203.0.113.1, garbage")]),
            headers(&[("x-forwarded-for", "")]),
            headers(&[("x-forwarded-for", "203.0.113.1:99999")]),
            headers(&[("x-forwarded-for", "[2001:db8::1]x")]),
            headers(&[("forwarded", "for=unknown")]),
            headers(&[("forwarded", "for=_hidden")]),
            headers(&[("forwarded", "for=\"203.0.113.1")]),
            headers(&[("forwarded", "proto=https")]),
        ] {
            assert_eq!(p.client(peer, &h), peer, "{h:?}");
        }
        let mut binary = HeaderMap::new();
        binary.insert("x-forwarded-for", HeaderValue::from_bytes(b"203.0.113.1\xff").unwrap());
        assert_eq!(p.client(peer, &binary), peer);
    }

    #[test]
    fn entries_must_be_cidrs_or_addresses() {
        assert!(proxies(&["10.0.0.0/8", "192.0.2.1", "::1", "fd00::/8"]).contains(ip("10.200.0.1")));
        let bad = TrustedProxies::parse(&["10.0.0.0/33".to_string()]).unwrap_err();
        assert!(bad.contains("10.0.0.0/33"), "{bad}");
        assert!(TrustedProxies::parse(&["proxy.internal".to_string()]).is_err());
    }
}
