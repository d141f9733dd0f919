//! Scenario steps: what the client does, one after the other.

use std::time::Duration;

use super::fields::Params;
use super::params::{self, Field, IntRange, Kind, SizeRange};
use super::raw::Scalar;
use super::InputError;
use crate::proto::quic;
use crate::proto::tls::TlsVersion;

/// One step of a scenario, run at the client.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Resolve `name` through the stub resolver (cached: costs nothing, sends nothing).
    Dns { name: String },
    /// Open a TCP connection to `to` (a DNS name resolved earlier, or a host name).
    Connect { to: String, port: u16 },
    /// TLS handshake on the open connection; resumes when an earlier connection left a ticket.
    /// With `early_data`, the next request step's bytes go out as 0-RTT data with the ClientHello.
    Tls { version: TlsVersion, early_data: bool },
    /// `GET /bytes/{size}` on the open connection, until the whole response has arrived.
    Request { size: u64 },
    /// Wait, sending nothing.
    Idle { duration: Duration },
    /// Close the connection (TLS close_notify, then FIN) and wait until both sides are done.
    Close,
    /// Bursts of requests from a connection pool, for a while (the keepalive lab).
    Bursts(BurstSpec),
    /// A page of several objects over HTTP/1.1, HTTP/2 or HTTP/3 (the head-of-line lab).
    Page(PageSpec),
    /// Run a real command (`sh -c`) in a kernel client's namespace until it exits (real time).
    Exec { command: String },
    /// Many requests to a service, in an open or a closed loop (the tail-latency lab).
    Workload(WorkloadStep),
    /// Client programs calling a DNS name on a schedule (the dns-failover lab).
    Clients(crate::service::fleet::FleetSpec),
}

/// `{ step = "workload", to = "gateway", requests = 10000, rate = 100 }`.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadStep {
    pub to: String,
    pub port: u16,
    pub requests: u64,
    pub arrival: crate::service::workload::Arrival,
    /// Warm connections to the service (0: a fresh connection per request).
    pub pool: u32,
    /// TLS version, or `None` for plain HTTP (default: TLS 1.3 on port 443).
    pub tls: Option<TlsVersion>,
    /// The latency budget each request is measured against: the run then reports each hop's
    /// share of it (the latency-budget lab).
    pub budget: Option<Duration>,
}

/// Which HTTP a page is fetched with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 over TLS, up to `connections` connections, one request at a time on each.
    H1,
    /// HTTP/2 over TLS: one connection, a stream per object.
    H2,
    /// HTTP/3 over QUIC: a stream per object.
    H3,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::H1 => "HTTP/1.1",
            Protocol::H2 => "HTTP/2",
            Protocol::H3 => "HTTP/3",
        }
    }
}

/// `{ step = "page", protocol = "h2", to = "server", objects = 6, size = "100KB" }`.
#[derive(Clone, Debug, PartialEq)]
pub struct PageSpec {
    pub protocol: Protocol,
    pub to: String,
    pub port: u16,
    pub objects: u32,
    pub size: u64,
    /// HTTP/1.1 only: parallel connections (browsers open 6 per host).
    pub connections: u32,
    /// QUIC's initial congestion window in bytes (to match TCP's).
    pub quic_initial_window: u64,
}

/// `{ step = "bursts", ... }`: every `every`, `requests` concurrent requests of `size` bytes,
/// for `duration`, over a pool of at most `pool` connections to `to:port`.
#[derive(Clone, Debug, PartialEq)]
pub struct BurstSpec {
    pub to: String,
    pub port: u16,
    /// TLS version, or `None` for plain HTTP.
    pub tls: Option<TlsVersion>,
    pub requests: u32,
    pub size: u64,
    pub every: Duration,
    pub duration: Duration,
    pub pool: u32,
    /// TCP keepalive probe interval on idle pooled connections (smoltcp's `set_keep_alive`).
    pub keepalive: Option<Duration>,
    /// Application-level ping interval on idle pooled connections (WebSocket ping/pong).
    pub ping: Option<Duration>,
}

