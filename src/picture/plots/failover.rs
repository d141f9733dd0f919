//! The dns-failover lab's picture: second by second, the share of requests that went to the
//! dead address, one line per scenario, with the failure marked. A line that drops to zero
//! soon after the failure is a fast failover; a line that stays up is a client population
//! still calling a dead backend (the TTL, a client cache, a pool that never looks again).

use std::fmt::Write as _;

use super::chart::{look, nice_top, tick_label, ticks, Doc, Look, Scale, SMALL};
use crate::picture::svg::{esc, px, Anchor};
use crate::timeline::failover::Second;

/// The scenarios' series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Failover {
    pub title: String,
    pub series: Vec<Series>,
    /// Lines of text under the legend: the theory beside the measurement.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub seconds: Vec<Second>,
    /// When the backend failed, in seconds since time 0.
    pub failed_at_s: Option<f64>,
    /// The measured failover (the last client's), in seconds.
    pub failover_s: Option<f64>,
    pub failed: u64,
    pub requests: u64,
}

const W: f64 = 1060.0;
const H: f64 = 480.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 560.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 390.0;
const LEGEND: f64 = 580.0;

/// The SVG of `f`.
pub fn render(f: &Failover) -> String {
    let mut d = Doc::new("plot failover", W, H, &f.title);
    d.heading(&f.title, "share of each second's requests sent to the dead address (its first try)");
    let last = f.series.iter().flat_map(|s| s.seconds.iter().map(|x| x.second + 1)).max().unwrap_or(1) as f64;
    let x1 = nice_top(last);
    let x = Scale { d0: 0.0, d1: x1, p0: LEFT, p1: RIGHT };
    let y = Scale { d0: 0.0, d1: 100.0, p0: BOTTOM, p1: TOP };
    let (xt, xstep) = ticks(0.0, x1, 8);
    let x_ticks: Vec<(f64, String)> = xt.iter().map(|&v| (v, tick_label(v, xstep))).collect();
    let y_ticks: Vec<(f64, String)> = [0.0, 25.0, 50.0, 75.0, 100.0].iter().map(|&v| (v, format!("{v:.0}%"))).collect();
    d.axes(&x, &y, &x_ticks, &y_ticks);
    d.vertical_text(16.0, (TOP + BOTTOM) / 2.0, "requests to the dead address");
    d.text("axis-title", (LEFT + RIGHT) / 2.0, BOTTOM + 34.0, SMALL, Anchor::Middle, "seconds since the start");
    // The failure, where the scenarios agree on it (each series marks its own otherwise).
    let mut marked: Vec<f64> = f.series.iter().filter_map(|s| s.failed_at_s).collect();
    marked.dedup();
    for at in &marked {
        let _ = writeln!(
            d.out,
            r##"<line class="failure" data-at-s="{at}" x1="{x0}" y1="{}" x2="{x0}" y2="{}" stroke="#000000" stroke-dasharray="3 3"/>"##,
            px(TOP),
            px(BOTTOM),
            x0 = px(x.at(*at)),
        );
        d.text("failure-label", x.at(*at) + 4.0, TOP + 12.0, SMALL, Anchor::Start, "the primary fails");
    }
    for (i, s) in f.series.iter().enumerate() {
        let look = look(i);
        // A step per second: the share holds over [second, second + 1).
        let mut pts = Vec::with_capacity(s.seconds.len() * 2);
        for sec in &s.seconds {
            let share = if sec.requests == 0 { 0.0 } else { 100.0 * sec.to_dead as f64 / sec.requests as f64 };
            let (a, b) = (sec.second as f64, sec.second as f64 + 1.0);
            pts.push(format!("{},{}", px(x.at(a)), px(y.at(share))));
            pts.push(format!("{},{}", px(x.at(b)), px(y.at(share))));
        }
        let _ = writeln!(
            d.out,
            r#"<polyline class="share-line" data-series="{}" points="{}" fill="none"{} stroke-width="1.5"/>"#,
            esc(&s.name),
            pts.join(" "),
            look.stroke()
        );
    }
    let mut ly = TOP + 4.0;
    for (i, s) in f.series.iter().enumerate() {
        let failover = s.failover_s.map_or(String::new(), |v| format!(", failover {v:.1} s"));
        let label = format!("{} ({} of {} failed{failover})", s.name, s.failed, s.requests);
        d.legend_line(LEGEND, ly, Look { colour: look(i).colour, dash: look(i).dash }, None, &label);
        ly += 18.0;
    }
    ly += 10.0;
    for note in &f.notes {
        d.text("note", LEGEND, ly, SMALL, Anchor::Start, note);
        ly += 16.0;
    }
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_per_scenario_at_its_shares_and_the_failure_marked() {
        let sec = |second, requests, to_dead| Second { second, requests, to_dead, failed: to_dead };
        let f = Failover {
            title: "t".into(),
            series: vec![Series {
                name: "ttl-5".into(),
                seconds: vec![sec(0, 4, 0), sec(1, 4, 2), sec(2, 4, 4)],
                failed_at_s: Some(1.0),
                failover_s: Some(1.5),
                failed: 6,
                requests: 12,
            }],
            notes: vec![],
        };
        let svg = render(&f);
        assert_eq!(svg.matches("class=\"share-line\"").count(), 1);
        assert!(svg.contains(r#"class="failure" data-at-s="1""#), "{svg}");
        // 0%, 50%, 100% on a 0..100 axis from y = 390 up to y = 60.
        let line = svg.lines().find(|l| l.contains("share-line")).unwrap();
        for y in ["390", "225", "60"] {
            assert!(line.contains(&format!(",{y} ")) || line.contains(&format!(",{y}\"")), "{y}: {line}");
        }
        assert!(svg.contains("ttl-5 (6 of 12 failed, failover 1.5 s)"));
    }
}
