//! Where requests go: the configured Graph URL, checked once, and the query encoding Graph
//! reads reliably.

use url::Url;

use super::errors::{GraphError, GraphErrorKind};

/// Where to find a mailbox: `users/{upn-or-id}` for application permissions, `me` for
/// delegated with an empty mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxTarget {
    /// `https://graph.microsoft.com/v1.0`, a national cloud's, or `http://127.0.0.1:PORT/v1.0`.
    pub graph_url: String,
    /// A UPN or user object id; `None` (or empty) addresses `/me`.
    pub mailbox: Option<String>,
}

pub(crate) fn config_error(message: &str) -> GraphError {
    GraphError::new(GraphErrorKind::Other, message)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks and normalises the configured Graph URL (`…/v1.0`, no trailing slash).
pub(crate) fn graph_base(graph_url: &str) -> Result<Url, GraphError> {
    let mut url = Url::parse(graph_url.trim())
        .map_err(|_| config_error("The Graph URL is not a valid URL."))?;
    match url.scheme() {
        "https" => {}
        // Bearer tokens must not cross a network in clear text; the sandbox runs on loopback.
        "http" if is_loopback(&url) => {}
        _ => {
            return Err(config_error(
                "The Graph URL must use https (plain http only for loopback addresses).",
            ));
        }
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(config_error("The Graph URL has no host."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config_error(
            "The Graph URL must not contain user information.",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config_error(
            "The Graph URL must not have a query or fragment.",
        ));
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// Percent-encodes a query value; spaces become `%20` (Graph does not read `+` as a space in
/// every position), and the OData punctuation stays readable.
pub(crate) fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$'(),:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_urls_are_checked() {
        assert_eq!(
            graph_base("https://graph.microsoft.com/v1.0/").map(|u| u.to_string()),
            Ok("https://graph.microsoft.com/v1.0".to_string())
        );
        assert!(graph_base("http://127.0.0.1:9900/v1.0").is_ok());
        assert!(graph_base("http://localhost:9900/v1.0").is_ok());
        for bad in [
            "http://graph.microsoft.com/v1.0",
            "ftp://graph.microsoft.com/v1.0",
            "https://user:pw@graph.microsoft.com/v1.0",
            "https://graph.microsoft.com/v1.0?x=1",
            "not a url",
            "mailto:x@y",
        ] {
            assert!(graph_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query_value("receivedDateTime ge 1900-01-01T00:00:00Z"),
            "receivedDateTime%20ge%201900-01-01T00:00:00Z"
        );
        assert_eq!(
            encode_query_value("singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')"),
            "singleValueExtendedProperties($filter%3Did%20eq%20'Integer%200x0E08')"
        );
        assert_eq!(encode_query_value("a&b+c#d"), "a%26b%2Bc%23d");
    }
}
