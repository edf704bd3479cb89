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
        Self::keys(username, addr)
            .iter()
            .filter_map(|(key, max)| {
                let e = map.get(key)?;
                let age = e.first.elapsed();
                (age < WINDOW && e.failures >= *max).then(|| (WINDOW - age).as_secs().max(1))
            })
            .max()
    }

    pub fn record_failure(&self, username: &str, addr: Option<IpAddr>) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
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

    /// A successful sign-in clears the user name's count.
    pub fn record_success(&self, username: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("user:{}", username.to_lowercase()));
    }
}
