//! One import run of one account: choose the messages, store each one durably, then apply
//! the post-import action. Nothing is moved or deleted before it is stored and committed.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Importer;
use super::post_action::PostAction;
use super::token_source::CredentialTokens;
use crate::graph::{
    DeltaCursor, DeltaPage, GraphClient, GraphError, GraphErrorKind, GraphSettings, MailboxTarget,
    MessageMeta,
};
use crate::store::accounts::{self, Account};
use crate::store::credentials::{self, TokenStatus};
use crate::store::messages::{self, NewMessage};
use crate::store::runs::RunSummary;

/// Why a run stopped early.
#[derive(Debug)]
pub enum Stop {
    /// The account cannot run: credential needs consent, is rejected, or is missing.
    Credential {
        status: &'static str,
        detail: String,
    },
    /// Graph refused or failed in a way that ends this run.
    Graph(GraphError),
    /// Storage (disk, database) failed: nothing more is touched in the mailbox.
    Storage(String),
    /// Shutdown was requested.
    Cancelled,
}

/// Counts and log of a run in progress, shared by the messages processed concurrently.
pub struct Progress {
    summary: std::sync::Mutex<RunSummary>,
    /// Messages this run may still process (the per-run cap).
    budget: std::sync::atomic::AtomicUsize,
    /// The deltaLink of a delta round this run completed, stored when the run is recorded.
    round_end: std::sync::Mutex<Option<String>>,
}

impl Progress {
    /// Adds a line to the run's log, as a sentence.
    pub(super) fn log(&self, line: impl Into<String>) {
        let line = crate::prose::sentence(line.into());
        self.update(|s| s.log.push(line));
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut RunSummary)) {
        f(&mut self.summary.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Takes one message from the budget; false when the run's cap is reached.
    fn take_budget(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
            .is_ok()
    }

    /// The run's counts and log, and the deltaLink of a delta round it completed (taken:
    /// a second call has none). The screens may still read the counts through
    /// [`Progress::snapshot`] until the run is recorded.
    pub fn take_parts(&self) -> (RunSummary, Option<String>) {
        (
            self.snapshot(),
            self.round_end
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        )
    }

    fn complete_round(&self, delta_link: String) {
        *self.round_end.lock().unwrap_or_else(|e| e.into_inner()) = Some(delta_link);
    }

    /// The counts and log so far.
    pub fn snapshot(&self) -> RunSummary {
        self.summary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What every step of one run needs.
pub(super) struct RunCtx<'a> {
    pub importer: &'a Importer,
    pub account: &'a Account,
    pub client: &'a GraphClient,
    pub action: &'a PostAction,
    pub cancel: &'a CancellationToken,
    pub progress: &'a Progress,
}

pub(super) fn storage(e: impl std::fmt::Display) -> Stop {
    Stop::Storage(e.to_string())
}

/// Checks the credential before any Graph request, so a dead grant is reported as such.
/// A rejected client secret (expired, say) does not stop the run while the access token
/// issued before still works: the token service keeps handing it out until it expires.
pub async fn check_credential(importer: &Importer, account: &Account) -> Result<(), Stop> {
    let Some(cred) = credentials::get(&importer.db, &account.credential_id)
        .await
        .map_err(storage)?
    else {
        return Err(Stop::Credential {
            status: "error",
            detail: format!(
                "The credential {} does not exist. Choose another one for this account.",
                account.credential_id
            ),
        });
    };
    // The access token goes only to a Graph host of the token host's cloud (or one the
    // operator allowed): checked before a token is even fetched.
    if let Err(refused) = importer
        .graph_http
        .policy()
        .check_graph_for(&account.graph_url, &cred.access_token_url)
    {
        return Err(Stop::Graph(GraphError {
            kind: GraphErrorKind::Other,
            status: None,
            code: Some(crate::outbound::REFUSED_CODE.into()),
            message: format!("nothing was sent to Graph: {refused}"),
            request_id: None,
        }));
    }
    if cred.stored_status() == TokenStatus::NeedsConsent {
        return Err(Stop::Credential {
            status: "needs_consent",
            detail: format!(
                "Credential {} needs consent: press its key button and sign in.",
                cred.id
            ),
        });
    }
    match importer.tokens.access_token(&cred.id).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let now = credentials::get(&importer.db, &cred.id)
                .await
                .ok()
                .flatten();
            let status = match now.as_ref() {
                Some(c) if c.stored_status() == TokenStatus::NeedsConsent => "needs_consent",
                Some(c) if c.stored_status() == TokenStatus::InvalidClient => "invalid_client",
                // A delegated credential's first token needs a person at the key button.
                Some(c)
                    if c.grant_type() == credentials::GrantType::AuthorizationCode
                        && !c.has_refresh_token() =>
                {
                    "needs_consent"
                }
                _ => "error",
            };
            let detail = match (status, now.and_then(|c| c.last_error_code)) {
                ("invalid_client", code) => format!(
                    "The client secret of credential {} was rejected{}: enter a new client secret on the credential.",
                    cred.id,
                    code.map(|c| format!(" ({c})")).unwrap_or_default()
                ),
                _ => {
                    let why = e.to_string();
                    if why.contains(cred.id.as_str()) {
                        why
                    } else {
                        format!("Credential {} has no usable token. {why}", cred.id)
                    }
                }
            };
            Err(Stop::Credential { status, detail })
        }
    }
}

