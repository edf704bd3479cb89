//! `GET/POST /users/{u}/mailFolders`, `GET .../mailFolders/{id}` and `.../childFolders`.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::GraphState;
use super::errors::GraphError;
use super::mailbox::{Folder, Lookup};
use super::odata::{self, Literal, Query};
use super::render::{self, FOLDER_ITEM, FOLDER_LIST};
use super::request::{Kind, Params, RequestCtx};

/// Graph's default page size for folder listings.
const DEFAULT_PAGE: usize = 10;

pub fn lookup_error(e: Lookup) -> GraphError {
    match e {
        Lookup::Malformed => GraphError::id_malformed(),
        Lookup::NotFound => GraphError::item_not_found(),
    }
}

fn folder_matches(folder: &Folder, query: &Query) -> bool {
    query.filter.iter().all(|clause| match &clause.value {
        // Exchange compares folder names case-insensitively.
        Literal::Text(name) => clause
            .op
            .holds(&folder.display_name.to_lowercase(), &name.to_lowercase()),
        _ => false,
    })
}

async fn list(
    state: GraphState,
    ctx: RequestCtx,
    headers: HeaderMap,
    params: Params,
    raw: Option<String>,
    parent: Option<&str>,
) -> Result<Response, GraphError> {
    let call = state
        .begin(&ctx, &headers, &params.0, Kind::Folders)
        .await?;
    let query = odata::parse(raw.as_deref(), &FOLDER_LIST)?;
    let include_hidden = query
        .custom("includeHiddenFolders")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let top = query.top.unwrap_or(DEFAULT_PAGE);
    let mut inner = state.lock();
    let mailbox = inner.mailbox(&call.user_id);
    let parent_id = match parent {
        None => mailbox.root_id.clone(),
        Some(key) => mailbox.folder(key).map_err(lookup_error)?.id.clone(),
    };
    let matching: Vec<&Folder> = mailbox
        .children(&parent_id, include_hidden)
        .into_iter()
        .filter(|f| folder_matches(f, &query))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(query.skip)
        .take(top)
        .map(|f| render::folder(mailbox, f, query.select.as_deref()))
        .collect();
    let segment = match parent {
        None => "mailFolders".to_string(),
        Some(key) => format!("mailFolders('{key}')/childFolders"),
    };
    let context = format!("{}/{segment}", params.context_user(&call.user_id));
    let body = odata::collection_page(
        &ctx,
        raw.as_deref(),
        &context,
        &query,
        matching.len(),
        top,
        page,
    );
    Ok(Json(body).into_response())
}

pub async fn list_top(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    list(state, ctx, headers, params, raw, None).await
}

pub async fn list_children(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let folder = params.get("folder").to_string();
    list(state, ctx, headers, params, raw, Some(&folder)).await
}

pub async fn get_one(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let call = state
        .begin(&ctx, &headers, &params.0, Kind::Folders)
        .await?;
    let query = odata::parse(raw.as_deref(), &FOLDER_ITEM)?;
    let mut inner = state.lock();
    let mailbox = inner.mailbox(&call.user_id);
    let folder = mailbox.folder(params.get("folder")).map_err(lookup_error)?;
    let mut body = render::folder(mailbox, folder, query.select.as_deref());
    body["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#{}/mailFolders/$entity",
        ctx.base_url,
        params.context_user(&call.user_id)
    ));
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewFolder {
    display_name: Option<String>,
    #[serde(default)]
    is_hidden: bool,
}

/// Parses a JSON request body the way Graph complains about it.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, GraphError> {
    if body.is_empty() {
        return Err(GraphError::bad_request(
            "Empty Payload. JSON content expected.",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| GraphError::bad_request(format!("Invalid JSON in request body: {e}")))
}

async fn create(
    state: GraphState,
    ctx: RequestCtx,
    headers: HeaderMap,
    params: Params,
    body: Bytes,
    parent: Option<&str>,
) -> Result<Response, GraphError> {
    let call = state
        .begin(&ctx, &headers, &params.0, Kind::CreateFolder)
        .await?;
    let new: NewFolder = json_body(&body)?;
    let name = new.display_name.unwrap_or_default();
    if name.trim().is_empty() {
        return Err(GraphError::invalid_request("Empty Folder Name"));
    }
    let mut inner = state.lock();
    let mailbox = inner.mailbox(&call.user_id);
    let parent_id = match parent {
        None => mailbox.root_id.clone(),
        Some(key) => mailbox.folder(key).map_err(lookup_error)?.id.clone(),
    };
    let folder = mailbox
        .create_folder(&parent_id, &name, new.is_hidden)
        .ok_or_else(GraphError::folder_exists)?;
    let mut body = render::folder(mailbox, &folder, None);
    body["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#{}/mailFolders/$entity",
        ctx.base_url,
        params.context_user(&call.user_id)
    ));
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn create_top(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
    body: Bytes,
) -> Result<Response, GraphError> {
    create(state, ctx, headers, params, body, None).await
}

pub async fn create_child(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
    body: Bytes,
) -> Result<Response, GraphError> {
    let folder = params.get("folder").to_string();
    create(state, ctx, headers, params, body, Some(&folder)).await
}
