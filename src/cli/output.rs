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
/// other taps and (`pictures`) the ladder `.svg`; then (`pictures`) the report `<lab>.html`.
/// Each file is written to a temporary name and renamed, so a reader never sees half a file.
pub fn write_all(
    dir: &Path,
    lab: &str,
    timeline: &LabTimeline,
    outputs: &[ScenarioOutput],
    pictures: super::Pictures,
) -> anyhow::Result<()> {
    let mut extras = crate::picture::report::Extras::default();
    for o in outputs {
        let name = &o.timeline.name;
        let base = format!("{lab}-{name}");
        let mut files = vec![format!("{base}.pcapng")];
        write_atomic(&dir.join(&files[0]), &o.pcapng)?;
        for (host, pcapng) in &o.other_captures {
            files.push(format!("{base}@{host}.pcapng"));
            write_atomic(&dir.join(format!("{base}@{host}.pcapng")), pcapng)?;
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
        for (plot, svg) in plots {
            if pictures.svg() {
                files.push(format!("{base}-{plot}.svg"));
                write_atomic(&dir.join(format!("{base}-{plot}.svg")), svg.as_bytes())?;
            }
            extras.plots.entry(name.clone()).or_default().push((plot.to_string(), svg));
        }
        extras.files.insert(name.clone(), files);
    }
    write_atomic(&dir.join(format!("{lab}.json")), timeline.to_json().as_bytes())?;
    if pictures.html() {
        extras.tables = report_tables(timeline);
        write_atomic(&dir.join(format!("{lab}.html")), crate::picture::report::render(timeline, &extras).as_bytes())?;
    }
    Ok(())
}

/// The run-wide tables the report shows as the terminal prints them.
pub fn report_tables(t: &LabTimeline) -> Vec<(String, String)> {
    vec![
        ("Response size against round trips".to_string(), crate::runner::size_sweep::table(&t.size_sweep)),
        ("Loss table".to_string(), crate::runner::loss_table::table(&t.loss_table)),
    ]
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
            let measured = Operand::parse(&th.measure, "theory").ok()?.measure(s);
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
    } else if measure.ends_with("_ms") || measure.ends_with(".ms") {
        "ms"
    } else if measure.contains("mb_per_s") {
        "MB/s"
    } else if measure.contains("bytes") {
        "bytes"
    } else if measure.contains("segments") {
        "segments"
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
        let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}", v));
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
    pub fn tick(&mut self, now: crate::sim::time::Instant, status: &str) {
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
