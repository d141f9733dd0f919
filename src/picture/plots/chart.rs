//! A small chart writer for the plots whose marks carry their data.
//!
//! plotters draws the time-sequence and rounds plots, but its SVG backend writes no attributes
//! of our own and no dash patterns. The plots here need both: each mark (a stall, a point, a
//! step line) carries `data-*` attributes with the values it was drawn from, so the tests read
//! them back and compare them with the JSON, and each series has a dash pattern as well as an
//! Okabe–Ito colour, so the plots survive greyscale print. Presentation is written as
//! attributes (no `<style>`), so a page can inline many plots side by side.

use std::fmt::Write as _;

use crate::picture::svg::{self, esc, px, Anchor};

/// Text sizes: tick labels and notes, axis titles, the plot's title. None is under 10 px.
pub const SMALL: f64 = 11.0;
pub const TITLE: f64 = 13.0;

/// One series' look: an Okabe–Ito colour and a dash pattern (`""`: solid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    pub colour: &'static str,
    pub dash: &'static str,
}

/// Series looks in order: colour and dash both change, so neighbours differ in greyscale too.
/// (The eighth reuses the first colour with a dash of its own: Okabe–Ito's yellow is too pale
/// for a line on white.)
pub const LOOKS: [Look; 8] = [
    Look { colour: svg::palette::BLUE, dash: "" },
    Look { colour: svg::palette::ORANGE, dash: "7 3" },
    Look { colour: svg::palette::GREEN, dash: "2 2" },
    Look { colour: svg::palette::VERMILLION, dash: "9 3 2 3" },
    Look { colour: svg::palette::PURPLE, dash: "4 4" },
    Look { colour: svg::palette::SKY, dash: "1 3" },
    Look { colour: svg::palette::BLACK, dash: "12 4" },
    Look { colour: svg::palette::BLUE, dash: "10 2 2 2 2 2" },
];

/// The look of series `i`.
pub fn look(i: usize) -> Look {
    LOOKS[i % LOOKS.len()]
}

impl Look {
    /// ` stroke="…" stroke-dasharray="…"` (the dash only when there is one).
    pub fn stroke(&self) -> String {
        if self.dash.is_empty() {
            format!(r#" stroke="{}""#, self.colour)
        } else {
            format!(r#" stroke="{}" stroke-dasharray="{}""#, self.colour, self.dash)
        }
    }
}

/// A linear map from data `d0..d1` to pixels `p0..p1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub p0: f64,
    pub p1: f64,
}

impl Scale {
    pub fn at(&self, v: f64) -> f64 {
        if self.d1 == self.d0 {
            self.p0
        } else {
            self.p0 + (v - self.d0) * (self.p1 - self.p0) / (self.d1 - self.d0)
        }
    }

    /// Pixels per data unit.
    pub fn per_unit(&self) -> f64 {
        if self.d1 == self.d0 {
            0.0
        } else {
            (self.p1 - self.p0) / (self.d1 - self.d0)
        }
    }
}

/// About `n` ticks at 1, 2 or 5 × 10^k from 0 (or `lo`) to at least `hi`: (ticks, step).
pub fn ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let span = (hi - lo).max(1e-9);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    ((first..=last).map(|k| k as f64 * step).collect(), step)
}

/// The upper end of an axis from 0 that holds `v`: the first tick at or above it.
pub fn nice_top(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let (_, step) = ticks(0.0, v, 8);
    (v / step).ceil() * step
}

