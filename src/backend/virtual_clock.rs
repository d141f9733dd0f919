//! The virtual-time driver: run until done, jumping from one event to the next.

use crate::sim::network::Network;
use crate::sim::time::Instant;

/// What drives the hosts: protocol servers, the scripted client.
pub trait Application {
    /// Called at `now`, between packets: read sockets, advance steps, write sockets.
    fn poll(&mut self, now: Instant, net: &mut Network);
    /// The application's own next deadline (an idle step, a DNS retry).
    fn next_timer(&self) -> Option<Instant>;
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
        let next = [net.next_event(now), app.next_timer()].into_iter().flatten().min();
        let Some(next) = next else { return Err(Stall::Idle(now)) };
        // A timer at or before `now` has just been served: move on by the smallest step.
        let next = next.max(Instant::from_micros(now.micros() + 1));
        if next > limit {
            return Err(Stall::TimeLimit(now));
        }
        now = next;
    }
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
