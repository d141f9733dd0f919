//! A small SVG writer: escaping, fixed-point numbers, text boxes and a label placer.
//!
//! Every picture is byte-identical for the same data: numbers are written with a fixed number
//! of decimals, attributes in a fixed order, and no timestamp or random id is ever written.
//! Text is set in the generic `monospace` family (no font file is fetched or embedded), so a
//! label's width is known without measuring it: `chars × 0.6 × size`, the advance of the common
//! monospace faces (DejaVu Sans Mono, Liberation Mono, Courier). The placer uses that width to
//! keep labels from overlapping, and the tests use the same rule to check that they don't.

use std::fmt::Write as _;

/// The smallest text any picture uses, in px (readable at the default width).
pub const FONT: f64 = 11.0;
/// A monospace glyph's advance, as a fraction of the font size.
pub const ADVANCE: f64 = 0.6;

/// Escapes text for an SVG or HTML text node or a double-quoted attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// `v` with `decimals` fixed decimals, never `-0.0`: rounded once to an integer count of
/// 10^-decimals and written with integer formatting (exact, and far faster than the float
/// formatter's exact mode).
fn fixed(v: f64, decimals: u32) -> String {
    let k = 10i64.pow(decimals);
    let n = (v * k as f64).round() as i64;
    let sign = if n < 0 { "-" } else { "" };
    let (whole, frac) = (n.unsigned_abs() / k as u64, n.unsigned_abs() % k as u64);
    format!("{sign}{whole}.{frac:0width$}", width = decimals as usize)
}

/// A coordinate with one decimal.
pub fn px(v: f64) -> String {
    fixed(v, 1)
}

/// A time in ms with three decimals (µs resolution, the virtual clock's).
pub fn ms3(v: f64) -> String {
    fixed(v, 3)
}

/// How a text is anchored at its x.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn name(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// An axis-aligned box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    /// The box `by` px larger on every side.
    pub fn grown(&self, by: f64) -> Rect {
        Rect { x0: self.x0 - by, y0: self.y0 - by, x1: self.x1 + by, y1: self.y1 + by }
    }

    pub fn intersects(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// The box a one-line text of `size` px covers when drawn at (`x`, baseline `y`).
pub fn text_box(text: &str, x: f64, y: f64, size: f64, anchor: Anchor) -> Rect {
    let w = text.chars().count() as f64 * ADVANCE * size;
    let x0 = match anchor {
        Anchor::Start => x,
        Anchor::Middle => x - w / 2.0,
        Anchor::End => x - w,
    };
    Rect { x0, y0: y - 0.8 * size, x1: x0 + w, y1: y + 0.25 * size }
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Labels placed so far: a new one goes where it overlaps none of them, or nowhere. Boxes are
/// kept in horizontal bands of `BAND` px, so a new label is checked only against the labels
/// of the bands it touches.
#[derive(Debug, Default)]
pub struct Placer {
    bands: std::collections::BTreeMap<i64, Vec<Rect>>,
}

/// The height of one band of the placer's index, in px.
const BAND: f64 = 32.0;

impl Placer {
    fn bands_of(r: &Rect) -> std::ops::RangeInclusive<i64> {
        ((r.y0 / BAND).floor() as i64)..=((r.y1 / BAND).floor() as i64)
    }

    fn free(&self, r: &Rect) -> bool {
        Self::bands_of(r).all(|b| self.bands.get(&b).is_none_or(|v| !v.iter().any(|t| t.intersects(r))))
    }

    fn take(&mut self, r: Rect) {
        for b in Self::bands_of(&r) {
            self.bands.entry(b).or_default().push(r);
        }
    }

    /// Reserves `r` (a title, an axis) without drawing anything.
    pub fn reserve(&mut self, r: Rect) {
        self.take(r.grown(0.5));
    }

    /// The first of the baselines `ys` at which `text` overlaps no placed label, reserved.
    /// A text of several lines (`\n`) takes [`LINE`] × size per line below its first baseline.
    pub fn place(&mut self, text: &str, x: f64, ys: &[f64], size: f64, anchor: Anchor) -> Option<f64> {
        for &y in ys {
            // Half a pixel of room each side: labels that would touch stay a pixel apart, also
            // once their coordinates are rounded to one decimal.
            let boxes: Vec<Rect> = text
                .lines()
                .enumerate()
                .map(|(i, l)| text_box(l, x, y + i as f64 * LINE * size, size, anchor).grown(0.5))
                .collect();
            if boxes.iter().all(|b| self.free(b)) {
                for b in boxes {
                    self.take(b);
                }
                return Some(y);
            }
        }
        None
    }
}

/// Line spacing of a text of several lines, as a multiple of the font size.
pub const LINE: f64 = 1.2;

/// Writes one `<text>` element per line of `body` (`\n` separates lines, [`LINE`] apart);
/// `class` for the stylesheet.
pub fn text(out: &mut String, class: &str, x: f64, y: f64, size: f64, anchor: Anchor, body: &str) {
    for (i, line) in body.lines().enumerate() {
        let _ = writeln!(
            out,
            r#"<text class="{class}" x="{}" y="{}" font-size="{}" text-anchor="{}">{}</text>"#,
            px(x),
            px(y + i as f64 * LINE * size),
            px(size),
            anchor.name(),
            esc(line)
        );
    }
}

/// The Okabe–Ito palette: distinguishable with the common colour-vision deficiencies, and
/// (with the dash patterns the pictures add) in greyscale print.
pub mod palette {
    pub const BLUE: &str = "#0072B2";
    pub const ORANGE: &str = "#E69F00";
    pub const GREEN: &str = "#009E73";
    /// A lost packet's cross (set in the ladder's stylesheet).
    pub const VERMILLION: &str = "#D55E00";
    pub const PURPLE: &str = "#CC79A7";
    pub const SKY: &str = "#56B4E9";
    pub const BLACK: &str = "#000000";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_fixed_point_and_never_negative_zero() {
        assert_eq!(px(-0.04), "0.0");
        assert_eq!(px(12.345), "12.3");
        assert_eq!(ms3(-0.0001), "0.000");
        assert_eq!(ms3(150.0), "150.000");
        assert_eq!(px(-3.25), "-3.3");
        assert_eq!(px(0.96), "1.0");
        assert_eq!(ms3(42.3), "42.300");
        assert_eq!(ms3(-0.0504), "-0.050");
    }

    #[test]
    fn the_placer_never_overlaps() {
        let mut p = Placer::default();
        assert_eq!(p.place("SYN", 100.0, &[50.0], FONT, Anchor::Middle), Some(50.0));
        assert_eq!(p.place("SYN/ACK", 100.0, &[50.0, 63.0], FONT, Anchor::Middle), Some(63.0));
        assert_eq!(p.place("ACK", 100.0, &[55.0], FONT, Anchor::Middle), None);
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
