//! Header text as mail clients show it: RFC 2047 encoded words, RFC 2231 parameter values,
//! and raw 8-bit bytes that no standard allows but many mailers send.
//!
//! Adjacent encoded words in one charset are joined before decoding, because senders split
//! them anywhere, even inside a character (a UTF-8 or GBK character cut in two otherwise
//! shows as two U+FFFD). The exception is the stateful ISO-2022 family: each word there
//! starts and ends with its own escape sequences, and a WHATWG decoder turns two escape
//! sequences in a row (the seam of two joined words) into U+FFFD, so those words are decoded
//! one by one.

use std::borrow::Cow;

use base64::Engine;
use encoding_rs::Encoding;

use super::charset::{self, Charset};

/// One encoded word: its charset label and its decoded octets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word<'a> {
    charset: &'a str,
    bytes: Vec<u8>,
    /// Where the word ends in the input.
    end: usize,
}

/// base64 as encoded words carry it: padding optional, stray bits ignored.
const LENIENT_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Reads an encoded word `=?charset?B|Q?text?=` starting at `start` (which holds `=?`).
fn word_at(input: &[u8], start: usize) -> Option<Word<'_>> {
    let rest = input.get(start + 2..)?;
    let q1 = rest.iter().position(|&b| b == b'?')?;
    let charset = std::str::from_utf8(&rest[..q1]).ok()?;
    if charset.is_empty()
        || charset.len() > 64
        || !charset.bytes().all(|b| b.is_ascii_graphic() && b != b'?')
    {
        return None;
    }
    let encoding = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let text_len = rest[text_start..].windows(2).position(|w| w == b"?=")?;
    let text = &rest[text_start..text_start + text_len];
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        return None;
    }
    let bytes = match encoding {
        b'B' | b'b' => {
            let compact: Vec<u8> = text
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            LENIENT_BASE64.decode(compact).ok()?
        }
        b'Q' | b'q' => q_decode(text),
        _ => return None,
    };
    Some(Word {
        charset,
        bytes,
        end: start + 2 + text_start + text_len + 2,
    })
}

/// The Q encoding of RFC 2047 §4.2: `_` is a space, `=XX` a byte.
fn q_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                out.push(b'=');
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Decodes a run of adjacent encoded words (the whitespace between them already dropped).
fn decode_run(words: &[Word<'_>], fallback: &'static Encoding) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < words.len() {
        let charset = charset::resolve(words[i].charset);
        let mut joined = words[i].bytes.clone();
        let mut j = i + 1;
        if !charset.is_stateful() {
            while j < words.len() && charset::resolve(words[j].charset) == charset {
                joined.extend_from_slice(&words[j].bytes);
                j += 1;
            }
        }
        out.push_str(&charset::decode(Some(words[i].charset), &joined, fallback));
        i = j;
    }
    out
}

/// A piece of a header value: raw text, or the decoded text of a run of encoded words.
enum Piece<'a> {
    Text(&'a [u8]),
    Words(String),
}

/// Splits a header value into raw text and runs of encoded words, in order.
fn scan<'a>(input: &'a [u8], fallback: &'static Encoding, mut each: impl FnMut(Piece<'a>)) {
    let mut i = 0;
    let mut text_start = 0;
    while i + 1 < input.len() {
        if !(input[i] == b'=' && input[i + 1] == b'?') {
            i += 1;
            continue;
        }
        let Some(first) = word_at(input, i) else {
            i += 2;
            continue;
        };
        each(Piece::Text(&input[text_start..i]));
        let mut end = first.end;
        let mut run = vec![first];
        // Further words separated from this one by whitespace only belong to the run.
        loop {
            let mut k = end;
            while k < input.len() && matches!(input[k], b' ' | b'\t' | b'\r' | b'\n') {
                k += 1;
            }
            match input.get(k..k + 2) {
                Some(b"=?") => match word_at(input, k) {
                    Some(next) => {
                        end = next.end;
                        run.push(next);
                    }
                    None => break,
                },
                _ => break,
            }
        }
        each(Piece::Words(decode_run(&run, fallback)));
        i = end;
        text_start = end;
    }
    each(Piece::Text(&input[text_start.min(input.len())..]));
}

