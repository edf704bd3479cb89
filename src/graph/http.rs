//! The HTTP client the Graph client sends through.

use std::time::Duration;

use crate::outbound::{HostPolicy, OutboundClient, Use};

/// The client for Graph, built by the outbound host policy: no redirects, and connect and
/// read timeouts but no overall timeout, since a large `$value` download may rightly take
/// long while bytes keep coming. `read_timeout` bounds each wait for the next bytes;
/// `user_agent` names Mailport and its instance (`Mailport/<version> (instance <id>)`).
pub fn build_graph_http_client(
    connect_timeout: Duration,
    read_timeout: Duration,
    user_agent: &str,
    hosts: &HostPolicy,
) -> anyhow::Result<OutboundClient> {
    Ok(hosts.client(
        Use::Graph,
        reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .user_agent(user_agent),
    )?)
}
