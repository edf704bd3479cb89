//! One import run of one account: choose the messages, store each one durably, then apply
//! the post-import action. Nothing is moved or deleted before it is stored and committed.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Importer;
use super::ctx::RunCtx;
use super::delta::import_by_delta;
use super::message::process_page;
use super::post_action::PostAction;
use super::progress::{Progress, Stop, storage};
use super::token_source::CredentialTokens;
use crate::graph::{GraphClient, GraphError, GraphErrorKind, GraphSettings, MailboxTarget};
use crate::oauth::credential::GrantType;
use crate::oauth::credential::TokenStatus;
use crate::oauth::token_service::AccessToken;
use crate::store::accounts::{self, Account, AccountStatus};
use crate::store::credentials::{self, Credential};
use crate::store::messages;

/// A credential that passed [`check_credential`]: the row as read once, and the access
/// token it gave, handed on to the Graph client and Test connection.
pub struct CheckedCredential {
    pub credential: Credential,
    pub token: AccessToken,
}

/// Checks the credential before any Graph request, so a dead grant is reported as such.
/// A rejected client secret (expired, say) does not stop the run while the access token
/// issued before still works: the token service keeps handing it out until it expires.
/// The row is read once; only after a failed token request is it read again, for the
/// status that request recorded.
pub async fn check_credential(
    importer: &Importer,
    account: &Account,
) -> Result<CheckedCredential, Stop> {
    let Some(cred) = credentials::get(&importer.db, &account.credential_id)
        .await
        .map_err(storage)?
    else {
        return Err(Stop::Credential {
            status: AccountStatus::Error,
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
            status: AccountStatus::NeedsConsent,
            detail: format!(
                "Credential {} needs consent: press its key button and sign in.",
                cred.id
            ),
        });
    }
    match importer.tokens.fresh_token_for(&cred).await {
        Ok(token) => Ok(CheckedCredential {
            credential: cred,
            token,
        }),
        Err(e) => {
            let now = credentials::get(&importer.db, &cred.id)
                .await
                .ok()
                .flatten();
            let status = match now.as_ref() {
                Some(c) if c.stored_status() == TokenStatus::NeedsConsent => {
                    AccountStatus::NeedsConsent
                }
                Some(c) if c.stored_status() == TokenStatus::InvalidClient => {
                    AccountStatus::InvalidClient
                }
                // A delegated credential's first token needs a person at the key button.
                Some(c)
                    if c.grant_type() == GrantType::AuthorizationCode && !c.has_refresh_token() =>
                {
                    AccountStatus::NeedsConsent
                }
                _ => AccountStatus::Error,
            };
            let detail = match (status, now.and_then(|c| c.last_error_code)) {
                (AccountStatus::InvalidClient, code) => format!(
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
    first_token: Option<AccessToken>,
) -> Result<GraphClient, GraphError> {
    let target = MailboxTarget {
        graph_url: account.graph_url.clone(),
        mailbox: (!account.mailbox.trim().is_empty()).then(|| account.mailbox.trim().to_string()),
    };
    let tokens = Arc::new(super::lease::LeaseGate {
        tokens: CredentialTokens::new(
            importer.tokens.clone(),
            account.credential_id.clone(),
            first_token,
        ),
        importer: importer.clone(),
        account_id: account.id.clone(),
    });
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
    let checked = check_credential(importer, account).await?;
    let client = client_for(
        importer,
        account,
        importer.settings.graph.clone(),
        Some(checked.token),
    )
    .map_err(Stop::Graph)?;
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
    let action = PostAction::prepare(&importer.db, account, client).await?;

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
        ctx.apply_action(id, &graph_id).await;
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
