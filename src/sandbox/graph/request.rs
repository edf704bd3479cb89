//! Per-request plumbing for `/v1.0`: request ids, the error body, `Preference-Applied`, and the
//! request log (including when a streamed body really finished).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::GraphState;
use super::errors::{GraphError, PendingError};

/// What a request does, for the request log and for targeting faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Folders,
    CreateFolder,
    List,
    Get,
    Delta,
    Value,
    Patch,
    Move,
    Delete,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Folders => "folders",
            Kind::CreateFolder => "create_folder",
            Kind::List => "list",
            Kind::Get => "get",
            Kind::Delta => "delta",
            Kind::Value => "value",
            Kind::Patch => "patch",
            Kind::Move => "move",
            Kind::Delete => "delete",
        }
    }

    /// Whether Mail.Read is enough.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Kind::Folders | Kind::List | Kind::Get | Kind::Delta | Kind::Value
        )
    }
}

/// What the handler learned that the log wants: which mailbox, what kind, which fault.
#[derive(Debug, Clone, Default)]
pub struct Tag {
    pub mailbox: Option<String>,
    pub kind: Option<Kind>,
    pub fault: Option<String>,
}

/// Put in the request extensions by [`middleware`].
#[derive(Clone)]
pub struct RequestCtx {
    /// `http://host:port`, for absolute nextLinks on the host the client used.
    pub base_url: String,
    /// The request path (for links back to the same resource).
    pub path: String,
    pub immutable_ids: bool,
    /// `Prefer: odata.maxpagesize=N`.
    pub max_page_size: Option<usize>,
    tag: Arc<Mutex<Tag>>,
}

impl RequestCtx {
    pub fn tag(&self, f: impl FnOnce(&mut Tag)) {
        f(&mut self.tag.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The preferences of a `Prefer` header (possibly repeated, comma-separated).
fn preferences(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect()
}

pub async fn middleware(State(state): State<GraphState>, mut req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let prefs = preferences(req.headers());
    let immutable_ids = prefs
        .iter()
        .any(|(k, v)| k == "idtype" && v.eq_ignore_ascii_case("ImmutableId"));
    let max_page_size = prefs
        .iter()
        .find(|(k, _)| k == "odata.maxpagesize")
        .and_then(|(_, v)| v.parse().ok());
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let uri: Uri = req.uri().clone();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let handle = state.log_begin(
        req.method().as_str(),
        uri.path(),
        uri.query().unwrap_or(""),
        user_agent,
    );
    let tag = Arc::new(Mutex::new(Tag::default()));
    req.extensions_mut().insert(RequestCtx {
        base_url: format!("http://{host}"),
        path: uri.path().to_string(),
        immutable_ids,
        max_page_size,
        tag: tag.clone(),
    });

    let mut response = next.run(req).await;
    // axum's own 405 has no body; Graph answers with its usual error object.
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && response.extensions().get::<PendingError>().is_none()
    {
        response.extensions_mut().insert(PendingError {
            code: "BadRequest",
            message: "Specified HTTP method is not allowed for the request target.".into(),
        });
    }

    if let Some(pending) = response.extensions_mut().remove::<PendingError>() {
        let body = json!({"error": {
            "code": pending.code,
            "message": pending.message,
            "innerError": {
                "date": super::render::graph_time(time::OffsetDateTime::now_utc()).trim_end_matches('Z'),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        }});
        let (mut parts, _) = response.into_parts();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(body.to_string()));
    }
    let status = response.status();
    let headers = response.headers_mut();
    for (name, value) in [
        ("request-id", &request_id),
        ("client-request-id", &client_request_id),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    if immutable_ids && status.is_success() {
        let applied = match headers
            .get("preference-applied")
            .and_then(|v| v.to_str().ok())
        {
            Some(other) => format!("{other}, IdType=\"ImmutableId\""),
            None => "IdType=\"ImmutableId\"".to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&applied) {
            headers.insert("preference-applied", value);
        }
    }
    let tag = tag.lock().unwrap_or_else(|e| e.into_inner()).clone();
    state.log_status(&handle, status.as_u16(), &tag);

    // Re-wrap the body so the log sees when it was really finished (or dropped); keep the
    // length known so that hyper still sends Content-Length instead of chunking.
    let (mut parts, body) = response.into_parts();
    if let Some(len) = body.size_hint().exact()
        && status != StatusCode::NO_CONTENT
        && status != StatusCode::NOT_MODIFIED
    {
        parts
            .headers
            .entry(header::CONTENT_LENGTH)
            .or_insert(len.into());
    }
    let finish = log::FinishOnDrop::new(state.clone(), handle);
    let stream = body.into_data_stream().map(move |chunk| {
        let _keep_alive = &finish;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

use super::log;

/// Graph's answer to a path it has no resource for.
pub async fn unknown_segment(uri: Uri) -> Response {
    let segment = uri
        .path()
        .trim_start_matches("/v1.0/")
        .split('/')
        .next_back()
        .unwrap_or_default()
        .to_string();
    GraphError::unsupported_segment(&segment).into_response()
}

/// The path parameters of a mailbox route: `user` is absent under `/me`.
pub fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or_default()
}

/// The path parameters of a mailbox route (`user`, `folder`, `message`); empty under `/me`.
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = GraphError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        use axum::extract::Path;
        use axum::extract::rejection::PathRejection;
        match Path::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Path(map)) => Ok(Params(map)),
            Err(PathRejection::MissingPathParams(_)) => Ok(Params(HashMap::new())),
            Err(_) => Err(GraphError::bad_request("Invalid request path.")),
        }
    }
}

impl Params {
    pub fn get(&self, name: &str) -> &str {
        param(&self.0, name)
    }

    /// How the response's `@odata.context` names the mailbox.
    pub fn context_user(&self, user_id: &str) -> String {
        format!(
            "users('{}')",
            self.0.get("user").map(String::as_str).unwrap_or(user_id)
        )
    }
}
