//! Which hosts webhook deliveries may go to: the shared outbound host policy
//! (`crate::outbound`, [`Use::Webhook`]) with the words the endpoint form shows:
//! - `https` to any host whose addresses are public;
//! - plain `http` only to loopback hosts that the operator allowed (`--allow-host`);
//! - link-local (169.254.0.0/16, fe80::/10: cloud metadata services live there) and
//!   unspecified addresses are always refused, after DNS resolution too;
//! - private, loopback and other non-public addresses only when the URL's host is one the
//!   operator allowed. Internal business applications are allowed by the operator, never
//!   from the web form.
//!
//! URLs are checked when saved and before every attempt ([`check_endpoint_url`]); names are
//! checked again when they are resolved for a connection (the sender's client comes from
//! [`HostPolicy::client`]), so a DNS answer that changes after saving (DNS rebinding) is
//! refused too.

use url::Url;

use crate::outbound::{HostPolicy, Use};

/// Longest URL accepted.
const MAX_URL: usize = 2048;

/// Checks an endpoint URL against the host policy: scheme, user information, fragment, host
/// (IP literals by their class; `localhost` names as loopback) and length. Returns the parsed
/// URL or a sentence saying what is wrong.
pub fn check_endpoint_url(raw: &str, hosts: &HostPolicy) -> Result<Url, String> {
    if raw.len() > MAX_URL {
        return Err("This URL is too long (at most 2,048 characters).".into());
    }
    if Url::parse(raw.trim()).is_err() {
        return Err("Enter an absolute URL starting with https://.".into());
    }
    hosts
        .check(raw, Use::Webhook)
        .map_err(|refused| format!("This URL is refused: {refused}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str]) -> HostPolicy {
        HostPolicy::new(
            hosts
                .iter()
                .map(|h| h.parse().expect("allowed host"))
                .collect(),
        )
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
            "https://app.localhost/hook",
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
        let strict = HostPolicy::default()
            .with_fixed_dns("erp.example.com", vec!["10.0.0.7".parse().expect("ip")]);
        let refused = strict
            .check_resolved("https://erp.example.com/hook", Use::Webhook)
            .await
            .expect_err("refused");
        assert!(
            refused.to_string().contains("resolves to 10.0.0.7"),
            "{refused}"
        );
        let allowing = policy(&["erp.example.com"])
            .with_fixed_dns("erp.example.com", vec!["10.0.0.7".parse().expect("ip")]);
        assert!(
            allowing
                .check_resolved("https://erp.example.com/hook", Use::Webhook)
                .await
                .is_ok()
        );
    }
}
