//! The virtual-time driver: run until done, jumping from one event to the next.
//!
//! What to do at each instant is the core's ([`settle`], [`next_wakeup`]); this driver only
//! chooses the instants: straight to the next one, with no wall time in between.

use crate::sim::app::{next_wakeup, settle, Application};
use crate::sim::network::Network;
use crate::time::Instant;

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
