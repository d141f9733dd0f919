//! `<lab>.html`: one self-contained page per run.
//!
//! The page holds the lab's description, the theory beside the measurements, and for each
//! scenario its phases, checks, files and ladder diagram. It inlines its CSS and SVG, loads
//! nothing (no script, no font, no image from anywhere), and opens from disk in any browser.
//! It is also well-formed XML, so the tests parse it as strictly as the SVGs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::svg::esc;
use crate::timeline::{table, LabTimeline, Scenario};

/// What the page links to and shows, besides the timeline itself.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// Per scenario: its ladder diagram (an SVG document).
    pub ladders: BTreeMap<String, String>,
    /// Per scenario: its plots, by name ([`PLOTS`]).
    pub plots: BTreeMap<String, Vec<(String, String)>>,
    /// Per scenario: the files written beside the page (capture, key log, other taps).
    pub files: BTreeMap<String, Vec<String>>,
    /// Preformatted tables of the whole run (the size sweep, the loss table), with headings.
    pub tables: Vec<(String, String)>,
    /// Plots of the whole run (the loss table's percentiles).
    pub lab_plots: Vec<LabPlot>,
}

/// A plot of the whole run, shown after the tables.
#[derive(Clone, Debug, Default)]
pub struct LabPlot {
    /// Its file name beside the page (`<lab>-loss-table.svg`).
    pub file: String,
    pub heading: String,
    pub about: String,
    pub svg: String,
    /// The file was written, so the page links it.
    pub linked: bool,
}

/// The plots a scenario may have: the file name's suffix (`<lab>-<scenario>-<name>.svg`) and
/// what the report says about it.
pub const PLOTS: [(&str, &str); 4] = [
    (
        "time-sequence",
        "Time-sequence graph: each data segment where it arrived (its bytes as a vertical stroke; retransmissions in vermillion), the client's ACKs and its receive window. Slow start shows as steps that grow each round trip.",
    ),
    (
        "rounds",
        "Bytes per slow-start round, beside slow start without loss from the initial window that ran (IW × MSS, doubling each round).",
    ),
    (
        "streams",
        "Bytes of each object delivered in order to the application over time (one step line per object), measured at the client. Shaded: a stall, bytes that had arrived but waited behind a hole for a retransmission; the rows below show each object's stalls on the same time axis. Under HTTP/2 one hole stalls every object; under HTTP/1.1 and HTTP/3 only the object whose connection or stream lost data.",
    ),
    (
        "connections",
        "Above: connections the client had open over time (from its capture: SYN sent until the first FIN or RST). Below: handshakes completed so far. A short idle timeout closes the pool between bursts, so each burst pays its handshakes again and the lower line climbs at every burst.",
    ),
];

/// Scenarios whose names differ only in their last word (`one-loss-h1`, `one-loss-h2`,
/// `one-loss-h3`) and that all have a streams plot: drawn side by side, in scenario order.
fn side_by_side(t: &LabTimeline, x: &Extras) -> Vec<(String, Vec<String>)> {
    let has = |name: &str| x.plots.get(name).is_some_and(|p| p.iter().any(|(n, _)| n == "streams"));
    groups(t.scenarios.iter().map(|s| s.name.as_str()).filter(|n| has(n)))
}

/// `names` grouped by all but their last word (`one-loss-h1` → `one-loss`), in order; only
/// groups of two or more.
pub fn groups<'a>(names: impl Iterator<Item = &'a str>) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for name in names {
        let Some((stem, _)) = name.rsplit_once('-') else { continue };
        match groups.iter_mut().find(|(g, _)| g == stem) {
            Some((_, members)) => members.push(name.to_string()),
            None => groups.push((stem.to_string(), vec![name.to_string()])),
        }
    }
    groups.retain(|(_, m)| m.len() > 1);
    groups
}

