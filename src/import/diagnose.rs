//! Test connection: get a token, read the folder, list one message, and explain in plain
//! words what is wrong when something is.

use super::Importer;
use super::run::{Stop, check_credential, client_for};
use crate::graph::{GraphClient, GraphError, GraphErrorKind, GraphSettings};
use crate::store::accounts::Account;
use crate::store::credentials;

/// What Test connection found.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    pub ok: bool,
    pub title: String,
    pub details: Vec<String>,
    /// Exchange Online PowerShell commands that fix the problem.
    pub commands: Vec<String>,
    /// The folders that do exist, when the configured one does not.
    pub folders: Vec<String>,
    /// A credential to repair.
    pub credential_id: Option<String>,
}

pub async fn test_connection(importer: &Importer, account: &Account) -> Diagnosis {
    if let Err(stop) = check_credential(importer, account).await {
        return match stop {
            Stop::Credential { detail, .. } => Diagnosis {
                title: "No access token".into(),
                details: vec![detail],
                credential_id: Some(account.credential_id.clone()),
                ..Diagnosis::default()
            },
            Stop::Graph(e) => Diagnosis {
                title: "Mailport could not check the credential".into(),
                details: vec![e.to_string()],
                ..Diagnosis::default()
            },
            Stop::Storage(message) => Diagnosis {
                title: "Mailport could not check the credential".into(),
                details: vec![crate::prose::sentence(message)],
                ..Diagnosis::default()
            },
            Stop::Cancelled => Diagnosis {
                title: "Mailport is shutting down".into(),
                details: vec!["Try again when Mailport runs again.".into()],
                ..Diagnosis::default()
            },
        };
    }
    // One message is all the probe lists; and a person is waiting for the answer, so it
    // does not queue for minutes behind an import that has used the request budget up.
    let settings = GraphSettings {
        page_size: 1,
        budget_wait_limit: Some(std::time::Duration::from_secs(5)),
        ..importer.settings.graph.clone()
    };
    let client = match client_for(importer, account, settings) {
        Ok(c) => c,
        Err(e) => return explain(importer, account, e).await,
    };
    match probe(&client, account).await {
        Ok(d) => d,
        Err(e) => explain(importer, account, e).await,
    }
}

async fn probe(client: &GraphClient, account: &Account) -> Result<Diagnosis, GraphError> {
    let folder = client.resolve_folder_path(&account.folder).await?;
    let page = client.list_messages(&folder.id, None).await?;
    let mailbox = mailbox_label(account);
    let mut details = vec![format!(
        "Signed in and read the folder \u{201c}{}\u{201d} of {mailbox}{}.",
        folder.display_name,
        folder
            .total_item_count
            .map(|n| format!(" ({n} messages)"))
            .unwrap_or_default()
    )];
    match page.messages.first() {
        Some(m) => details.push(format!(
            "The oldest message is \u{201c}{}\u{201d}.",
            m.subject.clone().unwrap_or_default()
        )),
        None => details.push("The folder is empty.".into()),
    }
    Ok(Diagnosis {
        ok: true,
        title: "Connection works".into(),
        details,
        ..Diagnosis::default()
    })
}

fn mailbox_label(account: &Account) -> String {
    if account.mailbox.trim().is_empty() {
        "the signed-in user's mailbox".into()
    } else {
        account.mailbox.clone()
    }
}

