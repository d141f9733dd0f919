//! The names of the metrics wirelab measures.
//!
//! The runner measures them into a scenario's timeline (`timeline::Scenario::metrics`); a lab
//! file's checks and `wirelab sweep --metric` name them, and are refused at load time when a
//! name is not here. It is a leaf, importing nothing, so the lab-file checker (`script`) and
//! everything above it can see the list without depending on the analyses.

/// Every metric a scenario's `metrics` may hold (what `[[expect]]` checks and `sweep --metric`
/// may name). A scenario holds those its steps produce.
pub const NAMES: &[&str] = &[
    "budget_ms",
    "closed_by_server",
    "connections_opened",
    "dns_cached",
    "dropped",
    "exit_code",
    "frames",
    "fresh_over_pooled",
    "handshake_ms_total",
    "handshakes",
    "keepalive_bytes",
    "keepalive_bytes_per_conn_per_30s",
    "keepalive_mb_per_s_at_1m_conns",
    "keepalive_packets",
    "largest_hop_share",
    "latency_p50_ms",
    "latency_p99_ms",
    "max_stall_ms",
    "page_load_ms",
    "ping_frame_bytes",
    "pings",
    "requests",
    "requests_failed",
    "requests_retried",
    "response_bytes",
    "retransmissions",
    "round1_bytes",
    "round1_segments",
    "rounds",
    "services_ms",
    "share_of_budget",
    "streams_stalled",
    "tls_resumed",
    "total_ms",
    "total_rtts",
    "within_budget",
    "zero_rtt_accepted",
];
