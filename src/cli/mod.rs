//! The `wirelab` command line (contract: design.md §3).
//!
//! Exit status: 0 when every scenario ran and every expectation held; 1 when a run
//! completed but an expectation failed or a scenario could not finish; 2 for bad input.

/// `println!` to stdout, except that a reader who went away (`wirelab list | head -1`: a
/// broken pipe) ends the program quietly with status 141 (128 + SIGPIPE, as a shell reports a
/// program the signal stopped) instead of a panic. It is used only once a run's work is done
/// (the namespaces of a real-time run are already gone), so nothing is left behind.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to stdout, as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!($($arg)*))
    };
}

mod annotate;
mod output;
mod report;
mod shell;
mod show;
mod sweep;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::backend::realtime;
use crate::capture::Keep;
use crate::runner::Clock;
use crate::script::plan::{self, Overrides, ScenarioPlan};
use crate::script::{InputError, Lab, BUILTIN};
use crate::units;

/// Writes to stdout; a broken pipe ends the program with status 141 (see [`outln!`]).
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("wirelab: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

const LONG_ABOUT: &str = "\
wirelab builds emulated network paths (delay, jitter, loss, rate, MTU) between in-process TCP/IP
hosts, runs scripted experiments over them with real protocols (TCP from smoltcp, TLS 1.2/1.3 from
rustls, DNS, HTTP/1.1, HTTP/2, HTTP/3 over QUIC) on a virtual clock, and writes for every scenario
a pcapng capture (every packet commented with its phase, TLS keys embedded) and a timeline of how
long each phase took, in milliseconds and in round trips. In real time (run --backend realtime,
shell; root) the same link carries the Linux kernel's own TCP and real programs.

Start with:  wirelab list
             wirelab show handshake
             wirelab run handshake";

#[derive(Parser, Debug)]
#[command(name = "wirelab", version, about = "A packet-level network lab", long_about = LONG_ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the built-in labs, one line each.
    List,
    /// Describe a lab: scenarios, parameters, allowed values, checks; --toml prints the file.
    #[command(after_help = show::SHOW_HELP)]
    Show(show::ShowArgs),
    /// Run a lab: every scenario, a capture and a timeline for each.
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Run a lab over every combination of parameter values x seeds, on several threads; one JSON line per run.
    #[command(after_help = sweep::SWEEP_HELP)]
    Sweep(sweep::SweepArgs),
    /// Run a real program (curl, openssl, your shell) on the kernel's TCP across the emulated link, in real time.
    #[command(after_help = shell::SHELL_HELP)]
    Shell(shell::ShellArgs),
    /// Rebuild a run's HTML report from the <lab>.json (and ladders) it wrote.
    #[command(after_help = report::REPORT_HELP)]
    Report(report::ReportArgs),
    /// Comment every frame of a capture made elsewhere (tcpdump, Wireshark) and print its connections' timelines.
    #[command(after_help = annotate::ANNOTATE_HELP)]
    Annotate(annotate::AnnotateArgs),
}

const RUN_HELP: &str = "\
Examples:
  # every scenario at the lab's defaults (150 ms RTT, 200 KB response)
  wirelab run handshake
  wirelab run handshake --rtt 80ms --scenario fresh-tls12
  wirelab run handshake --link \"delay 40ms 2ms loss 1% rate 50mbit\"
  wirelab run handshake --set response_size=14KB --set cc=smoltcp
  wirelab run labs/handshake.toml --json > timeline.json
  # the same lab on the wall clock (no root needed)
  wirelab run handshake --backend realtime
  # Linux's own slow start (root: the server is the kernel in a namespace)
  sudo wirelab run slow-start --backend realtime --scenario linux-fresh

