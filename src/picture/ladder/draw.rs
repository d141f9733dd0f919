//! Drawing the ladder: lanes, the time axis, phase brackets, packets and flights, the legend,
//! then every label where the placer finds room.

use std::fmt::Write as _;

use super::layout::{self, Axis, Item};
use super::{Kind, Ladder, Packet, BRACKET_COL, LANE_GAP, LOST_AT, MAX_ARROWS, MAX_LABEL, ROW, TOP};
use crate::picture::svg::{self, esc, ms3, palette, px, Anchor, Placer, FONT};

/// A label waiting for a place: tried at each of `ys`, placed in priority order.
struct Pending {
    priority: u8,
    text: String,
    class: &'static str,
    x: f64,
    ys: Vec<f64>,
    anchor: Anchor,
}

fn around(y: f64) -> Vec<f64> {
    vec![y, y - ROW, y + ROW, y - 2.0 * ROW, y + 2.0 * ROW]
}

/// 0: sent by the client, 1: sent to it, 2: between other hosts.
fn colour(p: &Packet) -> usize {
    match (p.from, p.to) {
        (0, _) => 0,
        (_, 0) => 1,
        _ => 2,
    }
}

/// The picture being drawn, and where its parts go.
struct Canvas<'a> {
    l: &'a Ladder,
    axis: Axis,
    /// The right edge of the phase labels, the client's lane, the time axis.
    label_right: f64,
    lane0: f64,
    axis_x: f64,
    bottom: f64,
    /// Shapes, in drawing order.
    out: String,
    /// Titles, host names and the legend: placed before anything else.
    fixed: String,
    placer: Placer,
    pending: Vec<Pending>,
    /// Packet lines drawn so far (at most [`MAX_ARROWS`]).
    drawn: usize,
}

/// The ladder `l` as an SVG document; `blabels`: each bracket's label; `cut`: what was left
/// out, if anything.
pub fn draw(l: &Ladder, blabels: Vec<String>, cut: Option<String>) -> String {
    let join_ms = l.rtt_ms.map_or(0.0, |r| r / 4.0);
    let items = layout::items(l, join_ms);
    let axis = layout::axis(l, items.len() + l.brackets.len());
    let t_end = axis.0.last().map_or(0.0, |s| s.t1);
    let (cols, ncols) = layout::bracket_columns(l, t_end);
    let widest = blabels.iter().flat_map(|s| s.lines()).map(|s| s.chars().count()).max().unwrap_or(0);
    let label_right = 12.0 + widest as f64 * svg::ADVANCE * FONT;
    let lane0 = label_right + 8.0 + ncols as f64 * BRACKET_COL + 18.0;
    let last_lane = lane0 + l.lanes.len().saturating_sub(1) as f64 * LANE_GAP;
    let bottom = axis.bottom();
    let mut c = Canvas {
        l,
        axis,
        label_right,
        lane0,
        axis_x: last_lane + 110.0,
        bottom,
        out: String::with_capacity(4096 + 400 * l.packets.len()),
        fixed: String::new(),
        placer: Placer::default(),
        pending: Vec::new(),
        drawn: 0,
    };
    c.header();
    c.lanes();
    c.time_axis();
    c.brackets(&cols, blabels, t_end);
    for item in &items {
        match item {
            Item::Single(i) => c.single(&l.packets[*i]),
            Item::Flight(v) => c.flight(&v.iter().map(|&i| &l.packets[i]).collect::<Vec<_>>()),
        }
    }
    c.notes(cut);
    c.legend();
    c.finish()
}

