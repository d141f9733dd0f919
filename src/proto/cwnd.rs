//! The sender's congestion window, as the lab models it.
//!
//! smoltcp's own Reno and Cubic start from a hard-coded 2 × 1024-byte window and offer no
//! API to change or read it (design.md §2). Linux starts from ten segments (RFC 6928). To
//! show Linux-like slow start on smoltcp, the lab turns smoltcp's congestion control off
//! (`CongestionControl::None`: it then sends up to the peer's receive window) and instead
//! limits what the *application* hands to TCP: the bytes in the socket's send queue (sent
//! but unacknowledged, plus not yet sent) never exceed `cwnd`, and `cwnd` grows by every
//! byte acknowledged, as in slow start with appropriate byte counting (RFC 5681 §3.1,
//! RFC 3465).
//!
//! Limits of the model, stated wherever it is used: it has no loss response (no
//! ssthresh, no fast recovery: smoltcp retransmits, the window does not shrink), and it
//! grows without bound. Use [`Congestion::Stack`] (smoltcp's Reno) for loss experiments.

use smoltcp::socket::tcp;

/// Which congestion control shapes what a TCP sender puts on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Congestion {
    /// The lab's sender-side model: initial window of `segments` MSS-sized segments,
    /// slow start by bytes acknowledged, no loss response.
    InitialWindow { segments: u32 },
    /// smoltcp's own Reno, with its 2 KB initial window.
    Stack,
}

impl Congestion {
    /// How the timeline and the terminal output name it.
    pub fn describe(self) -> String {
        match self {
            Congestion::InitialWindow { segments } => {
                format!("Linux-like initial window of {segments} segments (lab model over smoltcp, no loss response)")
            }
            Congestion::Stack => "smoltcp's own Reno (initial window 2 x 1024 bytes)".to_string(),
        }
    }

    /// Sets up a socket for this model (Nagle is off either way, as with TCP_NODELAY).
    pub fn configure(self, socket: &mut tcp::Socket<'_>) {
        socket.set_nagle_enabled(false);
        socket.set_congestion_control(match self {
            Congestion::InitialWindow { .. } => tcp::CongestionControl::None,
            Congestion::Stack => tcp::CongestionControl::Reno,
        });
    }
}

/// How the lab's TCP endpoints behave: congestion control, segment size, ACK policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    pub congestion: Congestion,
    /// Maximum segment size; the hosts' MTU is this plus 40 (IPv4 and TCP headers).
    pub mss: usize,
    /// smoltcp's delayed ACK (10 ms, and at once when two full segments are unacknowledged,
    /// RFC 1122 §4.2.3.2); off means every segment is acknowledged at once.
    pub delayed_ack: bool,
    /// Send and receive buffer of every socket, in bytes. The receive buffer is the largest
    /// window a receiver offers (with window scaling), so it must exceed the largest flight a
    /// lab wants to see; every socket allocates (and zeroes) both, so keep it no larger.
    pub buffer: usize,
}

/// The default socket buffer: a window large enough for every built-in lab's transfers.
pub const DEFAULT_BUFFER: usize = 1024 * 1024;

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            congestion: Congestion::InitialWindow { segments: 10 },
            mss: 1460,
            delayed_ack: true,
            buffer: DEFAULT_BUFFER,
        }
    }
}

impl TcpConfig {
    /// The initial window in bytes (IW x MSS) under the lab's model; `None` under smoltcp's own
    /// congestion control, whose window does not start from it.
    pub fn initial_window_bytes(&self) -> Option<u64> {
        match self.congestion {
            Congestion::InitialWindow { segments } => Some(u64::from(segments) * self.mss as u64),
            Congestion::Stack => None,
        }
    }

    /// The host MTU that gives this MSS.
    pub fn mtu(&self) -> usize {
        self.mss + 40
    }

    /// A one-line description for tables and JSON.
    pub fn describe(&self) -> String {
        let ack = if self.delayed_ack {
            "delayed ACK 10 ms (ACK at once after 2 full segments)"
        } else {
            "every segment ACKed at once"
        };
        format!("TCP: {}; MSS {}; {ack}; Nagle off", self.congestion.describe(), self.mss)
    }

    /// Sets up a socket for this configuration.
    pub fn configure(&self, socket: &mut tcp::Socket<'_>) {
        self.congestion.configure(socket);
        if !self.delayed_ack {
            socket.set_ack_delay(None);
        }
    }
}

/// Tracks one sender's window.
#[derive(Clone, Debug)]
pub struct SenderWindow {
    model: Congestion,
    cwnd: u64,
    written: u64,
    acked: u64,
}

impl SenderWindow {
    pub fn new(model: Congestion, mss: usize) -> Self {
        let cwnd = match model {
            Congestion::InitialWindow { segments } => u64::from(segments) * mss as u64,
            Congestion::Stack => u64::MAX,
        };
        SenderWindow { model, cwnd, written: 0, acked: 0 }
    }

    /// Bytes the application may hand to TCP now, given the socket's send queue.
    pub fn allowance(&mut self, send_queue: usize) -> usize {
        if self.model == Congestion::Stack {
            return usize::MAX;
        }
        let acked = self.written.saturating_sub(send_queue as u64);
        if acked > self.acked {
            self.cwnd = self.cwnd.saturating_add(acked - self.acked);
            self.acked = acked;
        }
        usize::try_from(self.cwnd.saturating_sub(send_queue as u64)).unwrap_or(usize::MAX)
    }

    /// Records bytes handed to TCP.
    pub fn on_written(&mut self, n: usize) {
        self.written += n as u64;
    }

    /// The current window in bytes (`None` when smoltcp's own control decides).
    pub fn cwnd(&self) -> Option<u64> {
        (self.model != Congestion::Stack).then_some(self.cwnd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_starts_at_iw_and_grows_by_bytes_acked() {
        let mut w = SenderWindow::new(Congestion::InitialWindow { segments: 10 }, 1460);
        assert_eq!(w.allowance(0), 14_600);
        w.on_written(14_600);
        assert_eq!(w.allowance(14_600), 0);
        // Two segments acknowledged: the window grows by two and two more may go.
        assert_eq!(w.allowance(14_600 - 2920), 2920 * 2);
        assert_eq!(w.cwnd(), Some(14_600 + 2920));
    }

    #[test]
    fn stack_model_never_limits() {
        let mut w = SenderWindow::new(Congestion::Stack, 1460);
        assert_eq!(w.allowance(1_000_000), usize::MAX);
        assert_eq!(w.cwnd(), None);
    }
}
