//! A latency distribution per scenario, as HdrHistogram plots it: the percentile on a scale that
//! gives each "nine" the same room (50%, 90%, 99%, 99.9%, 99.99%: x = -log10(1 - p)), the
//! latency in ms up the side. The tail-latency lab draws one line per scenario, so a chain, its
//! parallel version, hedging and a deadline can be compared where they differ: in the nines.

use std::fmt::Write as _;

use super::chart::{look, Doc, Look, Scale, SMALL};
use crate::picture::svg::{esc, ms3, px, Anchor};
use crate::timeline::tail::CdfPoint;

/// The scenarios' distributions, and the figures to mark beside them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cdf {
    pub title: String,
    pub series: Vec<Series>,
    /// Lines of text under the legend: the theory beside the measurement.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    /// Requests that succeeded (the points are over them) and failed.
    pub ok: u64,
    pub failed: u64,
    pub points: Vec<CdfPoint>,
}

const W: f64 = 1060.0;
const H: f64 = 480.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 560.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 390.0;
const LEGEND: f64 = 580.0;
/// The last nine on the axis (99.99%); 100% is drawn there too.
const NINES: f64 = 4.0;

/// Where percentile `p` sits on the x axis: its number of nines.
fn nines(p: f64) -> f64 {
    if p >= 100.0 {
        NINES
    } else {
        (-(1.0 - p / 100.0).log10()).min(NINES)
    }
}

/// The SVG of `c`.
pub fn render(c: &Cdf) -> String {
    let mut d = Doc::new("plot cdf", W, H, &c.title);
    d.heading(&c.title, "latency at the client by percentile, nearest rank over the requests that succeeded");
    let x = Scale { d0: 0.0, d1: NINES, p0: LEFT, p1: RIGHT };
    // Latency on a log scale: a 1 s hiccup and a 10 ms median on one plot, both readable.
    let all = || c.series.iter().flat_map(|s| s.points.iter().map(|p| p.ms.max(0.001)));
    let (lo, hi) = all().fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (1.0, 10.0) };
    let decade = |v: f64, up: bool| {
        let e = v.log10();
        10f64.powf(if up { e.ceil() } else { e.floor() })
    };
    // From the decade below the fastest request to the first 1-2-5 step above the slowest.
    let y0 = decade(lo, false);
    let top = decade(hi, false);
    let y1 = [1.0, 2.0, 5.0, 10.0].iter().map(|m| top * m).find(|v| *v >= hi).unwrap_or(top * 10.0).max(y0 * 10.0);
    let y = Scale { d0: y0.log10(), d1: y1.log10(), p0: BOTTOM, p1: TOP };
    let ly = |ms: f64| y.at(ms.max(y0).log10());
    let x_ticks: Vec<(f64, String)> =
        [(0.0, "0%"), (nines(50.0), "50%"), (1.0, "90%"), (2.0, "99%"), (3.0, "99.9%"), (4.0, "99.99%")]
            .iter()
            .map(|(v, l)| (*v, l.to_string()))
            .collect();
    let mut y_ticks = Vec::new();
    let mut base = y0;
    while base <= y1 * 1.0001 {
        for m in [1.0, 2.0, 5.0] {
            let v = base * m;
            if v <= y1 * 1.0001 {
                let label = if v >= 1.0 { format!("{v:.0}") } else { format!("{v}") };
                y_ticks.push((v.log10(), label));
            }
        }
        base *= 10.0;
    }
    d.axes(&x, &y, &x_ticks, &y_ticks);
    d.vertical_text(16.0, (TOP + BOTTOM) / 2.0, "latency, ms (log scale)");
    d.text(
        "axis-title",
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 34.0,
        SMALL,
        Anchor::Middle,
        "percentile (each nine the same width)",
    );
    for (i, s) in c.series.iter().enumerate() {
        let look = look(i);
        let pts: Vec<String> =
            s.points.iter().map(|p| format!("{},{}", px(x.at(nines(p.percentile))), px(ly(p.ms)))).collect();
        let _ = writeln!(
            d.out,
            r#"<polyline class="cdf-line" data-series="{}" points="{}" fill="none"{} stroke-width="1.5"/>"#,
            esc(&s.name),
            pts.join(" "),
            look.stroke()
        );
        for p in s.points.iter().filter(|p| [50.0, 90.0, 99.0, 99.9].contains(&p.percentile)) {
            let _ = writeln!(
                d.out,
                r#"<circle class="point" data-series="{}" data-pct="{}" data-ms="{}" cx="{}" cy="{}" r="3" fill="{}"><title>{}: p{} = {} ms</title></circle>"#,
                esc(&s.name),
                p.percentile,
                ms3(p.ms),
                px(x.at(nines(p.percentile))),
                px(ly(p.ms)),
                look.colour,
                esc(&s.name),
                p.percentile,
                ms3(p.ms)
            );
        }
    }
    let mut ly = TOP + 4.0;
    for (i, s) in c.series.iter().enumerate() {
        let failed = if s.failed > 0 { format!(", {} failed", s.failed) } else { String::new() };
        let label = format!("{} (n={}{failed})", s.name, s.ok);
        d.legend_line(LEGEND, ly, Look { colour: look(i).colour, dash: look(i).dash }, None, &label);
        ly += 18.0;
    }
    ly += 10.0;
    for note in &c.notes {
        d.text("note", LEGEND, ly, SMALL, Anchor::Start, note);
        ly += 16.0;
    }
    d.finish()
}
