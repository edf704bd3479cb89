//! Prometheus metrics of one Mailport instance, served at `/metrics` in the Prometheus text
//! exposition format (version 0.0.4, <https://prometheus.io/docs/instrumenting/exposition_formats/>).
//!
//! Built on `prometheus-client`, the Prometheus project's own Rust client. Each
//! [`Metrics`] owns its own [`Registry`]: there is no process-wide recorder. A global
//! recorder (the `metrics` crate's facade) would mix the counters of every app that runs
//! in one process, which is what the test binaries do (dozens of apps side by side), and
//! `metrics`' local recorder is bound to one thread, which tokio's tasks are not. So the
//! registry lives in [`crate::app::AppState`], and the parts that record reach it through
//! the outbound HTTP clients they already hold ([`crate::outbound::OutboundClient::metrics`]):
//! the importer and the Graph client through the Graph client, the token service through
//! its token-endpoint client. A client built without one (tests of the Graph client alone)
//! records nothing.
//!
//! Two kinds of figures:
//! - counters and histograms recorded as things happen (runs, messages, Graph requests,
//!   token requests);
//! - gauges read at scrape time from the database ([`Snapshot`]: poll lag per account,
//!   the webhook outbox per endpoint), set by the `/metrics` handler just before encoding.
//!
//! Labels stay bounded: account, credential and webhook endpoint ids (chosen by the
//! administrator, one per configured object), run outcomes, HTTP status codes. Never a
//! subject, a mailbox address, a credential's name or anything secret.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabel {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    account: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabel {
    credential: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

/// One instance's metrics. Cheap to clone; clones record into the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

struct Inner {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    run_duration: Family<OutcomeLabel, Histogram>,
    imported: Family<AccountLabel, Counter>,
    message_failures: Family<AccountLabel, Counter>,
    retries: Family<AccountLabel, Counter>,
    graph_responses: Family<StatusLabel, Counter>,
    graph_throttled: Counter,
    graph_latency: Histogram,
    token_refreshes: Family<CredentialLabel, Counter>,
    token_failures: Family<CredentialLabel, Counter>,
    snapshot: Arc<Mutex<Snapshot>>,
}

/// What `/metrics` reads from the database at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every enabled, scheduled account.
    pub accounts: Vec<AccountGauges>,
    /// Every webhook endpoint.
    pub webhooks: Vec<EndpointGauges>,
}

/// One account's lag, in seconds (see [`crate::import::lag::AccountLag`]).
#[derive(Debug, Clone)]
pub struct AccountGauges {
    /// The account's id (the `account` label).
    pub account: String,
    /// Seconds since the start of the last successful poll: every message older than that
    /// was listed by it, so this bounds the age of the oldest message not imported yet.
    pub import_lag_secs: f64,
    /// How late the account's polling is ([`crate::import::lag::AccountLag::lag_secs`]);
    /// `None` while it is parked (waiting for its credential to be repaired).
    pub poll_lag_secs: Option<f64>,
}

/// One webhook endpoint's outbox ([`crate::webhooks::health::EndpointHealth`]).
#[derive(Debug, Clone)]
pub struct EndpointGauges {
    /// The endpoint's id (the `endpoint` label).
    pub endpoint: String,
    /// Deliveries not delivered yet and still being tried.
    pub waiting: i64,
    /// Seconds since the oldest of them was queued (0 when none waits).
    pub oldest_waiting_age_secs: i64,
    /// Deliveries whose retry schedule ran out.
    pub dead: i64,
    /// Successful deliveries so far (kept in the database, so it survives restarts).
    pub delivered: i64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered (at zero).
    pub fn new() -> Self {
        Self::build(None)
    }

    /// [`Metrics::new`] plus `mailport_instance_info{instance="ID",version="X.Y.Z"} 1`, so
    /// that scrapes of several instances sharing one database can be told apart.
    pub fn for_instance(instance_id: &str) -> Self {
        Self::build(Some(instance_id))
    }

