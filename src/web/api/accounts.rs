//! `/api/v1/accounts`: the accounts, paged and filtered, with the poll lag overview; and the
//! write operations (create, replace, change, delete, enable or disable in bulk) for a
//! signed-in session or an API key with the `admin` scope. Writes go through the same
//! validation as the form; errors are `{"error":{"code","message"}}`, plus `fields` (field
//! name → message) when validation failed.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::AdminCaller;
use super::error::{ApiError, ApiErrorBody, ValidationErrorBody, WriteError};
use crate::error::AppError;
use crate::import::lag::LagOverview;
use crate::state::AppState;
use crate::store::accounts::{self, Account};
use crate::store::{Taken, UniqueViolationExt, credentials, runs};
use crate::web::account_input::{AccountFields, base_form, check, credentials_by_id};
use crate::web::account_list::{ListQuery, load_page};
use crate::web::form::{Validation, valid_id};
use crate::web::state::WebState;
use crate::web::views::AccountJson;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/accounts", get(list).post(create).patch(bulk_enable))
        .route(
            "/accounts/{id}",
            get(show).put(replace).patch(change).delete(remove),
        )
}

/// The most ids one bulk change names.
pub const MAX_BULK_IDS: usize = 10_000;

/// The body of `GET /api/v1/accounts`.
#[derive(Serialize, ToSchema)]
pub struct AccountList {
    pub items: Vec<AccountJson>,
    /// The page number, from 1.
    pub page: i64,
    /// Accounts per page (default 50, at most 500).
    pub per_page: i64,
    /// Accounts matching the filter.
    pub total: i64,
    /// Poll lag over every enabled account (not only this page).
    pub lag: LagOverview,
}

/// Email server accounts, ordered by id, a page at a time, with the poll lag overview.
#[utoipa::path(
    get,
    path = "/api/v1/accounts",
    operation_id = "list_accounts",
    tag = "accounts",
    params(
        ("page" = Option<i64>, Query, description = "Page number, from 1 (default 1)"),
        ("per_page" = Option<i64>, Query, description = "Accounts per page, 1 to 500 (default 50)"),
        ("q" = Option<String>, Query, description = "A part of the id, mailbox or description, any case (at most 200 characters)"),
        ("status" = Option<String>, Query, description = "`ok`, `error`, `needs_consent`, `invalid_client`, `disabled`, `throttled` or `stale`"),
        ("credential" = Option<String>, Query, description = "Only accounts that use this credential"),
    ),
    responses(
        (status = 200, description = "One page of accounts", body = AccountList),
        (status = 400, description = "A bad page, per_page, q or status", body = ApiErrorBody),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<AccountList>, ApiError> {
    let params = query.parse().map_err(AppError::BadRequest)?;
    let page = load_page(&state, &params).await?;
    let items = page
        .accounts
        .iter()
        .map(|a| {
            AccountJson::new(
                a,
                page.credentials.get(&a.credential_id),
                page.last_runs.get(&a.id),
                page.running.contains(&a.id),
            )
        })
        .map(|json: AccountJson| {
            let id = json.id.clone();
            json.with_live(state.importer.live_run(&id).as_ref())
        })
        .collect();
    Ok(Json(AccountList {
        items,
        page: params.page,
        per_page: params.per_page,
        total: page.total,
        lag: state.importer.lag_overview().await?,
    }))
}

async fn load(state: &AppState, id: &str) -> Result<Option<Account>, AppError> {
    if !valid_id(id) {
        return Ok(None);
    }
    Ok(accounts::get(&state.db, id).await?)
}

async fn account_json(state: &AppState, a: &Account) -> Result<AccountJson, AppError> {
    let cred = credentials::get(&state.db, &a.credential_id).await?;
    let last = runs::last(&state.db, &a.id).await?;
    Ok(AccountJson::new(
        a,
        cred.as_ref(),
        last.as_ref(),
        state.importer.is_running(&a.id),
    )
    .with_live(state.importer.live_run(&a.id).as_ref()))
}

/// One email server account with its polling and latest run.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/{id}",
    operation_id = "get_account",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The email server account", body = AccountJson),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 404, description = "No account has this id", body = ApiErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AccountJson>, ApiError> {
    let a = load(&state, &id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(account_json(&state, &a).await?))
}

/// 400 for a body that is not the JSON expected.
fn bad_body(message: impl Into<String>) -> WriteError {
    ApiError::bad_request(message).into()
}

/// Parses a JSON body, answering in the API's error format.
fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, WriteError> {
    serde_json::from_slice(body).map_err(|e| {
        bad_body(format!(
            "The body is not the JSON this operation takes: {e}"
        ))
    })
}

/// An account as a write answers it: the stored account and the validation's warnings.
/// Its OpenAPI schema is [`AccountJson`]'s with `warnings` added (see the `ToSchema` impl).
#[derive(Serialize)]
pub struct SavedAccount {
    #[serde(flatten)]
    pub account: AccountJson,
    pub warnings: Vec<String>,
}

