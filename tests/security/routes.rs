//! Every route of the router, from `mailport::web::ROUTES`: the table is cross-checked
//! against the source and the running router, then walked anonymously (sign-in or 401),
//! without or with a wrong CSRF token (403, nothing changed), and with GETs only (nothing
//! changed). A route added without a table entry fails the first test here and is refused
//! by the router's route guard at run time.

use std::collections::BTreeSet;
use std::path::Path;

use mailport::web::{API_PREFIX, Access, ROUTES};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::fixtures::{Eml, PNG, Part, store};
use crate::helpers::*;
use crate::snapshot;

/// App + sandbox with something behind every id: credentials `app` (client credentials,
/// with a token) and `delegated` (authorization code, signed in), account `acct`, and one
/// stored message with an inline image and an attachment. Returns the message id.
pub async fn populated() -> (TestApp, i64) {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    app.create_credential("delegated", "authorization_code", &[])
        .await;
    app.authorize("delegated").await;
    let r = app.create_account("acct", &[]).await;
    assert_is_redirect_to(&r, "/accounts/acct");
    let raw = Eml::new("Quarterly report")
        .from("Adele", "adele@contoso.example")
        .text("see attached")
        .html("<p>see <img src=\"cid:img1@x\"></p>")
        .part(Part::inline_image("img1@x", "image/png", PNG))
        .part(Part::attachment("report.txt", "text/plain", b"figures"))
        .build();
    let (id, _) = store(&app, "acct", "g1", &raw, Some(1_800_000_000)).await;
    // A webhook endpoint to the sandbox's receiver, created after the message: no delivery
    // is queued, so nothing runs in the background while routes are walked.
    let receiver = format!("{}/_sandbox/receiver/hook", app.sandbox.base_url);
    let r = app
        .post_form(
            "/webhooks",
            &[
                ("id", "hook"),
                ("url", receiver.as_str()),
                ("accounts", "*"),
                ("payload", "json"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "webhook endpoint");
    mailport::store::api_keys::create(
        &app.state.db,
        "populated",
        &mailport::crypto::sha256_hex(b"mp_populated_key"),
    )
    .await
    .expect("api key");
    (app, id)
}

/// A table path with its parameters filled in with the ids of [`populated`].
pub fn concrete(path: &str, message: i64) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| match *s {
            "{id}" => match segments[i - 1] {
                "credentials" => "app".to_string(),
                "accounts" => "acct".to_string(),
                "webhooks" => "hook".to_string(),
                // The first (only) API key of [`populated`].
                "api-keys" => "1".to_string(),
                _ => message.to_string(),
            },
            "{n}" => "1".to_string(),
            "{delivery_id}" => "1".to_string(),
            "{cid}" => "img1@x".to_string(),
            "{*path}" => "app.css".to_string(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Fields that would change something on every form if a request got through.
pub fn tempting_fields(app: &TestApp) -> Vec<(String, String)> {
    [
        ("id", "intruder"),
        ("description", "changed by a forged request"),
        ("grant_type", "client_credentials"),
        ("client_id", "evil"),
        ("client_secret", "evil-secret"),
        ("scope", "https://graph.microsoft.com/.default"),
        ("client_auth", "post"),
        ("mailbox", ADELE),
        ("folder", "Inbox"),
        ("credential_id", "app"),
        ("after_import", "delete"),
        ("move_to", "Imported"),
        ("poll_interval", "10"),
        ("enabled", "on"),
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
        ("password_confirm", ADMIN_PASSWORD),
        ("token", "x"),
        ("confirm", "yes"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([
        ("access_token_url".to_string(), app.tenant_url("token")),
        (
            "graph_url".to_string(),
            format!("{}/v1.0", app.sandbox.base_url),
        ),
    ])
    .collect()
}

/// The CSRF token of a signed-in browser (its /login redirects, so read a form page).
pub async fn signed_in_csrf(client: &reqwest::Client, app: &TestApp) -> String {
    let page = client
        .get(app.url("/credentials/new"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    form_value(&page, "csrf_token").expect("csrf token on the page")
}

/// What the JSON API shows: the administrator's view of the state (without the poll lag
/// figures, which the clock changes).
async fn api_view(app: &TestApp) -> Vec<Value> {
    fn without_lag(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("lag");
                map.values_mut().for_each(without_lag);
            }
            Value::Array(items) => items.iter_mut().for_each(without_lag),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for path in ["/credentials", "/accounts", "/messages"] {
        let mut view = app.api(path).await;
        without_lag(&mut view);
        out.push(view);
    }
    out
}

/// `(method, path)` of every `.route(…)` in `src/web`, plus the nested static files.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut files = Vec::new();
    collect_rs(&dir, &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        // The API's routers (the files of web/api/) are nested under the API prefix in
        // web/mod.rs.
        let prefix = if file.starts_with(dir.join("api")) {
            API_PREFIX
        } else {
            ""
        };
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            let args = balanced(&rest[at + ".route".len()..]);
            let path = args.split('"').nth(1).unwrap_or_default();
            for method in [
                "get", "post", "put", "delete", "patch", "head", "options", "any",
            ] {
                let calls = args.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0
                        || !args.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && args.as_bytes()[i - 1] != b'_'
                });
                if calls {
                    found.insert((method.to_uppercase(), format!("{prefix}{path}")));
                }
            }
            rest = &rest[at + 1..];
        }
        if text.contains(".nest_service(\n            \"/static\"")
            || text.contains(".nest_service(\"/static\"")
        {
            found.insert(("GET".into(), "/static/{*path}".into()));
        }
    }
    found
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text inside the parentheses that `s` starts with.
fn balanced(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &s[1..i];
                }
            }
            _ => {}
        }
    }
    s
}

#[test]
fn the_route_table_lists_every_route_in_the_source() {
    let in_source = routes_in_source();
    let in_table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert!(
        in_source.len() >= 30,
        "the source scan found too little: {in_source:?}"
    );
    let unlisted: Vec<_> = in_source.difference(&in_table).collect();
    assert!(
        unlisted.is_empty(),
        "routes missing from web::ROUTES (add them, with their access): {unlisted:?}"
    );
    let stale: Vec<_> = in_table.difference(&in_source).collect();
    assert!(
        stale.is_empty(),
        "web::ROUTES lists routes that do not exist: {stale:?}"
    );
    // Only the routes everyone needs are public.
    let public: BTreeSet<&str> = ROUTES
        .iter()
        .filter(|(_, _, a)| *a == Access::Public)
        .map(|(_, p, _)| *p)
        .collect();
    assert_eq!(
        public,
        BTreeSet::from([
            "/login",
            "/setup",
            "/healthz",
            "/OAuth2Callback",
            "/static/{*path}"
        ])
    );
    for (_, path, access) in ROUTES {
        assert_eq!(
            path.starts_with(API_PREFIX) || *path == "/metrics",
            *access == Access::Api,
            "{path}: the API (and the metrics beside it) and nothing else takes API keys"
        );
    }
}

#[tokio::test]
async fn every_listed_route_answers_and_nothing_else_does() {
    let (app, message) = populated().await;
    let csrf = app.csrf().await;
    for (method, path, _) in ROUTES {
        let url = app.url(&concrete(path, message));
        if *method == Method::GET {
            let r = app.get(&concrete(path, message)).await;
            // The setup page without a valid one-time token is refused by design.
            // So is a callback without a sign-in in progress.
            let expected_refusal = (*path == "/setup" && r.status() == StatusCode::FORBIDDEN)
                || (*path == "/OAuth2Callback" && r.status() == StatusCode::BAD_REQUEST);
            assert!(
                r.status() == StatusCode::OK
                    || r.status() == StatusCode::SEE_OTHER
                    || expected_refusal,
                "GET {path}: {}",
                r.status()
            );
        }
        // Methods the table does not list for a path are refused before any handler runs.
        for other in [Method::PUT, Method::DELETE, Method::PATCH, Method::POST] {
            if ROUTES.iter().any(|(m, p, _)| p == path && *m == other)
                || path.starts_with("/static")
            {
                continue;
            }
            let r = app
                .client
                .request(other.clone(), &url)
                .header("x-csrf-token", &csrf)
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{other} {path}");
        }
    }
    for path in [
        "/nope",
        "/credentials/app/nope",
        "/mail/1/attachments",
        "/api/v1/nope",
        "/api/v1/credentials/app/secret",
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn anonymous_requests_reach_only_the_public_routes() {
    let (app, message) = populated().await;
    let before = snapshot::take(&app).await;
    // A stranger with no cookies, and one who fetched /login (so holds a valid CSRF token
    // of an anonymous session).
    let stranger = browser();
    let visitor = TestApp::spawn_client(&app);
    let visitor_csrf = visitor.csrf().await;
    let fields = tempting_fields(&app);
    for (method, path, access) in ROUTES {
        let url = app.url(&concrete(path, message));
        if *method == Method::GET {
            let r = stranger.get(&url).send().await.expect("GET");
            let status = r.status();
            match access {
                Access::Admin => {
                    assert_eq!(status, StatusCode::SEE_OTHER, "GET {path}");
                    assert!(location(&r).starts_with("/login?next="), "GET {path}");
                }
                Access::Api => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "GET {path}");
                    let body: Value = r.json().await.expect("JSON error");
                    assert_eq!(body["error"]["code"], "unauthorized", "GET {path}");
                    let wrong_key = stranger
                        .get(&url)
                        .bearer_auth("mp_0123456789abcdefghijklmnopqrstuvwxyz")
                        .send()
                        .await
                        .expect("GET");
                    // Refused: 401, or 429 once this address sent too many wrong keys.
                    assert!(
                        matches!(
                            wrong_key.status(),
                            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
                        ),
                        "{path}: {}",
                        wrong_key.status()
                    );
                }
                Access::Public => {
                    assert!(
                        !status.is_server_error()
                            && status != StatusCode::UNAUTHORIZED
                            && !(status.is_redirection() && location(&r).starts_with("/login")),
                        "GET {path}: {status}"
                    );
                }
            }
            continue;
        }
        // Without a session there is no CSRF token, so every POST is refused first.
        let r = stranger
            .request(method.clone(), &url)
            .form(&fields)
            .send()
            .await
            .expect("POST");
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "anonymous {method} {path}"
        );
        // With a valid token of an anonymous session, private routes still want a sign-in.
        // (Public forms are left out here: the tempting fields hold the real password, and
        // a visitor signed in by /login would no longer be anonymous.)
        if *access == Access::Public {
            continue;
        }
        let mut with_token = fields.clone();
        with_token.push(("csrf_token".into(), visitor_csrf.clone()));
        let r = visitor
            .client
            .request(method.clone(), &url)
            .form(&with_token)
            .send()
            .await
            .expect("POST");
        if *access == Access::Api {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            let body: Value = r.json().await.expect("JSON error");
            assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
            // Nor does a made-up API key get anywhere, CSRF token or not.
            let r = stranger
                .request(method.clone(), &url)
                .bearer_auth("mp_0123456789abcdefghijklmnopqrstuvwxyz")
                .json(&serde_json::json!({"id": "intruder", "enabled": false}))
                .send()
                .await
                .expect("request");
            // Refused: 401, or 429 once this address sent too many wrong keys (as for GET).
            assert!(
                matches!(
                    r.status(),
                    StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
                ),
                "{method} {path} with a made-up key: {}",
                r.status()
            );
        } else {
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{method} {path}");
            assert!(location(&r).starts_with("/login"), "{method} {path}");
        }
    }
    snapshot::assert_same(&before, &snapshot::take(&app).await, "anonymous requests");
}