fn compare_anchor(stem: &str) -> String {
    anchor(stem).replacen("scenario-", "compare-", 1)
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#111111;line-height:1.4}
h1{font-size:1.6em;margin-bottom:0.2em}
h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #cccccc}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.92em}
th,td{border:1px solid #cccccc;padding:0.2em 0.5em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f6f6;padding:0.6em;overflow-x:auto;font-size:0.85em}
.ok{color:#006d4f}.fail{color:#b34700;font-weight:bold}.skip{color:#555555}
.checks{list-style:none;padding-left:0}
.ladder-box{overflow:auto;max-height:90vh;border:1px solid #dddddd;margin:0.8em 0}
.plot-box{overflow:auto;margin:0.8em 0}
.side-by-side{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:0.6em;margin:0.8em 0}
.side-by-side svg{display:block}
.meta{color:#444444}
nav a{margin-right:1em}
";

/// The page for run `t`.
pub fn render(t: &LabTimeline, x: &Extras) -> String {
    let mut out = String::with_capacity(16_384 + x.ladders.values().map(String::len).sum::<usize>());
    let heading = if t.title.is_empty() { t.lab.clone() } else { format!("{}: {}", t.lab, t.title) };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>wirelab · {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&heading)
    );
    let _ = writeln!(out, "<h1>wirelab · {}</h1>", esc(&heading));
    if !t.description.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", esc(t.description.trim()));
    }
    let params: Vec<String> = t.params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    let _ = writeln!(
        out,
        "<p class=\"meta\">seed {} · {} time · client–server RTT {} ms · parameters: {}</p>",
        t.seed,
        esc(&t.backend),
        t.rtt_ms,
        esc(&params.join(", "))
    );
    out.push_str("<nav>");
    for s in &t.scenarios {
        let _ = write!(out, "<a href=\"#{}\">{}</a>", anchor(&s.name), esc(&s.name));
    }
    out.push_str("</nav>\n");
    theory(&mut out, t);
    let groups = side_by_side(t, x);
    for (stem, members) in &groups {
        let _ = writeln!(
            out,
            "<section id=\"{}\">\n<h2>{}: {}, side by side</h2>\n<p class=\"meta\">{}</p>\n<div class=\"side-by-side\">",
            compare_anchor(stem),
            esc(stem),
            esc(&members.join(" · ")),
            esc(PLOTS[2].1)
        );
        for m in members {
            let svg = x.plots.get(m).into_iter().flatten().find(|(n, _)| n == "streams").map_or("", |(_, svg)| svg);
            let _ = write!(out, "<div class=\"plot-cell\" data-scenario=\"{}\">", esc(m));
            out.push_str(svg.trim_start_matches(|c| c != '<'));
            out.push_str("</div>\n");
        }
        out.push_str("</div>\n</section>\n");
    }
    for s in &t.scenarios {
        let group = groups.iter().find(|(_, m)| m.contains(&s.name)).map(|(stem, _)| stem.as_str());
        scenario(&mut out, s, x, group);
    }
    for (heading, text) in x.tables.iter().filter(|(_, text)| !text.trim().is_empty()) {
        let _ = writeln!(out, "<h2>{}</h2>\n<pre>{}</pre>", esc(heading), esc(text));
    }
    for p in &x.lab_plots {
        let _ = writeln!(out, "<h2>{}</h2>\n<p class=\"meta\">{}</p>", esc(&p.heading), esc(&p.about));
        if p.linked {
            let _ = writeln!(out, "<p>File: <a href=\"{}\">{}</a></p>", esc(&p.file), esc(&p.file));
        }
        out.push_str("<div class=\"plot-box\">\n");
        out.push_str(p.svg.trim_start_matches(|c| c != '<'));
        out.push_str("</div>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn anchor(name: &str) -> String {
    let slug: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("scenario-{slug}")
}

fn num(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |v| {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    })
}

fn theory(out: &mut String, t: &LabTimeline) {
    if t.theory.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"theory\">The theory beside the measurement</h2>\n<table>\n");
    out.push_str("<tr><th>claim</th><th>theory</th><th>measured</th><th>unit</th><th>source</th><th>why</th></tr>\n");
    for r in &t.theory {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.claim),
            num(r.theory),
            num(r.measured),
            esc(&r.unit),
            esc(&r.source),
            esc(&r.why)
        );
    }
    out.push_str("</table>\n");
}

/// One scenario's section; `group`: the side-by-side comparison that already shows its
/// streams plot.
fn scenario(out: &mut String, s: &Scenario, x: &Extras, group: Option<&str>) {
    let _ = writeln!(out, "<section id=\"{}\">\n<h2>{}: {}</h2>", anchor(&s.name), esc(&s.name), esc(&s.title));
    let _ = writeln!(out, "<p class=\"meta\">path: {} · {}</p>", esc(&s.link), esc(&s.congestion));
    if !s.params.is_empty() {
        let _ = writeln!(out, "<p class=\"meta\">parameters: {}</p>", esc(&s.params.join("; ")));
    }
    if let Some(files) = x.files.get(&s.name).filter(|f| !f.is_empty()) {
        out.push_str("<p>Files: ");
        for (i, f) in files.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(out, "{sep}<a href=\"{}\">{}</a>", esc(f), esc(f));
        }
        out.push_str(" (the capture opens in Wireshark with its TLS keys embedded)</p>\n");
    }
    out.push_str("<table>\n<tr><th>phase</th><th>start ms</th><th>end ms</th><th>took ms</th><th>RTTs</th><th>frames</th><th>what</th></tr>\n");
    for p in &s.phases {
        let frames = match (p.first_frame, p.last_frame) {
            (Some(a), Some(b)) => format!("{a}–{b}"),
            _ => "none".into(),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{frames}</td><td>{}{}</td></tr>",
            esc(&p.id),
            p.start_ms,
            p.end_ms.map_or("–".into(), |v| format!("{v:.3}")),
            p.duration_ms().map_or("–".into(), |v| format!("{v:.3}")),
            p.rtts.map_or("–".into(), |v| format!("{v:.2}")),
            esc(&p.label),
            if p.end_ms.is_none() { " (did not end)" } else { "" }
        );
    }
    for e in &s.events {
        let frame = e.first_frame.map_or("none".into(), |f| format!("{f}–"));
        let _ = writeln!(
            out,
            "<tr class=\"event\"><td>event</td><td class=\"num\">{:.3}</td><td></td><td></td><td></td><td>{frame}</td><td>{}</td></tr>",
            e.at_ms,
            esc(&e.what)
        );
    }
    out.push_str("</table>\n");
    if let Some(e) = &s.error {
        let _ = writeln!(out, "<p class=\"fail\">The run did not finish: {}</p>", esc(e));
    }
    for w in &s.warnings {
        let _ = writeln!(out, "<p class=\"fail\">Warning: {}</p>", esc(w));
    }
    if !s.expectations.is_empty() {
        out.push_str("<ul class=\"checks\">\n");
        for e in &s.expectations {
            let (class, verdict) = match (e.ok, &e.skipped) {
                (_, Some(_)) => ("skip", "skip"),
                (true, None) => ("ok", "ok"),
                (false, None) => ("fail", "FAIL"),
            };
            let measured = e.measured.map_or("no value".to_string(), |m| format!("measured {}", num(Some(m))));
            let why = e.skipped.as_ref().or(e.theory.as_ref()).map_or(String::new(), |w| format!(" — {}", esc(w)));
            let _ = writeln!(out, "<li class=\"{class}\">[{verdict}] {} ({measured}){why}</li>", esc(&e.check));
        }
        out.push_str("</ul>\n");
    }
    if !s.note.is_empty() {
        let _ = writeln!(out, "<p><b>Why:</b> {}</p>", esc(&s.note));
    }
    if let Some(svg) = x.ladders.get(&s.name) {
        out.push_str("<h3>Ladder: every packet, to scale in time</h3>\n<p class=\"meta\">One lane per host; an arrow leaves its sender when it was sent and reaches the receiver when it arrived. Hover an arrow for the whole packet; # is the frame number in the capture.</p>\n<div class=\"ladder-box\">\n");
        out.push_str(svg.trim_start_matches(|c| c != '<'));
        out.push_str("</div>\n");
    }
    for (name, svg) in x.plots.get(&s.name).into_iter().flatten() {
        if let (Some(stem), "streams") = (group, name.as_str()) {
            let _ = writeln!(
                out,
                "<h3>streams</h3>\n<p>Bytes delivered per object, with its stalls: <a href=\"#{}\">side by side with the other {} scenarios</a>.</p>",
                compare_anchor(stem),
                esc(stem)
            );
            continue;
        }
        let about = PLOTS.iter().find(|(n, _)| n == name).map_or("", |(_, a)| a);
        let _ = writeln!(out, "<h3>{}</h3>\n<p class=\"meta\">{}</p>\n<div class=\"plot-box\">", esc(name), esc(about));
        out.push_str(svg.trim_start_matches(|c| c != '<'));
        out.push_str("</div>\n");
    }
    let _ = writeln!(
        out,
        "<details><summary>The scenario as the terminal prints it</summary>\n<pre>{}</pre>\n</details>\n</section>",
        esc(&table::scenario(s))
    );
}
