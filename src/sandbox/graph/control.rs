//! Test controls of the Graph sandbox, as Rust methods on [`GraphState`] (in-process tests) and
//! as JSON endpoints under `/_sandbox/graph/...` (browser tests, the demo):
//!
//! - `GET  /mailboxes/{user}/folders` — folders with counts
//! - `POST /mailboxes/{user}/folders/{folder}/eml?isRead=&receivedDateTime=` — raw .eml body
//! - `POST /mailboxes/{user}/folders/{folder}/generate` — [`GenerateSpec`] JSON
//! - `GET  /mailboxes/{user}/folders/{folder}/messages` — ids, sizes, sha256
//! - `GET|PATCH /mailboxes/{user}/settings` — [`MailboxSettings`] (partial on PATCH)
//! - `POST /mailboxes` — [`BulkMailboxes`]: many users with mailboxes in one call
//! - `PATCH /mailboxes/settings` — a [`SettingsPatch`] for every mailbox, now and later
//! - `POST /mailboxes/{user}/expire-delta-tokens`
//! - `GET|POST|DELETE /faults` — the fault queue ([`FaultSpec`] or `{"faults":[...]}`)
//! - `GET|PUT|DELETE /storm` — random faults ([`StormSpec`])
//! - `GET|DELETE /log` — the request log (`?kind=delta&after=SEQ` narrows it)

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::GraphState;
use super::faults::{FaultSpec, StormSpec};
use super::mailbox::{Folder, MailboxSettings, StoredMessage};
use super::mime;
use super::render::graph_time;
use super::seed::{self, GenerateSpec};
use crate::sandbox::world::UserConfig;

/// Why a control call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    UnknownUser(String),
    UnknownFolder(String),
    BadRequest(String),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::UnknownUser(u) => write!(f, "unknown user '{u}'"),
            ControlError::UnknownFolder(x) => write!(f, "unknown folder '{x}'"),
            ControlError::BadRequest(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ControlError {}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::NOT_FOUND,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// One stored message as the controls describe it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageInfo {
    pub immutable_id: String,
    /// The current regular id (changes on move).
    pub regular_id: String,
    pub folder_id: String,
    pub folder_name: String,
    pub is_read: bool,
    pub subject: String,
    pub internet_message_id: String,
    pub received_date_time: String,
    /// Raw MIME size in bytes (what PR_MESSAGE_SIZE reports).
    pub size: usize,
    /// Hex sha256 of the raw MIME (what `$value` returns).
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FolderInfo {
    pub id: String,
    pub display_name: String,
    pub parent_folder_id: String,
    pub well_known_name: Option<String>,
    pub is_hidden: bool,
    pub child_folder_count: usize,
    pub total_item_count: usize,
    pub unread_item_count: usize,
}

/// Options for seeding one raw message.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedOptions {
    #[serde(default)]
    pub is_read: bool,
    /// RFC 3339; default: the Date header, else now.
    #[serde(default)]
    pub received_date_time: Option<String>,
    /// Store the message under this immutable id instead of a new one, so that a mailbox
    /// seeded again (a restarted `mailport demo`) holds the same message as before. It must
    /// look like an Exchange id and not be taken in the mailbox.
    #[serde(default)]
    pub immutable_id: Option<String>,
}

/// Partial update of [`MailboxSettings`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub access_policy_denies_apps: Option<bool>,
    pub enabled: Option<bool>,
    pub delay_ms: Option<u64>,
    pub latency_ms: Option<u64>,
    pub value_bytes_per_sec: Option<u64>,
    pub budget_requests: Option<u64>,
    pub budget_window_secs: Option<u64>,
}

/// `POST /_sandbox/graph/mailboxes`: users `{prefix}{n}@{domain}` (n zero-padded to five
/// digits, from `start`) with a mailbox each, in the tenant owning `domain`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkMailboxes {
    pub count: usize,
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Default: the first domain of the first tenant.
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default = "default_start")]
    pub start: usize,
    /// Applied to each new mailbox.
    #[serde(default)]
    pub settings: SettingsPatch,
}

