//! The terminal rendering of a timeline.

use std::fmt::Write;

use super::{LabTimeline, Scenario};

/// A table of one scenario's phases, with its expectations underneath.
pub fn scenario(s: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "── {} — {}", s.name, s.title);
    let _ = writeln!(out, "   link: {}; TCP: {}", s.link, s.congestion);
    let _ = writeln!(
        out,
        "   {:<14} {:>9} {:>9} {:>9} {:>6}  {:<9} what",
        "phase", "start ms", "end ms", "took ms", "RTTs", "frames"
    );
    for p in &s.phases {
        let rtts = p.rtts.map_or("-".to_string(), |r| format!("{r:.2}"));
        let frames = match (p.first_frame, p.last_frame) {
            (Some(a), Some(b)) => format!("{a}-{b}"),
            _ => "none".to_string(),
        };
        let _ = writeln!(
            out,
            "   {:<14} {:>9.3} {:>9.3} {:>9.3} {:>6}  {:<9} {}",
            p.id,
            p.start_ms,
            p.end_ms,
            p.duration_ms(),
            rtts,
            frames,
            p.label
        );
    }
    if let Some(total) = s.metrics.get("total_ms") {
        let _ = writeln!(out, "   {:<14} {:>29.3}", "total", total);
    }
    if let Some(e) = &s.error {
        let _ = writeln!(out, "   ERROR: {e}");
    }
    for e in &s.expectations {
        let measured = e.measured.map_or("no value".to_string(), |m| format!("measured {m:.3}"));
        let _ = writeln!(out, "   [{}] {} ({measured})", if e.ok { " ok " } else { "FAIL" }, e.check);
    }
    out
}

/// Every scenario, one after the other.
pub fn lab(t: &LabTimeline) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "lab {} (seed {}, client–server RTT {} ms)\n", t.lab, t.seed, t.rtt_ms);
    for s in &t.scenarios {
        out.push_str(&scenario(s));
        out.push('\n');
    }
    out
}
