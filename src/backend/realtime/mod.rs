//! The real-time driver: the same network core on the wall clock, with one external host (the
//! Linux kernel in a network namespace) reached through a TUN device.
//!
//! Each turn reads whatever the kernel sent from the TUN, lets the core do everything due at
//! the current time (links, in-process hosts, servers; [`super::virtual_clock::settle`]),
//! writes what the links delivered to the kernel back to the TUN, and then waits until the next
//! event: `poll(2)` on the TUN for the coarse part, then a short spin, so that delays land
//! within a fraction of a millisecond. The core itself still never reads a clock: this driver
//! turns the wall clock into the `now` it passes.

pub mod netns;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::virtual_clock::{settle, Application};
use crate::sim::network::Network;
use crate::sim::time::Instant;

/// Set by SIGINT or SIGTERM: the run ends and cleans up.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
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

/// Time spent spinning before a deadline instead of sleeping (sleep overshoots by up to ~1 ms).
const SPIN: Duration = Duration::from_micros(300);
/// Longest single wait, so that `keep_going` is checked regularly.
const MAX_WAIT: Duration = Duration::from_millis(20);

/// Runs until `keep_going` says stop or a signal arrives. `external` is the host whose packets
/// cross `tun`.
pub fn run(
    net: &mut Network,
    app: &mut impl Application,
    tun: &mut File,
    external: usize,
    mut keep_going: impl FnMut() -> bool,
) -> std::io::Result<Instant> {
    let start = std::time::Instant::now();
    let now_virtual = || Instant::from_micros(start.elapsed().as_micros() as u64);
    let mut buf = vec![0u8; 65536];
    loop {
        let now = now_virtual();
        loop {
            match tun.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => net.hosts[external].device.tx.push_back(buf[..n].to_vec()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        net.collect(external, now);
        settle(net, app, now);
        while let Some(p) = net.hosts[external].delivered.pop_front() {
            // A full TUN queue drops the packet, as a full NIC queue would.
            let _ = tun.write(&p);
        }
        if stopped() || !keep_going() {
            return Ok(now);
        }
        let next = [net.next_event(now), app.next_timer()].into_iter().flatten().min();
        let deadline = next.map_or(MAX_WAIT, |t| t.saturating_since(now_virtual()).min(MAX_WAIT));
        wait(tun, deadline);
    }
}

/// Waits up to `timeout` for the TUN to become readable: poll(2) for all but the last
/// [`SPIN`], then a busy wait.
fn wait(tun: &File, timeout: Duration) {
    let until = std::time::Instant::now() + timeout;
    let coarse = timeout.saturating_sub(SPIN);
    let mut fd = libc::pollfd { fd: tun.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd that lives across the call.
    let ready = unsafe { libc::poll(&mut fd, 1, coarse.as_millis() as libc::c_int) };
    if ready > 0 {
        return;
    }
    // The last stretch: spin, still returning as soon as a packet is waiting.
    while std::time::Instant::now() < until {
        // SAFETY: as above, with a zero timeout.
        if unsafe { libc::poll(&mut fd, 1, 0) } > 0 {
            return;
        }
        std::hint::spin_loop();
    }
}
