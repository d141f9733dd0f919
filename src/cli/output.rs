//! Writing a run's files, and the text around the tables.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::runner::ScenarioOutput;
use crate::script::expect::Operand;
use crate::script::plan::ScenarioPlan;
use crate::script::{InputError, Lab};
use crate::timeline::theory::TheoryRow;
use crate::timeline::LabTimeline;

/// Makes sure `dir` exists and is writable, before any run starts.
pub fn prepare_dir(dir: &Path) -> Result<(), InputError> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(InputError::new(format!("--out {shown}: exists and is not a directory")));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| InputError::new(format!("--out {shown}: cannot create directory: {e}")))?;
    let probe = dir.join(".wirelab-write-test");
    std::fs::write(&probe, b"")
        .map_err(|e| InputError::new(format!("--out {shown}: directory is not writable: {e}")))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// The lab's timeline from its scenarios' outputs.
pub fn timeline(
    lab: &Lab,
    plans: &[ScenarioPlan],
    seed: u64,
    clock: crate::runner::Clock,
    outputs: &[ScenarioOutput],
) -> LabTimeline {
    let rtt_ms = plans.first().map_or(0.0, |p| p.rtt().as_secs_f64() * 1000.0);
    LabTimeline {
        schema: 1,
        lab: lab.raw.name.clone(),
        title: lab.raw.title.clone().unwrap_or_default(),
        description: lab.raw.description.clone().unwrap_or_default(),
        seed,
        backend: clock.name().to_string(),
        rtt_ms,
        params: plans.first().map(|p| p.params.clone()).unwrap_or_default(),
        scenarios: outputs.iter().map(|o| o.timeline.clone()).collect(),
        size_sweep: Vec::new(),
        loss_table: Vec::new(),
        theory: Vec::new(),
    }
}

/// Writes `<lab>.json`, and per scenario `<lab>-<scenario>.pcapng`, `.keys`, the captures of
/// other taps and (`pictures`) the ladder `.svg` and plots; then (`pictures`) the run-wide
/// plots and the report `<lab>.html`. Each file is written to a temporary name and renamed, so
/// a reader never sees half a file. Returns the plot files written (not the ladders).
pub fn write_all(
    dir: &Path,
    lab: &str,
    timeline: &LabTimeline,
    outputs: &[ScenarioOutput],
    pictures: super::Pictures,
) -> anyhow::Result<Vec<String>> {
    let mut written = Vec::new();
    let mut extras = crate::picture::report::Extras::default();
    // Streams plots the report sets side by side share their axes.
    let mut streams: Vec<Option<crate::picture::plots::streams::Streams>> =
        outputs.iter().map(|o| o.streams.clone()).collect();
    let named = outputs.iter().zip(&streams).filter(|(_, s)| s.is_some()).map(|(o, _)| o.timeline.name.as_str());
    for (_, members) in crate::picture::report::groups(named) {
        let mut group: Vec<&mut crate::picture::plots::streams::Streams> = outputs
            .iter()
            .zip(streams.iter_mut())
            .filter(|(o, _)| members.contains(&o.timeline.name))
            .filter_map(|(_, s)| s.as_mut())
            .collect();
        crate::picture::plots::streams::share_axes(&mut group);
    }
    for (o, streams) in outputs.iter().zip(&streams) {
        let name = &o.timeline.name;
        let base = format!("{lab}-{name}");
        let mut files = Vec::new();
        // `--capture none`: no capture file (the captures recorded nothing).
        if o.capture.keep() != crate::capture::Keep::None {
            files.push(format!("{base}.pcapng"));
            write_capture(&dir.join(&files[0]), &o.capture, &o.key_log)?;
        }
        for (host, capture) in o.other_captures.iter().filter(|(_, c)| c.keep() != crate::capture::Keep::None) {
            files.push(format!("{base}@{host}.pcapng"));
            write_capture(&dir.join(format!("{base}@{host}.pcapng")), capture, &o.key_log)?;
        }
        if !o.key_log.is_empty() {
            files.push(format!("{base}.keys"));
            write_atomic(&dir.join(format!("{base}.keys")), o.key_log.as_bytes())?;
        }
        if let Some(l) = &o.ladder {
            let svg = crate::picture::ladder::render(l);
            if pictures.svg() {
                files.push(format!("{base}.svg"));
                write_atomic(&dir.join(format!("{base}.svg")), svg.as_bytes())?;
            }
            extras.ladders.insert(name.clone(), svg);
        }
        let mut plots = Vec::new();
        if let Some(ts) = &o.time_seq {
            plots.push(("time-sequence", crate::picture::plot::time_sequence(ts)));
        }
        if pictures != super::Pictures::None && !o.timeline.rounds.is_empty() {
            let title = format!("{lab} · {name}: bytes per slow-start round");
            plots.push(("rounds", crate::picture::plot::rounds(&title, &o.timeline.rounds)));
        }
        if let Some(s) = streams {
            plots.push(("streams", crate::picture::plots::streams::render(s)));
        }
        if let Some(c) = &o.connections {
            plots.push(("connections", crate::picture::plots::connections::render(c)));
        }
        for (plot, svg) in plots {
            if pictures.svg() {
                files.push(format!("{base}-{plot}.svg"));
                write_atomic(&dir.join(format!("{base}-{plot}.svg")), svg.as_bytes())?;
                written.push(format!("{base}-{plot}.svg"));
            }
            extras.plots.entry(name.clone()).or_default().push((plot.to_string(), svg));
        }
        extras.files.insert(name.clone(), files);
    }
    write_atomic(&dir.join(format!("{lab}.json")), timeline.to_json().as_bytes())?;
    if pictures != super::Pictures::None {
        extras.lab_plots = lab_plots(timeline);
    }
    for p in &mut extras.lab_plots {
        if pictures.svg() {
            write_atomic(&dir.join(&p.file), p.svg.as_bytes())?;
            p.linked = true;
            written.push(p.file.clone());
        }
    }
    if pictures.html() {
        extras.tables = report_tables(timeline);
        write_atomic(&dir.join(format!("{lab}.html")), crate::picture::report::render(timeline, &extras).as_bytes())?;
    }
    Ok(written)
}

