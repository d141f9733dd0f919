//! A scenario resolved for running: parameters substituted, links built, steps typed.
//!
//! [`plan`] resolves one, step by step. Its parts elsewhere: the scripted drops (`drops.rs`),
//! the parameters the runner reads by name (`runner_params.rs`), the values a run shows and
//! where they came from (`shown.rs`), the `[[expect]]`s that apply (`expect::for_scenario`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::expect::Check;
use super::fields::Params;
use super::params::{self, Field, IntRange, Kind};
use super::raw::{RawLab, RawScenario, Scalar};
use super::runner_params::RunnerParams;
use super::shown;
use super::steps::Step;
use super::{InputError, Lab};
use crate::link::{netem, DropRule, LinkConfig};
use crate::proto::cwnd::TcpConfig;
use crate::service::{DnsHandler, Handler, LabServer, ServiceSpec};

/// `[link]` and `[[path]]` keys (see [`RawLink::fields`](super::raw::RawLink::fields)), as
/// `script::paths` reads them.
pub const LINK_FIELDS: [Field; 12] = [
    Field::new("rtt", Kind::Duration(params::RTT), "round-trip propagation time, half each way"),
    Field::new("delay", Kind::Duration(params::ONE_WAY), "one-way delay"),
    Field::new("jitter", Kind::Duration(params::ONE_WAY), "jitter, uniform ± around the delay"),
    Field::new("loss", Kind::Percent, "random loss in each direction"),
    Field::new("duplicate", Kind::Percent, "share of packets delivered twice"),
    Field::new("reorder", Kind::Percent, "share of packets that skip the delay"),
    Field::new("rate", Kind::Rate, "serialization rate"),
    Field::new("limit", Kind::Int(LINK_LIMIT), "queue limit in packets (with rate)"),
    Field::new("mtu", Kind::Int(LINK_MTU), "largest packet the path carries; longer ones are dropped"),
    Field::new("netem", Kind::Text, "tc-netem words"),
    Field::new("up", Kind::Text, "tc-netem words for one direction: first host to second ([link]: client to any)"),
    Field::new("down", Kind::Text, "tc-netem words for the other direction"),
];
/// `limit`: packets in a link's queue.
pub const LINK_LIMIT: IntRange = IntRange::new(1, 1_000_000);
/// `mtu`: bytes.
pub const LINK_MTU: IntRange = IntRange::new(68, 65_535);
pub use super::dns::DNS_TTL;
pub use super::drops::{DROP_NTH, DROP_NTH_RANGE};

/// What a host does in the lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs the scenario's steps; the capture is taken here.
    Client,
    /// Serves HTTP on port 80 and HTTPS on 443: sugar for two `bytes` services run as the lab's
    /// server ([`LabServer`]).
    Server,
    /// A caching DNS resolver that forwards misses to the authority.
    Resolver,
    /// The authoritative DNS server for the lab's names.
    Authority,
    /// Runs the services it lists (`[[host.service]]`), and nothing else.
    Host,
}

pub const ROLES: [(&str, Role); 5] = [
    ("client", Role::Client),
    ("server", Role::Server),
    ("resolver", Role::Resolver),
    ("authority", Role::Authority),
    ("host", Role::Host),
];

