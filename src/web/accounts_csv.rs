//! E-mail accounts as CSV: export (`GET /accounts.csv`, with the list's filter) and import
//! (`/accounts/import`: upload, a preview with every row's change or error, then Apply or
//! Cancel). An import is an upsert by id and idempotent: applying the same file twice
//! changes nothing the second time. A file with any broken row cannot be applied at all.
//!
//! The format (RFC 4180, UTF-8, a header row naming the columns in any order): `id`
//! (required) and any of `description`, `mailbox`, `folder`, `credential_id`,
//! `after_import`, `move_to`, `graph_url`, `poll_interval`, `enabled` (`true`/`false`) and
//! `import_since` (`YYYY-MM-DD` or empty). A column left out keeps an existing account's
//! value (new accounts get the form's defaults), so `id,enabled` switches accounts on or off.
//! Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) are written with a leading `'`, which the import removes again.

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::account_form::AccountForm;
use super::account_input::{base_form, check, credentials_by_id};
use super::account_list::ListQuery;
use super::form::format_date;
use super::layout::{Frame, Layout, Nav};
use super::page::html_page;
use super::session::{AppSession, FlashKind};
use crate::error::AppError;
use crate::outbound::HostPolicy;
use crate::state::AppState;
use crate::store::accounts::{self, Account, AccountSettings};
use crate::store::credentials::Credential;
use crate::store::imports;

/// The columns, in the order the export writes them.
pub const COLUMNS: [&str; 11] = [
    "id",
    "description",
    "mailbox",
    "folder",
    "credential_id",
    "after_import",
    "move_to",
    "graph_url",
    "poll_interval",
    "enabled",
    "import_since",
];

/// The most rows one file may hold.
pub const MAX_ROWS: usize = 50_000;
/// Rows of a preview listed one by one (the counts cover all).
const SHOWN_ROWS: usize = 500;

/// What a spreadsheet would take for a formula.
fn formula_like(value: &str) -> bool {
    value
        .trim_start_matches('\'')
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A cell as exported: formula-like values get a leading `'`.
pub fn export_cell(value: &str) -> String {
    if formula_like(value) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

/// A cell as imported: the `'` the export added is removed.
pub fn import_cell(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if formula_like(value) => rest,
        _ => value,
    }
}

fn settings_row(s: &AccountSettings) -> [String; 11] {
    [
        s.id.clone(),
        s.description.clone(),
        s.mailbox.clone(),
        s.folder.clone(),
        s.credential_id.clone(),
        s.after_import.as_str().to_string(),
        s.move_to.clone(),
        s.graph_url.clone(),
        s.poll_interval.to_string(),
        s.enabled.to_string(),
        s.import_since.map(format_date).unwrap_or_default(),
    ]
}

/// The accounts as CSV text.
pub fn to_csv(accounts: &[Account]) -> Result<String, AppError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| AppError::Internal(anyhow::anyhow!("writing CSV: {e}"));
    out.write_record(COLUMNS).map_err(fail)?;
    for a in accounts {
        let row = settings_row(&a.settings());
        out.write_record(row.iter().map(|c| export_cell(c)))
            .map_err(fail)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| AppError::Internal(e.into()))
}

pub async fn export(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    let params = query.parse().map_err(AppError::BadRequest)?;
    let list = accounts::matching(&state.db, &params.filter).await?;
    let text = to_csv(&list)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"mailport-accounts.csv\"",
            ),
        ],
        text,
    )
        .into_response())
}

