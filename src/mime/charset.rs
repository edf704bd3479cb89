//! Bytes in a declared charset turned into text, as Outlook and Thunderbird do it.
//!
//! - Labels are resolved as the WHATWG Encoding Standard says, through `encoding_rs`:
//!   `gb2312` is read as GBK, `iso-8859-1` and `us-ascii` as windows-1252, `ks_c_5601-1987`
//!   as EUC-KR, and so on (<https://encoding.spec.whatwg.org/#names-and-labels>), plus a few
//!   aliases mail software writes that the standard does not list (`cp932`, `cp936`,
//!   `cp949`, `shift-jis`, ...).
//! - Two charsets the standard leaves out but Outlook still reads are decoded here: UTF-7
//!   (RFC 2152) and ISO-2022-KR (RFC 1557).
//! - An unknown label, or one that lies about the bytes, never drops text: valid UTF-8 is
//!   read as UTF-8, anything else as the fallback (windows-1252 unless the caller knows
//!   better).

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// What a charset label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// An encoding of the WHATWG Encoding Standard.
    Whatwg(&'static Encoding),
    /// UTF-7 (RFC 2152).
    Utf7,
    /// ISO-2022-KR (RFC 1557): 7-bit KS X 1001 behind shift-out and shift-in.
    Iso2022Kr,
    /// A label nobody defines, or one WHATWG maps to its "replacement" encoding (which
    /// would turn the whole text into one U+FFFD).
    Unknown,
}

impl Charset {
    /// Decoders that keep state between bytes (escape sequences, shifts, base64 runs): the
    /// bytes of two RFC 2047 encoded words in these must not simply be joined.
    pub fn is_stateful(self) -> bool {
        match self {
            Charset::Whatwg(e) => e == encoding_rs::ISO_2022_JP,
            Charset::Iso2022Kr => true,
            Charset::Utf7 | Charset::Unknown => false,
        }
    }
}

/// Mail aliases that the WHATWG standard does not list, and what Outlook reads them as.
const EXTRA_LABELS: &[(&str, &str)] = &[
    ("cp932", "shift_jis"),
    ("windows-932", "shift_jis"),
    ("shift-jis", "shift_jis"),
    ("x-ms-cp932", "shift_jis"),
    ("cp936", "gbk"),
    ("windows-936", "gbk"),
    ("ms936", "gbk"),
    ("cp949", "euc-kr"),
    ("windows-949", "euc-kr"),
    ("ks_c_5601", "euc-kr"),
    ("uhc", "euc-kr"),
    ("euc_kr", "euc-kr"),
    ("euc_jp", "euc-jp"),
    ("cp950", "big5"),
    ("windows-950", "big5"),
    ("iso-2022-jp-2", "iso-2022-jp"),
    ("iso-2022-jp-1", "iso-2022-jp"),
    ("cp50220", "iso-2022-jp"),
    ("cp50221", "iso-2022-jp"),
    ("cp50222", "iso-2022-jp"),
    ("cp20866", "koi8-r"),
    ("cp21866", "koi8-u"),
    ("cp28591", "iso-8859-1"),
    ("cp65001", "utf-8"),
];

/// Resolves a charset label (case-insensitive; quotes, surrounding space and an RFC 2231
/// `*language` suffix are ignored).
pub fn resolve(label: &str) -> Charset {
    let label = label.trim().trim_matches(['"', '\'']).trim();
    let label = label.split('*').next().unwrap_or(label).trim();
    let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(label));
    if is(&[
        "utf-7",
        "utf7",
        "unicode-1-1-utf-7",
        "csunicode11utf7",
        "x-unicode20utf7",
    ]) {
        return Charset::Utf7;
    }
    if is(&["iso-2022-kr", "csiso2022kr"]) {
        return Charset::Iso2022Kr;
    }
    // WHATWG labels are matched without regard to ASCII case.
    let known = Encoding::for_label_no_replacement(label.as_bytes()).or_else(|| {
        EXTRA_LABELS
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(label))
            .and_then(|(_, target)| Encoding::for_label_no_replacement(target.as_bytes()))
    });
    match known {
        Some(e) => Charset::Whatwg(e),
        None => Charset::Unknown,
    }
}

/// Labels that promise 7-bit text: 8-bit bytes under them mean the label lies.
fn promises_ascii(label: &str) -> bool {
    let l = label.trim().trim_matches('"').to_ascii_lowercase();
    matches!(
        l.as_str(),
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us" | "us" | "csascii"
    )
}

/// Decodes `bytes` declared as `label` (None: no charset given). `fallback` reads bytes
/// that are neither valid UTF-8 nor in a known charset. Never fails and never drops text:
/// at worst a byte becomes U+FFFD.
pub fn decode<'a>(
    label: Option<&str>,
    bytes: &'a [u8],
    fallback: &'static Encoding,
) -> Cow<'a, str> {
    let charset = label.map(resolve).unwrap_or(Charset::Unknown);
    match charset {
        Charset::Utf7 => Cow::Owned(utf7(bytes)),
        Charset::Iso2022Kr => Cow::Owned(iso_2022_kr(bytes)),
        Charset::Unknown => fallback_decode(bytes, fallback),
        Charset::Whatwg(e) if e == UTF_8 => utf8_or_fallback(bytes, fallback),
        Charset::Whatwg(e) if e == WINDOWS_1252 && label.is_some_and(promises_ascii) => {
            // "us-ascii" with 8-bit bytes: the sender's software wrote UTF-8 (most often)
            // or its local charset and labelled it wrongly.
            fallback_decode(bytes, WINDOWS_1252)
        }
        Charset::Whatwg(e) => decode_with(e, bytes),
    }
}

