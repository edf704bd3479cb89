//! The one function that decides where a redirect taken from a request may go (the sign-in
//! page's `next`, and any later one): only a path on Mailport itself, or `/`.

use url::Url;

/// Where a refused or missing target goes.
pub const FALLBACK: &str = "/";

/// A stand-in origin: only whether a target stays on the same origin matters here.
const BASE: &str = "http://mailport.invalid/";

/// The local path to redirect to for `raw`, or [`FALLBACK`].
///
/// Accepted: visible ASCII (browsers drop tab, CR and LF from URLs and read other
/// whitespace and non-ASCII slashes their own way), starting with one `/` whose next
/// character is neither `/` nor `\`, no `\` anywhere, and, once resolved with the WHATWG
/// rules browsers use (the `url` crate), on the same origin; the resolved path and query are
/// what is returned, checked again (`/.//x` resolves to `//x`). The fragment is dropped.
/// Never fails: anything else becomes `/`.
pub fn local_target(raw: Option<&str>) -> String {
    raw.and_then(checked)
        .unwrap_or_else(|| FALLBACK.to_string())
}

fn checked(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.len() > 2048 {
        return None;
    }
    let bytes = raw.as_bytes();
    if !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) || bytes.contains(&b'\\') {
        return None;
    }
    if bytes[0] != b'/' || bytes.get(1) == Some(&b'/') {
        return None;
    }
    let base = Url::parse(BASE).ok()?;
    let resolved = base.join(raw).ok()?;
    if resolved.origin() != base.origin() {
        return None;
    }
    let mut target = resolved.path().to_string();
    if let Some(query) = resolved.query() {
        target.push('?');
        target.push_str(query);
    }
    let ok = target.starts_with('/')
        && !target.starts_with("//")
        && !target.contains('\\')
        && target.bytes().all(|b| (0x21..=0x7e).contains(&b));
    ok.then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_pass_and_everything_else_becomes_the_root() {
        for (raw, expected) in [
            ("/mail?page=2&account=a", "/mail?page=2&account=a"),
            ("/credentials/app", "/credentials/app"),
            ("/./credentials", "/credentials"),
            ("/a/../credentials#x", "/credentials"),
            ("/@other.example", "/@other.example"),
        ] {
            assert_eq!(local_target(Some(raw)), expected, "{raw}");
        }
        for raw in [
            "/\t/other.example/x",
            "/\r\n/other.example",
            "//other.example",
            "/\\other.example",
            "\\/other.example",
            "/.//other.example",
            "/..//other.example",
            "https://other.example",
            "/\u{2215}other.example",
            "",
            "other",
        ] {
            assert_eq!(local_target(Some(raw)), "/", "{raw:?}");
        }
        assert_eq!(local_target(None), "/");
    }
}
