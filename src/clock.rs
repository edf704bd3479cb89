//! The wall clock as Mailport stores time: whole unix seconds (UTC), portable across
//! database backends. A leaf: the store, the token service and the sessions all read it.

/// Current unix time in seconds (UTC).
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
