//! The request engine: every Graph call goes through [`GraphClient::send`], which adds the
//! headers Graph needs (bearer token, `Prefer: IdType="ImmutableId"`, a `client-request-id`),
//! holds a per-mailbox permit, honours `Retry-After`, retries throttling and gateway errors
//! with backoff, refreshes the token once after a 401, and turns failures into [`GraphError`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{self, HeaderValue};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use url::Url;

use super::answers::{Answer, ERROR_BODY_LIMIT, network, network_error, read_capped, read_json};
use super::errors::{self, GraphError, GraphErrorKind};
pub use super::limits::{MailboxLimits, RequestBudget};
use super::limits::{MailboxSlot, Permit};
use super::links::LinkPolicy;
use super::observe;
use super::target::{MailboxTarget, config_error, encode_query_value, graph_base};
use crate::outbound::{OutboundClient, REFUSED_CODE, Refused, is_microsoft_host};

/// Where the client gets bearer tokens (the token service, or a fixed string in tests).
pub trait TokenSource: Send + Sync + 'static {
    /// A bearer token; `force_refresh` after a 401 InvalidAuthenticationToken.
    fn token(
        &self,
        force_refresh: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, GraphError>> + Send + '_>>;
}

/// How hard the client tries and how much it accepts.
#[derive(Debug, Clone)]
pub struct GraphSettings {
    /// Attempts per request, the first included (throttling, 503, 504, network errors on GET).
    pub max_attempts: u32,
    /// The first backoff when Graph gives no Retry-After; doubled per attempt, with jitter.
    pub base_backoff: Duration,
    /// No single wait is longer, whatever Retry-After says.
    pub max_backoff: Duration,
    /// The largest JSON answer read.
    pub json_limit_bytes: usize,
    /// Requests in flight per mailbox, across every client sharing a [`MailboxLimits`].
    pub per_mailbox_concurrency: usize,
    /// `$top` of message lists and `odata.maxpagesize` of delta.
    pub page_size: u32,
    /// How long to wait for response headers, and for each chunk of a body.
    pub timeout: Duration,
    /// Outlook's request budget per app and mailbox (10,000 per 10 minutes). Requests wait
    /// for room in it instead of being refused with 429; `None` sends regardless.
    pub mailbox_budget: Option<RequestBudget>,
    /// The longest a request waits for room in the budget; beyond it, the request fails as
    /// throttled at once (Test connection must answer while an import uses the budget up).
    /// `None`: as long as it takes.
    pub budget_wait_limit: Option<Duration>,
}

impl Default for GraphSettings {
    fn default() -> Self {
        GraphSettings {
            max_attempts: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            json_limit_bytes: 16 * 1024 * 1024,
            per_mailbox_concurrency: 4,
            page_size: 50,
            timeout: Duration::from_secs(60),
            mailbox_budget: Some(RequestBudget::OUTLOOK),
            budget_wait_limit: None,
        }
    }
}

/// What one client did, for the run log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Requests sent again after throttling, a server error or a network error.
    pub retries: u64,
    /// 429, 503 and 504 answers seen.
    pub throttled: u64,
    /// Graph's `request-id` of the latest answer.
    pub last_request_id: Option<String>,
    /// Human-readable lines about retries and refreshes (the most recent [`MAX_LOG_LINES`]).
    pub log: Vec<String>,
}

/// The run log keeps what matters; a storm of 429s must not grow memory without bound.
pub const MAX_LOG_LINES: usize = 200;

/// A Graph client bound to one mailbox. Cheap to clone; clones share statistics and permits.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: OutboundClient,
    /// Whether Graph's own error texts may be shown: only for Microsoft's Graph hosts.
    echo_errors: bool,
    base: Url,
    /// `["users", "<upn>"]` or `["me"]`.
    mailbox: Vec<String>,
    links: LinkPolicy,
    tokens: Arc<dyn TokenSource>,
    slot: Arc<MailboxSlot>,
    global: Option<Arc<Semaphore>>,
    settings: GraphSettings,
    stats: Mutex<ClientStats>,
}

/// One request to send.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: Url,
    pub body: Option<&'a serde_json::Value>,
    /// Adds `odata.maxpagesize` to the Prefer header (delta).
    pub max_page_size: Option<u32>,
}

impl<'a> Call<'a> {
    pub fn get(url: Url) -> Self {
        Call {
            method: Method::GET,
            url,
            body: None,
            max_page_size: None,
        }
    }

    pub fn with_body(method: Method, url: Url, body: &'a serde_json::Value) -> Self {
        Call {
            method,
            url,
            body: Some(body),
            max_page_size: None,
        }
    }
}