/// A Graph client for the account's mailbox, with tokens from its credential.
pub fn client_for(
    importer: &Importer,
    account: &Account,
    settings: GraphSettings,
) -> Result<GraphClient, GraphError> {
    let target = MailboxTarget {
        graph_url: account.graph_url.clone(),
        mailbox: (!account.mailbox.trim().is_empty()).then(|| account.mailbox.trim().to_string()),
    };
    let tokens = Arc::new(CredentialTokens::new(
        importer.tokens.clone(),
        account.credential_id.clone(),
    ));
    GraphClient::new(
        importer.graph_http.clone(),
        &target,
        tokens,
        &importer.limits,
        settings,
    )
}

/// Runs the import of one account until done, capped, cancelled or failed.
pub async fn run(
    importer: &Importer,
    account: &Account,
    cancel: &CancellationToken,
    progress: &Progress,
) -> Result<(), Stop> {
    check_credential(importer, account).await?;
    let client =
        client_for(importer, account, importer.settings.graph.clone()).map_err(Stop::Graph)?;
    let result = run_with_client(importer, account, &client, cancel, progress).await;
    let stats = client.stats();
    progress.update(|s| {
        s.retries = stats.retries as i64;
        s.request_id = stats.last_request_id.clone();
        s.log.extend(stats.log);
    });
    result
}

async fn run_with_client(
    importer: &Importer,
    account: &Account,
    client: &GraphClient,
    cancel: &CancellationToken,
    progress: &Progress,
) -> Result<(), Stop> {
    let folder_id = match &account.folder_id {
        Some(id) => id.clone(),
        None => {
            let folder = client
                .resolve_folder_path(&account.folder)
                .await
                .map_err(Stop::Graph)?;
            accounts::set_folder_ids(&importer.db, &account.id, Some(&folder.id), None)
                .await
                .map_err(storage)?;
            folder.id
        }
    };
    let action = PostAction::prepare(importer, account, client).await?;

    // Messages stored by an earlier run whose post-action did not happen yet.
    let pending = messages::pending_post_actions(&importer.db, &account.id, 1000)
        .await
        .map_err(storage)?;
    let ctx = RunCtx {
        importer,
        account,
        client,
        action: &action,
        cancel,
        progress,
    };
    for (id, graph_id) in pending {
        if cancel.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        action.apply(&ctx, id, &graph_id).await;
    }

    if account.after_import().uses_delta() {
        import_by_delta(&ctx, &folder_id).await
    } else {
        import_folder(&ctx, &folder_id).await
    }
}

