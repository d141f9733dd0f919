//! The data a scenario's pictures are drawn from, gathered from the network's packet records,
//! the client's capture and the measured phases.

use crate::packet::{self, Plain};
use crate::picture::ladder::{Bracket, Kind, Ladder, Packet};
use crate::script::plan::ScenarioPlan;
use crate::sim::network::Network;
use crate::sim::time::Instant;
use crate::timeline::{self, Phase};

/// The ladder of one finished scenario: every packet the network carried, on one lane per
/// host that sent or received one (the client first), with the measured phases beside the
/// client's lane. Times are ms since `t0`, as the phases are.
pub fn ladder(plan: &ScenarioPlan, net: &Network, phases: &[Phase], t0: Instant, rtt_ms: f64) -> Ladder {
    let vantage = net.tap.host;
    let mut lanes_of: Vec<Option<usize>> = vec![None; plan.hosts.len()];
    let mut lanes = vec![plan.hosts[vantage].name.clone()];
    lanes_of[vantage] = Some(0);
    for r in net.records() {
        for h in [r.from, r.to] {
            if lanes_of[h].is_none() {
                lanes_of[h] = Some(lanes.len());
                lanes.push(plan.hosts[h].name.clone());
            }
        }
    }
    let frames: Vec<_> = net.tap.capture.packets().collect();
    let rel = |t: Instant| timeline::ms(t.micros()) - timeline::ms(t0.micros());
    let packets = net
        .records()
        .iter()
        .map(|r| {
            let frame = r.frame.and_then(|f| frames.get(f as usize - 1));
            let (short, what) = match frame {
                Some(f) => {
                    let names = f.tls.map(|t| t.names.as_slice());
                    let short = packet::summarize(f.bytes).map(|s| s.short(f.bytes, names));
                    (short, f.what())
                }
                None => (r.short.clone(), r.what.clone().unwrap_or_else(|| format!("{} bytes", r.len))),
            };
            let short =
                short.unwrap_or(packet::Short { label: format!("{} B", r.len), plain: Plain::Named, payload: r.len });
            let sent_ms = rel(r.sent);
            let delay_ms = plan.link(r.from, r.to).delay.as_secs_f64() * 1000.0;
            Packet {
                from: lanes_of[r.from].unwrap_or(0),
                to: lanes_of[r.to].unwrap_or(0),
                sent_ms,
                arrived_ms: r.arrived.map(rel),
                due_ms: sent_ms + delay_ms,
                lost: r.lost.as_ref().map(ToString::to_string),
                frame: r.frame,
                label: short.label,
                what,
                kind: match short.plain {
                    Plain::Named => Kind::Named,
                    Plain::Data => Kind::Data,
                    Plain::Ack => Kind::Ack,
                },
                payload: short.payload,
            }
        })
        .collect();
    let brackets = phases
        .iter()
        .map(|p| Bracket { label: p.label.clone(), start_ms: p.start_ms, end_ms: p.end_ms, rtts: p.rtts })
        .collect();
    let capture = format!("{}-{}.pcapng", plan.lab, plan.name);
    Ladder {
        id: plan.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect(),
        title: format!("{} · {}: {}", plan.lab, plan.name, plan.title),
        subtitle: format!(
            "path {} · RTT {rtt_ms} ms · frame numbers (#) are those of {capture}",
            super::netem_words(plan.link(plan.client, plan.server))
        ),
        rtt_ms: (rtt_ms > 0.0).then_some(rtt_ms),
        lanes,
        packets,
        brackets,
    }
}
