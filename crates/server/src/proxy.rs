//! Trusted reverse proxies (`--trusted-proxy`): whose `X-Forwarded-For` and
//! `X-Forwarded-Proto` are believed, and the one rule that turns them into
//! the client's address and scheme. Every use of those headers (the change
//! log's client address, rate limits by address, the admin page's `Secure`
//! cookie) goes through `TrustedProxies::resolve`, through `ops::track`.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The networks whose peers may speak for a client.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// Who a request comes from, as far as cohort may believe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub client: Option<IpAddr>,
    pub https: bool,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(nets)
    }

    /// A network as `--trusted-proxy` takes it: a CIDR (`10.0.0.0/8`,
    /// `fd00::/8`) or one address (`127.0.0.1`, meaning /32 or /128).
    pub fn parse_net(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(net.trunc());
        }
        text.parse::<IpAddr>()
            .map(|ip| IpNet::from(ip.to_canonical()))
            .map_err(|_| format!("{text:?} is neither an address nor a CIDR such as 10.0.0.0/8"))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client and scheme of a request that reached cohort from `peer`
    /// (over TLS or not). Only a trusted peer's forwarding headers count:
    /// the client is the rightmost `X-Forwarded-For` address that is not
    /// itself a trusted proxy (each proxy appends the address it saw, so
    /// everything left of that one was written by the client and proves
    /// nothing); the scheme is the rightmost `X-Forwarded-Proto` entry, the
    /// one the nearest proxy set.
    pub fn resolve(&self, peer: Option<IpAddr>, tls: bool, headers: &HeaderMap) -> Seen {
        let direct = Seen {
            client: peer,
            https: tls,
        };
        let Some(peer) = peer else { return direct };
        if self.0.is_empty() || !self.trusts(peer) {
            return direct;
        }
        let mut client = peer;
        // Right to left over every X-Forwarded-For header, in order.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.iter().rev() {
            // Something unreadable stops the walk: the nearest trusted hop
            // that passed it on is all that is known.
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        let https = headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .map(|proto| proto.trim().eq_ignore_ascii_case("https"))
            .unwrap_or(tls);
        Seen {
            client: Some(client),
            https,
        }
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port
/// (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            nets.iter()
                .map(|n| TrustedProxies::parse_net(n).expect("a network"))
                .collect(),
        )
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("a header value"));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn only_a_trusted_peer_speaks_for_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "127.0.0.1"]);
        let forwarded = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let seen = trusted.resolve(Some(ip("10.1.2.3")), false, &forwarded);
        assert_eq!(
            seen,
            Seen {
                client: Some(ip("203.0.113.9")),
                https: true
            }
        );
        // The same headers from anyone else are ignored.
        let seen = trusted.resolve(Some(ip("198.51.100.7")), false, &forwarded);
        assert_eq!(
            seen,
            Seen {
                client: Some(ip("198.51.100.7")),
                https: false
            }
        );
        // With no trusted proxy at all, nobody is believed.
        let seen = proxies(&[]).resolve(Some(ip("127.0.0.1")), false, &forwarded);
        assert_eq!(seen.client, Some(ip("127.0.0.1")));
        assert!(!seen.https);
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let trusted = proxies(&["10.0.0.0/8", "fd00::/8"]);
        // The client forged the leftmost entry; two trusted hops follow
        // the real client.
        let forwarded = headers(&[
            ("x-forwarded-for", "1.1.1.1, 198.51.100.7"),
            ("x-forwarded-for", "10.0.0.5"),
        ]);
        let seen = trusted.resolve(Some(ip("fd00::1")), true, &forwarded);
        assert_eq!(seen.client, Some(ip("198.51.100.7")));
        // No X-Forwarded-Proto: the connection's own scheme.
        assert!(seen.https);
        // All hops trusted: the leftmost one.
        let seen = trusted.resolve(
            Some(ip("10.0.0.1")),
            false,
            &headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.5")]),
        );
        assert_eq!(seen.client, Some(ip("10.0.0.9")));
        // Garbage stops the walk at the nearest trusted hop reporting it.
        let seen = trusted.resolve(
            Some(ip("10.0.0.1")),
            false,
            &headers(&[("x-forwarded-for", "1.2.3.4, nonsense, 10.0.0.5")]),
        );
        assert_eq!(seen.client, Some(ip("10.0.0.5")));
        // Ports and IPv4-mapped addresses are read as addresses.
        let seen = trusted.resolve(
            Some(ip("::ffff:10.0.0.1")),
            false,
            &headers(&[("x-forwarded-for", "[2001:db8::1]:4711")]),
        );
        assert_eq!(seen.client, Some(ip("2001:db8::1")));
    }

    #[test]
    fn the_nearest_proxy_names_the_scheme() {
        let trusted = proxies(&["127.0.0.0/8"]);
        let seen = trusted.resolve(
            Some(ip("127.0.0.1")),
            false,
            &headers(&[("x-forwarded-proto", "https, http")]),
        );
        assert!(!seen.https);
        let seen = trusted.resolve(
            Some(ip("127.0.0.1")),
            false,
            &headers(&[("x-forwarded-proto", "HTTPS")]),
        );
        assert!(seen.https);
    }

    #[test]
    fn networks_parse_as_cidrs_or_single_addresses() {
        assert_eq!(
            TrustedProxies::parse_net("10.1.2.3/8").map(|n| n.to_string()),
            Ok("10.0.0.0/8".to_string())
        );
        assert_eq!(
            TrustedProxies::parse_net("::1").map(|n| n.to_string()),
            Ok("::1/128".to_string())
        );
        assert!(TrustedProxies::parse_net("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse_net("proxy.example").is_err());
    }
}
