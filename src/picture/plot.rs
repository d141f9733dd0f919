//! Protocol plots, drawn with plotters' SVG backend.
//!
//! plotters is the charting crate of the Rust ecosystem; its SVG backend writes text as
//! `<text>` elements in the generic `monospace` family and needs no font file, no system font
//! library and no C dependency, so the plots are as self-contained and as deterministic as the
//! ladder. Each plot is a function from structured data to an SVG document.

use plotters::prelude::*;

use crate::timeline::rounds::Round;

/// A tcptrace-style time-sequence graph of one TCP connection's data, seen at the client.
#[derive(Clone, Debug, Default)]
pub struct TimeSeq {
    pub title: String,
    /// Data segments: arrival ms, first and end byte (relative to the sender's ISN + 1), and
    /// whether it repeated bytes already received (a retransmission).
    pub segments: Vec<(f64, u64, u64, bool)>,
    /// The client's cumulative ACK when it sent it: (ms, byte).
    pub acks: Vec<(f64, u64)>,
    /// The right edge of the client's receive window (ACK + scaled window): (ms, byte).
    pub window: Vec<(f64, u64)>,
}

/// Okabe–Ito colours (see [`super::svg::palette`]).
const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
const GREY: RGBColor = RGBColor(0x99, 0x99, 0x99);

/// 13 px in plotters' units gives 10.5 px text in the SVG: no text under 10 px.
const TEXT: u32 = 13;

fn kb(b: u64) -> f64 {
    b as f64 / 1000.0
}

/// The upper end of an axis from 0 that holds `v`, with a little room.
fn top(v: f64) -> f64 {
    if v > 0.0 {
        v * 1.05
    } else {
        1.0
    }
}

/// Renders the time-sequence graph: data segments as vertical strokes (retransmissions in
/// vermillion), the ACK line and the receive window as steps.
pub fn time_sequence(ts: &TimeSeq) -> String {
    let mut out = String::new();
    let t_min = ts.segments.iter().map(|s| s.0).chain(ts.acks.iter().map(|a| a.0)).fold(f64::INFINITY, f64::min);
    let t_max = ts.segments.iter().map(|s| s.0).chain(ts.acks.iter().map(|a| a.0)).fold(f64::NEG_INFINITY, f64::max);
    let (t0, t1) = if t_min.is_finite() && t_max > t_min { (t_min, t_max) } else { (0.0, 1.0) };
    let pad = (t1 - t0) * 0.03;
    // Scaled to the data: a receive window far above it would flatten the steps to a line, so
    // it is drawn where it fits and the legend says how high it went.
    let y_max = ts.segments.iter().map(|s| s.2).chain(ts.acks.iter().map(|a| a.1)).max().unwrap_or(0);
    let y_top = top(kb(y_max)) * 1.1;
    let window_max = ts.window.iter().map(|w| w.1).max().unwrap_or(0);
    let window_label = if kb(window_max) > y_top {
        format!("receive window (ACK + window; up to {:.0} KB, above the plot)", kb(window_max))
    } else {
        "receive window (ACK + window)".to_string()
    };

    let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut out, (900, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&ts.title, ("monospace", 15))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d((t0 - pad)..(t1 + pad), 0f64..y_top)?;
        chart
            .configure_mesh()
            .label_style(("monospace", TEXT))
            .axis_desc_style(("monospace", TEXT))
            .x_desc("ms since the scenario began (at the client)")
            .y_desc("KB from the server (relative sequence number)")
            .light_line_style(WHITE)
            .draw()?;
        let step = |points: &[(f64, u64)]| {
            let mut v = Vec::with_capacity(points.len() * 2);
            for (i, &(t, b)) in points.iter().enumerate() {
                if i > 0 {
                    v.push((t, kb(points[i - 1].1)));
                }
                v.push((t, kb(b)));
            }
            v
        };
        // Only the stretches of the window that fit are drawn (never clamped to the edge).
        let window = step(&ts.window);
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for p in window {
            match (p.1 <= y_top, runs.last_mut()) {
                (true, Some(run)) => run.push(p),
                (false, Some(run)) if !run.is_empty() => runs.push(Vec::new()),
                _ => {}
            }
        }
        runs.retain(|r| r.len() > 1);
        if runs.is_empty() {
            runs.push(Vec::new()); // still a legend entry, saying where the window went
        }
        for (i, run) in runs.into_iter().enumerate() {
            let series = chart.draw_series(LineSeries::new(run, GREEN.stroke_width(1)))?;
            if i == 0 {
                series
                    .label(window_label.clone())
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREEN.stroke_width(2)));
            }
        }
        chart
            .draw_series(LineSeries::new(step(&ts.acks), ORANGE.stroke_width(2)))?
            .label("ACK")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
        for (retx, colour, label) in [(false, BLUE, "data segment"), (true, VERMILLION, "retransmission")] {
            let strokes = ts.segments.iter().filter(|s| s.3 == retx).map(|&(t, a, b, _)| {
                PathElement::new([(t, kb(a)), (t, kb(b))], colour.stroke_width(if retx { 4 } else { 2 }))
            });
            chart
                .draw_series(strokes)?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x + 10, y - 6), (x + 10, y + 6)], colour.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .label_font(("monospace", TEXT))
            .background_style(WHITE.mix(0.9))
            .border_style(GREY)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => out,
        Err(e) => empty(&ts.title, &e.to_string()),
    }
}