Output (in --out, default captures/):
  <lab>.json                 the timeline of every scenario
  <lab>-<scenario>.pcapng    the capture at the client, every packet commented (--capture
                             first:N keeps its first N frames, none writes no capture)
  <lab>-<scenario>.keys      the TLS key log (also embedded in the pcapng)
  <lab>-<scenario>@<host>.pcapng   with --tap: the capture at that host
  <lab>-<scenario>.svg       the ladder: one lane per host, every packet to scale in time
  <lab>-<scenario>-<plot>.svg  plots where they apply: time-sequence and rounds (a response's
                             slow start), streams (a page's bytes per object and its stalls),
                             connections (a pool's open connections and handshakes over time)
  <lab>-loss-table.svg       the loss table's p50/p95/p99 against the loss rate (hol)
  <lab>-latency-cdf.svg      each workload's latency by percentile (tail-latency)
  <lab>-budget.svg           each scenario's hops against the latency budget (latency-budget)
  <lab>-failover.svg         requests to the dead backend, second by second (dns-failover)
  <lab>.html                 the report: tables, checks and ladders in one page (no network)

Exit status:
  0    every scenario ran to its end and every check held
  1    a scenario did not finish or a check failed (stderr says which)
  2    bad input: unknown lab, value out of range, invalid lab file
  127  an exec step's command could not be started
  130  stopped by Ctrl-C (SIGINT); 143: by SIGTERM

Link words (--link) follow tc-netem: delay TIME [JITTER [CORR%]],
distribution normal|pareto|paretonormal, loss PCT [CORR%],
loss gemodel p r 1-h 1-k, corrupt PCT, duplicate PCT, reorder PCT,
rate RATE, limit PACKETS, and wirelab's mtu BYTES, rate trace FILE
(mahimahi) and delay trace FILE.";

/// Overrides of the client–server path, shared by `run` and `sweep`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct PathArgs {
    /// Round-trip propagation time of the client–server path, split evenly over both directions (e.g. 150ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_rtt, allow_hyphen_values = true)]
    pub rtt: Option<Duration>,
    /// Random loss in each direction of the client–server path (e.g. 1%).
    #[arg(long, value_name = "PERCENT", value_parser = parse_loss, allow_hyphen_values = true)]
    pub loss: Option<f64>,
    /// tc-netem words for the client–server path, applied last (e.g. "delay 75ms 5ms loss 1% rate 10mbit limit 100").
    #[arg(long, value_name = "NETEM WORDS", value_parser = parse_link)]
    pub link: Option<String>,
}

/// `run --tap`: more vantage points.
#[derive(clap::Args, Debug, Clone)]
struct TapArgs {
    /// Also capture at this host (repeatable; `all`: every host): <lab>-<scenario>@<host>.pcapng,
    /// holding what that host sent and received, with the same comments and TLS keys.
    #[arg(long = "tap", value_name = "HOST|all")]
    taps: Vec<String>,
}

impl PathArgs {
    /// The run's overrides with these and `set`.
    pub fn overrides(&self, set: Vec<(String, String)>) -> Overrides {
        Overrides { set, rtt: self.rtt, loss: self.loss, link: self.link.clone(), ..Default::default() }
    }
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// A built-in lab name (see `wirelab list`) or a path to a lab file (.toml).
    lab: String,
    #[command(flatten)]
    path: PathArgs,
    #[command(flatten)]
    tap: TapArgs,
    /// Seed for every random choice (loss, jitter, ports, TLS randomness): same seed, same bytes.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_seed, allow_hyphen_values = true)]
    seed: u64,
    /// Override a lab parameter (repeatable), e.g. --set response_size=14KB.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    set: Vec<(String, String)>,
    /// Run only this scenario (repeatable).
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Directory for captures, key logs and the timeline.
    #[arg(long, value_name = "DIR", default_value = "captures")]
    out: PathBuf,
    /// Print the timeline as JSON on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// What moves time: `virtual` jumps from event to event (deterministic, instant); `realtime`
    /// runs on the wall clock, and runs scenarios whose hosts are the Linux kernel (root).
    #[arg(long, value_enum, default_value_t = Backend::Virtual)]
    backend: Backend,
    /// Pictures to write into --out: `all` writes each scenario's ladder diagram
    /// (<lab>-<scenario>.svg: one lane per host, one arrow per packet, to scale in time) and
    /// <lab>.html, one self-contained report; `svg` only the diagrams; `html` only the report
    /// (diagrams inlined); `none` neither.
    #[arg(long, value_enum, default_value_t = Pictures::All)]
    pictures: Pictures,
    /// What each capture keeps: `all` every frame; `first:N` the first N frames of each vantage
    /// point (the file says where it was cut and how many frames the run had); `none` no
    /// capture file at all. The metrics are the same whatever it keeps. Labs whose results are
    /// read off the client's capture (slow-start rounds, head-of-line waits, keepalive bytes, a
    /// kernel client's phases: handshake, slow-start, hol, keepalive) refuse anything but `all`.
    #[arg(long, value_name = "none|first:N|all", default_value = "all", value_parser = parse_capture)]
    capture: Keep,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Pictures {
    All,
    Svg,
    Html,
    None,
}

impl Pictures {
    pub fn svg(self) -> bool {
        matches!(self, Pictures::All | Pictures::Svg)
    }
    pub fn html(self) -> bool {
        matches!(self, Pictures::All | Pictures::Html)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    Virtual,
    Realtime,
}

fn parse_rtt(s: &str) -> Result<Duration, String> {
    use crate::script::params::RTT;
    let d = units::parse_duration(s).map_err(|e| e.to_string())?;
    if !RTT.contains(d) {
        return Err(format!("`{s}` is out of range (allowed: {})", RTT.describe()));
    }
    Ok(d)
}

fn parse_seed(s: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| format!("`{s}` is not a seed (allowed: a whole number from 0 to {})", u64::MAX))
}

fn parse_loss(s: &str) -> Result<f64, String> {
    units::parse_percent(s).map_err(|e| e.to_string())
}

fn parse_link(s: &str) -> Result<String, String> {
    crate::link::netem::parse(s).map(|_| s.to_string()).map_err(|e| e.message)
}

fn parse_capture(s: &str) -> Result<Keep, String> {
    Keep::parse(s)
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE (e.g. --set response_size=14KB)")),
    }
}

/// Runs the command line; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // One line, like every other input error: clap's first line names the flag and value.
            let text = e.render().to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("error: bad arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("wirelab: error: {first} (see wirelab --help)");
            return 2;
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return 0;
        }
    };
    let result = match cli.command {
        Command::List => {
            list();
            Ok(0)
        }
        Command::Show(args) => show::run(args).map_err(Failure::Input),
        Command::Run(args) => run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Shell(args) => shell::run(args),
        Command::Report(args) => report::run(args),
        Command::Annotate(args) => annotate::run(args),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Input(e)) => {
            eprintln!("wirelab: error: {e}");
            2
        }
        Err(Failure::Run(e)) => {
            eprintln!("wirelab: error: {e:#}");
            1
        }
    }
}

