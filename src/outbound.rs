//! The outbound host policy: the one place that decides where Mailport may send a request
//! that carries a secret or a token (the token endpoint, the authorization redirect, Graph
//! with its paging links, and webhooks).
//!
//! The rules:
//! - By default only Microsoft's clouds receive secrets and tokens: the sign-in hosts
//!   `login.microsoftonline.com`, `login.microsoftonline.us`, `login.chinacloudapi.cn`,
//!   `login.partner.microsoftonline.cn` and the Graph hosts `graph.microsoft.com`,
//!   `graph.microsoft.us`, `dod-graph.microsoft.us`, `microsoftgraph.chinacloudapi.cn`
//!   (Microsoft's "National cloud deployments" page), over https on port 443.
//! - Other hosts (the sandbox, a test IdP, an on-premises proxy) only when the operator
//!   allows them on the server (`--allow-host HOST[:PORT]`, `MAILPORT_ALLOW_HOSTS`), never
//!   from a web form. A host without a port allows every port of it. Plain http only to an
//!   allowed loopback host (`localhost`, `127.0.0.0/8`, `::1`).
//! - Addresses are checked after DNS resolution, inside the HTTP client's resolver, so the
//!   address checked is the address connected to: link-local (the cloud metadata service at
//!   169.254.169.254), unspecified, multicast and broadcast addresses are always refused;
//!   private, loopback and other non-global addresses only for a host the allow setting names.
//! - The Graph host that receives a credential's access token must be in the same cloud as
//!   the credential's token host, or be allowed explicitly.
//! - Webhooks ([`Use::Webhook`]) may go to any https host with public (global) addresses,
//!   and to allowed hosts (internal business applications) as above.
//! - No URL carries user information or a fragment; `localhost` (and names under it) is
//!   this machine, allowed only when named.
//!
//! Every outbound client is built here ([`HostPolicy::client`]) and checks each request's
//! URL before sending ([`OutboundClient::request`], [`OutboundClient::execute`]); its
//! resolver applies the address rules. A refusal is a [`Refused`] error whose text says what
//! to do, and nothing is sent.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use url::Url;

use crate::metrics::Metrics;

/// A Microsoft cloud: the hosts that sign users in and the hosts of its Graph. Tokens of
/// one cloud do not work in another ("National cloud deployments", Microsoft Learn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cloud {
    pub name: &'static str,
    pub login_hosts: &'static [&'static str],
    pub graph_hosts: &'static [&'static str],
}

/// Microsoft's clouds. US Government and US DoD share a sign-in host, so they are one cloud
/// here with two Graph hosts.
pub const CLOUDS: &[Cloud] = &[
    Cloud {
        name: "global",
        login_hosts: &["login.microsoftonline.com"],
        graph_hosts: &["graph.microsoft.com"],
    },
    Cloud {
        name: "US Government",
        login_hosts: &["login.microsoftonline.us"],
        graph_hosts: &["graph.microsoft.us", "dod-graph.microsoft.us"],
    },
    Cloud {
        name: "China (21Vianet)",
        login_hosts: &["login.chinacloudapi.cn", "login.partner.microsoftonline.cn"],
        graph_hosts: &["microsoftgraph.chinacloudapi.cn"],
    },
];

/// What a request is for: decides which hosts are allowed without the allow setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// The token endpoint and the authorization redirect: Microsoft's sign-in hosts.
    SignIn,
    /// Graph: Microsoft's Graph hosts.
    Graph,
    /// Webhook deliveries: any https host with global addresses.
    Webhook,
}

impl Use {
    fn default_hosts(self) -> impl Iterator<Item = &'static str> {
        CLOUDS.iter().flat_map(move |c| match self {
            Use::SignIn => c.login_hosts.iter().copied(),
            Use::Graph => c.graph_hosts.iter().copied(),
            Use::Webhook => [].iter().copied(),
        })
    }
}

