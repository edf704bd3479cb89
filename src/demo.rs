//! `mailport demo`: Mailport and the offline Entra ID + Graph sandbox in one process, with an
//! administrator, two credentials, an e-mail account, a mailbox full of realistic mail and a
//! webhook endpoint to the sandbox's receiver already in place, so that a newcomer without a
//! Microsoft tenant can walk the whole flow, up to the business application.
//!
//! Everything lives in its own data dir (default `./demo-data`), and every page carries a
//! banner saying that it shows sandbox data.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::net::TcpListener;
use url::Url;

use crate::app::{self, AppState};
use crate::config::Config;
use crate::outbound::{AllowedHost, HostPolicy};
use crate::sandbox::graph::{GenerateSpec, GraphState, SeedOptions};
use crate::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PASSWORD, DEMO_TENANT_ID};
use crate::sandbox::{self, SandboxConfig};
use crate::store::accounts::{self, AfterImport};
use crate::store::credentials::{self, ClientAuth, GrantType};

/// The administrator the demo creates (its password is new on every start).
pub const ADMIN: &str = "admin";
/// The sandbox user whose mailbox is seeded and who signs in at the key button.
pub const SANDBOX_USER: &str = "adele@contoso.onmicrosoft.com";
/// Client credentials (application permission): has a token from the start.
pub const APP_CREDENTIAL: &str = "demo-app";
/// Authorization code (delegated permission): waits for the newcomer to press the key.
pub const SIGN_IN_CREDENTIAL: &str = "demo-sign-in";
/// Imports Adele's inbox with the application credential.
pub const ACCOUNT: &str = "demo-inbox";

/// What `mailport demo` is told on the command line.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    pub sandbox_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub public_url: Option<Url>,
}

/// Starts everything, prints how to sign in, and runs until SIGINT/SIGTERM.
pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let app_listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {} (try --listen)", options.listen))?;
    let sandbox_listener = TcpListener::bind(options.sandbox_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} for the sandbox (try --sandbox-listen)",
                options.sandbox_listen
            )
        })?;
    let mut config = Config::new(
        app_listener.local_addr()?,
        options.data_dir,
        options.public_url,
    );
    config.demo = true;
    // The sandbox (sign-in, Graph and the webhook receiver) is the one host besides
    // Microsoft's that may receive the demo's secrets, tokens and mail.
    config.hosts = HostPolicy::new(vec![AllowedHost::socket(sandbox_listener.local_addr()?)]);

    // The sandbox's app registration accepts exactly this app's callback.
    let sandbox = sandbox::spawn(
        sandbox_listener,
        SandboxConfig::demo(vec![config.redirect_uri()]),
    )
    .await?;
    let seeded = seed_mailbox(&sandbox.sandbox.graph)?;

    let state = AppState::open(config).await?;
    let password = prepare(&state, &sandbox.base_url).await?;
    prepare_webhook(&state, &sandbox.sandbox, &sandbox.base_url).await?;
    let running = app::start(app_listener, state).await?;
    print_welcome(&running.state, &sandbox.base_url, &password, seeded);

    let stopped = running.run_until(app::shutdown_signal()).await;
    sandbox.shutdown.cancel();
    stopped
}

/// Creates (or, on a later start, refreshes) the administrator, the credentials and the
/// account. Returns the administrator's new password.
pub async fn prepare(state: &AppState, sandbox_url: &str) -> anyhow::Result<String> {
    let db = &state.db;
    // A fresh password each start: the demo's data dir is disposable, and printing an old
    // password again would mean storing it somewhere.
    let password = crate::crypto::random_token(15);
    let hash = crate::passwords::hash(password.clone()).await?;
    crate::store::users::upsert(db, ADMIN, &hash).await?;

    let app = credentials::Settings {
        description: "Sandbox app, application permission Mail.ReadWrite".into(),
        ..sandbox_credential(APP_CREDENTIAL, sandbox_url, GrantType::ClientCredentials)
    };
    let sign_in = credentials::Settings {
        description: "Sandbox app, delegated: press the key and sign in as Adele".into(),
        ..sandbox_credential(
            SIGN_IN_CREDENTIAL,
            sandbox_url,
            GrantType::AuthorizationCode,
        )
    };
    for settings in [&app, &sign_in] {
        save_sandbox_credential(state, settings).await?;
    }
    if let Err(e) = state.tokens.fetch_client_credentials(APP_CREDENTIAL).await {
        tracing::warn!(error = ?e.to_string(), "the demo's application credential got no token");
    }

    let account = accounts::Settings {
        description: "Adele's inbox in the sandbox".into(),
        ..sandbox_account(ACCOUNT, APP_CREDENTIAL, sandbox_url, AfterImport::Move)
    };
    if accounts::get(db, ACCOUNT).await?.is_some() {
        accounts::update(db, &account).await?;
        // Folder ids belong to the previous run's sandbox.
        accounts::clear_folder_ids(db, ACCOUNT).await?;
    } else {
        accounts::insert(db, &account).await?;
    }
    Ok(password)
}

