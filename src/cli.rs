//! The command line: `serve` (the default), `user`, `apikey`, `import`, `sandbox` and `demo`.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use url::Url;

use crate::config::Config;
use crate::graph::RequestBudget;
use crate::outbound::{AllowedHost, HostPolicy};

#[derive(Parser, Debug)]
#[command(
    name = "mailport",
    version,
    about = "Connects Exchange Online mailboxes over OAuth2 and Microsoft Graph and imports their mail.",
    long_about = "Mailport keeps OAuth2 credentials for Microsoft Entra ID, gets and refreshes their \
tokens, and imports mail from Exchange Online mailboxes through Microsoft Graph.\n\n\
Without a subcommand it runs `serve`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web server (the default).
    Serve(ServeArgs),
    /// Manage administrators.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys for /api/v1.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Run the offline Microsoft Entra ID and Graph sandbox as its own server.
    Sandbox(SandboxArgs),
    /// Run Mailport together with the sandbox, with demo data: no Microsoft tenant needed.
    Demo(DemoArgs),
    /// Copy a SQLite installation (its database and raw messages) into an empty PostgreSQL
    /// database given with --database-url, and verify the copy with counts and checksums.
    /// Stop Mailport first. Secrets stay encrypted: start the PostgreSQL instances with the
    /// data dir's key (MAILPORT_SECRET_KEY or --secret-key-file <data-dir>/secret.key).
    MigrateToPostgres {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Import one email server account once, in the foreground, and print a summary. Exits
    /// with code 3 while another instance holds the account's mailbox (unless --wait).
    Import {
        /// The email server account id.
        #[arg(long)]
        account: String,
        /// While another instance holds the mailbox's lease, wait for it instead of
        /// exiting with code 3.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Args, Debug, Clone)]
pub struct DataDirArg {
    /// Folder holding the SQLite database and the key file (created if missing).
    #[arg(long, env = "MAILPORT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// PostgreSQL instead of SQLite: postgres://user:password@host:port/database. Several
    /// instances may share it. Needs MAILPORT_SECRET_KEY or --secret-key-file. The password
    /// is never logged or shown.
    #[arg(long, env = "MAILPORT_DATABASE_URL", hide_env_values = true, value_parser = parse_database_url)]
    pub database_url: Option<DatabaseUrlArg>,
}

/// `--database-url` as given: parsed, or the reason it is not usable. Kept unparsed until
/// `into_config` so that clap's own error message, which repeats the value, never shows a
/// password; `Debug` shows no password either.
#[derive(Clone)]
pub struct DatabaseUrlArg(Result<crate::store::DatabaseUrl, String>);

impl std::fmt::Debug for DatabaseUrlArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Ok(url) => write!(f, "{url:?}"),
            Err(e) => write!(f, "invalid ({e})"),
        }
    }
}

fn parse_database_url(text: &str) -> Result<DatabaseUrlArg, String> {
    Ok(DatabaseUrlArg(crate::store::DatabaseUrl::parse(text)))
}

