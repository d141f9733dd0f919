//! Slow-start rounds: the first measured response, split into the flights the sender's
//! congestion window allowed, measured from the packets (`timeline::rounds`).
//!
//! Every scenario with a response gets its rounds (`rounds` in the JSON) and the figures of the
//! first (`round1_segments`, `round1_bytes`, `retransmissions`); a lab that asks for rounds
//! (`rounds = true`, the slow-start lab) also gets a phase per round, and each packet of the
//! response labelled with its round in the capture.

use super::{Analyser, Run};
use crate::capture::Note;
use crate::runner::client::PhaseRecord;
use crate::timeline::theory::Window;
use crate::timeline::{self, Phase};

/// The rounds of the scenario's first response (not the warm-up's), their metrics, and, when
/// the plan asks for rounds, their phases and packet labels.
pub struct SlowStartRounds;

impl Analyser for SlowStartRounds {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let rounds = measure(run);
        let (plan, t0, rtt_ms) = (run.plan, run.t0, run.rtt_ms);
        if !rounds.list.is_empty() {
            let metrics = &mut scenario.metrics;
            metrics.insert("rounds".into(), rounds.list.len() as f64);
            metrics.insert("round1_segments".into(), f64::from(rounds.list[0].segments));
            metrics.insert("round1_bytes".into(), rounds.list[0].bytes as f64);
            let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
            let retx = timeline::rounds::retransmitted_segments(run.capture(), server, client);
            metrics.insert("retransmissions".into(), f64::from(retx));
        }
        if plan.rounds {
            for (i, r) in rounds.list.iter().enumerate() {
                let next = rounds.list.get(i + 1);
                let end_ms = next.map_or(rounds.end_ms, |n| n.start_ms);
                let last_frame = next.map_or(rounds.last_frame, |n| n.first_frame - 1);
                let (start, end) = (r.start_ms - timeline::ms(t0.micros()), end_ms - timeline::ms(t0.micros()));
                scenario.phases.push(Phase {
                    id: format!("slow_start_round_{}", r.round),
                    label: format!("slow start round {}: {} segments, {} bytes", r.round, r.segments, r.bytes),
                    start_ms: start,
                    end_ms: Some(end),
                    rtts: timeline::rtts(end - start, rtt_ms),
                    first_frame: Some(r.first_frame),
                    last_frame: Some(last_frame),
                });
            }
        }
        scenario.rounds = rounds
            .list
            .into_iter()
            .map(|mut r| {
                r.start_ms -= timeline::ms(t0.micros());
                r
            })
            .collect();
    }
}

/// Rounds of the scenario's first measured response, and where that response ended.
struct Rounds {
    list: Vec<timeline::rounds::Round>,
    end_ms: f64,
    last_frame: u64,
}

/// Measures the slow-start rounds of the first response of the scenario (not the warm-up)
/// and, when the lab asks for round phases, labels each packet with its round.
fn measure(run: &mut Run<'_>) -> Rounds {
    let none = Rounds { list: Vec::new(), end_ms: 0.0, last_frame: 0 };
    let (plan, phases): (_, &[PhaseRecord]) = (run.plan, &run.client.phases);
    let Some(resp) = phases.iter().position(|p| p.id == "http_response") else { return none };
    let (from, to) = (phases[resp].start, phases[resp].end.unwrap_or(phases[resp].start));
    let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
    let iw = plan.tcp.initial_window_bytes();
    let capture = &mut run.net.tap.capture;
    let window = iw.map(|initial_window| Window { initial_window, max_window: plan.tcp.buffer as u64 });
    let list = timeline::rounds::measure(capture, server, client, from, to, plan.rtt(), window);
    let last_frame = capture.phase_frames().get(resp).copied().flatten().map_or(0, |f| f.1);
    if plan.rounds && !list.is_empty() {
        let label = &phases[resp].label;
        let first = list[0].first_frame;
        let rounds: Vec<(u64, u32)> = list.iter().map(|r| (r.first_frame, r.round)).collect();
        let in_response: Vec<u64> = capture
            .packets()
            .filter(|f| f.number >= first && f.number <= last_frame && f.label == label.as_str())
            .map(|f| f.number)
            .collect();
        for frame in in_response {
            if let Some(&(_, round)) = rounds.iter().rev().find(|(first, _)| frame >= *first) {
                capture.add_note(frame, Note::Label(format!(", slow start round {round}")));
            }
        }
    }
    Rounds { list, end_ms: timeline::ms(to.micros()), last_frame }
}