/// Removes folding (CR and LF; the whitespace after them stays, as RFC 5322 §2.2.3 says).
fn unfold(raw: &[u8]) -> Cow<'_, [u8]> {
    if raw.iter().any(|&b| b == b'\r' || b == b'\n') {
        Cow::Owned(
            raw.iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    }
}

/// An unstructured header (Subject, Content-Description, a quoted file name): unfolded,
/// encoded words decoded, raw 8-bit text read as UTF-8 or else as `fallback`.
pub fn unstructured(raw: &[u8], fallback: &'static Encoding) -> String {
    let raw = unfold(raw);
    let mut out = String::with_capacity(raw.len());
    scan(&raw, fallback, |piece| match piece {
        Piece::Text(text) => out.push_str(&charset::fallback_decode(text, fallback)),
        Piece::Words(words) => out.push_str(&words),
    });
    out
}

/// Whether a raw header value needs [`unstructured`] or [`structured`] at all (mail-parser
/// reads plain UTF-8 without encoded words correctly).
pub fn needs_decoding(raw: &[u8]) -> bool {
    raw.windows(2).any(|w| w == b"=?") || std::str::from_utf8(raw).is_err()
}

/// A structured header (From, To, Cc) rewritten so that mail-parser's address parser reads
/// it right: every run of encoded words becomes one UTF-8 encoded word holding its decoded
/// text, and raw 8-bit text becomes UTF-8 (from `fallback` when it is not UTF-8 already).
/// The structure (quotes, commas, angle brackets) is untouched, because decoded text never
/// appears in it unencoded.
pub fn structured(raw: &[u8], fallback: &'static Encoding) -> Vec<u8> {
    let raw = unfold(raw);
    let mut out = Vec::with_capacity(raw.len() + 16);
    scan(&raw, fallback, |piece| match piece {
        Piece::Text(text) => {
            out.extend_from_slice(charset::fallback_decode(text, fallback).as_bytes());
        }
        Piece::Words(words) => {
            out.extend_from_slice(b"=?utf-8?B?");
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(words)
                    .as_bytes(),
            );
            out.extend_from_slice(b"?=");
        }
    });
    out
}

/// One `attribute=value` of a Content-Type or Content-Disposition header.
struct Param<'a> {
    /// Lower-case attribute name without the RFC 2231 section and `*` markers.
    name: String,
    /// The RFC 2231 section number (`name*2`), if any.
    section: Option<u32>,
    /// `name*` or `name*N*`: the value is percent-encoded, maybe with `charset'lang'`.
    extended: bool,
    value: Cow<'a, [u8]>,
}

/// Splits `type; a=b; c="d;e"` into its parameters (the first element, the type or
/// disposition itself, is skipped).
fn params(raw: &[u8]) -> Vec<Param<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    let len = raw.len();
    // Skip the type.
    while i < len && raw[i] != b';' {
        if raw[i] == b'"' {
            i = skip_quoted(raw, i);
        } else {
            i += 1;
        }
    }
    while i < len && out.len() < 256 {
        // raw[i] is ';'
        i += 1;
        while i < len && raw[i].is_ascii_whitespace() {
            i += 1;
        }
        let name_start = i;
        while i < len && !matches!(raw[i], b'=' | b';') {
            i += 1;
        }
        let attribute = String::from_utf8_lossy(&raw[name_start..i])
            .trim()
            .to_ascii_lowercase();
        if i >= len || raw[i] == b';' {
            continue;
        }
        i += 1; // '='
        while i < len && matches!(raw[i], b' ' | b'\t') {
            i += 1;
        }
        let value: Cow<'_, [u8]> = if i < len && raw[i] == b'"' {
            let end = skip_quoted(raw, i);
            let inner = &raw[i + 1..end.saturating_sub(1).max(i + 1)];
            i = end;
            unescape_quoted(inner)
        } else {
            let start = i;
            while i < len && raw[i] != b';' {
                i += 1;
            }
            Cow::Borrowed(trim_ascii(&raw[start..i]))
        };
        while i < len && raw[i] != b';' {
            i += 1;
        }
        let (base, extended) = match attribute.strip_suffix('*') {
            Some(b) => (b, true),
            None => (attribute.as_str(), false),
        };
        let (name, section) = match base.rsplit_once('*') {
            Some((n, s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                (n.to_string(), s.parse().ok())
            }
            _ => (base.to_string(), None),
        };
        out.push(Param {
            name,
            section,
            extended,
            value,
        });
    }
    out
}

