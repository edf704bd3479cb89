//! What an operator follows an import run by: a span per run (`import_run` with the account
//! id, a run id and the last Graph `request-id`), inside which the Graph client logs every
//! exchange's request ids at debug level, and the run's figures in the app's metrics.

use std::time::Duration;

use tracing::Span;
use tracing::field::Empty;

use super::Importer;
use crate::metrics::RunFigures;
use crate::store::runs::RunSummary;

/// The span of one run of `account` on `instance`, with a fresh run id (12 hex digits)
/// that tells two runs of one account apart in the log. `MAILPORT_LOG=debug` shows every
/// Graph exchange of the run inside it. At error level, so that its fields are on every
/// line of the run whatever the filter.
pub(crate) fn run_span(account: &str, instance: &str) -> Span {
    let run = uuid::Uuid::new_v4().simple().to_string();
    tracing::error_span!(
        "import_run",
        account = %account,
        run = %&run[..12],
        instance = %instance,
        last_request_id = Empty,
    )
}

/// Records a finished run: Graph's last `request-id` on the current (run) span, and the
/// run's figures in the metrics.
pub(crate) fn run_finished(
    importer: &Importer,
    account: &str,
    summary: &RunSummary,
    duration: Duration,
) {
    if let Some(id) = &summary.request_id {
        // Graph's text: Debug-formatted, so it stays one line.
        Span::current().record("last_request_id", tracing::field::debug(id));
    }
    if let Some(metrics) = importer.graph_http.metrics() {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        metrics.run_finished(
            account,
            summary.outcome.as_str(),
            &RunFigures {
                imported: count(summary.imported),
                failed: count(summary.failed),
                retries: count(summary.retries),
                duration,
            },
        );
    }
}