/// `port` of `connect`, `page` and `bursts`.
pub const PORT: IntRange = IntRange::new(1, 65535);
/// `page`: objects on the page.
pub const OBJECTS: IntRange = IntRange::new(1, 100);
/// `page`: HTTP/1.1 connections.
pub const CONNECTIONS: IntRange = IntRange::new(1, 100);
/// `page`: QUIC's initial congestion window, from RFC 9002's two full datagrams to the flow
/// control window.
pub const QUIC_INITIAL_WINDOW: SizeRange = SizeRange::new(quic::MIN_WINDOW, quic::FLOW_WINDOW as u64);
/// `bursts`: requests per burst.
pub const REQUESTS: IntRange = IntRange::new(1, 1000);
/// `bursts`: connections in the pool.
pub const POOL: IntRange = IntRange::new(1, 1000);
/// `workload`: requests sent.
pub const WORKLOAD_REQUESTS: IntRange = IntRange::new(1, 10_000_000);
/// `workload`: an open loop's requests per second.
pub const WORKLOAD_RATE: IntRange = IntRange::new(1, 1_000_000);
/// `workload`: a closed loop's requests in flight.
pub const WORKLOAD_CONCURRENCY: IntRange = IntRange::new(1, 10_000);
/// `workload`: warm connections (0: a fresh one per request).
pub const WORKLOAD_POOL: IntRange = IntRange::new(0, 1000);
/// `workload`: a latency budget.
pub const BUDGET: params::DurationRange =
    params::DurationRange::new(Duration::from_micros(1), Duration::from_secs(3600));
pub const TLS_VERSIONS: &[&str] = &["1.2", "1.3"];
pub const BURST_TLS: &[&str] = &["1.2", "1.3", "none"];
pub const PROTOCOLS: &[&str] = &["h1", "h2", "h3"];

const PORT_FIELD: Field = Field::new("port", Kind::Int(PORT), "TCP port (default 443)");

/// Step kinds and the keys each one takes.
pub const KINDS: [(&str, &[Field]); 11] = [
    ("dns", &[Field::new("name", Kind::Text, "DNS name to look up")]),
    ("connect", &[Field::new("to", Kind::Text, "host or DNS name to connect to"), PORT_FIELD]),
    (
        "tls",
        &[
            Field::new("version", Kind::Choice(TLS_VERSIONS), "TLS version (default 1.3)"),
            Field::new("early_data", Kind::Bool, "send the next request as 0-RTT early data"),
        ],
    ),
    ("request", &[Field::new("size", Kind::Size(params::BODY), "response body the GET asks for")]),
    ("idle", &[Field::new("duration", Kind::Duration(params::SPAN), "how long to wait, sending nothing")]),
    ("close", &[]),
    (
        "bursts",
        &[
            Field::new("to", Kind::Text, "host or DNS name of the server"),
            PORT_FIELD,
            Field::new(
                "tls",
                Kind::Choice(BURST_TLS),
                "TLS version, or none for plain HTTP (default 1.3; port 80 needs none)",
            ),
            Field::new("requests", Kind::Int(REQUESTS), "requests per burst, sent at once"),
            Field::new("size", Kind::Size(params::BODY), "response body of each request"),
            Field::new("every", Kind::Duration(params::BURST_EVERY), "time between bursts"),
            Field::new("duration", Kind::Duration(params::SPAN), "how long the bursts go on"),
            Field::new("pool", Kind::Int(POOL), "connections in the pool at most (default: requests)"),
            Field::new(
                "keepalive",
                Kind::Duration(params::SPAN),
                "TCP keepalive interval on idle pooled connections (0: off)",
            ),
            Field::new(
                "ping",
                Kind::Duration(params::SPAN),
                "WebSocket ping interval on idle pooled connections (0: off)",
            ),
        ],
    ),
    (
        "page",
        &[
            Field::new("protocol", Kind::Choice(PROTOCOLS), "h1 (HTTP/1.1), h2 (HTTP/2) or h3 (HTTP/3 over QUIC)"),
            Field::new("to", Kind::Text, "host or DNS name of the server"),
            PORT_FIELD,
            Field::new("objects", Kind::Int(OBJECTS), "objects on the page"),
            Field::new("size", Kind::Size(params::BODY), "size of each object"),
            Field::new("connections", Kind::Int(CONNECTIONS), "HTTP/1.1 connections at most (default 6)"),
            Field::new(
                "quic_initial_window",
                Kind::Size(QUIC_INITIAL_WINDOW),
                "QUIC's initial congestion window, bytes (default 14600)",
            ),
        ],
    ),
    ("exec", &[Field::new("command", Kind::Text, "shell command run in the kernel client's namespace")]),
    (
        "workload",
        &[
            Field::new("to", Kind::Text, "the host whose service the requests go to"),
            Field::new("port", Kind::Int(PORT), "the service's port (default 80)"),
            Field::new("requests", Kind::Int(WORKLOAD_REQUESTS), "requests to send"),
            Field::new("rate", Kind::Int(WORKLOAD_RATE), "open loop: requests per second, Poisson arrivals"),
            Field::new(
                "concurrency",
                Kind::Int(WORKLOAD_CONCURRENCY),
                "closed loop: requests in flight at all times (instead of rate)",
            ),
            Field::new(
                "pool",
                Kind::Int(WORKLOAD_POOL),
                "warm connections to the service (0: fresh per request; default 8)",
            ),
            Field::new("tls", Kind::Choice(BURST_TLS), "1.2, 1.3 or none (default: 1.3 on port 443, else none)"),
            Field::new("budget", Kind::Duration(BUDGET), "latency budget: report each hop's share of it"),
        ],
    ),
    ("clients", super::clients_step::FIELDS),
];

