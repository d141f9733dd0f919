//! The scripted client's own measurements: the phases its steps marked, where they lie in the
//! capture, and the metrics its steps recorded (DNS cached, TLS resumed, 0-RTT accepted, bytes).

use super::{Analyser, Run};
use crate::timeline::{self, Phase};

/// The client's phases (in ms since time 0, and in RTTs, with their first and last frames) and
/// its metrics. It runs first: the other analysers add to what it writes.
pub struct ScriptPhases;

impl Analyser for ScriptPhases {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let phase_frames = run.capture().phase_frames();
        let phases = run.client.phases.iter().enumerate().map(|(i, p)| {
            let end_ms = p.end.map(|t| run.rel(t));
            let frames = phase_frames.get(i).copied().flatten();
            Phase {
                id: p.id.to_string(),
                label: p.label.clone(),
                start_ms: run.rel(p.start),
                end_ms,
                rtts: end_ms.and_then(|end| timeline::rtts(end - run.rel(p.start), run.rtt_ms)),
                first_frame: frames.map(|f| f.0),
                last_frame: frames.map(|f| f.1),
            }
        });
        scenario.phases.extend(phases);
        scenario.metrics.extend(run.client.metrics.clone());
    }
}
