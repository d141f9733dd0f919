//! The lab's paths resolved into one [`LinkConfig`] per direction of each pair of hosts.
//!
//! Layers, each on top of the one before, for the direction from host `a` to host `b`:
//!
//! 1. `[link]`'s keys (`rtt`, `delay`, ..., `netem`), on every path; then its `up` words if `a`
//!    is the client, its `down` words if `b` is (the client's access link: `up` is what the
//!    client sends, `down` what it receives). Paths between two other hosts take only the
//!    symmetric keys.
//! 2. The last `[[path]]` whose `between` names the pair (either order) refines that: its keys,
//!    then `up` if `a` is its first host, `down` if `a` is its second.
//! 3. On the client–server path, the command line: `--rtt`, `--loss`, `--link`.
//! 4. Flow rules: the `[[path.flow]]`s of that `[[path]]`, then the `[[link.flow]]`s, in file
//!    order; a packet takes the first that matches ([`crate::link::flow`]). Each starts from
//!    the direction's settings (1 to 3) and applies its own keys, then its `up` or `down` (for a
//!    `[[link.flow]]`, by the client as in 1).
//!
//! Trace files (`rate trace FILE`, `delay trace FILE`) are read relative to the lab file's
//! directory; a built-in lab has none, so it cannot name one.

use std::path::{Path, PathBuf};

use super::fields::Params;
use super::params;
use super::plan::{HostPlan, Overrides, LINK_LIMIT, LINK_MTU};
use super::raw::{RawLink, Scalar};
use super::{InputError, Lab};
use crate::link::{netem, FlowMatch, FlowRule, LinkConfig, LossModel};

/// The link config of every direction, indexed `from * hosts + to` (`from == to`: unused).
pub fn links(
    lab: &Lab,
    hosts: &[HostPlan],
    (client, server): (usize, usize),
    params: &Params,
    overrides: &Overrides,
) -> Result<Vec<LinkConfig>, InputError> {
    let raw = &lab.raw;
    let dir = (!lab.origin.starts_with("built-in:"))
        .then(|| Path::new(&lab.origin).parent().map(Path::to_path_buf).unwrap_or_default());
    let r = Resolver { params, dir, hosts };
    let n = hosts.len();
    check_shape(&raw.link, "[link]", Shape::Link)?;
    let base = r.config(LinkConfig::default(), &raw.link, "[link]")?;
    // [[path]]s, by pair: (index, first host, second host).
    let mut paths = Vec::new();
    for (i, path) in raw.paths.iter().enumerate() {
        let field = format!("[[path]] {}", i + 1);
        check_shape(path, &field, Shape::Path)?;
        let between = path.between.as_ref().filter(|b| b.len() == 2).ok_or_else(|| {
            InputError::new(format!(
                "{field}.between: expected two host names, e.g. between = [\"client\", \"server\"]"
            ))
        })?;
        let a = r.host(&between[0], &format!("{field}.between"))?;
        let b = r.host(&between[1], &format!("{field}.between"))?;
        paths.push((i, a, b));
    }
    let mut links = vec![LinkConfig::default(); n * n];
    for from in 0..n {
        for to in (0..n).filter(|&to| to != from) {
            // 1. [link], with its up/down on the client's paths.
            let by_client = |words: &'static str| match (from == client, to == client) {
                (true, _) => Some(words),
                (_, true) => Some(if words == "up" { "down" } else { "up" }),
                _ => None,
            };
            let mut cfg = r.direction(base.clone(), &raw.link, "[link]", by_client("up"))?;
            // 2. The last [[path]] of the pair.
            let path = paths.iter().rev().find(|&&(_, a, b)| (a, b) == (from, to) || (b, a) == (from, to));
            if let Some(&(i, a, _)) = path {
                let field = format!("[[path]] {}", i + 1);
                let own = r.config(cfg, &raw.paths[i], &field)?;
                cfg = r.direction(own, &raw.paths[i], &field, Some(if a == from { "up" } else { "down" }))?;
            }
            // 3. The command line, on the client–server path.
            if (from, to) == (client, server) || (from, to) == (server, client) {
                cfg = command_line(cfg, overrides)?;
            }
            // 4. Flow rules.
            let mut flows = Vec::new();
            if let Some(&(i, a, _)) = path {
                let side = if a == from { "up" } else { "down" };
                for (k, flow) in raw.paths[i].flows.iter().enumerate() {
                    flows.push(r.flow(&cfg, flow, &format!("[[path]] {}.flow {}", i + 1, k + 1), Some(side))?);
                }
            }
            for (k, flow) in raw.link.flows.iter().enumerate() {
                flows.push(r.flow(&cfg, flow, &format!("[[link.flow]] {}", k + 1), by_client("up"))?);
            }
            cfg.flows = flows;
            let names = (&hosts[from].name, &hosts[to].name);
            cfg.validate().map_err(|e| InputError::new(format!("path {} -> {}: {e}", names.0, names.1)))?;
            links[from * n + to] = cfg;
        }
    }
    Ok(links)
}

