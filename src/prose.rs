//! Text a person reads: every error and status message Mailport writes is a sentence.

/// `text` as a sentence: surrounding blanks removed, the first letter capitalised, and a full
/// stop added unless it already ends with `.`, `!` or `?` (also before a closing quote or
/// parenthesis). Empty text stays empty. Used where messages are built from pieces (an
/// error of a library, a server's message) so that none reaches a screen half-formed.
pub fn sentence(text: impl AsRef<str>) -> String {
    let text = text.as_ref().trim();
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !ends_a_sentence(&out) {
        out.push('.');
    }
    out
}

/// Whether `text` reads as a sentence: it starts with a capital letter, a digit or a quote,
/// and ends with terminal punctuation (see [`sentence`]).
pub fn is_sentence(text: &str) -> bool {
    let text = text.trim();
    let starts = text
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit() || "\"“'`".contains(c));
    starts && ends_a_sentence(text)
}

fn ends_a_sentence(text: &str) -> bool {
    let trimmed = text.trim_end_matches(['"', '\'', '”', '’', ')', '`']);
    trimmed.ends_with(['.', '!', '?'])
}

/// The innermost cause of an error chain, as a clause to put after a colon: "connection
/// refused (os error 111)". Library errors often say only "error sending request" at the top;
/// the cause at the bottom is what a person can act on. `None` when there is no cause.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut last = error.source()?;
    while let Some(next) = last.source() {
        last = next;
    }
    let text = last.to_string();
    let text = text.trim().trim_end_matches('.');
    let mut chars = text.chars();
    let first = chars.next()?;
    Some(first.to_lowercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_become_sentences() {
        assert_eq!(sentence("connection refused"), "Connection refused.");
        assert_eq!(sentence("  Done.  "), "Done.");
        assert_eq!(sentence("Really?"), "Really?");
        assert_eq!(
            sentence("it said \u{201c}no.\u{201d}"),
            "It said \u{201c}no.\u{201d}"
        );
        assert_eq!(sentence("see (request-id 1)"), "See (request-id 1).");
        assert_eq!(sentence("über"), "Über.");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn recognises_sentences() {
        assert!(is_sentence("Graph did not answer in time."));
        assert!(is_sentence("429 answers kept coming."));
        assert!(!is_sentence("graph did not answer in time."));
        assert!(!is_sentence(
            "Network the connection to Graph failed: error sending request"
        ));
        assert!(!is_sentence(""));
    }
}