/// The plot files of a run in one line: how many of each kind, and one name of each.
pub fn plot_summary(files: &[String]) -> String {
    let kinds =
        ["time-sequence", "rounds", "streams", "connections", "loss-table", "latency-cdf", "budget", "failover"];
    let mut parts = Vec::new();
    for kind in kinds {
        let of: Vec<&String> = files.iter().filter(|f| f.ends_with(&format!("-{kind}.svg"))).collect();
        match of.as_slice() {
            [] => {}
            [one] => parts.push(one.to_string()),
            [first, ..] => parts.push(format!("{} {kind} plots ({first}, …)", of.len())),
        }
    }
    parts.join("; ")
}

/// The run-wide tables the report shows as the terminal prints them.
pub fn report_tables(t: &LabTimeline) -> Vec<(String, String)> {
    vec![
        ("Response size against round trips".to_string(), crate::runner::size_sweep::table(&t.size_sweep)),
        ("Loss table".to_string(), crate::runner::loss_table::table(&t.loss_table)),
    ]
}

/// The run-wide plots, drawn from the timeline alone (so `wirelab report` draws them again):
/// the loss table's percentiles against the loss rate.
pub fn lab_plots(t: &LabTimeline) -> Vec<crate::picture::report::LabPlot> {
    let mut plots = Vec::new();
    if let Some(p) = crate::runner::loss_table::plot(&t.lab, &t.loss_table) {
        plots.push(crate::picture::report::LabPlot {
            file: format!("{}-loss-table.svg", t.lab),
            heading: "Page load under random loss: p50, p95, p99".to_string(),
            about: "Each point is a percentile of the page load time over the seeds of one (scenario, loss rate) cell of the loss table: colour per scenario, marker and dash per percentile (circle p50, square p95, triangle p99). Markers of one loss rate are nudged apart sideways; each sits at its loss rate. Runs that did not finish give no value: their count is in the legend, never a point at 0.".to_string(),
            svg: crate::picture::plots::percentiles::render(&p),
            linked: false,
        });
    }
    if let Some(b) = budget(t) {
        plots.push(crate::picture::report::LabPlot {
            file: format!("{}-budget.svg", t.lab),
            heading: "Where the latency budget goes, hop by hop".to_string(),
            about: "One bar per scenario: a segment per hop, in the order the request meets them, as long as the hop cost the request (the caller's wait minus the callee's time inside); hatched, the TCP and TLS handshakes it waited for; grey, the time inside the services. The dashed line is the budget.".to_string(),
            svg: crate::picture::plots::budget::render(&b),
            linked: false,
        });
    }
    if let Some(f) = failover(t) {
        plots.push(crate::picture::report::LabPlot {
            file: format!("{}-failover.svg", t.lab),
            heading: "Requests to the dead backend, second by second".to_string(),
            about: "Each line is one scenario: the share of each second's requests whose first try went to the address of the backend that failed (the dashed line). It falls to zero when the last client has stopped using the old address: after the resolver's copy expires for clients that honour the TTL, after their own cache expires for clients that ignore it, and never, within the run, for pooled connections that are never looked up again.".to_string(),
            svg: crate::picture::plots::failover::render(&f),
            linked: false,
        });
    }
    if let Some(c) = latency_cdf(t) {
        plots.push(crate::picture::report::LabPlot {
            file: format!("{}-latency-cdf.svg", t.lab),
            heading: "Latency by percentile, per scenario".to_string(),
            about: "Each line is one scenario's request latency at the client, read at every percentile (nearest rank over the requests that succeeded). The x axis gives each nine the same width (50%, 90%, 99%, 99.9%, 99.99%), so the tail, where the scenarios differ, is not squeezed into the right edge. Under the legend: the lab's theory beside what was measured.".to_string(),
            svg: crate::picture::plots::cdf::render(&c),
            linked: false,
        });
    }
    plots
}

