//! The Entra ID sandbox, driven directly over HTTP: the browser flow through the real pages
//! (parsed with scraper, like a user agent would), the token endpoint, and the controls.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mailport::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PASSWORD, DEMO_TENANT_ID};
use mailport::sandbox::{SandboxConfig, SandboxHandle};
use reqwest::{Client, StatusCode, header};
use scraper::{ElementRef, Html, Selector};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use url::Url;

const REDIRECT_URI: &str = "http://localhost:8080/oauth/callback";
const ADELE: &str = "adele@contoso.onmicrosoft.com";
const SCOPE: &str = "openid profile offline_access Mail.ReadWrite";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-sandbox-verifier";

// ----- helpers -----

async fn spawn(config: SandboxConfig) -> SandboxHandle {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    mailport::sandbox::spawn(listener, config)
        .await
        .expect("spawn sandbox")
}

async fn spawn_demo() -> SandboxHandle {
    spawn(SandboxConfig::demo(vec![REDIRECT_URI.to_owned()])).await
}

/// A browser: keeps cookies, never follows redirects (the test reads the Location).
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_url(sandbox: &SandboxHandle, tenant: &str, extra: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&format!(
        "{}/{tenant}/oauth2/v2.0/authorize",
        sandbox.base_url
    ))
    .expect("url");
    {
        let mut q = url.query_pairs_mut();
        let defaults = [
            ("client_id", DEMO_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", SCOPE),
            ("state", "st-123"),
            ("response_mode", "query"),
        ];
        for (k, v) in defaults {
            if !extra.iter().any(|(ek, _)| *ek == k) {
                q.append_pair(k, v);
            }
        }
        for (k, v) in extra {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
    }
    url.to_string()
}

/// Fills and submits the first form `pick` accepts, like a browser: every input with a name
/// and value, the overrides, and the clicked button's name/value.
async fn submit(
    client: &Client,
    base: &str,
    page: &str,
    pick: impl Fn(&ElementRef<'_>) -> bool,
    fields: &[(&str, &str)],
    button: Option<(&str, &str)>,
) -> reqwest::Response {
    let (action, body) = {
        let html = Html::parse_document(page);
        let forms = Selector::parse("form").expect("selector");
        let inputs = Selector::parse("input").expect("selector");
        let form = html
            .select(&forms)
            .find(|f| pick(f))
            .expect("the page has the form");
        let mut values: Vec<(String, String)> = form
            .select(&inputs)
            .filter_map(|i| {
                let name = i.value().attr("name")?;
                Some((
                    name.to_owned(),
                    i.value().attr("value").unwrap_or("").to_owned(),
                ))
            })
            .collect();
        for (name, value) in fields {
            values.retain(|(n, _)| n != name);
            values.push(((*name).to_owned(), (*value).to_owned()));
        }
        if let Some((name, value)) = button {
            values.push((name.to_owned(), value.to_owned()));
        }
        let action = form.value().attr("action").expect("form action").to_owned();
        (action, values)
    };
    let url = Url::parse(base)
        .expect("base")
        .join(&action)
        .expect("action url");
    client
        .post(url)
        .form(&body)
        .send()
        .await
        .expect("form post")
}

fn has_input(form: &ElementRef<'_>, name: &str, value: Option<&str>) -> bool {
    let inputs = Selector::parse("input").expect("selector");
    form.select(&inputs).any(|i| {
        i.value().attr("name") == Some(name)
            && value.is_none_or(|v| i.value().attr("value") == Some(v))
    })
}

/// The query parameters of a redirect to the app.
fn redirect_params(response: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(response.status(), StatusCode::FOUND, "expected a redirect");
    let location = response
        .headers()
        .get(header::LOCATION)
        .expect("Location")
        .to_str()
        .expect("ascii");
    assert!(
        location.starts_with(REDIRECT_URI),
        "redirected to {location}"
    );
    Url::parse(location)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// Signs Adele in on a fresh sign-in page and answers the consent page.
async fn sign_in_and_consent(
    client: &Client,
    sandbox: &SandboxHandle,
    url: &str,
    consent: &str,
) -> reqwest::Response {
    let page = client
        .get(url)
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("body");
    assert!(page.contains("Mailport sandbox — not Microsoft"), "{page}");
    let response = submit(
        client,
        &sandbox.base_url,
        &page,
        |f| has_input(f, "passwd", None),
        &[("login", ADELE), ("passwd", DEMO_PASSWORD)],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let consent_page = response.text().await.expect("body");
    assert!(
        consent_page.contains("Permissions requested"),
        "{consent_page}"
    );
    assert!(consent_page.contains("(Mail.ReadWrite)"), "{consent_page}");
    submit(
        client,
        &sandbox.base_url,
        &consent_page,
        |_| true,
        &[],
        Some(("consent", consent)),
    )
    .await
}

async fn get_code(client: &Client, sandbox: &SandboxHandle, extra: &[(&str, &str)]) -> String {
    let url = authorize_url(sandbox, "contoso.onmicrosoft.com", extra);
    let response = sign_in_and_consent(client, sandbox, &url, "accept").await;
    let params = redirect_params(&response);
    params.get("code").expect("code").clone()
}

fn token_url(sandbox: &SandboxHandle) -> String {
    format!("{}/{DEMO_TENANT_ID}/oauth2/v2.0/token", sandbox.base_url)
}

async fn token(sandbox: &SandboxHandle, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = Client::new()
        .post(token_url(sandbox))
        .form(form)
        .send()
        .await
        .expect("token");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

async fn redeem(sandbox: &SandboxHandle, code: &str, verifier: &str) -> (StatusCode, Value) {
    token(
        sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(sandbox: &SandboxHandle, refresh_token: &str) -> (StatusCode, Value) {
    token(
        sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

fn assert_aadsts(
    status: StatusCode,
    body: &Value,
    want_status: StatusCode,
    error: &str,
    code: u64,
) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"][0], code, "{body}");
    let description = body["error_description"].as_str().expect("description");
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
}

fn is_guid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok() && text.len() == 36
}

/// `YYYY-MM-DD HH:MM:SSZ`
fn is_ms_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn jwt_claims(jwt: &str) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json")
}

// ----- authorize: the browser flow -----

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
    let page = client
        .get(&url)
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("body");
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
    let page = client
        .get(&url)
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("body");
    assert!(page.contains("Permissions requested"), "{page}");
    let url = authorize_url(&sandbox, DEMO_TENANT_ID, &[("prompt", "login")]);
    let page = client
        .get(&url)
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("body");
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
    let page = client
        .get(authorize_url(&sandbox, DEMO_TENANT_ID, &[]))
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("body");
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

// ----- token: authorization code -----

#[tokio::test]
async fn code_is_single_use_aadsts54005() {
    let sandbox = spawn_demo().await;
    let code = get_code(
        &browser(),
        &sandbox,
        &[
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let (status, _) = redeem(&sandbox, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = redeem(&sandbox, &code, VERIFIER).await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        54005,
    );
}

#[tokio::test]
async fn pkce_mismatch_or_missing_verifier_is_aadsts501481() {
    let sandbox = spawn_demo().await;
    let client = browser();
    let code = get_code(
        &client,
        &sandbox,
        &[
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let (status, body) = redeem(
        &sandbox,
        &code,
        "a-different-verifier-that-is-long-enough-to-be-valid-123",
    )
    .await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        501481,
    );
    let (status, body) = redeem(&sandbox, &code, "").await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        501481,
    );
    // The right verifier still works: a failed attempt does not burn the code.
    let (status, _) = redeem(&sandbox, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);

    // Plain PKCE: the challenge is the verifier itself. (A fresh browser, and consent
    // withdrawn, so the helper meets the sign-in and consent pages again.)
    let adele = sandbox
        .sandbox
        .world
        .find_user(DEMO_TENANT_ID, ADELE)
        .expect("adele");
    assert!(
        sandbox
            .sandbox
            .world
            .identity()
            .revoke_consent(DEMO_CLIENT_ID, &adele.id)
    );
    let code = get_code(
        &browser(),
        &sandbox,
        &[
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    let (status, body) = redeem(&sandbox, &code, &challenge(VERIFIER)).await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        501481,
    );
    let (status, _) = redeem(&sandbox, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn code_redemption_checks_redirect_uri_and_lifetime() {
    let mut config = SandboxConfig::demo(vec![REDIRECT_URI.to_owned()]);
    config.code_lifetime_secs = 0;
    let expiring = spawn(config).await;
    let code = get_code(&browser(), &expiring, &[]).await;
    let (status, body) = redeem(&expiring, &code, "").await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        70000,
    );

    let sandbox = spawn_demo().await;
    let code = get_code(&browser(), &sandbox, &[]).await;
    let (status, body) = token(
        &sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("code", &code),
            ("redirect_uri", "http://localhost:8080/other"),
        ],
    )
    .await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        500112,
    );
}

// ----- token: refresh -----

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_logs_reuse_of_an_old_one() {
    let sandbox = spawn_demo().await;
    let code = get_code(&browser(), &sandbox, &[]).await;
    let (_, first) = redeem(&sandbox, &code, "").await;
    let rt1 = first["refresh_token"].as_str().expect("rt1").to_owned();

    let (status, second) = refresh(&sandbox, &rt1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rt2 = second["refresh_token"].as_str().expect("rt2").to_owned();
    assert_ne!(rt1, rt2, "every refresh returns a new refresh token");
    assert_ne!(first["access_token"], second["access_token"]);
    assert!(second["id_token"].is_string(), "openid was granted");

    let (status, third) = refresh(&sandbox, &rt2).await;
    assert_eq!(status, StatusCode::OK);
    let rt3 = third["refresh_token"].as_str().expect("rt3").to_owned();
    assert!(rt3 != rt2 && rt3 != rt1);

    let control = sandbox.sandbox.world.identity();
    assert_eq!(control.token_counters().superseded_refresh_token_reuse, 0);
    let presented: Vec<Option<String>> = control
        .token_log()
        .iter()
        .map(|e| e.presented_refresh_token.clone())
        .collect();
    assert_eq!(presented, vec![None, Some(rt1.clone()), Some(rt2.clone())]);

    // Like Entra ID, the old token still works for now, but the reuse is on record.
    let (status, _) = refresh(&sandbox, &rt1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(control.token_counters().superseded_refresh_token_reuse, 1);
    let log: Value = Client::new()
        .get(format!("{}/_sandbox/identity/token-log", sandbox.base_url))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert_eq!(log["counters"]["refresh_token"], 3);
    assert_eq!(
        log["entries"][3]["presented_superseded_refresh_token"],
        true
    );
    assert_eq!(log["entries"][1]["auth_method"], "client_secret_post");

    // A narrower scope is fine, a wider one is not.
    let (status, body) = token(
        &sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("refresh_token", &rt3),
            ("scope", "https://graph.microsoft.com/Mail.ReadWrite"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "Mail.ReadWrite");
    assert!(body.get("id_token").is_none());
    let (status, body) = token(
        &sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("refresh_token", &rt3),
            ("scope", "Mail.ReadWrite User.Read"),
        ],
    )
    .await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        65001,
    );
}

#[tokio::test]
async fn revoked_refresh_tokens_fail_with_aadsts70008() {
    let sandbox = spawn_demo().await;
    let code = get_code(&browser(), &sandbox, &[]).await;
    let (_, body) = redeem(&sandbox, &code, "").await;
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();

    let revoked: Value = Client::new()
        .post(format!(
            "{}/_sandbox/identity/users/{ADELE}/revoke",
            sandbox.base_url
        ))
        .send()
        .await
        .expect("revoke")
        .json()
        .await
        .expect("json");
    assert_eq!(revoked["revoked_refresh_tokens"], 1);
    let (status, body) = refresh(&sandbox, &rt).await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        70008,
    );
}

#[tokio::test]
async fn refresh_token_past_its_lifetime_fails_with_aadsts700082() {
    let mut config = SandboxConfig::demo(vec![REDIRECT_URI.to_owned()]);
    config.refresh_token_lifetime_secs = 0;
    let sandbox = spawn(config).await;
    let code = get_code(&browser(), &sandbox, &[]).await;
    let (_, body) = redeem(&sandbox, &code, "").await;
    let (status, body) = refresh(&sandbox, body["refresh_token"].as_str().expect("rt")).await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        700082,
    );
}

// ----- token: client credentials and client authentication -----

#[tokio::test]
async fn client_credentials_with_secret_in_body_or_basic() {
    let mut config = SandboxConfig::demo(vec![REDIRECT_URI.to_owned()]);
    // A secret that needs form-urlencoding inside HTTP Basic (RFC 6749 §2.3.1).
    let odd_secret = "a+b/c=d:e%f~g";
    config.tenants[0].apps[0]
        .secrets
        .push(mailport::sandbox::world::SecretConfig {
            value: odd_secret.to_owned(),
            expires_at: None,
        });
    let sandbox = spawn(config).await;

    let (status, body) = token(
        &sandbox,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("id_token").is_none());
    let grant = sandbox
        .sandbox
        .world
        .access_grant(body["access_token"].as_str().expect("at"))
        .expect("registered");
    assert_eq!(grant.roles, vec!["Mail.ReadWrite".to_owned()]);
    assert_eq!(grant.user_id, None);

    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = STANDARD.encode(format!("{}:{}", encode(DEMO_CLIENT_ID), encode(odd_secret)));
    let response = Client::new()
        .post(token_url(&sandbox))
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    let log = sandbox.sandbox.world.identity().token_log();
    let methods: Vec<Value> = log
        .iter()
        .map(|e| serde_json::to_value(e.auth_method).expect("json"))
        .collect();
    assert_eq!(methods, vec!["client_secret_post", "client_secret_basic"]);
}

#[tokio::test]
async fn client_credentials_scope_must_be_one_default_aadsts70011() {
    let sandbox = spawn_demo().await;
    for scope in [
        "https://graph.microsoft.com/.default offline_access",
        "https://graph.microsoft.com/Mail.ReadWrite",
        "Mail.ReadWrite",
    ] {
        let (status, body) = token(
            &sandbox,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("scope", scope),
            ],
        )
        .await;
        assert_aadsts(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
        );
    }
}

#[tokio::test]
async fn wrong_secret_is_401_with_microsofts_exact_error_shape() {
    let sandbox = spawn_demo().await;
    let response = Client::new()
        .post(token_url(&sandbox))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", "not-the-secret"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    assert!(
        response.headers()[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .contains("no-store")
    );
    let text = response.text().await.expect("body");
    // Field order matters to nobody, but it is Microsoft's, so keep it.
    let keys: Vec<&str> = [
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
    ]
    .to_vec();
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| text.find(&format!("\"{k}\"")).expect(k))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        body.as_object().expect("object").len(),
        keys.len(),
        "{text}"
    );
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], serde_json::json!([7000215]));
    assert_eq!(
        body["error_uri"],
        "https://login.microsoftonline.com/error?code=7000215"
    );
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    let trace = body["trace_id"].as_str().expect("trace");
    let correlation = body["correlation_id"].as_str().expect("correlation");
    assert!(
        is_ms_timestamp(timestamp) && is_guid(trace) && is_guid(correlation),
        "{text}"
    );
    let description = body["error_description"].as_str().expect("description");
    assert!(
        description.starts_with("AADSTS7000215: Invalid client secret provided."),
        "{description}"
    );
    assert!(description.ends_with(&format!(
        "\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
    )));

    // The other client and request errors of the token endpoint.
    let cc = |client: &'static str, secret: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        if let Some(secret) = secret {
            form.push(("client_secret", secret));
        }
        form
    };
    let (status, body) = token(&sandbox, &cc(DEMO_CLIENT_ID, None)).await;
    assert_aadsts(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000218,
    );
    let (status, body) = token(
        &sandbox,
        &cc("00000000-0000-0000-0000-000000000001", Some("x")),
    )
    .await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
    );
    let (status, body) = token(
        &sandbox,
        &[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
        ],
    )
    .await;
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
    );
    let (status, body) = token(
        &sandbox,
        &[("grant_type", "password"), ("client_id", DEMO_CLIENT_ID)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");
    let response = Client::new()
        .post(format!(
            "{}/fabrikam.onmicrosoft.com/oauth2/v2.0/token",
            sandbox.base_url
        ))
        .form(&cc(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET)))
        .send()
        .await
        .expect("token");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        90002,
    );
}

