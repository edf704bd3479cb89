//! Which hosts webhook deliveries may go to. To be replaced by the shared outbound host policy
//! of the security work (`--allow-host`), whose rules this follows:
//! - `https` to any host whose addresses are public;
//! - plain `http` only to loopback hosts that the operator allowed (`--allow-host`);
//! - link-local (169.254.0.0/16, fe80::/10: cloud metadata services live there) and
//!   unspecified addresses are always refused, after DNS resolution too;
//! - private, loopback and other non-public addresses only when the URL's host is one the
//!   operator allowed. Internal business applications are allowed by the operator, never
//!   from the web form.
//!
//! URLs are checked when saved and before every attempt ([`check_endpoint_url`]); names are
//! checked again when they are resolved for a connection ([`PolicyResolver`]), so a DNS
//! answer that changes after saving (DNS rebinding) is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// Longest URL accepted.
const MAX_URL: usize = 2048;

/// One `--allow-host` entry: a host name or IP address, with an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// Lower case; IPv6 without brackets.
    pub host: String,
    /// `None` allows every port.
    pub port: Option<u16>,
}

impl AllowedHost {
    /// `HOST`, `HOST:PORT`, `[IPV6]` or `[IPV6]:PORT`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("{text:?} is not HOST or HOST:PORT");
        if text.is_empty() || text.contains(['/', '@', ' ']) {
            return Err(bad());
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, tail) = rest.split_once(']').ok_or_else(bad)?;
            host.parse::<Ipv6Addr>().map_err(|_| bad())?;
            let port = match tail {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(bad)?),
            };
            (host.to_string(), port)
        } else {
            match text.split_once(':') {
                Some((h, p)) if !p.contains(':') => (h.to_string(), Some(p)),
                Some(_) => (
                    text.parse::<Ipv6Addr>().map_err(|_| bad())?.to_string(),
                    None,
                ),
                None => (text.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
            None => None,
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(AllowedHost {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// The hosts the operator allowed, and the rules around them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    pub allowed: Vec<AllowedHost>,
}

impl HostPolicy {
    /// Parses `--allow-host` values and the comma-separated `MAILPORT_ALLOW_HOSTS`.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for entry in entries {
            for part in entry.split(',').filter(|p| !p.trim().is_empty()) {
                allowed.push(AllowedHost::parse(part)?);
            }
        }
        Ok(HostPolicy { allowed })
    }

    /// Whether the operator allowed this host (on this port, when given).
    pub fn allows(&self, host: &str, port: Option<u16>) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.allowed
            .iter()
            .any(|a| a.host == host && (a.port.is_none() || port.is_none() || a.port == port))
    }
}

/// What is wrong with an address for a webhook, if anything.
fn address_problem(ip: IpAddr, host_allowed: bool) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if is_link_local(ip) {
        return Some("a link-local address (where cloud metadata services live)");
    }
    if !host_allowed && !is_public(ip) {
        return Some("not a public address; the operator can allow such a host with --allow-host");
    }
    None
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Globally routable unicast, as far as the standard library and RFC 6890 tell.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || v4.is_unspecified()
                || a == 0
                // Shared address space (RFC 6598), benchmarking (RFC 2544), reserved.
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
                || v4 == Ipv4Addr::new(192, 0, 0, 170))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local (fc00::/7), link-local, documentation (2001:db8::/32).
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

