//! Runtime configuration, from flags and environment variables (see `cli.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

pub use crate::oauth::HttpSettings;
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
    /// PostgreSQL instead of SQLite in `data_dir` (`--database-url`). Shown without password.
    pub database_url: Option<crate::store::DatabaseUrl>,
    /// The key file given with `--secret-key-file` (instead of `<data_dir>/secret.key`).
    pub secret_key_file: Option<PathBuf>,
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
            database_url: None,
            secret_key_file: None,
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
