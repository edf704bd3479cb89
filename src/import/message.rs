//! One page of listed messages, processed a few at a time, and one message's processing:
//! skip or redo the post-action if known, record if too large, otherwise download, store,
//! then act. Nothing is moved or deleted before it is stored and committed.

use super::ctx::RunCtx;
use super::progress::{Handled, Stop, StorageError, short, storage};
use crate::graph::{GraphErrorKind, MessageMeta};
use crate::store::messages::{self, NewMessage};

/// A Graph `receivedDateTime` (RFC 3339) as unix seconds.
fn parse_received(s: Option<&str>) -> Option<i64> {
    time::OffsetDateTime::parse(s?, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

pub(super) struct PageOutcome {
    /// Some message left the folder (moved or deleted).
    pub removed: bool,
    /// Some message could not be downloaded this time (network, server or a bad answer);
    /// it is still in the mailbox and must be tried again.
    pub failed: bool,
    /// The per-run cap was reached before the page was done.
    pub capped: bool,
}

/// Processes a page's messages, a few at a time (downloads overlap; the per-mailbox limit
/// in the Graph client keeps requests within Microsoft's 4). Every message is finished,
/// stored or left alone, before this returns.
pub(super) async fn process_page(
    ctx: &RunCtx<'_>,
    page: &[MessageMeta],
) -> Result<PageOutcome, Stop> {
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

/// One message: skip or redo the post-action if known, record if too large, otherwise
/// download, store, then act.
async fn process(ctx: &RunCtx<'_>, meta: &MessageMeta) -> Result<Handled, Stop> {
    let RunCtx {
        importer,
        account,
        client,
        progress,
        ..
    } = *ctx;
    if let Some(known) = messages::find(&importer.db, &account.id, &meta.id)
        .await
        .map_err(storage)?
    {
        progress.update(|s| s.skipped += 1);
        if known.state == "imported" && !known.post_action_done {
            return Ok(ctx.apply_action(known.id, &meta.id).await);
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
        .map_err(|e| storage(StorageError::BlobWrite(e)))?;
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
        .map_err(|e| storage(StorageError::BlobWrite(e)))?;
    // Downloads stream to disk; parsing needs the message in memory and happens on one
    // dedicated thread, one message at a time.
    let parsed = importer
        .parser
        .parse_blob(&importer.blobs, &blob.sha256)
        .await
        .map_err(|e| storage(StorageError::ReadBack(e)))?;
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
    if !importer.leases.may_act(&account.id) {
        // Downloaded before this instance lost the mailbox: the new holder imports it.
        return Err(Stop::Graph(super::lease::lease_lost()));
    }
    let (id, _new) = importer
        .committer
        .insert(new)
        .await
        .map_err(|e| storage(StorageError::Record(e)))?;
    progress.update(|s| s.imported += 1);
    Ok(ctx.apply_action(id, &meta.id).await)
}