#[tokio::test]
async fn every_state_changing_request_needs_this_sessions_csrf_token() {
    let (app, message) = populated().await;
    let other = TestApp::spawn_client(&app);
    other.login(ADMIN, ADMIN_PASSWORD).await;
    let others_token = signed_in_csrf(&other.client, &app).await;
    let own_token = app.csrf().await;
    let before = snapshot::take(&app).await;
    let api_before = api_view(&app).await;
    let tokens_before = app.sandbox.sandbox.world.identity().token_log().len();
    let inbox_before = app.folder("Inbox").len();
    let fields = tempting_fields(&app);

    let forged: Vec<(&str, Option<String>, Option<String>)> = vec![
        ("no token", None, None),
        ("a made-up token", Some("forged".into()), None),
        ("an empty token", Some(String::new()), None),
        ("another session's token", Some(others_token.clone()), None),
        ("a made-up header", None, Some("forged".into())),
        ("another session's header", None, Some(others_token.clone())),
        (
            "the token with a byte changed",
            Some(format!("{}x", &own_token[..own_token.len() - 1])),
            None,
        ),
    ];
    let mut checked = 0;
    for (method, path, _) in ROUTES {
        let concrete_path = concrete(path, message);
        let url = app.url(&concrete_path);
        let methods: Vec<Method> = if *method == Method::POST {
            vec![Method::POST]
        } else {
            // Any other method that is not GET/HEAD/OPTIONS is checked just the same.
            vec![Method::PUT, Method::DELETE, Method::PATCH]
        };
        for m in methods {
            for (what, field, header_token) in &forged {
                let mut body = fields.clone();
                if let Some(t) = field {
                    body.push(("csrf_token".into(), t.clone()));
                }
                let mut request = app.client.request(m.clone(), &url).form(&body);
                if let Some(h) = header_token {
                    request = request.header("x-csrf-token", h);
                }
                let r = request.send().await.expect("request");
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{m} {path} with {what}");
                checked += 1;
            }
            // The token in the query string does not count: it would leak into logs and
            // Referer headers.
            let r = app
                .client
                .request(m.clone(), format!("{url}?csrf_token={own_token}"))
                .form(&fields)
                .send()
                .await
                .expect("request");
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{m} {path} with the token in the URL"
            );
        }
    }
    assert!(checked > 100);
    snapshot::assert_same(&before, &snapshot::take(&app).await, "forged requests");
    assert_eq!(api_view(&app).await, api_before);
    assert_eq!(
        app.sandbox.sandbox.world.identity().token_log().len(),
        tokens_before,
        "a forged request reached the token endpoint"
    );
    assert_eq!(app.folder("Inbox").len(), inbox_before);

    // Control: with the right token the same requests get past the check, so the 403s
    // above were the CSRF check and not something else.
    for (method, path, _) in ROUTES
        .iter()
        .filter(|(m, p, _)| *m == Method::POST && *p != "/logout")
    {
        // Signing in issues a new token, so fetch the current one each time.
        let own_token = signed_in_csrf(&app.client, &app).await;
        let mut body = fields.clone();
        body.push(("csrf_token".into(), own_token.clone()));
        let r = app
            .client
            .post(app.url(&concrete(path, message)))
            .form(&body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(
            !text.contains("did not come from Mailport"),
            "{method} {path}: the valid token was refused ({status})"
        );
    }
}

