//! Bytes out of an imported message: attachments, inline images and the raw `.eml`.
//! Everything here was written by the sender, so nothing is ever served with a type the
//! browser would render or run: attachments are always `application/octet-stream` and a
//! download, inline images only raster types under `default-src 'none'`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::messages::load_message;
use crate::error::AppError;
use crate::mime;
use crate::state::AppState;
use crate::store::messages::{self, Message};

/// `GET /mail/{id}/attachments/{n}`: attachment `n`, always as a download.
pub async fn attachment(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let message = load_message(&state, &id).await?;
    let idx: i64 = n.parse().map_err(|_| AppError::NotFound)?;
    let part = messages::attachment(&state.db, message.id, idx)
        .await?
        .ok_or(AppError::NotFound)?;
    let bytes = part_bytes(&state, &message, idx).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        content_disposition("attachment", &part.name),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok((headers, bytes).into_response())
}

/// `GET /mail/{id}/cid/{cid}`: an inline image that the message's HTML refers to.
pub async fn inline_image(
    State(state): State<AppState>,
    Path((id, cid)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let message = load_message(&state, &id).await?;
    let part = messages::attachment_by_content_id(&state.db, message.id, &cid)
        .await?
        .ok_or(AppError::NotFound)?;
    // SVG and anything else that can carry script is never served for display.
    let content_type = inline_image_type(&part.content_type).ok_or(AppError::NotFound)?;
    let bytes = part_bytes(&state, &message, part.idx).await?;
    // The declared type is the sender's word; the bytes must agree.
    if !looks_like(content_type, &bytes) {
        return Err(AppError::NotFound);
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    Ok((headers, bytes).into_response())
}

/// `GET /mail/{id}/raw`: the message exactly as it was imported.
pub async fn raw(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let message = load_message(&state, &id).await?;
    raw_response(&state, &message).await
}

/// The raw `.eml` of an imported message, streamed from the blob store.
pub async fn raw_response(state: &AppState, message: &Message) -> Result<Response, AppError> {
    let sha256 = stored_sha256(message)?;
    let (len, stream) = state.blobs.stream(sha256).await.map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "raw message {} ({sha256}) unreadable: {e}",
            message.id
        ))
    })?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        header::CONTENT_DISPOSITION,
        content_disposition("attachment", &format!("{}.eml", message.id)),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok((headers, Body::from_stream(stream)).into_response())
}

/// Too-large messages were never downloaded: there are no bytes to serve.
fn stored_sha256(message: &Message) -> Result<&str, AppError> {
    match (&message.state[..], &message.sha256) {
        ("imported", Some(sha)) => Ok(sha),
        _ => Err(AppError::NotFound),
    }
}

/// The bytes of part `idx`, parsed out of the raw message off the async threads.
async fn part_bytes(state: &AppState, message: &Message, idx: i64) -> Result<Vec<u8>, AppError> {
    let sha256 = stored_sha256(message)?;
    let raw = state.blobs.read(sha256).await.map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "raw message {} ({sha256}) unreadable: {e}",
            message.id
        ))
    })?;
    let index = usize::try_from(idx).map_err(|_| AppError::NotFound)?;
    let bytes = tokio::task::spawn_blocking(move || mime::attachment_bytes(&raw, index))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    bytes.ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!(
            "message {} has no part {idx} although the database lists it",
            message.id
        ))
    })
}

/// The raster image types shown inline, normalised; None for everything else (SVG above all).
pub fn inline_image_type(content_type: &str) -> Option<&'static str> {
    match content_type.trim().to_ascii_lowercase().as_str() {
        "image/png" => Some("image/png"),
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Some("image/jpeg"),
        "image/gif" => Some("image/gif"),
        "image/webp" => Some("image/webp"),
        _ => None,
    }
}

/// Whether the bytes start with the signature of `content_type`.
fn looks_like(content_type: &str, bytes: &[u8]) -> bool {
    match content_type {
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "image/webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        _ => false,
    }
}

/// `attachment; filename="…"; filename*=UTF-8''…`: an ASCII fallback without quotes,
/// backslashes, control characters or path separators, and the name encoded per
/// RFC 6266/8187 for browsers that read it, with format characters (Unicode Cf, such as
/// the right-to-left override) replaced by `_` in both.
pub fn content_disposition(kind: &str, name: &str) -> HeaderValue {
    // Bidi and other format characters (Unicode Cf) would make a name read as another one.
    let cleaned: String = crate::mime::clean::attachment_name(name)
        .chars()
        .map(|c| if matches!(c, '/' | '\\') { '_' } else { c })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.');
    let cleaned = if cleaned.is_empty() {
        "attachment"
    } else {
        cleaned
    };
    let ascii: String = cleaned
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ';' | '%') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in cleaned.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let value = format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_never_carries_quotes_or_line_breaks() {
        let v = content_disposition("attachment", "a\"b\r\nSet-Cookie: x=1;.pdf");
        let v = v.to_str().unwrap_or_default();
        assert_eq!(
            v,
            "attachment; filename=\"a_b  Set-Cookie: x=1_.pdf\"; filename*=UTF-8''a%22b%20%20Set-Cookie%3A%20x%3D1%3B.pdf"
        );
        let v = content_disposition("attachment", "../../Résumé.pdf");
        assert!(
            v.to_str()
                .unwrap_or_default()
                .contains("filename*=UTF-8''_.._R%C3%A9sum%C3%A9.pdf")
        );
        assert_eq!(
            content_disposition("attachment", "\r\n").to_str().ok(),
            Some("attachment; filename=\"attachment\"; filename*=UTF-8''attachment")
        );
    }

    #[test]
    fn format_characters_never_reach_the_file_name() {
        // "invoice" + RIGHT-TO-LEFT OVERRIDE + "fdp.exe" would show as "invoiceexe.pdf".
        for spoof in [
            "invoice\u{202E}fdp.exe",
            "a\u{2066}b\u{200F}.pdf",
            "x\u{FEFF}\u{200B}.txt",
        ] {
            let v = content_disposition("attachment", spoof);
            let v = v.to_str().unwrap_or_default();
            for bidi in [
                "%E2%80%AE",
                "%E2%81%A6",
                "%E2%80%8F",
                "%EF%BB%BF",
                "%E2%80%8B",
            ] {
                assert!(!v.contains(bidi), "{v}");
            }
        }
        assert_eq!(
            content_disposition("attachment", "invoice\u{202E}fdp.exe")
                .to_str()
                .ok(),
            Some("attachment; filename=\"invoice_fdp.exe\"; filename*=UTF-8''invoice_fdp.exe")
        );
    }

    #[test]
    fn only_raster_images_inline() {
        assert_eq!(inline_image_type("image/svg+xml"), None);
        assert_eq!(inline_image_type("text/html"), None);
        assert_eq!(inline_image_type("IMAGE/PNG"), Some("image/png"));
        assert!(looks_like("image/gif", b"GIF89a...."));
        assert!(!looks_like("image/png", b"<svg onload=alert(1)>"));
    }
}
