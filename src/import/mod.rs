//! The importer: a due-time scheduler that polls each enabled account every `poll_interval`,
//! oldest-due first, never two runs of one account at once, `concurrent_accounts` at a time,
//! and stops gracefully on shutdown.
//!
//! Each account has an indexed next-due time (its last poll's start plus `poll_interval`).
//! The dispatcher starts the oldest-due accounts the moment a slot is free and sleeps until
//! the next due time or a wake-up (Run now, a finished run, an account change). When more is
//! due than the slots can do, every account is still polled in due order: the lag grows
//! evenly and shows in [`lag`], nothing starves. Microsoft's per-mailbox limits hold
//! whatever the concurrency, in [`crate::graph::limits`].

mod blob_sink;
mod ctx;
mod delta;
pub mod diagnose;
pub mod lag;
pub mod lease;
pub mod live;
mod message;
mod observe;
pub mod parser;
pub mod post_action;
pub mod progress;
pub mod rederive;
pub mod run;
pub mod token_source;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::clock::{now, now_ms};
use crate::graph::{GraphErrorKind, GraphSettings, MailboxLimits};
use crate::oauth::TokenService;
use crate::store::Db;
use crate::store::accounts::{self, Account, AccountStatus};
use crate::store::blobs::BlobStore;
use crate::store::runs::{self, RunOutcome, RunSummary};
use crate::store::schedule::{self, PollRecord};
use lag::LagOverview;
use progress::{Progress, Stop};

/// Tunables of the importer.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    /// New messages one run imports at most, so one backlog cannot starve other accounts.
    pub max_messages_per_run: usize,
    /// Listing or delta pages one run reads at most.
    pub max_pages_per_run: usize,
    /// Accounts polled at the same time (`--concurrent-accounts`). A poll mostly waits on
    /// Graph, so this is far above the number of cores.
    pub concurrent_accounts: usize,
    /// Run now may start this many runs beyond `concurrent_accounts`, so that it starts at
    /// once on a busy instance.
    pub extra_requested_runs: usize,
    /// Messages of one account processed at the same time (downloads overlap).
    pub messages_in_parallel: usize,
    /// Whether the dispatcher polls due accounts on its own. Tests turn it off and start
    /// runs themselves (Run now and `run_account` still work).
    pub scheduled: bool,
    /// How long shutdown waits for runs to finish their message in flight.
    pub shutdown_grace: Duration,
    /// How long an account rests after Graph kept throttling it.
    pub throttle_pause: Duration,
    /// Run history older than this is deleted (`--run-history-days`).
    pub history_max_age: Duration,
    /// Run history rows kept per account, newest first (`--run-history-per-account`).
    pub history_per_account: i64,
    pub graph: GraphSettings,
    /// Mailbox leases shared with other instances.
    pub leases: lease::LeaseSettings,
}

/// The default of `--concurrent-accounts`: enough for 10,000 mailboxes polled every minute
/// over a link of about 50 ms per request (167 polls per second).
pub const DEFAULT_CONCURRENT_ACCOUNTS: usize = 32;

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings {
            max_messages_per_run: 1000,
            max_pages_per_run: 50,
            concurrent_accounts: DEFAULT_CONCURRENT_ACCOUNTS,
            extra_requested_runs: 4,
            messages_in_parallel: 8,
            scheduled: true,
            shutdown_grace: Duration::from_secs(20),
            throttle_pause: Duration::from_secs(120),
            history_max_age: Duration::from_secs(30 * 86_400),
            history_per_account: 100,
            graph: GraphSettings::default(),
            leases: lease::LeaseSettings::default(),
        }
    }
}

/// The longest the dispatcher sleeps without a reason: it also notices accounts changed by
/// another process (`mailport import`, a restored backup) within this time.
const IDLE_RECHECK: Duration = Duration::from_secs(30);
/// How often old run history is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub struct Importer {
    inner: Arc<Inner>,
}

