//! Retries: a call whose try failed (an error status, a broken connection, its per-try
//! timeout) is sent again to the next replica of its upstream while the retry limit and the
//! budget allow, and fails otherwise. The budget works as Finagle's `RetryBudget`: each call
//! deposits `retry_ratio` of a token, each retry takes one, and a reserve of
//! [`RETRY_RESERVE`] lets the first ones through.

use super::tries::TryKind;
use super::Gateway;
use crate::sim::network::Network;
use crate::time::Instant;

/// Tokens in the retry budget before any call has deposited.
pub const RETRY_RESERVE: f64 = 10.0;
/// The most tokens the retry budget holds: a long quiet spell cannot bank retries for a later
/// storm (Finagle lets deposits expire after 10 s instead).
pub const RETRY_BUDGET_MAX: f64 = RETRY_RESERVE + 1000.0;

impl Gateway {
    /// A call starts: it deposits its share of a retry token.
    pub(super) fn deposit(&mut self) {
        self.budget = (self.budget + self.spec.retry_ratio).min(RETRY_BUDGET_MAX);
    }

    /// A try failed (an error status, or its connection broke): retry, or fail the call.
    pub(super) fn try_failed(&mut self, conn: u64, k: usize, now: Instant, net: &mut Network) {
        let Some(plan) = self.plans.get(&conn) else { return };
        let call = &plan.calls[k];
        if call.result.is_some() || call.tries.iter().any(|t| t.open) {
            return;
        }
        if !self.retry(conn, k, now, net) {
            self.fail_call(conn, k, now, net);
        }
    }

    /// Retries call `k` on the next replica, if the retry limit and the budget allow.
    fn retry(&mut self, conn: u64, k: usize, now: Instant, net: &mut Network) -> bool {
        let Some(plan) = self.plans.get(&conn) else { return false };
        let tries = &plan.calls[k].tries;
        let retries_so_far = tries.len().saturating_sub(1) as u32;
        if retries_so_far >= self.spec.retries || self.budget < 1.0 {
            if retries_so_far < self.spec.retries {
                self.log.retries_refused += 1;
            }
            return false;
        }
        if plan.deadline.is_some_and(|d| now >= d) {
            return false;
        }
        let next = self.next_replica(tries.last().map_or(0, |t| t.upstream));
        self.budget -= 1.0;
        self.log.retries += 1;
        self.send_try(conn, k, next, TryKind::Retry, None, now, net);
        true
    }

    fn fail_call(&mut self, conn: u64, k: usize, now: Instant, net: &mut Network) {
        if let Some(plan) = self.plans.get_mut(&conn) {
            if plan.calls[k].result != Some(false) {
                plan.failed += 1;
            }
            plan.calls[k].result = Some(false);
        }
        self.log.failed_calls += 1;
        self.advance(conn, k, now, net);
    }
}