impl DataDirArg {
    /// The PostgreSQL URL, if one was given; a bad one is an error that shows no password.
    pub fn database_url(&self) -> anyhow::Result<Option<crate::store::DatabaseUrl>> {
        match &self.database_url {
            None => Ok(None),
            Some(DatabaseUrlArg(Ok(url))) => Ok(Some(url.clone())),
            Some(DatabaseUrlArg(Err(e))) => bail!("--database-url / MAILPORT_DATABASE_URL: {e}"),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MAILPORT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub data: DataDirArg,
    /// The URL users reach Mailport at; the OAuth redirect URI is <public-url>/OAuth2Callback.
    /// Default: http://localhost:<port>.
    #[arg(long, env = "MAILPORT_PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// Graph requests per mailbox that Mailport allows itself, as REQUESTS/SECONDS (a
    /// sliding window; the seconds may have decimals), or `off`. Default: Microsoft's 10,000 per 10 minutes, plus a second.
    /// Lower it when other tools use the same app registration on the same mailboxes.
    #[arg(long, env = "MAILPORT_GRAPH_REQUEST_BUDGET", value_parser = parse_budget)]
    pub graph_request_budget: Option<Budget>,
    /// Another host that may receive secrets and tokens, besides Microsoft's sign-in and
    /// Graph hosts: HOST or HOST:PORT (repeatable; the environment variable takes a
    /// comma-separated list). A host without a port allows every port of it. For the
    /// sandbox, a test identity provider, an on-premises proxy, or an internal business
    /// application that receives webhooks; plain http only to loopback.
    #[arg(
        long = "allow-host",
        env = "MAILPORT_ALLOW_HOSTS",
        value_delimiter = ','
    )]
    pub allow_hosts: Vec<AllowedHost>,
    /// Accounts polled at the same time (1 to 1024). Microsoft's limits per mailbox hold
    /// whatever this is. Default: 32, enough for 10,000 mailboxes polled every minute.
    #[arg(long, env = "MAILPORT_CONCURRENT_ACCOUNTS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrent_accounts: Option<u16>,
    /// Days of run history kept (runs that imported something or failed). Default: 30.
    #[arg(long, env = "MAILPORT_RUN_HISTORY_DAYS", value_parser = clap::value_parser!(u16).range(1..=3650))]
    pub run_history_days: Option<u16>,
    /// Runs kept in the history per account, newest first. Default: 100.
    #[arg(long, env = "MAILPORT_RUN_HISTORY_PER_ACCOUNT", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub run_history_per_account: Option<u32>,
    /// How long a sign-in lasts at most, however busy the session: hours (12), or a number
    /// with the unit h, m or s (90m). Sessions also end after 8 hours without a request.
    #[arg(long, env = "MAILPORT_SESSION_LIFETIME", value_parser = parse_lifetime)]
    pub session_lifetime: Option<std::time::Duration>,
    /// A file holding the encryption key (base64 of 32 bytes, as in secret.key), instead of
    /// <data-dir>/secret.key. With --database-url, this or MAILPORT_SECRET_KEY is required,
    /// and every instance must use the same key.
    #[arg(long, env = "MAILPORT_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// This instance's id among several sharing one database: 1 to 64 letters, digits,
    /// '.', '_' or '-'. Default: the host name plus a random suffix.
    #[arg(long, env = "MAILPORT_INSTANCE_ID", value_parser = crate::instance::parse)]
    pub instance_id: Option<String>,
    /// How long a mailbox lease lasts without a heartbeat: another instance takes over
    /// the mailboxes of an instance that died after this. Seconds (30), or a number with
    /// the unit s or ms; 1 s to 10 minutes. Default: 30 s.
    #[arg(long, env = "MAILPORT_LEASE_DURATION", value_parser = parse_lease_duration)]
    pub lease_duration: Option<std::time::Duration>,
}

/// `30`, `30s` or `1500ms`: between a second and ten minutes.
fn parse_lease_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let usage = || format!("{text:?}: expected seconds (30) or a number with s or ms (1500ms)");
    let millis = if let Some(ms) = text.strip_suffix("ms") {
        ms.trim().parse::<u64>().map_err(|_| usage())?
    } else {
        let secs = text.strip_suffix('s').unwrap_or(text).trim();
        secs.parse::<u64>()
            .map_err(|_| usage())?
            .checked_mul(1000)
            .ok_or_else(usage)?
    };
    if !(1000..=600_000).contains(&millis) {
        return Err(format!(
            "{text:?}: a lease lasts between 1 second and 10 minutes"
        ));
    }
    Ok(std::time::Duration::from_millis(millis))
}

/// `12`, `12h`, `90m` or `600s`: at least a minute, at most 30 days.
fn parse_lifetime(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let usage = || format!("{text:?}: expected hours (12) or a number with h, m or s (90m)");
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, 'h'),
    };
    let n: u64 = number.trim().parse().map_err(|_| usage())?;
    let secs = match unit {
        'h' => n.checked_mul(3600),
        'm' => n.checked_mul(60),
        's' => Some(n),
        _ => None,
    }
    .ok_or_else(usage)?;
    if !(60..=30 * 86_400).contains(&secs) {
        return Err(format!(
            "{text:?}: a session lifetime must be between a minute and 30 days"
        ));
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// A parsed `--graph-request-budget`.
#[derive(Debug, Clone, Copy)]
pub struct Budget(pub Option<RequestBudget>);

fn parse_budget(text: &str) -> Result<Budget, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(Budget(None));
    }
    let usage = || format!("{text:?}: expected REQUESTS/SECONDS such as 10000/601, or off");
    let (requests, seconds) = text.split_once('/').ok_or_else(usage)?;
    let requests: usize = requests.trim().parse().map_err(|_| usage())?;
    let seconds: f64 = seconds.trim().parse().map_err(|_| usage())?;
    if requests == 0 || !(1.0..=86_400.0).contains(&seconds) {
        return Err(format!(
            "{text:?}: requests must be at least 1 and the window 1 to 86400 seconds"
        ));
    }
    Ok(Budget(Some(RequestBudget {
        requests,
        window: std::time::Duration::from_secs_f64(seconds),
    })))
}

