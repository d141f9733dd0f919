//! The virtual-time driver: run until done, jumping from one event to the next.

use crate::sim::network::Network;
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

/// Called now and then during a run with the virtual time and the application's status, so a
/// front end can show progress. The driver itself never looks at the wall clock.
pub type Progress<'a> = &'a mut dyn FnMut(Instant, &str);

/// How many events pass between progress calls.
const PROGRESS_EVERY: u64 = 4096;

/// Why a run stopped before the application finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    /// Nothing left to happen: no packet in flight, no timer.
    Idle(Instant),
    /// The next event lies beyond the time limit.
    TimeLimit(Instant),
    /// A signal (Ctrl-C, SIGTERM) ended a real-time run.
    Interrupted(Instant),
}

/// Bounds the work done at a single instant (a protocol loop that never settles is a bug,
/// not a reason to hang).
const MAX_ROUNDS_PER_INSTANT: usize = 100_000;

/// Runs from `start` until the application finishes or `limit` is reached. Returns the
/// instant it finished at.
pub fn run(
    net: &mut Network,
    app: &mut (impl Application + ?Sized),
    start: Instant,
    limit: Instant,
) -> Result<Instant, Stall> {
    run_with_progress(net, app, start, limit, &mut |_, _| {})
}

/// [`run`], calling `progress` every few thousand events.
pub fn run_with_progress(
    net: &mut Network,
    app: &mut (impl Application + ?Sized),
    start: Instant,
    limit: Instant,
    progress: Progress<'_>,
) -> Result<Instant, Stall> {
    let mut now = start;
    let mut events = 0u64;
    loop {
        events += 1;
        if events % PROGRESS_EVERY == 0 {
            progress(now, &app.status());
        }
        settle(net, app, now);
        if app.finished() {
            return Ok(now);
        }
        let Some(next) = next_wakeup(net, app, now) else { return Err(Stall::Idle(now)) };
        // A timer at or before `now` has just been served: move on by the smallest step.
        let next = next.max(Instant::from_micros(now.micros() + 1));
        if next > limit {
            return Err(Stall::TimeLimit(now));
        }
        now = next;
    }
}

/// The next instant something is due after `settle(now)`: a delivery, a host's timer, or one of
/// the application's timers still ahead (see [`Application::next_timer`]: a past deadline the
/// application cannot act on would otherwise make the clock creep forward a microsecond at a
/// time).
pub(crate) fn next_wakeup(net: &mut Network, app: &(impl Application + ?Sized), now: Instant) -> Option<Instant> {
    [net.next_event(now), app.next_timer(now).filter(|&t| t > now)].into_iter().flatten().min()
}

/// Does everything due at `now`: delivers packets one at a time per host, lets the
/// application react after each, and sends what results, until nothing moves.
pub(crate) fn settle(net: &mut Network, app: &mut (impl Application + ?Sized), now: Instant) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An application with two parts: one whose deadline has passed and that cannot act on it
    /// (it waits for a packet that never comes), one with a later deadline.
    struct Stuck {
        deadline: Instant,
        later: Instant,
        polls: u64,
    }

    impl Application for Stuck {
        fn poll(&mut self, _now: Instant, _net: &mut Network) {
            self.polls += 1;
        }
        fn next_timer(&self, now: Instant) -> Option<Instant> {
            [self.deadline, self.later].into_iter().filter(|&t| t > now).min()
        }
        fn finished(&self) -> bool {
            false
        }
    }

    /// A deadline in the past must neither move time nor hide a later one: the clock crept
    /// forward one microsecond per round (minutes of wall time for keepalive at 0.5 ms RTT and
    /// 2% loss, the server's idle timeout past while its reply was unacknowledged), and a
    /// driver that dropped the application's earliest timer missed the next burst.
    #[test]
    fn a_timer_the_application_cannot_act_on_does_not_move_time() {
        let host = crate::host::Host::new("a", [10, 0, 0, 1].into(), crate::host::DEFAULT_MTU, 1, Instant::ZERO);
        let mut net = Network::new(vec![host], |_, _| unreachable!("one host, no links"), 0);
        let mut app = Stuck { deadline: Instant::from_micros(5), later: Instant::from_micros(7_000_000), polls: 0 };
        let limit = Instant::from_micros(30 * 3600 * 1_000_000);
        let stall = run(&mut net, &mut app, Instant::ZERO, limit).unwrap_err();
        assert_eq!(stall, Stall::Idle(Instant::from_micros(7_000_000)), "woke for the later deadline, then stopped");
        assert!(app.polls < 100, "polled {} times", app.polls);
    }
}