/// The cloud a host belongs to, if it is one of Microsoft's.
pub fn cloud_of(host: &str) -> Option<&'static Cloud> {
    let host = normalise_name(host);
    CLOUDS
        .iter()
        .find(|c| c.login_hosts.contains(&host.as_str()) || c.graph_hosts.contains(&host.as_str()))
}

/// True for Microsoft's sign-in and Graph hosts (whose error texts Mailport may show).
pub fn is_microsoft_host(host: &str) -> bool {
    cloud_of(host).is_some()
}

/// Where a URL sends what it is given: scheme, host and port, as an origin (RFC 6454),
/// lower case. A secret entered for one origin is never sent to another.
pub fn origin_of(url: &str) -> Option<String> {
    Url::parse(url.trim())
        .ok()
        .map(|u| u.origin().ascii_serialization().to_ascii_lowercase())
}

/// Lower case, without the trailing dot of a fully qualified name.
fn normalise_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// A host the operator allowed with `--allow-host`: `HOST` (every port) or `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: Host,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Name(String),
    Ip(IpAddr),
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (Host::Name(n), None) => write!(f, "{n}"),
            (Host::Name(n), Some(p)) => write!(f, "{n}:{p}"),
            (Host::Ip(IpAddr::V6(ip)), Some(p)) => write!(f, "[{ip}]:{p}"),
            (Host::Ip(ip), None) => write!(f, "{ip}"),
            (Host::Ip(ip), Some(p)) => write!(f, "{ip}:{p}"),
        }
    }
}

impl FromStr for AllowedHost {
    type Err = String;

    /// `sandbox.internal`, `127.0.0.1:9900`, `[::1]:9900`, `::1`. No scheme, path, user
    /// information or wildcard.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || {
            format!(
                "{text:?} is not HOST or HOST:PORT (examples: login.example.com, 127.0.0.1:9900, [::1]:9900)"
            )
        };
        if text.is_empty()
            || text.contains("://")
            || text.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | '*' | '\\' | '?')
            })
        {
            return Err(bad());
        }
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(AllowedHost {
                host: Host::Ip(ip),
                port: None,
            });
        }
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(AllowedHost {
                host: Host::Ip(addr.ip()),
                port: Some(addr.port()),
            });
        }
        let (name, port) = match text.rsplit_once(':') {
            Some((name, port)) => (name, Some(port.parse::<u16>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let name = normalise_name(name);
        let valid_label = |l: &str| {
            (1..=63).contains(&l.len())
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.len() > 253 || !name.split('.').all(valid_label) {
            return Err(bad());
        }
        Ok(AllowedHost {
            host: Host::Name(name),
            port,
        })
    }
}

impl AllowedHost {
    /// Exactly this address and port (the sandbox, a test server).
    pub fn socket(addr: SocketAddr) -> Self {
        AllowedHost {
            host: Host::Ip(addr.ip()),
            port: Some(addr.port()),
        }
    }

    fn names(&self, host: &url::Host<&str>) -> bool {
        match (&self.host, host) {
            (Host::Name(n), url::Host::Domain(d)) => *n == normalise_name(d),
            (Host::Ip(ip), url::Host::Ipv4(v4)) => ip.to_canonical() == IpAddr::V4(*v4),
            (Host::Ip(ip), url::Host::Ipv6(v6)) => {
                ip.to_canonical() == IpAddr::V6(*v6).to_canonical()
            }
            _ => false,
        }
    }

    fn matches(&self, host: &url::Host<&str>, port: u16) -> bool {
        self.names(host) && self.port.is_none_or(|p| p == port)
    }
}

/// The error code recorded wherever the policy refused a destination (credential status,
/// run log, API).
pub const REFUSED_CODE: &str = "host_not_allowed";

/// Why a destination was refused. The text names the host and what to do; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    message: String,
}

impl Refused {
    fn new(message: impl Into<String>) -> Self {
        Refused {
            message: message.into(),
        }
    }

    /// The explanation shown to the administrator.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Finds a refusal in an error's source chain (reqwest wraps what the resolver returns).
    pub fn find_in<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Refused> {
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(refused) = e.downcast_ref::<Refused>() {
                return Some(refused);
            }
            current = e.source();
        }
        None
    }
}

