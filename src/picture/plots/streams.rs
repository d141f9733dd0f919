//! Head-of-line blocking, drawn: the bytes of each object of a page delivered in order to the
//! application over time, one step line per object, and every stall shaded: the time during
//! which bytes of the object had arrived but could not be delivered because bytes before them
//! had not (a hole left by a lost packet).
//!
//! Above, the step lines (with each stall's waiting bytes shaded under the line, in the
//! object's colour); below, one row per object with its stalls as bars on the same time axis,
//! so which objects stalled, and when, reads at a glance: one row under HTTP/1.1 and HTTP/3,
//! every row at once under HTTP/2.

use std::fmt::Write as _;

use super::chart::{self, look, Doc, Scale, SMALL, TITLE};
use crate::picture::svg::{esc, ms3, px, Anchor};

/// Deliveries of one scenario's page, from the measured arrivals and deliveries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Streams {
    /// The lab and scenario (`hol · one-loss-h2`).
    pub title: String,
    /// The scenario's own title.
    pub subtitle: String,
    /// What the y axis counts (TCP: the TLS records carrying each object; QUIC: the bytes of
    /// each object's stream).
    pub y_label: String,
    pub objects: Vec<ObjectDeliveries>,
    /// Axes at least this long (ms, bytes): plots shown side by side share their scales.
    pub at_least: (f64, u64),
}

impl Streams {
    /// The last time and the most bytes the plot has to show.
    pub fn extent(&self) -> (f64, u64) {
        let t = self
            .objects
            .iter()
            .flat_map(|o| o.delivered.iter().map(|d| d.0).chain(o.stalls.iter().map(|st| st.to_ms)))
            .fold(self.at_least.0, f64::max);
        let b = self.objects.iter().filter_map(|o| o.delivered.last()).map(|d| d.1).fold(self.at_least.1, u64::max);
        (t, b)
    }
}

/// Gives plots that will be shown side by side the same axes: the longest time and the most
/// bytes of any of them.
pub fn share_axes(plots: &mut [&mut Streams]) {
    let (t, b) = plots.iter().map(|p| p.extent()).fold((0.0, 0), |(t, b), (t1, b1)| (f64::max(t, t1), b.max(b1)));
    for p in plots {
        p.at_least = (t, b);
    }
}

/// One object of the page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectDeliveries {
    /// The object's number on the page (the JSON's `streams[].id`).
    pub id: u64,
    /// What carried it (the JSON's `streams[].carried_by`).
    pub carried_by: String,
    /// (ms since the scenario began, bytes delivered in order at that time), in time order:
    /// one entry per delivery.
    pub delivered: Vec<(f64, u64)>,
    pub stalls: Vec<Stall>,
}

/// Bytes of an object that sat received but undeliverable, released together by one fill.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stall {
    /// When the first of them arrived, ms since the scenario began.
    pub from_ms: f64,
    /// When the hole before them was filled and they were delivered.
    pub to_ms: f64,
    /// How many bytes waited.
    pub bytes: u64,
}

const W: f64 = 440.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = W - 14.0;
const TOP: f64 = 66.0;
const BOTTOM: f64 = 300.0;
/// The stall rows: the first row's top, and the pitch of a row.
const ROWS: f64 = 364.0;
const ROW: f64 = 17.0;