/// The webhook endpoint the demo hands its mail to.
pub const WEBHOOK: &str = "demo-receiver";
/// The sandbox receiver it points at.
pub const RECEIVER: &str = "demo";

/// Creates (or points at this start's sandbox) the webhook endpoint [`WEBHOOK`], and gives
/// the sandbox's receiver its signing secret, so that every imported message arrives there
/// signed and verified.
pub async fn prepare_webhook(
    state: &AppState,
    sandbox: &sandbox::Sandbox,
    sandbox_url: &str,
) -> anyhow::Result<()> {
    use crate::store::webhooks::{self, Payload, Settings};
    let settings = Settings {
        id: WEBHOOK.into(),
        description: "The sandbox's business application".into(),
        url: format!("{sandbox_url}/_sandbox/receiver/{RECEIVER}"),
        accounts: None,
        payload: Payload::Json,
        include_attachments_mb: 1,
        enabled: true,
    };
    let context = webhooks::secret_context(WEBHOOK);
    let secret = match webhooks::get(&state.db, WEBHOOK).await? {
        Some(existing) => {
            webhooks::update(&state.db, &settings).await?;
            state
                .key
                .decrypt_string(&context, &existing.secret)
                .context("reading the demo webhook's secret")?
        }
        None => {
            let secret = crate::webhooks::signature::new_secret();
            let blob = state.key.encrypt_str(&context, secret.expose());
            let uid = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
            webhooks::insert(&state.db, &settings, &uid, &blob).await?;
            secret
        }
    };
    sandbox.receiver.configure(
        RECEIVER,
        crate::sandbox::receiver::Config {
            secrets: Some(vec![secret.expose().to_string()]),
            ..Default::default()
        },
    );
    Ok(())
}

/// A credential for the sandbox's demo app (its client id and the tenant's endpoints).
/// Also used by the benchmark and the reliability tests to set up a data dir.
pub fn sandbox_credential(id: &str, sandbox_url: &str, grant: GrantType) -> credentials::Settings {
    let tenant_url = |tail: &str| format!("{sandbox_url}/{DEMO_TENANT_ID}/oauth2/v2.0/{tail}");
    let (authorization_url, scope) = match grant {
        GrantType::ClientCredentials => (String::new(), "https://graph.microsoft.com/.default"),
        GrantType::AuthorizationCode => (
            tenant_url("authorize?prompt=select_account"),
            "Mail.ReadWrite offline_access",
        ),
    };
    credentials::Settings {
        id: id.into(),
        description: String::new(),
        grant_type: grant,
        authorization_url,
        access_token_url: tenant_url("token"),
        client_id: DEMO_CLIENT_ID.into(),
        scope: scope.into(),
        client_auth: ClientAuth::Post,
    }
}

/// Saves a sandbox credential with the demo app's secret. An existing one is updated and
/// loses its tokens: the sandbox is new on every start, so they are worthless.
pub async fn save_sandbox_credential(
    state: &AppState,
    settings: &credentials::Settings,
) -> anyhow::Result<()> {
    let secret = state.key.encrypt_str(
        &credentials::secret_context(&settings.id),
        DEMO_CLIENT_SECRET,
    );
    match credentials::get(&state.db, &settings.id).await? {
        None => credentials::insert(&state.db, settings, Some(secret)).await?,
        Some(_) => {
            credentials::update(&state.db, settings, Some(secret), true).await?;
        }
    }
    Ok(())
}

