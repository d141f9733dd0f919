//! Hosts: one smoltcp [`Interface`] each, with its own queue-backed device.

pub mod device;

use std::net::Ipv4Addr;

use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketSet};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use crate::rng;
use crate::time::Instant;
pub use device::QueueDevice;

/// The MTU of every host interface, as on an Ethernet-attached Linux host.
pub const DEFAULT_MTU: usize = 1500;

/// A host on the lab network.
pub struct Host {
    pub name: String,
    pub addr: Ipv4Addr,
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    pub device: QueueDevice,
    /// An external host (the kernel behind a TUN device, in real time): its packets come and go
    /// through the device queues only; its smoltcp stack is never run.
    pub external: bool,
    /// External hosts: packets delivered to it, for the backend to hand over (write to the TUN).
    pub delivered: std::collections::VecDeque<Vec<u8>>,
}

impl Host {
    /// A host with address `addr`/24 and an interface MTU of `mtu`. Its smoltcp stack is seeded from the run seed and the
    /// host name, so ephemeral ports and initial sequence numbers are reproducible.
    pub fn new(name: &str, addr: Ipv4Addr, mtu: usize, seed: u64, now: Instant) -> Host {
        let mut device = QueueDevice::new(mtu);
        device.recycle = true;
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = rng::derive(seed, &format!("host:{name}"));
        let mut iface = Interface::new(config, &mut device, now.to_smoltcp());
        iface.update_ip_addrs(|addrs| {
            // Capacity is fixed by smoltcp; one address never exceeds it.
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(addr), 24));
        });
        Host {
            name: name.to_string(),
            addr,
            iface,
            sockets: SocketSet::new(Vec::new()),
            device,
            external: false,
            delivered: Default::default(),
        }
    }

    /// Processes one received packet, then sends whatever the stack has to send in
    /// response (ACKs above all). Returns false when there was nothing to receive.
    ///
    /// Taking packets one at a time is what makes ACK clocking right: a burst that
    /// arrives at one instant gets its ACKs one by one, as from a real receiver, instead of
    /// one ACK for the whole burst (design.md §2).
    pub fn ingress_one(&mut self, now: Instant) -> bool {
        if self.external {
            return match self.device.rx.pop_front() {
                Some(p) => {
                    self.delivered.push_back(p);
                    true
                }
                None => false,
            };
        }
        let at = now.to_smoltcp();
        match self.iface.poll_ingress_single(at, &mut self.device, &mut self.sockets) {
            PollIngressSingleResult::None => false,
            _ => {
                self.egress(now);
                true
            }
        }
    }

    /// Sends everything the stack is ready to send at `now`.
    pub fn egress(&mut self, now: Instant) {
        if self.external {
            return;
        }
        let at = now.to_smoltcp();
        self.iface.poll_maintenance(at);
        // Each call sends a bounded amount; loop until the stack has nothing more.
        for _ in 0..10_000 {
            if self.iface.poll_egress(at, &mut self.device, &mut self.sockets) == PollResult::None {
                break;
            }
        }
    }

    /// When the stack next wants to be polled (retransmission, delayed ACK, keepalive).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.external {
            return None;
        }
        self.iface.poll_at(now.to_smoltcp(), &self.sockets).map(Instant::from_smoltcp)
    }
}
