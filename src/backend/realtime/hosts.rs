//! A scenario's kernel hosts on the real-time backend: one namespace and TUN device each, the
//! lab's server running on the kernel's sockets inside, and the route attributes the lab asks
//! for (`initial_window` becomes the route's `initcwnd`).

use std::io;

use super::kernel_server::KernelServer;
use super::netns::Namespace;
use super::Port;
use crate::proto::cwnd::Congestion;
use crate::script::plan::ScenarioPlan;
use crate::sim::network::Network;

/// The kernel hosts of one run; dropping this stops their servers and deletes their namespaces.
pub struct KernelHosts {
    // Field order is drop order: servers stop before their namespaces go.
    servers: Vec<KernelServer>,
    hosts: Vec<(usize, Namespace)>,
}

impl KernelHosts {
    /// Creates a namespace for every kernel host of `plan` and marks the host external in `net`
    /// (its packets now come from and go to the TUN device, not a smoltcp stack).
    pub fn start(plan: &ScenarioPlan, net: &mut Network) -> io::Result<KernelHosts> {
        let mut me = KernelHosts { servers: Vec::new(), hosts: Vec::new() };
        // The resolver the namespace's resolv.conf names: the lab's, else nobody (127.0.0.1).
        let resolver = plan
            .dns_host(crate::service::DnsHandler::Resolver)
            .map_or(std::net::Ipv4Addr::LOCALHOST, |h| plan.hosts[h].addr);
        for &h in &plan.kernel {
            let ns = Namespace::create(&h.to_string(), plan.hosts[h].addr, resolver)?;
            if let Congestion::InitialWindow { segments } = plan.tcp.congestion {
                ns.set_route(&["initcwnd", &segments.to_string()])?;
            }
            net.hosts[h].external = true;
            me.hosts.push((h, ns));
        }
        for (h, ns) in &me.hosts {
            if *h == plan.server {
                me.servers.push(KernelServer::start(ns, &plan.kernel_cc)?);
            }
        }
        Ok(me)
    }

    /// The relay's ports: each kernel host's TUN device.
    pub fn ports(&mut self) -> Vec<Port<'_>> {
        self.hosts.iter_mut().map(|(h, ns)| Port { host: *h, tun: &mut ns.tun }).collect()
    }
}
