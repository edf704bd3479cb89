//! One import run of one account: choose the messages, store each one durably, then apply
//! the post-import action. Nothing is moved or deleted before it is stored and committed.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Importer;
use super::token_source::CredentialTokens;
use crate::graph::{
    DeltaCursor, GraphClient, GraphError, GraphErrorKind, MailboxTarget, MessageMeta,
};
use crate::store::accounts::{self, Account, AfterImport};
use crate::store::credentials::{self, TokenStatus};
use crate::store::messages::{self, NewMessage};
use crate::store::runs::RunSummary;

/// Why a run stopped early.
#[derive(Debug)]
pub enum Stop {
    /// The account cannot run: credential needs consent, is rejected, or is missing.
    Credential { status: &'static str, detail: String },
    /// Graph refused or failed in a way that ends this run.
    Graph(GraphError),
    /// Storage (disk, database) failed: nothing more is touched in the mailbox.
    Storage(String),
    /// Shutdown was requested.
    Cancelled,
}

/// Counts and log of a run in progress.
pub struct Progress {
    pub summary: RunSummary,
    budget: usize,
}

impl Progress {
    fn log(&mut self, line: impl Into<String>) {
        self.summary.log.push(line.into());
    }
}

fn storage(e: impl std::fmt::Display) -> Stop {
    Stop::Storage(e.to_string())
}

/// Checks the credential before any Graph request, so a dead grant is reported as such.
pub async fn check_credential(importer: &Importer, account: &Account) -> Result<(), Stop> {
    let Some(cred) = credentials::get(&importer.db, &account.credential_id)
        .await
        .map_err(storage)?
    else {
        return Err(Stop::Credential {
            status: "error",
            detail: format!("credential {} does not exist", account.credential_id),
        });
    };
    match cred.stored_status() {
        TokenStatus::NeedsConsent => Err(Stop::Credential {
            status: "needs_consent",
            detail: format!(
                "credential {} needs consent: press its key button and sign in",
                cred.id
            ),
        }),
        TokenStatus::InvalidClient => Err(Stop::Credential {
            status: "needs_consent",
            detail: format!(
                "the client secret of credential {} was rejected: enter a new one",
                cred.id
            ),
        }),
        _ => match importer.tokens.access_token(&cred.id).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = match credentials::get(&importer.db, &cred.id).await {
                    Ok(Some(c))
                        if matches!(
                            c.stored_status(),
                            TokenStatus::NeedsConsent | TokenStatus::InvalidClient
                        ) =>
                    {
                        "needs_consent"
                    }
                    _ => "error",
                };
                Err(Stop::Credential {
                    status,
                    detail: format!("credential {}: {e}", cred.id),
                })
            }
        },
    }
}

pub fn client_for(importer: &Importer, account: &Account) -> Result<GraphClient, GraphError> {
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
        importer.settings.graph.clone(),
    )
}

/// Runs the import of one account until done, capped, cancelled or failed.
pub async fn run(
    importer: &Importer,
    account: &Account,
    cancel: &CancellationToken,
    progress: &mut Progress,
) -> Result<(), Stop> {
    progress.budget = importer.settings.max_messages_per_run;
    check_credential(importer, account).await?;
    let client = client_for(importer, account).map_err(Stop::Graph)?;
    let result = run_with_client(importer, account, &client, cancel, progress).await;
    let stats = client.stats();
    progress.summary.retries = stats.retries as i64;
    progress.summary.request_id = stats.last_request_id.clone();
    progress.summary.log.extend(stats.log);
    result
}

async fn run_with_client(
    importer: &Importer,
    account: &Account,
    client: &GraphClient,
    cancel: &CancellationToken,
    progress: &mut Progress,
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
    for (id, graph_id) in pending {
        if cancel.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        action.apply(importer, client, id, &graph_id, progress).await;
    }

    if account.after_import().uses_delta() {
        import_by_delta(importer, account, client, &folder_id, &action, cancel, progress).await
    } else {
        import_folder(importer, account, client, &folder_id, &action, cancel, progress).await
    }
}