const ALLOW_HINT: &str = "Mailport sends secrets and tokens only to Microsoft's sign-in and Graph \
    hosts, and to hosts that the server's --allow-host setting (MAILPORT_ALLOW_HOSTS) names";

/// The policy: Microsoft's hosts plus the operator's allowed hosts. Cheap to clone.
#[derive(Clone)]
pub struct HostPolicy {
    inner: Arc<Inner>,
}

struct Inner {
    allowed: Vec<AllowedHost>,
    /// Names answered without asking the system resolver (tests and `localhost`).
    fixed_dns: HashMap<String, Vec<IpAddr>>,
}

impl fmt::Debug for HostPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let allowed: Vec<String> = self.inner.allowed.iter().map(|a| a.to_string()).collect();
        f.debug_struct("HostPolicy")
            .field("allowed", &allowed)
            .finish()
    }
}

impl Default for HostPolicy {
    fn default() -> Self {
        HostPolicy::new(Vec::new())
    }
}

/// `localhost` always means this machine (RFC 6761 §6.3); it is never asked of DNS.
fn localhost_addrs() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]
}

impl HostPolicy {
    /// Microsoft's hosts plus `allowed`.
    pub fn new(allowed: Vec<AllowedHost>) -> Self {
        let mut fixed_dns = HashMap::new();
        fixed_dns.insert("localhost".to_string(), localhost_addrs());
        HostPolicy {
            inner: Arc::new(Inner { allowed, fixed_dns }),
        }
    }

