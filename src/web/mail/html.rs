//! Turning a message's HTML body, written by anyone who can send mail, into markup that is
//! safe to place inside a Mailport page. ammonia parses it like a browser would and keeps
//! only an allow-list of tags and attributes; on top of that:
//! - links keep only http, https and mailto targets and open in a new tab without opener or
//!   referrer;
//! - `cid:` images become `/mail/{id}/cid/{content-id}` when the message has such a part
//!   with a raster image type, and nothing otherwise;
//! - remote (http, https, protocol-relative) images are always removed and counted, because
//!   loading them tells the sender that and when the mail was read;
//! - every other URL (data:, javascript:, relative ones that would hit Mailport itself) is
//!   removed, and so are `style`, `class`, `id` and every event handler.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A sanitised HTML body and what was removed from it that the reader should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeHtml {
    pub html: String,
    pub remote_images_blocked: usize,
}

/// Tags removed together with everything inside them (the others that are not allowed are
/// removed but keep their text).
const DROP_WITH_CONTENT: &[&str] = &[
    "script", "style", "title", "noscript", "template", "iframe", "object", "embed", "applet",
    "noembed", "noframes", "xmp", "svg", "math", "select", "textarea",
];

/// The only URL schemes that survive; `cid` only long enough to be rewritten.
const SCHEMES: &[&str] = &["http", "https", "mailto", "cid"];
const LINK_SCHEMES: &[&str] = &["http", "https", "mailto"];

/// Sanitises `html` of message `message_id`. `inline_images` are the Content-IDs (without
/// `<>`) of the parts that `/mail/{id}/cid/…` will serve.
pub fn sanitise(html: &str, message_id: i64, inline_images: &HashSet<String>) -> SafeHtml {
    let blocked = Arc::new(AtomicUsize::new(0));
    let prefix = format!("/mail/{message_id}/cid/");
    let cid_urls: HashMap<String, String> = inline_images
        .iter()
        .filter_map(|cid| Some((cid.clone(), format!("{prefix}{}", encode_segment(cid)?))))
        .collect();

    let counter = Arc::clone(&blocked);
    let mut builder = ammonia::Builder::default();
    builder
        .add_clean_content_tags(DROP_WITH_CONTENT)
        .url_schemes(SCHEMES.iter().copied().collect())
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .strip_comments(true)
        .attribute_filter(move |element, attribute, value| {
            match (element, attribute) {
                ("img", "src") => match image_source(value) {
                    ImageSource::Cid(cid) => cid_urls.get(&cid).cloned().map(Cow::Owned),
                    ImageSource::Remote => {
                        counter.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    ImageSource::Other => None,
                },
                ("a", "href") => is_link(value).then_some(Cow::Borrowed(value)),
                // Any other URL-bearing attribute ammonia lets through (cite, src elsewhere).
                (_, "href" | "src" | "cite" | "xlink:href" | "action" | "formaction") => None,
                _ => Some(Cow::Borrowed(value)),
            }
        })
        // The attribute filter runs first and leaves only our own inline image URLs as
        // relative URLs; anything else relative would point into Mailport itself.
        .url_relative(ammonia::UrlRelative::Custom(Box::new(OwnImages { prefix })));
    let html = builder.clean(html).to_string();
    SafeHtml {
        html,
        remote_images_blocked: blocked.load(Ordering::Relaxed),
    }
}

/// Lets through only relative URLs of this message's inline images.
struct OwnImages {
    prefix: String,
}

impl<'a> ammonia::UrlRelativeEvaluate<'a> for OwnImages {
    fn evaluate<'url>(&self, url: &'url str) -> Option<Cow<'url, str>> {
        let rest = url.strip_prefix(&self.prefix)?;
        (!rest.is_empty() && !rest.contains(['/', '\\'])).then_some(Cow::Borrowed(url))
    }
}

enum ImageSource {
    Cid(String),
    Remote,
    Other,
}

fn image_source(value: &str) -> ImageSource {
    let v = value.trim();
    if let Some(rest) = strip_prefix_ignore_case(v, "cid:") {
        return match percent_decode(rest) {
            Some(cid) => ImageSource::Cid(cid.trim_matches(['<', '>']).to_string()),
            None => ImageSource::Other,
        };
    }
    if v.starts_with("//") || v.starts_with("\\\\") {
        return ImageSource::Remote;
    }
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => ImageSource::Remote,
        _ => ImageSource::Other,
    }
}

fn is_link(value: &str) -> bool {
    url::Url::parse(value.trim()).is_ok_and(|u| LINK_SCHEMES.contains(&u.scheme()))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A Content-ID as one URL path segment. None for ids a browser would read as `.`/`..`.
pub fn encode_segment(cid: &str) -> Option<String> {
    if cid.is_empty() || cid.chars().all(|c| c == '.') {
        return None;
    }
    let mut out = String::with_capacity(cid.len());
    for b in cid.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Some(out)
}

/// RFC 2392: a `cid:` URL carries the Content-ID percent-encoded.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(html: &str) -> SafeHtml {
        let cids: HashSet<String> = ["logo@x".to_string()].into();
        sanitise(html, 7, &cids)
    }

    #[test]
    fn removes_scripts_handlers_and_styles() {
        let out = clean(
            r#"<p onclick="x()" style="color:red" class="c" id="i">hi<script>alert(1)</script><style>p{}</style></p>"#,
        );
        assert_eq!(out.html, "<p>hi</p>");
    }

    #[test]
    fn links_keep_safe_schemes_and_open_apart() {
        let out = clean(
            r#"<a href="https://e.com/x">a</a><a href="javascript:alert(1)">b</a><a href="/logout">c</a>"#,
        );
        assert!(
            out.html.contains(r#"href="https://e.com/x""#),
            "{}",
            out.html
        );
        assert!(out.html.contains(r#"rel="noopener noreferrer""#));
        assert!(out.html.contains(r#"target="_blank""#));
        assert!(!out.html.contains("javascript"));
        assert!(!out.html.contains("/logout"));
    }

    #[test]
    fn rewrites_known_cid_images_and_blocks_remote_ones() {
        let out = clean(
            r#"<img src="cid:logo@x"><img src="CID:%3Clogo@x%3E"><img src="cid:other"><img src="https://t.example/p.gif"><img src="//t.example/q"><img src="data:image/png;base64,AA">"#,
        );
        assert_eq!(out.remote_images_blocked, 2);
        assert_eq!(
            out.html.matches(r#"src="/mail/7/cid/logo@x""#).count(),
            2,
            "{}",
            out.html
        );
        assert!(!out.html.contains("t.example"));
        assert!(!out.html.contains("data:"));
        assert!(!out.html.contains("other"));
    }

    #[test]
    fn own_relative_urls_are_not_trusted() {
        let out = clean(r#"<img src="/mail/7/cid/logo@x"><img src="/mail/7/cid/../../logout">"#);
        assert_eq!(out.html, "<img><img>");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("a/b c").as_deref(), Some("a%2Fb%20c"));
        assert_eq!(encode_segment(".."), None);
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("a%2"), None);
    }
}