/// `--rtt`, `--loss` and `--link` on one direction of the client–server path.
fn command_line(mut cfg: LinkConfig, overrides: &Overrides) -> Result<LinkConfig, InputError> {
    if let Some(rtt) = overrides.rtt {
        cfg.delay = rtt / 2;
        cfg.delay_trace = None;
    }
    if let Some(p) = overrides.loss {
        cfg.loss = if p > 0.0 { LossModel::Bernoulli { p } } else { LossModel::None };
        cfg.loss_correlation = 0.0;
    }
    if let Some(words) = &overrides.link {
        cfg = netem::apply(cfg, words).map_err(|e| InputError::new(e.to_string()))?;
    }
    Ok(cfg)
}

/// Where a table of link keys sits, for what it may hold.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Link,
    Path,
    Flow,
}

/// Refuses keys that do not belong where they are: `match` outside a flow, `between` outside a
/// `[[path]]`, flows inside a flow.
fn check_shape(raw: &RawLink, field: &str, shape: Shape) -> Result<(), InputError> {
    if raw.matches.is_some() && shape != Shape::Flow {
        return Err(InputError::new(format!(
            "{field}.match: `match` belongs in a flow rule ([[path.flow]] or [[link.flow]])"
        )));
    }
    if raw.between.is_some() && shape != Shape::Path {
        return Err(InputError::new(format!("{field}.between: `between` belongs in a [[path]]")));
    }
    if !raw.flows.is_empty() && shape == Shape::Flow {
        return Err(InputError::new(format!("{field}.flow: a flow rule cannot hold flow rules")));
    }
    Ok(())
}

/// Netem `words` on top of `cfg`, trace files read next to the lab file (a scheduled event's
/// change of a path); `field` names the words in errors.
pub fn apply_words(
    lab: &Lab,
    hosts: &[HostPlan],
    params: &Params,
    cfg: LinkConfig,
    words: &str,
    field: &str,
) -> Result<LinkConfig, InputError> {
    let dir = (!lab.origin.starts_with("built-in:"))
        .then(|| Path::new(&lab.origin).parent().map(Path::to_path_buf).unwrap_or_default());
    Resolver { params, dir, hosts }.netem(cfg, words, field)
}

/// What resolving keys needs: the parameters, the lab's directory (for traces) and the hosts
/// (for `host NAME` in a match).
struct Resolver<'a> {
    params: &'a Params,
    dir: Option<PathBuf>,
    hosts: &'a [HostPlan],
}

