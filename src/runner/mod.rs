//! The runner: runs one scenario of a lab, as a pipeline.
//!
//! 1. [`build`]: the world, from the plan and the seed: hosts, links, taps, TLS, the servers
//!    and the scripted client, composed as one application.
//! 2. [`drive`]: runs it on the backend the caller chose ([`Clock`]): the virtual clock, or
//!    the wall clock with kernel hosts.
//! 3. [`analyse`]: the analysers the scenario needs read the run into its timeline (phases,
//!    metrics, rounds, streams, comments on the capture, pictures).
//! 4. [`evaluate`]: the plan's checks, on that timeline.
//!
//! The client's programs (`client`, `page`, `pool`, `exec`) and the servers (`servers`) are the
//! parts the world is built from; `size_sweep` and `loss_table` run a lab many times;
//! `theory` holds the models checks and tables compare with (`rtt_model`: a request's round
//! trips along its call chain).

pub mod analyse;
pub mod build;
pub mod client;
pub mod drive;
pub mod evaluate;
pub mod events;
pub mod exec;
pub mod failover_model;
pub mod loss_table;
pub mod page;
pub mod pool;
pub mod rtt_model;
pub mod servers;
pub mod size_sweep;
pub mod theory;

use crate::backend::virtual_clock::Progress;
use crate::capture::{Capture, DEFAULT_EPOCH_UNIX_MICROS};
use crate::link::LinkConfig;
use crate::script::plan::ScenarioPlan;
use crate::sim::network::Mutator;
use crate::timeline;

/// What one scenario produced.
pub struct ScenarioOutput {
    pub timeline: timeline::Scenario,
    /// The capture at the scenario's client, written out with [`ScenarioOutput::pcapng`] or
    /// [`Capture::write_pcapng`] (a sweep writes none, and so renders none).
    pub capture: Capture,
    /// Captures at the other vantage points asked for (`--tap`): (host name, capture).
    pub other_captures: Vec<(String, Capture)>,
    pub key_log: String,
    /// The scenario's ladder diagram, when the plan asked for pictures.
    pub ladder: Option<crate::picture::ladder::Ladder>,
    /// The time-sequence graph of its response, when it has slow-start rounds and the plan
    /// asked for pictures.
    pub time_seq: Option<crate::picture::plot::TimeSeq>,
    /// A page's deliveries per object over time, with its stalls, when the plan asked for
    /// pictures.
    pub streams: Option<crate::picture::plots::streams::Streams>,
    /// A pool's connections and handshakes over time, when the plan asked for pictures.
    pub connections: Option<crate::picture::plots::connections::Connections>,
}

impl ScenarioOutput {
    /// The client's capture as a pcapng file, the key log embedded.
    pub fn pcapng(&self) -> Vec<u8> {
        self.capture.to_pcapng(Some(&self.key_log), DEFAULT_EPOCH_UNIX_MICROS)
    }

    /// The outputs of an analysed run: its timeline, captures, key log and pictures.
    fn new(mut run: analyse::Run<'_>, timeline: timeline::Scenario) -> Self {
        let hosts = &run.plan.hosts;
        let other_captures = run
            .net
            .other_taps
            .iter_mut()
            .map(|t| {
                t.capture.finish_recording();
                (hosts[t.host].name.clone(), std::mem::take(&mut t.capture))
            })
            .collect();
        // A lab's scenarios are all run before their files are written: a long capture goes
        // to disk whole meanwhile.
        run.net.tap.capture.finish_recording();
        let capture = std::mem::take(&mut run.net.tap.capture);
        let analyse::Drawn { ladder, time_seq, streams, connections } = run.pictures;
        ScenarioOutput {
            timeline,
            capture,
            other_captures,
            key_log: run.key_log,
            ladder,
            time_seq,
            streams,
            connections,
        }
    }
}

/// Runs one scenario with `seed`.
pub fn run_scenario(plan: &ScenarioPlan, seed: u64) -> anyhow::Result<ScenarioOutput> {
    run_scenario_with_progress(plan, seed, &mut |_, _| {})
}

/// What moves time for a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Jump from event to event: deterministic, instant.
    Virtual,
    /// The wall clock, with kernel hosts (if the scenario has any) in network namespaces.
    Realtime,
}

impl Clock {
    pub fn name(self) -> &'static str {
        match self {
            Clock::Virtual => "virtual",
            Clock::Realtime => "realtime",
        }
    }
}

/// [`run_scenario`], reporting progress (virtual time, status) now and then.
pub fn run_scenario_with_progress(
    plan: &ScenarioPlan,
    seed: u64,
    progress: Progress<'_>,
) -> anyhow::Result<ScenarioOutput> {
    run_scenario_on(plan, seed, Clock::Virtual, progress)
}

/// Runs one scenario with `seed` on `clock`.
pub fn run_scenario_on(
    plan: &ScenarioPlan,
    seed: u64,
    clock: Clock,
    progress: Progress<'_>,
) -> anyhow::Result<ScenarioOutput> {
    run_scenario_inner(plan, seed, clock, progress, None)
}

/// [`run_scenario`] on the virtual clock with packets changed in flight by `mutator` (the
/// whole-network fuzz target: the hosts, the protocol drivers and every analysis must survive
/// whatever it does).
#[doc(hidden)]
pub fn run_scenario_mutated(plan: &ScenarioPlan, seed: u64, mutator: Mutator) -> anyhow::Result<ScenarioOutput> {
    run_scenario_inner(plan, seed, Clock::Virtual, &mut |_, _| {}, Some(mutator))
}

/// Build, drive, analyse, evaluate.
fn run_scenario_inner(
    plan: &ScenarioPlan,
    seed: u64,
    clock: Clock,
    progress: Progress<'_>,
    mutator: Option<Mutator>,
) -> anyhow::Result<ScenarioOutput> {
    drive::check(plan, clock)?;
    let mut world = build::World::build(plan, seed, mutator)?;
    let outcome = drive::drive(&mut world, clock, progress)?;
    let mut run = analyse::Run::new(world, outcome);
    let mut timeline = analyse::analyse(&mut run);
    timeline.expectations = evaluate::expectations(plan, &timeline, clock);
    Ok(ScenarioOutput::new(run, timeline))
}

/// A link config in tc-netem's words, e.g. `delay 75ms loss 1%`.
pub fn netem_words(c: &LinkConfig) -> String {
    use crate::link::LossModel;
    let mut w = vec![format!("delay {:?}", c.delay)];
    if !c.jitter.is_zero() {
        w.push(format!("{:?}", c.jitter));
    }
    match c.loss {
        LossModel::None => {}
        LossModel::Bernoulli { p } => w.push(format!("loss {}%", p * 100.0)),
        LossModel::GilbertElliott { p, r, h, k } => {
            w.push(format!("loss gemodel {}% {}% {}% {}%", p * 100.0, r * 100.0, (1.0 - h) * 100.0, (1.0 - k) * 100.0))
        }
    }
    if c.duplicate > 0.0 {
        w.push(format!("duplicate {}%", c.duplicate * 100.0));
    }
    if c.reorder > 0.0 {
        w.push(format!("reorder {}%", c.reorder * 100.0));
    }
    if let Some(r) = c.rate_bps {
        w.push(format!("rate {r}bit limit {}", c.limit));
    }
    if let Some(m) = c.mtu {
        w.push(format!("mtu {m}"));
    }
    w.join(" ")
}