#[tokio::test]
async fn expired_secret_is_401_aadsts7000222() {
    let sandbox = spawn_demo().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let (status, _) = token(&sandbox, &form).await;
    assert_eq!(status, StatusCode::OK);
    let response = Client::new()
        .post(format!(
            "{}/_sandbox/identity/apps/{DEMO_CLIENT_ID}/secrets/expire",
            sandbox.base_url
        ))
        .send()
        .await
        .expect("expire");
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = token(&sandbox, &form).await;
    assert_aadsts(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000222,
    );

    // The Rust control can renew it.
    sandbox
        .sandbox
        .world
        .identity()
        .set_secret_expiry(DEMO_CLIENT_ID, None, None);
    let (status, _) = token(&sandbox, &form).await;
    assert_eq!(status, StatusCode::OK);
}

// ----- faults -----

#[tokio::test]
async fn queued_faults_hit_the_next_token_requests_in_order() {
    let sandbox = spawn_demo().await;
    let client = Client::new();
    let faults_url = format!("{}/_sandbox/identity/faults", sandbox.base_url);
    for fault in [
        serde_json::json!({"kind": "status", "status": 503, "count": 2}),
        serde_json::json!({"kind": "status", "status": 500, "body": "{\"error\":\"server_error\"}"}),
        serde_json::json!({"kind": "html"}),
        serde_json::json!({"kind": "huge"}),
        serde_json::json!({"kind": "hang", "seconds": 5}),
    ] {
        let response = client
            .post(&faults_url)
            .json(&fault)
            .send()
            .await
            .expect("fault");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let send = || client.post(token_url(&sandbox)).form(&form).send();

    for _ in 0..2 {
        let response = send().await.expect("token");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.text().await.expect("body").is_empty());
    }
    let response = send().await.expect("token");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.text().await.expect("body"),
        "{\"error\":\"server_error\"}"
    );
    let response = send().await.expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let response = send().await.expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await.expect("body").len(),
        10 * 1024 * 1024
    );

    // The hang outlasts a client's timeout.
    let timed_out = client
        .post(token_url(&sandbox))
        .form(&form)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));

    // The queue is empty again: normal service.
    let response = send().await.expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    let faults: Value = client
        .get(&faults_url)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(faults, serde_json::json!([]));
    let counters = sandbox.sandbox.world.identity().token_counters();
    assert_eq!(counters.faults, 5, "{counters:?}");
    assert_eq!(counters.successes, 1, "{counters:?}");
}

