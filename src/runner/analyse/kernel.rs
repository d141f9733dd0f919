//! A kernel client's phases, read off its packets: no script marks a real program's phases
//! (curl's DNS, TCP and TLS handshakes, request and response), so they come from the capture,
//! as `wirelab annotate` reads any capture.

use super::{Analyser, Run};
use crate::timeline;

/// The phases of the kernel client's first connection, before the script's own (`exec`).
pub struct KernelClientPhases;

impl Analyser for KernelClientPhases {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let t0 = run.t0;
        let first = run.capture().packets().next().map_or(t0, |f| f.at);
        // The capture's times are absolute; the timeline's count from time 0.
        let shift = timeline::ms(first.micros()) - timeline::ms(t0.micros());
        let client_addr = run.plan.hosts[run.plan.client].addr;
        let mut derived = timeline::from_capture::phases(run.capture(), client_addr, run.rtt_ms);
        for p in &mut derived {
            p.start_ms += shift;
            p.end_ms = p.end_ms.map(|e| e + shift);
        }
        derived.append(&mut scenario.phases);
        scenario.phases = derived;
    }
}