pub struct Inner {
    pub db: Db,
    pub blobs: BlobStore,
    pub tokens: TokenService,
    /// Outbound client for Graph: the host policy, no redirects, connect and read timeouts.
    pub graph_http: crate::outbound::OutboundClient,
    pub limits: MailboxLimits,
    pub settings: ImportSettings,
    running: Mutex<HashSet<String>>,
    /// Run now requests, oldest first.
    requested: Mutex<VecDeque<String>>,
    /// Counts of the runs going on, for the screens.
    live: live::LiveRuns,
    wake: Notify,
    /// One permit per scheduled run in progress.
    slots: Arc<Semaphore>,
    /// Extra permits for Run now when every slot is busy.
    extra: Arc<Semaphore>,
    /// The lag overview, recomputed at most every [`lag::CACHE_FOR`].
    lag_cache: Mutex<Option<(tokio::time::Instant, LagOverview)>>,
    /// Parses stored messages one at a time on its own thread: bounds memory.
    pub parser: parser::ParserThread,
    /// Records imported messages, several per WAL sync.
    pub committer: crate::store::committer::Committer,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// This instance's mailbox leases.
    pub leases: lease::Leases,
    /// Stops the lease heartbeat, after the runs stopped.
    lease_stop: CancellationToken,
    /// Set by [`Importer::start`]: a serving instance counts in the fair share of mailboxes.
    serving: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for Importer {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

/// Marks an account as running; dropping it clears the mark.
struct RunningGuard {
    importer: Importer,
    id: String,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.importer
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("The account {0} does not exist.")]
    NoSuchAccount(String),
    #[error("The account {0} is already importing.")]
    AlreadyRunning(String),
    #[error("The account {0} is no longer due.")]
    NotDue(String),
    #[error(
        "The mailbox of account {account} is being imported by instance {owner} (its lease \
         expires in {} s unless renewed).",
        expires_in_ms.div_euclid(1000)
    )]
    LeaseHeld {
        account: String,
        owner: String,
        expires_in_ms: i64,
    },
    #[error(
        "The account {0} lost its mailbox's lease to another instance during the run; \
         nothing of the run's end was recorded."
    )]
    LeaseLost(String),
    #[error("The database failed: {0}.")]
    Database(#[from] sqlx::Error),
}

/// The account's status as a run left it.
struct Concluded {
    status: AccountStatus,
    detail: Option<String>,
    throttled_until: Option<i64>,
}

