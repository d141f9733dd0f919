//! Where things go on the ladder: flights, the time axis with its breaks, round ticks, and
//! the columns of the phase brackets.

use std::collections::BTreeMap;

use super::{Bracket, Kind, Ladder, BREAK_PX, MAX_LABEL, TOP};
use crate::picture::svg;

pub enum Item {
    Single(usize),
    Flight(Vec<usize>),
}

/// One piece of the time axis: linear from `t0..t1` ms to `y0..y1` px.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub t0: f64,
    pub t1: f64,
    pub y0: f64,
    pub y1: f64,
    pub broken: bool,
}

pub struct Axis(pub Vec<Segment>);

impl Axis {
    pub fn y(&self, t: f64) -> f64 {
        let s = self.0.iter().find(|s| t <= s.t1).or(self.0.last()).copied().unwrap_or(Segment {
            t0: 0.0,
            t1: 0.0,
            y0: TOP,
            y1: TOP,
            broken: false,
        });
        if s.t1 > s.t0 {
            s.y0 + (t.clamp(s.t0, s.t1) - s.t0) * (s.y1 - s.y0) / (s.t1 - s.t0)
        } else {
            s.y0
        }
    }

    pub fn bottom(&self) -> f64 {
        self.0.last().map_or(TOP, |s| s.y1)
    }
}

/// Groups plain packets into flights (see the module docs).
pub fn items(l: &Ladder, join_ms: f64) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut open: BTreeMap<(usize, usize, Kind), usize> = BTreeMap::new();
    for (i, p) in l.packets.iter().enumerate() {
        if p.kind == Kind::Named || p.lost.is_some() {
            open.retain(|&(f, t, _), _| (f, t) != (p.from, p.to));
            items.push(Item::Single(i));
            continue;
        }
        let key = (p.from, p.to, p.kind);
        let joins = open.get(&key).is_some_and(|&g| match &items[g] {
            Item::Flight(v) => v.last().is_some_and(|&j| p.sent_ms - l.packets[j].sent_ms <= join_ms),
            Item::Single(_) => false,
        });
        if joins {
            if let Some(Item::Flight(v)) = open.get(&key).and_then(|&g| items.get_mut(g)) {
                v.push(i);
            }
        } else {
            open.insert(key, items.len());
            items.push(Item::Flight(vec![i]));
        }
    }
    items
        .into_iter()
        .flat_map(|it| match it {
            Item::Flight(v) if v.len() < 3 => v.into_iter().map(Item::Single).collect(),
            other => vec![other],
        })
        .collect()
}

/// The time axis: breaks where nothing is in flight for long, the rest scaled to fit `rows`.
pub fn axis(l: &Ladder, rows: usize) -> Axis {
    let mut spans: Vec<(f64, f64)> = l.packets.iter().map(|p| (p.sent_ms, p.end_ms())).collect();
    for b in &l.brackets {
        spans.push((b.start_ms, b.start_ms));
        if let Some(e) = b.end_ms {
            spans.push((e, e));
        }
    }
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (Some(first), Some(last)) = (spans.first().map(|s| s.0), spans.iter().map(|s| s.1).reduce(f64::max)) else {
        return Axis(vec![Segment { t0: 0.0, t1: 0.0, y0: TOP, y1: TOP, broken: false }]);
    };
    let span = last - first;
    let threshold = match l.rtt_ms {
        Some(rtt) if rtt > 0.0 => 4.0 * rtt,
        _ => 0.1 * span,
    }
    .max(f64::MIN_POSITIVE);
    let mut gaps = Vec::new();
    let mut reach = first;
    for &(a, b) in &spans {
        if a - reach > threshold {
            gaps.push((reach, a));
        }
        reach = reach.max(b);
    }
    let active: f64 = span - gaps.iter().map(|(a, b)| b - a).sum::<f64>();
    let height = (rows as f64 * 18.0).clamp(520.0, 1800.0);
    let scale = if active > 0.0 { height / active } else { 1.0 };
    let mut segs = Vec::new();
    let (mut t, mut y) = (first, TOP + 12.0);
    for (a, b) in gaps {
        segs.push(Segment { t0: t, t1: a, y0: y, y1: y + (a - t) * scale, broken: false });
        y += (a - t) * scale;
        segs.push(Segment { t0: a, t1: b, y0: y, y1: y + BREAK_PX, broken: true });
        (t, y) = (b, y + BREAK_PX);
    }
    segs.push(Segment { t0: t, t1: last, y0: y, y1: y + (last - t) * scale, broken: false });
    Axis(segs)
}