impl Step {
    /// The least time the step takes by itself (an idle's duration, a bursts step's span).
    pub fn min_duration(&self) -> Duration {
        match self {
            Step::Idle { duration } => *duration,
            Step::Bursts(b) => b.duration,
            Step::Clients(c) => c.duration,
            _ => Duration::ZERO,
        }
    }

    /// Every timeline phase id the step can produce: its own, and the phases it opens (a
    /// request's response, 0-RTT early data's request, the phases read off an exec command's
    /// packets).
    pub fn phase_ids(&self) -> Vec<&'static str> {
        let mut ids = vec![self.phase_id()];
        match self {
            Step::Request { .. } => ids.push("http_response"),
            Step::Tls { early_data: true, .. } => ids.extend(["http_request", "http_response"]),
            Step::Exec { .. } => ids.extend(["dns", "tcp_handshake", "tls_handshake", "http_request", "http_response"]),
            _ => {}
        }
        ids
    }

    /// The stable id of the timeline phase this step measures.
    pub fn phase_id(&self) -> &'static str {
        match self {
            Step::Dns { .. } => "dns",
            Step::Connect { .. } => "tcp_handshake",
            Step::Tls { .. } => "tls_handshake",
            Step::Request { .. } => "http_request",
            Step::Idle { .. } => "idle",
            Step::Close => "close",
            Step::Bursts(_) => "bursts",
            Step::Page(_) => "page_load",
            Step::Exec { .. } => "exec",
            Step::Workload(_) => "workload",
            Step::Clients(_) => "clients",
        }
    }

    /// The step's kind, as lab files write it (`step = "connect"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Dns { .. } => "dns",
            Step::Connect { .. } => "connect",
            Step::Tls { .. } => "tls",
            Step::Request { .. } => "request",
            Step::Idle { .. } => "idle",
            Step::Close => "close",
            Step::Bursts(_) => "bursts",
            Step::Page(_) => "page",
            Step::Exec { .. } => "exec",
            Step::Workload(_) => "workload",
            Step::Clients(_) => "clients",
        }
    }

    /// A short description for tables, comments and errors.
    pub fn describe(&self) -> String {
        match self {
            Step::Dns { name } => format!("DNS lookup of {name}"),
            Step::Connect { to, port } => format!("TCP handshake with {to}:{port}"),
            Step::Tls { version, early_data: false } => format!("{} handshake", version_name(*version)),
            Step::Tls { version, early_data: true } => {
                format!("{} handshake with 0-RTT early data", version_name(*version))
            }
            Step::Request { size } => format!("HTTP/1.1 GET of {}", crate::units::format_bytes(*size)),
            Step::Idle { duration } => format!("idle for {duration:?}"),
            Step::Close => "connection close".to_string(),
            Step::Exec { command } => format!("run `{command}`"),
            Step::Clients(c) => format!(
                "{} clients, each a request to {}:{} every {} for {} ({} DNS cache{}{}{})",
                c.clients,
                c.name,
                c.port,
                crate::units::format_duration(c.interval),
                crate::units::format_duration(c.duration),
                c.cache.name(),
                c.connect_timeout.map_or(", no connect timeout".to_string(), |t| format!(
                    ", connect timeout {}",
                    crate::units::format_duration(t)
                )),
                if c.fallback { ", falling back to the next address" } else { "" },
                if c.pool { ", one pooled connection each" } else { "" }
            ),
            Step::Workload(w) => format!(
                "{} request{} to {}:{}{}{}, {}",
                w.requests,
                if w.requests == 1 { "" } else { "s" },
                w.to,
                w.port,
                w.tls.map_or(String::new(), |v| format!(" over {}", version_name(v))),
                if w.pool == 0 { ", a fresh connection each" } else { "" },
                match w.arrival {
                    crate::service::workload::Arrival::Open { per_second } => {
                        format!("open loop, Poisson arrivals at {per_second}/s")
                    }
                    crate::service::workload::Arrival::Closed { concurrency } => {
                        format!("closed loop, {concurrency} in flight")
                    }
                }
            ),
            Step::Page(p) => format!(
                "{} objects of {} over {}{}",
                p.objects,
                crate::units::format_bytes(p.size),
                p.protocol.name(),
                if p.protocol == Protocol::H1 { format!(" ({} connections)", p.connections) } else { String::new() }
            ),
            Step::Bursts(b) => format!(
                "{} requests of {} every {:?} for {:?}, pool of {}",
                b.requests,
                crate::units::format_bytes(b.size),
                b.every,
                b.duration,
                b.pool
            ),
        }
    }

    /// Parses one `{ step = "...", ... }` table; `at` names it in errors.
    pub fn parse(table: &toml::Table, at: &str, params: &Params) -> Result<Step, InputError> {
        let kind = match table.get("step") {
            Some(toml::Value::String(s)) => s.as_str(),
            Some(other) => return Err(InputError::new(format!("{at}.step: `{other}` is not a step kind"))),
            None => return Err(InputError::new(format!("{at}: missing `step` (one of: {})", kind_names()))),
        };
        let Some((_, fields)) = KINDS.iter().find(|(k, _)| *k == kind) else {
            return Err(InputError::new(format!("{at}.step: unknown step kind `{kind}` (allowed: {})", kind_names())));
        };
        for key in table.keys().filter(|k| *k != "step") {
            if !fields.iter().any(|f| f.key == key) {
                let keys: Vec<&str> = fields.iter().map(|f| f.key).collect();
                let allowed = if keys.is_empty() { "none".to_string() } else { keys.join(", ") };
                return Err(InputError::new(format!(
                    "{at}: unknown key `{key}` for a `{kind}` step (allowed: {allowed})"
                )));
            }
        }
        let get = |key: &str| -> Result<Option<super::fields::Value>, InputError> {
            match table.get(key) {
                None => Ok(None),
                Some(v) => {
                    let scalar =
                        scalar_of(v).ok_or_else(|| InputError::new(format!("{at}.{key}: `{v}` is not a value")))?;
                    params.resolve(&format!("{at}.{key}"), &scalar).map(Some)
                }
            }
        };
        let required = |key: &str| -> Result<super::fields::Value, InputError> {
            get(key)?.ok_or_else(|| InputError::new(format!("{at}: a `{kind}` step needs `{key}`")))
        };
        Ok(match kind {
            "dns" => Step::Dns { name: required("name")?.string()? },
            "connect" => Step::Connect {
                to: required("to")?.string()?,
                port: get("port")?.map(|v| v.int(PORT)).transpose()?.unwrap_or(443) as u16,
            },
            "tls" => Step::Tls {
                version: match get("version")?.map(|v| v.choice(TLS_VERSIONS)).transpose()?.as_deref() {
                    Some("1.2") => TlsVersion::Tls12,
                    _ => TlsVersion::Tls13,
                },
                early_data: get("early_data")?.map(|v| v.bool()).transpose()?.unwrap_or(false),
            },
            "request" => Step::Request { size: required("size")?.size_in(params::BODY)? },
            "exec" => {
                let command = required("command")?.string()?;
                if command.trim().is_empty() {
                    return Err(InputError::new(format!(
                        "{at}.command: empty (a shell command, e.g. \"curl -sk https://server.lab/\")"
                    )));
                }
                Step::Exec { command }
            }
            "idle" => Step::Idle { duration: required("duration")?.duration_in(params::SPAN)? },
            "page" => Step::Page(PageSpec {
                protocol: match required("protocol")?.choice(PROTOCOLS)?.as_str() {
                    "h1" => Protocol::H1,
                    "h2" => Protocol::H2,
                    _ => Protocol::H3,
                },
                to: required("to")?.string()?,
                port: get("port")?.map(|v| v.int(PORT)).transpose()?.unwrap_or(443) as u16,
                objects: required("objects")?.int(OBJECTS)? as u32,
                size: required("size")?.size_in(params::BODY)?,
                connections: get("connections")?.map(|v| v.int(CONNECTIONS)).transpose()?.unwrap_or(6) as u32,
                quic_initial_window: get("quic_initial_window")?
                    .map(|v| v.size_in(QUIC_INITIAL_WINDOW))
                    .transpose()?
                    .unwrap_or(14_600),
            }),
            "bursts" => {
                let requests = required("requests")?.int(REQUESTS)? as u32;
                let every = required("every")?.duration_in(params::BURST_EVERY)?;
                let duration = required("duration")?.duration_in(params::SPAN)?;
                let bursts = duration.as_micros().div_ceil(every.as_micros());
                if bursts > u128::from(params::MAX_BURSTS) {
                    return Err(InputError::new(format!(
                        "{at}: duration {} / every {} = {bursts} bursts, more than {} (allowed: duration / every <= {})",
                        crate::units::format_duration(duration),
                        crate::units::format_duration(every),
                        params::MAX_BURSTS,
                        params::MAX_BURSTS
                    )));
                }
                let positive = |v: Option<super::fields::Value>| -> Result<Option<Duration>, InputError> {
                    v.map(|v| v.duration_in(params::SPAN)).transpose().map(|d| d.filter(|d| !d.is_zero()))
                };
                Step::Bursts(BurstSpec {
                    to: required("to")?.string()?,
                    port: get("port")?.map(|v| v.int(PORT)).transpose()?.unwrap_or(443) as u16,
                    tls: match get("tls")?.map(|v| v.choice(BURST_TLS)).transpose()?.as_deref() {
                        Some("none") => None,
                        Some("1.2") => Some(TlsVersion::Tls12),
                        _ => Some(TlsVersion::Tls13),
                    },
                    requests,
                    size: required("size")?.size_in(params::BODY)?,
                    every,
                    duration,
                    pool: get("pool")?.map(|v| v.int(POOL)).transpose()?.unwrap_or(u64::from(requests)) as u32,
                    keepalive: positive(get("keepalive")?)?,
                    ping: positive(get("ping")?)?,
                })
            }
            "workload" => {
                use crate::service::workload::Arrival;
                let rate = get("rate")?.map(|v| v.int(WORKLOAD_RATE)).transpose()?;
                let concurrency = get("concurrency")?.map(|v| v.int(WORKLOAD_CONCURRENCY)).transpose()?;
                let arrival = match (rate, concurrency) {
                    (Some(r), None) => Arrival::Open { per_second: r as f64 },
                    (None, Some(c)) => Arrival::Closed { concurrency: c as u32 },
                    _ => {
                        return Err(InputError::new(format!(
                        "{at}: a `workload` step needs `rate` (open loop) or `concurrency` (closed loop), one of them"
                    )))
                    }
                };
                let port = get("port")?.map(|v| v.int(PORT)).transpose()?.unwrap_or(80) as u16;
                Step::Workload(WorkloadStep {
                    to: required("to")?.string()?,
                    port,
                    requests: required("requests")?.int(WORKLOAD_REQUESTS)?,
                    arrival,
                    pool: get("pool")?.map(|v| v.int(WORKLOAD_POOL)).transpose()?.unwrap_or(8) as u32,
                    tls: match get("tls")?.map(|v| v.choice(BURST_TLS)).transpose()?.as_deref() {
                        Some("1.2") => Some(TlsVersion::Tls12),
                        Some("1.3") => Some(TlsVersion::Tls13),
                        Some(_) => None,
                        None => (port == 443).then_some(TlsVersion::Tls13),
                    },
                    budget: get("budget")?.map(|v| v.duration_in(BUDGET)).transpose()?,
                })
            }
            "clients" => Step::Clients(super::clients_step::parse(&get, at)?),
            _ => Step::Close,
        })
    }
}

fn kind_names() -> String {
    KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

fn scalar_of(v: &toml::Value) -> Option<Scalar> {
    Some(match v {
        toml::Value::String(s) => Scalar::Str(s.clone()),
        toml::Value::Integer(i) => Scalar::Int(*i),
        toml::Value::Float(f) => Scalar::Float(*f),
        toml::Value::Boolean(b) => Scalar::Bool(*b),
        _ => return None,
    })
}

pub fn version_name(v: TlsVersion) -> &'static str {
    match v {
        TlsVersion::Tls12 => "TLS 1.2",
        TlsVersion::Tls13 => "TLS 1.3",
    }
}