fn default_prefix() -> String {
    "box".into()
}

fn default_start() -> usize {
    1
}

/// The most mailboxes one call creates.
pub const MAX_BULK_MAILBOXES: usize = 100_000;

fn apply_patch(settings: &mut MailboxSettings, patch: &SettingsPatch) {
    if let Some(v) = patch.access_policy_denies_apps {
        settings.access_policy_denies_apps = v;
    }
    if let Some(v) = patch.enabled {
        settings.enabled = v;
    }
    if let Some(v) = patch.delay_ms {
        settings.delay_ms = v;
    }
    if let Some(v) = patch.latency_ms {
        settings.latency_ms = v;
    }
    if let Some(v) = patch.value_bytes_per_sec {
        settings.value_bytes_per_sec = v;
    }
    if let Some(v) = patch.budget_requests {
        settings.budget_requests = v;
    }
    if let Some(v) = patch.budget_window_secs {
        // A day at most: longer windows mean nothing here and would overflow instants.
        settings.budget_window_secs = v.clamp(1, 86_400);
    }
}

fn info(m: &StoredMessage, folder: Option<&Folder>) -> MessageInfo {
    MessageInfo {
        immutable_id: m.immutable_id.clone(),
        regular_id: m.regular_id.clone(),
        folder_id: m.folder_id.clone(),
        folder_name: folder.map(|f| f.display_name.clone()).unwrap_or_default(),
        is_read: m.is_read,
        subject: m.meta.subject.clone(),
        internet_message_id: m.meta.internet_message_id.clone(),
        received_date_time: graph_time(m.received),
        size: m.raw.len(),
        sha256: m.meta.sha256.clone(),
    }
}

impl GraphState {
    /// A user of any tenant by object id, UPN or mail; the mailbox key (lowercase id).
    pub fn resolve_user(&self, key: &str) -> Result<String, ControlError> {
        let tenants: Vec<String> = {
            let world = self.world.lock();
            world.config.tenants.iter().map(|t| t.id.clone()).collect()
        };
        tenants
            .iter()
            .find_map(|t| self.world.find_user(t, key))
            .map(|u| u.id.to_lowercase())
            .ok_or_else(|| ControlError::UnknownUser(key.to_string()))
    }

    fn folder_id(&self, user_id: &str, folder: &str) -> Result<String, ControlError> {
        let mut inner = self.lock();
        inner
            .mailbox(user_id)
            .folder(folder)
            .map(|f| f.id.clone())
            .map_err(|_| ControlError::UnknownFolder(folder.to_string()))
    }

    fn store(
        &self,
        user_id: &str,
        folder_id: &str,
        items: Vec<(Bytes, mime::MessageMeta, OffsetDateTime, bool)>,
    ) -> Vec<MessageInfo> {
        let mut inner = self.lock();
        let mailbox = inner.mailbox(user_id);
        let folder = mailbox.folders.iter().find(|f| f.id == folder_id).cloned();
        items
            .into_iter()
            .map(|(raw, meta, received, is_read)| {
                let stored = mailbox.insert(folder_id, raw, meta, received, is_read, None);
                info(stored, folder.as_ref())
            })
            .collect()
    }

    /// A top-level folder by display name, created (like Outlook would) if missing.
    pub fn ensure_folder(
        &self,
        user: &str,
        display_name: &str,
    ) -> Result<FolderInfo, ControlError> {
        let user_id = self.resolve_user(user)?;
        {
            let mut inner = self.lock();
            let mailbox = inner.mailbox(&user_id);
            let root = mailbox.root_id.clone();
            let exists = mailbox
                .children(&root, true)
                .iter()
                .any(|f| f.display_name.eq_ignore_ascii_case(display_name));
            if !exists {
                mailbox.create_folder(&root, display_name, false);
            }
        }
        self.folders(user)?
            .into_iter()
            .find(|f| f.display_name.eq_ignore_ascii_case(display_name))
            .ok_or_else(|| ControlError::UnknownFolder(display_name.to_string()))
    }

