//! The outbound host policy: a client secret or a token goes only to Microsoft's hosts and to
//! hosts the operator allowed on the server. Loopback listeners stand in for the places an
//! attacker with an admin session would point Mailport at; they must receive nothing.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailport::oauth::credential::GrantType;
use mailport::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID};
use mailport::store::accounts::AfterImport;
use mailport::store::credentials;
use reqwest::StatusCode;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::helpers::*;

/// A TCP listener that records every connection and what was sent on it, then hangs up.
#[derive(Clone)]
pub struct Listener {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Listener {
    pub async fn spawn() -> Listener {
        let socket = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let listener = Listener {
            addr: socket.local_addr().expect("addr"),
            received: Arc::default(),
        };
        let received = listener.received.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = socket.accept().await {
                let received = received.clone();
                tokio::spawn(async move {
                    let mut bytes = Vec::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf))
                            .await
                    {
                        if n == 0 || bytes.len() > 64 * 1024 {
                            break;
                        }
                        bytes.extend_from_slice(&buf[..n]);
                    }
                    received.lock().expect("received").push(bytes);
                });
            }
        });
        listener
    }

    /// `127.0.0.1:PORT`, as `--allow-host` takes it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections so far, each with what it carried.
    pub async fn received(&self) -> Vec<Vec<u8>> {
        // Give a connection in flight the time to be recorded.
        tokio::time::sleep(Duration::from_millis(400)).await;
        self.received.lock().expect("received").clone()
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The fields of the credential form for credential `c` against the sandbox, with changes.
fn credential_fields<'a>(
    app: &'a TestApp,
    changes: &[(&'a str, &'a str)],
) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = [
        ("description", "test credential"),
        ("grant_type", "client_credentials"),
        ("authorization_url", ""),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", ""),
        ("scope", "https://graph.microsoft.com/.default"),
        ("client_auth", "post"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    fields.push(("access_token_url".into(), app.tenant_url("token")));
    for (k, v) in changes {
        fields.retain(|(name, _)| name != k);
        fields.push((k.to_string(), v.to_string()));
    }
    fields
}

async fn post_owned(app: &TestApp, path: &str, fields: &[(String, String)]) -> reqwest::Response {
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    app.post_form(path, &borrowed).await
}

async fn stored_token_url(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT access_token_url FROM credentials WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db)
        .await
        .expect("credential")
}

