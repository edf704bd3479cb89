//! The Webhooks screen: endpoints of the business application (list, create, edit, delete),
//! the signing secret (shown once, on creation and rotation), Test (a `ping`), the delivery
//! log with redelivery, and "send existing mail since DATE".

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use super::by_id::ById;
use super::form::{Validation, parse_date, valid_id};
use super::layout::{Frame, Layout, Nav};
use super::page::html_page;
use super::session::{AppSession, FlashKind};
use super::state::WebState;
use super::views::{StatusView, TimeView};
use super::webhook_form::{WebhookForm, validate};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::webhooks::{self, Delivery, DeliveryFilter, Endpoint};
use crate::store::{Taken, UniqueViolationExt, accounts, now};
use crate::webhooks::health::{self, EndpointHealth, EndpointStatus, age};
use crate::webhooks::sender::{Answer, webhook_id};
use crate::webhooks::signature::new_secret;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/new", get(new_page))
        .route("/webhooks/{id}", get(show).post(update))
        .route("/webhooks/{id}/delete", get(confirm_delete).post(delete))
        .route("/webhooks/{id}/rotate-secret", post(rotate_secret))
        .route("/webhooks/{id}/test", post(test))
        .route("/webhooks/{id}/redeliver", post(redeliver_failed))
        .route(
            "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            post(redeliver_one),
        )
        .route("/webhooks/{id}/send-existing", post(send_existing))
}

/// Deliveries per page of the log.
const LOG_PAGE: i64 = 50;
/// A previous secret stays valid this long after a rotation.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 3600;

/// An endpoint as the list and its page show it.
pub struct EndpointView {
    pub id: String,
    pub description: String,
    pub url: String,
    pub accounts_label: String,
    pub payload: String,
    pub enabled: bool,
    pub status: &'static str,
    pub badge: StatusView,
    pub waiting: i64,
    pub oldest_waiting: Option<String>,
    pub dead: i64,
    pub delivered: i64,
    pub last_success: Option<TimeView>,
    pub failing_since: Option<TimeView>,
    pub paused_until: Option<TimeView>,
    pub previous_secret_until: Option<TimeView>,
}

impl EndpointView {
    fn new(e: &Endpoint, accounts: &[String], h: Option<&EndpointHealth>) -> Self {
        let status = h.map_or(EndpointStatus::Ok, |h| h.status);
        EndpointView {
            id: e.id.clone(),
            description: e.description.clone(),
            url: e.url.clone(),
            accounts_label: if e.all_accounts {
                "All accounts".into()
            } else {
                accounts.join(", ")
            },
            payload: e.payload.clone(),
            enabled: e.enabled,
            status: status.as_str(),
            badge: StatusView::plain(status.as_str(), status.label()),
            waiting: h.map_or(0, |h| h.waiting),
            oldest_waiting: h.and_then(|h| h.oldest_waiting_age_secs).map(age),
            dead: h.map_or(0, |h| h.dead),
            delivered: h.map_or(0, |h| h.delivered),
            last_success: e.last_success_at.map(TimeView::at),
            failing_since: e.failing_since.map(TimeView::at),
            paused_until: e.paused_until.filter(|t| *t > now()).map(TimeView::at),
            previous_secret_until: e
                .previous_secret_until
                .filter(|t| *t > now())
                .map(TimeView::at),
        }
    }
}

async fn endpoint_view(state: &AppState, e: &Endpoint) -> Result<EndpointView, AppError> {
    let accounts = webhooks::accounts_of(&state.db, &e.id).await?;
    let all = health::all(&state.db, state.webhooks.settings().failing_after).await?;
    Ok(EndpointView::new(
        e,
        &accounts,
        all.iter().find(|h| h.endpoint_id == e.id),
    ))
}

#[derive(Template)]
#[template(path = "webhooks/list.html")]
struct ListPage {
    layout: Layout,
    endpoints: Vec<EndpointView>,
}

async fn list(State(state): State<AppState>, frame: Frame) -> Result<Response, AppError> {
    let all = health::all(&state.db, state.webhooks.settings().failing_after).await?;
    let mut endpoints = Vec::new();
    for e in webhooks::list(&state.db).await? {
        let accounts = webhooks::accounts_of(&state.db, &e.id).await?;
        endpoints.push(EndpointView::new(
            &e,
            &accounts,
            all.iter().find(|h| h.endpoint_id == e.id),
        ));
    }
    let page = ListPage {
        layout: frame.layout(Nav::Webhooks).await?,
        endpoints,
    };
    Ok(page.into_response())
}

/// One attempt in the log.
pub struct AttemptView {
    pub at: TimeView,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    pub manual: bool,
}