/// The SVG of `s`: 440 px wide, so three sit side by side on a page.
pub fn render(s: &Streams) -> String {
    let n = s.objects.len();
    let h = ROWS + n as f64 * ROW + 36.0;
    let (t_end, b_end) = s.extent();
    let x = Scale { d0: 0.0, d1: chart::nice_top(t_end), p0: LEFT, p1: RIGHT };
    let kb_top = chart::nice_top(b_end as f64 / 1000.0);
    let y = Scale { d0: 0.0, d1: kb_top, p0: BOTTOM, p1: TOP };
    let mut d = Doc::new("plot streams", W, h, &format!("{}: {}", s.title, s.subtitle));
    d.text("title", 8.0, 18.0, TITLE, Anchor::Start, &s.title);
    d.text("subtitle", 8.0, 34.0, SMALL, Anchor::Start, &s.subtitle);
    d.text("note", 8.0, 50.0, SMALL, Anchor::Start, &format!("counted: {}", s.y_label));
    let (xt, xs) = chart::ticks(0.0, x.d1, 5);
    let (yt, ys) = chart::ticks(0.0, kb_top, 5);
    let xt: Vec<(f64, String)> = xt.into_iter().map(|v| (v, chart::tick_label(v, xs))).collect();
    let yt: Vec<(f64, String)> = yt.into_iter().map(|v| (v, chart::tick_label(v, ys))).collect();
    d.axes(&x, &y, &xt, &yt);
    d.vertical_text(14.0, (TOP + BOTTOM) / 2.0, "KB delivered in order");
    d.text("axis-title", (LEFT + RIGHT) / 2.0, BOTTOM + 32.0, SMALL, Anchor::Middle, "ms since the scenario began");

    for (i, o) in s.objects.iter().enumerate() {
        let lk = look(i);
        // The waiting bytes of each stall, under the line: from the level before the fill to
        // the level after it.
        for st in &o.stalls {
            let before = level_before(&o.delivered, st.to_ms);
            let (y0, y1) = (y.at(before as f64 / 1000.0), y.at((before + st.bytes) as f64 / 1000.0));
            let _ = writeln!(
                d.out,
                r#"<rect class="waiting" data-object="{}" x="{}" y="{}" width="{}" height="{}" fill="{}" fill-opacity="0.25"/>"#,
                o.id,
                px(x.at(st.from_ms)),
                px(y1),
                px(x.at(st.to_ms) - x.at(st.from_ms)),
                px((y0 - y1).max(1.0)),
                lk.colour
            );
        }
        let mut points = vec![(0.0, 0.0)];
        points.extend(o.delivered.iter().map(|&(t, b)| (t, b as f64 / 1000.0)));
        let _ = writeln!(
            d.out,
            r#"<polyline class="delivered" data-object="{}" data-bytes="{}" data-last-ms="{}" points="{}" fill="none"{} stroke-width="1.6"><title>object {}: {}</title></polyline>"#,
            o.id,
            o.delivered.last().map_or(0, |l| l.1),
            ms3(o.delivered.last().map_or(0.0, |l| l.0)),
            chart::step_points(&x, &y, &points),
            lk.stroke(),
            o.id,
            esc(&o.carried_by)
        );
    }

    // One row per object: its stalls as bars on the same time axis.
    d.text("axis-title", 8.0, ROWS - 12.0, SMALL, Anchor::Start, "stalled: received, not yet deliverable");
    for (i, o) in s.objects.iter().enumerate() {
        let lk = look(i);
        let top = ROWS + i as f64 * ROW;
        let mid = top + ROW / 2.0;
        let _ = writeln!(
            d.out,
            r#"<line class="row-sample" x1="6" y1="{m}" x2="20" y2="{m}"{} stroke-width="2"/>"#,
            lk.stroke(),
            m = px(mid)
        );
        let label = format!("obj {}", o.id);
        d.text("row-label", 24.0, mid + 4.0, SMALL, Anchor::Start, &label);
        let _ = writeln!(
            d.out,
            r##"<line class="row" x1="{}" y1="{m}" x2="{}" y2="{m}" stroke="#cccccc" stroke-width="1"/>"##,
            px(LEFT),
            px(RIGHT),
            m = px(mid)
        );
        for st in &o.stalls {
            let _ = writeln!(
                d.out,
                r#"<rect class="stall" data-object="{}" data-from-ms="{}" data-to-ms="{}" data-bytes="{}" x="{}" y="{}" width="{}" height="{}" fill="{}" fill-opacity="0.55" stroke="{}" stroke-width="1"><title>object {}: {} bytes waited {} ms</title></rect>"#,
                o.id,
                ms3(st.from_ms),
                ms3(st.to_ms),
                st.bytes,
                px(x.at(st.from_ms)),
                px(top + 3.0),
                px(x.at(st.to_ms) - x.at(st.from_ms)),
                px(ROW - 6.0),
                lk.colour,
                lk.colour,
                o.id,
                st.bytes,
                ms3(st.to_ms - st.from_ms)
            );
        }
    }
    let longest = s.objects.iter().flat_map(|o| o.stalls.iter().map(|st| st.to_ms - st.from_ms)).fold(0.0, f64::max);
    let stalled = s.objects.iter().filter(|o| !o.stalls.is_empty()).count();
    let summary = format!("{stalled} of {n} objects stalled; longest stall {longest:.1} ms");
    d.text("note", 8.0, ROWS + n as f64 * ROW + 20.0, SMALL, Anchor::Start, &summary);
    d.finish()
}

/// Bytes delivered just before `t` (the level a fill at `t` starts from).
fn level_before(delivered: &[(f64, u64)], t: f64) -> u64 {
    delivered.iter().take_while(|d| d.0 < t).last().map_or(0, |d| d.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_a_bar_as_long_as_the_wait() {
        let s = Streams {
            title: "hol · x".into(),
            subtitle: "one loss".into(),
            y_label: "of the stream".into(),
            objects: vec![ObjectDeliveries {
                id: 0,
                carried_by: "QUIC stream 0".into(),
                delivered: vec![(10.0, 1000), (50.0, 4000)],
                stalls: vec![Stall { from_ms: 20.0, to_ms: 50.0, bytes: 2000 }],
            }],
            at_least: (0.0, 0),
        };
        let svg = render(&s);
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let bar = doc.descendants().find(|n| n.attribute("class") == Some("stall")).unwrap();
        assert_eq!(bar.attribute("data-from-ms"), Some("20.000"));
        // 0..50 ms spans 364 px: the bar is 30 ms of it.
        let w: f64 = bar.attribute("width").unwrap().parse().unwrap();
        assert!((w - 30.0 * (RIGHT - LEFT) / 50.0).abs() < 0.1, "{w}");
        assert_eq!(level_before(&s.objects[0].delivered, 50.0), 1000);
        assert_eq!(svg, render(&s), "deterministic");
    }
}