impl HostPlan {
    /// It runs DNS server `which` (a `resolver` or `authority` service, or that role).
    pub fn serves_dns(&self, which: DnsHandler) -> bool {
        self.services.iter().any(|s| s.dns() == Some(which))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct HostPlan {
    pub name: String,
    pub addr: Ipv4Addr,
    pub role: Role,
    /// The `[[host]]` name it came from: the replicas of one host share it.
    pub group: String,
    /// Index of its `[[host]]` in the lab file.
    pub raw: usize,
    /// What it serves, resolved for the scenario.
    pub services: Vec<crate::service::ServiceSpec>,
    /// Set on the server (`role = "server"`): which of its services are the lab's server, and
    /// how that server closes idle connections.
    pub lab_server: Option<LabServer>,
}

pub use super::dns::DnsPlan;
pub use super::overrides::{check_flags_keep, flags_hide, Overrides};

/// Everything needed to run one scenario.
#[derive(Clone, Debug)]
pub struct ScenarioPlan {
    pub lab: String,
    pub name: String,
    pub title: String,
    pub hosts: Vec<HostPlan>,
    pub client: usize,
    pub server: usize,
    /// Link configs and scripted drops, indexed `from * hosts + to`.
    pub links: Vec<(LinkConfig, Vec<DropRule>)>,
    pub dns: Option<DnsPlan>,
    /// What happens at scheduled times (`[[scenario.event]]`), in time order.
    pub events: Vec<super::events::EventPlan>,
    pub warmup: Vec<Step>,
    pub steps: Vec<Step>,
    pub tcp: TcpConfig,
    pub time_limit: Duration,
    pub checks: Vec<Check>,
    /// Make each slow-start round a timeline phase and name it in packet comments.
    pub rounds: bool,
    /// The lab's explanation of this scenario.
    pub note: String,
    /// Parameters in force, as text (for the JSON and the terminal header).
    pub params: BTreeMap<String, String>,
    /// Where the values that differ from the lab's `[params]` came from, in words: `--set`
    /// wins over a scenario's own `params`, which win over the lab's.
    pub param_sources: Vec<String>,
    /// Hosts played by the Linux kernel in a network namespace (scenario field `kernel`): the
    /// scenario runs only on the real-time backend.
    pub kernel: Vec<usize>,
    /// The kernel hosts' congestion control (parameter `kernel_cc`; Linux's default, cubic).
    pub kernel_cc: String,
    /// Hosts other than the client to capture at (`--tap`), in host order.
    pub taps: Vec<usize>,
    /// Gather what the pictures need (`--pictures`): the runner then describes every packet.
    pub pictures: bool,
    /// What each vantage point's capture keeps (`--capture`); the runner refuses a limit for
    /// scenarios whose analysis reads the capture (`runner::analyse::reads_capture`).
    pub capture: crate::capture::Keep,
    /// Bytes kept of each packet in every capture (0: whole packets). Lab files cannot set
    /// it: `wirelab shell --snaplen` does, for long high-rate runs whose capture would not fit.
    pub snaplen: usize,
    /// What a kernel server runs (real time).
    pub kernel_server: KernelServer,
    /// Where the standard streams of `exec` steps' commands go.
    pub exec_stdio: ExecStdio,
}

/// What the server runs when it is a kernel host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum KernelServer {
    /// The lab's own HTTP server on port 80 (`GET /bytes/N`), on the kernel's sockets.
    #[default]
    LabHttp,
    /// `sh -c COMMAND` in the server's namespace (`wirelab shell --serve`, e.g. `iperf3 -s`);
    /// its output goes to wirelab's stderr.
    Command(String),
}

/// Where the standard streams of an `exec` step's command go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecStdio {
    /// No input; output discarded, errors to wirelab's stderr; the command runs in a process
    /// group of its own, stopped whole when the run ends (a lab's scripted command).
    #[default]
    Discard,
    /// wirelab's own terminal: input, output and errors, in wirelab's process group, so an
    /// interactive shell can take the terminal (`wirelab shell`).
    Terminal,
}

impl ScenarioPlan {
    /// The client–server round-trip propagation time (both one-way delays).
    pub fn rtt(&self) -> Duration {
        let n = self.hosts.len();
        self.links[self.client * n + self.server].0.delay + self.links[self.server * n + self.client].0.delay
    }

    /// The first host that runs DNS server `which` (a resolver or the authority), if any.
    pub fn dns_host(&self, which: DnsHandler) -> Option<usize> {
        self.hosts.iter().position(|h| h.serves_dns(which))
    }

    pub fn link(&self, from: usize, to: usize) -> &LinkConfig {
        &self.links[from * self.hosts.len() + to].0
    }
}

