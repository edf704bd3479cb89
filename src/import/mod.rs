//! The importer: a background scheduler that runs each enabled account every
//! `poll_interval`, never two runs of one account at once, a few accounts concurrently,
//! and stops gracefully on shutdown.

pub mod diagnose;
pub mod live;
pub mod parser;
pub mod post_action;
pub mod run;
pub mod token_source;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::graph::{GraphErrorKind, GraphSettings, MailboxLimits};
use crate::oauth::TokenService;
use crate::store::accounts::{self, Account};
use crate::store::blobs::BlobStore;
use crate::store::runs::{self, RunSummary};
use crate::store::{Db, now};
use run::{Progress, Stop};

/// Tunables of the importer.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    /// New messages one run imports at most, so one backlog cannot starve other accounts.
    pub max_messages_per_run: usize,
    /// Listing or delta pages one run reads at most.
    pub max_pages_per_run: usize,
    /// Accounts importing at the same time.
    pub concurrent_accounts: usize,
    /// Messages of one account processed at the same time (downloads overlap).
    pub messages_in_parallel: usize,
    /// How often the scheduler looks for due accounts.
    pub tick: Duration,
    /// How long shutdown waits for runs to finish their message in flight.
    pub shutdown_grace: Duration,
    /// How long an account rests after Graph kept throttling it.
    pub throttle_pause: Duration,
    pub graph: GraphSettings,
}

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings {
            max_messages_per_run: 1000,
            max_pages_per_run: 50,
            concurrent_accounts: 4,
            messages_in_parallel: 8,
            tick: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(20),
            throttle_pause: Duration::from_secs(120),
            graph: GraphSettings::default(),
        }
    }
}

#[derive(Clone)]
pub struct Importer {
    inner: Arc<Inner>,
}

pub struct Inner {
    pub db: Db,
    pub blobs: BlobStore,
    pub tokens: TokenService,
    /// Outbound client for Graph: no redirects, connect and read timeouts.
    pub graph_http: reqwest::Client,
    pub limits: MailboxLimits,
    pub settings: ImportSettings,
    running: Mutex<HashSet<String>>,
    requested: Mutex<HashSet<String>>,
    /// Counts of the runs going on, for the screens.
    live: live::LiveRuns,
    wake: Notify,
    slots: Arc<Semaphore>,
    /// Parses stored messages one at a time on its own thread: bounds memory.
    pub parser: parser::ParserThread,
    /// Records imported messages, several per WAL sync.
    pub committer: crate::store::messages::Committer,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl std::ops::Deref for Importer {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

/// Marks an account as running; dropping it clears the mark.
struct RunningGuard<'a> {
    importer: &'a Importer,
    id: String,
}

impl Drop for RunningGuard<'_> {
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
    #[error("The database failed: {0}.")]
    Database(#[from] sqlx::Error),
}

impl Importer {
    pub fn new(
        db: Db,
        blobs: BlobStore,
        tokens: TokenService,
        graph_http: reqwest::Client,
        settings: ImportSettings,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(settings.concurrent_accounts.max(1)));
        Importer {
            inner: Arc::new(Inner {
                committer: crate::store::messages::Committer::start(db.clone()),
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
                parser: parser::ParserThread::start(),
                shutdown: CancellationToken::new(),
                tracker: TaskTracker::new(),
            }),
        }
    }

    pub fn is_running(&self, id: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    /// Run now: the scheduler starts the account at its next tick, unless it is running.
    pub fn request_run(&self, id: &str) {
        self.requested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string());
        self.wake.notify_one();
    }

    /// Starts the scheduler loop in the background.
    pub fn start(&self) {
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
    }

