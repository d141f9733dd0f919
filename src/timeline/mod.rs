//! Timelines: the phases a scenario went through, measured at the client.
//!
//! Every time here is virtual milliseconds since the scenario's time 0, taken from events
//! that happened (socket states, TLS progress, bytes delivered), never computed from the
//! configured RTT. `rtts` divides a phase's duration by the path RTT. The JSON layout is
//! schema 1 of design.md §3; fields beyond it are additions, never changes.

pub mod breakdown;
pub mod budget;
pub mod failover;
pub mod from_capture;
pub mod hol;
pub mod keepalive;
pub mod rounds;
pub mod sweeps;
pub mod table;
pub mod tail;
pub mod theory;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One measured phase.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Phase {
    pub id: String,
    pub label: String,
    pub start_ms: f64,
    /// `None` (JSON `null`) when the phase never ended: the run stopped inside it.
    pub end_ms: Option<f64>,
    /// The duration in round trips; `None` when the phase never ended or the RTT is unknown.
    pub rtts: Option<f64>,
    /// 1-based frame numbers in the scenario's capture; `None` when the phase sent nothing.
    pub first_frame: Option<u64>,
    pub last_frame: Option<u64>,
}

impl Phase {
    /// How long the phase took; `None` when it never ended.
    pub fn duration_ms(&self) -> Option<f64> {
        self.end_ms.map(|end| end - self.start_ms)
    }

    /// The number of frames in the phase.
    pub fn frames(&self) -> u64 {
        match (self.first_frame, self.last_frame) {
            (Some(a), Some(b)) => b - a + 1,
            _ => 0,
        }
    }
}

/// The outcome of one `[[expect]]` check.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Expectation {
    pub check: String,
    pub ok: bool,
    /// The measured value, when there was one.
    pub measured: Option<f64>,
    /// How far `==` may stray, where more than the tables' rounding (RTT checks on a path with
    /// jitter or a rate, or in real time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    /// Where the check compares with a model: the model and how it reached its figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theory: Option<String>,
    /// Why the check was not applied to these settings (it does not count as failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// A scheduled event (`[[scenario.event]]`) as it happened.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EventRow {
    /// Since the scenario's time 0.
    pub at_ms: f64,
    /// `host_down`, `host_up`, `path_down`, `path_up`, `path_change` or `dns`.
    pub kind: String,
    /// The host that went down or came up, or the path's two hosts, or the DNS name.
    pub target: String,
    pub what: String,
    /// The first frame of the client's capture at or after it (its comment names the event).
    pub first_frame: Option<u64>,
}

/// One object fetched by a page: how long it took and how long its bytes waited behind holes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StreamStat {
    /// The object's number on the page (0-based).
    pub id: u64,
    /// The HTTP/2 or QUIC stream, or for HTTP/1.1 the client port of its connection.
    pub carried_by: String,
    pub bytes: u64,
    /// When its last byte was delivered, ms since the scenario began.
    pub complete_ms: Option<f64>,
    /// The longest time any of its bytes sat received but undeliverable behind a hole.
    pub stall_ms: f64,
}