/// An enabled e-mail account on Adele's sandbox inbox.
pub fn sandbox_account(
    id: &str,
    credential_id: &str,
    sandbox_url: &str,
    after_import: AfterImport,
) -> accounts::Settings {
    accounts::Settings {
        id: id.into(),
        description: String::new(),
        mailbox: SANDBOX_USER.into(),
        folder: "Inbox".into(),
        credential_id: credential_id.into(),
        after_import,
        move_to: "Imported".into(),
        graph_url: format!("{sandbox_url}/v1.0"),
        poll_interval: 60,
        enabled: true,
        import_since: None,
    }
}

/// Prepares a data dir (for a separate `mailport serve` or `mailport import` process) with a
/// client-credentials sandbox credential and the given account using it.
pub async fn prepare_data_dir(
    data_dir: &std::path::Path,
    sandbox_url: &str,
    account: &accounts::Settings,
) -> anyhow::Result<()> {
    let config = Config::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir.to_path_buf(),
        None,
    );
    let state = AppState::open(config).await?;
    let credential = sandbox_credential(
        &account.credential_id,
        sandbox_url,
        GrantType::ClientCredentials,
    );
    save_sandbox_credential(&state, &credential).await?;
    accounts::insert(&state.db, account).await?;
    state.db.close().await;
    Ok(())
}

/// Fills Adele's inbox with hand-written business mail and generated weekly reports with
/// attachments. Returns how many messages were stored.
pub fn seed_mailbox(graph: &GraphState) -> anyhow::Result<usize> {
    let now = OffsetDateTime::now_utc();
    let mut stored = 0;
    for (i, raw) in realistic_messages().into_iter().enumerate() {
        let received = (now - time::Duration::hours(3 * (i as i64 + 1)))
            .format(&Rfc3339)
            .ok();
        let options = SeedOptions {
            is_read: false,
            received_date_time: received,
        };
        graph
            .seed_eml(SANDBOX_USER, "inbox", raw.into_bytes(), &options)
            .map_err(|e| anyhow::anyhow!("seeding the sandbox mailbox: {e}"))?;
        stored += 1;
    }
    let spec = GenerateSpec {
        count: 8,
        size: 24_000,
        attachments: 1,
        unicode_subjects: false,
        subject_prefix: Some("Weekly service desk report".into()),
        spacing_secs: 86_400,
        ..GenerateSpec::default()
    };
    stored += graph
        .seed_generated(SANDBOX_USER, "inbox", &spec)
        .map_err(|e| anyhow::anyhow!("seeding the sandbox mailbox: {e}"))?
        .len();
    Ok(stored)
}

fn eml(
    from: &str,
    subject: &str,
    id: &str,
    body: &str,
    attachment: Option<(&str, &str, &[u8])>,
) -> String {
    use base64::Engine;
    let head = format!(
        "From: {from}\r\nTo: Adele Vance <adele@contoso.onmicrosoft.com>\r\nSubject: {subject}\r\n\
         Message-ID: <{id}@demo.mailport.invalid>\r\nMIME-Version: 1.0\r\n"
    );
    let text = body.replace('\n', "\r\n");
    match attachment {
        None => format!(
            "{head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
        ),
        Some((name, content_type, bytes)) => {
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            let lines: Vec<&str> = data
                .as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect();
            format!(
                "{head}Content-Type: multipart/mixed; boundary=\"demo-{id}\"\r\n\r\n\
                 --demo-{id}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n\
                 --demo-{id}\r\nContent-Type: {content_type}; name=\"{name}\"\r\n\
                 Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--demo-{id}--\r\n",
                lines.join("\r\n")
            )
        }
    }
}

