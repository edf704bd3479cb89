//! Reading a raw RFC 5322 message: the fields Mailport stores and shows, and the
//! attachments, as Outlook would show them. Used by the importer (to fill the database)
//! and by the mail viewer (to serve attachment bytes from the stored raw message).
//!
//! `mail-parser` finds the MIME structure. What the bytes *say* is decided here:
//! - header text (RFC 2047 encoded words joined across words, RFC 2231 parameters, raw
//!   8-bit headers) in [`words`], charsets in [`charset`];
//! - text and file names cleaned of control and format characters in [`clean`];
//! - content wrapped in containers is unwrapped: TNEF `winmail.dat` ([`tnef`]), meeting
//!   requests that are only a calendar ([`calendar`]), forwarded messages named after
//!   their subject.

pub mod calendar;
pub mod charset;
pub mod clean;
pub mod tnef;
pub mod words;

use std::borrow::Cow;

use encoding_rs::Encoding;
use mail_parser::{
    Header, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use serde::{Deserialize, Serialize};

pub use calendar::CalendarSummary;

/// An e-mail address with its display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// What Mailport keeps of a message. Every text is free of control characters (bodies keep
/// tab, CR and LF) and one-line fields are trimmed.
#[derive(Debug, Clone, Default)]
pub struct ParsedMessage {
    pub subject: String,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Unix seconds of the Date header.
    pub date: Option<i64>,
    pub message_id: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// At most [`MAX_ATTACHMENTS`], in the order of the message.
    pub attachments: Vec<AttachmentInfo>,
    /// How many attachments the message has in all; more than `attachments.len()` when the
    /// list was cut at [`MAX_ATTACHMENTS`].
    pub attachment_count: usize,
    /// The first event of a calendar part (a meeting request), if any.
    pub calendar: Option<CalendarSummary>,
}

/// One attachment: a MIME part, a forwarded message, or a file inside `winmail.dat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// The sender's file name, cleaned ([`clean::attachment_name`]), or one derived from
    /// the part (`invite.ics`, `<subject>.eml`, `attachment-3.pdf`).
    pub name: String,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    /// Bytes of the attachment as it downloads.
    pub size: usize,
    pub content_id: Option<String>,
    pub is_inline: bool,
}

/// The version of what [`parse`] derives from a raw message. Stored with every message;
/// rows from an older version are derived again from their raw bytes (see
/// `import::rederive`). Raise it when a change to parsing changes stored results.
pub const PARSER_VERSION: i64 = 1;

/// Attachments listed at most per message (the raw message keeps all of them).
pub const MAX_ATTACHMENTS: usize = 1000;

/// Caps on what we keep in the database; the raw message keeps everything.
const MAX_BODY_CHARS: usize = 2_000_000;
const MAX_FIELD_CHARS: usize = 2_000;

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        // No more bytes than the cap allows characters.
        return s.to_string();
    }
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// A one-line field: cleaned, trimmed, clipped.
fn field(s: &str) -> String {
    let line = clean::line(s);
    if line.len() <= MAX_FIELD_CHARS {
        line
    } else {
        clip(&line, MAX_FIELD_CHARS)
    }
}

