//! The HTTP client the Graph client sends through.

use std::time::Duration;

use crate::outbound::{HostPolicy, OutboundClient, Use};

/// The client for Graph, built by the outbound host policy: no redirects, and connect and
/// read timeouts but no overall timeout, since a large `$value` download may rightly take
/// long while bytes keep coming. `read_timeout` bounds each wait for the next bytes.
pub fn build_graph_http_client(
    connect_timeout: Duration,
    read_timeout: Duration,
    hosts: &HostPolicy,
) -> anyhow::Result<OutboundClient> {
    Ok(hosts.client(
        Use::Graph,
        reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .user_agent(concat!("Mailport/", env!("CARGO_PKG_VERSION"))),
    )?)
}
