//! `wirelab show <LAB> [--toml]`: what a lab holds (scenarios, parameters with their defaults
//! and allowed values, checks), for someone who has not read its file; `--toml` prints the file.

use std::io::Write as _;

use crate::script::params::{lab_params, ParamInfo};
use crate::script::{InputError, Lab};

pub const SHOW_HELP: &str = "\
Examples:
  wirelab show handshake
  wirelab show hol --toml > my-hol.toml    # a copy to edit
  wirelab run my-hol.toml --set objects=12";

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// A built-in lab name (see `wirelab list`) or a path to a lab file (.toml).
    lab: String,
    /// Print the lab file itself, exactly as it is, to copy and edit.
    #[arg(long)]
    toml: bool,
}

pub fn run(args: ShowArgs) -> Result<i32, InputError> {
    let (text, origin) = Lab::read(&args.lab)?;
    let lab = Lab::parse(&text, &origin)?;
    let out = if args.toml { text } else { describe(&lab, &text, &args.lab) };
    // A closed pipe (`wirelab show hol | head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(0)
}

/// The description of `lab` (file text `text`), as `wirelab show` prints it; `arg` is how the
/// user named the lab, for the example command lines.
pub fn describe(lab: &Lab, text: &str, arg: &str) -> String {
    let raw = &lab.raw;
    let mut out = String::new();
    let o = &mut out;
    match &raw.title {
        Some(title) => line(o, format!("{}: {title}", raw.name)),
        None => line(o, &raw.name),
    }
    if let Some(d) = raw.description.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        line(o, "");
        for l in d.lines() {
            line(o, format!("  {l}").trim_end());
        }
    }

    line(o, "");
    let hosts: Vec<String> = raw
        .hosts
        .iter()
        .map(|h| {
            let role = h.role.as_deref().unwrap_or("host");
            let copies = h.replicas.map(|n| format!(" x{n}")).unwrap_or_default();
            if h.name == role {
                format!("{} {}{copies}", h.name, h.addr)
            } else {
                format!("{} {}{copies} ({role})", h.name, h.addr)
            }
        })
        .collect();
    wrap(o, &format!("Hosts: {}", hosts.join(", ")), "", "       ");

    line(o, "");
    line(o, "Scenarios (run only some with --scenario NAME):");
    let width = raw.scenarios.iter().map(|s| s.name.len()).max().unwrap_or(0).max(12);
    let pad = " ".repeat(width + 4);
    for sc in &raw.scenarios {
        line(o, format!("  {:<width$}  {}", sc.name, sc.title.as_deref().unwrap_or("")).trim_end());
        if !sc.params.is_empty() {
            let own: Vec<String> = sc.params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            wrap(o, &format!("params: {}", own.join(", ")), &pad, &pad);
        }
        if !sc.kernel.is_empty() {
            let is = if sc.kernel.len() == 1 { "is" } else { "are" };
            let who = sc.kernel.join(" and ");
            wrap(o, &format!("the {who} {is} the Linux kernel: needs --backend realtime, as root"), &pad, &pad);
        }
    }

    let params = lab_params(lab, text);
    line(o, "");
    if params.is_empty() {
        line(o, "Parameters: none.");
    } else {
        wrap(
            o,
            "Parameters: --set KEY=VALUE (repeatable) replaces the value below, in every scenario, \
             including those that set their own. --rtt, --loss and --link set the client–server \
             path itself, over what the parameters make of it.",
            "",
            "",
        );
        for p in &params {
            param(o, p);
        }
    }

    if !raw.expects.is_empty() {
        line(o, "");
        line(o, "Checks ([[expect]]; the run exits with status 1 when one fails):");
        let width = raw.expects.iter().map(|e| e.check.len()).max().unwrap_or(0);
        for e in &raw.expects {
            let mut on = if e.scenarios.is_empty() { "every scenario".to_string() } else { e.scenarios.join(", ") };
            if let Some(m) = &e.model {
                on.push_str(&format!("; theory from the {m} model for the settings that run"));
            }
            if let Some(w) = &e.holds_when {
                on.push_str(&format!("; holds when {w} (skipped elsewhere)"));
            }
            wrap(o, &on, &format!("  {:<width$}  ", e.check), &" ".repeat(width + 4));
        }
    }

    if let Some(sw) = &raw.size_sweep {
        line(o, "");
        line(o, "Size sweep ([size_sweep]; after a run of every scenario, in virtual time):");
        wrap(
            o,
            &format!("{} and {} again at response_size = {}", sw.fresh, sw.warm, sw.sizes.join(", ")),
            "  ",
            "    ",
        );
    }
    if let Some(lt) = &raw.loss_table {
        line(o, "");
        line(o, "Loss table ([loss_table]; after a run of every scenario, in virtual time):");
        wrap(
            o,
            &format!(
                "{} at loss = {}, seeds 1 to {} each (so a run with --loss must name its scenarios)",
                lt.scenarios.join(", "),
                lt.losses.join(", "),
                lt.seeds
            ),
            "  ",
            "    ",
        );
    }

    if !raw.theory.is_empty() {
        line(o, "");
        line(o, "The teaching text's figures, printed next to what the run measured ([[theory]]):");
        let figures: Vec<String> =
            raw.theory.iter().map(|t| format!("{} {} = {}", t.scenario, t.measure, t.expected)).collect();
        let width = figures.iter().map(String::len).max().unwrap_or(0);
        for (t, figure) in raw.theory.iter().zip(&figures) {
            wrap(o, &t.claim, &format!("  {figure:<width$}  "), &" ".repeat(width + 4));
        }
    }

    line(o, "");
    line(o, "Try:");
    line(o, format!("  wirelab run {arg}"));
    let first = raw.scenarios.iter().find(|s| s.kernel.is_empty()).unwrap_or(&raw.scenarios[0]);
    match params.first() {
        Some(p) => line(o, format!("  wirelab run {arg} --scenario {} --set {}={}", first.name, p.name, p.default)),
        None => line(o, format!("  wirelab run {arg} --scenario {}", first.name)),
    }
    line(o, format!("  wirelab run {arg} --rtt 80ms"));
    line(o, format!("  wirelab show {arg} --toml > my-lab.toml    # then edit it and run my-lab.toml"));
    out
}