/// move and delete: everything in the folder, oldest first. Processed messages leave the
/// folder, so after a page that removed something the listing starts over (a `$skip`
/// nextLink would otherwise skip messages that moved up).
async fn import_folder(ctx: &RunCtx<'_>, folder_id: &str) -> Result<(), Stop> {
    let RunCtx {
        importer,
        client,
        progress,
        ..
    } = *ctx;
    let mut next: Option<String> = None;
    for _ in 0..importer.settings.max_pages_per_run {
        let page = client
            .list_messages(folder_id, next.as_deref())
            .await
            .map_err(Stop::Graph)?;
        progress.update(|s| s.listed += page.messages.len() as i64);
        let outcome = process_page(ctx, &page.messages).await?;
        if outcome.capped {
            return Ok(());
        }
        let removed = outcome.removed;
        next = match (removed, page.next_link) {
            (true, _) => None,
            (false, Some(link)) => Some(link),
            (false, None) => return Ok(()),
        };
    }
    progress.update(|s| s.capped = true);
    progress.log("stopped at the per-run page cap; the next run continues");
    Ok(())
}

/// keep and mark_read: a per-folder delta query, so new mail is found whether or not
/// someone read it. The cursor (nextLink mid-round, deltaLink after) is stored per account.
/// The next page is fetched while this one's messages are processed (reading ahead changes
/// nothing in the mailbox), but the cursor moves only past pages whose messages are stored.
async fn import_by_delta(ctx: &RunCtx<'_>, folder_id: &str) -> Result<(), Stop> {
    let RunCtx {
        importer,
        account,
        client,
        progress,
        ..
    } = *ctx;
    let mut link = account.delta_link.clone();
    let mut restarted = false;
    let mut read_ahead: Option<Result<DeltaPage, GraphError>> = None;
    let max_pages = importer.settings.max_pages_per_run;
    for page_no in 0..max_pages {
        let since = match (&link, restarted, account.delta_watermark) {
            // Back a little from the watermark: mail received in the same second (or
            // delivered late) must not fall through; the unique key makes overlap harmless.
            (None, true, Some(mark)) => Some(mark - RESTART_OVERLAP_SECS).max(account.import_since),
            (None, _, _) => account.import_since,
            (Some(_), _, _) => None,
        };
        let fetched = match read_ahead.take() {
            Some(result) => result,
            None => {
                let cursor = match &link {
                    Some(l) => DeltaCursor::Link(l),
                    None => DeltaCursor::Start {
                        received_since: since
                            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()),
                    },
                };
                client.delta(folder_id, cursor).await
            }
        };
        let page = match fetched {
            Ok(page) => page,
            Err(e) if e.kind == GraphErrorKind::SyncStateExpired && !restarted => {
                progress.log(
                    "the delta token expired; starting a new sync from the last received message",
                );
                accounts::set_delta_link(&importer.db, &account.id, None, false)
                    .await
                    .map_err(storage)?;
                link = None;
                restarted = true;
                continue;
            }
            Err(e) => return Err(Stop::Graph(e)),
        };
        progress.update(|s| s.listed += page.messages.len() as i64);
        let ahead = async {
            match &page.next_link {
                Some(next) if page_no + 1 < max_pages => {
                    Some(client.delta(folder_id, DeltaCursor::Link(next)).await)
                }
                _ => None,
            }
        };
        let (outcome, ahead) = tokio::join!(process_page(ctx, &page.messages), ahead);
        let outcome = outcome?;
        if outcome.capped {
            // The cursor stays before this page: the next run reads it again, and the
            // messages already stored here are skipped by the unique key.
            return Ok(());
        }
        if outcome.failed {
            // Moving the cursor on would skip the message for good.
            progress.log(
                "a message of this page could not be downloaded; the next run reads the page again",
            );
            return Ok(());
        }
        // Only now, with every message of the page stored, may the cursor move on.
        let (next, done) = match (page.next_link, page.delta_link) {
            (Some(n), _) => (Some(n), false),
            (None, Some(d)) => (Some(d), true),
            (None, None) => (None, true),
        };
        if done && let Some(delta_link) = next {
            // The round is complete. Its deltaLink is stored with the poll's record on the
            // account, so that an empty poll writes once (`store::schedule::record_poll`).
            progress.complete_round(delta_link);
            return Ok(());
        }
        accounts::set_delta_link(&importer.db, &account.id, next.as_deref(), done)
            .await
            .map_err(storage)?;
        if done {
            return Ok(());
        }
        link = next;
        read_ahead = ahead;
    }
    progress.update(|s| s.capped = true);
    progress.log("stopped at the per-run page cap; the next run continues");
    Ok(())
}