/// The index just past the quoted string that starts at `start` (a `"`).
fn skip_quoted(raw: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < raw.len() {
        match raw[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    raw.len()
}

fn unescape_quoted(inner: &[u8]) -> Cow<'_, [u8]> {
    if !inner.contains(&b'\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut it = inner.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            if let Some(&next) = it.next() {
                out.push(next);
            }
        } else {
            out.push(b);
        }
    }
    Cow::Owned(out)
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// `%XX` decoding of RFC 2231 values; a malformed escape stays as it is.
fn percent_decode(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%'
            && let Some(byte) = value
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(value[i]);
        i += 1;
    }
    out
}

/// The value of parameter `name` of a raw Content-Type or Content-Disposition header value,
/// decoded:
/// - RFC 2231 sections (`name*0*`, `name*1`, ...) are put together as octets first and then
///   decoded with the charset of the first section, so a character split between sections
///   survives;
/// - `name*=charset'lang'...` as RFC 2231 says;
/// - a plain `name="..."` may hold RFC 2047 encoded words (Outlook writes them) or raw 8-bit
///   text, read as UTF-8 or else as `fallback`.
///
/// An extended value wins over a plain one, as RFC 2231 §4 recommends.
pub fn parameter(raw_header: &[u8], name: &str, fallback: &'static Encoding) -> Option<String> {
    let raw = unfold(raw_header);
    let all = params(&raw);
    let mine: Vec<&Param<'_>> = all.iter().filter(|p| p.name == name).collect();
    let mut sections: Vec<&Param<'_>> = mine
        .iter()
        .copied()
        .filter(|p| p.section.is_some())
        .collect();
    if !sections.is_empty() {
        sections.sort_by_key(|p| p.section);
        sections.dedup_by_key(|p| p.section);
        let mut label: Option<String> = None;
        let mut octets = Vec::new();
        for (n, p) in sections.iter().enumerate() {
            if p.extended {
                let mut value: &[u8] = &p.value;
                if n == 0 {
                    let (cs, rest) = split_charset(value);
                    label = cs;
                    value = rest;
                }
                octets.extend(percent_decode(value));
            } else {
                octets.extend_from_slice(&p.value);
            }
        }
        return Some(decode_param(label.as_deref(), &octets, fallback));
    }
    if let Some(p) = mine.iter().find(|p| p.extended) {
        let (label, rest) = split_charset(&p.value);
        return Some(decode_param(
            label.as_deref(),
            &percent_decode(rest),
            fallback,
        ));
    }
    mine.first().map(|p| unstructured(&p.value, fallback))
}

/// `charset'language'rest` of an RFC 2231 value.
fn split_charset(value: &[u8]) -> (Option<String>, &[u8]) {
    let mut parts = value.splitn(3, |&b| b == b'\'');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(cs), Some(_lang), Some(rest)) => {
            let cs = String::from_utf8_lossy(cs).trim().to_string();
            ((!cs.is_empty()).then_some(cs), rest)
        }
        _ => (None, value),
    }
}

