//! The JSON API described as an OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the types they return, served at
//! `/api/v1/openapi.json`. Because the document comes from the code, it cannot drift from it.
//!
//! A new endpoint is added by annotating its handler with `#[utoipa::path(…)]` and listing it
//! in [`ApiDoc`]'s `paths(…)` below. `tests/api/openapi.rs` fails when a route of
//! [`super::ROUTES`] under [`super::API_PREFIX`] is missing here, and validates real answers
//! of every documented endpoint against the document.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, api_messages};

/// The API's OpenAPI document (OpenAPI Specification 3.1, <https://spec.openapis.org/oas/v3.1.0>).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mailport API",
        description = "Read-only JSON API over Mailport's credentials, email server accounts and \
            imported mail. Authenticate with `Authorization: Bearer <API key>` (Settings > API \
            keys, or `mailport apikey create`) or a signed-in session. Errors are \
            `{\"error\":{\"code\",\"message\"}}`.",
    ),
    paths(
        openapi_json,
        api::list_credentials,
        api::get_credential,
        api::list_accounts,
        api::get_account,
        api_messages::list,
        api_messages::show,
        api_messages::raw,
    ),
    modifiers(&Authentication),
    security(("api_key" = []), ("session" = [])),
    tags(
        (name = "credentials", description = "OAuth2 credentials and the state of their tokens"),
        (name = "accounts", description = "Email server accounts and their latest import run"),
        (name = "messages", description = "Imported mail"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The two ways to call the API, as security schemes.
struct Authentication;

impl Modify for Authentication {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from Settings > API keys or `mailport apikey create`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::SESSION_COOKIE,
                "The session cookie of a signed-in administrator.",
            ))),
        );
    }
}

/// A raw message as OpenAPI 3.1 describes binary content: a string of a media type.
pub struct RawMessage;

impl utoipa::PartialSchema for RawMessage {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .content_media_type("message/rfc822")
            .into()
    }
}

impl utoipa::ToSchema for RawMessage {}

/// The document as JSON, built once.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| {
        format!("{{\"error\":\"the OpenAPI document cannot be written: {e}\"}}")
    })
});

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "get_openapi_document",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object),
        (status = 401, description = "No valid API key or session", body = super::api::ApiErrorBody),
    )
)]
pub async fn openapi_json() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_str(),
    )
        .into_response()
}
