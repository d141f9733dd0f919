//! `wirelab report`: the HTML page of a run, rebuilt from the files it wrote.

use std::path::{Path, PathBuf};

use super::{output, Failure};
use crate::picture::report::{self, Extras};
use crate::script::InputError;
use crate::timeline::LabTimeline;

pub const REPORT_HELP: &str = "\
Examples:
  wirelab run handshake --out runs/a --pictures svg
  wirelab report runs/a/handshake.json              # writes runs/a/handshake.html
  wirelab report runs/a/handshake.json -o /tmp/page.html

The page inlines each scenario's ladder (<lab>-<scenario>.svg beside the JSON, where present)
and links the captures and key logs found there. It loads nothing from the network: open it
from disk in any browser.";

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The timeline a run wrote: <lab>.json in its --out directory.
    json: PathBuf,
    /// Where to write the page (default: <lab>.html beside the JSON).
    #[arg(short = 'o', long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> Result<i32, Failure> {
    let shown = args.json.display();
    let text = std::fs::read_to_string(&args.json)
        .map_err(|e| InputError::new(format!("report {shown}: cannot read it: {e}")))?;
    let t: LabTimeline = serde_json::from_str(&text).map_err(|e| {
        InputError::new(format!("report {shown}: not a wirelab timeline (the <lab>.json a run writes): {e}"))
    })?;
    if t.schema != 1 {
        return Err(
            InputError::new(format!("report {shown}: schema {} (this wirelab reads schema 1)", t.schema)).into()
        );
    }
    let dir = args.json.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let extras = from_dir(dir, &t);
    let out = args.out.unwrap_or_else(|| dir.join(format!("{}.html", t.lab)));
    output::write_atomic(&out, report::render(&t, &extras).as_bytes()).map_err(Failure::Run)?;
    outln!("wrote {} ({} scenarios, {} ladders)", out.display(), t.scenarios.len(), extras.ladders.len());
    Ok(0)
}

/// The ladders and files of `t`'s scenarios that are in `dir`.
fn from_dir(dir: &Path, t: &LabTimeline) -> Extras {
    let mut x = Extras { tables: output::report_tables(t), lab_plots: output::lab_plots(t), ..Default::default() };
    let listing: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    for p in &mut x.lab_plots {
        p.linked = listing.contains(&p.file);
    }
    for s in &t.scenarios {
        let base = format!("{}-{}", t.lab, s.name);
        let plots = report::PLOTS.iter().map(|(plot, _)| format!("{base}-{plot}.svg"));
        let mut files: Vec<String> = [format!("{base}.pcapng"), format!("{base}.keys"), format!("{base}.svg")]
            .into_iter()
            .chain(plots)
            .filter(|f| listing.contains(f))
            .collect();
        let mut taps: Vec<String> =
            listing.iter().filter(|f| f.starts_with(&format!("{base}@")) && f.ends_with(".pcapng")).cloned().collect();
        taps.sort();
        files.splice(1..1, taps);
        if let Ok(svg) = std::fs::read_to_string(dir.join(format!("{base}.svg"))) {
            x.ladders.insert(s.name.clone(), svg);
        }
        for (plot, _) in report::PLOTS {
            if let Ok(svg) = std::fs::read_to_string(dir.join(format!("{base}-{plot}.svg"))) {
                x.plots.entry(s.name.clone()).or_default().push((plot.to_string(), svg));
            }
        }
        x.files.insert(s.name.clone(), files);
    }
    x
}