    /// Stores one raw message (.eml bytes) in a folder (id or well-known name).
    pub fn seed_eml(
        &self,
        user: &str,
        folder: &str,
        raw: impl Into<Bytes>,
        options: &SeedOptions,
    ) -> Result<MessageInfo, ControlError> {
        let user_id = self.resolve_user(user)?;
        let folder_id = self.folder_id(&user_id, folder)?;
        let raw = raw.into();
        let meta = mime::parse(&raw);
        let received = match &options.received_date_time {
            Some(text) => OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|e| ControlError::BadRequest(format!("receivedDateTime: {e}")))?,
            None => meta.sent.unwrap_or_else(OffsetDateTime::now_utc),
        };
        let mut inner = self.lock();
        let mailbox = inner.mailbox(&user_id);
        if let Some(id) = &options.immutable_id {
            if !super::ids::is_well_formed(id) {
                return Err(ControlError::BadRequest(format!(
                    "immutableId '{id}' does not look like an Exchange id"
                )));
            }
            if mailbox.message(id).is_ok() {
                return Err(ControlError::BadRequest(format!(
                    "immutableId '{id}' is taken in this mailbox"
                )));
            }
        }
        let folder = mailbox.folders.iter().find(|f| f.id == folder_id).cloned();
        let stored = mailbox.insert(
            &folder_id,
            raw,
            meta,
            received,
            options.is_read,
            options.immutable_id.clone(),
        );
        Ok(info(stored, folder.as_ref()))
    }

    /// Generates and stores messages; returns them oldest first.
    pub fn seed_generated(
        &self,
        user: &str,
        folder: &str,
        spec: &GenerateSpec,
    ) -> Result<Vec<MessageInfo>, ControlError> {
        let user_id = self.resolve_user(user)?;
        let folder_id = self.folder_id(&user_id, folder)?;
        let generated = seed::generate(spec).map_err(ControlError::BadRequest)?;
        let items = generated
            .into_iter()
            .map(|g| {
                let meta = mime::parse(&g.raw);
                (Bytes::from(g.raw), meta, g.received, spec.is_read)
            })
            .collect();
        Ok(self.store(&user_id, &folder_id, items))
    }

    /// The messages of a folder, newest first.
    pub fn messages(&self, user: &str, folder: &str) -> Result<Vec<MessageInfo>, ControlError> {
        let user_id = self.resolve_user(user)?;
        let folder_id = self.folder_id(&user_id, folder)?;
        let mut inner = self.lock();
        let mailbox = inner.mailbox(&user_id);
        let folder = mailbox.folders.iter().find(|f| f.id == folder_id);
        let mut list: Vec<&StoredMessage> = mailbox.in_folder(&folder_id).collect();
        list.sort_by(|a, b| {
            b.received
                .cmp(&a.received)
                .then(a.immutable_id.cmp(&b.immutable_id))
        });
        Ok(list.into_iter().map(|m| info(m, folder)).collect())
    }

    /// Every folder of the mailbox, msgfolderroot first.
    pub fn folders(&self, user: &str) -> Result<Vec<FolderInfo>, ControlError> {
        let user_id = self.resolve_user(user)?;
        let mut inner = self.lock();
        let mailbox = inner.mailbox(&user_id);
        Ok(mailbox
            .folders
            .iter()
            .map(|f| {
                let (total, unread) = mailbox.counts(&f.id);
                FolderInfo {
                    id: f.id.clone(),
                    display_name: f.display_name.clone(),
                    parent_folder_id: f.parent_id.clone(),
                    well_known_name: f.well_known.map(str::to_string),
                    is_hidden: f.is_hidden,
                    child_folder_count: mailbox.child_count(&f.id),
                    total_item_count: total,
                    unread_item_count: unread,
                }
            })
            .collect())
    }

    pub fn mailbox_settings(&self, user: &str) -> Result<MailboxSettings, ControlError> {
        let user_id = self.resolve_user(user)?;
        Ok(self.lock().mailbox(&user_id).settings.clone())
    }

    pub fn update_mailbox_settings(
        &self,
        user: &str,
        patch: &SettingsPatch,
    ) -> Result<MailboxSettings, ControlError> {
        let user_id = self.resolve_user(user)?;
        let mut inner = self.lock();
        let settings = &mut inner.mailbox(&user_id).settings;
        apply_patch(settings, patch);
        Ok(settings.clone())
    }

    /// Applies a patch to every mailbox and to the settings new mailboxes start with.
    /// Returns how many mailboxes exist.
    pub fn update_all_mailbox_settings(&self, patch: &SettingsPatch) -> usize {
        let mut inner = self.lock();
        apply_patch(&mut inner.default_settings, patch);
        for mailbox in inner.mailboxes.values_mut() {
            apply_patch(&mut mailbox.settings, patch);
        }
        inner.mailboxes.len()
    }

    /// Creates users with mailboxes (see [`BulkMailboxes`]); returns their UPNs.
    pub fn create_mailboxes(&self, spec: &BulkMailboxes) -> Result<Vec<String>, ControlError> {
        if spec.count == 0 || spec.count > MAX_BULK_MAILBOXES {
            return Err(ControlError::BadRequest(format!(
                "count must be 1 to {MAX_BULK_MAILBOXES}"
            )));
        }
        if spec.prefix.is_empty()
            || !spec
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(ControlError::BadRequest(
                "prefix: letters, digits, '.', '-' and '_' only".into(),
            ));
        }
        let (tenant_id, domain) = {
            let world = self.world.lock();
            let tenant = match &spec.domain {
                Some(d) => world
                    .config
                    .tenants
                    .iter()
                    .find(|t| t.domains.iter().any(|x| x.eq_ignore_ascii_case(d))),
                None => world.config.tenants.iter().find(|t| !t.domains.is_empty()),
            }
            .ok_or_else(|| ControlError::BadRequest("no tenant has that domain".into()))?;
            let domain = spec
                .domain
                .clone()
                .unwrap_or_else(|| tenant.domains[0].clone());
            (tenant.id.clone(), domain)
        };
        let users: Vec<UserConfig> = (spec.start..spec.start + spec.count)
            .map(|n| {
                let upn = format!("{}{n:05}@{domain}", spec.prefix);
                UserConfig {
                    id: uuid::Uuid::new_v4().to_string(),
                    display_name: upn.clone(),
                    mail: Some(upn.clone()),
                    user_principal_name: upn,
                    password: crate::sandbox::world::DEMO_PASSWORD.to_string(),
                }
            })
            .collect();
        let ids: Vec<(String, String)> = users
            .iter()
            .map(|u| (u.id.to_lowercase(), u.user_principal_name.clone()))
            .collect();
        self.world
            .add_users(&tenant_id, users)
            .map_err(ControlError::BadRequest)?;
        let mut inner = self.lock();
        let mut upns = Vec::with_capacity(ids.len());
        for (id, upn) in ids {
            apply_patch(&mut inner.mailbox(&id).settings, &spec.settings);
            upns.push(upn);
        }
        Ok(upns)
    }

    /// Turns an application access policy excluding this mailbox on or off.
    pub fn set_access_policy(&self, user: &str, denies_apps: bool) -> Result<(), ControlError> {
        let patch = SettingsPatch {
            access_policy_denies_apps: Some(denies_apps),
            ..SettingsPatch::default()
        };
        self.update_mailbox_settings(user, &patch).map(drop)
    }

    /// false = MailboxNotEnabledForRESTAPI.
    pub fn set_mailbox_enabled(&self, user: &str, enabled: bool) -> Result<(), ControlError> {
        let patch = SettingsPatch {
            enabled: Some(enabled),
            ..SettingsPatch::default()
        };
        self.update_mailbox_settings(user, &patch).map(drop)
    }

    /// Every admitted request of the mailbox waits this long while holding its slot.
    pub fn set_delay_ms(&self, user: &str, delay_ms: u64) -> Result<(), ControlError> {
        let patch = SettingsPatch {
            delay_ms: Some(delay_ms),
            ..SettingsPatch::default()
        };
        self.update_mailbox_settings(user, &patch).map(drop)
    }

    pub fn expire_delta_tokens(&self, user: &str) -> Result<(), ControlError> {
        let user_id = self.resolve_user(user)?;
        self.expire_delta_tokens_of(&user_id);
        Ok(())
    }

    /// Queues faults; a `mailbox` given as UPN or mail is resolved to the user id first.
    pub fn push_faults(&self, specs: Vec<FaultSpec>) -> Result<usize, ControlError> {
        let mut resolved = Vec::with_capacity(specs.len());
        for mut spec in specs {
            if let Some(m) = &spec.mailbox {
                spec.mailbox = Some(self.resolve_user(m)?);
            }
            resolved.push(spec);
        }
        let mut inner = self.lock();
        inner.faults.queue.extend(resolved);
        Ok(inner.faults.queue.len())
    }

    pub fn pending_faults(&self) -> Vec<FaultSpec> {
        self.lock().faults.queue.iter().cloned().collect()
    }

    pub fn clear_faults(&self) {
        self.lock().faults.queue.clear();
    }

    /// Starts (Some) or stops (None) random faults.
    pub fn set_storm(&self, storm: Option<StormSpec>) {
        self.lock().faults.set_storm(storm);
    }
}