impl Canvas<'_> {
    fn lane_x(&self, i: usize) -> f64 {
        self.lane0 + i as f64 * LANE_GAP
    }

    fn size(&self) -> (f64, f64) {
        (self.axis_x + 90.0, self.bottom + 76.0)
    }

    fn header(&mut self) {
        let (w, h) = self.size();
        let l = self.l;
        let _ = writeln!(
            self.out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="ladder" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="monospace">"#,
            w = px(w),
            h = px(h)
        );
        let _ = writeln!(self.out, "<title>{}</title>", esc(&l.title));
        self.out.push_str(STYLE);
        self.out.push_str("<defs>");
        for (i, colour) in [palette::BLUE, palette::ORANGE, palette::GREEN].iter().enumerate() {
            let _ = write!(
                self.out,
                r#"<marker id="head{i}-{id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L10 5L0 10z" fill="{colour}"/></marker>"#,
                id = l.id
            );
        }
        self.out.push_str("</defs>\n");
        let _ = writeln!(self.out, r#"<rect x="0" y="0" width="{}" height="{}" fill="white"/>"#, px(w), px(h));
        for (text, y, size) in [(&l.title, 22.0, 14.0), (&l.subtitle, 40.0, FONT)] {
            self.fixed_text("title", text, 12.0, y, size, Anchor::Start);
        }
    }

    /// A text that is always drawn (reserved before any label is placed).
    fn fixed_text(&mut self, class: &str, text: &str, x: f64, y: f64, size: f64, anchor: Anchor) {
        self.placer.reserve(svg::text_box(text, x, y, size, anchor));
        svg::text(&mut self.fixed, class, x, y, size, anchor, text);
    }

    fn lanes(&mut self) {
        for (i, name) in self.l.lanes.iter().enumerate() {
            let x = self.lane_x(i);
            let _ = writeln!(
                self.out,
                r#"<line class="lane" data-host="{}" x1="{x}" y1="{}" x2="{x}" y2="{}"/>"#,
                esc(name),
                px(TOP - 6.0),
                px(self.bottom + 8.0),
                x = px(x)
            );
            self.fixed_text("host", name, x, TOP - 12.0, 12.0, Anchor::Middle);
        }
    }

    /// The axis: one line per segment (its times and ends are data), round ticks on the
    /// linear segments, a marked band across the picture for each break.
    fn time_axis(&mut self) {
        let last_lane = self.lane_x(self.l.lanes.len().saturating_sub(1));
        let x = self.axis_x;
        for s in self.axis.0.clone() {
            let _ = writeln!(
                self.out,
                r#"<line class="axis-segment{}" data-t0-ms="{}" data-t1-ms="{}" x1="{x}" y1="{}" x2="{x}" y2="{}"/>"#,
                if s.broken { " break" } else { "" },
                ms3(s.t0),
                ms3(s.t1),
                px(s.y0),
                px(s.y1),
                x = px(x)
            );
            if s.broken {
                let (a, b) = (s.y0 + 6.0, s.y1 - 6.0);
                let _ = writeln!(
                    self.out,
                    r#"<rect class="break" x="{}" y="{}" width="{}" height="{}"/>"#,
                    px(self.lane0 - 20.0),
                    px(a),
                    px(x - self.lane0 + 30.0),
                    px(b - a)
                );
                self.pending.push(Pending {
                    priority: 0,
                    text: format!("⋯ {:.1} ms with nothing in flight ⋯", s.t1 - s.t0),
                    class: "break-label",
                    x: (self.lane0 + last_lane) / 2.0,
                    ys: vec![(a + b) / 2.0 + 4.0],
                    anchor: Anchor::Middle,
                });
                continue;
            }
            let scale = if s.t1 > s.t0 { (s.y1 - s.y0) / (s.t1 - s.t0) } else { 0.0 };
            if scale <= 0.0 {
                continue;
            }
            let step = layout::nice_step(44.0 / scale);
            let mut k = (s.t0 / step).ceil();
            while k * step <= s.t1 + 1e-9 {
                let t = k * step;
                let y = self.axis.y(t);
                let _ = writeln!(
                    self.out,
                    r#"<line class="tick" x1="{}" y1="{y}" x2="{}" y2="{y}"/>"#,
                    px(x - 4.0),
                    px(x + 4.0),
                    y = px(y)
                );
                self.pending.push(Pending {
                    priority: 5,
                    text: layout::fmt_ms(t, step),
                    class: "tick-label",
                    x: x + 8.0,
                    ys: vec![y + 4.0],
                    anchor: Anchor::Start,
                });
                k += 1.0;
            }
        }
    }

    /// The phase brackets beside the client's lane, their labels to the left.
    fn brackets(&mut self, cols: &[usize], labels: Vec<String>, t_end: f64) {
        for ((b, &col), label) in self.l.brackets.iter().zip(cols).zip(labels) {
            let x = self.lane0 - 18.0 - col as f64 * BRACKET_COL;
            let (y0, y1) = (self.axis.y(b.start_ms), self.axis.y(b.end_ms.unwrap_or(t_end)));
            let _ = writeln!(
                self.out,
                r#"<g class="phase{}" data-start-ms="{}"{}><title>{}</title><path d="M{} {}H{}V{}H{}"/></g>"#,
                if b.end_ms.is_none() { " open" } else { "" },
                ms3(b.start_ms),
                b.end_ms.map_or(String::new(), |e| format!(r#" data-end-ms="{}""#, ms3(e))),
                esc(&label.replace('\n', " · ")),
                px(x + 5.0),
                px(y0),
                px(x),
                px(y1),
                px(x + 5.0)
            );
            let mid = (y0 + y1) / 2.0 - 2.0;
            let mut ys = vec![mid];
            for k in 1..=4 {
                ys.push(mid + k as f64 * ROW);
                ys.push(mid - k as f64 * ROW);
            }
            let x = self.label_right;
            self.pending.push(Pending { priority: 1, text: label, class: "phase-label", x, ys, anchor: Anchor::End });
        }
    }

    /// The drawn end points of a packet's line.
    fn ends(&self, p: &Packet) -> (f64, f64, f64, f64) {
        let (x1, y1) = (self.lane_x(p.from), self.axis.y(p.sent_ms));
        let x_to = self.lane_x(p.to);
        match (p.arrived_ms, &p.lost) {
            (Some(a), _) => (x1, y1, x_to, self.axis.y(a)),
            (None, Some(_)) => (x1, y1, x1 + LOST_AT * (x_to - x1), self.axis.y(p.end_ms())),
            (None, None) => (x1, y1, x_to, self.axis.y(p.end_ms())),
        }
    }

    fn single(&mut self, p: &Packet) {
        let e = self.ends(p);
        arrow(&mut self.out, self.l, p, e, true);
        self.drawn += 1;
        let (x1, y1, x2, y2) = e;
        let frame = p.frame.map_or(String::new(), |f| format!("#{f} "));
        let (text, priority) = match &p.lost {
            Some(rule) => (format!("{frame}{} ✕ lost: {rule}", p.label), 2),
            None => (format!("{frame}{}", p.label), if p.kind == Kind::Named { 3 } else { 6 }),
        };
        self.pending.push(Pending {
            priority,
            text: svg::clip(&text, MAX_LABEL),
            class: "pkt-label",
            x: (x1 + x2) / 2.0,
            ys: around((y1 + y2) / 2.0 - 3.0),
            anchor: Anchor::Middle,
        });
    }

    /// A band from the first to the last packet of a flight, its packets inside as thin lines.
    fn flight(&mut self, ps: &[&Packet]) {
        let l = self.l;
        let (first, last) = (ps[0], ps[ps.len() - 1]);
        let arr = |p: &Packet| p.arrived_ms.unwrap_or(p.due_ms);
        let a0 = ps.iter().map(|p| arr(p)).fold(f64::INFINITY, f64::min);
        let a1 = ps.iter().map(|p| arr(p)).fold(f64::NEG_INFINITY, f64::max);
        let (xf, xt) = (self.lane_x(first.from), self.lane_x(first.to));
        let bytes: usize = ps.iter().map(|p| p.payload).sum();
        let frames: Vec<u64> = ps.iter().filter_map(|p| p.frame).collect();
        let range = match (frames.first(), frames.last()) {
            (Some(a), Some(b)) => format!("#{a}–#{b}: "),
            _ => String::new(),
        };
        let what = match first.kind {
            Kind::Ack => format!("{range}{} ACKs", ps.len()),
            _ => format!("{range}{} segments, {bytes} bytes", ps.len()),
        };
        let (from, to) = (esc(&l.lanes[first.from]), esc(&l.lanes[first.to]));
        let _ = writeln!(
            self.out,
            r#"<g class="flight" data-from="{from}" data-to="{to}" data-packets="{}" data-bytes="{bytes}"><title>{} from {from} to {to}, sent {}–{} ms, arrived {}–{} ms</title><polygon class="band{}" points="{},{} {},{} {},{} {},{}"/>"#,
            ps.len(),
            esc(&what),
            ms3(first.sent_ms),
            ms3(last.sent_ms),
            ms3(a0),
            ms3(a1),
            colour(first),
            px(xf),
            px(self.axis.y(first.sent_ms)),
            px(xf),
            px(self.axis.y(last.sent_ms)),
            px(xt),
            px(self.axis.y(a1)),
            px(xt),
            px(self.axis.y(a0)),
        );
        for p in ps {
            if self.drawn < MAX_ARROWS {
                let e = self.ends(p);
                arrow(&mut self.out, l, p, e, false);
                self.drawn += 1;
            }
        }
        self.out.push_str("</g>\n");
        self.pending.push(Pending {
            priority: 4,
            text: svg::clip(&what, MAX_LABEL),
            class: "flight-label",
            x: (xf + xt) / 2.0,
            ys: around((self.axis.y(first.sent_ms) + self.axis.y(a1)) / 2.0 + 4.0),
            anchor: Anchor::Middle,
        });
    }

    /// What the picture leaves out, under it.
    fn notes(&mut self, cut: Option<String>) {
        let mut notes: Vec<String> = cut.into_iter().collect();
        let all = self.l.packets.len();
        if self.drawn < all {
            notes.push(format!(
                "{} of {all} packets drawn one by one; the rest are in their flights' bands",
                self.drawn
            ));
        }
        if !notes.is_empty() {
            let ys = vec![self.bottom + 26.0];
            let text = notes.join("\n");
            self.pending.push(Pending { priority: 0, text, class: "note", x: 12.0, ys, anchor: Anchor::Start });
        }
    }

    fn legend(&mut self) {
        let y = self.bottom + 58.0;
        let entries = [(0, "sent by the client"), (1, "sent to the client"), (2, "between other hosts")];
        let mut x = 12.0;
        for (c, text) in entries.iter().take(if self.l.lanes.len() > 2 { 3 } else { 2 }) {
            let _ = writeln!(
                self.out,
                r#"<line class="c{c}" x1="{}" y1="{y}" x2="{}" y2="{y}" marker-end="url(#head{c}-{id})"/>"#,
                px(x),
                px(x + 30.0),
                y = px(y - 4.0),
                id = self.l.id
            );
            self.fixed_text("legend", text, x + 36.0, y, FONT, Anchor::Start);
            x += 36.0 + text.chars().count() as f64 * svg::ADVANCE * FONT + 24.0;
        }
        self.fixed_text("legend lost", "✕ lost on the link (the rule that dropped it)", x, y, FONT, Anchor::Start);
    }

    /// Places the labels in priority order and draws them last, on top, in a fixed order.
    fn finish(mut self) -> String {
        let mut order: Vec<usize> = (0..self.pending.len()).collect();
        order.sort_by_key(|&i| self.pending[i].priority);
        let mut placed: Vec<Option<f64>> = vec![None; self.pending.len()];
        for i in order {
            let p = &self.pending[i];
            placed[i] = self.placer.place(&p.text, p.x, &p.ys, FONT, p.anchor);
        }
        self.out.push_str(&self.fixed);
        for (p, y) in self.pending.iter().zip(placed) {
            if let Some(y) = y {
                svg::text(&mut self.out, p.class, p.x, y, FONT, p.anchor, &p.text);
            }
        }
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// One packet's element: its line (with a head, or a ✕ where it was lost) and its data.
fn arrow(out: &mut String, l: &Ladder, p: &Packet, (x1, y1, x2, y2): (f64, f64, f64, f64), head: bool) {
    let c = colour(p);
    let (from, to) = (&l.lanes[p.from], &l.lanes[p.to]);
    let frame = p.frame.map_or(String::new(), |f| format!(r#" data-frame="{f}""#));
    let fate = match (&p.lost, p.arrived_ms) {
        (Some(rule), _) => format!(r#" data-lost="{}" data-lost-at-ms="{}""#, esc(rule), ms3(p.end_ms())),
        (None, Some(a)) => format!(r#" data-arrived-ms="{}""#, ms3(a)),
        (None, None) => format!(r#" data-in-flight-until-ms="{}""#, ms3(p.end_ms())),
    };
    let when = match (&p.lost, p.arrived_ms) {
        (Some(rule), _) => format!("lost ({rule})"),
        (None, Some(a)) => format!("arrived {} ms", ms3(a)),
        (None, None) => "still in flight when the run ended".into(),
    };
    let number = p.frame.map_or(String::new(), |f| format!("frame {f}: "));
    let _ = write!(
        out,
        r#"<g class="pkt"{frame} data-from="{}" data-to="{}" data-sent-ms="{}"{fate}><title>{}</title>"#,
        esc(from),
        esc(to),
        ms3(p.sent_ms),
        esc(&format!("{number}{from} → {to}, sent {} ms, {when}: {}", ms3(p.sent_ms), p.what))
    );
    let class = if head { format!("c{c}") } else { format!("c{c} thin") };
    let marker =
        if head && p.lost.is_none() { format!(r#" marker-end="url(#head{c}-{})""#, l.id) } else { String::new() };
    let _ = write!(
        out,
        r#"<line class="{class}" x1="{}" y1="{}" x2="{}" y2="{}"{marker}/>"#,
        px(x1),
        px(y1),
        px(x2),
        px(y2)
    );
    if p.lost.is_some() {
        let r = 5.0;
        let _ = write!(
            out,
            r#"<path class="cross" d="M{} {}L{} {}M{} {}L{} {}"/>"#,
            px(x2 - r),
            px(y2 - r),
            px(x2 + r),
            px(y2 + r),
            px(x2 - r),
            px(y2 + r),
            px(x2 + r),
            px(y2 - r)
        );
    }
    out.push_str("</g>\n");
}

/// Shared by every ladder: classes, so that each element carries data, not style. Every rule
/// is scoped to `svg.ladder`, so a page that inlines the picture keeps its own styles.
const STYLE: &str = r#"<style>
svg.ladder .lane{stroke:#999999;stroke-width:1}
svg.ladder .axis-segment{stroke:#000000;stroke-width:1}
svg.ladder .axis-segment.break{stroke-dasharray:2 3}
svg.ladder .tick{stroke:#000000}
svg.ladder .break{fill:#f2f2f2;stroke:#999999;stroke-dasharray:4 3}
svg.ladder .c0{stroke:#0072B2;stroke-width:1.4}
svg.ladder .c1{stroke:#E69F00;stroke-width:1.4;stroke-dasharray:6 2}
svg.ladder .c2{stroke:#009E73;stroke-width:1.4;stroke-dasharray:2 2}
svg.ladder .thin{stroke-width:0.6;stroke-dasharray:none}
svg.ladder .band0{fill:#0072B2;fill-opacity:0.18;stroke:#0072B2;stroke-width:0.8}
svg.ladder .band1{fill:#E69F00;fill-opacity:0.22;stroke:#E69F00;stroke-width:0.8}
svg.ladder .band2{fill:#009E73;fill-opacity:0.18;stroke:#009E73;stroke-width:0.8}
svg.ladder .cross{stroke:#D55E00;stroke-width:2.4}
svg.ladder .phase path{fill:none;stroke:#000000;stroke-width:1.2}
svg.ladder .phase.open path{stroke-dasharray:3 2}
svg.ladder text{fill:#000000;paint-order:stroke;stroke:#ffffff;stroke-width:3px;stroke-linejoin:round}
svg.ladder .tick-label,svg.ladder .note,svg.ladder .break-label{fill:#444444}
svg.ladder .legend.lost{fill:#D55E00}
</style>
"#;