impl Importer {
    pub fn new(
        db: Db,
        blobs: BlobStore,
        tokens: TokenService,
        graph_http: crate::outbound::OutboundClient,
        settings: ImportSettings,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(settings.concurrent_accounts.max(1)));
        let extra = Arc::new(Semaphore::new(settings.extra_requested_runs));
        let importer = Importer {
            inner: Arc::new(Inner {
                leases: lease::Leases::new(db.clone(), settings.leases.clone()),
                lease_stop: CancellationToken::new(),
                serving: std::sync::atomic::AtomicBool::new(false),
                committer: crate::store::committer::Committer::start(db.clone()),
                db,
                blobs,
                tokens,
                graph_http,
                limits: MailboxLimits::default(),
                settings,
                running: Mutex::default(),
                requested: Mutex::default(),
                live: live::LiveRuns::default(),
                wake: Notify::new(),
                slots,
                extra,
                lag_cache: Mutex::default(),
                parser: parser::ParserThread::start(),
                shutdown: CancellationToken::new(),
                tracker: TaskTracker::new(),
            }),
        };
        let weak = Arc::downgrade(&importer.inner);
        let stop = importer.lease_stop.clone();
        tokio::spawn(lease::keep_leases(weak, stop));
        importer
    }

    pub fn is_running(&self, id: &str) -> bool {
        self.running_set().contains(id)
    }

    fn running_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The accounts importing right now.
    pub fn running_ids(&self) -> HashSet<String> {
        self.running_set().clone()
    }

    /// Marks an account as running, unless it is.
    fn mark_running(&self, id: &str) -> Option<RunningGuard> {
        self.running_set()
            .insert(id.to_string())
            .then(|| RunningGuard {
                importer: self.clone(),
                id: id.to_string(),
            })
    }

    /// Run now: the dispatcher starts the account at once (beyond the concurrency limit if
    /// every slot is busy), unless it is running.
    pub fn request_run(&self, id: &str) {
        {
            let mut queue = self.requested.lock().unwrap_or_else(|e| e.into_inner());
            if !queue.iter().any(|q| q == id) {
                queue.push_back(id.to_string());
            }
        }
        self.wake.notify_one();
    }

    /// A credential was repaired (a new sign-in, token or client secret): its enabled
    /// accounts that waited for consent or for a valid client are ready again and run at
    /// once. Returns the ids of the accounts resumed.
    pub async fn resume_accounts(&self, credential_id: &str) -> sqlx::Result<Vec<String>> {
        let resumed = accounts::credential_repaired(&self.db, credential_id).await?;
        for id in &resumed {
            tracing::info!(account = %id, credential = %credential_id, "credential repaired; resuming imports");
            self.request_run(id);
        }
        Ok(resumed)
    }

    /// Accounts were created, changed or deleted: the dispatcher looks again at once.
    pub fn accounts_changed(&self) {
        *self.lag_cache.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.wake.notify_one();
    }

    /// Starts the scheduler loop in the background.
    pub fn start(&self) {
        self.serving
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let me = self.clone();
        self.tracker.spawn(async move { me.schedule_loop().await });
    }

    /// Stops scheduling, lets runs finish the message in flight, and waits (bounded).
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(self.settings.shutdown_grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("import runs did not stop within the grace period");
        }
        // Runs started outside the scheduler (`run_account`) see the cancellation too; their
        // leases stay until they recorded their end.
        let waited = tokio::time::Instant::now();
        while self.leases.in_use() > 0 && waited.elapsed() < self.settings.shutdown_grace {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Another instance takes the mailboxes over at once rather than after the lease.
        self.lease_stop.cancel();
        self.leases.release_all().await;
    }

    async fn schedule_loop(&self) {
        if let Err(e) = runs::close_interrupted(&self.db).await {
            tracing::error!(error = %e, "could not close interrupted runs");
        }
        let mut next_prune = tokio::time::Instant::now();
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            if tokio::time::Instant::now() >= next_prune {
                self.prune_history().await;
                next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
            }
            let wait = match self.dispatch().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!(error = %e, "import scheduler failed to read accounts");
                    Duration::from_secs(5)
                }
            };
            let wait = wait.min(next_prune.saturating_duration_since(tokio::time::Instant::now()));
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Starts Run now requests, then due accounts while slots are free. Returns how long
    /// the dispatcher may sleep before something becomes due.
    async fn dispatch(&self) -> Result<Duration, sqlx::Error> {
        self.start_requested();
        if !self.settings.scheduled {
            return Ok(IDLE_RECHECK);
        }
        loop {
            let free = self.slots.available_permits();
            if free == 0 {
                // A finished run wakes the dispatcher.
                return Ok(IDLE_RECHECK);
            }
            let now = now();
            let running = self.running_set().len();
            let due = crate::store::leases::due(
                &self.db,
                self.leases.instance_id(),
                now,
                now_ms(),
                (free + running) as i64,
            )
            .await?;
            let mut waiting = 0;
            for d in due {
                let overdue = Duration::from_secs((now - d.next_due_at).max(0) as u64);
                if !self.leases.may_claim_for_schedule(&d.lease_key, overdue) {
                    // Beyond this instance's share: another instance polls it.
                    continue;
                }
                let Some(guard) = self.mark_running(&d.id) else {
                    continue;
                };
                let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                    break;
                };
                waiting += 1;
                self.spawn_run(guard, Some(d.next_due_at), permit);
            }
            if waiting == 0 {
                let next = schedule::next_due_after(&self.db, now).await?;
                return Ok(next.map_or(IDLE_RECHECK, |t| until_unix(t).min(IDLE_RECHECK)));
            }
        }
    }

    /// Starts queued Run now requests while a slot or an extra permit is free.
    fn start_requested(&self) {
        loop {
            let Some(id) = self
                .requested
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
            else {
                return;
            };
            let Some(guard) = self.mark_running(&id) else {
                continue;
            };
            let permit = self
                .slots
                .clone()
                .try_acquire_owned()
                .or_else(|_| self.extra.clone().try_acquire_owned());
            match permit {
                Ok(permit) => self.spawn_run(guard, None, permit),
                Err(_) => {
                    drop(guard);
                    // Back to the head of the queue: the next finished run starts it.
                    self.requested
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_front(id);
                    return;
                }
            }
        }
    }

    fn spawn_run(&self, guard: RunningGuard, due_at: Option<i64>, permit: OwnedSemaphorePermit) {
        let me = self.clone();
        self.tracker.spawn(async move {
            let id = guard.id.clone();
            let run = me.run_marked(guard, due_at);
            match run.await {
                Ok(_) => {}
                Err(RunError::Database(e)) => {
                    // The poll could not be recorded, so the account is still due: hold the
                    // slot a while rather than poll it again and again.
                    tracing::error!(account = %id, error = %e, "could not record a poll");
                    tokio::select! {
                        _ = me.shutdown.cancelled() => {}
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
                Err(RunError::LeaseHeld { .. }) if due_at.is_none() => {
                    // Run now on an instance that does not hold the mailbox: the holder
                    // sees the request within a second and runs it.
                    if let Err(e) = crate::store::leases::request_run(&me.db, &id, now()).await {
                        tracing::error!(account = %id, error = %e, "could not pass Run now on");
                    }
                }
                Err(e) => tracing::debug!(account = %id, error = %e, "run not started"),
            }
            drop(permit);
            // A finished run starts the next due account at once.
            me.wake.notify_one();
        });
    }

    /// Deletes run history older than `history_max_age`, a batch at a time.
    async fn prune_history(&self) {
        let cutoff = now() - self.settings.history_max_age.as_secs() as i64;
        loop {
            match runs::prune_started_before(&self.db, cutoff, 1000).await {
                Ok(1000) => tokio::task::yield_now().await,
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(rows = n, "pruned old run history");
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not prune run history");
                    return;
                }
            }
        }
    }

    /// Poll lag over every enabled account (cached for a moment: the accounts list,
    /// `/api/v1/accounts` and `/healthz` all ask).
    pub async fn lag_overview(&self) -> Result<LagOverview, sqlx::Error> {
        if let Some((at, overview)) = &*self.lag_cache.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < lag::CACHE_FOR
        {
            return Ok(overview.clone());
        }
        let rows = schedule::lag_rows(&self.db).await?;
        let overview = lag::overview(&rows, &self.running_ids(), now_ms());
        *self.lag_cache.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((tokio::time::Instant::now(), overview.clone()));
        Ok(overview)
    }

    /// One run of an account: recorded on the account, and in the run history when it
    /// imported something or failed. Used by Run now and `mailport import`.
    pub async fn run_account(&self, id: &str) -> Result<RunSummary, RunError> {
        let guard = self
            .mark_running(id)
            .ok_or_else(|| RunError::AlreadyRunning(id.to_string()))?;
        self.run_marked(guard, None).await
    }

    /// A run of an account already marked as running; `due_at` for a scheduled poll. Its
    /// log lines name this instance and the account.
    async fn run_marked(
        &self,
        guard: RunningGuard,
        due_at: Option<i64>,
    ) -> Result<RunSummary, RunError> {
        let span = observe::run_span(&guard.id, self.leases.instance_id());
        self.run_leased(guard, due_at).instrument(span).await
    }

    /// [`Self::run_marked`] under the mailbox's lease: claimed first, and every write that
    /// ends the run carries its fence.
    async fn run_leased(
        &self,
        guard: RunningGuard,
        due_at: Option<i64>,
    ) -> Result<RunSummary, RunError> {
        let id = guard.id.as_str();
        let account = accounts::get(&self.db, id)
            .await?
            .ok_or_else(|| RunError::NoSuchAccount(id.to_string()))?;
        let started_ms = now_ms();
        let started_at = started_ms.div_euclid(1000);
        if due_at.is_some()
            && !(account.enabled && account.next_due_at.is_some_and(|t| t <= started_at))
        {
            // Disabled or rescheduled since the dispatcher chose it.
            return Err(RunError::NotDue(id.to_string()));
        }
        let lease = match self.leases.secure(id).await {
            Ok(lease) => lease,
            Err(lease::NotLeased::HeldElsewhere {
                owner,
                expires_in_ms,
            }) => {
                return Err(RunError::LeaseHeld {
                    account: id.to_string(),
                    owner,
                    expires_in_ms,
                });
            }
            Err(lease::NotLeased::NoSuchAccount) => {
                return Err(RunError::NoSuchAccount(id.to_string()));
            }
            Err(lease::NotLeased::Database(e)) => return Err(e.into()),
        };
        if due_at.is_none() {
            // Run now (here or passed on by another instance) and `mailport import`.
            crate::store::leases::clear_run_request(&self.db, id).await?;
        }
        let progress = Arc::new(Progress::new(self.settings.max_messages_per_run));
        let shown = self.live.register(id, started_at, progress.clone());
        let result = run::run(self, &account, &self.shutdown, &progress).await;
        let (summary, delta_link) = progress.take_parts();
        let (summary, concluded) = self.conclude(&account, result, summary).await?;
        let next_due_at = match summary.outcome {
            // Not polled while its credential is dead: the key button repairs it.
            _ if concluded.status == AccountStatus::NeedsConsent => None,
            // Cut short by shutdown: its work resumes at once after the restart.
            RunOutcome::Cancelled => account.next_due_at,
            // A backlog: due again now, so it goes on as soon as the accounts already due
            // had their turn (oldest-due first keeps it from delaying them).
            RunOutcome::Ok if summary.capped => Some(now()),
            _ => Some(
                (started_at + account.poll_interval).max(concluded.throttled_until.unwrap_or(0)),
            ),
        };
        let fence = lease.fence();
        let recorded = schedule::record_poll(
            &self.db,
            &fence,
            id,
            &PollRecord {
                started_at,
                lag_ms: due_at.map(|due| (started_ms - due * 1000).max(0)),
                finished_at: now(),
                outcome: summary.outcome,
                imported: summary.imported,
                status: concluded.status,
                status_detail: concluded.detail.as_deref(),
                throttled_until: concluded.throttled_until,
                next_due_at,
                read_updated_at: account.updated_at,
                delta_link: delta_link.as_deref(),
            },
        )
        .await?;
        if !recorded {
            tracing::warn!("lost the mailbox lease during the run: nothing of its end recorded");
            return Err(RunError::LeaseLost(id.to_string()));
        }
        if summary.is_noteworthy() {
            runs::record(
                &self.db,
                &fence,
                id,
                started_at,
                &summary,
                self.settings.history_per_account,
            )
            .await?;
        }
        let took = Duration::from_millis(u64::try_from(now_ms() - started_ms).unwrap_or(0));
        observe::run_finished(self, id, &summary, took);
        // Only now: until the account and the run log hold the final counts, the screens
        // read them here.
        drop(shown);
        if summary.is_noteworthy() {
            tracing::info!(
                account = %id,
                outcome = %summary.outcome,
                imported = summary.imported,
                skipped = summary.skipped,
                failed = summary.failed,
                "import run finished"
            );
        } else {
            tracing::debug!(account = %id, "empty poll");
        }
        drop(guard);
        Ok(summary)
    }

    /// Turns a run's end into its outcome and the account's status.
    async fn conclude(
        &self,
        account: &Account,
        result: Result<(), Stop>,
        summary: RunSummary,
    ) -> Result<(RunSummary, Concluded), sqlx::Error> {
        let mut s = summary;
        let (status, detail, throttled_until) = match result {
            Ok(()) => {
                s.outcome = RunOutcome::Ok;
                let detail = (s.failed > 0 || s.post_action_failures > 0).then(|| {
                    format!(
                        "{} messages failed and {} post-import actions failed; they are retried.",
                        s.failed, s.post_action_failures
                    )
                });
                (AccountStatus::Ok, detail, None)
            }
            Err(Stop::Cancelled) => {
                s.outcome = RunOutcome::Cancelled;
                s.error_message =
                    Some("Mailport was shutting down; the next run goes on from here.".into());
                (account.status, account.status_detail.clone(), None)
            }
            Err(Stop::Credential { status, detail }) => {
                s.outcome = RunOutcome::Error;
                s.error_code = Some(status.to_string());
                s.error_message = Some(detail.clone());
                (status, Some(detail), None)
            }
            Err(Stop::Storage(msg)) => {
                s.outcome = RunOutcome::Error;
                s.error_code = Some("storage".into());
                s.error_message = Some(format!(
                    "{} The mailbox was left untouched.",
                    crate::prose::sentence(msg.to_string())
                ));
                (AccountStatus::Error, s.error_message.clone(), None)
            }
            Err(Stop::Graph(e)) => {
                s.outcome = RunOutcome::Error;
                s.error_code = e.code.clone().or(Some(e.kind.as_str().to_string()));
                s.error_message = Some(e.message.clone());
                if e.request_id.is_some() {
                    s.request_id = e.request_id.clone();
                }
                match e.kind {
                    GraphErrorKind::Throttled => (
                        AccountStatus::Throttled,
                        Some(format!("Graph kept throttling this mailbox. {}", e.message)),
                        Some(now() + self.settings.throttle_pause.as_secs() as i64),
                    ),
                    GraphErrorKind::Unauthorized => {
                        let cred = crate::store::credentials::get(&self.db, &account.credential_id)
                            .await?;
                        let status = cred
                            .map(|c| account_status_for(c.stored_status()))
                            .unwrap_or(AccountStatus::Error);
                        (status, Some(e.to_string()), None)
                    }
                    _ => (AccountStatus::Error, Some(e.to_string()), None),
                }
            }
        };
        let status = if account.enabled {
            status
        } else {
            AccountStatus::Disabled
        };
        let concluded = Concluded {
            status,
            detail,
            throttled_until,
        };
        Ok((s, concluded))
    }
}

/// How long until a unix time (at least a few milliseconds).
fn until_unix(t: i64) -> Duration {
    let target = std::time::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    target
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
        .max(Duration::from_millis(5))
}

/// The account status that names a credential's problem: "needs consent" sends the admin
/// to the key button, "invalid client" to the client secret.
fn account_status_for(credential: crate::oauth::credential::TokenStatus) -> AccountStatus {
    use crate::oauth::credential::TokenStatus;
    match credential {
        TokenStatus::NeedsConsent => AccountStatus::NeedsConsent,
        TokenStatus::InvalidClient => AccountStatus::InvalidClient,
        _ => AccountStatus::Error,
    }
}
