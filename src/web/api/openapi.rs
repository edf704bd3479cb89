//! The JSON API described as an OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the types they return, served at
//! `/api/v1/openapi.json`. Because the document comes from the code, it cannot drift from it.
//!
//! A new endpoint is added by annotating its handler with `#[utoipa::path(…)]` and listing it
//! in [`ApiDoc`]'s `paths(…)` below. `tests/api/openapi/` fails when a route of
//! [`crate::web::ROUTES`] under [`crate::web::API_PREFIX`] is missing here, and validates real answers
//! of every documented endpoint against the document.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{accounts, credentials, messages, webhooks};

/// The API's OpenAPI document (OpenAPI Specification 3.1, <https://spec.openapis.org/oas/v3.1.0>).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mailport API",
        description = "JSON API over Mailport's credentials, email server accounts, imported \
            mail, webhook endpoints and the changes feed. Authenticate with \
            `Authorization: Bearer <API key>` (Settings > API keys, or `mailport apikey create`) \
            or a signed-in session (which sends its CSRF token as `X-CSRF-Token` on writes). \
            Writes need a key with the `admin` scope. Errors are \
            `{\"error\":{\"code\",\"message\"}}`; a 422 adds `fields`.",
    ),
    paths(
        openapi_json,
        credentials::list_credentials,
        credentials::get_credential,
        accounts::list,
        accounts::create,
        accounts::bulk_enable,
        accounts::show,
        accounts::replace,
        accounts::change,
        accounts::remove,
        messages::list,
        messages::show,
        messages::raw,
        webhooks::attachment,
        webhooks::list,
        webhooks::show,
        webhooks::deliveries,
        webhooks::redeliver_failed,
        webhooks::redeliver_one,
        webhooks::feed,
    ),
    modifiers(&Authentication, &Throttled),
    security(("api_key" = []), ("session" = [])),
    tags(
        (name = "credentials", description = "OAuth2 credentials and the state of their tokens"),
        (name = "accounts", description = "Email server accounts, their polling and their latest import run"),
        (name = "messages", description = "Imported mail"),
        (name = "webhooks", description = "Webhook endpoints and their deliveries (read-only)"),
        (name = "events", description = "The changes feed: imported mail as events to pull"),
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
                crate::web::session::SESSION_COOKIE,
                "The session cookie of a signed-in administrator.",
            ))),
        );
    }
}

/// The 429 every operation can answer: an address that sent too many wrong API keys is
/// refused (with `Retry-After`, in seconds) before any key is looked up
/// (`caller::require_api_auth`), whatever the route.
struct Throttled;

impl Modify for Throttled {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, header::HeaderBuilder};
        let response = ResponseBuilder::new()
            .description(
                "Too many requests with a wrong API key from this address; try again after \
                 Retry-After seconds",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::Type::Integer)
                            .minimum(Some(0)),
                    ))
                    .description(Some(
                        "Seconds until the address may try again (RFC 9110 §10.2.3).",
                    ))
                    .build(),
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .entry("429".into())
                    .or_insert_with(|| response.clone().into());
            }
        }
    }
}

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
        (status = 401, description = "No valid API key or session", body = super::error::ApiErrorBody),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::api::error::ErrorCode;

    /// The codes are part of the API: programs branch on them, so they never change.
    #[test]
    fn the_document_names_every_error_code_the_api_answers() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).expect("the document is JSON");
        let codes = [
            (ErrorCode::Unauthorized, "unauthorized"),
            (ErrorCode::Forbidden, "forbidden"),
            (ErrorCode::NotFound, "not_found"),
            (ErrorCode::BadRequest, "bad_request"),
            (ErrorCode::Conflict, "conflict"),
            (ErrorCode::TooManyRequests, "too_many_requests"),
            (ErrorCode::InternalError, "internal_error"),
        ];
        for (code, text) in codes {
            assert_eq!(serde_json::to_value(code).expect("a code"), text);
        }
        let listed = &doc["components"]["schemas"]["ErrorCode"]["enum"];
        assert_eq!(
            listed,
            &serde_json::json!(codes.map(|(_, text)| text)),
            "the document lists the codes"
        );
        assert_eq!(
            doc["components"]["schemas"]["ApiErrorDetail"]["properties"]["code"]["$ref"],
            "#/components/schemas/ErrorCode"
        );
    }
}