    /// Parses a comma-separated list (`MAILPORT_ALLOW_HOSTS`): `a.example,127.0.0.1:9900`.
    pub fn parse_list(text: &str) -> Result<Vec<AllowedHost>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(AllowedHost::from_str)
            .collect()
    }

    /// This policy, with `name` resolving to `addrs` instead of asking DNS. For tests, which
    /// have no DNS: it lets them show what happens when a name resolves to a refused address.
    pub fn with_fixed_dns(self, name: &str, addrs: Vec<IpAddr>) -> Self {
        let mut fixed_dns = self.inner.fixed_dns.clone();
        fixed_dns.insert(normalise_name(name), addrs);
        HostPolicy {
            inner: Arc::new(Inner {
                allowed: self.inner.allowed.clone(),
                fixed_dns,
            }),
        }
    }

    /// The operator's allowed hosts.
    pub fn allowed(&self) -> &[AllowedHost] {
        &self.inner.allowed
    }

    fn explicitly_allowed(&self, host: &url::Host<&str>, port: u16) -> bool {
        self.inner.allowed.iter().any(|a| a.matches(host, port))
    }

    /// Whether the allow setting names this host (by name or address, any port).
    fn names_host(&self, host: &url::Host<&str>) -> bool {
        self.inner.allowed.iter().any(|a| a.names(host))
    }

    /// Parses `raw` and checks it for `purpose`; see [`HostPolicy::check_url`].
    pub fn check(&self, raw: &str, purpose: Use) -> Result<Url, Refused> {
        let url = Url::parse(raw.trim())
            .map_err(|_| Refused::new("this is not an absolute URL (https://…)"))?;
        self.check_url(&url, purpose)?;
        Ok(url)
    }

    /// Checks a URL without resolving its host: scheme, user information, host and port
    /// against the rules of the module. Addresses of names are checked when a request
    /// connects ([`HostPolicy::client`]); IP literals are checked here.
    ///
    /// Errors: [`Refused`], saying why and what the operator can do.
    pub fn check_url(&self, url: &Url, purpose: Use) -> Result<(), Refused> {
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Refused::new("only https URLs are allowed"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::new(
                "the URL must not contain a user name or password",
            ));
        }
        if url.fragment().is_some() {
            return Err(Refused::new("the URL must not contain a fragment (#…)"));
        }
        let Some(host) = url.host() else {
            return Err(Refused::new("the URL has no host"));
        };
        let Some(port) = url.port_or_known_default() else {
            return Err(Refused::new("the URL has no port"));
        };
        let shown = url.host_str().unwrap_or_default();
        let explicit = self.explicitly_allowed(&host, port);
        let literal = match host {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = literal {
            // Refused whatever the setting says: link-local, unspecified, multicast.
            if let Some(reason) = refused_address(ip, true) {
                return Err(Refused::new(format!(
                    "{shown} is {reason}; {ALLOW_HINT}, never to such addresses"
                )));
            }
            let public_webhook = purpose == Use::Webhook && is_global(ip);
            if !explicit && !public_webhook {
                return Err(Refused::new(format!(
                    "{shown} is not allowed: {ALLOW_HINT}"
                )));
            }
        }
        if is_loopback_host(&host) && !explicit {
            return Err(Refused::new(format!(
                "{shown} is this machine, which is not allowed: {ALLOW_HINT}"
            )));
        }
        if url.scheme() == "http" {
            return if explicit && is_loopback_host(&host) {
                Ok(())
            } else {
                Err(Refused::new(format!(
                    "plain http is allowed only to a loopback host (localhost, 127.0.0.1) that the server's --allow-host setting names; use https for {shown}"
                )))
            };
        }
        if explicit {
            return Ok(());
        }
        let name = normalise_name(shown);
        match purpose {
            Use::SignIn | Use::Graph => {
                let microsoft = purpose.default_hosts().any(|h| h == name);
                if microsoft && port == 443 {
                    Ok(())
                } else if microsoft {
                    Err(Refused::new(format!(
                        "{shown} is reached on port 443 only, not {port}"
                    )))
                } else if self.names_host(&host) {
                    Err(Refused::new(format!(
                        "{shown} is allowed by the server's --allow-host setting only on other ports, not {port}"
                    )))
                } else {
                    let what = if purpose == Use::SignIn {
                        "a Microsoft sign-in host"
                    } else {
                        "a Microsoft Graph host"
                    };
                    Err(Refused::new(format!(
                        "{shown} is not {what} and not allowed: {ALLOW_HINT}"
                    )))
                }
            }
            // Any public https host; the addresses of a name are checked when connecting.
            Use::Webhook => Ok(()),
        }
    }

    /// Checks that `graph_url` may receive the access tokens of a credential whose token
    /// endpoint is `token_url`: the Graph host must be in the same Microsoft cloud as the
    /// token host, or be allowed explicitly (a sandbox, a proxy).
    pub fn check_graph_for(&self, graph_url: &str, token_url: &str) -> Result<Url, Refused> {
        let graph = self.check(graph_url, Use::Graph)?;
        let host = graph.host().ok_or_else(|| Refused::new("no host"))?;
        let port = graph.port_or_known_default().unwrap_or(0);
        if self.explicitly_allowed(&host, port) {
            return Ok(graph);
        }
        let graph_cloud = graph.host_str().and_then(cloud_of);
        let token_host = Url::parse(token_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let token_cloud = cloud_of(&token_host);
        match (graph_cloud, token_cloud) {
            (Some(g), Some(t)) if g == t => Ok(graph),
            (Some(g), _) => Err(Refused::new(format!(
                "{} belongs to Microsoft's {} cloud, but the credential's token endpoint {token_host} does not: its access tokens would be sent to another cloud. Choose the Graph URL of the credential's cloud",
                graph.host_str().unwrap_or_default(),
                g.name
            ))),
            (None, _) => Err(Refused::new(format!(
                "{} is not a Microsoft Graph host: {ALLOW_HINT}",
                graph.host_str().unwrap_or_default()
            ))),
        }
    }

    /// Checks a URL and resolves its host now, checking every address: what a request would
    /// meet when it connects. For checks before saving (a webhook URL) and diagnostics.
    pub async fn check_resolved(&self, raw: &str, purpose: Use) -> Result<Url, Refused> {
        let url = self.check(raw, purpose)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            let resolver = PolicyResolver {
                policy: self.clone(),
                purpose,
            };
            resolver.lookup(name).await?;
        }
        Ok(url)
    }

    /// An HTTP client for `purpose`: `builder` plus no redirects and this policy's resolver.
    /// Use [`OutboundClient::request`] or [`OutboundClient::execute`], which check each URL.
    pub fn client(
        &self,
        purpose: Use,
        builder: reqwest::ClientBuilder,
    ) -> reqwest::Result<OutboundClient> {
        let http = builder
            // A redirect from a token or Graph endpoint is an SSRF vector, not a feature.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver {
                policy: self.clone(),
                purpose,
            }))
            .build()?;
        Ok(OutboundClient {
            http,
            policy: self.clone(),
            purpose,
            metrics: None,
        })
    }
}