/// What a row of the file does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create,
    /// The names of the settings that change.
    Update(Vec<&'static str>),
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct RowPlan {
    /// The line of the file (the header is line 1).
    pub line: u64,
    pub settings: AccountSettings,
    pub change: Change,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RowError {
    pub line: u64,
    pub id: String,
    pub message: String,
}

/// What applying a file would do, row by row, or what is wrong with it.
#[derive(Debug, Default)]
pub struct Plan {
    pub rows: Vec<RowPlan>,
    pub errors: Vec<RowError>,
}

impl Plan {
    fn file_error(message: impl Into<String>) -> Plan {
        Plan {
            rows: Vec::new(),
            errors: vec![RowError {
                line: 1,
                id: String::new(),
                message: message.into(),
            }],
        }
    }
    pub fn count(&self, what: fn(&Change) -> bool) -> usize {
        self.rows.iter().filter(|r| what(&r.change)).count()
    }
    pub fn creates(&self) -> usize {
        self.count(|c| *c == Change::Create)
    }
    pub fn updates(&self) -> usize {
        self.count(|c| matches!(c, Change::Update(_)))
    }
    pub fn unchanged(&self) -> usize {
        self.count(|c| *c == Change::Unchanged)
    }
}

fn changed_fields(old: &AccountSettings, new: &AccountSettings) -> Vec<&'static str> {
    let (a, b) = (settings_row(old), settings_row(new));
    COLUMNS
        .iter()
        .zip(a.iter().zip(b.iter()))
        .filter(|(_, (x, y))| x != y)
        .map(|(name, _)| *name)
        .collect()
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// Lays one row's cells over the base form. Err: a message for the `enabled` cell.
fn row_form(
    base: AccountForm,
    header: &[String],
    record: &csv::StringRecord,
) -> Result<AccountForm, String> {
    let mut form = base;
    for (name, raw) in header.iter().zip(record.iter()) {
        let value = import_cell(raw).to_string();
        match name.as_str() {
            "id" => form.id = value.trim().to_string(),
            "description" => form.description = value,
            "mailbox" => form.mailbox = value,
            "folder" => form.folder = value,
            "credential_id" => form.credential_id = value,
            "after_import" => form.after_import = value.trim().to_string(),
            "move_to" => form.move_to = value,
            "graph_url" => form.graph_url = value,
            "poll_interval" => form.poll_interval = value,
            "enabled" => {
                let on = parse_bool(&value)
                    .ok_or_else(|| format!("enabled: write true or false, not {value:?}"))?;
                form.enabled = on.then(|| "on".into());
            }
            "import_since" => form.import_since = value,
            _ => {}
        }
    }
    Ok(form)
}

/// Reads and checks a file against the stored accounts and credentials, with Graph hosts
/// checked by the outbound host policy.
pub fn plan(
    text: &str,
    existing: &HashMap<String, Account>,
    credentials: &HashMap<String, Credential>,
    hosts: &HostPolicy,
) -> Plan {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(e) => return Plan::file_error(format!("The header row cannot be read: {e}")),
    };
    let mut seen = HashSet::new();
    for name in &header {
        if !COLUMNS.contains(&name.as_str()) {
            return Plan::file_error(format!(
                "Unknown column {name:?}. The columns are: {}.",
                COLUMNS.join(", ")
            ));
        }
        if !seen.insert(name.clone()) {
            return Plan::file_error(format!("The column {name:?} appears twice."));
        }
    }
    if !seen.contains("id") {
        return Plan::file_error("The header row must name an id column.");
    }
    let mut plan = Plan::default();
    let mut ids = HashSet::new();
    for (n, record) in reader.records().enumerate() {
        if n >= MAX_ROWS {
            return Plan::file_error(format!("The file has more than {MAX_ROWS} rows; split it."));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(n as u64 + 2, |p| p.line());
                plan.errors.push(RowError {
                    line,
                    id: String::new(),
                    message: format!("This row cannot be read: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(n as u64 + 2, |p| p.line());
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let id_cell = header
            .iter()
            .position(|h| h == "id")
            .and_then(|i| record.get(i))
            .map(|c| import_cell(c).trim().to_string())
            .unwrap_or_default();
        let mut fail = |message: String| {
            plan.errors.push(RowError {
                line,
                id: id_cell.clone(),
                message,
            })
        };
        if record.len() != header.len() {
            fail(format!(
                "This row has {} cells; the header has {}.",
                record.len(),
                header.len()
            ));
            continue;
        }
        if !ids.insert(id_cell.clone()) {
            fail(format!("The id {id_cell} appears on an earlier row too."));
            continue;
        }
        let stored = existing.get(&id_cell);
        let form = match row_form(base_form(stored), &header, &record) {
            Ok(f) => f,
            Err(message) => {
                fail(message);
                continue;
            }
        };
        match check(&form, stored, credentials, hosts) {
            Ok((settings, v)) => {
                let change = match stored {
                    None => Change::Create,
                    Some(a) => {
                        let fields = changed_fields(&a.settings(), &settings);
                        if fields.is_empty() {
                            Change::Unchanged
                        } else {
                            Change::Update(fields)
                        }
                    }
                };
                plan.rows.push(RowPlan {
                    line,
                    settings,
                    change,
                    warnings: v.warnings,
                });
            }
            Err(v) => {
                let messages: Vec<String> =
                    v.errors.iter().map(|(k, m)| format!("{k}: {m}")).collect();
                fail(messages.join(" "));
            }
        }
    }
    if plan.rows.is_empty() && plan.errors.is_empty() {
        return Plan::file_error("The file has a header but no accounts.");
    }
    plan
}

async fn plan_for(state: &AppState, text: &str) -> Result<Plan, AppError> {
    let existing: HashMap<String, Account> = accounts::list(&state.db)
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let credentials = credentials_by_id(&state.db).await?;
    Ok(plan(text, &existing, &credentials, &state.config.hosts))
}

#[derive(Template)]
#[template(path = "accounts/import.html")]
struct UploadPage {
    layout: Layout,
    columns: &'static [&'static str],
    error: Option<String>,
}

pub async fn upload_page(frame: Frame) -> Result<Response, AppError> {
    let page = UploadPage {
        layout: frame.layout(Nav::Accounts).await?,
        columns: &COLUMNS,
        error: None,
    };
    Ok(page.into_response())
}

/// A row of the preview.
struct PreviewRow {
    line: u64,
    id: String,
    mailbox: String,
    what: String,
    warnings: String,
}

#[derive(Template)]
#[template(path = "accounts/import_preview.html")]
struct PreviewPage {
    layout: Layout,
    file_name: String,
    /// Set when the file can be applied.
    import_id: Option<String>,
    creates: usize,
    updates: usize,
    unchanged: usize,
    rows: Vec<PreviewRow>,
    more_rows: usize,
    errors: Vec<RowError>,
    more_errors: usize,
}

fn preview_page(
    layout: Layout,
    file_name: String,
    import_id: Option<String>,
    plan: &Plan,
) -> PreviewPage {
    let changing: Vec<&RowPlan> = plan
        .rows
        .iter()
        .filter(|r| r.change != Change::Unchanged)
        .collect();
    let rows = changing
        .iter()
        .take(SHOWN_ROWS)
        .map(|r| PreviewRow {
            line: r.line,
            id: r.settings.id.clone(),
            mailbox: r.settings.mailbox.clone(),
            what: match &r.change {
                Change::Create => "create".into(),
                Change::Update(fields) => format!("change {}", fields.join(", ")),
                Change::Unchanged => "unchanged".into(),
            },
            warnings: r.warnings.join(" "),
        })
        .collect();
    PreviewPage {
        layout,
        file_name,
        import_id,
        creates: plan.creates(),
        updates: plan.updates(),
        unchanged: plan.unchanged(),
        more_rows: changing.len().saturating_sub(SHOWN_ROWS),
        rows,
        errors: plan.errors.iter().take(SHOWN_ROWS).cloned().collect(),
        more_errors: plan.errors.len().saturating_sub(SHOWN_ROWS),
    }
}

async fn upload_error(frame: &Frame, message: String) -> Result<Response, AppError> {
    let page = UploadPage {
        layout: frame.layout(Nav::Accounts).await?,
        columns: &COLUMNS,
        error: Some(message),
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// The upload: checked at once; shown as a preview. Only a file without errors and with
/// something to change is kept (as a pending import) for Apply.
pub async fn preview(
    State(state): State<AppState>,
    frame: Frame,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return upload_error(&frame, format!("The upload failed: {e}")).await;
            }
        };
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("").to_string();
            match field.bytes().await {
                Ok(bytes) => file = Some((name, bytes.to_vec())),
                Err(e) => {
                    return upload_error(&frame, format!("The upload failed: {e}")).await;
                }
            }
        }
    }
    let Some((file_name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return upload_error(&frame, "Choose a CSV file to upload.".into()).await;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return upload_error(
            &frame,
            "The file is not UTF-8 text. Save it as \"CSV UTF-8\" and upload it again.".into(),
        )
        .await;
    };
    let plan = plan_for(&state, &text).await?;
    let file_name: String = file_name.chars().take(200).collect();
    let import_id = if plan.errors.is_empty() && plan.creates() + plan.updates() > 0 {
        let id = crate::crypto::random_token(16);
        imports::save(&state.db, &id, &frame.user.username, &file_name, &text).await?;
        Some(id)
    } else {
        None
    };
    let status = if plan.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let layout = frame.layout(Nav::Accounts).await?;
    let page = preview_page(layout, file_name, import_id, &plan);
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub struct PendingForm {
    #[serde(default)]
    import: String,
}

async fn gone(session: &AppSession) -> Result<Response, AppError> {
    session
        .flash(
            FlashKind::Warn,
            "That import was already applied or cancelled, or it expired (after an hour). \
             Nothing was changed by this request.",
        )
        .await?;
    Ok(Redirect::to("/accounts").into_response())
}

/// Apply: the file is checked again against what is stored now and written in one
/// transaction, or not at all.
pub async fn apply(
    State(state): State<AppState>,
    frame: Frame,
    Form(form): Form<PendingForm>,
) -> Result<Response, AppError> {
    let Some(pending) = imports::get(&state.db, form.import.trim()).await? else {
        return gone(&frame.session).await;
    };
    let plan = plan_for(&state, &pending.csv).await?;
    if !plan.errors.is_empty() {
        // Something changed since the preview (a credential deleted, an id taken).
        imports::delete(&state.db, &pending.id).await?;
        let layout = frame.layout(Nav::Accounts).await?;
        let page = preview_page(layout, pending.file_name, None, &plan);
        return Ok((StatusCode::CONFLICT, page).into_response());
    }
    let creates: Vec<AccountSettings> = plan
        .rows
        .iter()
        .filter(|r| r.change == Change::Create)
        .map(|r| r.settings.clone())
        .collect();
    let updates: Vec<AccountSettings> = plan
        .rows
        .iter()
        .filter(|r| matches!(r.change, Change::Update(_)))
        .map(|r| r.settings.clone())
        .collect();
    if !imports::apply(&state.db, &pending.id, &creates, &updates).await? {
        return gone(&frame.session).await;
    }
    state.importer.accounts_changed();
    tracing::info!(
        created = creates.len(),
        updated = updates.len(),
        by = %frame.user.username,
        "email server accounts imported from CSV"
    );
    frame
        .session
        .flash(
            FlashKind::Ok,
            format!(
                "Imported {}: {} accounts created, {} changed, {} unchanged.",
                pending.file_name,
                creates.len(),
                updates.len(),
                plan.unchanged()
            ),
        )
        .await?;
    Ok(Redirect::to("/accounts").into_response())
}

/// Cancel: the pending file is dropped; nothing was applied.
pub async fn cancel(
    State(state): State<AppState>,
    session: AppSession,
    Form(form): Form<PendingForm>,
) -> Result<Response, AppError> {
    imports::delete(&state.db, form.import.trim()).await?;
    session
        .flash(FlashKind::Ok, "Import cancelled. No account was changed.")
        .await?;
    Ok(Redirect::to("/accounts").into_response())
}

html_page!(UploadPage, PreviewPage);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_guards_survive_a_round_trip() {
        for v in [
            "=SUM(A1)", "'=x", "''+1", "-5", "@x", "plain", "'quoted", "",
        ] {
            assert_eq!(import_cell(&export_cell(v)), v, "{v:?}");
        }
        assert_eq!(export_cell("=1+1"), "'=1+1");
        assert_eq!(export_cell("plain"), "plain");
    }
}
