//! A smoltcp device whose wire is a pair of queues.
//!
//! The network moves packets between hosts by pushing into `rx` and draining `tx`; the
//! device itself knows nothing about time or links. Framing is raw IPv4 (`Medium::Ip`),
//! the same as a TUN device and pcap's LINKTYPE_RAW.

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
    mtu: usize,
}

impl QueueDevice {
    pub fn new(mtu: usize) -> Self {
        QueueDevice { rx: VecDeque::new(), tx: VecDeque::new(), mtu }
    }
}

impl phy::Device for QueueDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let packet = self.rx.pop_front()?;
        Some((RxToken(packet), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        Some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

pub struct RxToken(Vec<u8>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

pub struct TxToken<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}