/// Parses a raw message. Never fails: unparseable input yields an empty message (the raw
/// bytes are still stored and downloadable).
pub fn parse(raw: &[u8]) -> ParsedMessage {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return ParsedMessage::default();
    };
    let fallback = header_fallback(&msg);
    let found = attachments(&msg, raw, fallback);
    let calendar = calendar_part(&msg, raw, fallback);
    let tnef_bodies = found.tnef_bodies;
    let mut text_body = text_body(&msg, raw, fallback);
    let mut html_body = html_body(&msg, raw, fallback);
    if text_body.is_none() && html_body.is_none() {
        // Nothing but a container: show what is inside it, as Outlook does.
        if let Some((text, html)) = tnef_bodies {
            text_body = text.map(Cow::Owned);
            html_body = html.map(Cow::Owned);
        } else if let Some(summary) = &calendar {
            text_body = Some(Cow::Owned(summary.to_text()));
        }
    }
    if text_body.is_none()
        && let Some(html) = &html_body
    {
        text_body = Some(Cow::Owned(mail_parser::decoders::html::html_to_text(html)));
    }
    let body = |b: Option<Cow<'_, str>>| b.map(|b| clip(&clean::body(&b), MAX_BODY_CHARS));
    let attachment_count = found.list.len();
    ParsedMessage {
        subject: subject_of(&msg, raw, fallback),
        from: addresses(&msg, raw, HeaderName::From, fallback)
            .into_iter()
            .next(),
        to: addresses(&msg, raw, HeaderName::To, fallback),
        cc: addresses(&msg, raw, HeaderName::Cc, fallback),
        date: msg.date().map(|d| d.to_timestamp()),
        message_id: msg.message_id().map(field),
        text_body: body(text_body),
        html_body: body(html_body),
        attachments: found
            .list
            .into_iter()
            .take(MAX_ATTACHMENTS)
            .map(|f| f.info)
            .collect(),
        attachment_count,
        calendar,
    }
}

/// The bytes of attachment `index` (in [`ParsedMessage::attachments`] order).
pub fn attachment_bytes(raw: &[u8], index: usize) -> Option<Vec<u8>> {
    let msg = MessageParser::default().parse(raw)?;
    let fallback = header_fallback(&msg);
    attachments(&msg, raw, fallback)
        .list
        .into_iter()
        .nth(index)
        .map(|f| f.bytes.into_owned())
}

/// Reads raw 8-bit header text that is not UTF-8. Outlook and Thunderbird use the
/// message's own charset for it; without a usable one, windows-1252.
fn header_fallback(msg: &Message<'_>) -> &'static Encoding {
    let declared = msg
        .parts
        .iter()
        .take(16)
        .filter_map(|p| p.content_type()?.attribute("charset"))
        .find_map(|label| match charset::resolve(label) {
            // windows-1252 is the default anyway (and what "us-ascii" parts resolve to).
            charset::Charset::Whatwg(e)
                if e.is_ascii_compatible()
                    && e != encoding_rs::UTF_8
                    && e != encoding_rs::WINDOWS_1252 =>
            {
                Some(e)
            }
            _ => None,
        });
    declared.unwrap_or(encoding_rs::WINDOWS_1252)
}

/// The raw value of the first header `name` among `headers`, from `buf`, the buffer their
/// offsets point into.
fn raw_value<'a>(buf: &'a [u8], headers: &[Header<'_>], name: &HeaderName<'_>) -> Option<&'a [u8]> {
    let h = headers.iter().find(|h| &h.name == name)?;
    buf.get(h.offset_start as usize..h.offset_end as usize)
}

/// The subject of a message whose root headers' offsets point into `buf`.
fn subject_of(msg: &Message<'_>, buf: &[u8], fallback: &'static Encoding) -> String {
    let headers = msg
        .parts
        .first()
        .map(|p| p.headers.as_slice())
        .unwrap_or_default();
    match raw_value(buf, headers, &HeaderName::Subject) {
        Some(raw) => field(&words::unstructured(raw, fallback)),
        None => field(msg.subject().unwrap_or("")),
    }
}