/// A round step for ticks at least `min` ms apart: 1, 2 or 5 times a power of ten.
pub fn nice_step(min: f64) -> f64 {
    let p = 10f64.powf(min.max(1e-6).log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|k| k * p).find(|&s| s >= min).unwrap_or(10.0 * p)
}

pub fn fmt_ms(t: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10()).ceil() as usize };
    let v = if t.abs() < step / 1e6 { 0.0 } else { t };
    format!("{v:.decimals$} ms")
}

/// Assigns each bracket a column beside the client's lane, so overlapping phases sit side by
/// side; returns (column per bracket, number of columns).
pub fn bracket_columns(l: &Ladder, end: f64) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..l.brackets.len()).collect();
    let len = |b: &Bracket| b.end_ms.unwrap_or(end) - b.start_ms;
    order.sort_by(|&a, &b| {
        let (x, y) = (&l.brackets[a], &l.brackets[b]);
        x.start_ms.total_cmp(&y.start_ms).then(len(y).total_cmp(&len(x)))
    });
    let mut col_end: Vec<f64> = Vec::new();
    let mut cols = vec![0; l.brackets.len()];
    for i in order {
        let b = &l.brackets[i];
        let c = col_end.iter().position(|&e| e <= b.start_ms + 1e-9).unwrap_or(col_end.len());
        if c == col_end.len() {
            col_end.push(0.0);
        }
        col_end[c] = b.end_ms.unwrap_or(end);
        cols[i] = c;
    }
    (cols, col_end.len())
}

/// Two lines: the phase, then how long it took.
pub fn bracket_label(b: &Bracket) -> String {
    let took = match (b.end_ms, b.rtts) {
        (Some(e), Some(r)) => format!("{:.1} ms · {r:.2} RTT", e - b.start_ms),
        (Some(e), None) => format!("{:.1} ms", e - b.start_ms),
        (None, _) => "did not end".to_string(),
    };
    format!("{}\n{took}", svg::clip(&b.label, MAX_LABEL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::picture::ladder::{render, Packet};

    fn pkt(from: usize, to: usize, sent: f64, arrived: f64, kind: Kind) -> Packet {
        Packet {
            from,
            to,
            sent_ms: sent,
            arrived_ms: Some(arrived),
            due_ms: arrived,
            lost: None,
            frame: None,
            label: "x".into(),
            what: "x".into(),
            kind,
            payload: if kind == Kind::Data { 1000 } else { 0 },
        }
    }

    fn ladder(packets: Vec<Packet>) -> Ladder {
        Ladder { rtt_ms: Some(100.0), lanes: vec!["client".into(), "server".into()], packets, ..Default::default() }
    }

    #[test]
    fn close_plain_packets_form_a_flight_and_named_ones_stay_arrows() {
        let mut ps = vec![pkt(0, 1, 0.0, 50.0, Kind::Named)];
        ps.extend((0..5).map(|i| pkt(1, 0, 50.0 + i as f64, 100.0 + i as f64, Kind::Data)));
        ps.push(pkt(1, 0, 80.0, 130.0, Kind::Named));
        let l = ladder(ps);
        let it = items(&l, 25.0);
        assert!(matches!(&it[..], [Item::Single(0), Item::Flight(v), Item::Single(6)] if v.len() == 5));
        let svg = render(&l);
        assert!(svg.contains(r#"data-packets="5" data-bytes="5000""#), "{svg}");
    }

    #[test]
    fn a_long_idle_stretch_becomes_a_break() {
        let l = ladder(vec![pkt(0, 1, 0.0, 50.0, Kind::Named), pkt(0, 1, 7000.0, 7050.0, Kind::Named)]);
        let a = axis(&l, 2);
        assert_eq!(a.0.len(), 3);
        assert!(a.0[1].broken && a.0[1].t0 == 50.0 && a.0[1].t1 == 7000.0);
        assert!((a.0[1].y1 - a.0[1].y0 - BREAK_PX).abs() < 1e-9);
        assert!((a.y(25.0) - (a.0[0].y0 + a.0[0].y1) / 2.0).abs() < 1e-9);
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(44.0), 50.0);
        assert_eq!(nice_step(120.0), 200.0);
        assert_eq!(fmt_ms(0.15, 0.05), "0.15 ms");
        assert_eq!(fmt_ms(300.0, 100.0), "300 ms");
    }
}
