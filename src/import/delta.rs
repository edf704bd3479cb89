//! Delta mode (keep and mark_read): new mail is found with a per-folder delta query, the
//! next page read ahead while this one's messages are stored, and the cursor stored only
//! past pages whose messages are all stored.

use super::ctx::RunCtx;
use super::message::process_page;
use super::progress::{Stop, storage};
use crate::graph::{DeltaCursor, DeltaPage, GraphError, GraphErrorKind};
use crate::store::accounts;

/// How far before the watermark a restarted delta sync begins.
const RESTART_OVERLAP_SECS: i64 = 3600;

/// keep and mark_read: a per-folder delta query, so new mail is found whether or not
/// someone read it. The cursor (nextLink mid-round, deltaLink after) is stored per account.
/// The next page is fetched while this one's messages are processed (reading ahead changes
/// nothing in the mailbox), but the cursor moves only past pages whose messages are stored.
pub(super) async fn import_by_delta(ctx: &RunCtx<'_>, folder_id: &str) -> Result<(), Stop> {
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
                let fence = importer.leases.fence(&account.id);
                if !accounts::set_delta_link(&importer.db, &fence, &account.id, None, false)
                    .await
                    .map_err(storage)?
                {
                    return Err(Stop::Graph(super::lease::lease_lost()));
                }
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
        let fence = importer.leases.fence(&account.id);
        if !accounts::set_delta_link(&importer.db, &fence, &account.id, next.as_deref(), done)
            .await
            .map_err(storage)?
        {
            return Err(Stop::Graph(super::lease::lease_lost()));
        }
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
