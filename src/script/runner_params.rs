//! The parameters the runner reads by name ([`super::params::RUNNER`]), read for one scenario:
//! its TCP configuration, the lab server's idle timeout, the kernel hosts' congestion control
//! and the scenario's time limit, each with its default when the lab does not declare it.

use std::time::Duration;

use super::fields::Params;
use super::params;
use super::InputError;
use crate::proto::cwnd::{Congestion, TcpConfig};

/// What the runner-read parameters in force say.
pub(super) struct RunnerParams {
    /// `cc`, `initial_window`, `mss`, `delayed_ack` and `socket_buffer`.
    pub tcp: TcpConfig,
    /// `server_idle_timeout` (0 or absent: never).
    pub server_idle_timeout: Option<Duration>,
    /// `kernel_cc` (Linux's default, cubic).
    pub kernel_cc: String,
    /// `time_limit` (120 s).
    pub time_limit: Duration,
}

impl RunnerParams {
    /// Reads them from `params`, in the order above.
    pub(super) fn read(params: &Params) -> Result<RunnerParams, InputError> {
        let congestion = match params.values.get("cc") {
            None => Congestion::InitialWindow { segments: 10 },
            Some(v) => match params.resolve("params.cc", v)?.choice(params::CC)?.as_str() {
                "smoltcp" => Congestion::Stack,
                _ => {
                    let segments = match params.values.get("initial_window") {
                        Some(v) => params.resolve("params.initial_window", v)?.int(params::INITIAL_WINDOW)? as u32,
                        None => 10,
                    };
                    Congestion::InitialWindow { segments }
                }
            },
        };
        let mss = match params.values.get("mss") {
            Some(v) => params.resolve("params.mss", v)?.int(params::MSS)? as usize,
            None => 1460,
        };
        let delayed_ack = match params.values.get("delayed_ack") {
            Some(v) => params.resolve("params.delayed_ack", v)?.bool()?,
            None => true,
        };
        let buffer = match params.values.get("socket_buffer") {
            Some(v) => params.resolve("params.socket_buffer", v)?.size_in(params::SOCKET_BUFFER)? as usize,
            None => crate::proto::cwnd::DEFAULT_BUFFER,
        };
        let tcp = TcpConfig { congestion, mss, delayed_ack, buffer };
        let server_idle_timeout = match params.values.get("server_idle_timeout") {
            Some(v) => Some(params.resolve("params.server_idle_timeout", v)?.duration_in(params::SPAN)?)
                .filter(|d| !d.is_zero()),
            None => None,
        };
        let kernel_cc = match params.values.get("kernel_cc") {
            Some(v) => params.resolve("params.kernel_cc", v)?.choice(params::KERNEL_CC)?,
            None => "cubic".to_string(),
        };
        let time_limit = match params.values.get("time_limit") {
            Some(v) => params.resolve("params.time_limit", v)?.duration_in(params::TIME_LIMIT)?,
            None => Duration::from_secs(120),
        };
        Ok(RunnerParams { tcp, server_idle_timeout, kernel_cc, time_limit })
    }
}
