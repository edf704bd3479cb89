//! A real Mailport on a loopback port with a fresh data dir, next to a real sandbox on
//! another port, and a cookie-keeping HTTP client that does not follow redirects.
//!
//! Shared by the `api` and `security` test binaries (each includes it as `mod helpers`
//! through `#[path]`); each binary uses a different part of it. Form scraping lives in
//! `forms`, the walk through the sandbox's sign-in pages in `sandbox_walk`; both are
//! re-exported here.
#![allow(dead_code)]

use std::time::Duration;

pub mod postgres;

use mailport::app::{self, AppState, RunningApp};
use mailport::config::{Config, HttpSettings};
use mailport::outbound::{AllowedHost, HostPolicy};
use mailport::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PASSWORD, DEMO_TENANT_ID};
use mailport::sandbox::{self, SandboxConfig, SandboxHandle};
use mailport::web::ServerLimits;
use mailport::webhooks::WebhookSettings;
use reqwest::{Client, Response, StatusCode, header};
use serde_json::Value;
use tokio::net::TcpListener;

mod forms;
mod sandbox_walk;

// Each binary uses a different part of these.
#[allow(unused_imports)]
pub use forms::{ParsedForm, form_value, parse_forms};
pub use sandbox_walk::walk_sandbox;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
pub const ADELE: &str = "adele@contoso.onmicrosoft.com";

/// What [`TestApp::spawn_custom`] may change.
#[derive(Default)]
pub struct Options {
    pub limits: ServerLimits,
    /// The public URL Mailport believes it has (default: its loopback address).
    pub public_url: Option<String>,
    /// Hosts allowed besides the sandbox (`--allow-host`).
    pub allow_hosts: Vec<String>,
    /// Names the app resolves to these addresses instead of asking DNS.
    pub fixed_dns: Vec<(String, Vec<std::net::IpAddr>)>,
    /// The absolute session lifetime (`--session-lifetime`), if not the default.
    pub session_lifetime: Option<Duration>,
    /// Webhook sender settings (default: [`test_webhook_settings`]).
    pub webhooks: Option<WebhookSettings>,
    /// Changes the configuration last (for instance to let the scheduler poll on its own).
    pub config: Option<fn(&mut Config)>,
}

/// The webhook sender as tests run it: a short tick and timeout; the production retry
/// schedule unless a test shortens it. The sandbox's receiver is allowed by the app's host
/// policy, like the rest of the sandbox.
pub fn test_webhook_settings() -> WebhookSettings {
    WebhookSettings {
        tick: Duration::from_millis(100),
        timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(2),
        shutdown_grace: Duration::from_secs(2),
        ..WebhookSettings::default()
    }
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub state: AppState,
    pub running: RunningApp,
    pub sandbox: SandboxHandle,
    pub data_dir: tempfile::TempDir,
}