/// One scenario's timeline.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub title: String,
    /// The parameters this scenario or `--set` changed, and which of them won (`--set` over
    /// the scenario's own over the lab's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
    /// The client's capture file; absent when none was written (`--capture none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    /// Which congestion control the TCP senders ran.
    pub congestion: String,
    /// The client–server path, in netem's words.
    pub link: String,
    pub phases: Vec<Phase>,
    /// The scheduled events that happened, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventRow>,
    pub metrics: BTreeMap<String, f64>,
    /// Slow-start rounds of the first response, measured from the packets (times relative).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<rounds::Round>,
    /// Per object of a page (the head-of-line lab): completion and stall.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamStat>,
    /// A workload's latency at the client, percentile by percentile (nearest rank over the
    /// requests that succeeded): 1 to 99 in steps of 1, then 99.5, 99.9, 99.99 and 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_cdf: Vec<tail::CdfPoint>,
    /// Where the time of the requests at the p50, p90, p99 and p99.9 went (a workload):
    /// network legs, handshakes, queueing, service time and the gateway's own time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakdown: Vec<breakdown::Breakdown>,
    /// Per hop of a request's path, its time and share of the latency budget (the
    /// latency-budget lab).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<budget::Hop>,
    /// A fleet of clients (the dns-failover lab), second by second: requests due, those sent
    /// to the dead address, and those that failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_seconds: Vec<failover::Second>,
    /// What the lab says about this scenario (why it behaves as it does).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub expectations: Vec<Expectation>,
    /// Set when the scenario did not run to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What went differently from what the lab file asked for (a scripted drop that matched no
    /// packet), though the run finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Scenario {
    pub fn phase(&self, id: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.id == id)
    }

    pub fn passed(&self) -> bool {
        self.error.is_none() && self.expectations.iter().all(|e| e.ok || e.skipped.is_some())
    }
}

/// A whole run of a lab.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LabTimeline {
    pub schema: u32,
    pub lab: String,
    /// The lab's title and description, as its file gives them (for the report).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub seed: u64,
    /// What moved time: "virtual" (deterministic) or "realtime" (the wall clock).
    pub backend: String,
    pub rtt_ms: f64,
    pub params: BTreeMap<String, String>,
    pub scenarios: Vec<Scenario>,
    /// The lab's `[size_sweep]`, when it has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub size_sweep: Vec<sweeps::SizeRow>,
    /// The lab's `[loss_table]`, when it has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loss_table: Vec<sweeps::LossRow>,
    /// The teaching text's figures for the settings that ran, beside the measurements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub theory: Vec<theory::TheoryRow>,
}

impl LabTimeline {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    }

    pub fn passed(&self) -> bool {
        self.scenarios.iter().all(Scenario::passed)
    }

    /// Why the run failed, on one line (for stderr, where scripts look): the scenarios that did
    /// not finish and the checks that did not hold. `None` when it passed.
    pub fn failure_summary(&self) -> Option<String> {
        if self.passed() {
            return None;
        }
        let unfinished: Vec<&str> =
            self.scenarios.iter().filter(|s| s.error.is_some()).map(|s| s.name.as_str()).collect();
        let checks: Vec<String> = self
            .scenarios
            .iter()
            .flat_map(|s| {
                s.expectations.iter().filter(|e| !e.ok && e.skipped.is_none()).map(move |e| {
                    let measured = e.measured.map_or("not measured".to_string(), |m| format!("measured {m}"));
                    format!("{}: {} ({measured})", s.name, e.check)
                })
            })
            .collect();
        let mut parts = Vec::new();
        if !unfinished.is_empty() {
            parts.push(format!(
                "{} of {} scenarios did not finish ({})",
                unfinished.len(),
                self.scenarios.len(),
                unfinished.join(", ")
            ));
        }
        if !checks.is_empty() {
            parts.push(format!("{} check(s) did not hold: {}", checks.len(), checks.join("; ")));
        }
        Some(format!("lab {} failed: {}", self.lab, parts.join("; ")))
    }
}

/// Rounds to the microsecond, so JSON shows clean milliseconds.
pub fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The nearest-rank `p`-th percentile (0..=100) of values sorted ascending; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    (!sorted.is_empty()).then(|| sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `duration / rtt`, rounded to 1/1000 of an RTT.
pub fn rtts(duration_ms: f64, rtt_ms: f64) -> Option<f64> {
    (rtt_ms > 0.0).then(|| (duration_ms / rtt_ms * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::percentile(&v, 50.0), Some(50.0));
        assert_eq!(super::percentile(&v, 99.0), Some(99.0));
        assert_eq!(super::percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(super::percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
        assert_eq!(super::percentile(&[], 50.0), None);
    }
}
