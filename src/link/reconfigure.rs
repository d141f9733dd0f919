//! Links that change over a run: [`Link::reconfigure`], and the flow links a link holds.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::loss::LossState;
use super::{Link, LinkConfig};
use crate::time::Instant;

impl<T: Clone> Link<T> {
    /// A link for a flow rule: no scripted rules (those count on the path's own link), no
    /// flows of its own, and the next ChaCha stream of this link's seed, so it draws nothing
    /// from this link's stream.
    pub(super) fn flow_link(&mut self, mut config: LinkConfig) -> Link<T> {
        config.flows.clear();
        let mut rng = ChaCha8Rng::from_seed(self.rng.get_seed());
        rng.set_stream(self.next_stream);
        self.next_stream = self.next_stream.wrapping_add(1);
        Link::new(config, Vec::new(), rng)
    }

    /// From `now` on, the link works with `config`. `now` must not be before the last send.
    ///
    /// - Packets already sent keep the times they were given: those in flight arrive when
    ///   they were due, and those queued for a rate leave when they were to leave.
    /// - A packet sent from `now` on is scheduled with the new settings: it queues behind
    ///   everything already queued (so the backlog drains at the old rate, and the new rate
    ///   applies from the first new packet on) and takes the new delay, jitter and loss.
    ///   Without `reorder` it still never arrives before a packet sent earlier: a shorter new
    ///   delay makes the first new packets arrive right behind the last old one.
    /// - `limit` applies to the queue as it stands, so lowering it drops new packets until the
    ///   queue drains below it; nothing queued is dropped.
    /// - The loss state (Gilbert-Elliott's state, the correlated loss's last value) is kept if
    ///   the loss settings are unchanged, else it starts afresh; jitter correlation carries on.
    /// - A rate or delay trace equal to the one running keeps its clock; a new one starts at
    ///   `now` (its time 0 is `now`).
    /// - Flow rules with the same match as before keep their links (reconfigured the same
    ///   way); rules that are gone stop taking packets but deliver what they hold; new ones
    ///   start empty.
    /// - Scripted drop rules and their counts, the statistics and the random stream go on.
    pub fn reconfigure(&mut self, now: Instant, config: LinkConfig) {
        if !self.loss.runs(&config.loss, config.loss_correlation) {
            self.loss = LossState::new(config.loss.clone(), config.loss_correlation);
        }
        self.tx.reconfigure(now, config.rate_bps, config.rate_trace.as_ref(), config.limit);
        if config.delay_trace.is_some() && config.delay_trace != self.config.delay_trace {
            self.delay_trace_base = now;
        }
        let mut old: Vec<Option<Link<T>>> = std::mem::take(&mut self.flows).into_iter().map(Some).collect();
        let mut flows = Vec::with_capacity(config.flows.len());
        for rule in &config.flows {
            let same = self.config.flows.iter().zip(&mut old).find(|(f, l)| f.matcher == rule.matcher && l.is_some());
            let link = match same.and_then(|(_, l)| l.take()) {
                Some(mut link) => {
                    let mut own = rule.config.clone();
                    own.flows.clear();
                    link.reconfigure(now, own);
                    link
                }
                None => self.flow_link(rule.config.clone()),
            };
            flows.push(link);
        }
        self.retired.extend(old.into_iter().flatten().filter(|l| l.in_flight() > 0));
        self.flows = flows;
        self.config = config;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::*;
    use crate::rng::stream;

    const MS: u64 = 1000;

    fn t(micros: u64) -> Instant {
        Instant::from_micros(micros)
    }

    fn at(outcome: SendOutcome) -> u64 {
        match outcome {
            SendOutcome::Queued { deliver_at, .. } => deliver_at.micros(),
            SendOutcome::Dropped(reason) => panic!("dropped: {reason}"),
        }
    }

    fn drain(link: &mut Link<u32>) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        while let Some(when) = link.next_delivery() {
            out.push((when.micros(), link.pop_due(when).unwrap()));
        }
        out
    }

    #[test]
    fn a_new_delay_applies_to_packets_sent_after_it() {
        let mut l = Link::new(netem::parse("delay 50ms").unwrap(), Vec::new(), stream(1, "r"));
        assert_eq!(at(l.send(t(0), PacketKind::Data, 100, 1)), 50 * MS);
        l.reconfigure(t(10 * MS), netem::parse("delay 10ms").unwrap());
        // Sent after the change: 10 ms, but never before the packet sent before it.
        assert_eq!(at(l.send(t(10 * MS), PacketKind::Data, 100, 2)), 50 * MS);
        assert_eq!(at(l.send(t(45 * MS), PacketKind::Data, 100, 3)), 55 * MS);
        l.reconfigure(t(60 * MS), netem::parse("delay 30ms").unwrap());
        assert_eq!(at(l.send(t(60 * MS), PacketKind::Data, 100, 4)), 90 * MS);
        assert_eq!(drain(&mut l), [(50 * MS, 1), (50 * MS, 2), (55 * MS, 3), (90 * MS, 4)]);
    }

