//! A smoltcp device whose wire is a pair of queues.
//!
//! The network moves packets between hosts by pushing into `rx` and draining `tx`; the
//! device itself knows nothing about time or links. Framing is raw IPv4 (`Medium::Ip`),
//! the same as a TUN device and pcap's LINKTYPE_RAW.
//!
//! A packet is a `Vec<u8>` of its own. A device that recycles ([`QueueDevice::recycle`], as
//! every [`super::Host`]'s does) gives the buffer of each packet its stack has read to a
//! spare list, and sends its next packets in spare buffers, cleared and zeroed to the
//! packet's length (so a packet's bytes are what a fresh buffer would hold). A fresh zeroed
//! `Vec` per packet, and its free, took malloc's slow path (1500 bytes is past its per-thread
//! cache): 6 to 10% of the throughput benchmark's time in a lab. The list is one per thread,
//! shared by the devices of every host on it (a client receives many data segments per ACK it
//! sends, its server the other way round), and bounded: [`SPARE_MAX`] buffers of at most
//! [`SPARE_MAX_BYTES`] (4 MiB); others are freed. A device made with [`QueueDevice::new`]
//! alone (the benchmark's bare smoltcp loop) does as before: a new `Vec` per packet.

use std::cell::RefCell;
use std::collections::VecDeque;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Queue-backed raw-IP device.
#[derive(Debug)]
pub struct QueueDevice {
    /// Packets delivered by the network, waiting for the stack.
    pub rx: VecDeque<Vec<u8>>,
    /// Packets the stack sent, waiting for the network.
    pub tx: VecDeque<Vec<u8>>,
    /// Send in spare buffers and give read ones back (see the [module docs](self)); off for
    /// a device made with [`QueueDevice::new`].
    pub recycle: bool,
    mtu: usize,
}

/// Spare buffers kept per thread, at most.
pub const SPARE_MAX: usize = 2048;
/// A larger buffer (a TUN device's offloaded segment) is freed, not kept.
pub const SPARE_MAX_BYTES: usize = 2048;

thread_local! {
    /// The spare packet buffers of this thread's recycling devices.
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

impl QueueDevice {
    pub fn new(mtu: usize) -> Self {
        QueueDevice { rx: VecDeque::new(), tx: VecDeque::new(), recycle: false, mtu }
    }

    /// Asks the CPU to bring the bytes of the packet after the one about to be read into its
    /// cache, while the stack reads this one. A packet waits in its link for the path's delay,
    /// with megabytes of others sent after it, so it arrives out of the cache: without this,
    /// the first read of each (its IP header) waits on memory.
    pub fn prefetch_next(&self) {
        #[cfg(target_arch = "x86_64")]
        if let Some(next) = self.rx.get(1) {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            for line in next.chunks(64) {
                // SAFETY: SSE is part of x86-64's baseline, and a prefetch only hints: it reads
                // nothing the program sees and never faults, whatever the address.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
            }
        }
    }
}

impl phy::Device for QueueDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let packet = self.rx.pop_front()?;
        Some((RxToken { packet, recycle: self.recycle }, TxToken { tx: &mut self.tx, recycle: self.recycle }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        Some(TxToken { tx: &mut self.tx, recycle: self.recycle })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

/// A received packet; once read, its buffer is kept as a spare where the device recycles.
pub struct RxToken {
    packet: Vec<u8>,
    recycle: bool,
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.packet);
        if self.recycle && self.packet.capacity() <= SPARE_MAX_BYTES {
            SPARE.with_borrow_mut(|spare| {
                if spare.len() < SPARE_MAX {
                    spare.push(self.packet);
                }
            });
        }
        r
    }
}

/// Room for one packet to send: a spare buffer where the device recycles and there is one,
/// else a new one.
pub struct TxToken<'a> {
    tx: &'a mut VecDeque<Vec<u8>>,
    recycle: bool,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let spare = if self.recycle { SPARE.with_borrow_mut(Vec::pop) } else { None };
        let mut buf = match spare {
            Some(mut buf) => {
                buf.clear();
                buf.resize(len, 0);
                buf
            }
            None => vec![0; len],
        };
        let r = f(&mut buf);
        self.tx.push_back(buf);
        r
    }
}
