//! After a full flow (client credentials, an authorization-code sign-in, a refresh, an
//! import of one message) the client secret and every access and refresh token are nowhere
//! in plaintext: not in the data dir (SQLite, WAL, blobs), not in the debug log, not in any
//! page or JSON answer. The key file is readable by its owner only.

use std::os::unix::fs::PermissionsExt;

use mailport::sandbox::world::DEMO_CLIENT_SECRET;
use reqwest::Method;

use crate::helpers::*;
use crate::logs;
use crate::routes::concrete;

fn walk_bytes(dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk_bytes(&path, out);
        } else {
            out.push((
                path.display().to_string(),
                std::fs::read(&path).unwrap_or_default(),
            ));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_secret_or_token_is_stored_logged_or_shown_in_plaintext() {
    logs::capture();
    let app = TestApp::signed_in().await;
    let mut secrets: Vec<(String, String)> =
        vec![("client secret".into(), DEMO_CLIENT_SECRET.into())];

    // Both grants.
    app.app_credential().await;
    app.create_credential("delegated", "authorization_code", &[])
        .await;
    app.authorize("delegated").await;
    for id in ["app", "delegated"] {
        let at = app.state.tokens.access_token(id).await.expect("token");
        secrets.push((format!("{id} access token"), at.expose().to_string()));
    }
    // A refresh (rotating the refresh token) and a new client-credentials token.
    app.expire_token_in("delegated", 10).await;
    app.expire_token_in("app", 10).await;
    for id in ["app", "delegated"] {
        let at = app.state.tokens.access_token(id).await.expect("refreshed");
        secrets.push((
            format!("{id} refreshed access token"),
            at.expose().to_string(),
        ));
    }
    // A webhook endpoint: its signing secret is shown once (on the answer), then rotated, so
    // that the delivery below is signed with both.
    let receiver = format!("{}/_sandbox/receiver/hook", app.sandbox.base_url);
    for path in ["/webhooks", "/webhooks/hook/rotate-secret"] {
        let page = app
            .post_form(
                path,
                &[
                    ("id", "hook"),
                    ("url", receiver.as_str()),
                    ("accounts", "*"),
                    ("payload", "json"),
                    ("enabled", "on"),
                ],
            )
            .await
            .text()
            .await
            .expect("page");
        // Read with plain string search: an HTML parser would log the page at debug level.
        let secret = page
            .split("id=\"new-secret\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the secret is shown once")
            .to_string();
        assert!(secret.starts_with("whsec_"), "{secret}");
        secrets.push(("webhook signing secret".into(), secret));
    }
    // An import of one message.
    app.import_seeded(1).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.sandbox.sandbox.receiver.received("hook").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no webhook delivery"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let log = app.sandbox.sandbox.world.identity().token_log();
    for entry in &log {
        for rt in [&entry.issued_refresh_token, &entry.presented_refresh_token]
            .into_iter()
            .flatten()
        {
            secrets.push(("refresh token".into(), rt.clone()));
        }
    }
    assert!(
        secrets.iter().filter(|(w, _)| w == "refresh token").count() >= 2,
        "{log:?}"
    );
    assert!(secrets.iter().all(|(_, s)| s.len() >= 16));

    // Every page and JSON answer there is.
    let message: i64 = sqlx::query_scalar("SELECT id FROM messages LIMIT 1")
        .fetch_one(&app.state.db)
        .await
        .expect("message");
    let mut shown = String::new();
    for (method, path, _) in mailport::web::ROUTES {
        if *method == Method::GET {
            let r = app.get(&concrete(path, message)).await;
            shown.push_str(&format!("{:?}", r.headers()));
            shown.push_str(&String::from_utf8_lossy(&r.bytes().await.expect("body")));
        }
    }
    for path in [
        "/credentials/delegated",
        "/credentials/delegated/delete",
        "/api/v1/credentials/delegated",
        "/accounts/acct",
    ] {
        shown.push_str(&app.get_text(path).await);
    }

    let mut files = Vec::new();
    walk_bytes(app.data_dir.path(), &mut files);
    assert!(
        files.iter().any(|(name, _)| name.ends_with("-wal")),
        "the WAL is checked too"
    );
    let log_text = logs::text();
    assert!(log_text.contains("DEBUG"), "debug logging is captured");
    for (what, secret) in &secrets {
        for (name, bytes) in &files {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{what} in plaintext in {name}"
            );
        }
        assert!(
            !log_text.contains(secret.as_str()),
            "{what} in the debug log: {}",
            log_text
                .lines()
                .filter(|l| l.contains(secret.as_str()))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(
            !shown.contains(secret.as_str()),
            "{what} shown on a page or in JSON"
        );
    }

    let key = std::fs::metadata(app.data_dir.path().join("secret.key")).expect("key file");
    assert_eq!(key.permissions().mode() & 0o777, 0o600, "secret.key mode");
}
