//! `exec` steps: a real command in a kernel client's namespace (real time only). The step
//! lasts from the spawn until the command exits; its packets are what the capture shows.

use std::process::Stdio;
use std::time::Duration;

use crate::backend::realtime::netns::Job;
use crate::script::plan::ExecStdio;
use crate::time::Instant;

/// How often a running command is checked for its exit.
const CHECK_EVERY: Duration = Duration::from_millis(1);

/// A running command. Dropping it kills the command and whatever it started (an interrupted
/// run must not leave a curl running in a namespace that is about to go).
pub struct Running {
    job: Job,
    /// Where its standard streams go.
    pub stdio: ExecStdio,
    /// When the driver should next look at it.
    pub next_check: Instant,
}

impl Running {
    /// Runs `sh -c command` in namespace `ns`. With [`ExecStdio::Discard`] its output is
    /// discarded (stderr goes to wirelab's stderr, so that a failing command says why); with
    /// [`ExecStdio::Terminal`] it has wirelab's terminal, and a command still running when the
    /// run ends gets half a second to go after SIGTERM.
    pub fn spawn(ns: &str, command: &str, stdio: ExecStdio, now: Instant) -> Result<Running, String> {
        let job = match stdio {
            ExecStdio::Discard => Job::start(ns, command, Stdio::null(), Duration::ZERO),
            ExecStdio::Terminal => Job::attached(ns, command, Duration::from_millis(500)),
        }
        .map_err(|e| format!("cannot run `{command}`: {e}"))?;
        Ok(Running { job, stdio, next_check: now + CHECK_EVERY })
    }

    /// The exit code once the command has exited (a signal counts as 128 + its number).
    pub fn poll(&mut self, now: Instant) -> Result<Option<i32>, String> {
        self.next_check = now + CHECK_EVERY;
        match self.job.try_wait() {
            Ok(None) => Ok(None),
            Ok(Some(status)) => {
                use std::os::unix::process::ExitStatusExt;
                Ok(Some(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))))
            }
            Err(e) => Err(format!("waiting for the command: {e}")),
        }
    }
}