/// An address header, decoded as mail clients do (see [`words::structured`]).
fn addresses(
    msg: &Message<'_>,
    raw: &[u8],
    name: HeaderName<'static>,
    fallback: &'static Encoding,
) -> Vec<Mailbox> {
    let headers = msg
        .parts
        .first()
        .map(|p| p.headers.as_slice())
        .unwrap_or_default();
    let convert = |a: &mail_parser::Address<'_>| -> Vec<Mailbox> {
        a.iter()
            .take(500)
            .map(|m| Mailbox {
                name: m.name().map(field).filter(|n| !n.is_empty()),
                address: m.address().map(field).filter(|n| !n.is_empty()),
            })
            .filter(|m| m.name.is_some() || m.address.is_some())
            .collect()
    };
    match raw_value(raw, headers, &name) {
        Some(value) if words::needs_decoding(value) => {
            let mut normalised = words::structured(value, fallback);
            normalised.extend_from_slice(b"\r\n");
            match mail_parser::parsers::MessageStream::new(&normalised).parse_address() {
                HeaderValue::Address(a) => convert(&a),
                _ => Vec::new(),
            }
        }
        _ => headers
            .iter()
            .find(|h| h.name == name)
            .and_then(|h| h.value.as_address())
            .map(convert)
            .unwrap_or_default(),
    }
}

/// Whether a content type (lower case) is an iCalendar object.
fn is_calendar_type(content_type: &str) -> bool {
    matches!(
        content_type,
        "text/calendar" | "application/ics" | "text/x-vcalendar"
    )
}

/// Whether a part is an iCalendar object (without building its content type string).
fn is_calendar(part: &MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|ct| {
        let sub = ct.subtype().unwrap_or("");
        match ct.ctype() {
            t if t.eq_ignore_ascii_case("text") => {
                sub.eq_ignore_ascii_case("calendar") || sub.eq_ignore_ascii_case("x-vcalendar")
            }
            t if t.eq_ignore_ascii_case("application") => sub.eq_ignore_ascii_case("ics"),
            _ => false,
        }
    })
}

fn content_type_of(part: &MessagePart<'_>) -> String {
    let mut t = part
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "text/plain".into());
    t.make_ascii_lowercase();
    t
}

/// The octets of a part after its transfer encoding (base64, quoted-printable) is undone,
/// before any charset: what an attachment downloads as. mail-parser keeps those octets for
/// binary parts only; for text parts it keeps decoded text, so the part is decoded again as
/// an `application/octet-stream` part with the same transfer encoding.
fn transfer_decoded<'a>(buf: &'a [u8], part: &'a MessagePart<'a>) -> Cow<'a, [u8]> {
    match &part.body {
        PartType::Text(_) | PartType::Html(_) => {}
        _ => return Cow::Borrowed(part.contents()),
    }
    let body = buf
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    let cte = match part.encoding {
        mail_parser::Encoding::None => return Cow::Borrowed(body),
        mail_parser::Encoding::Base64 => "base64",
        mail_parser::Encoding::QuotedPrintable => "quoted-printable",
    };
    let mut single = format!(
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    .into_bytes();
    single.extend_from_slice(body);
    let decoded = MessageParser::default()
        .parse(&single)
        .and_then(|m| m.parts.into_iter().next())
        .map(|p| p.contents().to_vec());
    Cow::Owned(decoded.unwrap_or_else(|| body.to_vec()))
}

/// The text of a text part, decoded as [`charset::decode`] says. mail-parser's own decoding
/// is kept where it is the same (UTF-8 without errors; ASCII in an ASCII-compatible
/// charset), which is the common case and costs nothing more.
fn part_text<'a>(
    buf: &'a [u8],
    part: &'a MessagePart<'a>,
    fallback: &'static Encoding,
) -> Option<Cow<'a, str>> {
    let (PartType::Text(text) | PartType::Html(text)) = &part.body else {
        return None;
    };
    let label = part.content_type().and_then(|ct| ct.attribute("charset"));
    let resolved = label.map(charset::resolve);
    let same = match resolved {
        None => !text.contains('\u{FFFD}'),
        Some(charset::Charset::Whatwg(e)) if e == encoding_rs::UTF_8 => !text.contains('\u{FFFD}'),
        Some(charset::Charset::Whatwg(e)) => e.is_ascii_compatible() && text.is_ascii(),
        Some(_) => false,
    };
    if same {
        return Some(Cow::Borrowed(text.as_ref()));
    }
    let bytes = transfer_decoded(buf, part);
    Some(Cow::Owned(
        charset::decode(label, &bytes, fallback).into_owned(),
    ))
}