/// Decodes with a WHATWG encoding; when the bytes are not valid in it but are valid UTF-8,
/// the label lied and UTF-8 is used.
pub fn decode_with<'a>(e: &'static Encoding, bytes: &'a [u8]) -> Cow<'a, str> {
    if e.is_ascii_compatible() && bytes.is_ascii() {
        // ASCII bytes mean the same in every ASCII-compatible encoding.
        return Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default());
    }
    if e == UTF_8 {
        return utf8_or_fallback(bytes, WINDOWS_1252);
    }
    if matches!(e.name(), "UTF-16LE" | "UTF-16BE") {
        // A byte order mark outranks the label.
        return e.decode(bytes).0;
    }
    match e.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => text,
        None => match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => e.decode_without_bom_handling(bytes).0,
        },
    }
}

/// No usable label: UTF-8 if the bytes are valid UTF-8, else `fallback`.
pub fn fallback_decode<'a>(bytes: &'a [u8], fallback: &'static Encoding) -> Cow<'a, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) if fallback == UTF_8 => String::from_utf8_lossy(bytes),
        Err(_) => fallback.decode_without_bom_handling(bytes).0,
    }
}

/// Labelled UTF-8. Bytes that hold no valid multi-byte sequence at all were written in a
/// single-byte charset (`fallback`); otherwise only the broken sequences become U+FFFD.
fn utf8_or_fallback<'a>(bytes: &'a [u8], fallback: &'static Encoding) -> Cow<'a, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => {
            let has_utf8_sequence = bytes.utf8_chunks().any(|chunk| !chunk.valid().is_ascii());
            if has_utf8_sequence || fallback == UTF_8 {
                String::from_utf8_lossy(bytes)
            } else {
                fallback.decode_without_bom_handling(bytes).0
            }
        }
    }
}