impl ServeArgs {
    pub fn into_config(self) -> anyhow::Result<Config> {
        if let Some(url) = &self.public_url
            && !matches!(url.scheme(), "http" | "https")
        {
            bail!("--public-url must be an http(s) URL");
        }
        let database_url = self.data.database_url()?;
        let mut config = Config::new(self.listen, self.data.data_dir, self.public_url);
        config.database_url = database_url;
        config.secret_key_file = self.secret_key_file;
        if let Some(Budget(budget)) = self.graph_request_budget {
            config.import.graph.mailbox_budget = budget;
        }
        config.hosts = HostPolicy::new(self.allow_hosts);
        if let Some(n) = self.concurrent_accounts {
            config.import.concurrent_accounts = usize::from(n);
        }
        if let Some(days) = self.run_history_days {
            config.import.history_max_age =
                std::time::Duration::from_secs(u64::from(days) * 86_400);
        }
        if let Some(n) = self.run_history_per_account {
            config.import.history_per_account = i64::from(n);
        }
        if let Some(lifetime) = self.session_lifetime {
            config.sessions.lifetime = lifetime;
        }
        if let Some(id) = self.instance_id {
            config.set_instance_id(id);
        }
        if let Some(duration) = self.lease_duration {
            config.import.leases.duration = duration;
        }
        Ok(config)
    }
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an administrator, or set the password of an existing one.
    Add {
        /// The user name to sign in with.
        name: String,
        /// Read the password from the first line of standard input (required: passwords
        /// are never taken as arguments, which other users can see).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataDirArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create an API key and print it once. Only its hash is stored.
    Create {
        /// A name for the key (who or what uses it).
        name: String,
        /// `read` (every GET of the API) or `admin` (also creating, changing and deleting
        /// email server accounts).
        #[arg(long, default_value = "read", value_parser = ["read", "admin"])]
        scope: String,
        #[command(flatten)]
        data: DataDirArg,
    },
}

#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9900")]
    pub listen: SocketAddr,
    /// JSON file with tenants, app registrations and users. Without it, a demo tenant is used.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Redirect URI registered for the demo app (repeatable).
    #[arg(long, default_value = "http://localhost:8080/OAuth2Callback")]
    pub redirect_uri: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address Mailport listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address the Entra ID + Graph sandbox listens on.
    #[arg(long, default_value = "127.0.0.1:9900")]
    pub sandbox_listen: SocketAddr,
    /// Folder for the demo's database, kept apart from real data. Deliberately not read
    /// from MAILPORT_DATA_DIR, so that the demo never writes into a real installation.
    #[arg(long, default_value = "./demo-data")]
    pub data_dir: PathBuf,
    /// The URL the browser reaches Mailport at. Default: http://localhost:<port>.
    #[arg(long)]
    pub public_url: Option<Url>,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(cli.serve.into_config()?).await,
        Some(Command::Serve(args)) => serve(args.into_config()?).await,
        Some(Command::User(UserCommand::Add {
            name,
            password_stdin,
            data,
        })) => add_user(&name, password_stdin, &data).await,
        Some(Command::Apikey(ApiKeyCommand::Create { name, scope, data })) => {
            let scope = crate::store::api_keys::ApiScope::parse(&scope).unwrap_or_default();
            create_api_key(&name, scope, &data).await
        }
        Some(Command::Import {
            account,
            wait,
            serve,
        }) => import_once(&account, wait, serve).await,
        Some(Command::MigrateToPostgres { data }) => migrate_to_postgres(&data).await,
        Some(Command::Demo(args)) => {
            if let Some(url) = &args.public_url
                && !matches!(url.scheme(), "http" | "https")
            {
                bail!("--public-url must be an http(s) URL");
            }
            crate::demo::run(crate::demo::DemoOptions {
                listen: args.listen,
                sandbox_listen: args.sandbox_listen,
                data_dir: args.data_dir,
                public_url: args.public_url,
            })
            .await
        }
        Some(Command::Sandbox(args)) => {
            crate::sandbox::run_standalone(args.listen, args.config, args.redirect_uri).await
        }
    }
}

/// `mailport serve` until SIGINT or SIGTERM, caught from before the server binds (see
/// [`crate::app::ShutdownSignals`]).
async fn serve(config: crate::config::Config) -> anyhow::Result<()> {
    let mut signals = crate::app::ShutdownSignals::install()?;
    crate::app::serve(config, async move { signals.recv().await }).await
}

async fn open_db(data: &DataDirArg) -> anyhow::Result<crate::store::Db> {
    crate::store::open(&data.data_dir, data.database_url()?.as_ref()).await
}