async fn explain(importer: &Importer, account: &Account, e: GraphError) -> Diagnosis {
    let mailbox = mailbox_label(account);
    let about: Vec<String> = e
        .code
        .iter()
        .cloned()
        .chain(e.request_id.iter().map(|r| format!("request-id {r}")))
        .collect();
    let reference = if about.is_empty() {
        format!("Graph said: \u{201c}{}\u{201d}", e.message)
    } else {
        format!(
            "Graph said: \u{201c}{}\u{201d} ({}).",
            e.message,
            about.join(", ")
        )
    };
    let client_id = credentials::get(&importer.db, &account.credential_id)
        .await
        .ok()
        .flatten()
        .map(|c| c.client_id)
        .unwrap_or_else(|| "<client id>".into());
    let mut d = Diagnosis::default();
    match &e.kind {
        GraphErrorKind::AccessPolicy => {
            d.title = "The app may not open this mailbox".into();
            d.details = vec![
                format!("An application access policy or RBAC for Applications in Exchange Online excludes {mailbox} for the app {client_id}."),
                "Add the mailbox to the policy's mail-enabled security group (legacy policies), or give the app a management scope that contains it (RBAC for Applications). Changes can take an hour or more to apply.".into(),
                reference,
            ];
            let mbx = if account.mailbox.is_empty() {
                "<mailbox>"
            } else {
                account.mailbox.as_str()
            };
            d.commands = vec![
                format!("Test-ApplicationAccessPolicy -Identity {mbx} -AppId {client_id}"),
                format!(
                    "Add-DistributionGroupMember -Identity <mail-enabled security group of the policy> -Member {mbx}"
                ),
                format!(
                    "New-ApplicationAccessPolicy -AppId {client_id} -PolicyScopeGroupId <mail-enabled security group> -AccessRight RestrictAccess -Description \"Mailport\""
                ),
                "# or, with RBAC for Applications:".into(),
                format!(
                    "New-ServicePrincipal -AppId {client_id} -ObjectId <enterprise application object id> -DisplayName Mailport"
                ),
                format!(
                    "New-ManagementScope -Name \"Mailport mailboxes\" -RecipientRestrictionFilter \"PrimarySmtpAddress -eq '{mbx}'\""
                ),
                format!(
                    "New-ManagementRoleAssignment -App {client_id} -Role \"Application Mail.ReadWrite\" -CustomResourceScope \"Mailport mailboxes\""
                ),
                format!("Test-ServicePrincipalAuthorization -Identity {client_id} -Resource {mbx}"),
            ];
        }
        GraphErrorKind::AccessDenied => {
            d.title = "Permission or admin consent is missing".into();
            d.details = vec![
                "The app registration needs the Microsoft Graph permission Mail.ReadWrite: as an application permission with admin consent (client credentials), or as a delegated permission (authorization code).".into(),
                "In Entra ID: App registrations > your app > API permissions > Add Mail.ReadWrite > Grant admin consent. Then press the key button of the credential again.".into(),
                reference,
            ];
            d.credential_id = Some(account.credential_id.clone());
        }
        GraphErrorKind::MailboxNotEnabled => {
            d.title = "The mailbox cannot be used through Graph".into();
            d.details = vec![
                format!(
                    "{} is inactive, soft-deleted, hosted on-premises, or has no Exchange Online licence.",
                    if account.mailbox.trim().is_empty() {
                        "The signed-in user's mailbox".to_string()
                    } else {
                        format!("The mailbox {mailbox}")
                    }
                ),
                reference,
            ];
        }
        GraphErrorKind::NotFound => {
            d.title = "Mailbox not found".into();
            d.details = vec![
                format!(
                    "Graph does not know the user {mailbox}. Check the mailbox field: a user principal name or primary SMTP address of this tenant."
                ),
                reference,
            ];
        }
        GraphErrorKind::FolderNotFound { existing } => {
            d.title = format!("Folder \u{201c}{}\u{201d} not found", account.folder);
            d.details = vec![
                "Use a well-known name (Inbox, Archive, …) or a path such as Inbox/Service desk."
                    .into(),
                if existing.is_empty() {
                    "There are no folders at the level where the path stopped.".into()
                } else {
                    "These folders exist at the level where the path stopped.".into()
                },
            ];
            d.folders = existing.clone();
        }
        GraphErrorKind::Throttled => {
            d.title = "Graph is throttling this mailbox".into();
            d.details = vec![
                e.to_string(),
                "Nothing is wrong with the settings as far as this test got. A running import \
                 goes on as the limits allow; try Test connection again later."
                    .into(),
            ];
        }
        GraphErrorKind::Unauthorized => {
            d.title = "Graph refused the access token".into();
            d.details = vec![e.to_string()];
            d.credential_id = Some(account.credential_id.clone());
        }
        _ => {
            d.title = "The connection test failed".into();
            d.details = vec![e.to_string()];
        }
    }
    d
}
