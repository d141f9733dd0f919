//! Scheduled events: a row of the timeline each, with the first frame of the client's capture
//! they precede (whose comment names them).

use super::{Analyser, Run};
use crate::timeline;

/// The events of a scenario with `[[scenario.event]]`s.
pub struct Events;

impl Analyser for Events {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let mut frames = run.capture().packets().map(|f| (f.number, f.at)).peekable();
        for e in &run.events {
            while frames.peek().is_some_and(|(_, at)| *at < e.at) {
                frames.next();
            }
            scenario.events.push(timeline::EventRow {
                at_ms: run.rel(e.at),
                kind: e.kind.to_string(),
                target: e.target.clone(),
                what: e.label.clone(),
                first_frame: frames.peek().map(|(n, _)| *n),
            });
        }
    }
}