    fn build(instance_id: Option<&str>) -> Self {
        let mut registry = Registry::with_prefix("mailport");
        if let Some(id) = instance_id {
            // The usual "info" pattern of the Prometheus text format: a gauge at 1.
            let info = Family::<Vec<(String, String)>, Gauge>::default();
            info.get_or_create(&vec![
                ("instance".to_string(), id.to_string()),
                ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ])
            .set(1);
            registry.register(
                "instance_info",
                "This Mailport instance: its id (--instance-id) and version; always 1",
                info,
            );
        }
        let runs = Family::<RunLabels, Counter>::default();
        registry.register(
            "import_runs",
            "Import runs (polls) finished, by account and outcome (ok, error, cancelled)",
            runs.clone(),
        );
        let run_duration =
            Family::<OutcomeLabel, Histogram>::new_with_constructor(run_duration_histogram);
        registry.register_with_unit(
            "import_run_duration",
            "How long import runs took, by outcome",
            Unit::Seconds,
            run_duration.clone(),
        );
        let imported = Family::<AccountLabel, Counter>::default();
        registry.register(
            "messages_imported",
            "Messages imported (stored exactly once), by account",
            imported.clone(),
        );
        let message_failures = Family::<AccountLabel, Counter>::default();
        registry.register(
            "message_import_failures",
            "Messages whose import failed in a run (they are tried again), by account",
            message_failures.clone(),
        );
        let retries = Family::<AccountLabel, Counter>::default();
        registry.register(
            "graph_retries",
            "Graph requests sent again in import runs after throttling, a server error or a \
             network error, by account",
            retries.clone(),
        );
        let graph_responses = Family::<StatusLabel, Counter>::default();
        registry.register(
            "graph_responses",
            "Answers from Graph by HTTP status code; \"error\" when none came (network \
             error or timeout)",
            graph_responses.clone(),
        );
        let graph_throttled = Counter::default();
        registry.register(
            "graph_throttled",
            "429 Too Many Requests answers from Graph",
            graph_throttled.clone(),
        );
        let graph_latency = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register_with_unit(
            "graph_request_duration",
            "Time from sending a Graph request to its response headers (or its failure)",
            Unit::Seconds,
            graph_latency.clone(),
        );
        let token_refreshes = Family::<CredentialLabel, Counter>::default();
        registry.register(
            "token_refreshes",
            "Access tokens obtained without a user (refresh token or client credentials), \
             by credential id",
            token_refreshes.clone(),
        );
        let token_failures = Family::<CredentialLabel, Counter>::default();
        registry.register(
            "token_failures",
            "Token requests that failed (refused, unreachable or unusable answer), by \
             credential id",
            token_failures.clone(),
        );
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        registry.register_collector(Box::new(SnapshotCollector(snapshot.clone())));
        Metrics {
            inner: Arc::new(Inner {
                registry,
                runs,
                run_duration,
                imported,
                message_failures,
                retries,
                graph_responses,
                graph_throttled,
                graph_latency,
                token_refreshes,
                token_failures,
                snapshot,
            }),
        }
    }

    /// Records a finished import run of `account`; `outcome` as in the run history (`ok`,
    /// `error`, `cancelled`): a small fixed set, as every label value must be.
    pub fn run_finished(&self, account: &str, outcome: &str, run: &RunFigures) {
        let m = &self.inner;
        let account_label = AccountLabel {
            account: account.to_string(),
        };
        m.runs
            .get_or_create(&RunLabels {
                account: account.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        m.run_duration
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .observe(run.duration.as_secs_f64());
        m.imported
            .get_or_create(&account_label)
            .inc_by(run.imported);
        m.message_failures
            .get_or_create(&account_label)
            .inc_by(run.failed);
        m.retries.get_or_create(&account_label).inc_by(run.retries);
    }

    /// Records one Graph request: its status (`None` when no answer came) and the time to
    /// its response headers.
    pub fn graph_response(&self, status: Option<u16>, latency: Duration) {
        let m = &self.inner;
        let status_label = StatusLabel {
            status: status.map_or_else(|| "error".to_string(), |s| s.to_string()),
        };
        m.graph_responses.get_or_create(&status_label).inc();
        if status == Some(429) {
            m.graph_throttled.inc();
        }
        m.graph_latency.observe(latency.as_secs_f64());
    }

    /// A credential got a new access token without a user.
    pub fn token_refreshed(&self, credential: &str) {
        self.inner
            .token_refreshes
            .get_or_create(&CredentialLabel {
                credential: credential.to_string(),
            })
            .inc();
    }

    /// A token request of a credential failed.
    pub fn token_failed(&self, credential: &str) {
        self.inner
            .token_failures
            .get_or_create(&CredentialLabel {
                credential: credential.to_string(),
            })
            .inc();
    }

    /// Every metric in the Prometheus text format (served as [`CONTENT_TYPE`]), with
    /// `snapshot` as the scrape-time gauges. Fails only if formatting fails, which writing
    /// into a `String` does not.
    pub fn render(&self, snapshot: Snapshot) -> Result<String, std::fmt::Error> {
        let mut held = self
            .inner
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *held = snapshot;
        drop(held);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.inner.registry)?;
        Ok(text)
    }
}

/// The figures of one finished run, for [`Metrics::run_finished`].
#[derive(Debug, Clone, Default)]
pub struct RunFigures {
    /// Messages the run stored.
    pub imported: u64,
    /// Messages whose import failed (tried again by the next run).
    pub failed: u64,
    /// Graph requests the run sent again (throttling, server or network errors).
    pub retries: u64,
    /// From the run's start to its end, recording included.
    pub duration: Duration,
}

fn run_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 14))
}

