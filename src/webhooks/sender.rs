//! The sender: a background task that works through due deliveries of the outbox, a few at a
//! time per endpoint, and records every attempt.
//!
//! At-least-once: a delivery is marked delivered only after its receiver answered 2xx, in a
//! transaction of its own. A crash in between sends it again after the restart, with the
//! same `webhook-id` and the same body, so the receiver can drop the duplicate.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use super::WebhookSettings;
use super::payload::{Outgoing, PayloadError, PayloadSource};
use super::policy::check_endpoint_url;
use super::signature::{secret_key, signature_header};
use crate::clock::now;
use crate::crypto::MasterKey;
use crate::outbound::{HostPolicy, OutboundClient, Use};
use crate::store::blobs::BlobStore;
use crate::store::webhooks::{self, Attempt, DueDelivery, Endpoint, Then};
use crate::store::{Db, outbox};

/// The first bytes of an answer kept in the attempt log.
const EXCERPT_BYTES: usize = 1024;
/// Due deliveries fetched at once for one endpoint.
const BATCH: i64 = 64;

#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// Records attempts, several per transaction.
    recorder: tokio::sync::mpsc::Sender<Recorded>,
    key: MasterKey,
    source: PayloadSource,
    http: OutboundClient,
    settings: WebhookSettings,
    /// Endpoints that have a worker right now.
    workers: Mutex<HashSet<String>>,
    wake: Notify,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// What one HTTP attempt brought back.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    /// The first bytes of the body, as text.
    pub excerpt: Option<String>,
    /// Why there was no answer (or why it could not be used).
    pub error: Option<String>,
    pub duration: Duration,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

impl Sender {
    /// A sender for this database; nothing runs until [`Sender::start`].
    pub fn new(
        db: Db,
        blobs: BlobStore,
        key: MasterKey,
        public_url: Url,
        settings: WebhookSettings,
        hosts: &HostPolicy,
    ) -> anyhow::Result<Self> {
        // The outbound host policy builds the client: no redirects, and every connection's
        // addresses checked after DNS (so a name that changes after saving is refused).
        let http = hosts.client(
            Use::Webhook,
            reqwest::Client::builder()
                .timeout(settings.timeout)
                .connect_timeout(settings.connect_timeout)
                .tcp_nodelay(true)
                .user_agent(concat!("Mailport/", env!("CARGO_PKG_VERSION"))),
        )?;
        Ok(Sender {
            inner: Arc::new(Inner {
                recorder: start_recorder(db.clone()),
                source: PayloadSource {
                    db: db.clone(),
                    blobs,
                    public_url,
                },
                db,
                key,
                http,
                settings,
                workers: Mutex::default(),
                wake: Notify::new(),
                shutdown: CancellationToken::new(),
                tracker: TaskTracker::new(),
            }),
        })
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.inner.settings
    }

    /// Starts the background task.
    pub fn start(&self) {
        let me = self.clone();
        self.inner
            .tracker
            .spawn(async move { me.dispatch_loop().await });
    }

