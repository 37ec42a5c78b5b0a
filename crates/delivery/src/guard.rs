//! SSRF guard: deliveries go only to public addresses unless an operator allows more.
//!
//! Two layers, because hyper's connector never calls a resolver for IP-literal hosts:
//! [`check_url`] judges literal addresses before every attempt, and [`GuardedResolver`]
//! resolves names once and hands the connector only the allowed addresses, so the
//! address checked is the address connected to (no DNS-rebinding window).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use ipnet::IpNet;

/// Which non-public destinations are allowed.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Networks allowed although private (`ALLOWED_PRIVATE_DESTINATIONS`).
    pub allow_nets: Vec<IpNet>,
    /// `--dev`: loopback is allowed.
    pub allow_loopback: bool,
}

/// A destination refused by the policy.
#[derive(Debug, thiserror::Error)]
#[error(
    "blocked destination {0}: private, loopback, link-local or reserved addresses are not allowed (see ALLOWED_PRIVATE_DESTINATIONS)"
)]
pub struct Blocked(pub String);

impl Policy {
    /// Whether `ip` may be connected to.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        (self.allow_loopback && ip.is_loopback())
            || self.allow_nets.iter().any(|n| n.contains(&ip))
            || is_public(ip)
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // NAT64 and 6to4 carry an IPv4 address: judge that one.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || s[0..6] == [0; 6] // ::/96, IPv4-compatible
        || (s[0] == 0x100 && s[1..4] == [0; 3]) // 100::/64 discard
        || (s[0] == 0x2001 && s[1] < 0x200) // 2001::/23 IETF protocol assignments
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // 64:ff9b:1::/48 local NAT64
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link local
        || (s[0] & 0xffc0) == 0xfec0 // site local
        || (s[0] & 0xff00) == 0xff00) // multicast
}

/// Refuses URLs that are not http(s) or whose host is a disallowed IP literal.
pub fn check_url(policy: &Policy, url: &url::Url) -> Result<(), Blocked> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Blocked(format!(
            "{} (scheme must be http or https)",
            url.scheme()
        )));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(Blocked("(no host)".into())),
    };
    if policy.allows(ip) {
        Ok(())
    } else {
        Err(Blocked(ip.to_string()))
    }
}

/// Resolves with the system resolver and keeps only allowed addresses.
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Arc<Policy>);

/// What resolving gives the connector: the allowed addresses, or why there are none.
pub type Resolved =
    Result<std::vec::IntoIter<SocketAddr>, Box<dyn std::error::Error + Send + Sync>>;

impl GuardedResolver {
    /// The allowed addresses of `host` (port 0: the connector sets the URL's).
    pub async fn resolve(&self, host: &str) -> Resolved {
        let all: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
        let allowed: Vec<SocketAddr> = all
            .iter()
            .copied()
            .filter(|a| self.0.allows(a.ip()))
            .collect();
        if allowed.is_empty() {
            let shown = all
                .first()
                .map_or(host.to_string(), |a| format!("{host} ({})", a.ip()));
            return Err(Box::new(Blocked(shown)));
        }
        Ok(allowed.into_iter())
    }
}

/// The connector's resolver (hyper-util takes any such service).
impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Resolved> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.resolve(name.as_str()).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(p: &Policy, url: &str) -> bool {
        check_url(p, &url::Url::parse(url).unwrap()).is_err()
    }

    #[test]
    fn private_literals_are_refused_in_every_spelling() {
        let p = Policy::default();
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest",
            "http://192.168.0.1/",
            "http://172.20.0.1/",
            "http://0.0.0.0/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://224.0.0.1/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://100.64.0.1/",
            "ftp://example.com/",
        ] {
            assert!(blocked(&p, url), "{url} should be blocked");
        }
        assert!(!blocked(&p, "https://93.184.216.34/"));
        assert!(!blocked(&p, "https://[2606:2800:220:1::]/"));
        assert!(!blocked(&p, "https://example.com/"));
    }

    #[test]
    fn dev_allows_loopback_and_allow_lists_allow_their_networks() {
        let dev = Policy {
            allow_loopback: true,
            ..Default::default()
        };
        assert!(!blocked(&dev, "http://127.0.0.1:3000/"));
        assert!(blocked(&dev, "http://10.0.0.1/"));
        let listed = Policy {
            allow_nets: vec!["10.0.0.0/8".parse().unwrap()],
            ..Default::default()
        };
        assert!(!blocked(&listed, "http://10.9.9.9/"));
        assert!(blocked(&listed, "http://127.0.0.1/"));
    }

    #[tokio::test]
    async fn the_resolver_drops_private_answers() {
        let r = GuardedResolver(Arc::new(Policy::default()));
        let err = r
            .resolve("localhost")
            .await
            .expect_err("localhost is private");
        assert!(err.to_string().contains("blocked destination"));
        let dev = GuardedResolver(Arc::new(Policy {
            allow_loopback: true,
            ..Default::default()
        }));
        let addrs: Vec<_> = dev.resolve("localhost").await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