/// Resolves scenario `index` of `lab` under `overrides`.
pub fn plan(lab: &Lab, index: usize, overrides: &Overrides) -> Result<ScenarioPlan, InputError> {
    let raw = &lab.raw;
    let sc = &raw.scenarios[index];
    let at = format!("scenario `{}`", sc.name);
    let params = params_in_force(raw, sc, overrides, &at)?;

    let mut hosts = lab.hosts()?;
    super::services::resolve(&raw.hosts, &mut hosts, &params)?;
    add_dns_roles(&mut hosts);
    let (client, server) = client_and_server(&hosts, sc)?;

    // Links: the lab's [link], refined by [[path]]s, then the command line on client–server.
    let n = hosts.len();
    let mut links: Vec<(LinkConfig, Vec<DropRule>)> =
        super::paths::links(lab, &hosts, (client, server), &params, overrides)?
            .into_iter()
            .map(|c| (c, Vec::new()))
            .collect();
    super::drops::add(&mut links, &sc.drops, &hosts, &params, &at)?;

    let dns = raw.dns.as_ref().map(|d| super::dns::resolve(d, &hosts, &params)).transpose()?;
    let (warmup, main) = script_steps(sc, &hosts, dns.as_ref(), &params, &at)?;
    let link = |from: usize, to: usize| links[from * n + to].0.clone();
    let words = |cfg: LinkConfig, w: &str, field: &str| super::paths::apply_words(lab, &hosts, &params, cfg, w, field);
    let cx = super::events::Context {
        hosts: &hosts,
        dns: dns.as_ref(),
        params: &params,
        steps: (warmup.len(), main.len()),
        link: &link,
        words: &words,
    };
    let events = super::events::resolve(&sc.events, &cx, &at)?;
    let kernel = kernel_hosts(sc, &hosts, client, &warmup, &main, &at)?;

    let RunnerParams { tcp, server_idle_timeout, kernel_cc, time_limit } = RunnerParams::read(&params)?;
    let scripted: Duration = warmup.iter().chain(&main).map(Step::min_duration).sum();
    super::events::check_times(&events, scripted, time_limit, &at)?;
    if scripted > time_limit {
        return Err(InputError::new(format!(
            "{at}: its steps take at least {} (idle and bursts durations) but params.time_limit is {}; raise time_limit",
            crate::units::format_duration(scripted),
            crate::units::format_duration(time_limit)
        )));
    }

    // Titles, notes and the parameters shown say the values that ran.
    let shown = shown::values(&params)?;
    let phase_ids: Vec<&str> = warmup.iter().chain(&main).flat_map(Step::phase_ids).collect();
    let checks = super::expect::for_scenario(raw, &sc.name, &phase_ids, &shown)?;
    let taps = taps(&hosts, client, overrides)?;
    let title = shown::text(&shown, &at, "title", &sc.title)?;
    let note = shown::text(&shown, &at, "note", &sc.note)?;
    let param_sources = shown::sources(&shown, sc, overrides);
    let params = shown.values.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
    // The server role is services too, added now that everything the lab declared is checked:
    // only the scenario's own steps call them.
    if let Some(h) = hosts.iter_mut().find(|h| h.role == Role::Server) {
        let lab = LabServer { idle_timeout: server_idle_timeout };
        h.services.extend(lab.services());
        h.lab_server = Some(lab);
    }
    Ok(ScenarioPlan {
        lab: raw.name.clone(),
        name: sc.name.clone(),
        title: title.unwrap_or_else(|| sc.name.clone()),
        hosts,
        client,
        server,
        links,
        dns,
        events,
        warmup,
        steps: main,
        tcp,
        time_limit,
        checks,
        rounds: raw.rounds,
        note: note.unwrap_or_default(),
        param_sources,
        params,
        kernel,
        kernel_cc,
        taps,
        pictures: overrides.pictures,
        capture: overrides.capture,
        snaplen: 0,
        kernel_server: KernelServer::LabHttp,
        exec_stdio: ExecStdio::Discard,
    })
}