/// One parameter: `name = default`, what it does, what it allows and where it goes.
fn param(o: &mut String, p: &ParamInfo) {
    const INDENT: &str = "      ";
    line(o, format!("  {} = {}", p.name, p.default));
    if !p.meaning.is_empty() {
        wrap(o, &p.meaning, INDENT, INDENT);
    }
    let allowed: Vec<String> = p.kinds.iter().map(|k| k.describe()).collect();
    wrap(o, &format!("allowed: {}", allowed.join("; ")), INDENT, INDENT);
    if !p.uses.is_empty() {
        let at: Vec<&str> = p.uses.iter().map(|u| u.at.as_str()).collect();
        wrap(o, &format!("used in: {}", at.join(", ")), INDENT, INDENT);
    }
}

fn line(o: &mut String, s: impl AsRef<str>) {
    o.push_str(s.as_ref());
    o.push('\n');
}

/// `text` in lines of at most 100 columns (longer words stay whole): the first line starts with
/// `first`, the others with `rest`.
fn wrap(o: &mut String, text: &str, first: &str, rest: &str) {
    const WIDTH: usize = 100;
    let mut current = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && current.chars().count() + 1 + word.chars().count() > WIDTH {
            line(o, &current);
            current = rest.to_string();
            empty = true;
        }
        if !empty {
            current.push(' ');
        }
        current.push_str(word);
        empty = false;
    }
    if !empty {
        line(o, &current);
    }
}
