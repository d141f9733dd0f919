//! Measurements over many runs of a lab: the response-size sweep (`[size_sweep]`) and the
//! page-load-under-loss table (`[loss_table]`). The runner runs the scenarios and fills these
//! rows; they are part of the lab's timeline JSON.

use serde::{Deserialize, Serialize};

/// One size of the sweep.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SizeRow {
    pub size: String,
    pub bytes: u64,
    pub fresh_rtts: Option<f64>,
    pub fresh_rounds: Option<f64>,
    pub warm_rtts: Option<f64>,
    pub warm_rounds: Option<f64>,
    /// The fresh connection needed more round trips than for the previous size.
    pub one_more_rtt: bool,
}

/// One (loss rate, scenario) cell of the table. Statistics are over the runs that finished;
/// `None` (JSON `null`) when none did.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LossRow {
    pub loss: String,
    pub scenario: String,
    /// Runs in the cell (one per seed).
    pub runs: usize,
    /// Runs that did not finish (time limit, error): they contribute no value.
    pub failed: usize,
    pub page_load_p50_ms: Option<f64>,
    pub page_load_p95_ms: Option<f64>,
    pub page_load_p99_ms: Option<f64>,
    /// Mean over finished runs of the longest stall of any object.
    pub max_stall_mean_ms: Option<f64>,
    /// Mean over finished runs of how many objects stalled at all.
    pub streams_stalled_mean: Option<f64>,
}

impl LossRow {
    /// Every run of the cell finished, so its figures speak for the whole cell.
    pub fn complete(&self) -> bool {
        self.failed == 0 && self.runs > 0
    }
}