/// The parameters in force in scenario `sc`: the lab's, then the scenario's own (which must be
/// the lab's too), then `--set`; `--rtt` or a `delay` in `--link` sets `rtt` where the lab has it.
fn params_in_force(raw: &RawLab, sc: &RawScenario, overrides: &Overrides, at: &str) -> Result<Params, InputError> {
    let mut params = Params { values: raw.params.clone() };
    for (k, v) in &sc.params {
        if !params.values.contains_key(k) {
            return Err(InputError::new(format!(
                "{at}.params.{k}: not a parameter of the lab (declare it in [params])"
            )));
        }
        params.values.insert(k.clone(), v.clone());
    }
    for (k, v) in &overrides.set {
        params.values.insert(k.clone(), Scalar::Str(v.clone()));
    }
    // `--rtt` (or a `delay` in `--link`) is the client–server round trip: where the lab names
    // it `rtt`, timings derived from `${rtt}` follow the flag too.
    if let (Some(rtt), true) = (path_rtt(overrides), params.values.contains_key("rtt")) {
        params.values.insert("rtt".into(), Scalar::Str(crate::units::format_duration(rtt)));
    }
    Ok(params)
}

/// The client–server round trip the command line sets: a `delay` in `--link` (twice it), else
/// `--rtt`.
fn path_rtt(overrides: &Overrides) -> Option<Duration> {
    link_rtt(overrides).or(overrides.rtt)
}

/// Twice the `delay` in `--link`, if it has one.
fn link_rtt(overrides: &Overrides) -> Option<Duration> {
    overrides.link.as_ref().and_then(|words| {
        let cfg = netem::apply(LinkConfig::default(), words).ok()?;
        (cfg.delay != LinkConfig::default().delay).then_some(cfg.delay * 2)
    })
}

/// What a student should know when `--rtt` (or a `delay` in `--link`) runs a lab that has no
/// `rtt` parameter but round trips of other names (`origin_rtt`, `hop_rtt`): the flag sets each
/// scenario's client–server path and nothing else, so the other paths, and the scenario titles
/// that quote those parameters ("the origin 150ms away"), keep their values. `None` where
/// there is nothing to say.
pub fn path_flag_note(lab: &Lab, overrides: &Overrides) -> Option<String> {
    let rtt = path_rtt(overrides)?;
    if lab.raw.params.contains_key("rtt") {
        return None;
    }
    // The values in force: the lab's, or what `--set` gave.
    let value = |k: &str, v: &Scalar| {
        overrides.set.iter().rev().find(|(s, _)| s == k).map_or_else(|| v.to_string(), |(_, v)| v.clone())
    };
    let kept: Vec<String> = lab
        .raw
        .params
        .iter()
        .filter(|(k, _)| k.ends_with("_rtt"))
        .map(|(k, v)| format!("{k} = {}", value(k, v)))
        .collect();
    if kept.is_empty() {
        return None;
    }
    let rtt = crate::units::format_duration(rtt);
    let flag = match link_rtt(overrides) {
        Some(_) => format!("--link's delay (a {rtt} round trip)"),
        None => format!("--rtt {rtt}"),
    };
    Some(format!(
        "{flag} sets each scenario's client–server path only. Lab {} has no `rtt` parameter: its other \
         paths, and the scenario titles that quote them, keep {} (change those with --set)",
        lab.raw.name,
        kept.join(", ")
    ))
}

/// The resolver and authority roles are DNS services like any other.
fn add_dns_roles(hosts: &mut [HostPlan]) {
    for h in hosts {
        let dns = match h.role {
            Role::Resolver => Some(DnsHandler::Resolver),
            Role::Authority => Some(DnsHandler::Authority),
            _ => None,
        };
        if let Some(which) = dns {
            let port = crate::proto::dns::PORT;
            h.services.push(ServiceSpec {
                port,
                handler: Handler::Dns(which),
                concurrency: None,
                tls: None,
                http: crate::service::HttpVersion::Http1,
            });
        }
    }
}