/// The plain-text body: the first text body part that is not a calendar.
fn text_body<'a>(
    msg: &'a Message<'a>,
    raw: &'a [u8],
    fallback: &'static Encoding,
) -> Option<Cow<'a, str>> {
    msg.text_body.iter().find_map(|&id| {
        let part = msg.parts.get(id as usize)?;
        if is_calendar(part) {
            return None;
        }
        let text = part_text(raw, part, fallback)?;
        Some(match &part.body {
            PartType::Html(_) => Cow::Owned(mail_parser::decoders::html::html_to_text(&text)),
            _ => text,
        })
    })
}

/// The HTML body: the first HTML body part (a text part is not turned into HTML).
fn html_body<'a>(
    msg: &'a Message<'a>,
    raw: &'a [u8],
    fallback: &'static Encoding,
) -> Option<Cow<'a, str>> {
    msg.html_body.iter().find_map(|&id| {
        let part = msg.parts.get(id as usize)?;
        match &part.body {
            PartType::Html(_) => part_text(raw, part, fallback),
            _ => None,
        }
    })
}

/// The summary of the message's first calendar part.
fn calendar_part(
    msg: &Message<'_>,
    raw: &[u8],
    fallback: &'static Encoding,
) -> Option<CalendarSummary> {
    msg.parts.iter().filter(|p| is_calendar(p)).find_map(|p| {
        let text = match part_text(raw, p, fallback) {
            Some(t) => t,
            None => charset::fallback_decode(p.contents(), fallback),
        };
        calendar::summarise(&text)
    })
}

/// An attachment and its bytes.
struct Found<'a> {
    info: AttachmentInfo,
    bytes: Cow<'a, [u8]>,
}

/// Every attachment of a message, and the bodies of a TNEF container in it.
struct Attachments<'a> {
    list: Vec<Found<'a>>,
    tnef_bodies: Option<(Option<String>, Option<String>)>,
}

/// Every attachment in message order: the parts mail-parser calls attachments, calendar
/// parts it took for a body, and the files inside `winmail.dat` (right after it). A
/// forwarded message is one attachment; its own attachments stay inside it.
fn attachments<'a>(
    msg: &'a Message<'a>,
    raw: &'a [u8],
    fallback: &'static Encoding,
) -> Attachments<'a> {
    let mut ids: Vec<u32> = msg.attachments.clone();
    for &id in msg.text_body.iter().chain(msg.html_body.iter()) {
        if msg.parts.get(id as usize).is_some_and(is_calendar) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let mut out = Attachments {
        list: Vec::new(),
        tnef_bodies: None,
    };
    for id in ids {
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        let content_type = content_type_of(part);
        let bytes: Cow<'a, [u8]> = match &part.body {
            PartType::Message(inner) => Cow::Borrowed(match part.encoding {
                // Parsed in place: its bytes are the span of the part in the raw message.
                mail_parser::Encoding::None => raw
                    .get(part.offset_body as usize..part.offset_end as usize)
                    .unwrap_or_default(),
                _ => inner.raw_message(),
            }),
            _ => transfer_decoded(raw, part),
        };
        let given = given_name(raw, part, fallback);
        let position = out.list.len() + 1;
        let name = match (&part.body, given) {
            (_, Some(n)) => n,
            (PartType::Message(inner), None) => {
                // Parsed in place, its header offsets point into the outer raw message;
                // decoded from base64 or quoted-printable, into its own bytes.
                let headers_in = match part.encoding {
                    mail_parser::Encoding::None => raw,
                    _ => inner.raw_message(),
                };
                let subject = subject_of(inner, headers_in, header_fallback(inner));
                clean::derived_file_name(&subject, "message", "eml")
            }
            (_, None) if is_calendar_type(&content_type) => "invite.ics".to_string(),
            (_, None) => format!("attachment-{position}.{}", extension_for(&content_type)),
        };
        let is_tnef = matches!(
            content_type.as_str(),
            "application/ms-tnef" | "application/vnd.ms-tnef"
        ) || name.eq_ignore_ascii_case("winmail.dat");
        let is_message = matches!(part.body, PartType::Message(_));
        let info = AttachmentInfo {
            name,
            content_type: if is_message {
                "message/rfc822".into()
            } else {
                clip(&content_type, 255)
            },
            size: bytes.len(),
            content_id: part.content_id().map(|c| {
                clip(
                    &clean::line(c.trim_matches(|ch| ch == '<' || ch == '>')),
                    255,
                )
            }),
            is_inline: !is_message && part.content_disposition().is_some_and(|d| d.is_inline()),
        };
        let tnef = if is_tnef { tnef_files(&bytes) } else { None };
        out.list.push(Found { info, bytes });
        if let Some((files, bodies)) = tnef {
            for file in files {
                let position = out.list.len() + 1;
                out.list.push(file.into_found(position));
            }
            out.tnef_bodies.get_or_insert(bodies);
        }
    }
    out
}