    async fn schedule_loop(&self) {
        if let Err(e) = runs::close_interrupted(&self.db).await {
            tracing::error!(error = %e, "could not close interrupted runs");
        }
        loop {
            if let Err(e) = self.start_due().await {
                tracing::error!(error = %e, "import scheduler failed to read accounts");
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.tick) => {}
            }
        }
    }

    async fn start_due(&self) -> Result<(), sqlx::Error> {
        let now = now();
        for account in accounts::list(&self.db).await? {
            let requested = self
                .requested
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&account.id);
            if self.is_running(&account.id) || !(requested || self.is_due(&account, now).await?) {
                continue;
            }
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                if requested {
                    self.request_run(&account.id);
                }
                break;
            };
            let me = self.clone();
            let id = account.id.clone();
            self.tracker.spawn(async move {
                let _permit = permit;
                if let Err(e) = me.run_account(&id).await {
                    tracing::debug!(account = %id, error = %e, "run not started");
                }
            });
        }
        Ok(())
    }

    async fn is_due(&self, account: &Account, now: i64) -> Result<bool, sqlx::Error> {
        if !account.enabled {
            return Ok(false);
        }
        if account.throttled_until.is_some_and(|t| t > now) {
            return Ok(false);
        }
        // Not polled while its credential is dead: the key button repairs it.
        if account.status == "needs_consent"
            && let Some(cred) =
                crate::store::credentials::get(&self.db, &account.credential_id).await?
            && cred.stored_status() != crate::store::credentials::TokenStatus::Valid
        {
            return Ok(false);
        }
        Ok(match runs::last_completed(&self.db, &account.id).await? {
            None => true,
            Some(run) => {
                let since = run.finished_at.unwrap_or(run.started_at);
                now - since >= account.poll_interval
            }
        })
    }

    /// One run of an account, recorded in the run log. Used by the scheduler, Run now and
    /// `mailport import`.
    pub async fn run_account(&self, id: &str) -> Result<RunSummary, RunError> {
        {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if !running.insert(id.to_string()) {
                return Err(RunError::AlreadyRunning(id.to_string()));
            }
        }
        let _guard = RunningGuard {
            importer: self,
            id: id.to_string(),
        };
        let account = accounts::get(&self.db, id)
            .await?
            .ok_or_else(|| RunError::NoSuchAccount(id.to_string()))?;
        let run_id = runs::start(&self.db, id).await?;
        let progress = Arc::new(Progress::new(self.settings.max_messages_per_run));
        let shown = self.live.register(id, progress.clone());
        let result = run::run(self, &account, &self.shutdown, &progress).await;
        let summary = self.conclude(&account, result, progress.snapshot()).await?;
        runs::finish(&self.db, run_id, &summary).await?;
        // Only now: until the run log holds the final counts, the screens read them here.
        drop(shown);
        tracing::info!(
            account = %id,
            outcome = %summary.outcome,
            imported = summary.imported,
            skipped = summary.skipped,
            failed = summary.failed,
            "import run finished"
        );
        Ok(summary)
    }

    /// Turns a run's end into its outcome and the account's status.
    async fn conclude(
        &self,
        account: &Account,
        result: Result<(), Stop>,
        summary: RunSummary,
    ) -> Result<RunSummary, sqlx::Error> {
        let mut s = summary;
        let (status, detail, throttled_until) = match result {
            Ok(()) => {
                s.outcome = "ok".into();
                let detail = (s.failed > 0 || s.post_action_failures > 0).then(|| {
                    format!(
                        "{} messages failed and {} post-import actions failed; they are retried.",
                        s.failed, s.post_action_failures
                    )
                });
                ("ok", detail, None)
            }
            Err(Stop::Cancelled) => {
                s.outcome = "cancelled".into();
                s.error_message =
                    Some("Mailport was shutting down; the next run goes on from here.".into());
                (account.status.as_str(), account.status_detail.clone(), None)
            }
            Err(Stop::Credential { status, detail }) => {
                s.outcome = "error".into();
                s.error_code = Some(status.to_string());
                s.error_message = Some(detail.clone());
                (status, Some(detail), None)
            }
            Err(Stop::Storage(msg)) => {
                s.outcome = "error".into();
                s.error_code = Some("storage".into());
                s.error_message = Some(format!(
                    "{} The mailbox was left untouched.",
                    crate::prose::sentence(msg)
                ));
                ("error", s.error_message.clone(), None)
            }
            Err(Stop::Graph(e)) => {
                s.outcome = "error".into();
                s.error_code = e.code.clone().or(Some(e.kind.as_str().to_string()));
                s.error_message = Some(e.message.clone());
                if e.request_id.is_some() {
                    s.request_id = e.request_id.clone();
                }
                match e.kind {
                    GraphErrorKind::Throttled => (
                        "throttled",
                        Some(format!("Graph kept throttling this mailbox. {}", e.message)),
                        Some(now() + self.settings.throttle_pause.as_secs() as i64),
                    ),
                    GraphErrorKind::Unauthorized => {
                        let cred = crate::store::credentials::get(&self.db, &account.credential_id)
                            .await?;
                        let dead = cred.is_some_and(|c| {
                            c.stored_status() != crate::store::credentials::TokenStatus::Valid
                        });
                        (
                            if dead { "needs_consent" } else { "error" },
                            Some(e.to_string()),
                            None,
                        )
                    }
                    _ => ("error", Some(e.to_string()), None),
                }
            }
        };
        let status = if account.enabled { status } else { "disabled" };
        accounts::set_status(
            &self.db,
            &account.id,
            status,
            detail.as_deref(),
            throttled_until,
        )
        .await?;
        Ok(s)
    }
}