    /// Looks for due deliveries now (after a redelivery was asked for, say).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops taking new deliveries and lets those in flight finish, within the grace period.
    /// Deliveries cut off are still pending in the database and are sent after the restart.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        if tokio::time::timeout(
            self.inner.settings.shutdown_grace,
            self.inner.tracker.wait(),
        )
        .await
        .is_err()
        {
            tracing::warn!(
                "webhook deliveries did not finish within the grace period; they are sent again after the restart"
            );
        }
    }

    async fn dispatch_loop(&self) {
        loop {
            let written = outbox::written();
            tokio::pin!(written);
            written.as_mut().enable();
            let woken = self.inner.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Err(e) = self.dispatch().await {
                tracing::error!(error = %e, "webhook sender could not read the outbox");
            }
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = written => {}
                _ = woken => {}
                _ = tokio::time::sleep(self.inner.settings.tick) => {}
            }
        }
    }

    /// Starts a worker for every endpoint with due deliveries that has none. Returns how
    /// many were started.
    pub async fn dispatch(&self) -> sqlx::Result<usize> {
        let mut started = 0;
        for id in webhooks::endpoints_due(&self.inner.db, now()).await? {
            if self.inner.shutdown.is_cancelled() {
                break;
            }
            let fresh = self
                .inner
                .workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone());
            if fresh {
                let me = self.clone();
                self.inner.tracker.spawn(async move {
                    if let Err(e) = me.endpoint_worker(&id).await {
                        tracing::error!(endpoint = %id, error = %e, "webhook worker stopped");
                    }
                    me.inner
                        .workers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&id);
                    // Deliveries may have come due while it wound down.
                    me.wake();
                });
                started += 1;
            }
        }
        Ok(started)
    }

    /// Sends an endpoint's due deliveries, `concurrency_per_endpoint` at a time, until none
    /// is due, the endpoint is disabled or paused, or shutdown. Returns only when none of
    /// its deliveries is in flight any more, so that the next worker cannot send one twice.
    async fn endpoint_worker(&self, endpoint_id: &str) -> sqlx::Result<()> {
        let n = self.inner.settings.concurrency_per_endpoint.max(1);
        let slots = Arc::new(Semaphore::new(n));
        let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let finished = Arc::new(Notify::new());
        // Set by an attempt that paused or disabled the endpoint: stop sending.
        let halt = Arc::new(AtomicBool::new(false));
        let mut queue: VecDeque<DueDelivery> = VecDeque::new();
        let mut current: Option<Arc<Target>> = None;
        let result = loop {
            if self.inner.shutdown.is_cancelled() || halt.load(Ordering::SeqCst) {
                break Ok(());
            }
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break Ok(());
            };
            if queue.is_empty() {
                let wait_for_finish = finished.notified();
                tokio::pin!(wait_for_finish);
                wait_for_finish.as_mut().enable();
                let Some(endpoint) = webhooks::get(&self.inner.db, endpoint_id).await? else {
                    break Ok(());
                };
                let at = now();
                if !endpoint.enabled || endpoint.paused_until.is_some_and(|p| p > at) {
                    break Ok(());
                }
                current = Some(Arc::new(self.target(&endpoint)));
                let busy: HashSet<i64> =
                    in_flight.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let due = webhooks::due(&self.inner.db, endpoint_id, at, BATCH + busy.len() as i64)
                    .await?;
                queue.extend(due.into_iter().filter(|d| !busy.contains(&d.id)));
                if queue.is_empty() {
                    if busy.is_empty() {
                        break Ok(());
                    }
                    drop(slot);
                    // Nothing new is due: wait for one in flight to finish, then look again.
                    tokio::select! {
                        _ = wait_for_finish => {}
                        _ = self.inner.shutdown.cancelled() => {}
                    }
                    continue;
                }
            }
            let (Some(delivery), Some(target)) = (queue.pop_front(), current.clone()) else {
                continue;
            };
            in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(delivery.id);
            let me = self.clone();
            let in_flight = in_flight.clone();
            let finished = finished.clone();
            let halt = halt.clone();
            self.inner.tracker.spawn(async move {
                let then = me.deliver(&target, &delivery).await;
                if matches!(then, Some(Then::Gone | Then::Paused { .. })) {
                    halt.store(true, Ordering::SeqCst);
                }
                in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&delivery.id);
                drop(slot);
                finished.notify_waiters();
            });
        };
        // Every slot back means nothing of this endpoint is in flight.
        let _all = slots.acquire_many(n as u32).await;
        result
    }

    /// Where and how an endpoint's deliveries go, decrypted once per batch.
    fn target(&self, e: &Endpoint) -> Target {
        let context = webhooks::secret_context(&e.id);
        let decrypt = |blob: &[u8]| {
            self.inner
                .key
                .decrypt_string(&context, blob)
                .ok()
                .and_then(|s| secret_key(&s))
        };
        let mut keys = Vec::new();
        keys.extend(decrypt(&e.secret));
        if let Some(previous) = e.valid_previous_secret(now()) {
            keys.extend(decrypt(previous));
        }
        Target {
            endpoint_id: e.id.clone(),
            uid: e.uid.clone(),
            url: e.url.clone(),
            payload: e.payload(),
            inline_up_to: (e.include_attachments_mb.max(0) as u64) * 1024 * 1024,
            keys,
        }
    }

    /// One attempt of one delivery, recorded. Returns what became of it (None when the
    /// record could not be written: the delivery stays due and is tried again).
    async fn deliver(&self, target: &Target, d: &DueDelivery) -> Option<Then> {
        let at = now();
        let answer = match self
            .inner
            .source
            .build_for_event(target.payload, target.inline_up_to, d.event_id)
            .await
        {
            Ok(outgoing) => {
                self.post(target, &webhook_id(&target.uid, d.id), &outgoing)
                    .await
            }
            Err(PayloadError::Gone) => {
                // Nothing left to send, ever: no point in retrying.
                let attempt = Attempt {
                    delivery_id: d.id,
                    endpoint_id: target.endpoint_id.clone(),
                    at,
                    duration_ms: 0,
                    status_code: None,
                    response_excerpt: None,
                    error: Some(PayloadError::Gone.to_string()),
                    manual: d.manual,
                    then: Then::Dead {
                        failures: d.failures + 1,
                    },
                };
                return self.record(&attempt).await;
            }
            Err(e) => Answer {
                error: Some(e.to_string()),
                ..Answer::default()
            },
        };
        let then = self.next_step(d, &answer);
        let attempt = Attempt {
            delivery_id: d.id,
            endpoint_id: target.endpoint_id.clone(),
            at,
            duration_ms: answer.duration.as_millis().min(i64::MAX as u128) as i64,
            status_code: answer.status,
            response_excerpt: answer.excerpt.clone(),
            error: answer.error.clone(),
            manual: d.manual,
            then,
        };
        self.record(&attempt).await
    }

    /// Records an attempt (with others finishing at the same time); what became of the
    /// delivery, or None when it could not be recorded (it stays due and is sent again).
    async fn record(&self, attempt: &Attempt) -> Option<Then> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self
            .inner
            .recorder
            .send((attempt.clone(), reply))
            .await
            .is_err()
        {
            return None;
        }
        answer.await.ok().flatten()
    }

    /// What an answer means for the delivery (Standard Webhooks, "Delivery success and
    /// failure"): 2xx delivered; 410 disables the endpoint; 429 and 503 with Retry-After
    /// pause the endpoint as asked without moving along the schedule; anything else (other
    /// codes, redirects, timeouts, connection errors) is retried on the schedule with jitter,
    /// and dead when it runs out.
    pub fn next_step(&self, d: &DueDelivery, answer: &Answer) -> Then {
        if answer.is_success() {
            return Then::Delivered;
        }
        match (answer.status, answer.retry_after) {
            (Some(410), _) => return Then::Gone,
            (Some(429 | 503), Some(wait)) => {
                return Then::Paused {
                    until: unix_after(wait.max(Duration::from_secs(1))),
                };
            }
            _ => {}
        }
        let failures = d.failures + 1;
        let schedule = &self.inner.settings.retry_schedule;
        match usize::try_from(failures - 1)
            .ok()
            .and_then(|i| schedule.get(i))
        {
            None => Then::Dead { failures },
            Some(delay) => {
                let jitter = self.inner.settings.jitter.max(0.0);
                let factor = if jitter > 0.0 {
                    1.0 + rand::thread_rng().gen_range(0.0..jitter)
                } else {
                    1.0
                };
                Then::Retry {
                    at: unix_after(delay.mul_f64(factor)),
                    failures,
                }
            }
        }
    }

    /// POSTs a body with the Standard Webhooks headers; reads at most `max_response_bytes`.
    async fn post(&self, target: &Target, webhook_id: &str, outgoing: &Outgoing) -> Answer {
        let started = Instant::now();
        let mut answer = self.post_inner(target, webhook_id, outgoing).await;
        answer.duration = started.elapsed();
        answer
    }

    async fn post_inner(&self, target: &Target, webhook_id: &str, outgoing: &Outgoing) -> Answer {
        let url = match check_endpoint_url(&target.url, self.inner.http.policy()) {
            Ok(url) => url,
            Err(e) => {
                return Answer {
                    error: Some(format!("refused by the host policy: {e}")),
                    ..Answer::default()
                };
            }
        };
        if target.keys.is_empty() {
            return Answer {
                error: Some(
                    "the signing secret cannot be decrypted (wrong MAILPORT_SECRET_KEY or secret.key?); rotate the secret".into(),
                ),
                ..Answer::default()
            };
        }
        let timestamp = now();
        let signature = signature_header(
            &target.keys.iter().map(Vec::as_slice).collect::<Vec<_>>(),
            webhook_id,
            timestamp,
            &outgoing.body,
        );
        let request = match self.inner.http.request(reqwest::Method::POST, url) {
            Ok(request) => request,
            Err(refused) => {
                return Answer {
                    error: Some(format!("refused by the host policy: {refused}")),
                    ..Answer::default()
                };
            }
        };
        let mut request = request
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header(CONTENT_TYPE, outgoing.content_type);
        for (name, value) in &outgoing.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                request = request.header(HeaderName::from_static(name), value);
            }
        }
        let response = match request.body(outgoing.body.clone()).send().await {
            Ok(r) => r,
            Err(e) => {
                return Answer {
                    error: Some(describe(&e)),
                    ..Answer::default()
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = crate::retry_after::from_headers(response.headers());
        let (excerpt, error) = read_excerpt(response, self.inner.settings.max_response_bytes).await;
        Answer {
            status: Some(status),
            retry_after,
            excerpt,
            error,
            duration: Duration::ZERO,
        }
    }

    /// Sends a `ping` event to an endpoint now (the Test button) and returns the answer; it
    /// is not queued and not retried.
    pub async fn ping(&self, endpoint: &Endpoint) -> Answer {
        let target = self.target(endpoint);
        let id = format!(
            "msg_{}_ping{}",
            endpoint.uid,
            crate::crypto::random_token(6)
        );
        self.post(&target, &id, &super::payload::ping(&endpoint.id, now()))
            .await
    }
}

/// An attempt waiting to be recorded, and where the outcome goes.
type Recorded = (Attempt, tokio::sync::oneshot::Sender<Option<Then>>);

/// Most attempts recorded in one transaction.
const RECORD_GROUP: usize = 64;

/// Starts the task that records attempts: those that finish together share one transaction,
/// so the sender takes few turns at SQLite's single writer (which the import's commits need
/// too). A group that fails is recorded one attempt at a time, so one bad record cannot take
/// the others with it. Ends with the last [`Sender`].
fn start_recorder(db: Db) -> tokio::sync::mpsc::Sender<Recorded> {
    let (queue, mut waiting) = tokio::sync::mpsc::channel::<Recorded>(RECORD_GROUP);
    tokio::spawn(async move {
        let mut group = Vec::with_capacity(RECORD_GROUP);
        while waiting.recv_many(&mut group, RECORD_GROUP).await > 0 {
            let (attempts, replies): (Vec<Attempt>, Vec<_>) = group.drain(..).unzip();
            if webhooks::record_attempts(&db, &attempts).await.is_ok() {
                for (attempt, reply) in attempts.into_iter().zip(replies) {
                    let _ = reply.send(Some(attempt.then));
                }
                continue;
            }
            for (attempt, reply) in attempts.into_iter().zip(replies) {
                let outcome = match webhooks::record_attempt(&db, &attempt).await {
                    Ok(()) => Some(attempt.then),
                    Err(e) => {
                        tracing::error!(delivery = attempt.delivery_id, error = %e, "could not record a webhook attempt; it is sent again");
                        None
                    }
                };
                let _ = reply.send(outcome);
            }
        }
    });
    queue
}

/// An endpoint as one worker sends to it.
struct Target {
    endpoint_id: String,
    uid: String,
    url: String,
    payload: webhooks::Payload,
    inline_up_to: u64,
    /// The current secret's key, then the previous one's while it is valid.
    keys: Vec<Vec<u8>>,
}

/// The `webhook-id` of a delivery: the same on every attempt, unique across endpoints (the
/// endpoint's random uid) and deliveries.
pub fn webhook_id(endpoint_uid: &str, delivery_id: i64) -> String {
    format!("msg_{endpoint_uid}_{delivery_id}")
}

/// Unix seconds at least `wait` from now (rounded up, so that a retry is never early).
fn unix_after(wait: Duration) -> i64 {
    let when = SystemTime::now() + wait;
    let since = when.duration_since(UNIX_EPOCH).unwrap_or_default();
    since.as_secs() as i64 + i64::from(since.subsec_nanos() > 0)
}

/// A transport error in words, with its causes (the host policy's refusal among them),
/// never with the URL's query.
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// Reads at most `max` bytes of an answer; returns its first bytes as text, and an error if
/// the body broke off.
async fn read_excerpt(
    mut response: reqwest::Response,
    max: usize,
) -> (Option<String>, Option<String>) {
    let mut body = Vec::new();
    let mut read = 0;
    let mut error = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() < EXCERPT_BYTES {
                    body.extend_from_slice(&chunk[..chunk.len().min(EXCERPT_BYTES - body.len())]);
                }
                read += chunk.len();
                if read >= max {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(format!("the answer broke off: {}", describe(&e)));
                break;
            }
        }
    }
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    ((!text.is_empty()).then_some(text), error)
}
