//! Slows down password and API key guessing without letting strangers lock anyone out.
//!
//! Sign-in failures are counted per (user name, address), per address and per user name, in
//! a 15-minute window that starts with the first failure:
//! - 5 failures for one name from one address: that address is refused (429) for that name;
//! - 20 failures from one address, whatever the names: that address is refused for all;
//! - the per-name count never refuses. Once a name has 10 failures from all addresses, each
//!   attempt for it from an address that has failed recently waits first (1 s, doubling every
//!   10 further failures, at most 8 s). An address without recent failures is never slowed,
//!   so the administrator's own browser signs in while others guess.
//!
//! Checks happen before any password hashing, so refusals are cheap. A password reset
//! (`mailport user add`) starts a new session generation, which clears the name's counts.
//! Bad API keys are counted per address: 10 within 5 minutes and the address is refused
//! (429) until the window ends.
//!
//! The counts live in the database (`store::auth_failures`), so every instance sharing it
//! refuses the same guesser, and a load balancer needs no sticky sessions. Expired counts
//! are deleted by the server's cleanup task ([`LoginLimiter::delete_expired`]).

use std::net::IpAddr;
use std::time::Duration;

use crate::store::Db;
use crate::store::auth_failures::{self, Count, Scope};

/// Failures for one user name from one address before that pair is refused.
pub const MAX_PER_NAME_AND_ADDRESS: i64 = 5;
/// Failures from one address (any names) before the address is refused.
pub const MAX_PER_ADDRESS: i64 = 20;
/// Failures of one name (all addresses) from which attempts from failing addresses wait.
pub const SLOW_AFTER_PER_NAME: i64 = 10;
/// The longest wait the per-name protection imposes.
pub const MAX_DELAY: Duration = Duration::from_secs(8);
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Bad API keys from one address within [`API_WINDOW`] before the address is refused.
pub const MAX_BAD_API_KEYS: i64 = 10;
pub const API_WINDOW: Duration = Duration::from_secs(5 * 60);

/// The sign-in and API key throttle over the shared counts. Cheap to clone.
#[derive(Clone)]
pub struct LoginLimiter {
    db: Db,
}

