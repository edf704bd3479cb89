//! The SSRF guard for `@odata.nextLink` and `@odata.deltaLink`: Graph's paging links are
//! followed verbatim (never rebuilt), which is exactly why a link from a compromised or
//! impersonated endpoint must not be able to send our bearer token anywhere else.
//!
//! A link passes only if it is on the same scheme, host and port as the configured Graph URL
//! and under its version path. The raw text is checked as well as the parsed URL: URL parsing
//! normalises `..`, decimal/octal IP literals and the like, and a guard that only looks at the
//! normalised form can be talked into accepting what the server on the other end will read
//! differently.

use url::Url;

use super::errors::{GraphError, GraphErrorKind};

/// Where links may point: the origin and path prefix of the mailbox's Graph URL.
#[derive(Debug, Clone)]
pub struct LinkPolicy {
    base: Url,
    /// `scheme://host[:port]` exactly as we serialise the base, lowercase.
    origin: String,
    /// The version path with a trailing slash, e.g. `/v1.0/`.
    path_prefix: String,
}

fn foreign(reason: &str) -> GraphError {
    // The link itself is not quoted: it may be long, and it is attacker-controlled text.
    GraphError::new(
        GraphErrorKind::ForeignLink,
        format!("Mailport refused to follow a paging link from Graph: {reason}."),
    )
}

impl LinkPolicy {
    /// `base` is the validated Graph URL (`https://graph.microsoft.com/v1.0`).
    pub fn new(base: &Url) -> Self {
        let origin = base.origin().ascii_serialization().to_ascii_lowercase();
        let path = base.path().trim_end_matches('/');
        LinkPolicy {
            base: base.clone(),
            origin,
            path_prefix: format!("{path}/"),
        }
    }

    /// The parsed link if it may be followed.
    pub fn check(&self, link: &str) -> Result<Url, GraphError> {
        if link.len() > 16 * 1024 {
            return Err(foreign("the link is unreasonably long"));
        }
        if link
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return Err(foreign(
                "the link contains whitespace, control characters or backslashes",
            ));
        }
        // Raw prefix: `https://graph.microsoft.com/v1.0/`, case-insensitive for scheme and host.
        // This rejects userinfo (`https://graph.microsoft.com@evil`), other ports, trailing-dot
        // hosts and every alternative spelling of an IP address before any parser gets a say.
        let expected = format!("{}{}", self.origin, self.path_prefix);
        let head = link.get(..expected.len()).unwrap_or_default();
        if !head.eq_ignore_ascii_case(&expected) {
            return Err(foreign("it does not point at the mailbox's Graph endpoint"));
        }
        let raw_path = link[expected.len()..]
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let dot_segment = raw_path.split('/').any(|s| {
            s == "." || s == ".." || s.contains("%2e") || s.contains("%2f") || s.contains("%5c")
        });
        if dot_segment {
            return Err(foreign(
                "its path contains dot segments or encoded separators",
            ));
        }
        if link.contains('#') {
            return Err(foreign("it carries a fragment"));
        }

        let url = Url::parse(link).map_err(|_| foreign("it is not a valid URL"))?;
        let same_origin = url.scheme() == self.base.scheme()
            && matches!(url.scheme(), "http" | "https")
            && url.host() == self.base.host()
            && url.port_or_known_default() == self.base.port_or_known_default();
        if !same_origin {
            return Err(foreign("it does not point at the mailbox's Graph endpoint"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(foreign("it carries user information"));
        }
        if !url.path().starts_with(&self.path_prefix) {
            return Err(foreign("it leaves the Graph version path"));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(base: &str) -> LinkPolicy {
        LinkPolicy::new(&Url::parse(base).expect("base"))
    }

    #[test]
    fn graph_links_pass() {
        let p = policy("https://graph.microsoft.com/v1.0");
        for ok in [
            "https://graph.microsoft.com/v1.0/users/a@b.c/mailFolders/inbox/messages?$skip=50&$top=50",
            "https://graph.microsoft.com/v1.0/users/x/mailFolders/AAMk%3D/messages/delta?$skiptoken=abc..def",
            "HTTPS://Graph.Microsoft.com/v1.0/me/messages?$deltatoken=x%2Fy",
        ] {
            assert!(p.check(ok).is_ok(), "{ok}");
        }
        let local = policy("http://127.0.0.1:4321/v1.0/");
        assert!(
            local
                .check("http://127.0.0.1:4321/v1.0/me/messages?$skip=10")
                .is_ok()
        );
    }

    #[test]
    fn hostile_links_are_refused() {
        let p = policy("https://graph.microsoft.com/v1.0");
        let hostile = [
            "https://evil.example/v1.0/me/messages",
            "http://graph.microsoft.com/v1.0/me/messages",
            "https://graph.microsoft.com:8443/v1.0/me/messages",
            "https://graph.microsoft.com.evil.example/v1.0/me/messages",
            "https://graph.microsoft.com./v1.0/me/messages",
            "https://graph.microsoft.com@evil.example/v1.0/me/messages",
            "https://user:pw@graph.microsoft.com/v1.0/me/messages",
            "https://evil.example#@graph.microsoft.com/v1.0/",
            "https://evil.example\\@graph.microsoft.com/v1.0/",
            "https://graph.microsoft.com/beta/me/messages",
            "https://graph.microsoft.com/v1.0/../beta/me",
            "https://graph.microsoft.com/v1.0/me/../../evil",
            "https://graph.microsoft.com/v1.0/me/%2e%2e/%2E%2E/x",
            "https://graph.microsoft.com/v1.0/me/.%2e/x",
            "https://graph.microsoft.com/v1.0/me%2f..%2f..%2fx",
            "https://graph.microsoft.com/v1.0/./me",
            "https://graph.microsoft.com/v1.0/me/messages#frag",
            "https://graph.microsoft.com/v1.0",
            "https://graph.microsoft.com/v1.00/me",
            "//graph.microsoft.com/v1.0/me",
            "/v1.0/me/messages",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ftp://graph.microsoft.com/v1.0/me",
            " https://graph.microsoft.com/v1.0/me",
            "https://graph.microsoft.com/v1.0/me\r\nHost: evil",
            "https://graph.microsoft.com/v1.0/me\t/x",
            "",
        ];
        for link in hostile {
            let e = p.check(link).expect_err(link);
            assert_eq!(e.kind, GraphErrorKind::ForeignLink, "{link}");
            assert!(!e.message.contains("evil"), "the link is not echoed");
        }

        let local = policy("http://127.0.0.1:4321/v1.0");
        for link in [
            "http://127.0.0.1:4322/v1.0/me/messages",
            "http://127.0.0.1/v1.0/me/messages",
            "http://localhost:4321/v1.0/me/messages",
            "http://2130706433:4321/v1.0/me/messages",
            "http://0x7f000001:4321/v1.0/me/messages",
            "http://0177.0.0.1:4321/v1.0/me/messages",
            "http://127.1:4321/v1.0/me/messages",
            "http://[::ffff:127.0.0.1]:4321/v1.0/me/messages",
            "http://127.0.0.1:4321@169.254.169.254/v1.0/",
            "http://169.254.169.254/latest/meta-data/",
            "https://127.0.0.1:4321/v1.0/me/messages",
            "http://127.0.0.1:04321/v1.0/me/messages",
        ] {
            let e = local.check(link).expect_err(link);
            assert_eq!(e.kind, GraphErrorKind::ForeignLink, "{link}");
        }
    }
}
