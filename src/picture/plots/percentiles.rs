//! p50, p95 and p99 against a swept value, one colour per protocol or scenario and one marker
//! and dash per percentile: the head-of-line lab's random-loss table and `wirelab sweep`.
//!
//! Only runs that finished give a value. A cell where some runs did not finish plots the
//! percentiles of those that did and says how many failed; a cell where none finished has no
//! point at all (a gap in its line), never a 0.

use std::fmt::Write as _;

use super::chart::{self, look, Doc, Look, Marker, Scale, SMALL};
use crate::picture::svg::{esc, ms3, px, Anchor};

/// Percentiles per series and x value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub title: String,
    pub subtitle: String,
    /// The swept key (`loss`, `rtt`, ...).
    pub key: String,
    /// What the y axis shows (`page load, ms`).
    pub y_label: String,
    /// The swept values as given (`0%`, `0.5%`, ...), in order.
    pub xs: Vec<String>,
    pub series: Vec<Series>,
}

/// One protocol or scenario: a cell per x value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub cells: Vec<Cell>,
}

/// The runs of one (series, x value).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cell {
    /// Runs that gave a value.
    pub n: usize,
    /// Runs that did not finish.
    pub failed: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Cell {
    fn get(&self, p: u32) -> Option<f64> {
        match p {
            50 => self.p50,
            95 => self.p95,
            _ => self.p99,
        }
    }
}

/// The percentiles drawn, each with its marker and dash.
const PERCENTILES: [(u32, Marker, &str); 3] =
    [(50, Marker::Circle, ""), (95, Marker::Square, "7 3"), (99, Marker::Triangle, "2 3")];

/// Where the swept values sit on the x axis: their numbers in the project's units when every
/// value parses in one unit (percent, duration in ms, rate in Mbit/s, size in KB, a plain
/// number), with the unit's name; else `None`, and the axis is categorical.
pub fn numeric_axis(values: &[String]) -> Option<(Vec<f64>, &'static str)> {
    use crate::units;
    let all = |f: &dyn Fn(&str) -> Option<f64>| values.iter().map(|v| f(v)).collect::<Option<Vec<f64>>>();
    let any = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
    let unit = |v: &str, u: &[&str]| u.iter().any(|u| v.trim().to_ascii_lowercase().ends_with(u));
    if values.is_empty() {
        return None;
    }
    if any(&|v| unit(v, &["%"])) {
        return all(&|v| units::parse_percent(v).ok().map(|p| p * 100.0)).map(|x| (x, "%"));
    }
    if any(&|v| unit(v, &["bit", "bps"])) {
        return all(&|v| units::parse_rate(v).ok().map(|r| r as f64 / 1e6)).map(|x| (x, "Mbit/s"));
    }
    if let Some(x) = all(&|v| v.trim().parse::<f64>().ok().filter(|f| f.is_finite())) {
        return Some((x, ""));
    }
    if let Some(x) = all(&|v| units::parse_duration(v).ok().map(|d| d.as_secs_f64() * 1000.0)) {
        return Some((x, "ms"));
    }
    all(&|v| units::parse_size(v).ok().map(|b| b as f64 / 1000.0)).map(|x| (x, "KB"))
}

const W: f64 = 860.0;
const H: f64 = 460.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 560.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 390.0;
const LEGEND: f64 = 580.0;
/// Cells with failed runs named in the legend, at most.
const FAILED_LINES: usize = 12;