/// The database the test apps use: `MAILPORT_TEST_BACKEND=postgres` runs them on a fresh
/// database of the process's throwaway PostgreSQL cluster (see `postgres.rs`); anything else
/// is SQLite in the data dir. `cargo test` sets it for its second run of the API tests
/// (`backends.rs`).
pub fn test_backend_is_postgres() -> bool {
    std::env::var("MAILPORT_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// Points `config` at a fresh PostgreSQL database, with a key file in its data dir, when
/// the tests run on PostgreSQL.
pub async fn use_test_backend(config: &mut Config) {
    if !test_backend_is_postgres() {
        return;
    }
    let cluster = postgres::available()
        .expect("MAILPORT_TEST_BACKEND=postgres, but PostgreSQL is not installed");
    let url = cluster.fresh_database().await;
    config.database_url = Some(url.parse().expect("database url"));
    let key_file = config.data_dir.join("shared.key");
    if !key_file.exists() {
        std::fs::write(&key_file, random_key()).expect("key file");
    }
    config.secret_key_file = Some(key_file);
}

/// A new random key as `MAILPORT_SECRET_KEY` takes it (base64 of 32 bytes).
pub fn random_key() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A client that keeps cookies and shows us every redirect.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

impl TestApp {
    /// App + sandbox, with an administrator that is NOT signed in yet.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut SandboxConfig)) -> TestApp {
        Self::spawn_custom(Options::default(), adjust).await
    }

    /// App + sandbox with other server limits or another public URL.
    pub async fn spawn_custom(
        options: Options,
        adjust: impl FnOnce(&mut SandboxConfig),
    ) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://127.0.0.1:{}", addr.port());
        let redirect_uri = format!("{base}/OAuth2Callback");
        let mut sandbox_config = SandboxConfig::demo(vec![redirect_uri]);
        adjust(&mut sandbox_config);
        let sandbox_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox");
        let sandbox_addr = sandbox_listener.local_addr().expect("sandbox addr");
        let sandbox = sandbox::spawn(sandbox_listener, sandbox_config)
            .await
            .expect("sandbox");
        let data_dir = tempfile::tempdir().expect("tempdir");
        let public_url = options.public_url.unwrap_or_else(|| base.clone());
        let mut config = Config::new(
            addr,
            data_dir.path().to_path_buf(),
            Some(public_url.parse().expect("url")),
        );
        config.http = HttpSettings {
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            token_attempts: 2,
            token_retry_base: Duration::from_millis(50),
            // The id Config::new gave the importer too (a default would draw another).
            instance_id: config.instance_id().to_string(),
            ..HttpSettings::default()
        };
        // The sandbox is allowed explicitly, as `--allow-host` does for `mailport serve`.
        let mut allowed = vec![AllowedHost::socket(sandbox_addr)];
        allowed.extend(
            options
                .allow_hosts
                .iter()
                .map(|h| h.parse::<AllowedHost>().expect("allowed host")),
        );
        config.hosts = options
            .fixed_dns
            .into_iter()
            .fold(HostPolicy::new(allowed), |p, (name, addrs)| {
                p.with_fixed_dns(&name, addrs)
            });
        if let Some(lifetime) = options.session_lifetime {
            config.sessions.lifetime = lifetime;
        }
        // The scheduler polls nothing on its own (Run now still works): tests drive runs.
        config.import.scheduled = false;
        config.import.graph.base_backoff = Duration::from_millis(20);
        config.import.graph.max_backoff = Duration::from_millis(500);
        config.webhooks = options.webhooks.unwrap_or_else(test_webhook_settings);
        if let Some(adjust) = options.config {
            adjust(&mut config);
        }
        use_test_backend(&mut config).await;
        let state = AppState::open(config).await.expect("open app");
        let running = app::start_with(listener, state.clone(), options.limits)
            .await
            .expect("start app");
        TestApp {
            base,
            client: browser(),
            state,
            running,
            sandbox,
            data_dir,
        }
    }

    /// App + sandbox with a signed-in administrator.
    pub async fn signed_in() -> TestApp {
        Self::signed_in_with(|_| {}).await
    }

    /// App + sandbox with a signed-in administrator, allowing more hosts than the sandbox.
    pub async fn signed_in_allowing(hosts: &[&str]) -> TestApp {
        let options = Options {
            allow_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..Options::default()
        };
        let app = Self::spawn_custom(options, |_| {}).await;
        app.create_admin(ADMIN, ADMIN_PASSWORD).await;
        app.login(ADMIN, ADMIN_PASSWORD).await;
        app
    }

    pub async fn signed_in_with(adjust: impl FnOnce(&mut SandboxConfig)) -> TestApp {
        let app = Self::spawn_with(adjust).await;
        app.create_admin(ADMIN, ADMIN_PASSWORD).await;
        app.login(ADMIN, ADMIN_PASSWORD).await;
        app
    }

    /// A second browser (own cookie jar) against the same app and sandbox.
    pub fn spawn_client(app: &TestApp) -> Browser<'_> {
        Browser {
            app,
            client: browser(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stores an API key `key` (the bearer string) named `name` with `scope`, as
    /// `mailport apikey create` would.
    pub async fn add_api_key(
        &self,
        name: &str,
        key: &str,
        scope: mailport::store::api_keys::ApiScope,
    ) {
        mailport::store::api_keys::create_with_scope(
            &self.state.db,
            name,
            &mailport::crypto::sha256_hex(key.as_bytes()),
            scope,
        )
        .await
        .expect("API key");
    }

    pub async fn create_admin(&self, name: &str, password: &str) {
        let hash = mailport::passwords::hash(password.to_string())
            .await
            .expect("hash");
        mailport::store::users::upsert(&self.state.db, name, &hash)
            .await
            .expect("user");
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_text(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.text().await.expect("body")
    }

    /// The CSRF token of the current session, read from a page's form.
    pub async fn csrf(&self) -> String {
        let page = self.get("/login").await.text().await.expect("body");
        let page = if page.contains("csrf_token") {
            page
        } else {
            self.get_text("/credentials").await
        };
        form_value(&page, "csrf_token").expect("csrf token on page")
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.client
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .expect("POST")
    }

    /// POST without adding a CSRF token.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }

    pub async fn login(&self, user: &str, password: &str) -> Response {
        let r = self
            .post_form("/login", &[("username", user), ("password", password)])
            .await;
        if user == ADMIN && password == ADMIN_PASSWORD {
            assert_is_redirect_to(&r, "/credentials");
        }
        r
    }

    pub async fn api(&self, path: &str) -> Value {
        let r = self.get(&format!("/api/v1{path}")).await;
        assert_eq!(r.status(), StatusCode::OK, "API {path}");
        r.json().await.expect("json")
    }

    pub async fn credential(&self, id: &str) -> Value {
        self.api(&format!("/credentials/{id}")).await
    }

    pub fn tenant_url(&self, tail: &str) -> String {
        format!(
            "{}/{DEMO_TENANT_ID}/oauth2/v2.0/{tail}",
            self.sandbox.base_url
        )
    }

    /// Creates a credential against the sandbox's demo app.
    pub async fn create_credential(
        &self,
        id: &str,
        grant_type: &str,
        extra: &[(&str, &str)],
    ) -> Response {
        let authorize = self.tenant_url("authorize?prompt=select_account");
        let token = self.tenant_url("token");
        let scope = if grant_type == "client_credentials" {
            "https://graph.microsoft.com/.default"
        } else {
            "Mail.ReadWrite offline_access"
        };
        let mut fields: Vec<(&str, &str)> = vec![
            ("id", id),
            ("description", "test credential"),
            ("grant_type", grant_type),
            ("authorization_url", authorize.as_str()),
            ("access_token_url", token.as_str()),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("scope", scope),
            ("client_auth", "post"),
        ];
        for (k, v) in extra {
            fields.retain(|(name, _)| name != k);
            fields.push((k, v));
        }
        self.post_form("/credentials", &fields).await
    }

    /// Presses the key button of an authorization-code credential and walks the sandbox's
    /// sign-in and consent pages. Returns the callback URL the sandbox redirected to.
    pub async fn sign_in_at_sandbox(&self, id: &str, user: &str, accept: bool) -> String {
        let r = self
            .post_form(&format!("/credentials/{id}/token"), &[])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "key button redirects");
        let authorize = location(&r);
        walk_sandbox(&self.client, &authorize, user, DEMO_PASSWORD, accept).await
    }

    /// Full authorization-code flow: key, sign-in, consent, callback.
    pub async fn authorize(&self, id: &str) -> Response {
        let callback = self.sign_in_at_sandbox(id, ADELE, true).await;
        let r = self.client.get(&callback).send().await.expect("callback");
        assert_is_redirect_to(&r, &format!("/credentials/{id}"));
        r
    }

    /// Pretends time passed: the stored access token now expires in `secs` seconds.
    pub async fn expire_token_in(&self, id: &str, secs: i64) {
        sqlx::query("UPDATE credentials SET expires_at = $1 WHERE id = $2")
            .bind(mailport::store::now() + secs)
            .bind(id)
            .execute(&self.state.db)
            .await
            .expect("update");
    }

    /// Every byte Mailport keeps on disk: the database, its WAL, the session store.
    pub fn data_dir_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.data_dir.path())
            .expect("dir")
            .flatten()
        {
            if entry.path().is_file() {
                all.extend(std::fs::read(entry.path()).unwrap_or_default());
            }
        }
        all
    }
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location header (status {})", r.status()))
        .to_string()
}