/// A tick's label with as many decimals as the step needs.
pub fn tick_label(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

/// An SVG document being written: a white page of `w` × `h` px.
pub struct Doc {
    pub out: String,
    pub w: f64,
    pub h: f64,
}

impl Doc {
    /// A new document with `class` and a `<title>` (what a browser shows on hover).
    pub fn new(class: &str, w: f64, h: f64, title: &str) -> Doc {
        let mut out = String::with_capacity(16_384);
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="{class}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="monospace">"#,
            w = px(w),
            h = px(h)
        );
        let _ = writeln!(out, "<title>{}</title>", esc(title));
        let _ = writeln!(out, r#"<rect x="0" y="0" width="{}" height="{}" fill="white"/>"#, px(w), px(h));
        Doc { out, w, h }
    }

    /// A line of text, cut to fit between `x` and the right edge.
    pub fn text(&mut self, class: &str, x: f64, y: f64, size: f64, anchor: Anchor, body: &str) {
        let room = match anchor {
            Anchor::Start => self.w - x - 4.0,
            Anchor::Middle => self.w - 8.0,
            Anchor::End => x - 4.0,
        };
        let max = (room / (svg::ADVANCE * size)).floor().max(1.0) as usize;
        svg::text(&mut self.out, class, x, y, size, anchor, &svg::clip(body, max));
    }

    /// A text rotated a quarter turn (an axis title beside a vertical axis).
    pub fn vertical_text(&mut self, x: f64, y: f64, body: &str) {
        let _ = writeln!(
            self.out,
            r#"<text class="axis-title" x="{x}" y="{y}" font-size="{}" text-anchor="middle" transform="rotate(-90 {x} {y})">{}</text>"#,
            px(SMALL),
            esc(body),
            x = px(x),
            y = px(y)
        );
    }

    /// Axes with ticks and light grid lines for the plot area `x` × `y`; `x_ticks`: values
    /// and labels (numeric axes pass their [`ticks`], categorical ones their categories).
    pub fn axes(&mut self, x: &Scale, y: &Scale, x_ticks: &[(f64, String)], y_ticks: &[(f64, String)]) {
        let (left, right, top, bottom) = (x.p0, x.p1, y.p1, y.p0);
        for (v, label) in y_ticks {
            let py = y.at(*v);
            let _ = writeln!(
                self.out,
                r##"<line class="grid" x1="{}" y1="{py}" x2="{}" y2="{py}" stroke="#e4e4e4" stroke-width="1"/>"##,
                px(left),
                px(right),
                py = px(py)
            );
            svg::text(&mut self.out, "tick-label", left - 5.0, py + 4.0, SMALL, Anchor::End, label);
        }
        for (v, label) in x_ticks {
            let pxx = x.at(*v);
            let _ = writeln!(
                self.out,
                r##"<line class="tick" x1="{p}" y1="{}" x2="{p}" y2="{}" stroke="#000000" stroke-width="1"/>"##,
                px(bottom),
                px(bottom + 4.0),
                p = px(pxx)
            );
            svg::text(&mut self.out, "tick-label", pxx, bottom + 16.0, SMALL, Anchor::Middle, label);
        }
        // The scales, for a reader of the picture: data from, data to, pixel from, pixel to.
        let scale = |s: &Scale| format!("{} {} {} {}", s.d0, s.d1, px(s.p0), px(s.p1));
        let _ = writeln!(
            self.out,
            r##"<path class="axes" data-x-scale="{}" data-y-scale="{}" d="M{} {}V{}H{}" fill="none" stroke="#000000" stroke-width="1"/>"##,
            scale(x),
            scale(y),
            px(left),
            px(top),
            px(bottom),
            px(right)
        );
    }

    /// The plot's title and, under it, what it shows (the first lines of most plots).
    pub fn heading(&mut self, title: &str, subtitle: &str) {
        self.text("title", 8.0, 20.0, TITLE, Anchor::Start, title);
        self.text("subtitle", 8.0, 38.0, SMALL, Anchor::Start, subtitle);
    }

    /// A legend entry at (`x`, baseline `y`): a line sample in `look` (and a marker, if any)
    /// then the label.
    pub fn legend_line(&mut self, x: f64, y: f64, look: Look, marker: Option<Marker>, label: &str) {
        let _ = writeln!(
            self.out,
            r#"<line class="legend-sample" x1="{}" y1="{}" x2="{}" y2="{}"{} stroke-width="2"/>"#,
            px(x),
            px(y - 4.0),
            px(x + 26.0),
            px(y - 4.0),
            look.stroke()
        );
        if let Some(m) = marker {
            m.draw(&mut self.out, "legend-point", x + 13.0, y - 4.0, look.colour, "");
        }
        self.text("legend", x + 32.0, y, SMALL, Anchor::Start, label);
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// A point's marker: a shape per percentile, so they differ without colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
}

impl Marker {
    /// Draws the marker centred on (`x`, `y`), with `class` and `attrs` (data attributes) on
    /// its element.
    pub fn draw(self, out: &mut String, class: &str, x: f64, y: f64, colour: &str, attrs: &str) {
        let _ = match self {
            Marker::Circle => writeln!(
                out,
                r#"<circle class="{class}"{attrs} cx="{}" cy="{}" r="4" fill="{colour}" stroke="white" stroke-width="1"/>"#,
                px(x),
                px(y)
            ),
            Marker::Square => writeln!(
                out,
                r#"<rect class="{class}"{attrs} x="{}" y="{}" width="8" height="8" fill="{colour}" stroke="white" stroke-width="1"/>"#,
                px(x - 4.0),
                px(y - 4.0)
            ),
            Marker::Triangle => writeln!(
                out,
                r#"<path class="{class}"{attrs} d="M{} {}L{} {}L{} {}Z" fill="{colour}" stroke="white" stroke-width="1"/>"#,
                px(x),
                px(y - 5.0),
                px(x + 5.0),
                px(y + 4.0),
                px(x - 5.0),
                px(y + 4.0)
            ),
        };
    }
}

/// The points of a step line through `(x, y)` pairs (horizontal, then vertical), as an SVG
/// `points` list in pixels.
pub fn step_points(x: &Scale, y: &Scale, points: &[(f64, f64)]) -> String {
    let mut s = String::new();
    for (i, &(a, b)) in points.iter().enumerate() {
        if i > 0 {
            let _ = write!(s, "{},{} ", px(x.at(a)), px(y.at(points[i - 1].1)));
        }
        let _ = write!(s, "{},{} ", px(x.at(a)), px(y.at(b)));
    }
    s.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 1000.0, 5), (vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0], 200.0));
        assert_eq!(ticks(0.0, 5.0, 5).1, 1.0);
        assert_eq!(nice_top(1410.0), 1600.0);
        assert_eq!(nice_top(100.5), 120.0);
        assert_eq!(nice_top(0.0), 1.0);
        assert_eq!(tick_label(0.5, 0.5), "0.5");
        assert_eq!(tick_label(400.0, 200.0), "400");
        let s = Scale { d0: 0.0, d1: 10.0, p0: 100.0, p1: 200.0 };
        assert_eq!(s.at(5.0), 150.0);
        assert_eq!(s.per_unit(), 10.0);
    }
}