enum Failure {
    Input(InputError),
    Run(anyhow::Error),
}

impl From<InputError> for Failure {
    fn from(e: InputError) -> Self {
        Failure::Input(e)
    }
}

/// "server" or "client and server": the hosts of a plan that are kernel hosts.
fn kernel_hosts(p: &ScenarioPlan) -> String {
    p.kernel.iter().map(|&h| p.hosts[h].name.as_str()).collect::<Vec<_>>().join(" and ")
}

fn list() {
    for (name, _) in BUILTIN {
        let title = Lab::load(name).ok().and_then(|l| l.raw.title).unwrap_or_default();
        outln!("{name:<14} {title}");
    }
    outln!("\nwirelab show <lab> describes one: its scenarios, parameters and checks.");
}

fn run(args: RunArgs) -> Result<i32, Failure> {
    let clock = match args.backend {
        Backend::Virtual => Clock::Virtual,
        Backend::Realtime => Clock::Realtime,
    };
    let lab = Lab::load(&args.lab)?;
    for (k, v) in &args.set {
        lab.check_param(k, v)?;
    }
    lab.check_scenarios(&args.scenarios)?;
    let names = lab.scenario_names();
    let mut overrides = args.path.overrides(args.set.clone());
    overrides.taps = args.tap.taps.clone();
    overrides.pictures = args.pictures != Pictures::None;
    overrides.capture = args.capture;
    // Resolve every scenario before running any, so bad input fails before anything is written.
    let mut plans = Vec::new();
    let mut skipped = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let named = args.scenarios.iter().any(|s| s == name);
        if args.scenarios.is_empty() || named {
            let p = plan::plan(&lab, i, &overrides).map_err(|e| e.within(&lab.origin))?;
            for (k, v) in &args.set {
                let own = lab.raw.scenarios[i].params.get(k).or(lab.raw.params.get(k)).map(|s| s.to_string());
                let values: Vec<String> = own.into_iter().chain([v.clone()]).collect();
                if plan::flags_hide(&lab, i, &overrides, k, &values)?.is_some() {
                    return Err(InputError::new(format!(
                        "{} conflicts with --set {k}={v}: both set the client–server path (give one of them)",
                        overrides.path_flags().join(" ")
                    ))
                    .into());
                }
            }
            if clock == Clock::Virtual && !p.kernel.is_empty() {
                if named {
                    return Err(InputError::new(format!(
                        "--scenario {name}: its {} is the Linux kernel; run it with --backend realtime (as root)",
                        kernel_hosts(&p)
                    ))
                    .into());
                }
                skipped.push(format!("{name} (its {} is the Linux kernel: --backend realtime)", kernel_hosts(&p)));
                continue;
            }
            if let Some(why) = (!args.capture.is_all()).then(|| crate::runner::analyse::reads_capture(&p)).flatten() {
                return Err(InputError::new(format!(
                    "--capture {}: lab {}, scenario {name}: {why}, so only --capture all is allowed",
                    args.capture, lab.raw.name
                ))
                .into());
            }
            plans.push(p);
        }
    }
    if let (Some(table), true) = (&lab.raw.loss_table, args.scenarios.is_empty() && clock == Clock::Virtual) {
        let what = format!(
            "the lab's [loss_table], which runs {} at loss = {} (run single scenarios with --scenario to skip the table)",
            table.scenarios.join(", "),
            table.losses.join(", ")
        );
        for (i, name) in names.iter().enumerate() {
            if table.scenarios.iter().any(|s| s == name) {
                plan::check_flags_keep(&lab, i, &overrides, "loss", &table.losses, &what)?;
            }
        }
    }
    if let Some(p) = plans.iter().find(|p| !p.kernel.is_empty()) {
        if let Some(why) = realtime::netns::missing_access(&format!("scenario `{}` (kernel hosts)", p.name)) {
            return Err(InputError::new(why).into());
        }
    }
    if clock == Clock::Realtime {
        for name in realtime::netns::remove_stale() {
            eprintln!("wirelab: removed namespace {name} left by a run that did not finish");
        }
        realtime::install_signal_handlers();
    }
    if let Some(note) = plan::path_flag_note(&lab, &overrides) {
        eprintln!("wirelab: note: {note}");
    }
    output::prepare_dir(&args.out)?;
    let mut outputs = Vec::new();
    let mut progress = output::Progress::on(clock);
    for p in &plans {
        let out = crate::runner::run_scenario_on(p, args.seed, clock, &mut |now, status| progress.tick(now, status));
        outputs.push(out.map_err(Failure::Run)?);
        if realtime::stopped() {
            break;
        }
    }
    progress.finish();
    let mut timeline = output::timeline(&lab, &plans, args.seed, clock, &outputs);
    timeline.theory = output::theory_rows(&lab, &plans, &timeline);
    // The sweeps run the lab dozens of times: instant in virtual time, minutes on the wall clock.
    if args.scenarios.is_empty() && clock == Clock::Virtual {
        timeline.size_sweep = crate::runner::size_sweep::run(&lab, &overrides, args.seed).map_err(Failure::Run)?;
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        timeline.loss_table = crate::runner::loss_table::run(&lab, &overrides, jobs).map_err(Failure::Run)?;
    }
    let plots =
        output::write_all(&args.out, &lab.raw.name, &timeline, &outputs, args.pictures).map_err(Failure::Run)?;
    if args.json {
        out!("{}", timeline.to_json());
    } else {
        out!("{}", crate::timeline::table::lab(&timeline));
        out!("{}", crate::runner::size_sweep::table(&timeline.size_sweep));
        out!("{}", crate::runner::loss_table::table(&timeline.loss_table));
        if let Some(note) =
            lab.raw.loss_table.as_ref().map(|t| &t.note).filter(|n| !n.is_empty() && !timeline.loss_table.is_empty())
        {
            outln!("   why: {note}\n");
        }
        out!("{}", output::theory_table(&timeline));
        for s in &skipped {
            outln!("Skipped {s}");
        }
        if clock == Clock::Realtime {
            outln!(
                "Real time: times are wall-clock, so RTT counts are within a few hundredths of whole numbers \
                 (checks allow 5% of an RTT or 3 ms); the size sweep and loss table run in virtual time only."
            );
        }
        let keys = if outputs.iter().any(|o| !o.key_log.is_empty()) { ", TLS key logs" } else { "" };
        match args.capture {
            Keep::None if keys.is_empty() => {
                outln!("{}.json is in {}/ (no captures: --capture none)", lab.raw.name, args.out.display())
            }
            Keep::None => outln!(
                "{}.json and the TLS key logs are in {}/ (no captures: --capture none)",
                lab.raw.name,
                args.out.display()
            ),
            _ => outln!("Captures{keys} and {}.json are in {}/", lab.raw.name, args.out.display()),
        }
        if !plots.is_empty() {
            outln!("Plots (SVG) in {}/: {}", args.out.display(), output::plot_summary(&plots));
        }
        if args.pictures.html() {
            outln!("Report, with a ladder of every packet: {}/{}.html", args.out.display(), lab.raw.name);
        }
    }
    if let Some(status) = realtime::signal_exit_status() {
        eprintln!("wirelab: interrupted by a signal; the captures so far are in {}/", args.out.display());
        return Ok(status);
    }
    if let Some(why) = timeline.failure_summary() {
        eprintln!("wirelab: {why}");
    }
    // `sh -c` answers 127 (not found) or 126 (not executable) for a command it cannot start.
    let not_started =
        |s: &crate::timeline::Scenario| s.metrics.get("exit_code").is_some_and(|&c| c == 126.0 || c == 127.0);
    if let Some(s) = timeline.scenarios.iter().find(|s| not_started(s)) {
        eprintln!("wirelab: scenario {}: an exec command could not be started (not found or not executable)", s.name);
        return Ok(127);
    }
    Ok(if timeline.passed() { 0 } else { 1 })
}
