//! Deriving the shown text of stored messages again when the parser improved. The raw bytes
//! of every imported message are kept exactly, so subjects, names, bodies and attachment
//! lists that an older parser got wrong (ESC bytes from ISO-2022-JP, NUL, U+FFFD) are
//! replaced in the background after an upgrade, one message at a time, oldest first.

use tokio_util::sync::CancellationToken;

use crate::mime::{self, PARSER_VERSION};
use crate::store::Db;
use crate::store::blobs::BlobStore;
use crate::store::messages;

/// Messages read from the database per batch.
const BATCH: i64 = 100;

/// Derives every message stored by an older parser again; returns how many were updated.
/// Stops early (between messages) when `cancel` fires; the rest is done at the next start.
pub async fn run(db: &Db, blobs: &BlobStore, cancel: &CancellationToken) -> anyhow::Result<usize> {
    let mut done = 0;
    let mut after = 0;
    loop {
        let batch = messages::derived_by_older_parser(db, PARSER_VERSION, after, BATCH).await?;
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        after = last;
        for (id, sha256) in batch {
            if cancel.is_cancelled() {
                return Ok(done);
            }
            let raw = match blobs.read(&sha256).await {
                Ok(raw) => raw,
                Err(e) => {
                    tracing::warn!(message = id, error = %e, "raw message unreadable; its stored text is kept");
                    messages::mark_derived(db, id).await?;
                    continue;
                }
            };
            // One message at a time, off the async threads: parsing holds it in memory.
            let parsed = tokio::task::spawn_blocking(move || mime::parse(&raw)).await?;
            messages::replace_derived(db, id, &parsed).await?;
            done += 1;
        }
    }
    if done > 0 {
        tracing::info!(
            messages = done,
            "derived subjects, names, bodies and attachments again with the current parser"
        );
    }
    Ok(done)
}

/// Starts [`run`] in the background.
pub fn start(db: Db, blobs: BlobStore, cancel: CancellationToken) {
    tokio::spawn(async move {
        if let Err(e) = run(&db, &blobs, &cancel).await {
            tracing::error!(error = %e, "could not derive stored messages again");
        }
    });
}
