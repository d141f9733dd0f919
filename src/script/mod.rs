//! Lab files: TOML that describes hosts, links, scenarios and expectations.
//!
//! A lab is loaded from a path or from the copies built into the binary ([`BUILTIN`]), so
//! `wirelab run handshake` works from any directory. Loading checks the whole file; each
//! scenario is then resolved into a [`plan::ScenarioPlan`] with parameters substituted.

pub mod clients_step;
pub mod dns;
mod drops;
pub mod events;
pub mod expect;
pub mod fields;
mod overrides;
pub mod params;
mod paths;
pub mod plan;
pub mod raw;
pub mod relay;
mod runner_params;
pub mod services;
mod shown;
mod step_checks;
pub mod steps;
mod upstreams;

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use plan::{HostPlan, ROLES};
use raw::RawLab;

/// Labs built into the binary: (name, TOML text).
/// The most replicas one `[[host]]` may have.
pub const MAX_REPLICAS: u32 = 1000;

pub const BUILTIN: &[(&str, &str)] = &[
    ("handshake", include_str!("../../labs/handshake.toml")),
    ("slow-start", include_str!("../../labs/slow-start.toml")),
    ("keepalive", include_str!("../../labs/keepalive.toml")),
    ("hol", include_str!("../../labs/hol.toml")),
    ("tail-latency", include_str!("../../labs/tail-latency.toml")),
    ("latency-budget", include_str!("../../labs/latency-budget.toml")),
    ("dns-failover", include_str!("../../labs/dns-failover.toml")),
];

/// A mistake in what the user gave us (exit status 2). The message names the field, the
/// value and what is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError(pub String);

impl InputError {
    pub fn new(message: impl Into<String>) -> Self {
        InputError(message.into())
    }

