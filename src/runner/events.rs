//! The scenario's scheduled events, applied as virtual time reaches them.
//!
//! An event's time counts from the scenario's time 0 (its first step, after the warm-up), so
//! nothing fires during the warm-up. Applying one changes the network (a host down, a path
//! cut: [`crate::sim::fault`]) or a server (the authority's records), notes the event on the
//! next frame of every capture, and is kept as a [`Fired`] for the timeline.

use crate::script::events::{Action, EventPlan};
use crate::sim::network::Network;
use crate::time::Instant;

use super::servers::Server;

/// An event as it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Fired {
    pub at: Instant,
    pub label: String,
    /// What it did, as the timeline names it (`host_down`, `host_up`, `path_down`, `path_up`,
    /// `dns`), and to what (a host, a path's hosts, a name).
    pub kind: &'static str,
    pub target: String,
}

/// The events still to come, and those that happened.
pub struct Schedule {
    events: Vec<EventPlan>,
    next: usize,
    pub fired: Vec<Fired>,
}

impl Schedule {
    /// `events` in time order (as the plan keeps them).
    pub fn new(events: Vec<EventPlan>) -> Schedule {
        Schedule { events, next: 0, fired: Vec::new() }
    }

    /// When the next event is due, once time 0 is known.
    pub fn next_due(&self, t0: Option<Instant>) -> Option<Instant> {
        Some(t0? + self.events.get(self.next)?.at)
    }

    /// Applies every event due by `now`.
    pub fn apply(&mut self, now: Instant, t0: Option<Instant>, net: &mut Network, servers: &mut [Box<dyn Server>]) {
        let Some(t0) = t0 else { return };
        while let Some(e) = self.events.get(self.next).filter(|e| t0 + e.at <= now) {
            let at = t0 + e.at;
            match &e.action {
                Action::HostDown { host, fault } => {
                    net.faults.set_host(*host, Some((*fault, format!("event: {}", e.label))))
                }
                Action::HostUp { host } => net.faults.set_host(*host, None),
                Action::PathDown { a, b } => net.faults.set_path(*a, *b, Some(format!("event: {}", e.label))),
                Action::PathUp { a, b } => net.faults.set_path(*a, *b, None),
                Action::DnsRecord { name, hosts } => {
                    let addrs: Vec<_> = hosts.iter().map(|&h| net.hosts[h].addr).collect();
                    for s in servers.iter_mut() {
                        s.set_records(name, &addrs);
                    }
                }
            }
            let name = |h: &usize| net.hosts[*h].name.clone();
            let (kind, target) = match &e.action {
                Action::HostDown { host, .. } => ("host_down", name(host)),
                Action::HostUp { host } => ("host_up", name(host)),
                Action::PathDown { a, b } => ("path_down", format!("{}–{}", name(a), name(b))),
                Action::PathUp { a, b } => ("path_up", format!("{}–{}", name(a), name(b))),
                Action::DnsRecord { name, .. } => ("dns", name.clone()),
            };
            let since = at.saturating_since(t0);
            net.note_event(at, &format!("EVENT at {:.3} s: {}", since.as_secs_f64(), e.label));
            self.fired.push(Fired { at, label: e.label.clone(), kind, target });
            self.next += 1;
        }
    }
}
