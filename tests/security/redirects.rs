//! The sign-in page's `next`: a corpus of ways to send the administrator to another site
//! after signing in, each checked against the `Location` Mailport answers, for a signed-in
//! administrator following a link and for a sign-in form posted with it. Every answer must
//! stay on Mailport once a browser resolves it (WHATWG rules, as the `url` crate applies
//! them), and none may be a 500.

use reqwest::StatusCode;
use url::Url;

use crate::helpers::*;

/// `next` values as the server receives them (decoded), each a known bypass of a naive check.
const CORPUS: &[&str] = &[
    "/\t/other.example/x",
    "/\r/other.example/x",
    "/\n/other.example/x",
    "/\r\nSet-Cookie: planted=1",
    "\t//other.example",
    " //other.example",
    "//other.example/x",
    "///other.example/x",
    "////other.example",
    "/\\other.example/x",
    "\\/other.example/x",
    "/\\/other.example",
    "\\\\other.example",
    "/%2F/other.example",
    "%2F%2Fother.example",
    "/%09/other.example",
    "%5C%5Cother.example",
    "/%5Cother.example",
    "https://other.example/x",
    "http:other.example",
    "https:/other.example",
    "https:\\\\other.example",
    "//other.example@127.0.0.1/",
    "/./other.example",
    "/.//other.example/x",
    "/..//other.example/x",
    "/%2e%2e//other.example",
    "/\u{2215}\u{2215}other.example",
    "/\u{ff0f}other.example",
    "\u{ff0f}\u{ff0f}other.example",
    "/@other.example",
    "@other.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\u{0}/other.example",
    "//%09other.example",
    "/ /other.example",
];

/// Legitimate targets keep working.
const LOCAL: &[(&str, &str)] = &[
    ("/mail?page=2&account=acct", "/mail?page=2&account=acct"),
    ("/credentials/app", "/credentials/app"),
    ("/settings", "/settings"),
];

/// The `Location` must resolve to Mailport's own origin, without anything a browser would
/// strip or reinterpret.
fn assert_stays(base: &str, next: &str, status: StatusCode, location: &str) {
    assert_eq!(status, StatusCode::SEE_OTHER, "{next:?}");
    assert!(
        location.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "{next:?} -> {location:?}: invisible or non-ASCII characters"
    );
    assert!(
        location.starts_with('/') && !location.starts_with("//") && !location.contains('\\'),
        "{next:?} -> {location:?}"
    );
    let base = Url::parse(base).expect("base");
    let resolved = base.join(location).expect("resolvable");
    assert_eq!(
        resolved.origin(),
        base.origin(),
        "{next:?} -> {location:?} leaves Mailport"
    );
}

#[tokio::test]
async fn no_next_value_leads_a_signed_in_administrator_away() {
    assert!(CORPUS.len() >= 20);
    let app = TestApp::signed_in().await;
    for next in CORPUS {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish();
        let r = app.get(&format!("/login?{query}")).await;
        let status = r.status();
        let location = location(&r);
        assert_stays(&app.base, next, status, &location);
    }
    for (next, expected) in LOCAL {
        let r = app.get(&format!("/login?next={}", urlencode(next))).await;
        assert_is_redirect_to(&r, expected);
    }
}

#[tokio::test]
async fn no_next_value_in_the_sign_in_form_leads_away_or_fails_after_signing_in() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    for next in CORPUS.iter().chain(LOCAL.iter().map(|(n, _)| n)) {
        let r = TestApp::spawn_client(&app)
            .post_login(&[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("next", next),
            ])
            .await;
        let status = r.status();
        assert_stays(&app.base, next, status, &location(&r));
    }
    // The sign-in page itself carries only the checked value in its form.
    let page = browser()
        .get(app.url("/login?next=%2F%09%2Fother.example%2Fx"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    assert_eq!(form_value(&page, "next").as_deref(), Some("/"));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
