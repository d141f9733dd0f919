//! The lab's HTTP server on a kernel host: plain HTTP/1.1 (RFC 9112) on port 80, served from
//! sockets of the Linux kernel inside the host's namespace, so that everything below HTTP
//! (the handshake, the initial window, CUBIC, delayed ACKs, retransmissions) is Linux's own.
//!
//! It answers `GET /bytes/N` with N bytes, like the in-process server, and keeps connections
//! open for further requests. It stops, and its threads end, when the [`KernelServer`] is
//! dropped; every blocking call has a short timeout so that the stop is seen at once.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::netns::Namespace;
use crate::proto::http1;

/// How often blocked threads look at the stop flag.
const TICK: Duration = Duration::from_millis(20);
/// The most concurrent connections served; more are closed at once (a lab needs a handful).
const MAX_CONNECTIONS: usize = 64;

/// A running server; dropping it stops it.
pub struct KernelServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl KernelServer {
    /// Listens on port 80 inside `ns` (listening before this returns, so a client that
    /// connects next finds it), with congestion control `cc` (tcp(7) TCP_CONGESTION: "cubic",
    /// "reno", "bbr"; accepted connections inherit it).
    pub fn start(ns: &Namespace, cc: &str) -> io::Result<KernelServer> {
        let cc = cc.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let thread = ns.spawn_inside(move || {
            let listener = match TcpListener::bind(("0.0.0.0", 80)) {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready_tx.send(Err(io::Error::new(e.kind(), format!("listening on port 80: {e}"))));
                    return Ok(());
                }
            };
            if let Err(e) = set_congestion(&listener, &cc) {
                let _ = ready_tx.send(Err(e));
                return Ok(());
            }
            listener.set_nonblocking(true)?;
            let _ = ready_tx.send(Ok(()));
            accept_loop(&listener, &flag)
        })?;
        let started = ready_rx.recv().map_err(|_| io::Error::other("the kernel server thread ended at start"));
        let server = KernelServer { stop, thread: Some(thread) };
        started??;
        Ok(server)
    }
}

impl Drop for KernelServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, stop: &Arc<AtomicBool>) -> io::Result<()> {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        workers.retain(|w| !w.is_finished());
        match listener.accept() {
            Ok((conn, _)) if workers.len() < MAX_CONNECTIONS => {
                let flag = stop.clone();
                workers.push(std::thread::spawn(move || {
                    // A connection's error (a reset, a bad request) ends that connection only.
                    let _ = serve(conn, &flag);
                }));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_readable(listener, TICK),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

/// Sets the listener's congestion control (TCP_CONGESTION); the error names the algorithms
/// this kernel offers.
fn set_congestion(listener: &TcpListener, cc: &str) -> io::Result<()> {
    let name = cc.as_bytes();
    // SAFETY: TCP_CONGESTION takes the name's bytes and length; both live across the call.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let available = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control").unwrap_or_default();
    Err(io::Error::other(format!(
        "congestion control `{cc}`: {} (this kernel offers: {})",
        io::Error::last_os_error(),
        available.trim()
    )))
}

/// Waits until the listener has a connection to accept, or `timeout`.
fn wait_readable(listener: &TcpListener, timeout: Duration) {
    let mut fd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd that lives across the call.
    unsafe { libc::poll(&mut fd, 1, timeout.as_millis() as libc::c_int) };
}

/// Answers requests on one connection until the client closes it or the server stops.
fn serve(mut conn: TcpStream, stop: &AtomicBool) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(TICK))?;
    conn.set_write_timeout(Some(TICK))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        match conn.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        while let Some(request) = http1::parse_request(&buf).map_err(io::Error::other)? {
            buf.drain(..request.head_len);
            let size = http1::requested_size(&request.path);
            // The head and the body in one stream of writes of up to 1 MiB, the head in the
            // first (a head written alone would go out as a segment of its own): up to 4 GiB,
            // never held whole.
            let mut piece = http1::response_head(size);
            let mut sent = 0;
            loop {
                let n = (size - sent).min(BODY_WRITE.saturating_sub(piece.len()) as u64);
                http1::body_into(&mut piece, sent, n as usize);
                sent += n;
                write_all(&mut conn, &piece, stop)?;
                piece.clear();
                if sent == size {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// The most bytes of a response written at a time.
const BODY_WRITE: usize = 1 << 20;

/// `write_all` that gives up when the server stops (a peer that stopped reading would
/// otherwise hold the thread forever).
fn write_all(conn: &mut TcpStream, mut bytes: &[u8], stop: &AtomicBool) -> io::Result<()> {
    while !bytes.is_empty() {
        if stop.load(Ordering::SeqCst) {
            return Err(io::Error::other("server stopped"));
        }
        match conn.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