fn millis(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// Seconds until the window of `count` (of `window`) ends at `now_ms`: at least 1.
fn wait_secs(count: &Count, window: Duration, now_ms: i64) -> u64 {
    let end = count.window_start_ms + millis(window);
    ((end - now_ms).max(0) as u64).div_ceil(1000).max(1)
}

/// User names are counted case-insensitively.
fn name_key(username: &str) -> String {
    username.to_lowercase()
}

/// The wait for an attempt on a name with `failures` failures from all addresses.
fn per_name_delay(failures: i64) -> Duration {
    if failures < SLOW_AFTER_PER_NAME {
        return Duration::ZERO;
    }
    let doublings = ((failures - SLOW_AFTER_PER_NAME) / 10).min(10) as u32;
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

impl LoginLimiter {
    pub fn new(db: Db) -> Self {
        LoginLimiter { db }
    }

    /// Checks and counts a sign-in attempt in one step, before the password is hashed:
    /// counting only after a failed check would let every request of a concurrent burst
    /// pass the check (the hash takes a while). The attempt counts as a failure until
    /// [`record_success`](Self::record_success). `generation` is the user's session
    /// generation (None for an unknown name): when it changed since the name's failures
    /// were counted, the password was reset and those counts are forgotten.
    ///
    /// Returns how long to wait before checking the password, or `Err(seconds)` until the
    /// refusal ends (for `Retry-After`); a refused attempt is not counted. Errors: the
    /// database's.
    pub async fn begin_attempt(
        &self,
        username: &str,
        addr: IpAddr,
        generation: Option<i64>,
    ) -> sqlx::Result<Result<Duration, u64>> {
        let name = name_key(username);
        let pair = pair_key(&name, addr);
        let address = addr.to_string();
        let now = crate::clock::now_ms();
        let window = millis(WINDOW);
        let mut tx = auth_failures::begin_attempt(&self.db, &name, generation).await?;
        let by_address =
            auth_failures::count(&mut tx, Scope::Address, &address, None, None, now, window)
                .await?;
        if by_address.failures > MAX_PER_ADDRESS {
            tx.rollback().await?;
            return Ok(Err(wait_secs(&by_address, WINDOW, now)));
        }
        let by_pair =
            auth_failures::count(&mut tx, Scope::Pair, &pair, Some(&name), None, now, window)
                .await?;
        if by_pair.failures > MAX_PER_NAME_AND_ADDRESS {
            tx.rollback().await?;
            return Ok(Err(wait_secs(&by_pair, WINDOW, now)));
        }
        let by_name = auth_failures::count(
            &mut tx,
            Scope::Name,
            &name,
            Some(&name),
            generation,
            now,
            window,
        )
        .await?;
        tx.commit().await?;
        // An address without earlier failures (this attempt is its first) is never slowed.
        let clean = by_address.failures == 1;
        Ok(Ok(if clean {
            Duration::ZERO
        } else {
            per_name_delay(by_name.failures - 1)
        }))
    }

    /// A successful sign-in: the pair's count is cleared and this attempt taken back from
    /// the address and the name (counted by [`begin_attempt`](Self::begin_attempt)).
    pub async fn record_success(&self, username: &str, addr: IpAddr) -> sqlx::Result<()> {
        let name = name_key(username);
        auth_failures::record_success(&self.db, &pair_key(&name, addr), &addr.to_string(), &name)
            .await
    }

    /// Before an API key is looked up: `Err(seconds)` while the address is refused.
    pub async fn check_api_key(&self, addr: IpAddr) -> sqlx::Result<Result<(), u64>> {
        let now = crate::clock::now_ms();
        let count = auth_failures::current(
            &self.db,
            Scope::ApiKey,
            &addr.to_string(),
            now,
            millis(API_WINDOW),
        )
        .await?;
        Ok(match count {
            Some(c) if c.failures >= MAX_BAD_API_KEYS => Err(wait_secs(&c, API_WINDOW, now)),
            _ => Ok(()),
        })
    }

    /// A bad API key from `addr`.
    pub async fn record_bad_api_key(&self, addr: IpAddr) -> sqlx::Result<()> {
        auth_failures::count_one(
            &self.db,
            Scope::ApiKey,
            &addr.to_string(),
            crate::clock::now_ms(),
            millis(API_WINDOW),
        )
        .await
        .map(|_| ())
    }

    /// Deletes the counts whose windows have ended; returns how many.
    pub async fn delete_expired(&self) -> sqlx::Result<u64> {
        let longest = WINDOW.max(API_WINDOW);
        auth_failures::delete_expired(&self.db, crate::clock::now_ms() - millis(longest)).await
    }
}

/// The pair's subject: the address, then the (lower-cased) name.
fn pair_key(name: &str, addr: IpAddr) -> String {
    format!("{addr} {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    async fn limiter() -> (tempfile::TempDir, LoginLimiter) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::store::connect(&dir.path().join("t.db"))
            .await
            .expect("db");
        (dir, LoginLimiter::new(db))
    }

    async fn attempt(
        l: &LoginLimiter,
        name: &str,
        n: u8,
        generation: Option<i64>,
    ) -> Result<Duration, u64> {
        l.begin_attempt(name, ip(n), generation).await.expect("db")
    }

    #[tokio::test]
    async fn strangers_slow_a_name_down_but_never_lock_it() {
        let (_dir, limiter) = limiter().await;
        for n in 10..40 {
            for _ in 0..MAX_PER_NAME_AND_ADDRESS {
                assert!(attempt(&limiter, "Admin", n, Some(0)).await.is_ok());
            }
            assert!(attempt(&limiter, "admin", n, Some(0)).await.is_err());
        }
        // A clean address goes straight to the password check.
        assert_eq!(
            attempt(&limiter, "admin", 2, Some(0)).await,
            Ok(Duration::ZERO)
        );
        limiter.record_success("admin", ip(2)).await.expect("db");
        // An address that failed before waits, but is not refused.
        assert!(attempt(&limiter, "other", 3, None).await.is_ok());
        assert_eq!(attempt(&limiter, "admin", 3, Some(0)).await, Ok(MAX_DELAY));
        // A password reset forgets the name's failures.
        assert_eq!(
            attempt(&limiter, "admin", 10, Some(1)).await,
            Ok(Duration::ZERO)
        );
    }

    #[tokio::test]
    async fn an_address_is_refused_after_many_names() {
        let (_dir, limiter) = limiter().await;
        for n in 0..MAX_PER_ADDRESS {
            assert!(attempt(&limiter, &format!("u{n}"), 5, None).await.is_ok());
        }
        assert!(attempt(&limiter, "fresh", 5, None).await.is_err());
        assert!(attempt(&limiter, "fresh", 6, None).await.is_ok());
    }

    #[tokio::test]
    async fn wrong_api_keys_refuse_the_address_for_the_window() {
        let (_dir, limiter) = limiter().await;
        for _ in 0..MAX_BAD_API_KEYS {
            assert_eq!(limiter.check_api_key(ip(7)).await.expect("db"), Ok(()));
            limiter.record_bad_api_key(ip(7)).await.expect("db");
        }
        let wait = limiter
            .check_api_key(ip(7))
            .await
            .expect("db")
            .expect_err("refused");
        assert!(
            (API_WINDOW.as_secs() - 5..=API_WINDOW.as_secs()).contains(&wait),
            "{wait}"
        );
        assert_eq!(limiter.check_api_key(ip(8)).await.expect("db"), Ok(()));
        assert_eq!(limiter.delete_expired().await.expect("db"), 0);
    }

    #[test]
    fn delays_grow_and_stop_growing() {
        assert_eq!(per_name_delay(9), Duration::ZERO);
        assert_eq!(per_name_delay(10), Duration::from_secs(1));
        assert_eq!(per_name_delay(20), Duration::from_secs(2));
        assert_eq!(per_name_delay(40), MAX_DELAY);
        assert_eq!(per_name_delay(i64::MAX), MAX_DELAY);
    }
}
