//! Text from a message made fit to store and show: no control characters (a NUL in a
//! subject reached the page's HTML), no whitespace left over from folding, and attachment
//! names that cannot pretend to be something else (Unicode format characters such as the
//! right-to-left override make `invoice\u{202E}fdp.exe` look like `invoiceexe.pdf`).

use std::borrow::Cow;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// A one-line field (subject, display name): tab, CR and LF become spaces, every other
/// control character (C0, DEL, C1) is removed, and the ends are trimmed.
pub fn line(s: &str) -> String {
    if !may_hold_controls(s.as_bytes()) && !s.contains(['\t', '\r', '\n']) {
        return s.trim().to_string();
    }
    let kept: String = s
        .chars()
        .filter_map(|c| match c {
            '\t' | '\r' | '\n' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    kept.trim().to_string()
}

/// A body: control characters other than tab, CR and LF are removed.
pub fn body(s: &str) -> Cow<'_, str> {
    let unwanted = |c: char| c.is_control() && !matches!(c, '\t' | '\r' | '\n');
    if !may_hold_controls(s.as_bytes()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().filter(|&c| !unwanted(c)).collect())
}

/// Whether UTF-8 text may hold a control character other than tab, CR and LF: a byte below
/// 0x20, DEL, or the lead byte 0xC2 of U+0080..U+009F. A byte scan, because bodies are
/// megabytes and almost never hold one.
fn may_hold_controls(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n')) || b == 0x7F || b == 0xC2)
}

/// Unicode category Cf: bidi controls, zero-width characters, soft hyphens, tags.
pub fn is_format(c: char) -> bool {
    !c.is_ascii() && c.general_category() == GeneralCategory::Format
}

/// An attachment name as Mailport shows and serves it: one line, and every format
/// character (category Cf) replaced with `_`.
pub fn attachment_name(s: &str) -> String {
    let one_line = line(s);
    if one_line.is_ascii() {
        return one_line;
    }
    one_line
        .chars()
        .map(|c| if is_format(c) { '_' } else { c })
        .collect()
}

/// Characters no common file system accepts in a name.
const NOT_IN_FILE_NAMES: &[char] = &['/', '\\', ':', '*', '?', '"', '<', '>', '|'];

/// Longest name stem Mailport derives (file systems allow 255 bytes; keep room for the
/// extension and for UTF-8).
const MAX_STEM_CHARS: usize = 120;

/// A file name made from text (a subject) plus `extension`: characters that file systems
/// refuse become `_`, leading and trailing dots and spaces go, long text is cut, and
/// `fallback` is used when nothing is left.
pub fn derived_file_name(text: &str, fallback: &str, extension: &str) -> String {
    let cleaned: String = attachment_name(text)
        .chars()
        .map(|c| {
            if NOT_IN_FILE_NAMES.contains(&c) {
                '_'
            } else {
                c
            }
        })
        .take(MAX_STEM_CHARS)
        .collect();
    let stem = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    let stem = if stem.is_empty() { fallback } else { stem };
    format!("{stem}.{extension}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_go_and_folding_is_trimmed() {
        assert_eq!(line(" \r\n Disk alert\0 host7\x07 "), "Disk alert host7");
        assert_eq!(line("a\tb\u{7f}\u{85}c"), "a bc");
        assert_eq!(
            body("97% full.\0\0 Free\r\nnext\tline\x1b"),
            "97% full. Free\r\nnext\tline"
        );
        assert!(matches!(body("plain\r\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn format_characters_in_names_become_underscores() {
        assert_eq!(attachment_name("invoice\u{202E}fdp.exe"), "invoice_fdp.exe");
        assert_eq!(
            attachment_name("a\u{200B}b\u{FEFF}\u{2066}.pdf"),
            "a_b__.pdf"
        );
        assert_eq!(attachment_name("Résumé 日本.pdf"), "Résumé 日本.pdf");
    }

    #[test]
    fn derived_names_are_safe_for_file_systems() {
        assert_eq!(
            derived_file_name("Order confirmation 4711", "message", "eml"),
            "Order confirmation 4711.eml"
        );
        assert_eq!(
            derived_file_name("RE: a/b \\ c:d*?\"<>|", "message", "eml"),
            "RE_ a_b _ c_d______.eml"
        );
        assert_eq!(
            derived_file_name(" ..hidden.. ", "message", "eml"),
            "hidden.eml"
        );
        assert_eq!(derived_file_name("  ", "message", "eml"), "message.eml");
        assert_eq!(
            derived_file_name(&"x".repeat(500), "message", "eml").len(),
            MAX_STEM_CHARS + 4
        );
    }
}
