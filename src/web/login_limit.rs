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

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures for one user name from one address before that pair is refused.
pub const MAX_PER_NAME_AND_ADDRESS: u32 = 5;
/// Failures from one address (any names) before the address is refused.
pub const MAX_PER_ADDRESS: u32 = 20;
/// Failures of one name (all addresses) from which attempts from failing addresses wait.
pub const SLOW_AFTER_PER_NAME: u32 = 10;
/// The longest wait the per-name protection imposes.
pub const MAX_DELAY: Duration = Duration::from_secs(8);
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Bad API keys from one address within [`API_WINDOW`] before the address is refused.
pub const MAX_BAD_API_KEYS: u32 = 10;
pub const API_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Entries kept per table; beyond it, expired ones are dropped first, then the oldest.
const MAX_ENTRIES: usize = 50_000;

/// Failures in a window that starts with the first one.
#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    first: Instant,
}

/// Failure counts by key, with a window and a size bound.
struct Counter<K> {
    window: Duration,
    entries: HashMap<K, Count>,
}

impl<K: Eq + Hash + Clone> Counter<K> {
    fn new(window: Duration) -> Self {
        Counter {
            window,
            entries: HashMap::new(),
        }
    }

    fn get(&self, key: &K) -> u32 {
        self.entries
            .get(key)
            .filter(|c| c.first.elapsed() < self.window)
            .map_or(0, |c| c.failures)
    }

    /// Seconds until the window of `key` ends (at least 1).
    fn wait(&self, key: &K) -> u64 {
        self.entries
            .get(key)
            .map(|c| {
                self.window
                    .saturating_sub(c.first.elapsed())
                    .as_secs()
                    .max(1)
            })
            .unwrap_or(1)
    }

    fn add(&mut self, key: &K) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(key) {
            let window = self.window;
            self.entries.retain(|_, c| c.first.elapsed() < window);
            if self.entries.len() >= MAX_ENTRIES
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, c)| c.first)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        let count = self.entries.entry(key.clone()).or_insert(Count {
            failures: 0,
            first: Instant::now(),
        });
        if count.first.elapsed() >= self.window {
            *count = Count {
                failures: 0,
                first: Instant::now(),
            };
        }
        count.failures += 1;
    }

    fn take_back(&mut self, key: &K) {
        if let Some(c) = self.entries.get_mut(key) {
            c.failures = c.failures.saturating_sub(1);
        }
    }

    fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

struct Tables {
    pairs: Counter<(String, IpAddr)>,
    addresses: Counter<IpAddr>,
    names: Counter<String>,
    /// The session generation each counted name had: a password reset clears its counts.
    generations: HashMap<String, Option<i64>>,
    api_keys: Counter<IpAddr>,
}

/// The sign-in and API key throttle. Cheap to clone; clones share their counts.
#[derive(Clone)]
pub struct LoginLimiter {
    inner: Arc<Mutex<Tables>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            inner: Arc::new(Mutex::new(Tables {
                pairs: Counter::new(WINDOW),
                addresses: Counter::new(WINDOW),
                names: Counter::new(WINDOW),
                generations: HashMap::new(),
                api_keys: Counter::new(API_WINDOW),
            })),
        }
    }
}

/// User names are counted case-insensitively.
fn name_key(username: &str) -> String {
    username.to_lowercase()
}