async fn saved(
    state: &AppState,
    id: &str,
    status: StatusCode,
    warnings: Vec<String>,
) -> Result<Response, WriteError> {
    let a = accounts::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    state.importer.accounts_changed();
    let body = SavedAccount {
        account: account_json(state, &a).await?,
        warnings,
    };
    let location = format!("/api/v1/accounts/{id}");
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}

/// Creates an account; 409 when the id is taken.
async fn insert(state: &AppState, fields: &AccountFields) -> Result<Response, WriteError> {
    let creds = credentials_by_id(&state.db).await?;
    let form = fields.apply_to(base_form(None));
    let (settings, v) =
        check(&form, None, &creds, &state.config.hosts).map_err(WriteError::Invalid)?;
    if let Err(Taken) = accounts::insert(&state.db, &settings)
        .await
        .on_unique_violation()?
    {
        return Err(ApiError::conflict(format!(
            "An email server account with the id {} already exists; PUT or PATCH /api/v1/accounts/{} changes it.",
            settings.id, settings.id
        ))
        .into());
    }
    tracing::info!(account = %settings.id, "email server account created through the API");
    saved(state, &settings.id, StatusCode::CREATED, v.warnings).await
}

/// An id in the body must be the one in the URL: an id never changes.
fn same_id(fields: &AccountFields, id: &str) -> Result<(), WriteError> {
    if fields.id.as_ref().is_some_and(|given| given.trim() != id) {
        let mut v = Validation::default();
        v.add(
            "id",
            "The id cannot change; it must match the URL or be left out.",
        );
        return Err(WriteError::Invalid(v));
    }
    Ok(())
}

/// Saves `fields` laid over `base` onto an existing account.
async fn overwrite(
    state: &AppState,
    existing: &Account,
    fields: &AccountFields,
    base: crate::web::account_form::AccountForm,
) -> Result<Response, WriteError> {
    same_id(fields, &existing.id)?;
    let creds = credentials_by_id(&state.db).await?;
    let form = fields.apply_to(base);
    let (settings, v) =
        check(&form, Some(existing), &creds, &state.config.hosts).map_err(WriteError::Invalid)?;
    if settings != existing.settings() {
        accounts::update(&state.db, &settings).await?;
        tracing::info!(account = %existing.id, "email server account changed through the API");
    }
    saved(state, &existing.id, StatusCode::OK, v.warnings).await
}

/// Creates an email server account (an API key with the `admin` scope, or a session).
#[utoipa::path(
    post,
    path = "/api/v1/accounts",
    operation_id = "create_account",
    tag = "accounts",
    request_body = AccountFields,
    responses(
        (status = 201, description = "Created; `Location` names it", body = SavedAccount),
        (status = 400, description = "The body is not the JSON this operation takes", body = ApiErrorBody),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 403, description = "The API key may only read", body = ApiErrorBody),
        (status = 409, description = "An account with this id exists", body = ApiErrorBody),
        (status = 422, description = "A field is not valid; nothing was saved", body = ValidationErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    _admin: AdminCaller,
    body: Bytes,
) -> Result<Response, WriteError> {
    let fields: AccountFields = json_body(&body)?;
    insert(&state, &fields).await
}

/// Replaces an email server account; fields left out take the form's defaults. Creates it
/// when no account has the id.
#[utoipa::path(
    put,
    path = "/api/v1/accounts/{id}",
    operation_id = "replace_account",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    request_body = AccountFields,
    responses(
        (status = 200, description = "Replaced", body = SavedAccount),
        (status = 201, description = "Created; `Location` names it", body = SavedAccount),
        (status = 400, description = "The body is not the JSON this operation takes", body = ApiErrorBody),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 403, description = "The API key may only read", body = ApiErrorBody),
        (status = 422, description = "A field is not valid, or the id differs from the URL's; nothing was saved", body = ValidationErrorBody),
    )
)]
pub(super) async fn replace(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, WriteError> {
    let mut fields: AccountFields = json_body(&body)?;
    match load(&state, &id).await? {
        Some(existing) => {
            let mut base = base_form(None);
            base.id = existing.id.clone();
            overwrite(&state, &existing, &fields, base).await
        }
        None => {
            same_id(&fields, &id)?;
            fields.id = Some(id);
            insert(&state, &fields).await
        }
    }
}

/// Changes the fields given of an email server account.
#[utoipa::path(
    patch,
    path = "/api/v1/accounts/{id}",
    operation_id = "change_account",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    request_body = AccountFields,
    responses(
        (status = 200, description = "Changed", body = SavedAccount),
        (status = 400, description = "The body is not the JSON this operation takes", body = ApiErrorBody),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 403, description = "The API key may only read", body = ApiErrorBody),
        (status = 404, description = "No account has this id", body = ApiErrorBody),
        (status = 422, description = "A field is not valid, or the id differs from the URL's; nothing was saved", body = ValidationErrorBody),
    )
)]
pub(super) async fn change(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, WriteError> {
    let fields: AccountFields = json_body(&body)?;
    let existing = load(&state, &id).await?.ok_or(AppError::NotFound)?;
    let base = base_form(Some(&existing));
    overwrite(&state, &existing, &fields, base).await
}

/// Deletes an email server account; its imported mail is kept.
#[utoipa::path(
    delete,
    path = "/api/v1/accounts/{id}",
    operation_id = "delete_account",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 403, description = "The API key may only read", body = ApiErrorBody),
        (status = 404, description = "No account has this id", body = ApiErrorBody),
        (status = 409, description = "The account is importing right now", body = ApiErrorBody),
    )
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, WriteError> {
    let existing = load(&state, &id).await?.ok_or(AppError::NotFound)?;
    if state.importer.is_running(&existing.id) {
        return Err(ApiError::conflict(
            "The account is importing right now; delete it when the run has finished.",
        )
        .into());
    }
    accounts::delete(&state.db, &existing.id).await?;
    state.importer.accounts_changed();
    tracing::info!(account = %existing.id, "email server account deleted through the API");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body of `PATCH /api/v1/accounts`: enable or disable the accounts named by `ids`, or
/// every account matching `filter` (the list's `q`, `status` and `credential`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkChange {
    /// 1 to 10,000 account ids; every one must exist.
    pub ids: Option<Vec<String>>,
    /// The list's filter (`page` and `per_page` are ignored).
    pub filter: Option<ListQuery>,
    pub enabled: bool,
}

