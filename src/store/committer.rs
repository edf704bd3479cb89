//! Group commit for the importer: messages that finish at the same time share one
//! transaction and so one WAL sync, instead of one sync each.

use super::Db;
use super::messages::{NewMessage, insert_group, insert_imported};

/// Why the group commit could not store a message.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The committing task has ended (the runtime is shutting down).
    #[error("the database writer has stopped")]
    Stopped,
    /// The database refused the message (tried on its own, outside its group).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A message waiting for the group commit, and where its answer goes.
type Queued = (
    NewMessage,
    tokio::sync::oneshot::Sender<Result<(i64, bool), CommitError>>,
);

/// Most messages committed in one transaction.
const GROUP_MAX: usize = 64;

/// Group commit for the importer: messages that finish at the same time share one transaction
/// and so one WAL sync, instead of one sync each.
#[derive(Clone)]
pub struct Committer {
    queue: tokio::sync::mpsc::Sender<Queued>,
}

impl Committer {
    /// Starts the committing task (in the current tokio runtime); it ends with the last clone.
    pub fn start(db: Db) -> Self {
        let (queue, mut waiting) = tokio::sync::mpsc::channel::<Queued>(GROUP_MAX);
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(GROUP_MAX);
            // Takes whatever has queued up while the previous group was being synced.
            while waiting.recv_many(&mut group, GROUP_MAX).await > 0 {
                let (messages, replies): (Vec<NewMessage>, Vec<_>) = group.drain(..).unzip();
                match insert_group(&db, &messages).await {
                    Ok(ids) => {
                        for (reply, id) in replies.into_iter().zip(ids) {
                            let _ = reply.send(Ok(id));
                        }
                    }
                    // Nothing of the group was written. One at a time, so that one message
                    // that cannot be stored does not fail the others with it.
                    Err(_) => {
                        for (message, reply) in messages.iter().zip(replies) {
                            let one = insert_imported(&db, message).await;
                            let _ = reply.send(one.map_err(CommitError::Database));
                        }
                    }
                }
            }
        });
        Committer { queue }
    }

    /// Stores one message (see [`insert_imported`]) together with any others waiting.
    pub async fn insert(&self, message: NewMessage) -> Result<(i64, bool), CommitError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send((message, reply))
            .await
            .map_err(|_| CommitError::Stopped)?;
        answer.await.map_err(|_| CommitError::Stopped)?
    }
}
