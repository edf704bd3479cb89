//! Runtime configuration, from flags and environment variables (see `cli.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::outbound::HostPolicy;

/// Everything `serve` needs to know. Secrets never live here: the encryption key is loaded
/// by `crypto::MasterKey` and is never printed.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Base URL users reach Mailport at; the OAuth redirect URI hangs off it.
    pub public_url: Url,
    pub http: HttpSettings,
    pub import: crate::import::ImportSettings,
    pub webhooks: crate::webhooks::WebhookSettings,
    /// `mailport demo`: every page carries a banner saying that its data is sandbox data.
    pub demo: bool,
    /// Where secrets and tokens may be sent (Microsoft's hosts plus `--allow-host`).
    pub hosts: HostPolicy,
    pub sessions: SessionSettings,
}

/// How long a sign-in lasts (OWASP ASVS 4.0.3, 3.3.1 and 3.3.2).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// A session ends after this long without a request.
    pub idle: Duration,
    /// A session ends this long after sign-in, however busy (`--session-lifetime`).
    pub lifetime: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle: Duration::from_secs(8 * 3600),
            lifetime: Duration::from_secs(12 * 3600),
        }
    }
}

/// Limits for every outbound request (token endpoint and, later, Graph).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest token-endpoint response body we read.
    pub max_token_response_bytes: usize,
    /// How often a transient token-endpoint failure (5xx, network) is tried in total.
    pub token_attempts: u32,
    /// First backoff delay between those attempts; doubles each time.
    pub token_retry_base: Duration,
    /// This instance's id ([`Config::set_instance_id`]): named in the `User-Agent` of
    /// every token and Graph request, and the owner of the refresh claims it takes.
    pub instance_id: String,
}

impl HttpSettings {
    /// `Mailport/<version> (instance <id>)`, the `User-Agent` of token and Graph requests.
    pub fn user_agent(&self) -> String {
        format!(
            "Mailport/{} (instance {})",
            env!("CARGO_PKG_VERSION"),
            self.instance_id
        )
    }

    /// How long a claim to refresh a credential's tokens lasts: longer than every attempt
    /// of a token request with its backoffs, so that a claim never lapses while its holder
    /// still waits for an answer.
    pub fn refresh_claim(&self) -> Duration {
        let attempts = self.token_attempts.max(1);
        self.timeout * attempts
            + self.token_retry_base * (1 << attempts.min(16))
            + Duration::from_secs(5)
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_token_response_bytes: 256 * 1024,
            token_attempts: 3,
            token_retry_base: Duration::from_millis(500),
            instance_id: crate::instance::default_id(),
        }
    }
}

impl Config {
    /// A config with defaults for everything but the listen address and data dir.
    pub fn new(listen: SocketAddr, data_dir: PathBuf, public_url: Option<Url>) -> Self {
        let public_url = public_url.unwrap_or_else(|| default_public_url(listen));
        let mut config = Config {
            listen,
            data_dir,
            public_url,
            http: HttpSettings::default(),
            import: crate::import::ImportSettings::default(),
            webhooks: crate::webhooks::WebhookSettings::default(),
            demo: false,
            hosts: HostPolicy::default(),
            sessions: SessionSettings::default(),
        };
        config.set_instance_id(crate::instance::default_id());
        config
    }

    /// This instance's id (`--instance-id`; by default the host name plus a random
    /// suffix): the owner of its mailbox leases, in its logs and its `User-Agent`.
    pub fn set_instance_id(&mut self, id: String) {
        self.http.instance_id = id.clone();
        self.import.leases.instance_id = id;
    }

    pub fn instance_id(&self) -> &str {
        &self.http.instance_id
    }

    /// `<public-url>/OAuth2Callback`, the URI to register in Entra ID.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}/OAuth2Callback",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    /// Session cookies are marked Secure when users reach us over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(crate::store::DATABASE_FILE)
    }
}

/// `http://localhost:<port>`: Entra ID accepts plain http only for localhost redirect URIs.
pub fn default_public_url(listen: SocketAddr) -> Url {
    let raw = format!("http://localhost:{}", listen.port());
    Url::parse(&raw).unwrap_or_else(|_| Url::parse("http://localhost").expect("static URL"))
}