/// `localhost` and names under it (RFC 6761 §6.3).
fn is_localhost_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => is_localhost_name(&normalise_name(d)),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).to_canonical().is_loopback(),
    }
}

/// Why an address is refused, if it is: always for link-local, unspecified, multicast and
/// broadcast addresses; for anything but global unicast unless the host is allowed
/// explicitly.
fn refused_address(ip: IpAddr, explicitly_allowed: bool) -> Option<&'static str> {
    let ip = ip.to_canonical();
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    };
    if link_local {
        return Some("a link-local address (such as the cloud metadata service)");
    }
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_multicast() || broadcast {
        return Some("a multicast or broadcast address");
    }
    if !explicitly_allowed && !is_global(ip) {
        return Some("a private, loopback or reserved address");
    }
    None
}

/// Global unicast: the public internet, where Microsoft's hosts live.
fn is_global(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // 2000::/3, without documentation (2001:db8::/32), Teredo (2001::/32), 6to4
            // (2002::/16) and ORCHIDv2 (2001:20::/28), which can hide other addresses.
            (s[0] & 0xe000) == 0x2000
                && !(s[0] == 0x2001 && (s[1] == 0x0db8 || s[1] == 0 || (s[1] & 0xfff0) == 0x20))
                && s[0] != 0x2002
        }
    }
}

/// The resolver inside every outbound client: resolves, then applies the address rules.
struct PolicyResolver {
    policy: HostPolicy,
    purpose: Use,
}

impl PolicyResolver {
    async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, Refused> {
        let name = normalise_name(name);
        let host = url::Host::Domain(name.as_str());
        let explicit = self.policy.names_host(&host);
        let default_host = self.purpose.default_hosts().any(|h| h == name);
        if !explicit && !default_host && self.purpose != Use::Webhook {
            return Err(Refused::new(format!("{name} is not allowed: {ALLOW_HINT}")));
        }
        let addrs: Vec<IpAddr> = match self.policy.inner.fixed_dns.get(&name) {
            Some(fixed) => fixed.clone(),
            None if is_localhost_name(&name) => localhost_addrs(),
            None => tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|e| Refused::new(format!("{name} could not be resolved: {e}")))?
                .map(|a| a.ip())
                .collect(),
        };
        if addrs.is_empty() {
            return Err(Refused::new(format!("{name} has no addresses")));
        }
        for ip in &addrs {
            if let Some(reason) = refused_address(*ip, explicit) {
                tracing::warn!(host = ?name, address = %ip, "refused an outbound connection");
                return Err(Refused::new(format!(
                    "{name} resolves to {ip}, {reason}; nothing was sent. {ALLOW_HINT}, never to link-local or unspecified addresses, and to private ones only when the setting names the host"
                )));
            }
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = PolicyResolver {
            policy: self.policy.clone(),
            purpose: self.purpose,
        };
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolver.lookup(&name).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// An HTTP client bound to the policy for one [`Use`]: every request's URL is checked
/// before it is sent, and every connection's addresses when it is made.
#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    policy: HostPolicy,
    purpose: Use,
    /// The app instance's metrics, recorded by whoever sends with this client.
    metrics: Option<Metrics>,
}

impl fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundClient")
            .field("purpose", &self.purpose)
            .field("policy", &self.policy)
            .finish()
    }
}

