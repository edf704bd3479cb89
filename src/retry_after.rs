//! The `Retry-After` response header (RFC 9110 §10.2.3): an HTTP-date or delay-seconds.
//! An HTTP rule, so both the Graph client and the webhook sender read it here. Graph also
//! sends fractional seconds ("2.128"), which are accepted. Parsing is separate from waiting
//! so that every odd value has a test.

use std::time::{Duration, SystemTime};

/// No single wait is longer than this, whatever the header says; the caller caps it further
/// at its own `max_backoff`. It also keeps `Duration` arithmetic far from overflow.
const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);

/// The wait a `Retry-After` value asks for, as seen at `now`.
///
/// `None` means "not usable" (missing, garbage, negative, NaN), so the caller falls back to
/// exponential backoff. A date in the past means "now" (zero). Huge values are clamped.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = value.parse().ok()?;
        if !secs.is_finite() {
            return None;
        }
        return Some(Duration::try_from_secs_f64(secs).map_or(LONGEST, |d| d.min(LONGEST)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(now)
            .map_or(Duration::ZERO, |d| d.min(LONGEST)),
    )
}

/// The `Retry-After` of an answer's headers, read at the current time; None when absent or
/// unreadable (see [`parse_retry_after`]).
pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_dates_and_nonsense() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let date_in = |secs: u64| httpdate::fmt_http_date(now + Duration::from_secs(secs));
        let date_ago = |secs: u64| httpdate::fmt_http_date(now - Duration::from_secs(secs));
        let cases: Vec<(String, Option<Duration>)> = vec![
            ("1".into(), Some(Duration::from_secs(1))),
            ("0".into(), Some(Duration::ZERO)),
            ("1.5".into(), Some(Duration::from_millis(1500))),
            ("2.128".into(), Some(Duration::from_millis(2128))),
            (" 3 ".into(), Some(Duration::from_secs(3))),
            ("007".into(), Some(Duration::from_secs(7))),
            ("99999999999999999999999".into(), Some(LONGEST)),
            ("1e400".into(), None),
            ("-1".into(), None),
            ("-0.5".into(), None),
            ("+5".into(), None),
            ("NaN".into(), None),
            ("inf".into(), None),
            ("".into(), None),
            ("   ".into(), None),
            ("soon".into(), None),
            ("1.2.3".into(), None),
            (".".into(), None),
            ("5 seconds".into(), None),
            (date_in(30), Some(Duration::from_secs(30))),
            (date_in(10 * 24 * 3600), Some(LONGEST)),
            (date_ago(30), Some(Duration::ZERO)),
            ("Wed, 21 Oct 2015 07:28:00 GMT".into(), Some(Duration::ZERO)),
            ("Wed, 32 Oct 2015 07:28:00 GMT".into(), None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_retry_after(&value, now), expected, "{value:?}");
        }
    }
}
