//! `[dns]`: the lab's names, their TTL, and how the resolver caches them.

use std::collections::BTreeMap;

use super::fields::Params;
use super::params::{self, Field, Kind};
use super::plan::HostPlan;
use super::raw::RawDns;
use super::InputError;
use crate::proto::dns::{ResolverPolicy, RESOLVER_PRESETS};

/// `[dns]` resolved for a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsPlan {
    /// DNS name (lower case) → the hosts of its A records, in order.
    pub names: BTreeMap<String, Vec<usize>>,
    pub ttl: u32,
    /// How the resolver caches.
    pub resolver: ResolverPolicy,
}

/// `[dns]`'s `ttl` (whole seconds, at most 2^31 - 1).
pub const DNS_TTL: Field = Field::new("ttl", Kind::Duration(params::TTL), "TTL of the lab's DNS records");

/// Resolves `[dns]` against the scenario's hosts and parameters.
pub fn resolve(raw: &RawDns, hosts: &[HostPlan], params: &Params) -> Result<DnsPlan, InputError> {
    let mut names = BTreeMap::new();
    for (name, targets) in &raw.names {
        let field = format!("[dns].names.{name}");
        let list = targets.names();
        if list.is_empty() {
            return Err(InputError::new(format!("{field}: empty; name at least one host")));
        }
        let mut indices = Vec::new();
        for host in list {
            indices.push(hosts.iter().position(|h| h.name == host).ok_or_else(|| {
                let all: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                InputError::new(format!("{field}: unknown host `{host}` (hosts: {})", all.join(", ")))
            })?);
        }
        names.insert(name.trim_end_matches('.').to_ascii_lowercase(), indices);
    }
    let seconds = |key: &str, v: &Option<super::raw::Scalar>| -> Result<Option<u32>, InputError> {
        v.as_ref()
            .map(|v| params.resolve(&format!("[dns].{key}"), v)?.duration_in(params::TTL).map(|d| d.as_secs() as u32))
            .transpose()
    };
    let ttl = seconds("ttl", &raw.ttl)?.unwrap_or(300);
    let presets = RESOLVER_PRESETS;
    let mut resolver = match &raw.resolver {
        None => ResolverPolicy::default(),
        Some(v) => {
            let names: Vec<&str> = presets.iter().map(|(n, _, _)| *n).collect();
            let chosen = params.resolve("[dns].resolver", v)?.choice(&names)?;
            presets.iter().find(|(n, _, _)| *n == chosen).map(|(_, p, _)| *p).unwrap_or_default()
        }
    };
    if let Some(min) = seconds("min_ttl", &raw.min_ttl)? {
        resolver.min_ttl = min;
    }
    if let Some(max) = seconds("max_ttl", &raw.max_ttl)? {
        resolver.max_ttl = max;
    }
    if resolver.min_ttl > resolver.max_ttl {
        return Err(InputError::new(format!(
            "[dns]: min_ttl ({} s) is above max_ttl ({} s); the resolver's clamp needs min_ttl <= max_ttl",
            resolver.min_ttl, resolver.max_ttl
        )));
    }
    if let Some(v) = &raw.serve_stale {
        resolver.serve_stale = params.resolve("[dns].serve_stale", v)?.bool()?;
    }
    Ok(DnsPlan { names, ttl, resolver })
}