/// The client, and its peer: the server, else the first host serving what the client calls
/// (a workload's `to`), else the first host serving HTTP.
fn client_and_server(hosts: &[HostPlan], sc: &RawScenario) -> Result<(usize, usize), InputError> {
    let find = |role: Role| hosts.iter().position(|h| h.role == role);
    let client =
        find(Role::Client).ok_or_else(|| InputError::new("[[host]]: the lab needs one host with role = \"client\""))?;
    let workload_to = sc.steps.iter().chain(&sc.warmup).find_map(|t| match t.get("step") {
        Some(toml::Value::String(k)) if k == "workload" => t.get("to").and_then(|v| v.as_str()).map(str::to_string),
        _ => None,
    });
    let http = |h: &HostPlan| h.services.iter().any(|s| s.is_http() || s.relay().is_some());
    let served = workload_to
        .and_then(|to| hosts.iter().position(|h| (h.name == to || h.group == to) && http(h)))
        .or_else(|| hosts.iter().position(http));
    let server = find(Role::Server).or(served).ok_or_else(|| {
        InputError::new("[[host]]: the lab needs one host with role = \"server\", or a host with a [[host.service]]")
    })?;
    Ok((client, server))
}

/// The index of the host called `name` (`field`: where the name was written, for errors).
pub(super) fn host_index(hosts: &[HostPlan], name: &str, field: &str) -> Result<usize, InputError> {
    hosts.iter().position(|h| h.name == name).ok_or_else(|| {
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        InputError::new(format!("{field}: unknown host `{name}` (hosts: {})", names.join(", ")))
    })
}

/// The scenario's warm-up and its steps, parsed and checked one by one and as a sequence.
fn script_steps(
    sc: &RawScenario,
    hosts: &[HostPlan],
    dns: Option<&DnsPlan>,
    params: &Params,
    at: &str,
) -> Result<(Vec<Step>, Vec<Step>), InputError> {
    let steps = |list: &[toml::Table], what: &str| -> Result<Vec<Step>, InputError> {
        list.iter().enumerate().map(|(i, t)| Step::parse(t, &format!("{at}.{what}[{}]", i + 1), params)).collect()
    };
    let warmup = steps(&sc.warmup, "warmup")?;
    let main = steps(&sc.steps, "steps")?;
    if main.is_empty() {
        return Err(InputError::new(format!("{at}.steps: a scenario needs at least one step")));
    }
    for step in warmup.iter().chain(&main) {
        super::step_checks::check_step(step, hosts, dns, at)?;
    }
    super::step_checks::check_sequence(warmup.iter().chain(&main), at)?;
    Ok((warmup, main))
}

/// The hosts the scenario has played by the kernel (`kernel`), each able to run its part; a
/// scenario with `exec` steps needs its client among them.
fn kernel_hosts(
    sc: &RawScenario,
    hosts: &[HostPlan],
    client: usize,
    warmup: &[Step],
    main: &[Step],
    at: &str,
) -> Result<Vec<usize>, InputError> {
    let mut kernel = Vec::new();
    for name in &sc.kernel {
        let h = host_index(hosts, name, &format!("{at}.kernel"))?;
        super::step_checks::check_kernel_host(&hosts[h], warmup.iter().chain(main), at)?;
        kernel.push(h);
    }
    if !kernel.contains(&client) && warmup.iter().chain(main).any(|s| matches!(s, Step::Exec { .. })) {
        return Err(InputError::new(format!(
            "{at}: `exec` steps run real commands on a kernel client; add kernel = [\"{}\"] to the scenario",
            hosts[client].name
        )));
    }
    Ok(kernel)
}

/// The hosts other than the client to capture at (`--tap`, `all` for every one), in host order.
fn taps(hosts: &[HostPlan], client: usize, overrides: &Overrides) -> Result<Vec<usize>, InputError> {
    let mut taps = Vec::new();
    for name in &overrides.taps {
        if name == "all" {
            taps.extend((0..hosts.len()).filter(|&h| h != client));
        } else {
            let h = hosts.iter().position(|h| h.name == *name).ok_or_else(|| {
                let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                InputError::new(format!("--tap {name}: no such host (hosts: {}, or all)", names.join(", ")))
            })?;
            if h != client {
                taps.push(h);
            }
        }
    }
    taps.sort_unstable();
    taps.dedup();
    Ok(taps)
}