/// The modified base64 alphabet of UTF-7 (RFC 2152 set B).
fn utf7_value(b: u8) -> Option<u32> {
    match b {
        b'A'..=b'Z' => Some(u32::from(b - b'A')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// UTF-7 (RFC 2152). A base64 run starts with `+` and ends at the first byte outside the
/// base64 alphabet; a `-` there is absorbed, any other byte is text and kept (dropping it
/// is the bug this replaces: "+IBM Rechnung" lost its space). `+-` is a literal `+`. A run
/// still open at the end of the input is flushed.
pub fn utf7(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut units: Vec<u16> = Vec::new();
    let mut in_run = false;
    let mut run_len = 0usize;
    let mut bits = 0u32;
    let mut nbits = 0u32;
    let flush = |units: &mut Vec<u16>, out: &mut String| {
        out.extend(
            char::decode_utf16(units.drain(..)).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)),
        );
    };
    for &b in bytes {
        if in_run {
            if let Some(v) = utf7_value(b) {
                run_len += 1;
                bits = (bits << 6) | v;
                nbits += 6;
                if nbits >= 16 {
                    nbits -= 16;
                    units.push((bits >> nbits) as u16);
                    bits &= (1 << nbits) - 1;
                }
                continue;
            }
            flush(&mut units, &mut out);
            in_run = false;
            bits = 0;
            nbits = 0;
            if b == b'-' {
                if run_len == 0 {
                    out.push('+');
                }
                continue;
            }
            if run_len == 0 {
                out.push('+');
            }
        } else if b == b'+' {
            in_run = true;
            run_len = 0;
            continue;
        }
        // Outside a run UTF-7 is 7-bit; a stray 8-bit byte is kept as its Latin-1 char.
        out.push(char::from(b));
    }
    if in_run {
        if run_len == 0 {
            out.push('+');
        }
        flush(&mut units, &mut out);
    }
    out
}

/// ISO-2022-KR (RFC 1557): after the `ESC $ ) C` designation, shift-out (0x0E) switches to
/// KS X 1001 in 7-bit form until shift-in (0x0F) or the end of the line. Those bytes with
/// the high bit set are EUC-KR, which `encoding_rs` decodes.
pub fn iso_2022_kr(bytes: &[u8]) -> String {
    const DESIGNATION: &[u8] = b"\x1b$)C";
    let mut euc = Vec::with_capacity(bytes.len());
    let mut shifted = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(DESIGNATION) {
            i += DESIGNATION.len();
            continue;
        }
        let b = bytes[i];
        match b {
            0x0E => shifted = true,
            0x0F => shifted = false,
            b'\r' | b'\n' => {
                shifted = false;
                euc.push(b);
            }
            0x21..=0x7E if shifted => euc.push(b | 0x80),
            _ => euc.push(b),
        }
        i += 1;
    }
    encoding_rs::EUC_KR
        .decode_without_bom_handling(&euc)
        .0
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(label: &str, bytes: &[u8]) -> String {
        decode(Some(label), bytes, WINDOWS_1252).into_owned()
    }

    #[test]
    fn labels_follow_whatwg() {
        assert_eq!(resolve("gb2312"), Charset::Whatwg(encoding_rs::GBK));
        assert_eq!(resolve("ISO-8859-1"), Charset::Whatwg(WINDOWS_1252));
        assert_eq!(resolve("us-ascii"), Charset::Whatwg(WINDOWS_1252));
        assert_eq!(
            resolve("\"ks_c_5601-1987\""),
            Charset::Whatwg(encoding_rs::EUC_KR)
        );
        assert_eq!(resolve("utf-8*en"), Charset::Whatwg(UTF_8));
        assert_eq!(resolve("cp932"), Charset::Whatwg(encoding_rs::SHIFT_JIS));
        assert_eq!(resolve("UTF-7"), Charset::Utf7);
        assert_eq!(resolve("hz-gb-2312"), Charset::Unknown);
        assert_eq!(resolve("x-made-up"), Charset::Unknown);
    }

    #[test]
    fn the_charsets_outlook_reads() {
        assert_eq!(
            dec(
                "shift_jis",
                b"\x83n\x83\x8D\x81[\x81E\x83\x8F\x81[\x83\x8B\x83h"
            ),
            "ハロー・ワールド"
        );
        assert_eq!(dec("euc-jp", b"\xa5\xcf\xa5\xed\xa1\xbc"), "ハロー");
        assert_eq!(dec("iso-2022-jp", b"\x1b$B%O%m!<\x1b(B"), "ハロー");
        assert_eq!(dec("big5", b"\xa7A\xa6n"), "你好");
        assert_eq!(dec("gb2312", b"\xc4\xe3\xba\xc3 \xa8\x43"), "你好 –");
        assert_eq!(dec("gb18030", b"\xc4\xe3\xba\xc3"), "你好");
        assert_eq!(dec("euc-kr", b"\xbe\xc8\xb3\xe7"), "안녕");
        assert_eq!(dec("koi8-r", b"\xf0\xd2\xc9\xd7\xc5\xd4"), "Привет");
        assert_eq!(dec("koi8-u", b"\xf0\xd2\xc9\xd7\xa6\xd4"), "Привіт");
        assert_eq!(dec("windows-1251", b"\xcf\xf0\xe8"), "При");
        assert_eq!(dec("iso-8859-2", b"\xb1"), "ą");
        assert_eq!(
            dec("iso-8859-1", b"\x93Fr\xfchling\x94 \x96 \x80"),
            "“Frühling” – €"
        );
        assert_eq!(dec("iso-2022-kr", b"\x1b$)C\x0e>H3g\x0f!"), "안녕!");
    }

    #[test]
    fn utf7_keeps_the_byte_that_ends_a_run() {
        assert_eq!(utf7(b"+IBM Rechnung"), "\u{2013} Rechnung");
        assert_eq!(
            utf7(b"Gr+APwA3w-e aus K+APY-ln +IBM Rechnung anbei. +ZYdO9g"),
            "Grüße aus Köln – Rechnung anbei. 文件"
        );
        assert_eq!(utf7(b"Hi Mom -+Jjo--!"), "Hi Mom -☺-!");
        assert_eq!(utf7(b"1 +- 1 = 2"), "1 + 1 = 2");
        assert_eq!(utf7(b"+ZeVnLIqe-"), "日本語");
        assert_eq!(utf7(b"+2D3eAA-"), "😀");
        assert_eq!(utf7(b"a+"), "a+");
        assert_eq!(utf7(b"+ x"), "+ x");
    }

    #[test]
    fn lying_and_unknown_labels_fall_back_without_losing_text() {
        // Unknown label: UTF-8 when valid, windows-1252 otherwise.
        assert_eq!(dec("x-unknown", "Grüße".as_bytes()), "Grüße");
        assert_eq!(dec("x-unknown", b"Gr\xfc\xdfe"), "Grüße");
        // us-ascii promises 7-bit: 8-bit UTF-8 under it is UTF-8.
        assert_eq!(dec("us-ascii", "Grüße".as_bytes()), "Grüße");
        assert_eq!(dec("us-ascii", b"Gr\xfc\xdfe"), "Grüße");
        // utf-8 over windows-1252 bytes.
        assert_eq!(dec("utf-8", b"Gr\xfc\xdfe \x80"), "Grüße €");
        // shift_jis label over UTF-8 bytes.
        assert_eq!(
            dec("shift_jis", "日本語のテキスト".as_bytes()),
            "日本語のテキスト"
        );
        // No label at all.
        assert_eq!(decode(None, b"caf\xe9", WINDOWS_1252), "café");
        assert_eq!(decode(None, b"\x83n", encoding_rs::SHIFT_JIS), "ハ");
    }
}
