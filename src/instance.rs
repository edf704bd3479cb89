//! The id of a Mailport instance: the host name plus a random suffix, or `--instance-id`.
//! Several instances share one database; the id names a lease's holder, a log line's
//! writer and the sender of a token or Graph request (`User-Agent`).

/// The longest instance id accepted.
pub const MAX_LEN: usize = 64;

/// `<host name>-<6 random characters>`: unique per start, readable in logs.
pub fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| sanitize(h.trim()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "mailport".into());
    let suffix: String = crate::crypto::random_token(6)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(6)
        .collect::<String>()
        .to_ascii_lowercase();
    let host: String = host.chars().take(MAX_LEN - 1 - suffix.len()).collect();
    format!("{host}-{suffix}")
}

/// Keeps what is safe in a header and a log line: ASCII letters, digits, `.`, `_`, `-`.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect()
}

/// Checks an id given with `--instance-id` / `MAILPORT_INSTANCE_ID`: 1 to 64 ASCII
/// letters, digits, `.`, `_` or `-` (it goes into HTTP headers and log lines as is).
pub fn parse(text: &str) -> Result<String, String> {
    let id = text.trim();
    if id.is_empty() || id.len() > MAX_LEN || sanitize(id) != id {
        return Err(format!(
            "{text:?}: an instance id is 1 to {MAX_LEN} ASCII letters, digits, '.', '_' or '-'"
        ));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_id_is_the_host_name_with_a_random_suffix_and_is_accepted_as_given() {
        let a = default_id();
        let b = default_id();
        assert_ne!(a, b);
        assert_eq!(parse(&a), Ok(a.clone()));
        assert!(a.len() <= MAX_LEN);
    }

    #[test]
    fn an_instance_id_with_spaces_or_control_characters_is_refused() {
        assert!(parse("web 1").is_err());
        assert!(parse("web\r\n1").is_err());
        assert!(parse("").is_err());
        assert!(parse(&"x".repeat(65)).is_err());
        assert_eq!(parse(" web-1 "), Ok("web-1".into()));
    }
}
