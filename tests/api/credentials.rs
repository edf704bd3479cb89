//! The Credentials screen: create, validate, edit, delete; the JSON API; the secret never
//! shown back.

use mailport::sandbox::world::DEMO_CLIENT_SECRET;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn create_list_show_and_api() {
    let app = TestApp::signed_in().await;
    let empty = app.get_text("/credentials").await;
    assert!(empty.contains("No credentials yet"));

    let r = app
        .create_credential("graph-app", "client_credentials", &[])
        .await;
    assert_is_redirect_to(&r, "/credentials/graph-app");
    let list = app.get_text("/credentials").await;
    assert!(
        list.contains("graph-app")
            && list.contains("Client credentials")
            && list.contains("No token yet")
    );

    let page = app.get_text("/credentials/graph-app").await;
    assert!(
        !page.contains(DEMO_CLIENT_SECRET),
        "the secret is write-only"
    );
    assert_eq!(form_value(&page, "client_secret").as_deref(), Some(""));
    assert!(
        page.contains(&format!("{}/OAuth2Callback", app.base)),
        "redirect URI shown"
    );

    let json = app.credential("graph-app").await;
    assert_eq!(json["id"], "graph-app");
    assert_eq!(json["grant_type"], "client_credentials");
    assert_eq!(json["token"]["status"], "none");
    assert_eq!(json["token"]["expires_at"], serde_json::Value::Null);
    assert_eq!(json["token"]["has_refresh_token"], false);
    assert!(!json.to_string().contains(DEMO_CLIENT_SECRET));
    assert_eq!(
        app.get("/api/v1/credentials/nope").await.status(),
        StatusCode::NOT_FOUND
    );

    // The secret is encrypted at rest.
    assert!(!contains(
        &app.data_dir_bytes(),
        DEMO_CLIENT_SECRET.as_bytes()
    ));
    if crate::helpers::test_backend_is_postgres() {
        return; // the key comes from --secret-key-file; no key file is made
    }
    let key = app.data_dir.path().join("secret.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn invalid_input_is_refused_and_typed_values_are_kept() {
    let app = TestApp::signed_in().await;
    app.create_credential("dup", "client_credentials", &[])
        .await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("id", "dup")], "already exists"),
        (&[("id", "bad id!")], "Use 1 to 64 characters"),
        (&[("id", "")], "Use 1 to 64 characters"),
        (
            &[("access_token_url", "javascript:alert(1)")],
            "only https URLs",
        ),
        (&[("access_token_url", "not a url")], "absolute URL"),
        (
            &[("access_token_url", "http://evil.example/token")],
            "plain http is allowed only",
        ),
        (&[("scope", "Mail.ReadWrite")], "{resource}/.default"),
        (&[("grant_type", "password")], "Choose Authorization code"),
    ];
    for (extra, message) in cases {
        let mut fields = extra.to_vec();
        fields.push(("description", "kept <b>typed</b> text"));
        let r = app
            .create_credential("fresh", "client_credentials", &fields)
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{extra:?}");
        let page = r.text().await.unwrap();
        assert!(page.contains(message), "{extra:?}: expected {message}");
        assert_eq!(
            form_value(&page, "description").as_deref(),
            Some("kept <b>typed</b> text")
        );
        assert!(
            !page.contains(DEMO_CLIENT_SECRET),
            "the secret is not echoed"
        );
        assert!(!page.contains("<b>typed</b>"), "typed HTML is escaped");
    }
    let all = app.api("/credentials").await;
    assert_eq!(
        all.as_array().unwrap().len(),
        1,
        "nothing but the first was stored"
    );
}

#[tokio::test]
async fn a_huge_form_field_is_rejected_by_the_body_limit() {
    let app = TestApp::signed_in().await;
    let huge = "x".repeat(1024 * 1024);
    let r = app
        .create_credential(
            "big",
            "client_credentials",
            &[("description", huge.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.api("/credentials").await.as_array().unwrap().is_empty());
    // The server is fine afterwards.
    assert_eq!(app.get("/credentials").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn entra_helper_fills_the_form_without_javascript() {
    let app = TestApp::signed_in().await;
    let r = app
        .post_form(
            "/credentials",
            &[
                ("action", "fill"),
                ("id", "typed-id"),
                ("grant_type", "authorization_code"),
                ("tenant", "contoso.onmicrosoft.com"),
                ("cloud", "global"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert_eq!(
        form_value(&page, "authorization_url").unwrap(),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize?prompt=select_account"
    );
    assert_eq!(
        form_value(&page, "access_token_url").unwrap(),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
    assert_eq!(
        form_value(&page, "scope").unwrap(),
        "Mail.ReadWrite offline_access"
    );
    assert_eq!(form_value(&page, "id").unwrap(), "typed-id");
    let r = app
        .post_form(
            "/credentials",
            &[
                ("action", "fill"),
                ("grant_type", "client_credentials"),
                ("tenant", "contoso.onmicrosoft.com"),
                ("cloud", "china"),
            ],
        )
        .await;
    let page = r.text().await.unwrap();
    assert_eq!(
        form_value(&page, "scope").unwrap(),
        "https://microsoftgraph.chinacloudapi.cn/.default"
    );
    assert!(
        form_value(&page, "access_token_url")
            .unwrap()
            .starts_with("https://login.chinacloudapi.cn/")
    );
    assert!(
        app.api("/credentials").await.as_array().unwrap().is_empty(),
        "fill saves nothing"
    );
}

#[tokio::test]
async fn update_keeps_the_secret_when_blank_and_delete_asks_first() {
    let app = TestApp::signed_in().await;
    app.create_credential("c1", "client_credentials", &[]).await;
    let r = app.post_form("/credentials/c1/token", &[]).await;
    assert_is_redirect_to(&r, "/credentials/c1");
    assert_eq!(app.credential("c1").await["token"]["status"], "valid");

    // A new description with an empty secret: the stored secret still works.
    let r = app
        .resubmit("/credentials/c1", &[("description", "renamed")])
        .await;
    assert_is_redirect_to(&r, "/credentials/c1");
    let json = app.credential("c1").await;
    assert_eq!(json["description"], "renamed");
    assert_eq!(
        json["token"]["status"], "valid",
        "settings-only change keeps the token"
    );
    app.expire_token_in("c1", 10).await;
    app.state
        .tokens
        .access_token("c1")
        .await
        .expect("stored secret still used");

    // Delete: GET shows a confirmation and changes nothing; POST deletes.
    let confirm = app.get_text("/credentials/c1/delete").await;
    assert!(confirm.contains("Delete credential c1?"));
    assert_eq!(app.credential("c1").await["id"], "c1");
    let r = app.post_form("/credentials/c1/delete", &[]).await;
    assert_is_redirect_to(&r, "/credentials");
    assert_eq!(
        app.get("/api/v1/credentials/c1").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/credentials/c1").await.status(),
        StatusCode::NOT_FOUND
    );
}
