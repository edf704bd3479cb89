//! This instance's mailbox leases: claimed before a run, renewed by a heartbeat, released
//! at shutdown, shared fairly with the other instances, and checked before every Graph
//! request and every write that advances an account's state (see [`crate::store::leases`]).
//!
//! Timing: a lease lasts `duration` (30 s by default). The heartbeat renews every held
//! lease every `duration / 3`. This instance stops acting for a mailbox (no Graph request
//! is sent) once `duration * 2 / 3` passed since the last renewal that reached the
//! database, measured on the monotonic clock, so a paused process that wakes up after its
//! lease expired does nothing; another instance may claim it only after the full
//! `duration` by the database's record. The last third is the margin for clock skew
//! between hosts. Writes are fenced in SQL whatever the clocks say.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::graph::{GraphError, GraphErrorKind, TokenSource};
use crate::store::Db;
use crate::store::leases::{self, Fence};

/// Tunables of the leases.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// This instance's id: the owner recorded on its leases.
    pub instance_id: String,
    /// How long a lease lasts without a heartbeat: another instance takes a dead
    /// instance's mailboxes over after this (`--lease-duration`, default 30 s).
    pub duration: Duration,
    /// How often Run now requests made on other instances are looked for.
    pub request_poll: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            instance_id: crate::instance::default_id(),
            duration: Duration::from_secs(30),
            request_poll: Duration::from_secs(1),
        }
    }
}

impl LeaseSettings {
    /// How often the heartbeat renews the leases.
    pub fn heartbeat(&self) -> Duration {
        (self.duration / 3).max(Duration::from_millis(100))
    }

    /// How long after a renewal this instance still acts for the mailbox.
    fn acts_for(&self) -> Duration {
        self.duration * 2 / 3
    }

    fn duration_ms(&self) -> i64 {
        self.duration.as_millis() as i64
    }
}

/// A lease this instance holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    token: i64,
    /// This instance acts for the mailbox until then (monotonic clock).
    acts_until: Instant,
    /// When it was claimed: a heartbeat that began earlier knows nothing of it.
    claimed_at: Instant,
}

/// Why a lease could not be had.
#[derive(Debug)]
pub enum NotLeased {
    /// Another instance holds the mailbox.
    HeldElsewhere {
        owner: String,
        expires_in_ms: i64,
    },
    /// The account does not exist.
    NoSuchAccount,
    Database(sqlx::Error),
}

impl From<sqlx::Error> for NotLeased {
    fn from(e: sqlx::Error) -> Self {
        NotLeased::Database(e)
    }
}

/// The leases of this instance.
pub struct Leases {
    db: Db,
    pub settings: LeaseSettings,
    held: Mutex<HashMap<String, Held>>,
    /// Accounts running now and the lease key of their mailbox.
    running: Mutex<HashMap<String, String>>,
    /// The most mailboxes this instance claims for scheduled polls: its fair share of all
    /// mailboxes among the live instances (unlimited until the first heartbeat).
    fair_share: AtomicUsize,
}

/// An account's run holds its mailbox's lease; dropping it ends the run's use of it.
pub struct LeaseUse<'a> {
    leases: &'a Leases,
    account_id: String,
}

impl Drop for LeaseUse<'_> {
    fn drop(&mut self) {
        lock(&self.leases.running).remove(&self.account_id);
    }
}