    /// Prefixes the message with where it was found (a file name).
    pub fn within(self, origin: &str) -> Self {
        InputError(format!("{origin}: {}", self.0))
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// A loaded, checked lab file.
#[derive(Clone, Debug)]
pub struct Lab {
    pub raw: RawLab,
    /// Where it came from: a path, or `built-in:NAME`.
    pub origin: String,
}

impl Lab {
    /// Loads `arg`: a path to a `.toml` file, or the name of a built-in lab.
    pub fn load(arg: &str) -> Result<Lab, InputError> {
        let (text, origin) = Lab::read(arg)?;
        Lab::parse(&text, &origin)
    }

    /// The text of lab `arg` (a path or a built-in name), unchecked, and its origin (the path,
    /// or `built-in:NAME`).
    pub fn read(arg: &str) -> Result<(String, String), InputError> {
        let looks_like_path = arg.ends_with(".toml") || arg.contains('/') || Path::new(arg).is_file();
        if looks_like_path {
            let bytes = std::fs::read(arg).map_err(|e| InputError::new(format!("{arg}: cannot read lab file: {e}")))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                InputError::new(format!(
                    "{arg}: lab file is not UTF-8 (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ))
            })?;
            return Ok((text, arg.to_string()));
        }
        match BUILTIN.iter().find(|(name, _)| *name == arg) {
            Some((name, text)) => Ok((text.to_string(), format!("built-in:{name}"))),
            None => Err(InputError::new(format!(
                "unknown lab `{arg}` (built-in labs: {}; or give a path to a .toml file)",
                BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Parses and checks lab text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Lab, InputError> {
        if text.trim().is_empty() {
            return Err(InputError::new(format!(
                "{origin}: lab file is empty (it needs name, [[host]] and [[scenario]] entries)"
            )));
        }
        let raw: RawLab = toml::from_str(text).map_err(|e| InputError::new(format!("{origin}: {}", one_line(&e))))?;
        let lab = Lab { raw, origin: origin.to_string() };
        lab.check().map_err(|e| e.within(origin))?;
        Ok(lab)
    }

    /// Checks what can be checked without resolving parameters, then resolves every
    /// scenario once so that mistakes surface before anything runs.
    fn check(&self) -> Result<(), InputError> {
        let raw = &self.raw;
        if !valid_name(&raw.name) {
            return Err(InputError::new(format!(
                "name: `{}` is not a valid lab name (lower-case letters, digits and '-')",
                raw.name
            )));
        }
        self.hosts()?;
        if raw.scenarios.is_empty() {
            return Err(InputError::new("[[scenario]]: the lab has no scenarios"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for sc in &raw.scenarios {
            if !valid_name(&sc.name) {
                return Err(InputError::new(format!(
                    "[[scenario]] name: `{}` is not a valid scenario name (lower-case letters, digits and '-')",
                    sc.name
                )));
            }
            if !seen.insert(sc.name.as_str()) {
                return Err(InputError::new(format!("[[scenario]] name: `{}` is used twice", sc.name)));
            }
        }
        for (i, e) in raw.expects.iter().enumerate() {
            for s in &e.scenarios {
                if !seen.contains(s.as_str()) {
                    return Err(InputError::new(format!("[[expect]] {}.scenarios: unknown scenario `{s}`", i + 1)));
                }
            }
        }
        if let Some(sw) = &raw.size_sweep {
            for name in [&sw.fresh, &sw.warm] {
                if !seen.contains(name.as_str()) {
                    return Err(InputError::new(format!("[size_sweep]: unknown scenario `{name}`")));
                }
            }
            for size in &sw.sizes {
                crate::units::parse_size(size).map_err(|e| InputError::new(format!("[size_sweep].sizes: {e}")))?;
            }
            if !raw.params.contains_key("response_size") {
                return Err(InputError::new("[size_sweep]: the lab needs a `response_size` parameter to vary"));
            }
        }
        if let Some(lt) = &raw.loss_table {
            for name in &lt.scenarios {
                if !seen.contains(name.as_str()) {
                    return Err(InputError::new(format!("[loss_table].scenarios: unknown scenario `{name}`")));
                }
            }
            for l in &lt.losses {
                crate::units::parse_percent(l).map_err(|e| InputError::new(format!("[loss_table].losses: {e}")))?;
            }
            if !(1..=10_000).contains(&lt.seeds) {
                return Err(InputError::new(format!(
                    "[loss_table].seeds: {} is out of range (allowed: 1 to 10000)",
                    lt.seeds
                )));
            }
            if !raw.params.contains_key("loss") {
                return Err(InputError::new("[loss_table]: the lab needs a `loss` parameter to vary"));
            }
        }
        for (i, t) in raw.theory.iter().enumerate() {
            if !seen.contains(t.scenario.as_str()) {
                return Err(InputError::new(format!(
                    "[[theory]] {}.scenario: unknown scenario `{}`",
                    i + 1,
                    t.scenario
                )));
            }
            expect::Operand::parse(&t.measure, &format!("[[theory]] {}.measure", i + 1))?;
            const MODELS: [&str; 16] = [
                "fixed",
                "rtts_in_ms",
                "slow_start",
                "fresh",
                "fresh_cold_dns",
                "iw_bytes",
                "all_calls_under_p99",
                "chain_percentile",
                "fanout_slow",
                "hedge_load",
                "budget_rtts",
                "budget_hop_share",
                "fresh_over_pooled",
                "failover_bound",
                "connect_giveup",
                "dns_queries",
            ];
            if let Some(m) = t.model.as_deref().filter(|m| !MODELS.contains(m)) {
                return Err(InputError::new(format!(
                    "[[theory]] {}.model: unknown model `{m}` (allowed: {})",
                    i + 1,
                    MODELS.join(", ")
                )));
            }
        }
        for i in 0..raw.scenarios.len() {
            plan::plan(self, i, &plan::Overrides::default())?;
        }
        Ok(())
    }

    /// The hosts, checked: names unique, addresses valid and distinct, roles known; replicas
    /// expanded. Their services are read per scenario, by [`plan::plan`].
    pub fn hosts(&self) -> Result<Vec<HostPlan>, InputError> {
        let mut hosts: Vec<HostPlan> = Vec::new();
        for (i, h) in self.raw.hosts.iter().enumerate() {
            let at = format!("[[host]] {}", i + 1);
            if !valid_name(&h.name) {
                return Err(InputError::new(format!("{at}.name: `{}` is not a valid host name", h.name)));
            }
            let addr: Ipv4Addr = h
                .addr
                .parse()
                .map_err(|_| InputError::new(format!("{at}.addr: `{}` is not an IPv4 address", h.addr)))?;
            if let Some(why) = not_a_host_address(addr) {
                return Err(InputError::new(format!(
                    "{at}.addr: {addr} is {why} (allowed: a unicast IPv4 address, e.g. 10.0.0.1)"
                )));
            }
            let role_name = h.role.as_deref().unwrap_or("host");
            let role = ROLES.iter().find(|(n, _)| *n == role_name).map(|(_, r)| *r).ok_or_else(|| {
                let names: Vec<&str> = ROLES.iter().map(|(n, _)| *n).collect();
                InputError::new(format!("{at}.role: unknown role `{role_name}` (allowed: {})", names.join(", ")))
            })?;
            let replicas = h.replicas.unwrap_or(1);
            if !(1..=MAX_REPLICAS).contains(&replicas) {
                return Err(InputError::new(format!(
                    "{at}.replicas: {replicas} (allowed: a whole number from 1 to {MAX_REPLICAS})"
                )));
            }
            if h.replicas.is_some() && !matches!(role, plan::Role::Host) {
                return Err(InputError::new(format!(
                    "{at}.replicas: only hosts with role = \"host\" (services) have replicas; this one is the {role_name}"
                )));
            }
            if matches!(role, plan::Role::Client | plan::Role::Resolver | plan::Role::Authority)
                && !h.services.is_empty()
            {
                return Err(InputError::new(format!(
                    "{at}.service: the {role_name} runs no services (give services to a host with role = \"host\")"
                )));
            }
            if role != plan::Role::Resolver
                && role != plan::Role::Authority
                && role != plan::Role::Host
                && hosts.iter().any(|o| o.role == role)
            {
                return Err(InputError::new(format!("{at}.role: only one host may be the {role_name}")));
            }
            for r in 0..replicas {
                let name = if h.replicas.is_some() { format!("{}-{}", h.name, r + 1) } else { h.name.clone() };
                let addr =
                    u32::from(addr).checked_add(r).map(Ipv4Addr::from).filter(|a| not_a_host_address(*a).is_none());
                let Some(addr) = addr else {
                    return Err(InputError::new(format!(
                        "{at}.replicas: {replicas} replicas from {} run past the usable addresses",
                        h.addr
                    )));
                };
                if let Some(other) = hosts.iter().find(|o| o.name == name || o.addr == addr) {
                    return Err(InputError::new(format!("{at}: name or address clashes with host `{}`", other.name)));
                }
                let group = h.name.clone();
                hosts.push(HostPlan { name, addr, role, group, raw: i, services: Vec::new(), lab_server: None });
            }
        }
        if hosts.is_empty() {
            return Err(InputError::new("[[host]]: the lab has no hosts"));
        }
        Ok(hosts)
    }

    /// Checks a `--set KEY=VALUE` key: it must be one of the lab's parameters.
    pub fn check_param(&self, key: &str, value: &str) -> Result<(), InputError> {
        if self.raw.params.contains_key(key) {
            return Ok(());
        }
        let known: Vec<&str> = self.raw.params.keys().map(String::as_str).collect();
        Err(InputError::new(format!(
            "--set {key}={value}: unknown parameter `{key}` (lab {} has: {})",
            self.raw.name,
            known.join(", ")
        )))
    }

    /// Checks `--scenario` names: each must be a scenario of the lab.
    pub fn check_scenarios(&self, wanted: &[String]) -> Result<(), InputError> {
        let names = self.scenario_names();
        match wanted.iter().find(|s| !names.contains(&s.as_str())) {
            Some(s) => {
                Err(InputError::new(format!("--scenario {s}: no such scenario (lab has: {})", names.join(", "))))
            }
            None => Ok(()),
        }
    }

    /// Scenario names, in file order.
    pub fn scenario_names(&self) -> Vec<&str> {
        self.raw.scenarios.iter().map(|s| s.name.as_str()).collect()
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// toml's errors span several lines (a source excerpt); keep the first, which has line and column.
fn one_line(e: &toml::de::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("invalid TOML").trim().to_string();
    let message = e.message().trim();
    if first.contains(message) {
        first
    } else {
        format!("{first}: {message}")
    }
}

/// Why `addr` cannot be a lab host's address, or `None` when it can. smoltcp refuses to take
/// broadcast and multicast addresses as its own (it panics), 0.0.0.0 means "any", 127/8 is each
/// namespace's own loopback in real time, and 0/8, 169.254/16 and 240/4 are not for hosts.
pub fn not_a_host_address(addr: Ipv4Addr) -> Option<&'static str> {
    Some(if addr.is_unspecified() {
        "the unspecified address"
    } else if addr.is_broadcast() {
        "the broadcast address"
    } else if addr.is_multicast() {
        "a multicast address"
    } else if addr.is_loopback() {
        "a loopback address"
    } else if addr.is_link_local() {
        "a link-local address"
    } else if addr.octets()[0] == 0 {
        "in 0.0.0.0/8 (\"this network\")"
    } else if addr.octets()[0] >= 240 {
        "in 240.0.0.0/4 (reserved)"
    } else {
        return None;
    })
}
