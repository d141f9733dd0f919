//! `[[scenario.drop]]`: the scripted drops of a scenario, each the `nth` packet of a kind (or of
//! any kind) in one direction between two hosts, added to that direction's link.

use super::fields::Params;
use super::params::{Field, IntRange, Kind};
use super::plan::{host_index, HostPlan};
use super::raw::RawDrop;
use super::InputError;
use crate::link::{DropRule, LinkConfig, PacketKind};

/// `[[scenario.drop]]`'s `nth`.
pub const DROP_NTH_RANGE: IntRange = IntRange::new(1, u64::MAX >> 1);
/// `[[scenario.drop]]`'s `nth`, as a field.
pub const DROP_NTH: Field = Field::new(
    "nth",
    Kind::Int(DROP_NTH_RANGE),
    "which packet of the kind is dropped, counted from 1 in that direction",
);

/// Adds the scenario's `drops` (`at`: the scenario, for errors) to `links`, indexed
/// `from * hosts + to`.
pub(super) fn add(
    links: &mut [(LinkConfig, Vec<DropRule>)],
    drops: &[RawDrop],
    hosts: &[HostPlan],
    params: &Params,
    at: &str,
) -> Result<(), InputError> {
    let n = hosts.len();
    for (i, d) in drops.iter().enumerate() {
        let field = format!("{at}.drop[{i}]");
        let from = host_index(hosts, &d.from, &format!("{field}.from"))?;
        let to = host_index(hosts, &d.to, &format!("{field}.to"))?;
        let kind = if d.packet == "any" {
            None
        } else {
            Some(PacketKind::from_name(&d.packet).ok_or_else(|| {
                let names: Vec<&str> = PacketKind::NAMES.iter().map(|(n, _)| *n).collect();
                InputError::new(format!(
                    "{field}.packet: unknown packet kind `{}` (allowed: any, {})",
                    d.packet,
                    names.join(", ")
                ))
            })?)
        };
        let nth = params.resolve(&format!("{field}.nth"), &d.nth)?.int(DROP_NTH_RANGE)?;
        let label = format!("{} {} {}->{}", ordinal(nth), d.packet, d.from, d.to);
        links[from * n + to].1.push(DropRule { kind, nth, label });
    }
    Ok(())
}

/// `1st`, `2nd`, `3rd`, `4th`, ..., `11th`, `21st`.
fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}