/// How far before the watermark a restarted delta sync begins.
const RESTART_OVERLAP_SECS: i64 = 3600;

fn parse_received(s: Option<&str>) -> Option<i64> {
    time::OffsetDateTime::parse(s?, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

struct PageOutcome {
    /// Some message left the folder (moved or deleted).
    removed: bool,
    /// Some message could not be downloaded this time (network, server or a bad answer);
    /// it is still in the mailbox and must be tried again.
    failed: bool,
    /// The per-run cap was reached before the page was done.
    capped: bool,
}

/// Processes a page's messages, a few at a time (downloads overlap; the per-mailbox limit
/// in the Graph client keeps requests within Microsoft's 4). Every message is finished,
/// stored or left alone, before this returns.
async fn process_page(ctx: &RunCtx<'_>, page: &[MessageMeta]) -> Result<PageOutcome, Stop> {
    let RunCtx {
        importer, progress, ..
    } = *ctx;
    let mut capped = false;
    let mut chosen = Vec::with_capacity(page.len());
    for meta in page {
        if !progress.take_budget() {
            capped = true;
            progress.update(|s| s.capped = true);
            progress.log("stopped at the per-run message cap; the next run continues");
            break;
        }
        chosen.push(meta);
    }
    let slots = tokio::sync::Semaphore::new(importer.settings.messages_in_parallel.max(1));
    let work: Vec<_> = chosen
        .into_iter()
        .map(|meta| process_in_slot(&slots, ctx, meta))
        .collect();
    let results = futures_util::future::join_all(work).await;
    let mut removed = false;
    let mut failed = false;
    let mut first_stop = None;
    for r in results {
        match r {
            Ok(Handled::LeftFolder) => removed = true,
            Ok(Handled::Failed) => failed = true,
            Ok(Handled::Stayed) => {}
            Err(stop) => {
                first_stop.get_or_insert(stop);
            }
        }
    }
    match first_stop {
        Some(stop) => Err(stop),
        None => Ok(PageOutcome {
            removed,
            failed,
            capped,
        }),
    }
}

async fn process_in_slot(
    slots: &tokio::sync::Semaphore,
    ctx: &RunCtx<'_>,
    meta: &MessageMeta,
) -> Result<Handled, Stop> {
    let _slot = slots.acquire().await.map_err(storage)?;
    // Checked after waiting for a slot: on shutdown, messages not yet started stay untouched.
    if ctx.cancel.is_cancelled() {
        return Err(Stop::Cancelled);
    }
    process(ctx, meta).await
}

/// What became of one message of a page.
pub(super) enum Handled {
    /// Stored (or known, or too large, or gone) and still in the folder.
    Stayed,
    /// Stored, then moved or deleted.
    LeftFolder,
    /// Not stored this time, left untouched in the mailbox: try again later.
    Failed,
}

/// One message: skip or redo the post-action if known, record if too large, otherwise
/// download, store, then act.
async fn process(ctx: &RunCtx<'_>, meta: &MessageMeta) -> Result<Handled, Stop> {
    let RunCtx {
        importer,
        account,
        client,
        action,
        progress,
        ..
    } = *ctx;
    if let Some(known) = messages::find(&importer.db, &account.id, &meta.id)
        .await
        .map_err(storage)?
    {
        progress.update(|s| s.skipped += 1);
        if known.state == "imported" && !known.post_action_done {
            return Ok(action.apply(ctx, known.id, &meta.id).await);
        }
        return Ok(Handled::Stayed);
    }
    let limit = account.max_message_bytes.max(1);
    if let Some(size) = meta.size
        && size > limit
    {
        messages::record_too_large(
            &importer.db,
            &account.id,
            &meta.id,
            size,
            meta.subject.as_deref().unwrap_or(""),
            parse_received(meta.received.as_deref()),
        )
        .await
        .map_err(storage)?;
        progress.update(|s| s.too_large += 1);
        progress.log(format!(
            "left a {size}-byte message in the mailbox: over the {limit}-byte limit"
        ));
        return Ok(Handled::Stayed);
    }

    let mut writer = importer
        .blobs
        .begin()
        .await
        .map_err(|e| Stop::Storage(format!("Mailport cannot write to the blob store: {e}.")))?;
    match client
        .download_value(&meta.id, &mut writer, limit as u64)
        .await
    {
        Ok(_) => {}
        Err(e) if e.kind == GraphErrorKind::TooLarge => {
            writer.abort().await;
            messages::record_too_large(
                &importer.db,
                &account.id,
                &meta.id,
                limit + 1,
                meta.subject.as_deref().unwrap_or(""),
                parse_received(meta.received.as_deref()),
            )
            .await
            .map_err(storage)?;
            progress.update(|s| s.too_large += 1);
            return Ok(Handled::Stayed);
        }
        Err(e) if e.kind == GraphErrorKind::ItemNotFound => {
            // Deleted or moved away (by a person or another client) since it was listed:
            // nothing to import and nothing failed.
            writer.abort().await;
            progress.update(|s| s.skipped += 1);
            progress.log(format!(
                "message {} was gone from the mailbox when it was downloaded (removed after it was listed) and was skipped",
                short(&meta.id)
            ));
            return Ok(Handled::Stayed);
        }
        Err(e) => {
            writer.abort().await;
            progress.update(|s| s.failed += 1);
            progress.log(format!(
                "could not download message {}: {e}",
                short(&meta.id)
            ));
            return match e.kind {
                GraphErrorKind::Network | GraphErrorKind::Server | GraphErrorKind::BadResponse => {
                    Ok(Handled::Failed)
                }
                _ => Err(Stop::Graph(e)),
            };
        }
    }
    let blob = writer
        .finish()
        .await
        .map_err(|e| Stop::Storage(format!("Mailport cannot write to the blob store: {e}.")))?;
    // Downloads stream to disk; parsing needs the message in memory and happens on one
    // dedicated thread, one message at a time.
    let path = importer
        .blobs
        .path(&blob.sha256)
        .ok_or_else(|| Stop::Storage("The blob store returned a bad hash.".into()))?;
    let parsed =
        importer.parser.parse(path).await.map_err(|e| {
            Stop::Storage(format!("Mailport cannot read back a stored message: {e}."))
        })?;
    let new = NewMessage {
        account_id: account.id.clone(),
        graph_id: meta.id.clone(),
        internet_message_id: parsed
            .message_id
            .clone()
            .or_else(|| meta.internet_message_id.clone()),
        subject: if parsed.subject.is_empty() {
            meta.subject.clone().unwrap_or_default()
        } else {
            parsed.subject.clone()
        },
        from: parsed.from.clone(),
        to: parsed.to.clone(),
        cc: parsed.cc.clone(),
        sent_at: parsed.date,
        received_at: parse_received(meta.received.as_deref()).or(parsed.date),
        size: blob.size as i64,
        sha256: blob.sha256.clone(),
        text_body: parsed.text_body,
        html_body: parsed.html_body,
        attachments: parsed.attachments,
        attachment_count: parsed.attachment_count as i64,
        calendar: parsed.calendar,
    };
    let (id, _new) = importer
        .committer
        .insert(new)
        .await
        .map_err(|e| Stop::Storage(format!("Mailport cannot record the message: {e}.")))?;
    progress.update(|s| s.imported += 1);
    Ok(action.apply(ctx, id, &meta.id).await)
}

pub(super) fn short(id: &str) -> &str {
    &id[..id.len().min(16)]
}

impl Progress {
    pub fn new(budget: usize) -> Self {
        Progress {
            summary: std::sync::Mutex::new(RunSummary {
                outcome: "running".into(),
                ..RunSummary::default()
            }),
            budget: std::sync::atomic::AtomicUsize::new(budget),
            round_end: std::sync::Mutex::new(None),
        }
    }
}