/// move and delete: everything in the folder, oldest first. Processed messages leave the
/// folder, so after a page that removed something the listing starts over (a `$skip`
/// nextLink would otherwise skip messages that moved up).
async fn import_folder(
    importer: &Importer,
    account: &Account,
    client: &GraphClient,
    folder_id: &str,
    action: &PostAction,
    cancel: &CancellationToken,
    progress: &mut Progress,
) -> Result<(), Stop> {
    let mut next: Option<String> = None;
    for _ in 0..importer.settings.max_pages_per_run {
        let page = client
            .list_messages(folder_id, next.as_deref())
            .await
            .map_err(Stop::Graph)?;
        progress.summary.listed += page.messages.len() as i64;
        let mut removed = false;
        for meta in &page.messages {
            if progress.budget == 0 {
                progress.log("stopped at the per-run message cap; the next run continues");
                return Ok(());
            }
            if cancel.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            if process(importer, account, client, action, meta, progress).await? {
                removed = true;
            }
        }
        next = match (removed, page.next_link) {
            (true, _) => None,
            (false, Some(link)) => Some(link),
            (false, None) => return Ok(()),
        };
        if removed && page.messages.is_empty() {
            return Ok(());
        }
    }
    progress.log("stopped at the per-run page cap; the next run continues");
    Ok(())
}

/// keep and mark_read: a per-folder delta query, so new mail is found whether or not
/// someone read it. The cursor (nextLink mid-round, deltaLink after) is stored per account.
async fn import_by_delta(
    importer: &Importer,
    account: &Account,
    client: &GraphClient,
    folder_id: &str,
    action: &PostAction,
    cancel: &CancellationToken,
    progress: &mut Progress,
) -> Result<(), Stop> {
    let mut link = account.delta_link.clone();
    let mut restarted = false;
    for _ in 0..importer.settings.max_pages_per_run {
        let since = match (&link, restarted, account.delta_watermark) {
            // Back a little from the watermark: mail received in the same second (or
            // delivered late) must not fall through; the unique key makes overlap harmless.
            (None, true, Some(mark)) => {
                Some(mark - RESTART_OVERLAP_SECS).max(account.import_since)
            }
            (None, _, _) => account.import_since,
            (Some(_), _, _) => None,
        };
        let cursor = match &link {
            Some(l) => DeltaCursor::Link(l),
            None => DeltaCursor::Start {
                received_since: since.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()),
            },
        };
        let page = match client.delta(folder_id, cursor).await {
            Ok(page) => page,
            Err(e) if e.kind == GraphErrorKind::SyncStateExpired && !restarted => {
                progress.log("the delta token expired; starting a new sync from the last received message");
                accounts::set_delta_link(&importer.db, &account.id, None, false)
                    .await
                    .map_err(storage)?;
                link = None;
                restarted = true;
                continue;
            }
            Err(e) => return Err(Stop::Graph(e)),
        };
        progress.summary.listed += page.messages.len() as i64;
        for meta in &page.messages {
            if cancel.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            if progress.budget == 0 {
                progress.log("stopped at the per-run message cap; the next run continues");
                return Ok(());
            }
            process(importer, account, client, action, meta, progress).await?;
        }
        // Only now, with every message of the page stored, may the cursor move on.
        let (next, done) = match (page.next_link, page.delta_link) {
            (Some(n), _) => (Some(n), false),
            (None, Some(d)) => (Some(d), true),
            (None, None) => (None, true),
        };
        accounts::set_delta_link(&importer.db, &account.id, next.as_deref(), done)
            .await
            .map_err(storage)?;
        if done {
            return Ok(());
        }
        link = next;
    }
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

