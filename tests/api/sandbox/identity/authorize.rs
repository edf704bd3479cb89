//! The authorize endpoint: the browser flow through the real sign-in, picker and consent
//! pages, and the errors that are pages or redirects back.

use super::*;

fn jwt_claims(jwt: &str) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json")
}

#[tokio::test]
async fn auth_code_flow_with_pkce_through_sign_in_and_consent() {
    let sandbox = spawn_demo().await;
    let client = browser();
    let challenge = challenge(VERIFIER);
    let url = authorize_url(
        &sandbox,
        "contoso.onmicrosoft.com",
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );

    let response = sign_in_and_consent(&client, &sandbox, &url, "accept").await;
    let params = redirect_params(&response);
    assert_eq!(params.get("state").map(String::as_str), Some("st-123"));
    assert!(is_guid(&params["session_state"]), "{params:?}");
    let code = &params["code"];

    let (status, body) = redeem(&sandbox, code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let scope = body["scope"].as_str().expect("scope");
    assert!(scope.split(' ').any(|s| s == "Mail.ReadWrite"), "{scope}");
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    let claims = jwt_claims(body["id_token"].as_str().expect("id_token"));
    let adele = sandbox
        .sandbox
        .world
        .find_user(DEMO_TENANT_ID, ADELE)
        .expect("adele");
    assert_eq!(claims["aud"], DEMO_CLIENT_ID);
    assert_eq!(claims["tid"], DEMO_TENANT_ID);
    assert_eq!(claims["oid"], adele.id.as_str());
    assert_eq!(claims["preferred_username"], ADELE);
    assert_eq!(claims["name"], "Adele Vance");
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(
        claims["iss"],
        format!("https://login.microsoftonline.com/{DEMO_TENANT_ID}/v2.0")
    );
    assert!(claims["sub"].as_str().is_some_and(|s| s != adele.id));

    // The Graph half sees the same grant through the World.
    let grant = sandbox
        .sandbox
        .world
        .access_grant(body["access_token"].as_str().expect("access_token"))
        .expect("registered");
    assert_eq!(grant.user_id.as_deref(), Some(adele.id.as_str()));
    assert_eq!(grant.scopes, vec!["Mail.ReadWrite".to_owned()]);
    assert!(grant.roles.is_empty());

    let consents: Value = client
        .get(format!("{}/_sandbox/identity/consents", sandbox.base_url))
        .send()
        .await
        .expect("consents")
        .json()
        .await
        .expect("json");
    assert_eq!(consents[0]["user_id"], adele.id.as_str());
    assert!(
        consents[0]["scopes"]
            .as_array()
            .expect("scopes")
            .iter()
            .any(|s| s == "Mail.ReadWrite")
    );
}

#[tokio::test]
async fn signed_in_browser_gets_account_picker_and_no_second_consent() {
    let sandbox = spawn_demo().await;
    let client = browser();
    get_code(&client, &sandbox, &[]).await;

    // Same browser again: the picker, with "Use another account".
    let url = authorize_url(&sandbox, DEMO_TENANT_ID, &[]);
    let page = authorize_page(&client, &url).await;
    assert!(page.contains("Pick an account"), "{page}");
    assert!(page.contains("Use another account"));
    assert!(page.contains(ADELE));
    let response = submit(
        &client,
        &sandbox.base_url,
        &page,
        |f| has_input(f, "action", Some("pick")),
        &[],
        None,
    )
    .await;
    // Consent was given already: straight back to the app with a code.
    let params = redirect_params(&response);
    assert!(params.contains_key("code"), "{params:?}");

    // prompt=none works silently now.
    let url = authorize_url(&sandbox, DEMO_TENANT_ID, &[("prompt", "none")]);
    let params = redirect_params(&client.get(&url).send().await.expect("authorize"));
    assert!(params.contains_key("code"), "{params:?}");

    // prompt=consent asks again; prompt=login asks for the password.
    let url = authorize_url(
        &sandbox,
        DEMO_TENANT_ID,
        &[("prompt", "consent"), ("login_hint", ADELE)],
    );
    let page = authorize_page(&client, &url).await;
    assert!(page.contains("Permissions requested"), "{page}");
    let url = authorize_url(&sandbox, DEMO_TENANT_ID, &[("prompt", "login")]);
    let page = authorize_page(&client, &url).await;
    assert!(page.contains("name=\"passwd\""), "{page}");
}

#[tokio::test]
async fn prompt_none_without_session_redirects_login_required() {
    let sandbox = spawn_demo().await;
    let url = authorize_url(&sandbox, DEMO_TENANT_ID, &[("prompt", "none")]);
    let params = redirect_params(&browser().get(&url).send().await.expect("authorize"));
    assert_eq!(params["error"], "login_required");
    assert!(params["error_description"].starts_with("AADSTS50058: "));
    assert_eq!(params["state"], "st-123");

    // `common` resolves to the app's tenant and behaves the same.
    let url = authorize_url(&sandbox, "common", &[("prompt", "none")]);
    let params = redirect_params(&browser().get(&url).send().await.expect("authorize"));
    assert_eq!(params["error"], "login_required");
}

#[tokio::test]
async fn cancel_on_consent_redirects_with_aadsts65004() {
    let sandbox = spawn_demo().await;
    let client = browser();
    let url = authorize_url(&sandbox, DEMO_TENANT_ID, &[]);
    let response = sign_in_and_consent(&client, &sandbox, &url, "cancel").await;
    let params = redirect_params(&response);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(
        params["error_uri"],
        "https://login.microsoftonline.com/error?code=65004"
    );
    assert_eq!(params["state"], "st-123");
    assert!(!params.contains_key("code"));
    let description = &params["error_description"];
    let lines: Vec<&str> = description.split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{description:?}");
    assert_eq!(
        lines[0],
        "AADSTS65004: User declined to consent to access the app."
    );
    assert!(
        lines[1].strip_prefix("Trace ID: ").is_some_and(is_guid),
        "{description:?}"
    );
    assert!(
        lines[2]
            .strip_prefix("Correlation ID: ")
            .is_some_and(is_guid),
        "{description:?}"
    );
    assert!(
        lines[3]
            .strip_prefix("Timestamp: ")
            .is_some_and(is_ms_timestamp),
        "{description:?}"
    );
    assert!(sandbox.sandbox.world.identity().consents().is_empty());
}

#[tokio::test]
async fn unknown_client_redirect_mismatch_and_unknown_tenant_are_pages_not_redirects() {
    let sandbox = spawn_demo().await;
    let client = browser();
    let cases = [
        (
            DEMO_TENANT_ID,
            vec![("client_id", "00000000-0000-0000-0000-000000000001")],
            "AADSTS700016",
        ),
        (
            DEMO_TENANT_ID,
            vec![("redirect_uri", "http://localhost:8080/oauth/callback/")],
            "AADSTS50011",
        ),
        ("fabrikam.onmicrosoft.com", vec![], "AADSTS90002"),
    ];
    for (tenant, extra, code) in cases {
        let response = client
            .get(authorize_url(&sandbox, tenant, &extra))
            .send()
            .await
            .expect("authorize");
        assert!(
            !response.status().is_redirection(),
            "{code}: {}",
            response.status()
        );
        assert!(response.headers().get(header::LOCATION).is_none(), "{code}");
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let page = response.text().await.expect("body");
        assert!(
            page.contains("Sorry, but we're having trouble signing you in."),
            "{page}"
        );
        assert!(page.contains(code), "{code}: {page}");
        assert!(!page.contains("<script"), "no script");
    }
}

#[tokio::test]
async fn request_errors_redirect_back_with_aadsts_codes() {
    let sandbox = spawn_demo().await;
    let client = browser();
    let cases = [
        (
            vec![("scope", "openid Mail.Send")],
            "invalid_scope",
            "AADSTS70011: ",
        ),
        (
            vec![("response_type", "")],
            "invalid_request",
            "AADSTS900144: ",
        ),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
            "AADSTS700051: ",
        ),
    ];
    for (extra, error, code) in cases {
        let response = client
            .get(authorize_url(&sandbox, DEMO_TENANT_ID, &extra))
            .send()
            .await
            .expect("authorize");
        let params = redirect_params(&response);
        assert_eq!(params["error"], error, "{params:?}");
        assert!(params["error_description"].starts_with(code), "{params:?}");
        assert!(params["error_uri"].starts_with("https://login.microsoftonline.com/error?code="));
        assert_eq!(params["state"], "st-123");
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_stay_on_the_sign_in_page() {
    let sandbox = spawn_demo().await;
    let client = browser();
    let page = authorize_page(&client, &authorize_url(&sandbox, DEMO_TENANT_ID, &[])).await;
    let is_sign_in = |f: &ElementRef<'_>| has_input(f, "passwd", None);
    let response = submit(
        &client,
        &sandbox.base_url,
        &page,
        is_sign_in,
        &[("login", ADELE), ("passwd", "nope")],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let retry = response.text().await.expect("body");
    assert!(retry.contains("AADSTS50126"), "{retry}");
    assert!(retry.contains("name=\"passwd\""));
    let response = submit(
        &client,
        &sandbox.base_url,
        &retry,
        is_sign_in,
        &[
            ("login", "<b>nobody@contoso.onmicrosoft.com</b>"),
            ("passwd", "x"),
        ],
        None,
    )
    .await;
    let retry = response.text().await.expect("body");
    assert!(retry.contains("AADSTS50034"), "{retry}");
    assert!(
        retry.contains("&lt;b&gt;nobody"),
        "the login is escaped: {retry}"
    );
    assert!(!retry.contains("<b>nobody"));
}