fn realistic_messages() -> Vec<String> {
    let csv = b"order,item,quantity,ship_date\r\n4711,Docking station,12,2026-12-02\r\n4712,USB-C cable 2m,40,2026-12-02\r\n4713,Headset,15,2026-12-04\r\n";
    let ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mailport demo//EN\r\nBEGIN:VEVENT\r\nUID:demo-review@contoso\r\nDTSTART:20261203T090000Z\r\nDTEND:20261203T100000Z\r\nSUMMARY:Quarterly service review\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    vec![
        eml(
            "Fabrikam Billing <billing@fabrikam.example>",
            "Invoice 2026-1147 for November",
            "invoice-2026-1147",
            "Dear Adele,\n\nplease find attached our invoice 2026-1147 for the November support hours.\nPayment is due within 30 days.\n\nKind regards\nFabrikam Billing",
            Some(("invoice-2026-1147.csv", "text/csv", csv)),
        ),
        eml(
            "Megan Bowen <megan@contoso.onmicrosoft.com>",
            "Printer on floor 3 is out of toner again",
            "ticket-8812",
            "Hi service desk,\n\nthe printer next to the kitchen on floor 3 shows \"toner empty\" since this morning.\nCould someone replace the cartridge?\n\nThanks, Megan",
            None,
        ),
        eml(
            "Lee Gu <lee@contoso.onmicrosoft.com>",
            "Quarterly service review: invitation",
            "review-q4",
            "Hello Adele,\n\nI'd like to invite you to our quarterly service review on 3 December.\nThe agenda follows next week.\n\nBest, Lee",
            Some(("invite.ics", "text/calendar", ics)),
        ),
        eml(
            "Jörg Müller <joerg.mueller@northwind.example>",
            "Rückfrage zur Lieferung 4711",
            "northwind-4711",
            "Hallo Frau Vance,\n\nkönnen Sie mir bitte bestätigen, dass die Lieferung 4711 vollständig angekommen ist?\n\nMit freundlichen Grüßen\nJörg Müller",
            None,
        ),
        eml(
            "Contoso IT <it-announcements@contoso.onmicrosoft.com>",
            "Planned maintenance: VPN gateway, Saturday 06:00-08:00 UTC",
            "maintenance-vpn",
            "Dear colleagues,\n\nthe VPN gateway will be unavailable on Saturday between 06:00 and 08:00 UTC\nwhile we apply security updates. Webmail stays available.\n\nContoso IT",
            None,
        ),
    ]
}

fn print_welcome(state: &AppState, sandbox_url: &str, password: &str, seeded: usize) {
    let url = state.config.public_url.as_str().trim_end_matches('/');
    println!(
        "\nMailport demo is running. Everything in it is sandbox data; nothing leaves this machine.\n\n\
         \x20 Open            {url}\n\
         \x20 Sign in as      {ADMIN} / {password}   (a new password on every start)\n\
         \x20 Sandbox         {sandbox_url}   (Entra ID + Graph, tenant contoso.onmicrosoft.com)\n\
         \x20 Sandbox user    {SANDBOX_USER} / {DEMO_PASSWORD}\n\
         \x20 Data dir        {}   (delete it to start afresh)\n\n\
         Try this:\n\
         \x20 1. Credentials > {SIGN_IN_CREDENTIAL}: press the key, sign in at the sandbox as\n\
         \x20    {SANDBOX_USER}, accept the consent, and come back \"Signed in as\" Adele.\n\
         \x20 2. Credentials > {APP_CREDENTIAL}: already holds a token (client credentials).\n\
         \x20 3. Imported mail: the {seeded} messages seeded into Adele's inbox arrive within seconds,\n\
         \x20    imported by the e-mail account {ACCOUNT}; open one and download its attachment.\n\
         \x20 4. More mail: curl -H 'content-type: application/json' -d '{{\"count\":5,\"attachments\":1}}' \\\n\
         \x20      {sandbox_url}/_sandbox/graph/mailboxes/{SANDBOX_USER}/folders/inbox/generate\n\
         \x20    then press Run now on the account.\n\
         \x20 5. Webhooks > {WEBHOOK}: every imported message is also handed on, signed, to the\n\
         \x20    sandbox's business application. What arrived (and whether each signature verified):\n\
         \x20      {sandbox_url}/_sandbox/receiver/{RECEIVER}/deliveries\n\
         \x20    Pull instead: the changes feed /api/v1/events (with an API key from Settings).\n\n\
         Press Ctrl-C to stop.",
        state.config.data_dir.display()
    );
}