/// One delivery in the log, with its attempts.
pub struct DeliveryView {
    pub id: i64,
    pub webhook_id: String,
    pub message_id: i64,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub created: TimeView,
    pub next_attempt: Option<TimeView>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub log: Vec<AttemptView>,
}

/// The answer to Test.
pub struct PingView {
    pub ok: bool,
    pub status_code: Option<u16>,
    pub duration_ms: u128,
    pub excerpt: Option<String>,
    pub error: Option<String>,
}

impl PingView {
    fn new(a: &Answer) -> Self {
        PingView {
            ok: a.is_success(),
            status_code: a.status,
            duration_ms: a.duration.as_millis(),
            excerpt: a.excerpt.clone(),
            error: a.error.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "webhooks/form.html")]
struct FormPage {
    layout: Layout,
    existing: Option<EndpointView>,
    form: WebhookForm,
    v: Validation,
    /// A secret just created or rotated: shown this once.
    new_secret: Option<String>,
    ping: Option<PingView>,
    deliveries: Vec<DeliveryView>,
    status_filter: String,
    /// The `before` of the next log page, if there is one.
    next_before: Option<i64>,
}

impl FormPage {
    fn action(&self) -> String {
        match &self.existing {
            Some(e) => format!("/webhooks/{}", e.id),
            None => "/webhooks".into(),
        }
    }
}

/// What a page of an endpoint shows besides the form.
#[derive(Default)]
struct Extras {
    new_secret: Option<String>,
    ping: Option<PingView>,
    log: DeliveryFilter,
}

async fn delivery_views(
    state: &AppState,
    e: &Endpoint,
    filter: &DeliveryFilter,
) -> Result<Vec<DeliveryView>, AppError> {
    let rows: Vec<Delivery> = webhooks::deliveries(&state.db, &e.id, filter).await?;
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let attempts = webhooks::attempts(&state.db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|d| DeliveryView {
            webhook_id: webhook_id(&e.uid, d.id),
            message_id: d.message_id,
            subject: d.subject.unwrap_or_default(),
            created: TimeView::at(d.created_at),
            next_attempt: matches!(d.status.as_str(), "pending" | "failed")
                .then(|| TimeView::at(d.next_attempt_at)),
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            attempts: d.attempts,
            log: attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(|a| AttemptView {
                    at: TimeView::at(a.attempted_at),
                    status_code: a.status_code,
                    duration_ms: a.duration_ms,
                    excerpt: a.response_excerpt.clone(),
                    error: a.error.clone(),
                    manual: a.trigger_kind == "manual",
                })
                .collect(),
            status: d.status,
            id: d.id,
        })
        .collect())
}

async fn form_page(
    state: &AppState,
    frame: &Frame,
    existing: Option<&Endpoint>,
    form: WebhookForm,
    v: Validation,
    extras: Extras,
) -> Result<FormPage, AppError> {
    let (existing_view, deliveries) = match existing {
        Some(e) => (
            Some(endpoint_view(state, e).await?),
            delivery_views(state, e, &extras.log).await?,
        ),
        None => (None, Vec::new()),
    };
    let next_before = (deliveries.len() as i64 == extras.log.limit)
        .then(|| deliveries.last().map(|d| d.id))
        .flatten();
    Ok(FormPage {
        layout: frame.layout(Nav::Webhooks).await?,
        existing: existing_view,
        form,
        v,
        new_secret: extras.new_secret,
        ping: extras.ping,
        deliveries,
        status_filter: extras.log.status.unwrap_or_default(),
        next_before,
    })
}

fn first_page() -> DeliveryFilter {
    DeliveryFilter {
        limit: LOG_PAGE,
        ..DeliveryFilter::default()
    }
}

async fn new_page(State(state): State<AppState>, frame: Frame) -> Result<Response, AppError> {
    let page = form_page(
        &state,
        &frame,
        None,
        WebhookForm::new_defaults(),
        Validation::default(),
        Extras::default(),
    )
    .await?;
    Ok(page.into_response())
}

/// Whether each listed account exists (one look-up each: endpoints list few accounts).
async fn existing_accounts(state: &AppState, form: &WebhookForm) -> Result<Vec<String>, AppError> {
    let mut known = Vec::new();
    for id in form
        .accounts
        .split([',', ' ', '\n', '\r', '\t'])
        .map(str::trim)
        .filter(|s| valid_id(s))
        .take(1000)
    {
        if accounts::get(&state.db, id).await?.is_some() {
            known.push(id.to_string());
        }
    }
    Ok(known)
}