/// The hops of the scenarios that measured a latency budget.
fn budget(t: &LabTimeline) -> Option<crate::picture::plots::budget::Budget> {
    use crate::picture::plots::budget::{Budget, Row};
    let with = || t.scenarios.iter().filter(|s| !s.hops.is_empty());
    let budget_ms = with().find_map(|s| s.metrics.get("budget_ms").copied())?;
    let rows: Vec<Row> = with()
        .map(|s| Row {
            scenario: s.name.clone(),
            hops: s.hops.clone(),
            services_ms: s.metrics.get("services_ms").copied().unwrap_or(0.0),
            total_ms: s.metrics.get("total_ms").copied().unwrap_or(0.0),
        })
        .collect();
    Some(Budget {
        title: format!("{}: the {} ms budget, hop by hop", t.lab, crate::picture::plots::budget::short(budget_ms)),
        budget_ms,
        rows,
    })
}

/// The dns-failover scenarios' requests to the dead address, second by second.
fn failover(t: &LabTimeline) -> Option<crate::picture::plots::failover::Failover> {
    use crate::picture::plots::failover::{Failover, Series};
    let series: Vec<Series> = t
        .scenarios
        .iter()
        .filter(|s| !s.failover_seconds.is_empty())
        .map(|s| {
            let m = |k: &str| s.metrics.get(k).copied();
            Series {
                name: s.name.clone(),
                seconds: s.failover_seconds.clone(),
                failed_at_s: s.events.iter().find(|e| e.kind == "host_down").map(|e| e.at_ms / 1000.0),
                failover_s: m("failover_ms_max").map(|v| v / 1000.0),
                failed: m("failed_requests").unwrap_or(0.0) as u64,
                requests: m("requests").unwrap_or(0.0) as u64,
            }
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    let secs = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1} s", v / 1000.0));
    let notes = t
        .theory
        .iter()
        .filter(|r| r.measure == "metrics.failover_ms_max")
        .flat_map(|r| [r.claim.clone(), format!("· at most {}, measured {}", secs(r.theory), secs(r.measured))])
        .collect();
    Some(Failover { title: format!("{}: requests to the dead backend", t.lab), series, notes })
}

/// The latency distributions of the scenarios that ran a workload, with the theory rows.
fn latency_cdf(t: &LabTimeline) -> Option<crate::picture::plots::cdf::Cdf> {
    use crate::picture::plots::cdf::{Cdf, Series};
    let series: Vec<Series> = t
        .scenarios
        .iter()
        .filter(|s| !s.latency_cdf.is_empty())
        .map(|s| {
            let m = |k: &str| s.metrics.get(k).copied().unwrap_or(0.0) as u64;
            let failed = m("failed_requests");
            Series { name: s.name.clone(), ok: m("requests") - failed, failed, points: s.latency_cdf.clone() }
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    let notes = t
        .theory
        .iter()
        .flat_map(|r| [r.claim.clone(), format!("· theory {}, measured {}", num(r.theory), num(r.measured))])
        .collect();
    Some(Cdf { title: format!("{}: latency distribution", t.lab), series, notes })
}

/// Writes `capture` to `path` as pcapng (key log embedded) as it renders, through a temporary
/// file renamed into place, as [`write_atomic`] does.
pub fn write_capture(path: &Path, capture: &crate::capture::Capture, key_log: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some(why) = capture.spill_warning() {
        // The capture is complete, only not as flat in memory as it should have been.
        eprintln!("wirelab: {}: {why}; the rest of the capture was kept in memory", path.display());
    }
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
    capture
        .write_pcapng(&mut w, Some(key_log), crate::capture::DEFAULT_EPOCH_UNIX_MICROS)
        .and_then(|()| w.flush())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(w);
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// The teaching text's figures for the settings that ran (`[[theory]]` in the lab file), beside
/// the measurements. `plans` are the scenarios that ran.
pub fn theory_rows(lab: &Lab, plans: &[ScenarioPlan], t: &LabTimeline) -> Vec<TheoryRow> {
    lab.raw
        .theory
        .iter()
        .filter_map(|th| {
            let s = t.scenarios.iter().find(|s| s.name == th.scenario)?;
            let plan = plans.iter().find(|p| p.name == th.scenario)?;
            let measured = crate::runner::evaluate::measure(&Operand::parse(&th.measure, "theory").ok()?, s);
            let (theory, source) = crate::runner::theory::figure(th.model.as_deref(), th.expected, plan);
            let unit = unit_of(&th.measure);
            let text = th.text.clone().filter(|_| theory.is_none_or(|v| (v - th.expected).abs() > 1e-9));
            Some(TheoryRow {
                claim: th.claim.clone(),
                theory,
                unit: unit.to_string(),
                measured,
                source,
                why: th.note.clone(),
                text,
                measure: th.measure.clone(),
            })
        })
        .collect()
}

/// The unit of a measurement, from its name.
fn unit_of(measure: &str) -> &'static str {
    if measure.ends_with("rtts") {
        "rtts"
    } else if measure.ends_with("_ms") || measure.ends_with(".ms") || measure.contains("_ms_") {
        "ms"
    } else if measure.contains("frac_") || measure.ends_with("extra_load") {
        // Before counts: frac_slow_requests is a share of requests, not a number of them.
        "fraction"
    } else if measure.ends_with("queries")
        || measure.ends_with("requests")
        || measure.contains("requests_")
        || measure.contains("failed_")
    {
        "count"
    } else if measure.contains("mb_per_s") {
        "MB/s"
    } else if measure.contains("bytes") {
        "bytes"
    } else if measure.contains("segments") {
        "segments"
    } else if measure.contains("percentile") {
        "percentile"
    } else {
        "ratio"
    }
}

/// The theory rows as a table.
pub fn theory_table(t: &LabTimeline) -> String {
    let mut out = String::new();
    if t.theory.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Theory for these settings vs measured (1 RTT = {} ms)", t.rtt_ms);
    let _ = writeln!(out, "   {:<66} {:>9} {:>9}", "claim", "theory", "measured");
    for r in &t.theory {
        // Fractions to four places: 0.961 and 0.959 are different answers.
        let places = if r.unit == "fraction" { 4 } else { 2 };
        let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.places$}"));
        let _ = writeln!(
            out,
            "   {:<66} {:>9} {:>9}   ({}, {})",
            r.claim,
            num(r.theory),
            num(r.measured),
            r.unit,
            r.measure
        );
        let _ = writeln!(out, "       model: {}", r.source);
        if let Some(text) = &r.text {
            let _ = writeln!(out, "       the text's worked example: {text}");
        }
        if !r.why.is_empty() {
            let _ = writeln!(out, "       why: {}", r.why);
        }
    }
    out.push('\n');
    out
}

/// A progress line for long runs: shown on a terminal only, and only once a run has taken
/// more than a second of wall time (short runs print nothing extra).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    /// What the time shown is: "virtual time" or "wall time".
    clock: &'static str,
    started: std::time::Instant,
    terminal: bool,
}

impl Progress {
    pub fn new() -> Self {
        Self::on(crate::runner::Clock::Virtual)
    }

    /// A progress line for runs on `clock`.
    pub fn on(clock: crate::runner::Clock) -> Self {
        use std::io::IsTerminal;
        let clock = match clock {
            crate::runner::Clock::Virtual => "virtual time",
            crate::runner::Clock::Realtime => "wall time",
        };
        Progress { bar: None, clock, started: std::time::Instant::now(), terminal: std::io::stderr().is_terminal() }
    }

    /// Called by the driver with the run's time and a status line.
    pub fn tick(&mut self, now: crate::time::Instant, status: &str) {
        if !self.terminal || self.started.elapsed() < std::time::Duration::from_secs(1) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar
        });
        bar.set_message(format!("{} {:.1} s: {status}", self.clock, now.millis_f64() / 1000.0));
        bar.tick();
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::unit_of;

    #[test]
    fn units_follow_the_measurements_name() {
        for (measure, unit) in [
            ("metrics.frac_slow_requests", "fraction"),
            ("metrics.frac_all_calls_under_p99", "fraction"),
            ("metrics.extra_load", "fraction"),
            ("metrics.requests_to_dead", "count"),
            ("metrics.dns_queries", "count"),
            ("metrics.failed_after_failure", "count"),
            ("metrics.failover_ms_max", "ms"),
            ("tcp_handshake.rtts", "rtts"),
            ("metrics.round1_bytes", "bytes"),
            ("metrics.single_percentile_of_chain_p99", "percentile"),
        ] {
            assert_eq!(unit_of(measure), unit, "{measure}");
        }
    }
}
