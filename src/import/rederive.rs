//! Deriving the shown text of stored messages again when the parser improved. The raw bytes
//! of every imported message are kept exactly, so subjects, names, bodies and attachment
//! lists that an older parser got wrong (ESC bytes from ISO-2022-JP, NUL, U+FFFD) are
//! replaced in the background after an upgrade, one message at a time, oldest first.

use tokio_util::sync::CancellationToken;

use super::Importer;
use crate::mime::PARSER_VERSION;
use crate::store::messages;

/// Messages read from the database per batch.
const BATCH: i64 = 100;

/// Derives every message stored by an older parser again; returns how many were updated.
/// Parsing happens on the importer's parser thread, one message at a time (bounded memory,
/// as for imports). Stops early (between messages) when `cancel` fires; the rest is done
/// at the next start.
pub async fn run(importer: &Importer, cancel: &CancellationToken) -> anyhow::Result<usize> {
    let db = &importer.db;
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
            let parsed = importer.parser.parse_blob(&importer.blobs, &sha256).await;
            match parsed {
                Ok(parsed) => {
                    messages::replace_derived(db, id, &parsed).await?;
                    done += 1;
                }
                Err(e) => {
                    tracing::warn!(message = id, error = %e, "raw message unreadable; its stored text is kept");
                    messages::mark_derived(db, id).await?;
                }
            }
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
pub fn start(importer: Importer, cancel: CancellationToken) {
    tokio::spawn(async move {
        if let Err(e) = run(&importer, &cancel).await {
            tracing::error!(error = %e, "could not derive stored messages again");
        }
    });
}