impl LeaseUse<'_> {
    /// The fence the run's writes carry.
    pub fn fence(&self) -> Fence {
        self.leases.fence(&self.account_id)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Leases {
    pub fn new(db: Db, settings: LeaseSettings) -> Self {
        Leases {
            db,
            settings,
            held: Mutex::default(),
            running: Mutex::default(),
            fair_share: AtomicUsize::new(usize::MAX),
        }
    }

    pub fn instance_id(&self) -> &str {
        &self.settings.instance_id
    }

    /// The fence of an account running here: its mailbox's lease key and the token this
    /// instance holds it with; a fence that matches nothing when it holds none.
    pub fn fence(&self, account_id: &str) -> Fence {
        let Some(key) = lock(&self.running).get(account_id).cloned() else {
            return Fence::none(self.instance_id());
        };
        match lock(&self.held).get(&key) {
            Some(h) => Fence {
                lease_key: key,
                owner: self.instance_id().to_string(),
                token: h.token,
            },
            None => Fence::none(self.instance_id()),
        }
    }

    /// Whether this instance may still act (send Graph requests, store messages) for an
    /// account it runs. Accounts not running under a lease (a connection test) pass.
    pub fn may_act(&self, account_id: &str) -> bool {
        let Some(key) = lock(&self.running).get(account_id).cloned() else {
            return true;
        };
        lock(&self.held)
            .get(&key)
            .is_some_and(|h| Instant::now() < h.acts_until)
    }

    /// How many runs use a lease right now.
    pub fn in_use(&self) -> usize {
        lock(&self.running).len()
    }

    /// How many mailbox leases this instance holds.
    pub fn held_count(&self) -> usize {
        lock(&self.held).len()
    }

    fn holds_fresh(&self, key: &str) -> bool {
        lock(&self.held)
            .get(key)
            .is_some_and(|h| Instant::now() < h.acts_until)
    }

    /// Whether a scheduled poll may claim the mailbox `key`: it is held here already, this
    /// instance holds less than its fair share, or the account waited longer than a lease
    /// (so that no mailbox starves whatever the shares).
    pub fn may_claim_for_schedule(&self, key: &str, overdue: Duration) -> bool {
        lock(&self.held).contains_key(key)
            || self.held_count() < self.fair_share.load(Ordering::Relaxed)
            || overdue > self.settings.duration
    }

    /// Secures the lease of `account_id`'s mailbox for a run: keeps it when held, or claims
    /// it when free, expired or this instance's own.
    pub async fn secure(&self, account_id: &str) -> Result<LeaseUse<'_>, NotLeased> {
        let key = leases::key_of(&self.db, account_id)
            .await?
            .ok_or(NotLeased::NoSuchAccount)?;
        if !self.holds_fresh(&key) {
            let started = Instant::now();
            let now = now_ms();
            let until = now + self.settings.duration_ms();
            match leases::claim(&self.db, &key, self.instance_id(), now, until).await? {
                Some(token) => {
                    tracing::debug!(lease = %key, token, "claimed a mailbox lease");
                    lock(&self.held).insert(
                        key.clone(),
                        Held {
                            token,
                            acts_until: started + self.settings.acts_for(),
                            claimed_at: started,
                        },
                    );
                }
                None => {
                    let lease = leases::of_account(&self.db, account_id).await?;
                    return Err(NotLeased::HeldElsewhere {
                        owner: lease
                            .as_ref()
                            .and_then(|l| l.owner.clone())
                            .unwrap_or_default(),
                        expires_in_ms: lease.map_or(0, |l| (l.expires_at_ms - now).max(0)),
                    });
                }
            }
        }
        lock(&self.running).insert(account_id.to_string(), key);
        Ok(LeaseUse {
            leases: self,
            account_id: account_id.to_string(),
        })
    }

    /// One heartbeat: renews every lease held (forgetting those taken over), records this
    /// instance as alive when `register` (a serving instance), recomputes the fair share
    /// and gives up idle leases beyond it.
    pub async fn heartbeat(&self, register: bool) -> Result<(), sqlx::Error> {
        let started = Instant::now();
        let now = now_ms();
        let renewed = leases::renew_all(
            &self.db,
            self.instance_id(),
            now + self.settings.duration_ms(),
        )
        .await?;
        let renewed: HashMap<String, i64> = renewed.into_iter().collect();
        {
            let mut held = lock(&self.held);
            held.retain(|key, h| match renewed.get(key) {
                Some(&token) if token == h.token => {
                    h.acts_until = h.acts_until.max(started + self.settings.acts_for());
                    true
                }
                // Claimed while this heartbeat ran.
                _ if h.claimed_at >= started => true,
                _ => {
                    tracing::warn!(lease = %key, "lost a mailbox lease to another instance");
                    false
                }
            });
        }
        if !register {
            return Ok(());
        }
        let d = self.settings.duration_ms();
        let alive = leases::heartbeat(
            &self.db,
            self.instance_id(),
            env!("CARGO_PKG_VERSION"),
            now,
            now - d,
            now - 100 * d,
        )
        .await?
        .max(1);
        if alive == 1 {
            // Alone: every mailbox is this instance's share, including those added before
            // the next heartbeat.
            self.fair_share.store(usize::MAX, Ordering::Relaxed);
            return Ok(());
        }
        let mailboxes = leases::mailbox_count(&self.db).await?.max(0) as usize;
        let share = mailboxes.div_ceil(alive as usize).max(1);
        self.fair_share.store(share, Ordering::Relaxed);
        self.give_up_beyond(share).await
    }

    /// Releases idle leases (no account of the mailbox running here) beyond `share`, so
    /// that instances started later get their part of the mailboxes.
    async fn give_up_beyond(&self, share: usize) -> Result<(), sqlx::Error> {
        let surplus: Vec<(String, i64)> = {
            let held = lock(&self.held);
            if held.len() <= share {
                return Ok(());
            }
            let busy: std::collections::HashSet<String> =
                lock(&self.running).values().cloned().collect();
            let mut idle: Vec<(String, i64)> = held
                .iter()
                .filter(|(k, _)| !busy.contains(*k))
                .map(|(k, h)| (k.clone(), h.token))
                .collect();
            idle.sort();
            idle.truncate(held.len() - share);
            idle
        };
        for (key, token) in surplus {
            lock(&self.held).remove(&key);
            let fence = Fence {
                lease_key: key.clone(),
                owner: self.instance_id().to_string(),
                token,
            };
            leases::release(&self.db, &fence).await?;
            tracing::debug!(lease = %key, "released a mailbox lease to share the work");
        }
        Ok(())
    }

    /// Run now requests made anywhere for mailboxes this instance holds or may claim.
    pub async fn requested_runs(&self) -> Result<Vec<String>, sqlx::Error> {
        leases::requested_runs(&self.db, self.instance_id(), now_ms()).await
    }

    /// Graceful shutdown: every lease goes at once, and the instance leaves the list.
    pub async fn release_all(&self) {
        lock(&self.held).clear();
        match leases::release_all(&self.db, self.instance_id()).await {
            Ok(n) if n > 0 => tracing::info!(leases = n, "released the mailbox leases"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not release the mailbox leases"),
        }
        if let Err(e) = leases::forget_instance(&self.db, self.instance_id()).await {
            tracing::warn!(error = %e, "could not remove this instance from the list");
        }
    }
}

/// The lease heartbeat of an importer, until `stop`: renews the leases every
/// [`LeaseSettings::heartbeat`], wakes the dispatcher (mailboxes of a dead instance become
/// claimable), and every [`LeaseSettings::request_poll`] queues the Run now requests made
/// on other instances for mailboxes this one holds or may claim.
pub(super) async fn keep_leases(inner: std::sync::Weak<super::Inner>, stop: CancellationToken) {
    let mut next_beat = Instant::now();
    loop {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let importer = super::Importer { inner };
        let serving = importer.serving.load(Ordering::Relaxed);
        let settings = importer.leases.settings.clone();
        if Instant::now() >= next_beat {
            if let Err(e) = importer.leases.heartbeat(serving).await {
                tracing::warn!(error = %e, "could not renew the mailbox leases");
            }
            next_beat = Instant::now() + settings.heartbeat();
            if serving {
                importer.wake.notify_one();
            }
        }
        if serving {
            match importer.leases.requested_runs().await {
                Ok(ids) => {
                    for id in ids.iter().filter(|id| !importer.is_running(id)) {
                        importer.request_run(id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read Run now requests"),
            }
        }
        drop(importer);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(settings.request_poll.min(settings.heartbeat())) => {}
        }
    }
}

/// Tokens for the Graph requests of a leased run: before each request, the lease is
/// checked, so that an instance that lost its mailbox (paused past its lease, cut off from
/// the database) sends nothing more to it, post-actions included.
pub struct LeaseGate<T> {
    pub tokens: T,
    pub importer: super::Importer,
    pub account_id: String,
}

impl<T: TokenSource> TokenSource for LeaseGate<T> {
    fn token(
        &self,
        force_refresh: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, GraphError>> + Send + '_>> {
        Box::pin(async move {
            if !self.importer.leases.may_act(&self.account_id) {
                return Err(lease_lost());
            }
            self.tokens.token(force_refresh).await
        })
    }
}

/// Ends a run that lost its mailbox's lease (nothing more is sent to Graph).
pub fn lease_lost() -> GraphError {
    GraphError {
        kind: GraphErrorKind::Other,
        status: None,
        code: Some("lease_lost".into()),
        message: "this instance no longer holds the mailbox's lease; another instance \
                  continues its import"
            .into(),
        request_id: None,
    }
}

/// Which instance imports an account's mailbox, in words for the account page: this one
/// (importing now or holding the lease), another one holding the lease, or none (`None`).
pub async fn describe(
    importer: &super::Importer,
    account_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let me = importer.leases.instance_id();
    if importer.is_running(account_id) {
        return Ok(Some(format!("Importing now on this instance ({me}).")));
    }
    let Some(lease) = leases::of_account(&importer.db, account_id).await? else {
        return Ok(None);
    };
    Ok(match lease.owner {
        Some(owner) if lease.expires_at_ms > now_ms() => Some(if owner == me {
            format!("Its mailbox is imported by this instance ({me}).")
        } else {
            format!("Its mailbox is imported by instance {owner}; this page is served by {me}.")
        }),
        _ => None,
    })
}