impl Resolver<'_> {
    fn host(&self, name: &str, field: &str) -> Result<usize, InputError> {
        self.hosts.iter().position(|h| h.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
            InputError::new(format!("{field}: unknown host `{name}` (hosts: {})", names.join(", ")))
        })
    }

    /// Applies netem `words` (a lab field's value), reading trace files next to the lab file.
    fn netem(&self, cfg: LinkConfig, words: &str, field: &str) -> Result<LinkConfig, InputError> {
        let load = |file: &str| {
            match &self.dir {
            Some(dir) => std::fs::read_to_string(dir.join(file)).map_err(|e| format!("{}: {e}", dir.join(file).display())),
            None => Err("a built-in lab has no directory to read trace files from; copy it (wirelab show LAB --toml) and run the copy".into()),
        }
        };
        netem::apply_with(cfg, words, &load).map_err(|e| InputError::new(format!("{field}: {e}")))
    }

    /// `raw`'s symmetric keys on top of `base`.
    fn config(&self, base: LinkConfig, raw: &RawLink, field: &str) -> Result<LinkConfig, InputError> {
        let mut c = base;
        let params = self.params;
        let get = |key: &str, v: &Option<Scalar>| {
            v.as_ref().map(|s| params.resolve(&format!("{field}.{key}"), s)).transpose()
        };
        if raw.rtt.is_some() && raw.delay.is_some() {
            return Err(InputError::new(format!("{field}: set `rtt` (round trip) or `delay` (one way), not both")));
        }
        if let Some(v) = get("rtt", &raw.rtt)? {
            c.delay = v.duration_in(params::RTT)? / 2;
            c.delay_trace = None;
        }
        if let Some(v) = get("delay", &raw.delay)? {
            c.delay = v.duration_in(params::ONE_WAY)?;
            c.delay_trace = None;
        }
        if let Some(v) = get("jitter", &raw.jitter)? {
            c.jitter = v.duration_in(params::ONE_WAY)?;
        }
        if let Some(v) = get("loss", &raw.loss)? {
            let p = v.percent()?;
            c.loss = if p > 0.0 { LossModel::Bernoulli { p } } else { LossModel::None };
            c.loss_correlation = 0.0;
        }
        if let Some(v) = get("duplicate", &raw.duplicate)? {
            c.duplicate = v.percent()?;
        }
        if let Some(v) = get("reorder", &raw.reorder)? {
            c.reorder = v.percent()?;
        }
        if let Some(v) = get("rate", &raw.rate)? {
            c.rate_bps = Some(v.rate()?);
            c.rate_trace = None;
        }
        if let Some(v) = get("limit", &raw.limit)? {
            c.limit = v.int(LINK_LIMIT)? as usize;
        }
        if let Some(v) = get("mtu", &raw.mtu)? {
            c.mtu = Some(v.int(LINK_MTU)? as usize);
        }
        if let Some(v) = get("netem", &raw.netem)? {
            c = self.netem(c, &v.string()?, &format!("{field}.netem"))?;
        }
        Ok(c)
    }

    /// `raw`'s `up` or `down` words (`side`), if it has them, on top of `cfg`.
    fn direction(
        &self,
        cfg: LinkConfig,
        raw: &RawLink,
        field: &str,
        side: Option<&str>,
    ) -> Result<LinkConfig, InputError> {
        let words = match side {
            Some("up") => raw.up.as_ref(),
            Some(_) => raw.down.as_ref(),
            None => None,
        };
        let Some(words) = words else { return Ok(cfg) };
        let field = format!("{field}.{}", side.unwrap_or_default());
        let text = self.params.resolve(&field, words)?.string()?;
        self.netem(cfg, &text, &field)
    }

    /// A flow rule for a direction whose settings are `path`.
    fn flow(&self, path: &LinkConfig, raw: &RawLink, field: &str, side: Option<&str>) -> Result<FlowRule, InputError> {
        check_shape(raw, field, Shape::Flow)?;
        let text = raw.matches.as_deref().ok_or_else(|| {
            InputError::new(format!("{field}.match: missing; say which packets, e.g. match = \"udp port 443\""))
        })?;
        let addr = |name: &str| self.hosts.iter().find(|h| h.name == name).map(|h| h.addr);
        let matcher =
            FlowMatch::parse(text, addr).map_err(|e| InputError::new(format!("{field}.match: \"{text}\": {e}")))?;
        let mut own = path.clone();
        own.flows.clear();
        let own = self.config(own, raw, field)?;
        let config = self.direction(own, raw, field, side)?;
        Ok(FlowRule { matcher, config })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::plan::{plan, Overrides};
    use super::super::Lab;
    use crate::link::LossModel;

    const LAB: &str = r#"
name = "paths"
[link]
delay = "10ms"
up = "rate 1mbit"
down = "rate 20mbit"

[[link.flow]]
match = "udp port 53"
loss = "50%"

[[path]]
between = ["server", "client"]
up = "delay 30ms"

[[path.flow]]
match = "tcp port 443"
down = "loss 5%"

[[path]]
between = ["resolver", "server"]
down = "rate 5mbit"

[[host]]
name = "client"
addr = "10.0.0.1"
role = "client"

[[host]]
name = "server"
addr = "10.0.0.2"
role = "server"

[[host]]
name = "resolver"
addr = "10.0.0.3"
role = "resolver"

[[scenario]]
name = "s"
steps = [{ step = "connect", to = "server", port = 80 }]
"#;

    #[test]
    fn layers_apply_in_order_and_by_direction() {
        let lab = Lab::parse(LAB, "built-in:paths").unwrap();
        let p = plan(&lab, 0, &Overrides::default()).unwrap();
        let (client, server, resolver) = (0, 1, 2);
        // [link] up/down on the client's paths; the [[path]] names the server first, so its
        // `up` is server -> client.
        let down = p.link(server, client);
        assert_eq!((down.delay, down.rate_bps), (Duration::from_millis(30), Some(20_000_000)));
        let up = p.link(client, server);
        assert_eq!((up.delay, up.rate_bps), (Duration::from_millis(10), Some(1_000_000)));
        assert_eq!(p.link(client, resolver).rate_bps, Some(1_000_000));
        assert_eq!(p.link(resolver, client).rate_bps, Some(20_000_000));
        // Between two other hosts: the symmetric keys only, then that [[path]]'s own `down`
        // (its second host, the server, to its first).
        assert_eq!(p.link(resolver, server).rate_bps, None);
        assert_eq!(p.link(server, resolver).rate_bps, Some(5_000_000));
        // Flows: the path's own first, then [link]'s; each from its direction's settings.
        let rules: Vec<&str> = down.flows.iter().map(|f| f.matcher.text.as_str()).collect();
        assert_eq!(rules, ["tcp port 443", "udp port 53"]);
        assert_eq!(down.flows[0].config.delay, Duration::from_millis(30));
        assert_eq!(down.flows[0].config.loss, LossModel::None, "the path's `down` is client -> server");
        assert_eq!(up.flows[0].config.loss, LossModel::Bernoulli { p: 0.05 });
        assert_eq!(up.flows[0].config.rate_bps, Some(1_000_000));
        assert_eq!(up.flows[1].config.loss, LossModel::Bernoulli { p: 0.5 });
        assert_eq!(p.link(server, resolver).flows.len(), 1);
    }

    #[test]
    fn the_command_line_changes_the_path_before_its_flows() {
        let lab = Lab::parse(LAB, "built-in:paths").unwrap();
        let overrides = Overrides { link: Some("delay 50ms".into()), ..Overrides::default() };
        let p = plan(&lab, 0, &overrides).unwrap();
        assert_eq!(p.link(1, 0).delay, Duration::from_millis(50));
        assert_eq!(p.link(1, 0).flows[0].config.delay, Duration::from_millis(50));
        assert_eq!(p.link(2, 0).delay, Duration::from_millis(10), "only the client-server path");
    }

    #[test]
    fn a_built_in_lab_cannot_name_a_trace() {
        let text = LAB.replace("down = \"rate 5mbit\"", "down = \"rate trace x.trace\"");
        let e = Lab::parse(&text, "built-in:paths").unwrap_err().to_string();
        assert!(e.contains("[[path]] 2.down") && e.contains("a built-in lab has no directory"), "{e}");
    }
}
