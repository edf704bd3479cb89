//! Slows down password guessing: after repeated failures for one user name (or from one
//! address) further attempts are refused with 429 for a while, before any password hashing,
//! so a flood of guesses cannot exhaust the CPU.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures allowed per user name within the window.
const MAX_PER_USER: u32 = 5;
/// Failures allowed per client address within the window.
const MAX_PER_ADDR: u32 = 20;
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Entries kept at most, so the map cannot grow without bound under attack.
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Default)]
pub struct LoginLimiter {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

struct Entry {
    failures: u32,
    first: Instant,
}

impl LoginLimiter {
    fn keys(username: &str, addr: Option<IpAddr>) -> [(String, u32); 2] {
        [
            (format!("user:{}", username.to_lowercase()), MAX_PER_USER),
            (
                format!("addr:{}", addr.map(|a| a.to_string()).unwrap_or_default()),
                MAX_PER_ADDR,
            ),
        ]
    }

    /// Seconds to wait when this attempt must be refused.
    pub fn check(&self, username: &str, addr: Option<IpAddr>) -> Option<u64> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Self::wait(&map, username, addr)
    }

    fn wait(map: &HashMap<String, Entry>, username: &str, addr: Option<IpAddr>) -> Option<u64> {
        Self::keys(username, addr)
            .iter()
            .filter_map(|(key, max)| {
                let e = map.get(key)?;
                let age = e.first.elapsed();
                (age < WINDOW && e.failures >= *max).then(|| (WINDOW - age).as_secs().max(1))
            })
            .max()
    }

    /// Checks and counts an attempt in one step, before the password is hashed: counting
    /// only after a failed check would let every request of a concurrent burst pass the
    /// check (the hash takes a while), so a burst would get far more guesses than the limit.
    /// The attempt counts as a failure until [`record_success`](Self::record_success).
    /// Returns the seconds to wait when the attempt is refused.
    pub fn begin_attempt(&self, username: &str, addr: Option<IpAddr>) -> Result<(), u64> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = Self::wait(&map, username, addr) {
            return Err(wait);
        }
        Self::count_failure(&mut map, username, addr);
        Ok(())
    }

    fn count_failure(map: &mut HashMap<String, Entry>, username: &str, addr: Option<IpAddr>) {
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| e.first.elapsed() < WINDOW);
        }
        for (key, _) in Self::keys(username, addr) {
            let e = map.entry(key).or_insert(Entry {
                failures: 0,
                first: Instant::now(),
            });
            if e.first.elapsed() >= WINDOW {
                *e = Entry {
                    failures: 0,
                    first: Instant::now(),
                };
            }
            e.failures += 1;
        }
    }

    /// A successful sign-in clears the user name's count and takes back the address's
    /// count for this attempt (counted by [`begin_attempt`](Self::begin_attempt)).
    pub fn record_success(&self, username: &str, addr: Option<IpAddr>) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("user:{}", username.to_lowercase()));
        let [_, (addr_key, _)] = Self::keys(username, addr);
        if let Some(e) = map.get_mut(&addr_key) {
            e.failures = e.failures.saturating_sub(1);
        }
    }
}