    #[test]
    fn a_new_rate_starts_after_the_backlog() {
        // 8 Mbit/s: 1000 bytes take 1 ms. Four packets at 0 leave at 1, 2, 3, 4 ms.
        let mut l = Link::new(netem::parse("rate 8mbit").unwrap(), Vec::new(), stream(1, "r"));
        let old: Vec<u64> = (0..4).map(|i| at(l.send(t(0), PacketKind::Data, 1000, i))).collect();
        assert_eq!(old, [MS, 2 * MS, 3 * MS, 4 * MS]);
        // At 1.5 ms the rate halves: the queued packets keep their times, the next one starts
        // when the wire is free (4 ms) and takes 2 ms.
        l.reconfigure(t(1500), netem::parse("rate 4mbit").unwrap());
        assert_eq!(at(l.send(t(1500), PacketKind::Data, 1000, 4)), 6 * MS);
        assert_eq!(at(l.send(t(10 * MS), PacketKind::Data, 1000, 5)), 12 * MS);
        // The limit counts what is queued at the new settings.
        l.reconfigure(t(10 * MS), netem::parse("rate 4mbit limit 1").unwrap());
        assert_eq!(at(l.send(t(10 * MS), PacketKind::Data, 1000, 6)), 14 * MS);
        assert_eq!(l.send(t(10 * MS), PacketKind::Data, 1000, 7), SendOutcome::Dropped(DropReason::QueueFull));
        // Removing the rate: infinitely fast, but behind what is still queued.
        l.reconfigure(t(11 * MS), LinkConfig::default());
        assert_eq!(at(l.send(t(11 * MS), PacketKind::Data, 1000, 8)), 14 * MS);
        assert_eq!(at(l.send(t(20 * MS), PacketKind::Data, 1000, 9)), 20 * MS);
    }

    #[test]
    fn a_trace_starts_when_it_is_set_and_keeps_its_clock_when_unchanged() {
        let trace = Arc::new(RateTrace::parse("t", "10\n").unwrap());
        let with_trace = |delay_ms| LinkConfig {
            rate_trace: Some(trace.clone()),
            delay: Duration::from_millis(delay_ms),
            ..LinkConfig::default()
        };
        let mut l: Link<u32> = Link::new(LinkConfig::default(), Vec::new(), stream(1, "r"));
        l.reconfigure(t(3 * MS), with_trace(0));
        // Opportunities every 10 ms from 3 ms on: 13, 23, ...
        assert_eq!(at(l.send(t(3 * MS), PacketKind::Data, 1500, 1)), 13 * MS);
        assert_eq!(at(l.send(t(3 * MS), PacketKind::Data, 1500, 2)), 23 * MS);
        // Same trace, new delay: the clock goes on.
        l.reconfigure(t(24 * MS), with_trace(5));
        assert_eq!(at(l.send(t(24 * MS), PacketKind::Data, 1500, 3)), 38 * MS);
    }

    #[test]
    fn loss_state_survives_unchanged_settings_and_flows_are_kept_by_match() {
        let mut config = netem::parse("delay 10ms").unwrap();
        let matcher = FlowMatch::parse("udp", |_| None).unwrap();
        config.flows.push(FlowRule { matcher: matcher.clone(), config: netem::parse("delay 30ms").unwrap() });
        let mut l: Link<u32> = Link::new(config.clone(), Vec::new(), stream(1, "r"));
        let udp = FlowKey {
            protocol: Protocol::Udp,
            src: [10, 0, 0, 1].into(),
            dst: [10, 0, 0, 2].into(),
            ports: Some((5000, 53)),
        };
        let sent = l.send_flow_or_return(t(0), PacketKind::Udp, Some(&udp), 100, 1).ok().unwrap();
        assert_eq!(at(sent), 30 * MS);
        // The rule goes: its packet in flight is still delivered; new UDP takes the path.
        let mut plain = config.clone();
        plain.flows.clear();
        l.reconfigure(t(MS), plain);
        assert!(!l.has_flows());
        assert_eq!(at(l.send_flow_or_return(t(MS), PacketKind::Udp, Some(&udp), 100, 2).ok().unwrap()), 11 * MS);
        assert_eq!(drain(&mut l), [(11 * MS, 2), (30 * MS, 1)]);
        // It comes back with another delay: a fresh link.
        let mut again = config;
        again.flows[0].config = netem::parse("delay 20ms").unwrap();
        l.reconfigure(t(40 * MS), again);
        assert_eq!(at(l.send_flow_or_return(t(40 * MS), PacketKind::Udp, Some(&udp), 100, 3).ok().unwrap()), 60 * MS);
        assert_eq!(l.stats().sent, 3);
        assert_eq!(l.stats().delivered, 2);
    }
}