/// Why a request got no answer.
enum SendFailure {
    /// A network error or timeout: worth a retry.
    Transient(GraphError),
    /// The resolver refused the host's address: never worth a retry.
    Refused(GraphError),
}

/// The outbound host policy refused where a request would go; nothing was sent.
fn refused(r: &Refused) -> GraphError {
    GraphError {
        kind: GraphErrorKind::Other,
        status: None,
        code: Some(REFUSED_CODE.into()),
        message: format!("nothing was sent to Graph: {r}"),
        request_id: None,
    }
}

/// Exponential backoff with "equal jitter": half fixed, half random, so that many clients
/// throttled at once do not come back in lockstep.
pub(crate) fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    use rand::Rng;
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    let full = base.saturating_mul(factor).min(max);
    let half = full / 2;
    let jitter = rand::thread_rng().gen_range(0.0..=1.0);
    half + half.mul_f64(jitter)
}

/// `…/inbox/messages`: enough of the path to recognise the request, without ids of other
/// segments or the query (which holds skip and delta tokens).
fn short_path(url: &Url) -> String {
    let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
    let tail = segments.len().saturating_sub(2);
    format!("…/{}", segments[tail..].join("/"))
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl GraphClient {
    /// A client for one mailbox. `http` comes from the outbound host policy
    /// ([`crate::outbound::HostPolicy::client`] with [`crate::outbound::Use::Graph`]): the
    /// Graph URL must pass it, or nothing is ever sent (error with code `host_not_allowed`).
    pub fn new(
        http: OutboundClient,
        target: &MailboxTarget,
        tokens: Arc<dyn TokenSource>,
        limits: &MailboxLimits,
        settings: GraphSettings,
    ) -> Result<Self, GraphError> {
        let base = graph_base(&target.graph_url)?;
        http.check(&base).map_err(|r| refused(&r))?;
        let mailbox = match target.mailbox.as_deref().map(str::trim) {
            None | Some("") => vec!["me".to_string()],
            Some(m) if m.chars().any(|c| c.is_control() || c == '/' || c == '\\') => {
                return Err(config_error(
                    "The mailbox name contains characters Graph does not accept.",
                ));
            }
            Some(m) => vec!["users".to_string(), m.to_string()],
        };
        let settings = GraphSettings {
            max_attempts: settings.max_attempts.max(1),
            per_mailbox_concurrency: settings.per_mailbox_concurrency.max(1),
            page_size: settings.page_size.clamp(1, 1000),
            ..settings
        };
        // The permits belong to the mailbox as Exchange sees it: same host, same mailbox.
        // Every delegated `me` of a host shares one key; that is stricter than needed, never looser.
        let key = format!(
            "{}|{}",
            base.origin().ascii_serialization().to_ascii_lowercase(),
            mailbox.join("/").to_lowercase()
        );
        let slot = limits.slot(
            &key,
            settings.per_mailbox_concurrency,
            settings.mailbox_budget,
        );
        Ok(GraphClient {
            inner: Arc::new(Inner {
                echo_errors: base.host_str().is_some_and(is_microsoft_host),
                http,
                links: LinkPolicy::new(&base),
                base,
                mailbox,
                tokens,
                slot,
                global: limits.global(),
                settings,
                stats: Mutex::new(ClientStats::default()),
            }),
        })
    }

    /// Counters and log lines so far.
    pub fn stats(&self) -> ClientStats {
        self.stats_lock().clone()
    }

    pub fn settings(&self) -> &GraphSettings {
        &self.inner.settings
    }

    fn stats_lock(&self) -> std::sync::MutexGuard<'_, ClientStats> {
        // A poisoned lock only means a panic elsewhere; counters are still fine to use.
        self.inner.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn note(&self, line: String) {
        let line = crate::prose::sentence(line);
        // Lines quote Graph's error codes: escaped, so that they stay one log line.
        tracing::info!(target: "mailport::graph", "{}", line.escape_debug());
        let mut stats = self.stats_lock();
        if stats.log.len() >= MAX_LOG_LINES {
            stats.log.remove(0);
        }
        stats.log.push(line);
    }

    /// A URL under the mailbox: `{graph}/users/{upn}/{segments…}?{query}`. Segments are
    /// percent-encoded as path segments, so an id can never add a path level.
    pub(crate) fn url(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Url, GraphError> {
        let mut url = self.inner.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|_| config_error("The Graph URL cannot take a path."))?;
            path.pop_if_empty();
            path.extend(self.inner.mailbox.iter());
            path.extend(segments);
        }
        if !query.is_empty() {
            let text = query
                .iter()
                .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
                .collect::<Vec<_>>()
                .join("&");
            url.set_query(Some(&text));
        }
        Ok(url)
    }

    /// A nextLink or deltaLink, if it may be followed.
    pub(crate) fn check_link(&self, link: &str) -> Result<Url, GraphError> {
        self.inner.links.check(link)
    }

    /// Sends one request with retries; returns the successful answer with its permit.
    /// Each attempt: a permit (the mailbox's concurrency and request budget), the request
    /// with a token, the exchange, then on failure one token refresh after a 401, a wait
    /// after throttling or a transient error, or the error.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Answer, GraphError> {
        let label = format!("{} {}", call.method, short_path(&call.url));
        let mut attempt = 1u32;
        let mut force_refresh = false;
        let mut refreshed = false;
        loop {
            let mut permit = self.acquire_permit().await?;
            let (request, client_request_id) = self.build_request(&call, force_refresh).await?;
            force_refresh = false;
            self.stats_lock().requests += 1;
            self.inner.slot.mark_sent(&mut permit);
            let response = match self.exchange(request, &label, &client_request_id).await {
                Ok(response) => response,
                Err(failure) => {
                    drop(permit);
                    let error = match failure {
                        SendFailure::Transient(error) => error,
                        SendFailure::Refused(error) => return Err(error),
                    };
                    self.retry_or_fail(&label, &call.method, attempt, error, None)
                        .await?;
                    attempt += 1;
                    continue;
                }
            };
            let request_id = self.note_request_id(&response);
            if response.status().is_success() {
                return Ok(Answer { response, permit });
            }
            let (status, error, retry_after) = self.read_failure(response, request_id).await;
            drop(permit);

            if status == 401
                && !refreshed
                && error.code.as_deref() == Some("InvalidAuthenticationToken")
            {
                // Once only: a token that is refused right after a refresh will not get better.
                refreshed = true;
                force_refresh = true;
                self.note(format!(
                    "401 InvalidAuthenticationToken on {label}, refreshing the token once"
                ));
                continue;
            }
            if matches!(status, 429 | 503 | 504) {
                self.note_throttled(status, retry_after, attempt);
                self.retry_or_fail(&label, &call.method, attempt, error, retry_after)
                    .await?;
                attempt += 1;
                continue;
            }
            return Err(error);
        }
    }

    /// Waits for a permit to send to this mailbox; an error when its request budget would
    /// make the wait longer than `budget_wait_limit`.
    async fn acquire_permit(&self) -> Result<Permit, GraphError> {
        let settings = &self.inner.settings;
        let acquired = self
            .inner
            .slot
            .acquire(self.inner.global.as_ref(), settings.budget_wait_limit)
            .await;
        acquired.map_err(|wait| {
            let budget = settings.mailbox_budget.unwrap_or(RequestBudget::OUTLOOK);
            GraphError::new(
                GraphErrorKind::Throttled,
                format!(
                    "Mailport has sent this mailbox the {} Graph requests it allows \
                     itself per {} (Microsoft's limit); the next may go in {}.",
                    budget.requests,
                    seconds(budget.window),
                    seconds(wait)
                ),
            )
        })
    }

    /// The request with a (fresh when `force_refresh`) access token, immutable ids, the page
    /// size, a `client-request-id` (returned too, for the log) and the body.
    async fn build_request(
        &self,
        call: &Call<'_>,
        force_refresh: bool,
    ) -> Result<(reqwest::RequestBuilder, String), GraphError> {
        let token = self.inner.tokens.token(force_refresh).await?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            GraphError::new(
                GraphErrorKind::Unauthorized,
                "The access token contains characters that cannot be sent.",
            )
        })?;
        auth.set_sensitive(true);
        let prefer = match call.max_page_size {
            Some(n) => format!("IdType=\"ImmutableId\", odata.maxpagesize={n}"),
            None => "IdType=\"ImmutableId\"".to_string(),
        };
        let request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .map_err(|r| refused(&r))?;
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut request = request
            .header(header::AUTHORIZATION, auth)
            .header("Prefer", prefer)
            .header("client-request-id", &client_request_id)
            .header(header::ACCEPT, "application/json");
        if let Some(body) = call.body {
            request = request.json(body);
        }
        Ok((request, client_request_id))
    }

    /// Sends the request within the timeout, and records the exchange (debug line with
    /// Graph's ids, metrics) whatever its end.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        label: &str,
        client_request_id: &str,
    ) -> Result<reqwest::Response, SendFailure> {
        let timeout = self.inner.settings.timeout;
        let started = std::time::Instant::now();
        let sent = tokio::time::timeout(timeout, request.send()).await;
        let answered = sent.as_ref().ok().and_then(|r| r.as_ref().ok());
        observe::exchange(
            &self.inner.http,
            label,
            client_request_id,
            started.elapsed(),
            answered,
        );
        match sent {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => match Refused::find_in(&e) {
                Some(r) => Err(SendFailure::Refused(refused(r))),
                None => Err(SendFailure::Transient(network_error(e))),
            },
            Err(_) => Err(SendFailure::Transient(network(format!(
                "Graph did not answer within {}.",
                seconds(timeout)
            )))),
        }
    }

    /// Keeps the answer's `request-id` (Microsoft support asks for it) in the stats.
    fn note_request_id(&self, response: &reqwest::Response) -> Option<String> {
        let request_id = response
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if request_id.is_some() {
            self.stats_lock().last_request_id = request_id.clone();
        }
        request_id
    }

    /// A failed answer: its status, its error (remote text withheld unless echoing is on)
    /// and its `Retry-After`.
    async fn read_failure(
        &self,
        response: reqwest::Response,
        request_id: Option<String>,
    ) -> (u16, GraphError, Option<Duration>) {
        let status = response.status().as_u16();
        let retry_after = crate::retry_after::from_headers(response.headers());
        let body = read_capped(response, ERROR_BODY_LIMIT, self.inner.settings.timeout)
            .await
            .unwrap_or_default();
        let mut error = errors::from_response(status, &body, request_id);
        if !self.inner.echo_errors {
            error = error.withhold_remote_text();
        }
        (status, error, retry_after)
    }

    /// Counts a throttling answer (429, 503, 504); after a 429 the whole mailbox pauses for
    /// its `Retry-After` (or the backoff), since Exchange throttles the mailbox, not the
    /// request.
    fn note_throttled(&self, status: u16, retry_after: Option<Duration>, attempt: u32) {
        let settings = &self.inner.settings;
        self.stats_lock().throttled += 1;
        if status == 429 {
            let pause = retry_after
                .unwrap_or_else(|| backoff(settings.base_backoff, settings.max_backoff, attempt))
                .min(settings.max_backoff);
            self.inner
                .slot
                .pause_until(tokio::time::Instant::now() + pause);
        }
    }

    /// Waits before the next attempt, or returns the error when attempts are used up or the
    /// request must not be repeated. Network errors are retried only for idempotent methods.
    async fn retry_or_fail(
        &self,
        label: &str,
        method: &Method,
        attempt: u32,
        mut error: GraphError,
        retry_after: Option<Duration>,
    ) -> Result<(), GraphError> {
        let settings = &self.inner.settings;
        let repeatable = error.kind != GraphErrorKind::Network
            || matches!(*method, Method::GET | Method::DELETE | Method::PATCH);
        if !repeatable || attempt >= settings.max_attempts {
            if attempt > 1 {
                error.message = format!(
                    "{} Mailport gave up after {attempt} attempts.",
                    error.message
                );
            }
            return Err(error);
        }
        let wait = retry_after
            .unwrap_or_else(|| backoff(settings.base_backoff, settings.max_backoff, attempt))
            .min(settings.max_backoff);
        let what = match (error.status, &error.code) {
            (Some(s), Some(c)) => format!("{s} {c}"),
            (Some(s), None) => s.to_string(),
            _ => "network error".to_string(),
        };
        self.note(format!(
            "{what} on {label}, retrying in {} (attempt {} of {})",
            seconds(wait),
            attempt + 1,
            settings.max_attempts
        ));
        self.stats_lock().retries += 1;
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Sends and parses a JSON answer (capped at `json_limit_bytes`).
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, GraphError> {
        let answer = self.send(call).await?;
        read_json(
            answer,
            self.inner.settings.json_limit_bytes,
            self.inner.settings.timeout,
        )
        .await
    }

    /// Sends and ignores the body (204, or a 200 whose content we do not need).
    pub(crate) async fn send_no_content(&self, call: Call<'_>) -> Result<(), GraphError> {
        let answer = self.send(call).await?;
        // Draining lets the connection be reused; what it says does not matter.
        let _ = read_capped(
            answer.response,
            self.inner.settings.json_limit_bytes,
            self.inner.settings.timeout,
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(500);
        let max = Duration::from_secs(60);
        for attempt in 1..40 {
            let full = base
                .saturating_mul(2u32.saturating_pow((attempt - 1).min(20)))
                .min(max);
            let d = backoff(base, max, attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(base, max, 1) <= Duration::from_millis(500));
        assert!(backoff(base, max, 30) >= Duration::from_secs(30));
    }
}