/// One message: skip or redo the post-action if known, record if too large, otherwise
/// download, store, then act. Returns true when the message left the folder.
async fn process(
    importer: &Importer,
    account: &Account,
    client: &GraphClient,
    action: &PostAction,
    meta: &MessageMeta,
    progress: &mut Progress,
) -> Result<bool, Stop> {
    if let Some(known) = messages::find(&importer.db, &account.id, &meta.id)
        .await
        .map_err(storage)?
    {
        progress.summary.skipped += 1;
        if known.state == "imported" && !known.post_action_done {
            return Ok(action.apply(importer, client, known.id, &meta.id, progress).await);
        }
        return Ok(false);
    }
    progress.budget = progress.budget.saturating_sub(1);
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
        progress.summary.too_large += 1;
        progress.log(format!(
            "left a {size}-byte message in the mailbox: over the {limit}-byte limit"
        ));
        return Ok(false);
    }

    let mut writer = importer.blobs.begin().await.map_err(|e| {
        Stop::Storage(format!("cannot write to the blob store: {e}"))
    })?;
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
            progress.summary.too_large += 1;
            return Ok(false);
        }
        Err(e) => {
            writer.abort().await;
            progress.summary.failed += 1;
            progress.log(format!("could not download message {}: {e}", short(&meta.id)));
            return match e.kind {
                GraphErrorKind::ItemNotFound => Ok(false),
                GraphErrorKind::Network | GraphErrorKind::Server | GraphErrorKind::BadResponse => {
                    Ok(false)
                }
                _ => Err(Stop::Graph(e)),
            };
        }
    }
    let blob = writer
        .finish()
        .await
        .map_err(|e| Stop::Storage(format!("cannot write to the blob store: {e}")))?;
    let raw = importer
        .blobs
        .read(&blob.sha256)
        .await
        .map_err(|e| Stop::Storage(format!("cannot read back a stored message: {e}")))?;
    let parsed = crate::mime::parse(&raw);
    drop(raw);
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
    };
    let (id, _new) = messages::insert_imported(&importer.db, &new)
        .await
        .map_err(|e| Stop::Storage(format!("cannot record the message: {e}")))?;
    progress.summary.imported += 1;
    Ok(action.apply(importer, client, id, &meta.id, progress).await)
}

fn short(id: &str) -> &str {
    &id[..id.len().min(16)]
}

/// The post-import action, with the destination folder resolved once per run.
pub enum PostAction {
    Move { folder_id: String },
    MarkRead,
    Delete,
    Keep,
}

impl PostAction {
    async fn prepare(
        importer: &Importer,
        account: &Account,
        client: &GraphClient,
    ) -> Result<Self, Stop> {
        Ok(match account.after_import() {
            AfterImport::Move => {
                let folder_id = match &account.move_to_folder_id {
                    Some(id) => id.clone(),
                    None => {
                        let folder = client
                            .ensure_folder_path(&account.move_to)
                            .await
                            .map_err(Stop::Graph)?;
                        accounts::set_folder_ids(&importer.db, &account.id, None, Some(&folder.id))
                            .await
                            .map_err(storage)?;
                        folder.id
                    }
                };
                PostAction::Move { folder_id }
            }
            AfterImport::MarkRead => PostAction::MarkRead,
            AfterImport::Delete => PostAction::Delete,
            AfterImport::Keep => PostAction::Keep,
        })
    }

    /// Applies the action to a STORED message. A failure is counted and retried next run.
    /// Returns true when the message left the folder.
    async fn apply(
        &self,
        importer: &Importer,
        client: &GraphClient,
        message_id: i64,
        graph_id: &str,
        progress: &mut Progress,
    ) -> bool {
        let result = match self {
            PostAction::Move { folder_id } => client.move_message(graph_id, folder_id).await.map(|_| ()),
            PostAction::MarkRead => client.mark_read(graph_id).await,
            PostAction::Delete => client.delete_message(graph_id).await,
            PostAction::Keep => Ok(()),
        };
        let result = match result {
            // Gone already (moved or deleted by a person or an earlier attempt): done.
            Err(e) if e.kind == GraphErrorKind::ItemNotFound => Ok(()),
            other => other,
        };
        match result {
            Ok(()) => {
                if let Err(e) = messages::mark_post_action_done(&importer.db, message_id).await {
                    progress.summary.post_action_failures += 1;
                    progress.log(format!("post-action applied but not recorded: {e}"));
                }
                matches!(self, PostAction::Move { .. } | PostAction::Delete)
            }
            Err(e) => {
                progress.summary.post_action_failures += 1;
                progress.log(format!(
                    "post-import action on {} failed (retried next run): {e}",
                    short(graph_id)
                ));
                false
            }
        }
    }
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            summary: RunSummary {
                outcome: "running".into(),
                ..RunSummary::default()
            },
            budget: 0,
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
