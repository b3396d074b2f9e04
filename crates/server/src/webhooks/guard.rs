//! Where webhook requests may go. Unless `--webhook-allow-private`, a
//! request never reaches loopback, private, link-local, shared, multicast
//! or otherwise internal addresses (an endpoint URL must not become a way
//! into the network cohort runs in): URLs naming such an address are
//! refused when they are saved, and host names are checked again on every
//! request, after resolution, so a name that later resolves inside is
//! refused too. Redirects are never followed.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Whether `ip` is an address outside requests must not reach.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || first & 0xfe00 == 0xfc00 // unique local
                || first & 0xffc0 == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 && v6.segments()[1] == 0xff9b // NAT64 (maps v4)
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a == 100 && (64..128).contains(&b) // shared address space (CGNAT)
        || a == 192 && b == 0 // IETF protocol assignments
        || a == 198 && (b == 18 || b == 19) // benchmarking
        || a >= 240 // reserved
}

/// The destination of `url`, when it names an internal address outright
/// (an IP literal or `localhost`); names are left to `Resolver`.
pub fn internal_destination(url: &url::Url) -> Option<String> {
    let host = url.host()?;
    let internal = match host {
        url::Host::Ipv4(ip) => is_internal(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => is_internal(IpAddr::V6(ip)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    internal.then(|| host.to_string())
}

/// Why `url` may not be an endpoint under this policy, if it may not.
pub fn refusal(url: &str, allow_private: bool) -> Option<String> {
    let parsed = match url::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(err) => return Some(format!("the URL does not parse: {err}")),
    };
    if allow_private {
        return None;
    }
    internal_destination(&parsed).map(|host| {
        format!(
            "{host} is an internal address; webhooks go to public addresses unless the server runs with --webhook-allow-private"
        )
    })
}

/// The system resolver, with internal addresses taken out of every answer
/// (an answer left empty is an error the attempt reports).
pub struct Resolver;

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if public.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = if found.is_empty() {
                    format!("{host} has no address").into()
                } else {
                    format!(
                        "{host} resolves only to internal addresses, which webhooks do not reach"
                    )
                    .into()
                };
                return Err(err);
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
    fn internal_addresses_are_refused_and_public_ones_pass() {
        for internal in [
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
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "93.184.216.34",
        ] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_naming_inside_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]/",
            "https://localhost/hook",
            "http://api.localhost./",
            "http://169.254.169.254/latest/meta-data",
            "http://0x7f000001/",
            "http://2130706433/",
        ] {
            assert!(refusal(url, false).is_some(), "{url}");
            assert!(refusal(url, true).is_none(), "{url}");
        }
        assert!(refusal("https://hooks.example.com/cohort", false).is_none());
        assert!(refusal("http://", true).is_some());
    }

    #[tokio::test]
    async fn names_resolving_inside_are_refused() {
        let err = Resolver.resolve("localhost".parse().unwrap()).await;
        assert!(err.is_err());
    }
}
