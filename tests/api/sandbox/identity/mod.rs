//! The Entra ID sandbox, driven directly over HTTP: the browser flow through the real pages
//! (parsed with scraper, like a user agent would), the token endpoint, and the controls.
//! One file per behaviour; the shared helpers live here.

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

mod authorization_code;
mod authorize;
mod client_credentials;
mod config;
mod faults;
mod refresh;

const REDIRECT_URI: &str = "http://localhost:8080/oauth/callback";
const ADELE: &str = "adele@contoso.onmicrosoft.com";
const SCOPE: &str = "openid profile offline_access Mail.ReadWrite";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-sandbox-verifier";

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

/// The page the authorize endpoint shows this browser.
async fn authorize_page(client: &Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("body")
}

/// Signs Adele in on a fresh sign-in page and answers the consent page.
async fn sign_in_and_consent(
    client: &Client,
    sandbox: &SandboxHandle,
    url: &str,
    consent: &str,
) -> reqwest::Response {
    let page = authorize_page(client, url).await;
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
    answer(response).await
}

/// The status and JSON body of a token endpoint answer.
async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
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

/// Asserts that a token endpoint answer is Entra ID's error shape (`error`, `error_codes`, an
/// `error_description` that starts with `AADSTS{code}: `) with this status.
fn assert_aadsts(
    (status, body): &(StatusCode, Value),
    want_status: StatusCode,
    error: &str,
    code: u64,
) {
    assert_eq!(*status, want_status, "{body}");
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
