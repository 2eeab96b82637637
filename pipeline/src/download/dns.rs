//! The resolver: an async, caching DNS resolver (hickory) that drops
//! addresses the downloader must not reach (loopback, private, link-local
//! and other special ranges) unless private addresses are allowed.
//!
//! Filtering the resolved addresses, rather than checking a URL before the
//! request, closes the DNS-rebinding gap: the address checked is the address
//! connected to, on every redirect hop.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::config::{LookupIpStrategy, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is a public unicast address a crawler may connect to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // NAT64 (64:ff9b::/96, and the local-use 64:ff9b:1::/48) embeds an IPv4
    // address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0, 0, 0, 0] || s[2] == 1) {
        return is_public_v4(v4(s[6], s[7]));
    }
    // 6to4 (2002::/16) routes to the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return is_public_v4(v4(s[1], s[2]));
    }
    // Teredo (2001::/32): the server's IPv4 address in bits 32..64, the
    // client's, inverted, in the last 32 bits.
    if s[0] == 0x2001 && s[1] == 0 {
        return is_public_v4(v4(s[2], s[3])) && is_public_v4(v4(!s[6], !s[7]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0))
    // IPv4-compatible
}

/// The host resolved only to addresses the downloader refuses.
#[derive(Debug)]
pub struct ForbiddenAddress {
    /// The host name.
    pub host: String,
    /// The addresses it resolved to.
    pub addrs: Vec<IpAddr>,
}

impl fmt::Display for ForbiddenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolves only to non-public addresses {:?} (use --allow-private-addresses to allow)",
            self.host, self.addrs
        )
    }
}

impl std::error::Error for ForbiddenAddress {}

/// A host name that did not resolve.
#[derive(Debug)]
pub struct DnsFailure {
    /// The host name.
    pub host: String,
    /// The resolver's message.
    pub message: String,
}

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DNS lookup of {} failed: {}", self.host, self.message)
    }
}

impl std::error::Error for DnsFailure {}

/// The caching, address-filtering resolver handed to reqwest.
#[derive(Clone)]
pub struct GuardedResolver {
    inner: Arc<TokioResolver>,
    allow_private: bool,
}

impl GuardedResolver {
    /// Builds a resolver from the system configuration (`/etc/resolv.conf`,
    /// hosts file), falling back to public resolvers when it is unreadable.
    /// `cache_size` entries are kept (hickory honours record TTLs).
    pub fn new(allow_private: bool, cache_size: usize) -> Self {
        let mut builder = match TokioResolver::builder_tokio() {
            Ok(b) => b,
            Err(e) => {
                log::warn!(
                    "cannot read the system DNS configuration ({e}); using public resolvers"
                );
                TokioResolver::builder_with_config(
                    ResolverConfig::default(),
                    TokioConnectionProvider::default(),
                )
            }
        };
        let opts = builder.options_mut();
        opts.cache_size = cache_size;
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        Self {
            inner: Arc::new(builder.build()),
            allow_private,
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let lookup = this.inner.lookup_ip(host.as_str()).await.map_err(|e| {
                Box::new(DnsFailure {
                    host: host.clone(),
                    message: e.to_string(),
                }) as Box<dyn std::error::Error + Send + Sync>
            })?;
            let all: Vec<IpAddr> = lookup.iter().collect();
            let allowed: Vec<SocketAddr> = all
                .iter()
                .filter(|ip| this.allow_private || is_public(**ip))
                .map(|ip| SocketAddr::new(*ip, 0))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(ForbiddenAddress { host, addrs: all }) as _);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_ranges_are_not_public() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::7f00:1",
            "2001:db8::1",
            // 6to4 wrapping 127.0.0.1 and 192.168.0.1.
            "2002:7f00:1::1",
            "2002:c0a8:1::",
            // Teredo with a private client (10.0.0.1, inverted) or a loopback server.
            "2001:0:4136:e378:8000:63bf:f5ff:fffe",
            "2001:0:7f00:1:8000:63bf:3fff:fdd2",
        ] {
            assert!(!is_public(s.parse().unwrap()), "{s}");
        }
        for s in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            // 6to4 and NAT64 wrapping 8.8.8.8; Teredo between public hosts.
            "2002:808:808::1",
            "64:ff9b::808:808",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
        ] {
            assert!(is_public(s.parse().unwrap()), "{s}");
        }
    }

    #[tokio::test]
    async fn localhost_name_is_refused_after_resolution() {
        let resolver = GuardedResolver::new(false, 16);
        let name: Name = "localhost".parse().unwrap();
        match resolver.resolve(name).await {
            Err(e) => {
                // Either hosts-file resolution gave loopback (refused), or the
                // sandbox has no resolver at all; both must not connect.
                let forbidden = e.downcast_ref::<ForbiddenAddress>().is_some();
                let dns = e.downcast_ref::<DnsFailure>().is_some();
                assert!(forbidden || dns, "{e}");
            }
            Ok(addrs) => panic!("localhost resolved to {:?}", addrs.collect::<Vec<_>>()),
        }
        let open = GuardedResolver::new(true, 16);
        if let Ok(addrs) = open.resolve("localhost".parse().unwrap()).await {
            assert!(addrs.into_iter().all(|a| a.ip().is_loopback()));
        }
    }
}