/// The wait for an attempt on a name with `failures` failures from all addresses.
fn per_name_delay(failures: u32) -> Duration {
    if failures < SLOW_AFTER_PER_NAME {
        return Duration::ZERO;
    }
    let doublings = ((failures - SLOW_AFTER_PER_NAME) / 10).min(10);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

impl LoginLimiter {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks and counts a sign-in attempt in one step, before the password is hashed:
    /// counting only after a failed check would let every request of a concurrent burst
    /// pass the check (the hash takes a while). The attempt counts as a failure until
    /// [`record_success`](Self::record_success). `generation` is the user's session
    /// generation (None for an unknown name): when it changed since the name's failures
    /// were counted, the password was reset and those counts are forgotten.
    ///
    /// Returns how long to wait before checking the password, or `Err(seconds)` until the
    /// refusal ends (for `Retry-After`).
    pub fn begin_attempt(
        &self,
        username: &str,
        addr: IpAddr,
        generation: Option<i64>,
    ) -> Result<Duration, u64> {
        let name = name_key(username);
        let pair = (name.clone(), addr);
        let mut t = self.tables();
        if t.generations.get(&name).is_some_and(|g| *g != generation) {
            t.names.remove(&name);
            t.pairs.entries.retain(|(n, _), _| *n != name);
        }
        t.generations.insert(name.clone(), generation);
        if t.generations.len() > MAX_ENTRIES {
            let Tables {
                generations, names, ..
            } = &mut *t;
            generations.retain(|n, _| names.get(n) > 0);
        }
        if t.addresses.get(&addr) >= MAX_PER_ADDRESS {
            return Err(t.addresses.wait(&addr));
        }
        if t.pairs.get(&pair) >= MAX_PER_NAME_AND_ADDRESS {
            return Err(t.pairs.wait(&pair));
        }
        let clean = t.addresses.get(&addr) == 0;
        let delay = if clean {
            Duration::ZERO
        } else {
            per_name_delay(t.names.get(&name))
        };
        t.pairs.add(&pair);
        t.addresses.add(&addr);
        t.names.add(&name);
        Ok(delay)
    }

    /// A successful sign-in: the pair's count is cleared and this attempt taken back from
    /// the address and the name (counted by [`begin_attempt`](Self::begin_attempt)).
    pub fn record_success(&self, username: &str, addr: IpAddr) {
        let name = name_key(username);
        let mut t = self.tables();
        t.pairs.remove(&(name.clone(), addr));
        t.addresses.take_back(&addr);
        t.names.take_back(&name);
    }

    /// Before an API key is looked up: `Err(seconds)` while the address is refused.
    pub fn check_api_key(&self, addr: IpAddr) -> Result<(), u64> {
        let t = self.tables();
        if t.api_keys.get(&addr) >= MAX_BAD_API_KEYS {
            Err(t.api_keys.wait(&addr))
        } else {
            Ok(())
        }
    }

    /// A bad API key from `addr`.
    pub fn record_bad_api_key(&self, addr: IpAddr) {
        self.tables().api_keys.add(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn strangers_slow_a_name_down_but_never_lock_it() {
        let limiter = LoginLimiter::default();
        for n in 10..40 {
            for _ in 0..MAX_PER_NAME_AND_ADDRESS {
                assert!(limiter.begin_attempt("Admin", ip(n), Some(0)).is_ok());
            }
            assert!(limiter.begin_attempt("admin", ip(n), Some(0)).is_err());
        }
        // A clean address goes straight to the password check.
        assert_eq!(
            limiter.begin_attempt("admin", ip(2), Some(0)),
            Ok(Duration::ZERO)
        );
        limiter.record_success("admin", ip(2));
        // An address that failed before waits, but is not refused.
        assert!(limiter.begin_attempt("other", ip(3), None).is_ok());
        assert_eq!(
            limiter.begin_attempt("admin", ip(3), Some(0)),
            Ok(MAX_DELAY)
        );
        // A password reset forgets the name's failures.
        assert_eq!(
            limiter.begin_attempt("admin", ip(10), Some(1)),
            Ok(Duration::ZERO)
        );
    }

    #[test]
    fn an_address_is_refused_after_many_names() {
        let limiter = LoginLimiter::default();
        for n in 0..MAX_PER_ADDRESS {
            assert!(limiter.begin_attempt(&format!("u{n}"), ip(5), None).is_ok());
        }
        assert!(limiter.begin_attempt("fresh", ip(5), None).is_err());
        assert!(limiter.begin_attempt("fresh", ip(6), None).is_ok());
    }

    #[test]
    fn delays_grow_and_stop_growing() {
        assert_eq!(per_name_delay(9), Duration::ZERO);
        assert_eq!(per_name_delay(10), Duration::from_secs(1));
        assert_eq!(per_name_delay(20), Duration::from_secs(2));
        assert_eq!(per_name_delay(40), MAX_DELAY);
        assert_eq!(per_name_delay(u32::MAX), MAX_DELAY);
    }
}