/// Bytes delivered per slow-start round, beside what slow start without loss would deliver
/// from the initial window that ran (IW × MSS, doubling each round).
pub fn rounds(title: &str, rounds: &[Round]) -> String {
    let mut out = String::new();
    let n = rounds.len().max(1) as f64;
    let y_max = rounds.iter().map(|r| r.bytes.max(r.theory_bytes.unwrap_or(0))).max().unwrap_or(0);
    let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut out, (900, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("monospace", 15))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5f64..(n + 0.5), 0f64..top(kb(y_max)))?;
        chart
            .configure_mesh()
            .label_style(("monospace", TEXT))
            .axis_desc_style(("monospace", TEXT))
            .x_desc("slow-start round (one round trip each)")
            .y_desc("KB delivered in the round")
            .x_labels(rounds.len().clamp(1, 30))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(WHITE)
            .draw()?;
        let bar = |r: &Round, left: bool, bytes: u64| {
            let x = f64::from(r.round);
            let (a, b) = if left { (x - 0.38, x) } else { (x, x + 0.38) };
            (a, b, kb(bytes))
        };
        let measured = rounds.iter().map(|r| bar(r, true, r.bytes));
        chart
            .draw_series(measured.map(|(a, b, y)| Rectangle::new([(a, 0.0), (b, y)], BLUE.filled())))?
            .label("measured")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], BLUE.filled()));
        let theory = rounds.iter().filter_map(|r| r.theory_bytes.map(|t| bar(r, false, t)));
        chart
            .draw_series(theory.map(|(a, b, y)| Rectangle::new([(a, 0.0), (b, y)], ORANGE.mix(0.55).filled())))?
            .label("slow start without loss (IW × MSS, doubling)")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], ORANGE.mix(0.55).filled()));
        chart
            .configure_series_labels()
            .label_font(("monospace", TEXT))
            .background_style(WHITE.mix(0.9))
            .border_style(GREY)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => out,
        Err(e) => empty(title, &e.to_string()),
    }
}

/// A picture that says why there is none.
fn empty(title: &str, why: &str) -> String {
    let mut out = String::from(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="600" height="60" viewBox="0 0 600 60" font-family="monospace">"#,
    );
    super::svg::text(&mut out, "title", 10.0, 24.0, 13.0, super::svg::Anchor::Start, title);
    super::svg::text(&mut out, "note", 10.0, 44.0, 11.0, super::svg::Anchor::Start, &format!("not drawn: {why}"));
    out.push_str("</svg>\n");
    out
}
