//! Binary answers of the JSON API (a raw message, an attachment) as OpenAPI 3.1 describes
//! them: a string of a media type.

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

/// A file download (an attachment's decoded bytes), as OpenAPI 3.1 describes binary content.
pub struct Download;

impl utoipa::PartialSchema for Download {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .content_media_type("application/octet-stream")
            .into()
    }
}

impl utoipa::ToSchema for Download {}
