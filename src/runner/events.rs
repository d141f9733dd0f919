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
    /// Which events have happened.
    done: Vec<bool>,
    pub fired: Vec<Fired>,
}

impl Schedule {
    pub fn new(events: Vec<EventPlan>) -> Schedule {
        Schedule { done: vec![false; events.len()], events, fired: Vec::new() }
    }

    /// When event `e` is due: `at` after time 0, or after its step started (unknown until then).
    fn due(e: &EventPlan, t0: Option<Instant>, step_started: &[Option<Instant>]) -> Option<Instant> {
        let base = match e.after {
            Some(step) => step_started.get(step).copied().flatten()?,
            None => t0?,
        };
        Some(base + e.at)
    }

    /// When the next event is due, as far as it is known.
    pub fn next_due(&self, t0: Option<Instant>, step_started: &[Option<Instant>]) -> Option<Instant> {
        self.events
            .iter()
            .zip(&self.done)
            .filter(|(_, done)| !**done)
            .filter_map(|(e, _)| Self::due(e, t0, step_started))
            .min()
    }

    /// Applies every event due by `now`, in time order (ties in the order the plan lists them).
    pub fn apply(
        &mut self,
        now: Instant,
        t0: Option<Instant>,
        step_started: &[Option<Instant>],
        net: &mut Network,
        servers: &mut [Box<dyn Server>],
    ) {
        loop {
            let next = (0..self.events.len())
                .filter(|&i| !self.done[i])
                .filter_map(|i| Some((Self::due(&self.events[i], t0, step_started)?, i)))
                .filter(|(at, _)| *at <= now)
                .min();
            let Some((at, i)) = next else { return };
            self.done[i] = true;
            let e = &self.events[i];
            match &e.action {
                Action::HostDown { host, fault } => {
                    net.faults.set_host(*host, Some((*fault, format!("event: {}", e.label))))
                }
                Action::HostUp { host } => net.faults.set_host(*host, None),
                Action::PathDown { a, b } => net.faults.set_path(*a, *b, Some(format!("event: {}", e.label))),
                Action::PathUp { a, b } => net.faults.set_path(*a, *b, None),
                Action::PathChange { a, b, forward, back } => {
                    net.reconfigure_link(*a, *b, at, (**forward).clone());
                    net.reconfigure_link(*b, *a, at, (**back).clone());
                }
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
                Action::PathChange { a, b, .. } => ("path_change", format!("{}–{}", name(a), name(b))),
                Action::DnsRecord { name, .. } => ("dns", name.clone()),
            };
            let since = at.saturating_since(t0.unwrap_or(at));
            net.note_event(at, &format!("EVENT at {:.3} s: {}", since.as_secs_f64(), e.label));
            self.fired.push(Fired { at, label: e.label.clone(), kind, target });
        }
    }
}