fn decode_param(label: Option<&str>, octets: &[u8], fallback: &'static Encoding) -> String {
    match label {
        Some(l) if charset::resolve(l) != Charset::Unknown => {
            charset::decode(Some(l), octets, fallback).into_owned()
        }
        _ => charset::fallback_decode(octets, fallback).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::WINDOWS_1252;

    fn text(raw: &str) -> String {
        unstructured(raw.as_bytes(), WINDOWS_1252)
    }

    #[test]
    fn adjacent_words_join_their_bytes() {
        // "日本" split inside the second character over two words.
        let split = "=?UTF-8?B?5pel5pw=?= =?UTF-8?B?rA==?=";
        assert_eq!(text(split), "日本");
        // Folded between the words, and mixed with text.
        assert_eq!(
            text("Re: =?utf-8?Q?Gr=C3?=\r\n =?utf-8?Q?=BC=C3=9Fe?= aus"),
            "Re: Grüße aus"
        );
        // GBK split inside a character.
        assert_eq!(text("=?gb2312?B?xA==?= =?gb2312?B?4w==?="), "你");
    }

    #[test]
    fn iso_2022_jp_words_are_decoded_one_by_one() {
        let raw = "=?ISO-2022-JP?B?GyRCIVpLST9lRkM9OCFbGyhC?=\r\n =?ISO-2022-JP?B?GyRCQmZJdyRkOWsxKyRLGyhC?=\r\n =?ISO-2022-JP?B?GyRCSHckKCRrPiZJSiROGyhC?=\r\n =?ISO-2022-JP?B?GyRCJDQwRkZiGyhC?=";
        let s = text(raw);
        assert_eq!(s, "【防水特集】台風や豪雨に備える商品のご案内");
        assert!(!s.contains('\u{FFFD}'));
    }

    #[test]
    fn whitespace_next_to_text_stays_and_bad_words_are_text() {
        assert_eq!(text("a =?utf-8?q?b?= c"), "a b c");
        assert_eq!(
            text("=?utf-8?x?abc?= and =?bogus"),
            "=?utf-8?x?abc?= and =?bogus"
        );
        assert_eq!(text("=?unknown-cs?Q?caf=E9?="), "café");
        assert_eq!(text("=?utf-7?Q?Gr+APwA3w-e?="), "Grüße");
        assert_eq!(unstructured(b"Gr\xfc\xdfe", WINDOWS_1252), "Grüße");
        assert_eq!(unstructured(b"\x83n", encoding_rs::SHIFT_JIS), "ハ");
    }

    #[test]
    fn structured_values_keep_their_structure() {
        let out = structured(
            b"=?utf-8?Q?Doe=2C_John?= <j@x>, \"=?utf-8?B?5bGx?= =?utf-8?B?55Sw?=\" <y@x>",
            WINDOWS_1252,
        );
        let s = String::from_utf8(out).unwrap_or_default();
        assert!(s.ends_with("<y@x>"), "{s}");
        assert!(!s.contains("Doe, John"), "{s}");
    }

    #[test]
    fn rfc2231_sections_join_octets_before_decoding() {
        let p = |raw: &str| parameter(raw.as_bytes(), "filename", WINDOWS_1252);
        assert_eq!(
            p(
                "attachment;\r\n filename*0*=utf-8''Angebot%20M%C3%BCller%20;\r\n filename*1=\"Stand Juli.pdf\""
            ),
            Some("Angebot Müller Stand Juli.pdf".into())
        );
        // A character split between sections.
        assert_eq!(
            p("attachment; filename*0*=utf-8''%E6%97; filename*1*=%A5.txt"),
            Some("日.txt".into())
        );
        assert_eq!(
            p("attachment; filename*=iso-2022-jp''%1B%24B%46%7C%1B%28B.txt"),
            Some("日.txt".into())
        );
        assert_eq!(
            p("attachment; filename*0*=utf-8''A10090110721%2Epdf"),
            Some("A10090110721.pdf".into())
        );
        assert_eq!(
            p("attachment; filename=\"=?utf-8?B?5pel5pys?=.pdf\""),
            Some("日本.pdf".into())
        );
        assert_eq!(
            p("attachment; filename=\"a \\\"b\\\";c.txt\"; size=3"),
            Some("a \"b\";c.txt".into())
        );
        assert_eq!(
            p("attachment; filename=plain.txt"),
            Some("plain.txt".into())
        );
        assert_eq!(p("attachment"), None);
        assert_eq!(
            parameter(
                b"application/pdf; name=\"r\xe9sum\xe9.pdf\"",
                "name",
                WINDOWS_1252
            ),
            Some("résumé.pdf".into())
        );
        // The extended form wins.
        assert_eq!(
            p("attachment; filename=\"fallback.txt\"; filename*=utf-8''real.txt"),
            Some("real.txt".into())
        );
    }
}
