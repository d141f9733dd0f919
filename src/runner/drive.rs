//! Drive: runs a built world on the backend the caller chose, until the client's script ends
//! or the run stalls.
//!
//! What happens at each instant is the core's (`sim::app::settle`); the backend only decides
//! which instants: the virtual clock jumps from event to event, the real-time driver follows
//! the wall clock and relays the packets of kernel hosts (network namespaces) through TUN
//! devices. A lab runs unchanged on either.

use crate::backend::realtime;
use crate::backend::virtual_clock::{self, Progress, Stall};
use crate::script::plan::ScenarioPlan;
use crate::sim::app::Application;
use crate::time::Instant;

use super::build::World;
use super::Clock;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The client's script ran to its end (or failed: the client holds its error), at this instant.
    Finished(Instant),
    /// Time ran out, nothing was left to happen, or a signal stopped the run, while a step was
    /// still running; `why` says which, and which step.
    Stalled { stall: Stall, why: String },
}

/// Refuses a scenario `clock` cannot run: kernel hosts exist only in real time.
pub fn check(plan: &ScenarioPlan, clock: Clock) -> anyhow::Result<()> {
    if clock == Clock::Virtual && !plan.kernel.is_empty() {
        anyhow::bail!("scenario `{}` has kernel hosts: it runs only with --backend realtime", plan.name);
    }
    Ok(())
}

/// Runs `world` on `clock` from time zero until its client finishes, or until the plan's time
/// limit. An error is the backend's own (setting up kernel hosts, a TUN device failing), not
/// the scenario's.
pub fn drive(world: &mut World<'_>, clock: Clock, progress: Progress<'_>) -> anyhow::Result<Outcome> {
    let plan = world.plan;
    let (net, programs) = (&mut world.net, &mut world.programs);
    let limit = Instant::ZERO + plan.time_limit;
    let end = match clock {
        Clock::Virtual => virtual_clock::run_with_progress(net, programs, Instant::ZERO, limit, progress),
        Clock::Realtime => {
            let mut kernel = realtime::hosts::KernelHosts::start(plan, net)
                .map_err(|e| anyhow::anyhow!("setting up the kernel hosts of scenario `{}`: {e}", plan.name))?;
            let mut ports = kernel.ports();
            let end = realtime::run(net, programs, &mut ports, progress, |now| now < limit)?;
            if programs.finished() {
                Ok(end)
            } else if realtime::stopped() {
                Err(Stall::Interrupted(end))
            } else {
                Err(Stall::TimeLimit(end))
            }
        }
    };
    Ok(match end {
        Ok(at) => Outcome::Finished(at),
        Err(stall) => {
            let step = programs.client.current_step_name();
            let why = match stall {
                Stall::TimeLimit(at) => format!(
                    "did not finish within time_limit = {:?} of virtual time: {step} was still running (last activity at {at})",
                    plan.time_limit
                ),
                Stall::Idle(at) => format!("stopped at {at}: nothing left to happen while {step} was running"),
                Stall::Interrupted(at) => format!("interrupted (Ctrl-C or SIGTERM) at {at} while {step} was running"),
            };
            Outcome::Stalled { stall, why }
        }
    })
}