/// The answer of a bulk change.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    /// Accounts named or matching.
    pub matched: usize,
    /// Accounts whose `enabled` changed (the others already were so).
    pub changed: usize,
}

/// Enables or disables many email server accounts at once: those named by `ids`, or every
/// one matching `filter`.
#[utoipa::path(
    patch,
    path = "/api/v1/accounts",
    operation_id = "enable_accounts",
    tag = "accounts",
    request_body = BulkChange,
    responses(
        (status = 200, description = "Done", body = BulkResult),
        (status = 400, description = "The body is not the JSON this operation takes, or names neither ids nor filter", body = ApiErrorBody),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 403, description = "The API key may only read", body = ApiErrorBody),
        (status = 422, description = "Unknown account ids; nothing was changed", body = ValidationErrorBody),
    )
)]
pub(super) async fn bulk_enable(
    State(state): State<AppState>,
    _admin: AdminCaller,
    body: Bytes,
) -> Result<Json<BulkResult>, WriteError> {
    let change: BulkChange = json_body(&body)?;
    let ids = match (&change.ids, &change.filter) {
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > MAX_BULK_IDS {
                return Err(bad_body(format!(
                    "ids must name 1 to {MAX_BULK_IDS} accounts"
                )));
            }
            let existing = accounts::existing(&state.db, ids).await?;
            let unknown: Vec<&str> = ids
                .iter()
                .filter(|id| !existing.contains(id.as_str()))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                let shown: Vec<&str> = unknown.iter().take(20).copied().collect();
                let mut v = Validation::default();
                v.add(
                    "ids",
                    format!(
                        "{} unknown account ids, nothing was changed: {}{}",
                        unknown.len(),
                        shown.join(", "),
                        if unknown.len() > shown.len() {
                            ", …"
                        } else {
                            ""
                        }
                    ),
                );
                return Err(WriteError::Invalid(v));
            }
            let mut ids = ids.clone();
            ids.sort();
            ids.dedup();
            ids
        }
        (None, Some(filter)) => {
            let params = filter.parse().map_err(bad_body)?;
            accounts::matching(&state.db, &params.filter)
                .await?
                .into_iter()
                .map(|a| a.id)
                .collect()
        }
        _ => {
            return Err(bad_body(
                "Give either ids (a list of account ids) or filter (q, status, credential).",
            ));
        }
    };
    let changed = accounts::set_enabled(&state.db, &ids, change.enabled).await?;
    state.importer.accounts_changed();
    tracing::info!(
        matched = ids.len(),
        changed = changed.len(),
        enabled = change.enabled,
        "accounts enabled or disabled through the API"
    );
    Ok(Json(BulkResult {
        matched: ids.len(),
        changed: changed.len(),
    }))
}

impl utoipa::PartialSchema for SavedAccount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
        // One object (not an allOf of two): the account's fields and `warnings`.
        let warnings = ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(
                "What the validation noticed but accepted, as sentences.",
            ));
        match <AccountJson as utoipa::PartialSchema>::schema() {
            RefOr::T(Schema::Object(mut object)) => {
                object
                    .properties
                    .insert("warnings".to_string(), warnings.into());
                object.required.push("warnings".to_string());
                object.description =
                    Some("The account as stored, and the validation's warnings.".to_string());
                RefOr::T(Schema::Object(object))
            }
            other => other,
        }
    }
}

impl ToSchema for SavedAccount {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <AccountJson as ToSchema>::schemas(schemas);
        schemas.push((
            AccountJson::name().into_owned(),
            <AccountJson as utoipa::PartialSchema>::schema(),
        ));
    }
}