/// Checks a webhook URL against the host policy without resolving names: the scheme, the
/// host (IP literals by their class; `localhost` names as loopback), user info and length.
/// Returns the parsed URL or a sentence saying what is wrong. To be replaced by the shared
/// outbound host policy.
pub fn check_endpoint_url(raw: &str, policy: &HostPolicy) -> Result<Url, String> {
    if raw.len() > MAX_URL {
        return Err("This URL is too long (at most 2,048 characters).".into());
    }
    let url = Url::parse(raw.trim())
        .map_err(|_| "Enter an absolute URL starting with https://.".to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(
            "Only https URLs are allowed (http only for allowed hosts on this machine).".into(),
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The URL must not contain a user name or password.".into());
    }
    if url.fragment().is_some() {
        return Err("The URL must not contain a fragment (#…).".into());
    }
    let host = url.host().ok_or("The URL has no host.")?;
    let allowed = policy.allows(&host.to_string(), url.port_or_known_default());
    let ip = match &host {
        Host::Ipv4(v4) => Some(IpAddr::V4(*v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(*v6)),
        Host::Domain(_) => None,
    };
    let loopback_name = match &host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        _ => false,
    };
    if let Some(ip) = ip
        && let Some(problem) = address_problem(ip, allowed)
    {
        return Err(format!("{host} is refused: it is {problem}."));
    }
    if loopback_name && !allowed {
        return Err(format!(
            "{host} is this machine; the operator can allow it with --allow-host."
        ));
    }
    if url.scheme() == "http" {
        let loopback = loopback_name || ip.is_some_and(|ip| ip.is_loopback());
        if !(loopback && allowed) {
            return Err(
                "Plain http is only allowed to hosts on this machine that the operator allowed \
                 (--allow-host); use https."
                    .into(),
            );
        }
    }
    Ok(url)
}

/// Resolves host names for the webhook client and refuses any answer the policy forbids
/// (every address must pass, so that no connection attempt reaches a forbidden one).
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    pub policy: Arc<HostPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = policy.allows(&host, None);
            for addr in &addrs {
                if let Some(problem) = address_problem(addr.ip(), allowed) {
                    return Err(format!(
                        "refused by the host policy: {host} resolves to {} ({problem})",
                        addr.ip()
                    )
                    .into());
                }
            }
            let out: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str]) -> HostPolicy {
        HostPolicy::parse(hosts.iter().copied()).unwrap()
    }

    #[test]
    fn link_local_and_unspecified_are_refused_even_when_allowed() {
        let p = policy(&["169.254.169.254", "[fe80::1]", "0.0.0.0"]);
        for url in [
            "https://169.254.169.254/latest/meta-data/",
            "http://169.254.169.254/",
            "https://[fe80::1]/hook",
            "https://[::ffff:169.254.169.254]/hook",
            "https://0.0.0.0/hook",
            "https://[::]/hook",
        ] {
            let e = check_endpoint_url(url, &p).unwrap_err();
            assert!(e.contains("refused"), "{url}: {e}");
        }
    }

    #[test]
    fn private_and_loopback_addresses_need_the_operator() {
        let none = HostPolicy::default();
        for url in [
            "https://10.0.0.5/hook",
            "https://192.168.1.1/hook",
            "https://172.16.0.1/hook",
            "https://100.64.0.1/hook",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://[fd00:ec2::254]/hook",
            "https://localhost/hook",
            "http://127.0.0.1:9/hook",
        ] {
            assert!(check_endpoint_url(url, &none).is_err(), "{url}");
        }
        let p = policy(&["10.0.0.5", "127.0.0.1:9900", "localhost"]);
        assert!(check_endpoint_url("https://10.0.0.5/hook", &p).is_ok());
        assert!(check_endpoint_url("http://127.0.0.1:9900/hook", &p).is_ok());
        assert!(check_endpoint_url("http://127.0.0.1:9901/hook", &p).is_err());
        assert!(check_endpoint_url("http://localhost:1234/hook", &p).is_ok());
        // Allowed, but plain http leaves the machine: refused.
        assert!(check_endpoint_url("http://10.0.0.5/hook", &p).is_err());
    }

    #[test]
    fn public_https_is_fine_and_odd_urls_are_not() {
        let none = HostPolicy::default();
        assert!(check_endpoint_url("https://erp.example.com/hooks/mail", &none).is_ok());
        assert!(check_endpoint_url("https://93.184.216.34/hook", &none).is_ok());
        for url in [
            "http://erp.example.com/hook",
            "ftp://erp.example.com/",
            "https://user:pw@erp.example.com/",
            "https://erp.example.com/#x",
            "javascript:alert(1)",
            "/relative",
            "",
        ] {
            assert!(check_endpoint_url(url, &none).is_err(), "{url}");
        }
    }

    #[tokio::test]
    async fn names_are_refused_when_they_resolve_to_forbidden_addresses() {
        use reqwest::dns::Resolve;
        let strict = PolicyResolver {
            policy: Arc::new(HostPolicy::default()),
        };
        let refused = strict
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("refused");
        assert!(
            refused.to_string().contains("refused by the host policy"),
            "{refused}"
        );
        let allowing = PolicyResolver {
            policy: Arc::new(policy(&["localhost"])),
        };
        assert!(allowing.resolve("localhost".parse().unwrap()).await.is_ok());
    }

    #[test]
    fn allow_host_entries_parse() {
        let p = policy(&["127.0.0.1, erp.internal:8443", "[::1]:9000"]);
        assert!(p.allows("127.0.0.1", Some(1)));
        assert!(p.allows("ERP.internal", Some(8443)));
        assert!(!p.allows("erp.internal", Some(443)));
        assert!(p.allows("[::1]", Some(9000)));
        for bad in ["http://x", "a b", "h:port", "[::1", ":80"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }
}
