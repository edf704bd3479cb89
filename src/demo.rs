//! `mailport demo`: Mailport and the offline Entra ID + Graph sandbox in one process, with an
//! administrator, two credentials, two email server accounts, a mailbox full of realistic
//! mail and a webhook endpoint to the sandbox's receiver already in place, so that a newcomer
//! without a Microsoft tenant can walk the whole flow, up to the business application.
//!
//! Everything lives in its own data dir (default `./demo-data`), and every page carries a
//! banner saying that it shows sandbox data. The sandbox lives in memory, so every start
//! seeds it again: with the same messages under the same immutable ids, and what an earlier
//! start imported and moved already sits in the folder it was moved to. A restarted demo
//! therefore looks like the first start and imports nothing twice.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::net::TcpListener;
use url::Url;

use crate::app::{self, AppState};
use crate::config::Config;
use crate::oauth::credential::{ClientAuth, GrantType};
use crate::outbound::{AllowedHost, HostPolicy};
use crate::sandbox::graph::{GraphState, SeedOptions};
use crate::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PASSWORD, DEMO_TENANT_ID};
use crate::sandbox::{self, SandboxConfig};
use crate::store::Db;
use crate::store::accounts::{self, AfterImport};
use crate::store::credentials;
use crate::store::messages;

/// The administrator the demo creates (its password is new on every start).
pub const ADMIN: &str = "admin";
/// The sandbox user whose mailbox is seeded and who signs in at the key button.
pub const SANDBOX_USER: &str = "adele@contoso.onmicrosoft.com";
/// Client credentials (application permission): has a token from the start.
pub const APP_CREDENTIAL: &str = "demo-app";
/// Authorization code (delegated permission): waits for the newcomer to press the key.
pub const SIGN_IN_CREDENTIAL: &str = "demo-sign-in";
/// Imports Adele's inbox with the application credential, and moves it to [`MOVE_TO`].
pub const ACCOUNT: &str = "demo-inbox";
/// Imports Adele's Archive with the delegated credential: idle until the key is pressed.
pub const SIGNED_IN_ACCOUNT: &str = "demo-archive";
/// Where [`ACCOUNT`] moves imported mail.
pub const MOVE_TO: &str = "Imported";

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
    let mut signals = app::ShutdownSignals::install()?;
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
    let state = AppState::open(config).await?;
    let password = prepare(&state, &sandbox.base_url).await?;
    let seeded = seed_mailbox(&sandbox.sandbox.graph, &state.db).await?;
    prepare_webhook(&state, &sandbox.sandbox, &sandbox.base_url).await?;
    let running = app::start(app_listener, state).await?;
    // At once, on a restart too: the poll interval would count from the last run of the
    // previous start, and the welcome text promises mail within seconds.
    running.state.importer.request_run(ACCOUNT);
    print_welcome(&running.state, &sandbox.base_url, &password, &seeded);

    let stopped = running
        .run_until(async {
            signals.recv().await;
            tracing::info!("stopping the demo");
        })
        .await;
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

    let app = credentials::CredentialSettings {
        description: "Sandbox app, application permission Mail.ReadWrite".into(),
        ..sandbox_credential(APP_CREDENTIAL, sandbox_url, GrantType::ClientCredentials)
    };
    let sign_in = credentials::CredentialSettings {
        description: "Sandbox app, delegated Mail.ReadWrite: press the key and sign in as Adele"
            .into(),
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

    let inbox = accounts::AccountSettings {
        description: "Adele's inbox, moved to Imported (application permission)".into(),
        ..sandbox_account(ACCOUNT, APP_CREDENTIAL, sandbox_url, AfterImport::Move)
    };
    // The delegated credential reads the signed-in user's own mailbox (`/me`).
    let archive = accounts::AccountSettings {
        description: "Adele's Archive with her own sign-in: press the key of demo-sign-in".into(),
        mailbox: String::new(),
        folder: "Archive".into(),
        ..sandbox_account(
            SIGNED_IN_ACCOUNT,
            SIGN_IN_CREDENTIAL,
            sandbox_url,
            AfterImport::Keep,
        )
    };
    for account in [&inbox, &archive] {
        if accounts::get(db, &account.id).await?.is_some() {
            accounts::update(db, account).await?;
            // Folder ids and delta cursors belong to the previous start's sandbox.
            accounts::clear_folder_ids(db, &account.id).await?;
            accounts::reset_delta_link(db, &account.id).await?;
        } else {
            accounts::insert(db, account).await?;
        }
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
pub fn sandbox_credential(
    id: &str,
    sandbox_url: &str,
    grant: GrantType,
) -> credentials::CredentialSettings {
    let tenant_url = |tail: &str| format!("{sandbox_url}/{DEMO_TENANT_ID}/oauth2/v2.0/{tail}");
    let (authorization_url, scope) = match grant {
        GrantType::ClientCredentials => (String::new(), "https://graph.microsoft.com/.default"),
        GrantType::AuthorizationCode => (
            tenant_url("authorize?prompt=select_account"),
            "Mail.ReadWrite offline_access",
        ),
    };
    credentials::CredentialSettings {
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
    settings: &credentials::CredentialSettings,
) -> anyhow::Result<()> {
    let secret = crate::crypto::Secret::new(DEMO_CLIENT_SECRET.to_string());
    let key = &state.key;
    match credentials::get(&state.db, &settings.id).await? {
        None => credentials::insert(&state.db, key, settings, Some(&secret)).await?,
        Some(_) => {
            credentials::update(&state.db, key, settings, Some(&secret), true).await?;
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
) -> accounts::AccountSettings {
    accounts::AccountSettings {
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
    account: &accounts::AccountSettings,
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

/// What [`seed_mailbox`] put into Adele's mailbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seeded {
    /// Messages for [`ACCOUNT`] (in the Inbox, or in [`MOVE_TO`] when imported before).
    pub inbox: usize,
    /// Of those, imported and moved by an earlier start of this data dir.
    pub imported_before: usize,
    /// Messages in the Archive, for [`SIGNED_IN_ACCOUNT`].
    pub archive: usize,
}

/// The immutable id a demo message always has: derived from its Message-ID, shaped like
/// Exchange's immutable ids, so that every start seeds the same message under the same id.
pub fn demo_immutable_id(message_id: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let first = Sha256::digest(format!("mailport-demo:{message_id}").as_bytes());
    let second = Sha256::digest(first);
    let mut bytes = first.to_vec();
    bytes.extend_from_slice(&second[..28]);
    format!(
        "AAkALgAA{}",
        base64::engine::general_purpose::URL_SAFE.encode(bytes)
    )
}

/// Fills Adele's mailbox with hand-written business mail: invoices, service desk requests,
/// an invitation, weekly service desk reports with their ticket lists in the Inbox, and a few
/// older messages in the Archive. A message that `db` shows as imported and moved by an
/// earlier start goes straight to [`MOVE_TO`], where the import left it.
pub async fn seed_mailbox(graph: &GraphState, db: &Db) -> anyhow::Result<Seeded> {
    let now = OffsetDateTime::now_utc();
    let fail = |e: crate::sandbox::graph::ControlError| {
        anyhow::anyhow!("seeding the sandbox mailbox: {e}")
    };
    let mut seeded = Seeded::default();
    let mut moved_to: Option<String> = None;
    for mail in inbox_mail(now) {
        let id = demo_immutable_id(&mail.message_id);
        let imported = messages::find(db, ACCOUNT, &id)
            .await?
            .is_some_and(|m| m.post_action_done);
        let folder = if imported {
            seeded.imported_before += 1;
            match &moved_to {
                Some(f) => f.clone(),
                None => {
                    let f = graph.ensure_folder(SANDBOX_USER, MOVE_TO).map_err(fail)?.id;
                    moved_to = Some(f.clone());
                    f
                }
            }
        } else {
            "inbox".to_string()
        };
        let options = mail.options(id, false);
        graph
            .seed_eml(SANDBOX_USER, &folder, mail.raw.into_bytes(), &options)
            .map_err(fail)?;
        seeded.inbox += 1;
    }
    for mail in archive_mail(now) {
        let id = demo_immutable_id(&mail.message_id);
        let options = mail.options(id, true);
        graph
            .seed_eml(SANDBOX_USER, "archive", mail.raw.into_bytes(), &options)
            .map_err(fail)?;
        seeded.archive += 1;
    }
    Ok(seeded)
}

/// One demo message.
struct DemoMail {
    message_id: String,
    received: OffsetDateTime,
    raw: String,
}

impl DemoMail {
    fn options(&self, immutable_id: String, is_read: bool) -> SeedOptions {
        SeedOptions {
            is_read,
            received_date_time: self.received.format(&Rfc3339).ok(),
            immutable_id: Some(immutable_id),
        }
    }
}

/// The parts of one demo message.
struct Eml<'a> {
    from: &'a str,
    to: &'a str,
    subject: String,
    /// The Message-ID without angle brackets; stable across starts.
    message_id: String,
    date: OffsetDateTime,
    body: String,
    attachment: Option<(String, &'a str, Vec<u8>)>,
}

impl Eml<'_> {
    fn build(self) -> DemoMail {
        use base64::Engine;
        let date = self
            .date
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        let id = &self.message_id;
        let head = format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\n",
            self.from, self.to, self.subject
        );
        let text = self.body.replace('\n', "\r\n");
        let raw = match self.attachment {
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
                let boundary = format!("part-{}", &demo_immutable_id(id)[8..24]);
                format!(
                    "{head}Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
                     --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n\
                     --{boundary}\r\nContent-Type: {content_type}; name=\"{name}\"\r\n\
                     Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--{boundary}--\r\n",
                    lines.join("\r\n")
                )
            }
        };
        DemoMail {
            message_id: self.message_id,
            received: self.date,
            raw,
        }
    }
}

const ADELE: &str = "Adele Vance <adele@contoso.onmicrosoft.com>";

/// The Inbox: five messages of the last day, and eight Monday reports of the service desk.
fn inbox_mail(now: OffsetDateTime) -> Vec<DemoMail> {
    let hours_ago = |h: i64| now - time::Duration::hours(h);
    let csv = b"order,item,quantity,ship_date\r\n4711,Docking station,12,2026-12-02\r\n4712,USB-C cable 2m,40,2026-12-02\r\n4713,Headset,15,2026-12-04\r\n".to_vec();
    let ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Contoso//Calendar//EN\r\nBEGIN:VEVENT\r\nUID:review-q4@contoso.onmicrosoft.com\r\nDTSTART:20261203T090000Z\r\nDTEND:20261203T100000Z\r\nSUMMARY:Quarterly service review\r\nLOCATION:Room 4.12\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".to_vec();
    let mut mail = vec![
        Eml {
            from: "Fabrikam Billing <billing@fabrikam.example>",
            to: ADELE,
            subject: "Invoice 2026-1147 for November".into(),
            message_id: "invoice-2026-1147@fabrikam.example".into(),
            date: hours_ago(3),
            body: "Dear Adele,\n\nplease find attached our invoice 2026-1147 for the November support hours.\nPayment is due within 30 days.\n\nKind regards\nFabrikam Billing".into(),
            attachment: Some(("invoice-2026-1147.csv".into(), "text/csv", csv)),
        },
        Eml {
            from: "Megan Bowen <megan@contoso.onmicrosoft.com>",
            to: "Contoso Service Desk <servicedesk@contoso.onmicrosoft.com>",
            subject: "Printer on floor 3 is out of toner again".into(),
            message_id: "ticket-8812@contoso.onmicrosoft.com".into(),
            date: hours_ago(6),
            body: "Hi service desk,\n\nthe printer next to the kitchen on floor 3 shows \"toner empty\" since this morning.\nCould someone replace the cartridge?\n\nThanks, Megan".into(),
            attachment: None,
        },
        Eml {
            from: "Lee Gu <lee@contoso.onmicrosoft.com>",
            to: ADELE,
            subject: "Quarterly service review: invitation".into(),
            message_id: "review-q4@contoso.onmicrosoft.com".into(),
            date: hours_ago(9),
            body: "Hello Adele,\n\nI'd like to invite you to our quarterly service review on 3 December in room 4.12.\nThe agenda follows next week.\n\nBest, Lee".into(),
            attachment: Some(("quarterly-service-review.ics".into(), "text/calendar", ics)),
        },
        Eml {
            from: "Jörg Müller <joerg.mueller@northwind.example>",
            to: ADELE,
            subject: "Rückfrage zur Lieferung 4711".into(),
            message_id: "lieferung-4711@northwind.example".into(),
            date: hours_ago(12),
            body: "Hallo Frau Vance,\n\nkönnen Sie mir bitte bestätigen, dass die Lieferung 4711 vollständig angekommen ist?\n\nMit freundlichen Grüßen\nJörg Müller".into(),
            attachment: None,
        },
        Eml {
            from: "Contoso IT <it-announcements@contoso.onmicrosoft.com>",
            to: "All staff <allstaff@contoso.onmicrosoft.com>",
            subject: "Planned maintenance: VPN gateway, Saturday 06:00-08:00 UTC".into(),
            message_id: "maintenance-vpn@contoso.onmicrosoft.com".into(),
            date: hours_ago(15),
            body: "Dear colleagues,\n\nthe VPN gateway will be unavailable on Saturday between 06:00 and 08:00 UTC\nwhile we apply security updates. Webmail stays available.\n\nContoso IT".into(),
            attachment: None,
        },
    ];
    // Every Monday at 07:00 UTC, the service desk sends last week's figures.
    let days_since_monday = i64::from(now.weekday().number_days_from_monday());
    let this_monday =
        (now - time::Duration::days(days_since_monday)).replace_time(time::macros::time!(07:00));
    let last_monday = if this_monday > now {
        this_monday - time::Duration::weeks(1)
    } else {
        this_monday
    };
    for n in 0..8 {
        mail.push(weekly_report(n, last_monday - time::Duration::weeks(n)));
    }
    mail.into_iter().map(Eml::build).collect()
}

/// The service desk's report sent on `sent`, about the week before it. `slot` (0 = newest)
/// keeps its Message-ID stable across starts.
fn weekly_report<'a>(slot: i64, sent: OffsetDateTime) -> Eml<'a> {
    let week_start = sent - time::Duration::weeks(1);
    let (year, week, _) = week_start.to_iso_week_date();
    let categories = [
        "Laptop",
        "Printer",
        "VPN",
        "Email",
        "Access request",
        "Software install",
        "Phone",
    ];
    // Figures that vary from week to week the way a service desk's do.
    let opened = 38 + (slot * 17 + 5) % 23;
    let closed = opened - 4 + (slot * 7 + 3) % 9;
    let open_at_end = 11 + (slot * 5 + 2) % 8;
    let first_response = 22 + (slot * 13 + 7) % 19;
    let mut tickets = String::from("ticket,opened,category,priority,status\r\n");
    for i in 0..12 {
        let day = week_start + time::Duration::days(i % 5);
        let date = day.date();
        let number = 8600 + (8 - slot) * 40 + i;
        let category = categories[((slot + i) % categories.len() as i64) as usize];
        let priority = ["normal", "normal", "high", "low"][((slot + i) % 4) as usize];
        let status = if i % 4 == 3 { "open" } else { "closed" };
        tickets.push_str(&format!(
            "{number},{date},{category},{priority},{status}\r\n"
        ));
    }
    Eml {
        from: "Contoso Service Desk <servicedesk@contoso.onmicrosoft.com>",
        to: ADELE,
        subject: format!("Weekly service desk report, week {week} of {year}"),
        message_id: format!("service-desk-report-{}@contoso.onmicrosoft.com", 8 - slot),
        date: sent,
        body: format!(
            "Hello Adele,\n\nhere are the service desk figures for week {week} of {year}.\n\n\
             Tickets opened:                {opened}\n\
             Tickets closed:                {closed}\n\
             Still open at the end of week: {open_at_end}\n\
             Median time to first response: {first_response} minutes\n\n\
             The attached list has the tickets of the week with their category and status.\n\n\
             Contoso Service Desk"
        ),
        attachment: Some((
            format!("service-desk-{year}-W{week:02}.csv"),
            "text/csv",
            tickets.into_bytes(),
        )),
    }
}

/// The Archive, for the delegated account: older mail Adele has read and filed.
fn archive_mail(now: OffsetDateTime) -> Vec<DemoMail> {
    let days_ago = |d: i64| now - time::Duration::days(d);
    let summary = "Support contract Fabrikam / Contoso, 2027\r\n\r\nTerm: 1 January to 31 December 2027\r\nHours included: 160 per year\r\nResponse time: 4 business hours (priority high: 1 hour)\r\nPrice: EUR 18,400 per year, invoiced quarterly\r\n".as_bytes().to_vec();
    vec![
        Eml {
            from: "Lee Gu <lee@contoso.onmicrosoft.com>",
            to: ADELE,
            subject: "Signed: support contract with Fabrikam for 2027".into(),
            message_id: "contract-fabrikam-2027@contoso.onmicrosoft.com".into(),
            date: days_ago(12),
            body: "Hi Adele,\n\nFabrikam signed the support contract for 2027 today. The summary is attached;\nthe signed PDF is in the contracts library.\n\nLee".into(),
            attachment: Some(("fabrikam-support-2027-summary.txt".into(), "text/plain", summary)),
        },
        Eml {
            from: "Megan Bowen <megan@contoso.onmicrosoft.com>",
            to: ADELE,
            subject: "Minutes: intranet relaunch kick-off".into(),
            message_id: "intranet-kickoff@contoso.onmicrosoft.com".into(),
            date: days_ago(19),
            body: "Hi all,\n\nthe minutes of today's kick-off:\n\n- Launch date: 1 March\n- Content owners per department by 15 December\n- Adele coordinates the service desk pages\n\nMegan".into(),
            attachment: None,
        },
        Eml {
            from: "Contoso Travel <travel@contoso.onmicrosoft.com>",
            to: ADELE,
            subject: "Booking confirmed: Seattle, 14 to 16 January".into(),
            message_id: "booking-sea-0114@contoso.onmicrosoft.com".into(),
            date: days_ago(27),
            body: "Dear Adele Vance,\n\nyour trip is booked:\n\nFlight out: 14 January, 09:40\nHotel: 2 nights near the conference centre\nFlight back: 16 January, 18:15\n\nContoso Travel".into(),
            attachment: None,
        },
    ]
    .into_iter()
    .map(Eml::build)
    .collect()
}

fn print_welcome(state: &AppState, sandbox_url: &str, password: &str, seeded: &Seeded) {
    let url = state.config.public_url.as_str().trim_end_matches('/');
    let data_dir = state.config.data_dir.display();
    let inbox = seeded.inbox;
    let step_mail = if seeded.imported_before >= inbox {
        format!(
            "the {inbox} messages of Adele's inbox, imported by the account {ACCOUNT} at the first\n\
             \x20    start of this data dir (a restart imports nothing twice)"
        )
    } else {
        format!(
            "the {inbox} messages seeded into Adele's inbox arrive within seconds,\n\
             \x20    imported by the account {ACCOUNT}"
        )
    };
    println!(
        "\nMailport demo is running. Everything in it is sandbox data; nothing leaves this machine.\n\n\
         \x20 Open            {url}\n\
         \x20 Sign in as      {ADMIN} / {password}   (a new password on every start)\n\
         \x20 Sandbox         {sandbox_url}   (Entra ID + Graph, tenant contoso.onmicrosoft.com;\n\
         \x20                 open it for its users and test controls)\n\
         \x20 Sandbox user    {SANDBOX_USER} / {DEMO_PASSWORD}\n\
         \x20 Data dir        {data_dir}   (delete it to start afresh)\n\n\
         Try this:\n\
         \x20 1. Imported mail: {step_mail}; open one and download its attachment.\n\
         \x20 2. Credentials: {APP_CREDENTIAL} already holds a token (client credentials). Press the key\n\
         \x20    (Get token) of {SIGN_IN_CREDENTIAL}: on the sandbox's \"Pick an account\" page choose\n\
         \x20    \"Use another account\", sign in as {SANDBOX_USER}, accept the consent,\n\
         \x20    and Mailport says \"Signed in as Adele Vance\".\n\
         \x20 3. Email server accounts > {SIGNED_IN_ACCOUNT}: it waited for that sign-in; now it imports\n\
         \x20    the {} messages of Adele's Archive with her own (delegated) token.\n\
         \x20 4. More mail: curl -H 'content-type: application/json' -d '{{\"count\":5,\"attachments\":1}}' \\\n\
         \x20      {sandbox_url}/_sandbox/graph/mailboxes/{SANDBOX_USER}/folders/inbox/generate\n\
         \x20    then press Run now on the account {ACCOUNT}.\n\
         \x20 5. The API ({url}/api/v1/openapi.json describes it): make a key in Settings > API keys,\n\
         \x20    or with `cargo run --release -- apikey create NAME --data-dir {data_dir}`, then\n\
         \x20    curl -H 'Authorization: Bearer <key>' {url}/api/v1/messages\n\
         \x20    Pull the changes feed the same way: {url}/api/v1/events\n\
         \x20 6. Webhooks > {WEBHOOK}: every imported message is also handed on, signed, to the\n\
         \x20    sandbox's business application. What arrived (and whether each signature verified):\n\
         \x20      {sandbox_url}/_sandbox/receiver/{RECEIVER}/deliveries\n\n\
         Press Ctrl-C to stop.",
        seeded.archive
    );
}