#[tokio::test]
async fn no_get_changes_anything() {
    let (app, message) = populated().await;
    // A token close to expiry: a GET that refreshed it would show in the snapshot.
    app.expire_token_in("delegated", 30).await;
    app.expire_token_in("app", 30).await;
    let key = "mp_security_test_key_0123456789abcdefghijkl";
    mailport::store::api_keys::create(
        &app.state.db,
        "sec",
        &mailport::crypto::sha256_hex(key.as_bytes()),
    )
    .await
    .expect("key");
    let before = snapshot::take(&app).await;
    let tokens_before = app.sandbox.sandbox.world.identity().token_log().len();
    let graph_before = app.graph().request_log().total;

    let mut paths: Vec<String> = ROUTES
        .iter()
        .filter(|(m, _, _)| *m == Method::GET)
        .map(|(_, p, _)| concrete(p, message))
        .collect();
    paths.extend(
        [
            "/mail?page=2&account=acct&q=report",
            "/mail?account=nobody&q=%00%27%22",
            "/api/v1/messages?account=acct&page=1",
            "/login?next=/mail",
            "/setup?token=guess",
            "/OAuth2Callback?code=stolen&state=guess",
            "/OAuth2Callback?error=access_denied&state=guess",
            "/credentials/app?flash=1",
        ]
        .map(String::from),
    );
    for path in &paths {
        for method in [Method::GET, Method::HEAD] {
            let r = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .expect("request");
            assert!(
                !r.status().is_server_error(),
                "{method} {path}: {}",
                r.status()
            );
        }
    }
    snapshot::assert_same(&before, &snapshot::take(&app).await, "GET requests");
    assert_eq!(
        app.sandbox.sandbox.world.identity().token_log().len(),
        tokens_before,
        "a GET requested a token"
    );
    assert_eq!(
        app.graph().request_log().total,
        graph_before,
        "a GET called Graph"
    );
}