type Ctl<T> = Result<T, ControlError>;

async fn folders(
    State(s): State<GraphState>,
    Path(user): Path<String>,
) -> Ctl<Json<serde_json::Value>> {
    Ok(Json(json!({"folders": s.folders(&user)?})))
}

async fn seed_eml(
    State(s): State<GraphState>,
    Path((user, folder)): Path<(String, String)>,
    Query(options): Query<SeedOptions>,
    body: Bytes,
) -> Ctl<Response> {
    let stored = s.seed_eml(&user, &folder, body, &options)?;
    Ok((StatusCode::CREATED, Json(json!({"messages": [stored]}))).into_response())
}

async fn generate(
    State(s): State<GraphState>,
    Path((user, folder)): Path<(String, String)>,
    Json(spec): Json<GenerateSpec>,
) -> Ctl<Response> {
    // Generating is CPU work (hashing, base64) that can take a while for big messages.
    let stored = tokio::task::spawn_blocking(move || s.seed_generated(&user, &folder, &spec))
        .await
        .map_err(|e| ControlError::BadRequest(e.to_string()))??;
    Ok((StatusCode::CREATED, Json(json!({"messages": stored}))).into_response())
}

async fn messages(
    State(s): State<GraphState>,
    Path((user, folder)): Path<(String, String)>,
) -> Ctl<Json<serde_json::Value>> {
    Ok(Json(json!({"messages": s.messages(&user, &folder)?})))
}