#[tokio::test]
async fn a_new_token_url_never_takes_the_stored_secret_along() {
    let stranger = Listener::spawn().await;
    let allowed = Listener::spawn().await;
    let app = TestApp::signed_in_allowing(&[&allowed.host()]).await;
    app.app_credential().await;
    let original = stored_token_url(&app, "app").await;

    // The attack of the review: only the token URL changes, the secret field stays empty.
    let to_stranger = stranger.url(&format!("/{DEMO_TENANT_ID}/oauth2/v2.0/token"));
    let r = post_owned(
        &app,
        "/credentials/app",
        &credential_fields(&app, &[("access_token_url", &to_stranger)]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.expect("page");
    assert!(page.contains("Not allowed"), "{page}");
    assert!(page.contains("--allow-host"), "the page says what to do");

    // Even to an allowed host: another origin needs the secret typed again.
    let to_allowed = allowed.url(&format!("/{DEMO_TENANT_ID}/oauth2/v2.0/token"));
    let r = post_owned(
        &app,
        "/credentials/app",
        &credential_fields(&app, &[("access_token_url", &to_allowed)]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.expect("page");
    assert!(page.contains("Enter the client secret again"), "{page}");
    assert_eq!(
        stored_token_url(&app, "app").await,
        original,
        "nothing saved"
    );

    // The same origin keeps the stored secret (another tenant path on the same host).
    let same_origin = format!("{}/organizations/oauth2/v2.0/token", app.sandbox.base_url);
    let r = post_owned(
        &app,
        "/credentials/app",
        &credential_fields(&app, &[("access_token_url", &same_origin)]),
    )
    .await;
    assert_is_redirect_to(&r, "/credentials/app");

    // With a new secret the allowed host may be used, and receives that secret only.
    let r = post_owned(
        &app,
        "/credentials/app",
        &credential_fields(
            &app,
            &[
                ("access_token_url", &to_allowed),
                ("client_secret", "a-secret-meant-for-the-other-host"),
            ],
        ),
    )
    .await;
    assert_is_redirect_to(&r, "/credentials/app");
    app.post_form("/credentials/app/token", &[]).await;
    let seen = allowed.received().await;
    assert!(!seen.is_empty(), "the allowed host was asked");
    assert!(
        seen.iter()
            .any(|b| contains(b, "a-secret-meant-for-the-other-host"))
    );
    assert!(!seen.iter().any(|b| contains(b, DEMO_CLIENT_SECRET)));
    assert!(
        stranger.received().await.is_empty(),
        "the stranger got a connection"
    );

    // The store drops a secret whose token URL moves even for a caller that skipped the
    // form; a move within the origin keeps it.
    let stored = credentials::get(&app.state.db, "app")
        .await
        .expect("db")
        .expect("credential");
    let mut settings = stored.settings();
    settings.access_token_url = format!("{}/other/oauth2/v2.0/token", allowed.url(""));
    credentials::update(&app.state.db, &app.state.key, &settings, None, true)
        .await
        .expect("update");
    let kept = credentials::get(&app.state.db, "app").await.expect("db");
    assert!(
        kept.expect("credential").client_secret.is_some(),
        "same origin"
    );
    settings.access_token_url = to_stranger.clone();
    credentials::update(&app.state.db, &app.state.key, &settings, None, true)
        .await
        .expect("update");
    let moved = credentials::get(&app.state.db, "app").await.expect("db");
    assert!(
        moved.expect("credential").client_secret.is_none(),
        "secret kept"
    );
}

#[tokio::test]
async fn link_local_private_and_unlisted_addresses_are_refused_on_the_form_and_when_resolved() {
    let named = Listener::spawn().await;
    let options = Options {
        allow_hosts: vec![
            "169.254.169.254".into(),
            "10.9.8.7".into(),
            "metadata.example.test".into(),
            format!("intranet.example.test:{}", named.addr.port()),
        ],
        fixed_dns: vec![
            ("login.microsoftonline.com".into(), vec![ip("127.0.0.1")]),
            ("graph.microsoft.com".into(), vec![ip("10.0.0.8")]),
            ("metadata.example.test".into(), vec![ip("169.254.169.254")]),
            ("intranet.example.test".into(), vec![ip("127.0.0.1")]),
        ],
        ..Options::default()
    };
    let app = TestApp::spawn_custom(options, |_| {}).await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    app.login(ADMIN, ADMIN_PASSWORD).await;

    let tail = format!("/{DEMO_TENANT_ID}/oauth2/v2.0/token");
    for host in [
        "https://169.254.169.254",
        "https://[::ffff:169.254.169.254]",
        "https://[fe80::1]",
        "https://0.0.0.0",
        "https://10.0.0.5",
        "https://192.168.1.1",
        "https://127.0.0.1",
        "https://2130706433",
        "https://0x7f.1",
        "https://[::1]",
        "https://evil.example",
        "https://login.microsoftonline.com.evil.example",
        "https://login.microsoftonline.com:8443",
        "http://login.microsoftonline.com",
        "http://10.9.8.7",
        "https://user@login.microsoftonline.com",
    ] {
        let url = format!("{host}{tail}");
        let r = app
            .create_credential("c", "client_credentials", &[("access_token_url", &url)])
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let page = r.text().await.expect("page");
        assert!(
            page.contains("Not allowed") || page.contains("user name"),
            "{url}"
        );
    }
    // A private address the operator named is fine.
    let r = app
        .create_credential(
            "private",
            "client_credentials",
            &[("access_token_url", &format!("https://10.9.8.7{tail}"))],
        )
        .await;
    assert_is_redirect_to(&r, "/credentials/private");

    // Names are checked after DNS: a Microsoft host that resolves to loopback, an allowed
    // name that resolves to the metadata address.
    for (id, url) in [
        ("ms", format!("https://login.microsoftonline.com{tail}")),
        ("meta", format!("https://metadata.example.test{tail}")),
    ] {
        let r = app
            .create_credential(id, "client_credentials", &[("access_token_url", &url)])
            .await;
        assert_is_redirect_to(&r, &format!("/credentials/{id}"));
        app.post_form(&format!("/credentials/{id}/token"), &[])
            .await;
        let json = app.credential(id).await;
        assert_eq!(
            json["token"]["last_error"]["code"], "host_not_allowed",
            "{json}"
        );
        let description = json["token"]["last_error"]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(description.contains("resolves to"), "{description}");
        let page = app.get_text(&format!("/credentials/{id}")).await;
        assert!(page.contains("resolves to"), "the page says why");
    }
    // A name the operator allowed may resolve to a private address: the connection is made.
    let r = app
        .create_credential(
            "intranet",
            "client_credentials",
            &[(
                "access_token_url",
                &format!("https://intranet.example.test:{}{tail}", named.addr.port()),
            )],
        )
        .await;
    assert_is_redirect_to(&r, "/credentials/intranet");
    app.post_form("/credentials/intranet/token", &[]).await;
    assert!(
        !named.received().await.is_empty(),
        "the named host was reached"
    );
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

#[tokio::test]
async fn a_graph_url_outside_the_credentials_cloud_never_receives_a_token() {
    let stranger = Listener::spawn().await;
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    for (graph_url, says) in [
        (stranger.url("/v1.0"), "Not allowed"),
        ("https://graph.microsoft.com/v1.0".to_string(), "cloud"),
        ("https://graph.microsoft.us/v1.0".to_string(), "cloud"),
        ("https://169.254.169.254/v1.0".to_string(), "link-local"),
    ] {
        let r = app
            .create_account("acct", &[("graph_url", graph_url.as_str())])
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{graph_url}");
        let page = r.text().await.expect("page");
        assert!(page.contains(says), "{graph_url}: {says}");
    }

    // An account saved before the policy existed is refused when it runs.
    let mut settings = mailport::demo::sandbox_account("old", "app", "unused", AfterImport::Keep);
    settings.graph_url = stranger.url("/v1.0");
    mailport::store::accounts::insert(&app.state.db, &settings)
        .await
        .expect("account");
    let summary = app.state.importer.run_account("old").await.expect("run");
    assert_eq!(
        summary.error_code.as_deref(),
        Some("host_not_allowed"),
        "{summary:?}"
    );
    let page = app.get_text("/accounts/old").await;
    assert!(
        page.contains("--allow-host"),
        "the account page says what to do"
    );
    assert!(stranger.received().await.is_empty());
}

#[tokio::test]
async fn urls_stored_before_the_policy_are_refused_with_an_explanation_in_the_page_api_and_cli() {
    let stranger = Listener::spawn().await;
    let app = TestApp::signed_in().await;
    // Rows as an older version (or another server's settings) left them.
    let mut settings = mailport::demo::sandbox_credential(
        "old",
        &format!("http://{}", stranger.host()),
        GrantType::AuthorizationCode,
    );
    settings.description = "stored before the policy".into();
    let secret = mailport::crypto::Secret::new(DEMO_CLIENT_SECRET.to_string());
    credentials::insert(&app.state.db, &app.state.key, &settings, Some(&secret))
        .await
        .expect("credential");

    // The key button does not send the browser there...
    let r = app.post_form("/credentials/old/token", &[]).await;
    assert_is_redirect_to(&r, "/credentials/old");
    let page = app.get_text("/credentials/old").await;
    assert!(page.contains("not allowed"), "{page}");
    // ...and a refresh does not send the secret there.
    assert!(
        app.state
            .tokens
            .fetch_client_credentials("old")
            .await
            .is_err()
    );
    let json = app.credential("old").await;
    assert_eq!(json["token"]["last_error"]["code"], "host_not_allowed");
    assert!(
        json["token"]["last_error"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("--allow-host")),
        "{json}"
    );
    assert!(stranger.received().await.is_empty());

    // The command line: refused with the same words, unless --allow-host names the host.
    let data = tempfile::tempdir().expect("dir");
    let account = mailport::demo::sandbox_account(
        "acct",
        "cli",
        &format!("http://{}", stranger.host()),
        AfterImport::Keep,
    );
    mailport::demo::prepare_data_dir(
        data.path(),
        &format!("http://{}", stranger.host()),
        &account,
    )
    .await
    .expect("data dir");
    let import = |extra: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailport"));
        cmd.args(["import", "--account", "acct", "--data-dir"])
            .arg(data.path())
            .args(extra)
            .env("MAILPORT_LOG", "warn")
            .env_remove("MAILPORT_ALLOW_HOSTS")
            .env_remove("MAILPORT_SECRET_KEY");
        if let Some(hosts) = env {
            cmd.env("MAILPORT_ALLOW_HOSTS", hosts);
        }
        // Async, so that the listener keeps running while the command waits for it.
        tokio::process::Command::from(cmd).output()
    };
    let refused = import(&[], None).await.expect("run");
    assert!(!refused.status.success());
    let text = String::from_utf8_lossy(&refused.stdout).to_string()
        + &String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains("host_not_allowed") && text.contains("--allow-host"),
        "{text}"
    );
    assert!(
        stranger.received().await.is_empty(),
        "the CLI sent something"
    );

    let bad = import(&["--allow-host", "https://x.example/"], None)
        .await
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("HOST or HOST:PORT"));

    // Allowed by flag and by environment: now the host is asked for a token.
    import(&["--allow-host", &stranger.host()], None)
        .await
        .expect("run");
    let asked = stranger.received().await.len();
    assert!(asked >= 1, "the allowed host was not asked");
    import(&[], Some(&format!("other.example, {}", stranger.host())))
        .await
        .expect("run");
    assert!(stranger.received().await.len() > asked);
}
