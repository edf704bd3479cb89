//! The wall clock as Mailport stores time: whole unix seconds (UTC), or unix milliseconds
//! where seconds are too coarse (leases, throttle windows), portable across database backends. A leaf: the store, the token service and the sessions all read it.

/// Current unix time in seconds (UTC).
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Current unix time in milliseconds (UTC).
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
