//! The post-import action (move, mark read, delete or keep), applied only to messages that
//! are stored and committed. A failure is counted and retried by the next run.

use super::progress::{Handled, Progress, Stop, short, storage};
use crate::graph::{GraphClient, GraphErrorKind};
use crate::store::accounts::{self, Account, AfterImport};
use crate::store::leases::Fence;
use crate::store::{Db, messages};

/// The post-import action, with the destination folder resolved once per run.
pub enum PostAction {
    Move { folder_id: String },
    MarkRead,
    Delete,
    Keep,
}

impl PostAction {
    pub(super) async fn prepare(
        db: &Db,
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
                        accounts::set_folder_ids(db, &account.id, None, Some(&folder.id))
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
    pub(super) async fn apply(
        &self,
        db: &Db,
        fence: &Fence,
        client: &GraphClient,
        progress: &Progress,
        message_id: i64,
        graph_id: &str,
    ) -> Handled {
        let result = match self {
            PostAction::Move { folder_id } => {
                client.move_message(graph_id, folder_id).await.map(|_| ())
            }
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
                match messages::mark_post_action_done(db, fence, message_id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        progress.update(|s| s.post_action_failures += 1);
                        progress.log("post-action applied but not recorded: the mailbox's lease was lost; the new holder finds it done");
                    }
                    Err(e) => {
                        progress.update(|s| s.post_action_failures += 1);
                        progress.log(format!("post-action applied but not recorded: {e}"));
                    }
                }
                match self {
                    PostAction::Move { .. } | PostAction::Delete => Handled::LeftFolder,
                    PostAction::MarkRead | PostAction::Keep => Handled::Stayed,
                }
            }
            Err(e) => {
                progress.update(|s| s.post_action_failures += 1);
                progress.log(format!(
                    "post-import action on {} failed (retried next run): {e}",
                    short(graph_id)
                ));
                Handled::Stayed
            }
        }
    }
}
