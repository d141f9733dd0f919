//! What runs on the network's hosts, and how everything due at one instant gets done.
//!
//! An [`Application`] is the set of programs on the hosts (protocol servers, the scripted
//! client); [`settle`] does everything due at one `now` (deliveries, each host's ingress, the
//! application's reaction, egress) and [`next_wakeup`] says when something is next due. Both
//! are sans-IO: they take `now` and never read a clock. They live here, in the core, so that
//! every driver of time (the virtual clock, the wall clock with TUN devices, in
//! [`crate::backend`]) runs the same world the same way, and only decides what `now` is.

use super::network::Network;
use crate::time::Instant;

/// What drives the hosts: protocol servers, the scripted client.
pub trait Application {
    /// Called at `now`, between packets: read sockets, advance steps, write sockets.
    fn poll(&mut self, now: Instant, net: &mut Network);
    /// The application's own next deadline after `now` (an idle step, a DNS retry). A
    /// deadline at or before `now` has been served by the poll at `now`; one a part of the
    /// application still holds is one it cannot act on yet (a server whose idle timeout passed
    /// while its reply is unacknowledged): it waits for a packet, and must not be reported, or
    /// it would hide the other parts' later timers and hold the clock in place.
    fn next_timer(&self, now: Instant) -> Option<Instant>;
    /// True once the script has run to its end (or failed).
    fn finished(&self) -> bool;
    /// A short status for a progress display ("burst 12 of 86, 60 connections").
    fn status(&self) -> String {
        String::new()
    }
}

/// Bounds the work done at a single instant (a protocol loop that never settles is a bug,
/// not a reason to hang).
const MAX_ROUNDS_PER_INSTANT: usize = 100_000;

/// The next instant something is due after `settle(now)`: a delivery, a host's timer, or one of
/// the application's timers still ahead (see [`Application::next_timer`]: a past deadline the
/// application cannot act on would otherwise make the clock creep forward a microsecond at a
/// time).
pub fn next_wakeup(net: &mut Network, app: &(impl Application + ?Sized), now: Instant) -> Option<Instant> {
    [net.next_event(now), app.next_timer(now).filter(|&t| t > now)].into_iter().flatten().min()
}

/// Does everything due at `now`: delivers packets one at a time per host, lets the
/// application react after each, and sends what results, until nothing moves.
pub fn settle(net: &mut Network, app: &mut (impl Application + ?Sized), now: Instant) {
    net.deliver_due(now);
    for _ in 0..MAX_ROUNDS_PER_INSTANT {
        let mut busy = false;
        for h in 0..net.hosts.len() {
            if net.ingress_one(h, now) {
                busy = true;
            }
            net.collect(h, now);
        }
        app.poll(now, net);
        for h in 0..net.hosts.len() {
            net.flush(h, now);
        }
        if net.deliver_due(now) > 0 {
            busy = true;
        }
        if !busy || app.finished() {
            return;
        }
    }
}