pub fn assert_is_redirect_to(r: &Response, path: &str) {
    assert!(
        r.status().is_redirection(),
        "expected a redirect to {path}, got {}",
        r.status()
    );
    let loc = location(r);
    assert!(
        loc == path || loc.ends_with(path),
        "expected a redirect to {path}, got {loc}"
    );
}

/// The query parameters of a URL.
pub fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param(url: &str, name: &str) -> Option<String> {
    query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Another browser on the same app: its own cookies.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub client: Client,
}

impl Browser<'_> {
    pub async fn csrf(&self) -> String {
        let page = self
            .client
            .get(self.app.url("/login"))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        form_value(&page, "csrf_token").expect("csrf")
    }

    pub async fn login(&self, user: &str, password: &str) -> Response {
        self.post_login(&[("username", user), ("password", password)])
            .await
    }

    /// Posts the sign-in form with these fields and the page's form token.
    pub async fn post_login(&self, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf().await;
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.client
            .post(self.app.url("/login"))
            .form(&all)
            .send()
            .await
            .expect("POST")
    }

    /// Whether this browser is signed in: the settings page, or a redirect to sign-in.
    pub async fn signed_in(&self) -> bool {
        let r = self
            .client
            .get(self.app.url("/settings"))
            .send()
            .await
            .expect("GET");
        match r.status() {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => {
                assert!(location(&r).starts_with("/login"));
                false
            }
            other => panic!("unexpected {other}"),
        }
    }
}

