//! The real-time driver: the same network core on the wall clock, with in-process hosts and
//! external ones (the Linux kernel in a network namespace, each reached through a TUN device).
//!
//! Each turn reads whatever the kernels sent from the TUN devices, lets the core do everything due at
//! the current time (links, in-process hosts, servers; [`crate::sim::app::settle`]),
//! writes what the links delivered to each kernel back to its TUN, and then waits until the next
//! event: `poll(2)` on the TUN for the coarse part, then a short spin, so that delays land
//! within a fraction of a millisecond. The core itself still never reads a clock: this driver
//! turns the wall clock into the `now` it passes.

pub mod hosts;
pub mod kernel_server;
pub mod netns;
pub mod offload;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::virtual_clock::Progress;
use crate::sim::app::{next_wakeup, settle, Application};
use crate::sim::network::Network;
use crate::time::Instant;

/// Set by SIGINT or SIGTERM: the run ends and cleans up.
static STOP: AtomicBool = AtomicBool::new(false);
/// The signal that stopped the run (0 until one arrives).
static SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    SIGNAL.store(signal, Ordering::SeqCst);
    STOP.store(true, Ordering::SeqCst);
}

/// The exit status for a run a signal stopped, as a shell reports it: 128 + the signal
/// number (130 for SIGINT, 143 for SIGTERM). `None` when no signal arrived.
pub fn signal_exit_status() -> Option<i32> {
    let signal = SIGNAL.load(Ordering::SeqCst);
    (signal > 0).then_some(128 + signal)
}

/// Makes Ctrl-C and SIGTERM end the run (and its namespace) instead of killing the process.
pub fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// Whether a stop signal arrived.
pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Time spent spinning before a deadline instead of sleeping. A sleeping thread here (a 2-core
/// VM) sometimes wakes 0.3 to 3 ms late: with 0.3 ms of spin the p99 delay error of pings was
/// 0.8 to 2.7 ms, with 2 ms of pure busy waiting 0.1 to 0.5 ms, but that held the CPU from
/// the programs under test (curl's handshake ACK came up to 4 ms late). So the spin yields the
/// CPU to anything runnable until the last [`HOLD`]: p99 0.3 to 0.7 ms, and curl's ACK on time
/// (`cargo bench --bench realtime`). With nothing due, the driver just sleeps.
const SPIN: Duration = Duration::from_millis(2);
/// The end of the spin that holds the CPU without yielding it.
const HOLD: Duration = Duration::from_micros(300);
/// Longest single wait, so that `keep_going` is checked regularly.
const MAX_WAIT: Duration = Duration::from_millis(20);
/// Packets read from one TUN device per turn, so one busy device cannot starve the rest.
const READ_BURST: usize = 256;
/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// A kernel host's side of the relay: the TUN device whose packets are host `host`'s.
pub struct Port<'a> {
    pub host: usize,
    pub tun: &'a mut File,
}

/// Runs until the application finishes, `keep_going` says stop, or a signal arrives. Each
/// port's TUN device carries the packets of its (external) host; with no ports, every host is
/// in-process and the driver only keeps time. `progress` is called every 100 ms with the
/// elapsed time and a status (packets, bytes and drops on the links, and the application's).
pub fn run(
    net: &mut Network,
    app: &mut (impl Application + ?Sized),
    ports: &mut [Port<'_>],
    progress: Progress<'_>,
    mut keep_going: impl FnMut(Instant) -> bool,
) -> std::io::Result<Instant> {
    // Timers of this thread fire within 1 µs of their deadline instead of the default 50 µs
    // slack (prctl(2) PR_SET_TIMERSLACK); the spin covers the rest.
    // SAFETY: a plain prctl on the calling thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let start = std::time::Instant::now();
    let now_virtual = || Instant::from_micros(start.elapsed().as_micros() as u64);
    let mut buf = vec![0u8; 65536 + offload::VNET_HDR_LEN];
    let mut last_progress = Instant::ZERO;
    let mut fds: Vec<libc::pollfd> =
        ports.iter().map(|p| libc::pollfd { fd: p.tun.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    loop {
        let now = now_virtual();
        for port in ports.iter_mut() {
            for _ in 0..READ_BURST {
                match port.tun.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => offload::split(&buf[..n], |p| net.hosts[port.host].device.tx.push_back(p)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            net.collect(port.host, now);
        }
        settle(net, app, now);
        for port in ports.iter_mut() {
            let delivered = &mut net.hosts[port.host].delivered;
            // A full TUN queue drops the frame, as a full NIC queue would.
            offload::coalesce(delivered.make_contiguous(), |frame| drop(port.tun.write(frame)));
            delivered.clear();
        }
        if stopped() || app.finished() || !keep_going(now) {
            return Ok(now);
        }
        if now.saturating_since(last_progress) >= PROGRESS_EVERY {
            last_progress = now;
            progress(now, &status(net, app));
        }
        let next = next_wakeup(net, app, now);
        match next {
            Some(t) => wait(&mut fds, t.saturating_since(now_virtual()).min(MAX_WAIT), SPIN),
            None => wait(&mut fds, MAX_WAIT, Duration::ZERO),
        }
    }
}

/// Packets, bytes and drops on the links so far, and the application's own status.
fn status(net: &Network, app: &(impl Application + ?Sized)) -> String {
    let t = net.totals();
    let app = app.status();
    let sep = if app.is_empty() { "" } else { "; " };
    format!("{} packets, {}, {} dropped{sep}{app}", t.sent, crate::units::format_bytes(t.bytes_sent), t.dropped)
}

/// Waits up to `timeout` for one of the TUN devices `fds` to become readable: ppoll(2) for all
/// but the last `spin`, then a busy wait (with no device, the same: a sleep, then a spin).
fn wait(fds: &mut [libc::pollfd], timeout: Duration, spin: Duration) {
    let until = std::time::Instant::now() + timeout;
    let coarse = timeout.saturating_sub(spin);
    let coarse = libc::timespec { tv_sec: coarse.as_secs() as libc::time_t, tv_nsec: coarse.subsec_nanos() as _ };
    // SAFETY: `fds` lives across the call and its length is passed with it; no signal mask.
    let ready = unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, &coarse, std::ptr::null()) };
    if ready > 0 {
        return;
    }
    // The last stretch: spin, still returning as soon as a packet is waiting.
    while std::time::Instant::now() < until {
        // SAFETY: as above, with a zero timeout.
        if !fds.is_empty() && unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) } > 0 {
            return;
        }
        // Until the last moments, give the CPU to anything runnable here (the program under
        // test, the kernel's softirq thread) instead of holding it: a pure busy wait delayed
        // their replies by up to the length of the spin.
        if until.saturating_duration_since(std::time::Instant::now()) > HOLD {
            // SAFETY: sched_yield has no arguments and cannot fail on Linux.
            unsafe { libc::sched_yield() };
        } else {
            std::hint::spin_loop();
        }
    }
}
