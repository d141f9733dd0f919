//! Where a request's latency budget goes, hop by hop (the latency-budget lab): one bar per
//! scenario, a segment per hop in the order the request meets them, each split into the
//! handshakes it waited for (hatched) and the request's own round trips, then the time spent
//! inside the services; a dashed line marks the budget.

use std::fmt::Write as _;

use super::chart::{self, look, Doc, Look, Scale, SMALL};
use crate::picture::svg::{esc, ms3, px, Anchor};
use crate::timeline::budget::Hop;

/// The scenarios' hops and the budget.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Budget {
    pub title: String,
    pub budget_ms: f64,
    pub rows: Vec<Row>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub scenario: String,
    pub hops: Vec<Hop>,
    /// Time inside the services (their work, not their calls).
    pub services_ms: f64,
    pub total_ms: f64,
}

const W: f64 = 980.0;
const LEFT: f64 = 130.0;
const RIGHT: f64 = 600.0;
const TOP: f64 = 80.0;
const BAR: f64 = 22.0;
const GAP: f64 = 16.0;
const LEGEND: f64 = 730.0;

/// The SVG of `b`.
pub fn render(b: &Budget) -> String {
    let rows = b.rows.len().max(1) as f64;
    let bottom = TOP + rows * (BAR + GAP);
    let h = (bottom + 60.0).max(TOP + 24.0 * 8.0);
    let mut d = Doc::new("plot budget", W, h, &b.title);
    d.heading(
        &b.title,
        "each hop's share of a request, measured at both ends; hatched: handshakes the request waited for",
    );
    let max = b.rows.iter().map(|r| r.total_ms).fold(b.budget_ms, f64::max);
    let x = Scale { d0: 0.0, d1: chart::nice_top(max), p0: LEFT, p1: RIGHT };
    let y = Scale { d0: 0.0, d1: 1.0, p0: bottom, p1: TOP };
    let (xt, xs) = chart::ticks(0.0, x.d1, 6);
    let x_ticks: Vec<(f64, String)> = xt.into_iter().map(|v| (v, chart::tick_label(v, xs))).collect();
    d.axes(&x, &y, &x_ticks, &[]);
    d.text("axis-title", (LEFT + RIGHT) / 2.0, bottom + 34.0, SMALL, Anchor::Middle, "ms");
    let _ = writeln!(
        d.out,
        r##"<defs><pattern id="handshake" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="white"/><line x1="0" y1="0" x2="0" y2="6" stroke="#555555" stroke-width="2"/></pattern></defs>"##
    );
    // Hops are coloured by their name, the same in every row.
    let mut names: Vec<String> = Vec::new();
    for r in &b.rows {
        for hop in &r.hops {
            let n = format!("{} -> {}", hop.from, hop.to);
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    for (i, r) in b.rows.iter().enumerate() {
        let top = TOP + i as f64 * (BAR + GAP) + GAP / 2.0;
        d.text("row", LEFT - 8.0, top + BAR * 0.7, SMALL, Anchor::End, &r.scenario);
        let mut at = 0.0;
        for hop in &r.hops {
            let name = format!("{} -> {}", hop.from, hop.to);
            let colour = look(names.iter().position(|n| *n == name).unwrap_or(0)).colour;
            let shake = (hop.handshake_rtts.unwrap_or(0.0) * hop.rtt_ms).min(hop.ms);
            let attrs = format!(
                r#" data-scenario="{}" data-from="{}" data-to="{}" data-ms="{}" data-share="{}" data-connection="{}""#,
                esc(&r.scenario),
                esc(&hop.from),
                esc(&hop.to),
                ms3(hop.ms),
                ms3(hop.share_of_budget),
                esc(&hop.connection)
            );
            let tip = format!(
                "{}: {name}, {} ms ({:.1}% of the budget), {} connection",
                r.scenario,
                ms3(hop.ms),
                hop.share_of_budget * 100.0,
                hop.connection
            );
            let _ = writeln!(
                d.out,
                r#"<rect class="hop"{attrs} x="{}" y="{}" width="{}" height="{}" fill="{colour}" stroke="white" stroke-width="1"><title>{}</title></rect>"#,
                px(x.at(at)),
                px(top),
                px((x.at(at + hop.ms) - x.at(at)).max(0.5)),
                px(BAR),
                esc(&tip)
            );
            if shake > 0.0 {
                let _ = writeln!(
                    d.out,
                    r#"<rect class="handshake" data-ms="{}" x="{}" y="{}" width="{}" height="{}" fill="url(#handshake)" fill-opacity="0.55"/>"#,
                    ms3(shake),
                    px(x.at(at)),
                    px(top + 3.0),
                    px(x.at(at + shake) - x.at(at)),
                    px(BAR - 6.0)
                );
            }
            at += hop.ms;
        }
        if r.services_ms > 0.0 {
            let _ = writeln!(
                d.out,
                r##"<rect class="services" data-scenario="{}" data-ms="{}" x="{}" y="{}" width="{}" height="{}" fill="#bbbbbb"/>"##,
                esc(&r.scenario),
                ms3(r.services_ms),
                px(x.at(at)),
                px(top),
                px(x.at(at + r.services_ms) - x.at(at)),
                px(BAR)
            );
        }
        let verdict = if r.total_ms <= b.budget_ms { "" } else { ", over" };
        d.text(
            "total",
            x.at(r.total_ms.max(at)) + 4.0,
            top + BAR * 0.7,
            SMALL,
            Anchor::Start,
            &format!("{} ms{verdict}", short(r.total_ms)),
        );
    }
    let _ = writeln!(
        d.out,
        r#"<line class="budget" data-ms="{}" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-dasharray="6 4" stroke-width="2"/>"#,
        ms3(b.budget_ms),
        px(x.at(b.budget_ms)),
        px(TOP - 12.0),
        px(x.at(b.budget_ms)),
        px(bottom),
        crate::picture::svg::palette::VERMILLION
    );
    d.text(
        "budget-label",
        x.at(b.budget_ms),
        TOP - 16.0,
        SMALL,
        Anchor::Middle,
        &format!("budget {} ms", short(b.budget_ms)),
    );
    let mut ly = TOP + 4.0;
    for (i, n) in names.iter().enumerate() {
        d.legend_line(LEGEND, ly, Look { colour: look(i).colour, dash: "" }, None, n);
        ly += 18.0;
    }
    d.text("legend", LEGEND, ly + 4.0, SMALL, Anchor::Start, "hatched: TCP and TLS handshakes");
    d.text("legend", LEGEND, ly + 22.0, SMALL, Anchor::Start, "grey: inside the services");
    d.finish()
}

/// Milliseconds to the microsecond, without trailing zeros (`180.5`, `200`).
pub fn short(ms: f64) -> String {
    let s = format!("{ms:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
