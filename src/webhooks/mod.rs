//! Handing imported mail on to the business application: signed Standard Webhooks
//! deliveries from the transactional outbox (`store::outbox`), retried until they land, and
//! the numbers that say how each endpoint is doing.

pub mod health;
pub mod payload;
pub mod policy;
pub mod sender;
pub mod signature;

use std::time::Duration;

pub use health::{EndpointHealth, EndpointStatus};
pub use policy::check_endpoint_url;
pub use sender::Sender;

/// The retry schedule of the Standard Webhooks specification: the delay before each
/// attempt after a failure (the first attempt goes at once). After the last, a delivery is
/// dead. Totals about 75.6 hours.
pub const RETRY_SCHEDULE: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// Tunables of the webhook sender.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Delays before the 2nd, 3rd, … attempt; a delivery whose attempts all failed is dead.
    pub retry_schedule: Vec<Duration>,
    /// Each delay is stretched by a random factor in `[1, 1 + jitter)`, so retries of many
    /// deliveries do not arrive together (and never earlier than scheduled).
    pub jitter: f64,
    /// Deliveries in flight per endpoint.
    pub concurrency_per_endpoint: usize,
    /// One attempt, from connecting to the last byte of the answer.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The most of an answer read (the rest is dropped with the connection).
    pub max_response_bytes: usize,
    /// An endpoint whose failures have lasted this long without a success is "failing".
    pub failing_after: Duration,
    /// How often the sender looks for due deliveries when nothing woke it.
    pub tick: Duration,
    /// How long shutdown lets deliveries in flight finish; the rest are sent again later.
    pub shutdown_grace: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry_schedule: RETRY_SCHEDULE.to_vec(),
            jitter: 0.2,
            concurrency_per_endpoint: 4,
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 64 * 1024,
            failing_after: Duration::from_secs(3600),
            tick: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Attachments inlined in JSON payloads are at most this many MB (the form's limit).
pub const MAX_INLINE_ATTACHMENT_MB: i64 = 25;