async fn get_settings(
    State(s): State<GraphState>,
    Path(user): Path<String>,
) -> Ctl<Json<MailboxSettings>> {
    Ok(Json(s.mailbox_settings(&user)?))
}

async fn patch_settings(
    State(s): State<GraphState>,
    Path(user): Path<String>,
    Json(patch): Json<SettingsPatch>,
) -> Ctl<Json<MailboxSettings>> {
    Ok(Json(s.update_mailbox_settings(&user, &patch)?))
}

async fn create_mailboxes(
    State(s): State<GraphState>,
    Json(spec): Json<BulkMailboxes>,
) -> Ctl<Response> {
    let upns = s.create_mailboxes(&spec)?;
    let body = json!({"created": upns.len(), "first": upns.first(), "last": upns.last()});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn patch_all_settings(
    State(s): State<GraphState>,
    Json(patch): Json<SettingsPatch>,
) -> Json<serde_json::Value> {
    let mailboxes = s.update_all_mailbox_settings(&patch);
    Json(json!({"mailboxes": mailboxes}))
}

async fn expire(State(s): State<GraphState>, Path(user): Path<String>) -> Ctl<StatusCode> {
    s.expire_delta_tokens(&user)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FaultBody {
    Many { faults: Vec<FaultSpec> },
    One(FaultSpec),
}

async fn get_faults(State(s): State<GraphState>) -> Json<serde_json::Value> {
    Json(json!({"pending": s.pending_faults()}))
}

async fn post_faults(
    State(s): State<GraphState>,
    Json(body): Json<FaultBody>,
) -> Ctl<Json<serde_json::Value>> {
    let specs = match body {
        FaultBody::Many { faults } => faults,
        FaultBody::One(spec) => vec![spec],
    };
    s.push_faults(specs)?;
    Ok(Json(json!({"pending": s.pending_faults()})))
}

async fn delete_faults(State(s): State<GraphState>) -> StatusCode {
    s.clear_faults();
    StatusCode::NO_CONTENT
}

async fn get_storm(State(s): State<GraphState>) -> Json<serde_json::Value> {
    Json(json!({"storm": s.lock().faults.storm()}))
}

async fn put_storm(
    State(s): State<GraphState>,
    Json(spec): Json<StormSpec>,
) -> Json<serde_json::Value> {
    s.set_storm(Some(spec.clone()));
    Json(json!({"storm": spec}))
}

async fn delete_storm(State(s): State<GraphState>) -> StatusCode {
    s.set_storm(None);
    StatusCode::NO_CONTENT
}

/// `?kind=delta` keeps one kind of request, `?after=SEQ` only later entries.
#[derive(Deserialize)]
struct LogQuery {
    kind: Option<String>,
    after: Option<u64>,
}

async fn get_log(
    State(s): State<GraphState>,
    Query(q): Query<LogQuery>,
) -> Json<super::log::RequestLogSnapshot> {
    let mut log = s.request_log();
    if q.kind.is_some() || q.after.is_some() {
        log.entries.retain(|e| {
            q.after.is_none_or(|after| e.seq > after)
                && q.kind.as_ref().is_none_or(|k| e.kind.as_ref() == Some(k))
        });
    }
    Json(log)
}

async fn delete_log(State(s): State<GraphState>) -> StatusCode {
    s.reset_request_log();
    StatusCode::NO_CONTENT
}

/// Raw .eml uploads can be tens of megabytes.
const MAX_SEED_BODY: usize = 512 * 1024 * 1024;

pub fn router() -> Router<GraphState> {
    Router::new()
        .route("/mailboxes", post(create_mailboxes))
        .route(
            "/mailboxes/settings",
            axum::routing::patch(patch_all_settings),
        )
        .route("/mailboxes/{user}/folders", get(folders))
        .route("/mailboxes/{user}/folders/{folder}/eml", post(seed_eml))
        .route(
            "/mailboxes/{user}/folders/{folder}/generate",
            post(generate),
        )
        .route("/mailboxes/{user}/folders/{folder}/messages", get(messages))
        .route(
            "/mailboxes/{user}/settings",
            get(get_settings).patch(patch_settings),
        )
        .route("/mailboxes/{user}/expire-delta-tokens", post(expire))
        .route(
            "/faults",
            get(get_faults).post(post_faults).delete(delete_faults),
        )
        .route("/storm", get(get_storm).put(put_storm).delete(delete_storm))
        .route("/log", get(get_log).delete(delete_log))
        .layer(DefaultBodyLimit::max(MAX_SEED_BODY))
}