/// Encodes the latest [`Snapshot`].
#[derive(Debug)]
struct SnapshotCollector(Arc<Mutex<Snapshot>>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let accounts = |value: fn(&AccountGauges) -> Option<f64>| {
            snapshot
                .accounts
                .iter()
                .filter_map(move |a| {
                    let label = AccountLabel {
                        account: a.account.clone(),
                    };
                    value(a).map(|v| (label, ConstGauge::new(v)))
                })
                .collect::<Vec<_>>()
        };
        let endpoints = |value: fn(&EndpointGauges) -> i64| {
            snapshot
                .webhooks
                .iter()
                .map(move |e| {
                    let label = EndpointLabel {
                        endpoint: e.endpoint.clone(),
                    };
                    (label, value(e))
                })
                .collect::<Vec<_>>()
        };
        let gauges = |values: Vec<(EndpointLabel, i64)>| {
            values
                .into_iter()
                .map(|(l, n)| (l, ConstGauge::new(n)))
                .collect::<Vec<_>>()
        };
        let seconds = Some(Unit::Seconds);
        family(
            &mut encoder,
            ("import_lag", seconds.clone()),
            "Seconds since the start of the account's last successful poll: the age bound of \
             its oldest message not imported yet.",
            accounts(|a| Some(a.import_lag_secs)),
        )?;
        family(
            &mut encoder,
            ("poll_lag", seconds.clone()),
            "How late the account's polling is: its wait past the due time, else how late \
             its last poll started.",
            accounts(|a| a.poll_lag_secs),
        )?;
        family(
            &mut encoder,
            ("webhook_deliveries_waiting", None),
            "Webhook deliveries not delivered yet and still being tried, by endpoint.",
            gauges(endpoints(|e| e.waiting)),
        )?;
        family(
            &mut encoder,
            ("webhook_oldest_waiting_age", seconds),
            "Seconds since the oldest waiting delivery of the endpoint was queued (0: none waits).",
            gauges(endpoints(|e| e.oldest_waiting_age_secs)),
        )?;
        family(
            &mut encoder,
            ("webhook_deliveries_dead", None),
            "Webhook deliveries whose retry schedule ran out, by endpoint.",
            gauges(endpoints(|e| e.dead)),
        )?;
        family(
            &mut encoder,
            ("webhook_deliveries_delivered", None),
            "Webhook deliveries the receiver accepted (2xx), by endpoint.",
            endpoints(|e| e.delivered)
                .into_iter()
                .map(|(l, n)| (l, ConstCounter::new(u64::try_from(n).unwrap_or(0))))
                .collect(),
        )?;
        Ok(())
    }
}

/// One metric family of constant values: its name and unit, help text, and one value per
/// label set.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    (name, unit): (&str, Option<Unit>),
    help: &str,
    values: Vec<(L, M)>,
) -> Result<(), std::fmt::Error> {
    let Some(kind) = values.first().map(|(_, m)| m.metric_type()) else {
        // Nothing to report: a family without samples says nothing either.
        return Ok(());
    };
    let mut family = encoder.encode_descriptor(name, help, unit.as_ref(), kind)?;
    for (label, value) in values {
        value.encode(family.encode_family(&label)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_instances_count_apart_and_counters_carry_their_total_suffix() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.token_refreshed("app");
        a.graph_response(Some(429), Duration::from_millis(10));
        let text_a = a.render(Snapshot::default()).expect("render");
        let text_b = b.render(Snapshot::default()).expect("render");
        assert!(
            text_a.contains("mailport_token_refreshes_total{credential=\"app\"} 1"),
            "{text_a}"
        );
        assert!(
            text_a.contains("mailport_graph_throttled_total 1"),
            "{text_a}"
        );
        assert!(!text_b.contains("credential=\"app\""), "{text_b}");
        assert!(
            text_b.contains("mailport_graph_throttled_total 0"),
            "{text_b}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.token_failed("a\"b\nc");
        let text = m.render(Snapshot::default()).expect("render");
        assert!(
            text.contains("credential=\"a\\\"b\\nc\""),
            "escaped per the exposition format: {text}"
        );
    }
}