impl TestApp {
    /// Another browser on this app with a client of the test's making (its own source
    /// address or user agent).
    pub fn browser_with(&self, client: Client) -> Browser<'_> {
        Browser { app: self, client }
    }

    /// Seeds `count` messages with an attachment into Adele's inbox, creates the account
    /// `acct` on the credential `app` and imports them.
    pub async fn import_seeded(&self, count: usize) {
        self.graph()
            .seed_generated(
                ADELE,
                "Inbox",
                &mailport::sandbox::graph::GenerateSpec {
                    count,
                    attachments: 1,
                    ..Default::default()
                },
            )
            .expect("seed");
        let r = self.create_account("acct", &[]).await;
        assert_is_redirect_to(&r, "/accounts/acct");
        let summary = self
            .state
            .importer
            .run_account("acct")
            .await
            .expect("import");
        assert_eq!(summary.imported, count as i64, "{summary:?}");
    }
}

impl TestApp {
    /// A client-credentials credential `app` with a token.
    pub async fn app_credential(&self) {
        let r = self
            .create_credential("app", "client_credentials", &[])
            .await;
        assert_is_redirect_to(&r, "/credentials/app");
        self.post_form("/credentials/app/token", &[]).await;
        assert_eq!(self.credential("app").await["token"]["status"], "valid");
    }

    /// Creates an e-mail account through the form (disabled unless `enabled` is given).
    pub async fn create_account(&self, id: &str, extra: &[(&str, &str)]) -> Response {
        let graph = format!("{}/v1.0", self.sandbox.base_url);
        let mut fields: Vec<(&str, &str)> = vec![
            ("id", id),
            ("description", "test account"),
            ("mailbox", ADELE),
            ("folder", "Inbox"),
            ("credential_id", "app"),
            ("after_import", "move"),
            ("move_to", "Imported"),
            ("graph_url", graph.as_str()),
            ("poll_interval", "60"),
            ("enabled", "on"),
        ];
        for (k, v) in extra {
            fields.retain(|(name, _)| name != k);
            fields.push((k, v));
        }
        self.post_form("/accounts", &fields).await
    }

    pub fn graph(&self) -> &mailport::sandbox::graph::GraphState {
        &self.sandbox.sandbox.graph
    }

    /// The sandbox messages of a folder given by display name (or well-known name).
    pub fn folder(&self, name: &str) -> Vec<mailport::sandbox::graph::MessageInfo> {
        let folders = self.graph().folders(ADELE).expect("folders");
        let id = folders
            .iter()
            .find(|f| f.display_name.eq_ignore_ascii_case(name))
            .map(|f| f.id.clone())
            .unwrap_or_else(|| name.to_string());
        self.graph().messages(ADELE, &id).unwrap_or_default()
    }

    /// Stored messages of an account, via the database.
    pub async fn stored(&self, account: &str) -> Vec<(String, Option<String>, String, bool)> {
        let rows: Vec<(String, Option<String>, String, i64)> = sqlx::query_as(
            "SELECT graph_id, sha256, state, post_action_done FROM messages WHERE account_id = $1 ORDER BY id",
        )
        .bind(account)
        .fetch_all(&self.state.db)
        .await
        .expect("messages");
        rows.into_iter()
            .map(|(g, sha, state, done)| (g, sha, state, done != 0))
            .collect()
    }
}
