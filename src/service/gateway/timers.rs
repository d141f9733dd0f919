//! A gateway's timers: each request's deadline (504 when it passes, every try included, as
//! gRPC's deadlines are), each try's per-try timeout, and each call's hedge or tied copy (sent
//! after the hedge delay, Dean & Barroso, "The Tail at Scale", 2013). A gateway whose policy
//! sets none of them has nothing to scan.

use super::tries::{Cancel, TryKind};
use super::Gateway;
use crate::service::upstream::Upstream;
use crate::service::Policy;
use crate::sim::network::Network;
use crate::time::Instant;

impl Gateway {
    /// Whether its requests can have timers at all: deadlines, per-try timeouts, hedges or tied
    /// copies. Without them there is nothing to scan (a fan-out of thousands of calls).
    fn has_timers(&self) -> bool {
        let copies = matches!(self.spec.policy, Policy::Hedged { .. } | Policy::Tied { .. });
        copies || self.spec.deadline.is_some() || self.spec.per_try_timeout.is_some()
    }

    /// The earliest timer due: a deadline, a per-try timeout, a hedge, or an HTTP/3 upstream's
    /// QUIC timer.
    pub fn next_timer(&self) -> Option<Instant> {
        // HTTP/3 upstreams' QUIC timers (TCP's are smoltcp's own).
        let quic = self.upstreams.iter().filter_map(Upstream::next_timer).min();
        if !self.has_timers() {
            return quic;
        }
        self.plans
            .values()
            .flat_map(|p| {
                let calls = p.calls.iter().filter(|c| c.result.is_none());
                let tries = calls.clone().flat_map(|c| c.tries.iter().filter(|t| t.open).filter_map(|t| t.timeout));
                p.deadline.into_iter().chain(calls.filter_map(|c| c.hedge_at)).chain(tries)
            })
            .chain(quic)
            .min()
    }

    /// Deadlines, per-try timeouts and hedges that are due.
    pub(super) fn run_timers(&mut self, now: Instant, net: &mut Network) {
        if !self.has_timers() {
            return;
        }
        let due: Vec<u64> =
            self.plans.iter().filter(|(_, p)| p.deadline.is_some_and(|d| d <= now)).map(|(&c, _)| c).collect();
        for conn in due {
            self.log.deadline_exceeded += 1;
            self.finish(conn, 504, now, net);
        }
        let mut timeouts = Vec::new();
        let mut hedges = Vec::new();
        for (&conn, p) in &self.plans {
            for (k, c) in p.calls.iter().enumerate().filter(|(_, c)| c.result.is_none() && c.started.is_some()) {
                for t in c.tries.iter().filter(|t| t.open && t.timeout.is_some_and(|d| d <= now)) {
                    timeouts.push((conn, k, t.tag));
                }
                if c.hedge_at.is_some_and(|h| h <= now) {
                    hedges.push((conn, k));
                }
            }
        }
        for (conn, k, tag) in timeouts {
            self.log.timeouts += 1;
            self.cancel_try(conn, k, tag, Cancel::Timeout, net);
            self.try_failed(conn, k, now, net);
        }
        for (conn, k) in hedges {
            let Some(call) = self.plans.get_mut(&conn).map(|p| &mut p.calls[k]) else { continue };
            call.hedge_at = None;
            if call.result.is_some() || call.tries.len() > 1 {
                continue;
            }
            let last = call.tries.last().map_or(0, |t| t.upstream);
            let next = self.next_replica(last);
            if let Policy::Tied { .. } = self.spec.policy {
                self.log.ties += 1;
                self.send_try(conn, k, next, TryKind::Tie, Some(last), now, net);
            } else {
                self.log.hedges += 1;
                self.send_try(conn, k, next, TryKind::Hedge, None, now, net);
            }
        }
    }
}