impl OutboundClient {
    pub fn policy(&self) -> &HostPolicy {
        &self.policy
    }

    /// This client, recording into `metrics` (see [`crate::metrics`] for why the registry
    /// travels with the clients instead of being global).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The metrics of the app instance this client belongs to; `None` for a client built
    /// without (a Graph client tested on its own).
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// Checks a URL for this client's use ([`HostPolicy::check_url`]).
    pub fn check(&self, url: &Url) -> Result<(), Refused> {
        self.policy.check_url(url, self.purpose)
    }

    /// A request builder for `url`, once the URL passed the policy.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: Url,
    ) -> Result<reqwest::RequestBuilder, Refused> {
        self.check(&url)?;
        Ok(self.http.request(method, url))
    }

    /// Sends a prepared request, once its URL passed the policy. A refusal comes back as
    /// `Err(Ok(refused))`, a transport error as `Err(Err(e))`.
    pub async fn execute(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, Result<Refused, reqwest::Error>> {
        self.check(request.url()).map_err(Ok)?;
        self.http
            .execute(request)
            .await
            .map_err(|e| match Refused::find_in(&e) {
                Some(refused) => Ok(refused.clone()),
                None => Err(e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &str) -> HostPolicy {
        HostPolicy::new(HostPolicy::parse_list(allowed).expect("list"))
    }

    #[test]
    fn microsoft_hosts_pass_and_others_need_the_setting() {
        let p = policy("");
        for ok in [
            "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            "https://LOGIN.microsoftonline.us./t/oauth2/v2.0/token",
            "https://login.partner.microsoftonline.cn/t/oauth2/v2.0/token",
        ] {
            assert!(p.check(ok, Use::SignIn).is_ok(), "{ok}");
        }
        assert!(
            p.check("https://graph.microsoft.com/v1.0", Use::Graph)
                .is_ok()
        );
        for bad in [
            "https://graph.microsoft.com/v1.0",
            "https://login.microsoftonline.com:8443/t",
            "http://login.microsoftonline.com/t",
            "https://login.microsoftonline.com.evil.example/t",
            "https://evil.example/t",
            "https://169.254.169.254/latest",
            "https://10.0.0.1/t",
            "https://127.0.0.1/t",
            "http://127.0.0.1:9900/t",
            "http://localhost:9900/t",
            "https://user@login.microsoftonline.com/t",
            "ftp://login.microsoftonline.com/t",
            "https://[::ffff:169.254.169.254]/t",
            "https://0x7f000001/t",
        ] {
            assert!(p.check(bad, Use::SignIn).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_allow_setting_opens_named_hosts_and_ports_only() {
        let p = policy("127.0.0.1:9900, idp.example.com, 10.1.2.3");
        assert!(p.check("http://127.0.0.1:9900/t", Use::SignIn).is_ok());
        assert!(p.check("http://127.0.0.1:9901/t", Use::SignIn).is_err());
        assert!(
            p.check("https://idp.example.com:8443/t", Use::SignIn)
                .is_ok()
        );
        assert!(p.check("http://idp.example.com/t", Use::SignIn).is_err());
        assert!(p.check("https://10.1.2.3/t", Use::Graph).is_ok());
        assert!(p.check("http://10.1.2.3/t", Use::Graph).is_err());
        let metadata = policy("169.254.169.254,0.0.0.0");
        assert!(
            metadata
                .check("https://169.254.169.254/t", Use::SignIn)
                .is_err()
        );
        assert!(metadata.check("https://0.0.0.0/t", Use::SignIn).is_err());
        let local = policy("localhost:9900");
        assert!(local.check("http://localhost:9900/t", Use::SignIn).is_ok());
    }

    #[test]
    fn allowed_host_entries_are_parsed_strictly() {
        for ok in [
            "a.example",
            "a.example:1",
            "127.0.0.1",
            "[::1]:9900",
            "::1",
            "[::1]",
        ] {
            assert!(ok.parse::<AllowedHost>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "https://a.example",
            "a.example/x",
            "*.example",
            "u@a.example",
            "a.example:99999",
            "a..example",
            "a b",
        ] {
            assert!(bad.parse::<AllowedHost>().is_err(), "{bad}");
        }
    }

    #[test]
    fn graph_must_be_in_the_token_hosts_cloud() {
        let p = policy("127.0.0.1:9900");
        let global = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
        let us = "https://login.microsoftonline.us/t/oauth2/v2.0/token";
        assert!(
            p.check_graph_for("https://graph.microsoft.com/v1.0", global)
                .is_ok()
        );
        assert!(
            p.check_graph_for("https://dod-graph.microsoft.us/v1.0", us)
                .is_ok()
        );
        assert!(
            p.check_graph_for("https://graph.microsoft.us/v1.0", global)
                .is_err()
        );
        assert!(
            p.check_graph_for(
                "https://graph.microsoft.com/v1.0",
                "http://127.0.0.1:9900/t"
            )
            .is_err()
        );
        assert!(
            p.check_graph_for("http://127.0.0.1:9900/v1.0", global)
                .is_ok()
        );
    }

    #[tokio::test]
    async fn webhooks_go_to_public_https_hosts_or_to_allowed_ones() {
        let p = policy("10.1.2.3, hooks.internal, localhost:9000")
            .with_fixed_dns("hooks.example.com", vec!["20.190.160.1".parse().unwrap()])
            .with_fixed_dns("rebind.example.com", vec!["10.0.0.1".parse().unwrap()])
            .with_fixed_dns("meta.example.com", vec!["169.254.169.254".parse().unwrap()])
            .with_fixed_dns("hooks.internal", vec!["10.0.0.9".parse().unwrap()]);
        for ok in [
            "https://hooks.example.com/x",
            "https://hooks.internal:8443/x",
            "https://10.1.2.3/x",
            "http://localhost:9000/x",
        ] {
            assert!(p.check_resolved(ok, Use::Webhook).await.is_ok(), "{ok}");
        }
        for bad in [
            "https://rebind.example.com/x",
            "https://meta.example.com/x",
            "http://hooks.example.com/x",
            "http://hooks.internal/x",
            "https://10.1.2.4/x",
            "https://169.254.169.254/x",
            "http://localhost:9001/x",
        ] {
            assert!(p.check_resolved(bad, Use::Webhook).await.is_err(), "{bad}");
        }
        // A webhook host is no sign-in host.
        assert!(p.check("https://hooks.example.com/t", Use::SignIn).is_err());
    }

    #[test]
    fn origins_name_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://LOGIN.microsoftonline.com/a/oauth2/v2.0/token").as_deref(),
            Some("https://login.microsoftonline.com")
        );
        assert_ne!(
            origin_of("http://127.0.0.1:1/t"),
            origin_of("http://127.0.0.1:2/t")
        );
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn addresses_are_classified() {
        for (ip, explicit, refused) in [
            ("169.254.169.254", true, true),
            ("fe80::1", true, true),
            ("::ffff:169.254.169.254", true, true),
            ("0.0.0.0", true, true),
            ("224.0.0.1", true, true),
            ("10.0.0.1", false, true),
            ("10.0.0.1", true, false),
            ("127.0.0.1", false, true),
            ("127.0.0.1", true, false),
            ("100.64.0.1", false, true),
            ("fd00::1", false, true),
            ("2001:db8::1", false, true),
            ("20.190.160.1", false, false),
            ("2603:1026::1", false, false),
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(
                refused_address(ip, explicit).is_some(),
                refused,
                "{ip} {explicit}"
            );
        }
    }
}