// ----- configuration -----

#[tokio::test]
async fn demo_config_round_trips_through_a_json_file_and_unknown_fields_are_refused() {
    let dir = std::env::temp_dir().join(format!("mailport-identity-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("sandbox.json");
    let demo = SandboxConfig::demo(vec![REDIRECT_URI.to_owned()]);
    std::fs::write(&good, serde_json::to_string_pretty(&demo).expect("json")).expect("write");
    let loaded = SandboxConfig::from_json_file(&good).expect("loads");
    assert_eq!(loaded.tenants[0].apps[0].client_id, DEMO_CLIENT_ID);
    assert_eq!(loaded.tenants[0].users.len(), 2);

    let bad = dir.join("typo.json");
    let mut value = serde_json::to_value(&demo).expect("json");
    value["tenants"][0]["apps"][0]["redirect_uri"] = Value::String(REDIRECT_URI.to_owned());
    std::fs::write(&bad, value.to_string()).expect("write");
    let error = format!(
        "{:#}",
        SandboxConfig::from_json_file(&bad).expect_err("refused")
    );
    assert!(
        error.contains("typo.json") && error.contains("redirect_uri"),
        "{error}"
    );
    let missing = SandboxConfig::from_json_file(dir.join("missing.json")).expect_err("refused");
    assert!(format!("{missing:#}").contains("missing.json"));
    std::fs::remove_dir_all(&dir).ok();

    // A GET on the token endpoint is a Microsoft-style error too, not a bare 405.
    let sandbox = spawn(loaded).await;
    let response = Client::new()
        .get(token_url(&sandbox))
        .send()
        .await
        .expect("get");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_aadsts(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900561,
    );
}