/// The files and bodies inside a TNEF attachment, with bytes copied out (the container's
/// bytes may be owned by the caller's list).
type TnefContent = (Vec<TnefEntry>, (Option<String>, Option<String>));

/// A file from `winmail.dat`.
struct TnefEntry {
    name: Option<String>,
    content_type: Option<String>,
    content_id: Option<String>,
    data: Vec<u8>,
}

impl TnefEntry {
    fn into_found<'a>(self, position: usize) -> Found<'a> {
        let name = self
            .name
            .as_deref()
            .map(clean::attachment_name)
            .filter(|n| !n.is_empty());
        let content_type = self
            .content_type
            .map(|t| t.trim().to_ascii_lowercase())
            .or_else(|| {
                name.as_deref()
                    .and_then(|n| mime_guess::from_path(n).first_raw().map(str::to_string))
            })
            .unwrap_or_else(|| "application/octet-stream".into());
        let name = name
            .unwrap_or_else(|| format!("attachment-{position}.{}", extension_for(&content_type)));
        Found {
            info: AttachmentInfo {
                name: clip(&name, 255),
                content_type: clip(&content_type, 255),
                size: self.data.len(),
                content_id: self.content_id.map(|c| clip(&clean::line(&c), 255)),
                is_inline: false,
            },
            bytes: Cow::Owned(self.data),
        }
    }
}

fn tnef_files(bytes: &[u8]) -> Option<TnefContent> {
    let t = tnef::read(bytes)?;
    let files = t
        .files
        .into_iter()
        .map(|f| TnefEntry {
            name: f.name,
            content_type: f.content_type,
            content_id: f.content_id,
            data: f.data.to_vec(),
        })
        .collect();
    Some((files, (t.body_text, t.body_html)))
}

/// The file name the sender gave a part: Content-Disposition `filename`, else Content-Type
/// `name`, decoded as mail clients do, cleaned.
fn given_name(raw: &[u8], part: &MessagePart<'_>, fallback: &'static Encoding) -> Option<String> {
    let from = |header: HeaderName<'static>, param: &str| {
        raw_value(raw, &part.headers, &header).and_then(|v| words::parameter(v, param, fallback))
    };
    let name = from(HeaderName::ContentDisposition, "filename")
        .or_else(|| from(HeaderName::ContentType, "name"))?;
    let name = clip(&clean::attachment_name(&name), 255);
    (!name.is_empty()).then_some(name)
}

