//! What every step of one run needs ([`RunCtx`]): the importer, the account, its Graph
//! client, the post-import action, the shutdown token and the run's progress.

use tokio_util::sync::CancellationToken;

use super::Importer;
use super::post_action::PostAction;
use super::progress::{Handled, Progress};
use crate::graph::GraphClient;
use crate::store::accounts::Account;

/// What every step of one run needs.
pub(super) struct RunCtx<'a> {
    pub importer: &'a Importer,
    pub account: &'a Account,
    pub client: &'a GraphClient,
    pub action: &'a PostAction,
    pub cancel: &'a CancellationToken,
    pub progress: &'a Progress,
}

impl RunCtx<'_> {
    /// Applies the post-import action to a stored message.
    pub(super) async fn apply_action(&self, message_id: i64, graph_id: &str) -> Handled {
        self.action
            .apply(
                &self.importer.db,
                &self.importer.leases.fence(&self.account.id),
                self.client,
                self.progress,
                message_id,
                graph_id,
            )
            .await
    }
}
