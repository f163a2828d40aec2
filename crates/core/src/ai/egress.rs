//! Where the worker may send a user's documents: a user (not an admin) can point their AI
//! settings at any URL, so without a guard the worker would fetch internal services for them
//! (cloud metadata, the admin port of a database, a router's web UI) — server-side request
//! forgery. For such owners only public addresses are reached: a host written as an address
//! is checked before the request, a name is resolved by [`PublicOnly`], which drops every
//! non-public address, and redirects are not followed. Admins, or every owner when
//! `AI_ALLOW_PRIVATE_ENDPOINTS=true` (Ollama on the LAN of a family server), are not limited.
//!
//! IPv6 is allowed only inside global unicast (2000::/3), and there not in the ranges that
//! carry or reach an IPv4 address a router would translate (6to4, Teredo, and the NAT64
//! prefixes below 2000::/3 are outside anyway) — `64:ff9b::7f00:1` is 127.0.0.1 behind a NAT64
//! gateway. Proxies from the environment are never used for these requests (`HTTP_PROXY` would
//! otherwise decide where a user's URL goes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is an address on the public internet (not loopback, private, link-local,
/// shared, multicast, unspecified or reserved, in either IP version, IPv4-mapped included).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), RFC 6598
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && ip.octets()[2] == 99) // 6to4 relay anycast, RFC 7526
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, ..] = ip.segments();
    // Global unicast only: this leaves out loopback, unspecified, IPv4-compatible (::/96),
    // NAT64 (64:ff9b::/96 and 64:ff9b:1::/48), discard (100::/64), unique local, link-local,
    // site-local and multicast in one test.
    let ietf = first == 0x2001 && second < 0x0200; // protocol assignments incl. Teredo, 2001::/23
    let documentation = (first == 0x2001 && second == 0x0db8) || (first & 0xfff0) == 0x3ff0;
    let six_to_four = first == 0x2002; // an IPv4 address in bits 16–47
    (first & 0xe000) == 0x2000 && !ietf && !documentation && !six_to_four
}

/// Whether a URL's host may be contacted for an owner limited to public addresses. Names are
/// checked again when they are resolved; this catches addresses and `localhost` up front.
pub fn host_allowed(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            !(d == "localhost" || d.ends_with(".localhost"))
        }
        None => false,
    }
}

/// A resolver that answers only public addresses (an error if a name has none).
#[derive(Debug, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address; only an admin may use a private AI endpoint").into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "240.0.0.1",
            "192.88.99.1",
            // IPv4 behind NAT64, 6to4 and Teredo, and IPv4-compatible addresses.
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::127.0.0.1",
            "::10.0.0.1",
            "100::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn checks_hosts_written_in_urls() {
        let ok = |u: &str| host_allowed(&url::Url::parse(u).unwrap());
        assert!(!ok("http://127.0.0.1:11434/v1"));
        assert!(!ok("http://[::1]/v1"));
        assert!(!ok("http://169.254.169.254/latest/meta-data"));
        assert!(!ok("http://localhost:8080/v1"));
        assert!(!ok("http://api.localhost/v1"));
        assert!(!ok("http://[64:ff9b::7f00:1]/v1"));
        assert!(!ok("http://[2002:7f00:1::]/v1"));
        assert!(ok("https://api.openai.com/v1"));
        assert!(ok("https://1.1.1.1/v1"));
    }

    #[tokio::test]
    async fn the_resolver_drops_private_answers() {
        let name: Name = "localhost".parse().unwrap();
        assert!(PublicOnly.resolve(name).await.is_err());
    }
}
