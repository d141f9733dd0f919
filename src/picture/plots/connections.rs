//! A connection pool over time (the keepalive lab): how many connections the client had open,
//! and how many handshakes it had paid for so far. With a short idle timeout every burst opens
//! its connections again, so the handshake line climbs at every burst; with a long one it
//! stops after the first.

use std::fmt::Write as _;

use super::chart::{self, look, Doc, Scale, SMALL};
use crate::picture::svg::{ms3, px, Anchor};

/// What happened to the pool's connections, from the client's capture and its handshakes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connections {
    pub title: String,
    pub subtitle: String,
    /// (ms since the scenario began, connections open from then on), in time order.
    pub open: Vec<(f64, u32)>,
    /// Connections the client opened (SYNs it sent).
    pub opened: u32,
    /// When each handshake completed, ms since the scenario began, in time order.
    pub handshakes: Vec<f64>,
    /// What a handshake is here (`TLS handshakes completed`).
    pub handshake_label: String,
    /// The scenario's end, ms.
    pub end_ms: f64,
}

const W: f64 = 880.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = W - 20.0;
/// The two panels: (top, bottom) in px.
const OPEN: (f64, f64) = (64.0, 214.0);
const SHAKES: (f64, f64) = (262.0, 442.0);
const H: f64 = 500.0;

/// The SVG of `c`: connections open above, handshakes so far below, on one time axis (s).
pub fn render(c: &Connections) -> String {
    let mut d = Doc::new("plot connections", W, H, &c.title);
    d.heading(&c.title, &c.subtitle);
    let end_s =
        c.end_ms.max(c.open.last().map_or(0.0, |o| o.0)).max(c.handshakes.last().copied().unwrap_or(0.0)) / 1000.0;
    let x = Scale { d0: 0.0, d1: chart::nice_top(end_s), p0: LEFT, p1: RIGHT };
    let (xt, xs) = chart::ticks(0.0, x.d1, 8);
    let x_ticks: Vec<(f64, String)> = xt.into_iter().map(|v| (v, chart::tick_label(v, xs))).collect();
    let integer_ticks = |top: f64| {
        let (t, s) = chart::ticks(0.0, top, 4);
        let s = s.max(1.0);
        t.into_iter().filter(|v| (v / s).fract() == 0.0).map(|v| (v, chart::tick_label(v, 1.0))).collect::<Vec<_>>()
    };

    // Connections open.
    let max_open = c.open.iter().map(|o| o.1).max().unwrap_or(0);
    let y = Scale { d0: 0.0, d1: chart::nice_top(f64::from(max_open).max(1.0)), p0: OPEN.1, p1: OPEN.0 };
    d.axes(&x, &y, &x_ticks, &integer_ticks(y.d1));
    d.text(
        "axis-title",
        LEFT,
        OPEN.0 - 8.0,
        SMALL,
        Anchor::Start,
        "connections open at the client (SYN sent, no FIN or RST yet)",
    );
    let mut pts = vec![(0.0, 0.0)];
    pts.extend(c.open.iter().map(|&(t, n)| (t / 1000.0, f64::from(n))));
    pts.push((end_s, pts.last().map_or(0.0, |p| p.1)));
    let lk = look(0);
    let _ = writeln!(
        d.out,
        r#"<polyline class="open" data-max="{max_open}" data-opened="{}" points="{}" fill="none"{} stroke-width="1.4"/>"#,
        c.opened,
        chart::step_points(&x, &y, &pts),
        lk.stroke()
    );

    // Handshakes so far.
    let n = c.handshakes.len();
    let y = Scale { d0: 0.0, d1: chart::nice_top(n.max(1) as f64), p0: SHAKES.1, p1: SHAKES.0 };
    d.axes(&x, &y, &x_ticks, &integer_ticks(y.d1));
    d.text("axis-title", LEFT, SHAKES.0 - 8.0, SMALL, Anchor::Start, &format!("{} so far", c.handshake_label));
    let mut pts = vec![(0.0, 0.0)];
    pts.extend(c.handshakes.iter().enumerate().map(|(i, &t)| (t / 1000.0, (i + 1) as f64)));
    pts.push((end_s, n as f64));
    let lk = look(1);
    let _ = writeln!(
        d.out,
        r#"<polyline class="handshakes" data-final="{n}" data-last-ms="{}" points="{}" fill="none"{} stroke-width="2"/>"#,
        ms3(c.handshakes.last().copied().unwrap_or(0.0)),
        chart::step_points(&x, &y, &pts),
        lk.stroke()
    );
    let _ = writeln!(
        d.out,
        r#"<text class="final" x="{}" y="{}" font-size="{}" text-anchor="end">{n}</text>"#,
        px(RIGHT - 4.0),
        px(y.at(n as f64) - 6.0),
        px(SMALL)
    );
    d.text("axis-title", (LEFT + RIGHT) / 2.0, SHAKES.1 + 34.0, SMALL, Anchor::Middle, "s since the scenario began");
    d.finish()
}