async fn migrate_to_postgres(data: &DataDirArg) -> anyhow::Result<()> {
    let Some(url) = data.database_url()? else {
        bail!(
            "pass --database-url postgres://user:password@host:port/database (or set MAILPORT_DATABASE_URL)"
        );
    };
    let report = crate::migrate::to_postgres(&data.data_dir, &url).await?;
    for (table, rows) in &report.tables {
        println!("{table}: {rows} rows");
    }
    println!(
        "raw messages: {} ({} bytes)\nCopied {} into {url} and verified every table (counts and \
         checksums) and every raw message (sha256). Start Mailport with --database-url and the \
         key of {}: MAILPORT_SECRET_KEY or --secret-key-file.",
        report.blobs,
        report.blob_bytes,
        data.data_dir.display(),
        data.data_dir.join(crate::crypto::KEY_FILE).display()
    );
    Ok(())
}

async fn add_user(name: &str, password_stdin: bool, data: &DataDirArg) -> anyhow::Result<()> {
    if !password_stdin {
        bail!("pass --password-stdin and type the password on standard input");
    }
    crate::passwords::validate_username(name).map_err(|e| anyhow::anyhow!("user name: {e}"))?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    crate::passwords::validate(&password).map_err(|e| anyhow::anyhow!("password: {e}"))?;
    let db = open_db(data).await?;
    let hash = crate::passwords::hash(password).await?;
    let (_, existed) = crate::store::users::upsert(&db, name, &hash).await?;
    if existed {
        println!(
            "Password of administrator {name} changed. Every session of {name} was signed out, \
             and a running Mailport forgets {name}'s failed sign-ins."
        );
    } else {
        println!("Administrator {name} created.");
    }
    Ok(())
}

async fn create_api_key(
    name: &str,
    scope: crate::store::api_keys::ApiScope,
    data: &DataDirArg,
) -> anyhow::Result<()> {
    if name.trim().is_empty() || name.len() > 64 {
        bail!("the key name must be 1 to 64 characters");
    }
    let db = open_db(data).await?;
    let key = format!("mp_{}", crate::crypto::random_token(32));
    let hash = crate::crypto::sha256_hex(key.as_bytes());
    use crate::store::{Taken, UniqueViolationExt};
    if let Err(Taken) = crate::store::api_keys::create_with_scope(&db, name, &hash, scope)
        .await
        .on_unique_violation()?
    {
        bail!("an API key named {name} already exists");
    }
    println!("{key}");
    eprintln!(
        "API key {name} ({} scope) created in {}. It is shown only this once; send it as \
         `Authorization: Bearer <key>` to a server that uses this {}.",
        scope.as_str(),
        match data.database_url()? {
            Some(url) => url.to_string(),
            None => data.data_dir.display().to_string(),
        },
        if data.database_url.is_some() {
            "database (--database-url)"
        } else {
            "data dir (--data-dir)"
        }
    );
    Ok(())
}

/// `mailport import` could not run because another instance holds the mailbox: the
/// process exits with [`LeaseHeldExit::CODE`].
#[derive(Debug, thiserror::Error)]
#[error("{0} Nothing was imported; try again later, or pass --wait.")]
pub struct LeaseHeldExit(pub String);

impl LeaseHeldExit {
    /// The exit code of `mailport import` while another instance holds the mailbox.
    pub const CODE: u8 = 3;
}

async fn import_once(account: &str, wait: bool, args: ServeArgs) -> anyhow::Result<()> {
    let state = crate::app::AppState::open(args.into_config()?).await?;
    let mut waited = false;
    let result = loop {
        match state.importer.run_account(account).await {
            Err(e @ crate::import::RunError::LeaseHeld { .. }) if wait => {
                if !waited {
                    eprintln!("{e}; waiting until it is released");
                    waited = true;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => break other,
        }
    };
    // The lease goes at once rather than after its duration.
    state.importer.shutdown().await;
    let summary = match result {
        Ok(summary) => summary,
        Err(e @ crate::import::RunError::LeaseHeld { .. }) => {
            return Err(LeaseHeldExit(e.to_string()).into());
        }
        Err(e) => anyhow::bail!("{e}"),
    };
    println!(
        "{account}: {} — {} listed, {} imported, {} skipped, {} too large, {} failed, {} post-action failures, {} retries",
        summary.outcome,
        summary.listed,
        summary.imported,
        summary.skipped,
        summary.too_large,
        summary.failed,
        summary.post_action_failures,
        summary.retries
    );
    if let Some(e) = &summary.error_message {
        match &summary.error_code {
            Some(code) => println!("{e} Error code: {code}."),
            None => println!("{e}"),
        }
    }
    if summary.outcome == "ok" && summary.failed == 0 {
        Ok(())
    } else {
        anyhow::bail!("the import of {account} did not complete")
    }
}