/// The SVG of `p`.
pub fn render(p: &Percentiles) -> String {
    let failed: Vec<String> = p
        .series
        .iter()
        .flat_map(|s| {
            s.cells.iter().zip(&p.xs).filter(|(c, _)| c.failed > 0).map(move |(c, x)| match c.n {
                0 => format!("{} at {x}: all {} failed, none plotted", s.name, c.failed),
                n => format!("{} at {x}: {} failed, {n} plotted", s.name, c.failed),
            })
        })
        .collect();
    // The legend column is as wide as its longest line.
    let longest = failed.iter().take(FAILED_LINES).map(|f| f.chars().count()).max().unwrap_or(0);
    let names = p.series.iter().map(|s| s.name.chars().count() + 32).max().unwrap_or(0);
    let w = W.max(LEGEND + longest.max(names) as f64 * crate::picture::svg::ADVANCE * SMALL + 16.0).ceil();
    let mut d = Doc::new("plot percentiles", w, H, &p.title);
    d.heading(&p.title, &p.subtitle);
    // x: numbers where the values parse, else evenly spaced categories.
    let numeric = numeric_axis(&p.xs);
    let (x, xs, x_ticks, x_title) = match &numeric {
        Some((v, unit)) => {
            let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
            let pad = ((hi - lo) * 0.05).max(if hi > 0.0 { hi * 0.05 } else { 1.0 });
            let x = Scale { d0: lo - pad, d1: hi + pad, p0: LEFT, p1: RIGHT };
            let (t, step) = chart::ticks(lo, hi, 6);
            let ticks = t.into_iter().map(|v| (v, chart::tick_label(v, step))).collect::<Vec<_>>();
            let title = if unit.is_empty() { p.key.clone() } else { format!("{} ({unit})", p.key) };
            (x, v.clone(), ticks, title)
        }
        None => {
            let n = p.xs.len().max(1) as f64;
            let x = Scale { d0: -0.5, d1: n - 0.5, p0: LEFT, p1: RIGHT };
            let v: Vec<f64> = (0..p.xs.len()).map(|i| i as f64).collect();
            let ticks = p.xs.iter().enumerate().map(|(i, s)| (i as f64, s.clone())).collect();
            (x, v, ticks, format!("{} (categories, in the order given; points only)", p.key))
        }
    };
    let y_max =
        p.series.iter().flat_map(|s| s.cells.iter().flat_map(|c| [c.p50, c.p95, c.p99])).flatten().fold(0.0, f64::max);
    let y = Scale { d0: 0.0, d1: chart::nice_top(y_max), p0: BOTTOM, p1: TOP };
    let (yt, ys) = chart::ticks(0.0, y.d1, 6);
    let y_ticks: Vec<(f64, String)> = yt.into_iter().map(|v| (v, chart::tick_label(v, ys))).collect();
    d.axes(&x, &y, &x_ticks, &y_ticks);
    d.vertical_text(16.0, (TOP + BOTTOM) / 2.0, &p.y_label);
    d.text("axis-title", (LEFT + RIGHT) / 2.0, BOTTOM + 34.0, SMALL, Anchor::Middle, &x_title);

    // A small offset per series keeps markers at one x apart (drawn at the true x in data-x).
    let k = p.series.len();
    let nudge = |i: usize| (i as f64 - (k as f64 - 1.0) / 2.0) * 7.0;
    for (i, s) in p.series.iter().enumerate() {
        let colour = look(i).colour;
        for (pct, marker, dash) in PERCENTILES {
            // The line breaks where a cell has no value.
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for (c, &xv) in s.cells.iter().zip(&xs) {
                match c.get(pct) {
                    Some(v) => runs.last_mut().map_or((), |r| r.push((x.at(xv) + nudge(i), y.at(v)))),
                    None => runs.push(Vec::new()),
                }
            }
            let stroke = Look { colour, dash }.stroke();
            // Categories have no order between them to draw a line along: points only.
            for r in runs.iter().filter(|r| r.len() > 1 && numeric.is_some()) {
                let pts: Vec<String> = r.iter().map(|(a, b)| format!("{},{}", px(*a), px(*b))).collect();
                let _ = writeln!(
                    d.out,
                    r#"<polyline class="pct-line" data-series="{}" data-pct="{pct}" points="{}" fill="none"{stroke} stroke-width="1.5"/>"#,
                    esc(&s.name),
                    pts.join(" ")
                );
            }
            for ((c, &xv), label) in s.cells.iter().zip(&xs).zip(&p.xs) {
                let Some(v) = c.get(pct) else { continue };
                let attrs = format!(
                    r#" data-series="{}" data-x="{}" data-pct="{pct}" data-ms="{}" data-n="{}" data-failed="{}""#,
                    esc(&s.name),
                    esc(label),
                    ms3(v),
                    c.n,
                    c.failed
                );
                marker.draw(&mut d.out, "point", x.at(xv) + nudge(i), y.at(v), colour, &attrs);
            }
        }
    }

    // Legend: a colour per series, then a marker and dash per percentile, then failures.
    let mut ly = TOP + 4.0;
    for (i, s) in p.series.iter().enumerate() {
        let n: usize = s.cells.iter().map(|c| c.n).sum();
        d.legend_line(LEGEND, ly, Look { colour: look(i).colour, dash: "" }, None, &format!("{} (n={n})", s.name));
        ly += 18.0;
    }
    ly += 8.0;
    for (pct, marker, dash) in PERCENTILES {
        d.legend_line(LEGEND, ly, Look { colour: "#444444", dash }, Some(marker), &format!("p{pct}"));
        ly += 18.0;
    }
    ly += 8.0;
    if failed.is_empty() {
        d.text("note", LEGEND, ly, SMALL, Anchor::Start, "every run finished");
    } else {
        d.text("note", LEGEND, ly, SMALL, Anchor::Start, "runs that did not finish");
        d.text("note", LEGEND, ly + 15.0, SMALL, Anchor::Start, "give no value (never 0):");
        for (j, f) in failed.iter().take(FAILED_LINES).enumerate() {
            d.text("failed", LEGEND, ly + 32.0 + j as f64 * 15.0, SMALL, Anchor::Start, f);
        }
        if failed.len() > FAILED_LINES {
            let y = ly + 32.0 + FAILED_LINES as f64 * 15.0;
            d.text("failed", LEGEND, y, SMALL, Anchor::Start, "… (see the summary)");
        }
    }
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_in_the_projects_units_sit_on_a_numeric_axis() {
        assert_eq!(numeric_axis(&strings(&["0%", "0.5%", "2"])), Some((vec![0.0, 0.5, 2.0], "%")));
        assert_eq!(numeric_axis(&strings(&["50ms", "1s"])), Some((vec![50.0, 1000.0], "ms")));
        assert_eq!(numeric_axis(&strings(&["14KB", "1MB"])), Some((vec![14.0, 1000.0], "KB")));
        assert_eq!(numeric_axis(&strings(&["10mbit", "1gbit"])), Some((vec![10.0, 1000.0], "Mbit/s")));
        assert_eq!(numeric_axis(&strings(&["1", "2.5"])), Some((vec![1.0, 2.5], "")));
        assert_eq!(numeric_axis(&strings(&["smoltcp", "iw10"])), None);
        assert_eq!(numeric_axis(&strings(&["1%", "reno"])), None);
    }

    #[test]
    fn a_cell_with_no_finished_run_has_no_point() {
        let cell = |n, failed, v: Option<f64>| Cell { n, failed, p50: v, p95: v, p99: v };
        let p = Percentiles {
            title: "t".into(),
            key: "loss".into(),
            xs: strings(&["0%", "1%", "2%"]),
            series: vec![Series {
                name: "h2".into(),
                cells: vec![cell(3, 0, Some(10.0)), cell(0, 3, None), cell(2, 1, Some(30.0))],
            }],
            ..Default::default()
        };
        let svg = render(&p);
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let points: Vec<_> = doc.descendants().filter(|n| n.attribute("class") == Some("point")).collect();
        assert_eq!(points.len(), 6, "two cells × three percentiles");
        assert!(points.iter().all(|n| n.attribute("data-x") != Some("1%")));
        assert!(svg.contains("h2 at 1%: all 3 failed, none plotted") && svg.contains("h2 at 2%: 1 failed, 2 plotted"));
        // No line crosses the gap.
        assert!(doc.descendants().all(|n| n.attribute("class") != Some("pct-line")));
    }
}