async fn invalid(
    state: &AppState,
    frame: &Frame,
    existing: Option<&Endpoint>,
    form: WebhookForm,
    v: Validation,
) -> Result<Response, AppError> {
    let page = form_page(
        state,
        frame,
        existing,
        form,
        v,
        Extras {
            log: first_page(),
            ..Extras::default()
        },
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn create(
    State(state): State<AppState>,
    frame: Frame,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let form = WebhookForm::from_pairs(&pairs);
    let known = existing_accounts(&state, &form).await?;
    let settings = match validate(&form, None, &state.config.hosts, |a| {
        known.iter().any(|k| k == a)
    }) {
        Ok(s) => s,
        Err(v) => return invalid(&state, &frame, None, form, v).await,
    };
    let secret = new_secret();
    let blob = state
        .key
        .encrypt_str(&webhooks::secret_context(&settings.id), secret.expose());
    // Part of every webhook-id: random, so ids never repeat across endpoints or databases.
    let uid = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    if let Err(Taken) = webhooks::insert(&state.db, &settings, &uid, &blob)
        .await
        .on_unique_violation()?
    {
        let mut v = Validation::default();
        v.add(
            "id",
            format!(
                "A webhook endpoint with the id {} already exists.",
                settings.id
            ),
        );
        return invalid(&state, &frame, None, form, v).await;
    }
    tracing::info!(endpoint = %settings.id, by = %frame.user.username, "webhook endpoint created");
    let endpoint = webhooks::get(&state.db, &settings.id)
        .await?
        .ok_or(AppError::NotFound)?;
    secret_page(&state, &frame, &endpoint, &secret).await
}

/// The page of a saved endpoint as stored, with what else it shows this time.
async fn endpoint_page(
    state: &AppState,
    frame: &Frame,
    endpoint: &Endpoint,
    extras: Extras,
) -> Result<Response, AppError> {
    let accounts = webhooks::accounts_of(&state.db, &endpoint.id).await?;
    let page = form_page(
        state,
        frame,
        Some(endpoint),
        WebhookForm::from_endpoint(endpoint, &accounts),
        Validation::default(),
        extras,
    )
    .await?;
    Ok(page.into_response())
}

/// An endpoint's page with a secret just created or rotated, shown this once. Rendered, not
/// redirected: the secret must not pass through the session store.
async fn secret_page(
    state: &AppState,
    frame: &Frame,
    endpoint: &Endpoint,
    secret: &crate::crypto::Secret,
) -> Result<Response, AppError> {
    let extras = Extras {
        new_secret: Some(secret.expose().to_string()),
        log: first_page(),
        ..Extras::default()
    };
    endpoint_page(state, frame, endpoint, extras).await
}

/// `?status=` and `?before=` of the delivery log; anything odd is ignored.
fn log_filter(pairs: &[(String, String)]) -> DeliveryFilter {
    let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    DeliveryFilter {
        status: first("status")
            .filter(|s| matches!(*s, "pending" | "failed" | "delivered" | "dead"))
            .map(str::to_string),
        before: first("before").and_then(|b| b.parse().ok()),
        limit: LOG_PAGE,
    }
}

async fn show(
    State(state): State<AppState>,
    frame: Frame,
    ById(endpoint): ById<Endpoint>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let extras = Extras {
        log: log_filter(&pairs),
        ..Extras::default()
    };
    endpoint_page(&state, &frame, &endpoint, extras).await
}

async fn update(
    State(state): State<AppState>,
    frame: Frame,
    ById(endpoint): ById<Endpoint>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let mut form = WebhookForm::from_pairs(&pairs);
    form.id = endpoint.id.clone();
    let known = existing_accounts(&state, &form).await?;
    let settings = match validate(&form, Some(&endpoint.id), &state.config.hosts, |a| {
        known.iter().any(|k| k == a)
    }) {
        Ok(s) => s,
        Err(v) => return invalid(&state, &frame, Some(&endpoint), form, v).await,
    };
    webhooks::update(&state.db, &settings).await?;
    tracing::info!(endpoint = %endpoint.id, by = %frame.user.username, "webhook endpoint updated");
    frame
        .session
        .flash(FlashKind::Ok, "Webhook endpoint saved.")
        .await?;
    state.webhooks.wake();
    Ok(Redirect::to(&format!("/webhooks/{}", endpoint.id)).into_response())
}

#[derive(Template)]
#[template(path = "webhooks/delete.html")]
struct DeletePage {
    layout: Layout,
    endpoint: EndpointView,
}

async fn confirm_delete(
    State(state): State<AppState>,
    frame: Frame,
    ById(endpoint): ById<Endpoint>,
) -> Result<Response, AppError> {
    let page = DeletePage {
        layout: frame.layout(Nav::Webhooks).await?,
        endpoint: endpoint_view(&state, &endpoint).await?,
    };
    Ok(page.into_response())
}

async fn delete(
    State(state): State<AppState>,
    frame: Frame,
    ById(endpoint): ById<Endpoint>,
) -> Result<Response, AppError> {
    webhooks::delete(&state.db, &endpoint.id).await?;
    tracing::info!(endpoint = %endpoint.id, by = %frame.user.username, "webhook endpoint deleted");
    frame
        .session
        .flash(
            FlashKind::Ok,
            format!(
                "Webhook endpoint {} deleted with its delivery log. The imported mail is kept.",
                endpoint.id
            ),
        )
        .await?;
    Ok(Redirect::to("/webhooks").into_response())
}

async fn rotate_secret(
    State(state): State<AppState>,
    frame: Frame,
    ById(endpoint): ById<Endpoint>,
) -> Result<Response, AppError> {
    let secret = new_secret();
    let blob = state
        .key
        .encrypt_str(&webhooks::secret_context(&endpoint.id), secret.expose());
    webhooks::rotate_secret(
        &state.db,
        &endpoint.id,
        &blob,
        now() + ROTATION_OVERLAP_SECS,
    )
    .await?;
    tracing::info!(endpoint = %endpoint.id, by = %frame.user.username, "webhook signing secret rotated");
    // As stored now, with the new secret's overlap.
    let endpoint = webhooks::get(&state.db, &endpoint.id)
        .await?
        .ok_or(AppError::NotFound)?;
    secret_page(&state, &frame, &endpoint, &secret).await
}

async fn test(
    State(state): State<AppState>,
    frame: Frame,
    ById(endpoint): ById<Endpoint>,
) -> Result<Response, AppError> {
    let answer = state.webhooks.ping(&endpoint).await;
    tracing::info!(endpoint = %endpoint.id, status = ?answer.status, "webhook endpoint tested");
    let extras = Extras {
        ping: Some(PingView::new(&answer)),
        log: first_page(),
        ..Extras::default()
    };
    endpoint_page(&state, &frame, &endpoint, extras).await
}

async fn redeliver_failed(
    State(state): State<AppState>,
    session: AppSession,
    ById(endpoint): ById<Endpoint>,
) -> Result<Response, AppError> {
    let n = webhooks::redeliver_failed(&state.db, &endpoint.id).await?;
    state.webhooks.wake();
    let text = match n {
        0 => "No failed or dead deliveries to send again.".to_string(),
        1 => "1 delivery is sent again now.".to_string(),
        n => format!("{n} deliveries are sent again now."),
    };
    session.flash(FlashKind::Ok, text).await?;
    Ok(Redirect::to(&format!("/webhooks/{}", endpoint.id)).into_response())
}

async fn redeliver_one(
    State(state): State<AppState>,
    session: AppSession,
    ById(endpoint): ById<Endpoint>,
    Path((_, delivery_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let delivery_id: i64 = delivery_id.parse().map_err(|_| AppError::NotFound)?;
    if !webhooks::redeliver(&state.db, &endpoint.id, delivery_id).await? {
        return Err(AppError::NotFound);
    }
    state.webhooks.wake();
    session
        .flash(
            FlashKind::Ok,
            format!(
                "Delivery {} is sent again now, with the same webhook-id.",
                webhook_id(&endpoint.uid, delivery_id)
            ),
        )
        .await?;
    Ok(Redirect::to(&format!("/webhooks/{}", endpoint.id)).into_response())
}

async fn send_existing(
    State(state): State<AppState>,
    session: AppSession,
    ById(endpoint): ById<Endpoint>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let since = pairs
        .iter()
        .find(|(k, _)| k == "since")
        .and_then(|(_, v)| parse_date(v.trim()));
    let Some(since) = since else {
        session
            .flash(
                FlashKind::Error,
                "Enter the date (YYYY-MM-DD) from which to send the mail already imported.",
            )
            .await?;
        return Ok(Redirect::to(&format!("/webhooks/{}", endpoint.id)).into_response());
    };
    let n = webhooks::queue_existing_since(&state.db, &endpoint.id, since).await?;
    state.webhooks.wake();
    let text = if endpoint.enabled {
        format!(
            "{n} messages received since then are queued for this endpoint (mail it already had is skipped)."
        )
    } else {
        format!("{n} messages are queued; they are sent once the endpoint is enabled.")
    };
    session.flash(FlashKind::Ok, text).await?;
    Ok(Redirect::to(&format!("/webhooks/{}", endpoint.id)).into_response())
}

/// `GET /healthz`: `ok` (always 200 while the process serves), then a line for anything that
/// needs attention, such as failing webhook endpoints. Public, so counts only, no names.
pub async fn healthz(State(state): State<AppState>) -> String {
    match health::all(&state.db, state.webhooks.settings().failing_after).await {
        Ok(all) => match health::summary(&all) {
            Some(line) => format!("ok\n{line}\n"),
            None => "ok".into(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "health check could not read the webhook outbox");
            "ok\nwebhooks: unknown (the database did not answer)\n".into()
        }
    }
}

html_page!(ListPage, FormPage, DeletePage);