/// The usual file extension of a content type (`pdf` for `application/pdf`); `bin` when
/// there is none.
fn extension_for(content_type: &str) -> &'static str {
    const COMMON: &[(&str, &str)] = &[
        ("text/plain", "txt"),
        ("text/html", "html"),
        ("text/csv", "csv"),
        ("text/calendar", "ics"),
        ("text/xml", "xml"),
        ("text/rfc822-headers", "txt"),
        ("message/rfc822", "eml"),
        ("message/delivery-status", "txt"),
        ("message/disposition-notification", "txt"),
        ("application/pdf", "pdf"),
        ("application/zip", "zip"),
        ("application/json", "json"),
        ("application/xml", "xml"),
        ("application/msword", "doc"),
        ("application/vnd.ms-excel", "xls"),
        ("application/vnd.ms-powerpoint", "ppt"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "docx",
        ),
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        (
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "pptx",
        ),
        ("application/vnd.ms-outlook", "msg"),
        ("application/ms-tnef", "dat"),
        ("application/vnd.ms-tnef", "dat"),
        ("application/pkcs7-signature", "p7s"),
        ("application/x-pkcs7-signature", "p7s"),
        ("application/pkcs7-mime", "p7m"),
        ("application/x-pkcs7-mime", "p7m"),
        ("application/ics", "ics"),
        ("application/octet-stream", "bin"),
        ("image/jpeg", "jpg"),
        ("image/png", "png"),
        ("image/gif", "gif"),
        ("image/webp", "webp"),
        ("image/tiff", "tif"),
        ("image/bmp", "bmp"),
        ("image/svg+xml", "svg"),
        ("audio/mpeg", "mp3"),
        ("video/mp4", "mp4"),
    ];
    COMMON
        .iter()
        .find(|(t, _)| *t == content_type)
        .map(|(_, e)| *e)
        .or_else(|| {
            mime_guess::get_mime_extensions_str(content_type).and_then(|e| e.first().copied())
        })
        .unwrap_or("bin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_attachments() {
        let raw = b"From: \"Adele\" <adele@contoso.com>\r\nTo: a@x.com, b@x.com\r\nSubject: =?utf-8?q?H=C3=A9llo?=\r\nMessage-ID: <m1@x>\r\nDate: Tue, 1 Sep 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf; name=r.pdf\r\nContent-Disposition: attachment; filename=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n";
        let p = parse(raw);
        assert_eq!(p.subject, "H\u{e9}llo");
        assert_eq!(
            p.from.unwrap().address.as_deref(),
            Some("adele@contoso.com")
        );
        assert_eq!(p.to.len(), 2);
        assert_eq!(p.message_id.as_deref(), Some("m1@x"));
        assert_eq!(p.attachments.len(), 1);
        assert_eq!(p.attachments[0].name, "r.pdf");
        assert_eq!(p.attachments[0].content_type, "application/pdf");
        assert_eq!(attachment_bytes(raw, 0).unwrap(), vec![0, 1, 2]);
        assert!(parse(b"\x00\xff garbage").attachments.is_empty());
    }

    #[test]
    fn display_names_join_split_words_and_fall_back_for_raw_bytes() {
        let raw = b"From: =?UTF-8?B?5bGx?= =?UTF-8?B?55Sw?= =?UTF-8?B?IOWkqumDjg==?= <t@x>\r\nTo: =?utf-8?Q?Doe=2C_John?= <j@x>, \"M\xfcller, Eva\" <e@x>\r\nSubject: x\r\n\r\nbody\r\n";
        let p = parse(raw);
        assert_eq!(p.from.and_then(|f| f.name).as_deref(), Some("山田 太郎"));
        let names: Vec<_> =
            p.to.iter()
                .map(|m| m.name.clone().unwrap_or_default())
                .collect();
        assert_eq!(names, ["Doe, John", "Müller, Eva"]);
    }

    #[test]
    fn text_attachments_download_with_their_own_bytes() {
        let raw = b"Subject: csv\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee csv\r\n--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=l.csv\r\nContent-Transfer-Encoding: base64\r\n\r\nTfxsbGVyOzEK\r\n--b--\r\n";
        let p = parse(raw);
        assert_eq!(p.attachments[0].size, 9);
        assert_eq!(
            attachment_bytes(raw, 0).as_deref(),
            Some(&b"M\xfcller;1\n"[..])
        );
    }
}
