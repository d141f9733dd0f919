//! A scenario's kernel hosts on the real-time backend: one namespace and TUN device each, the
//! lab's server (or the plan's command) running on the kernel's sockets inside, and the route
//! attributes the lab asks for (`initial_window` becomes the route's `initcwnd`).

use std::io;
use std::time::Duration;

use super::kernel_server::KernelServer;
use super::netns::{Job, Namespace};
use super::Port;
use crate::proto::cwnd::Congestion;
use crate::script::plan::{self, ScenarioPlan};
use crate::sim::network::Network;

/// How long a server command may take to start listening before the run goes on anyway.
const LISTEN_WAIT: Duration = Duration::from_secs(3);
/// A server command's time to finish (an iperf3 its report) after SIGTERM, before SIGKILL.
const COMMAND_GRACE: Duration = Duration::from_secs(2);

/// The kernel hosts of one run; dropping this stops their servers and deletes their namespaces.
pub struct KernelHosts {
    // Field order is drop order: servers stop before their namespaces go.
    servers: Vec<KernelServer>,
    commands: Vec<Job>,
    hosts: Vec<(usize, Namespace)>,
}

impl KernelHosts {
    /// Creates a namespace for every kernel host of `plan` and marks the host external in `net`
    /// (its packets now come from and go to the TUN device, not a smoltcp stack).
    pub fn start(plan: &ScenarioPlan, net: &mut Network) -> io::Result<KernelHosts> {
        let mut me = KernelHosts { servers: Vec::new(), commands: Vec::new(), hosts: Vec::new() };
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
                match &plan.kernel_server {
                    plan::KernelServer::LabHttp => me.servers.push(KernelServer::start(ns, &plan.kernel_cc)?),
                    plan::KernelServer::Command(cmd) => me
                        .commands
                        .push(start_command(ns, cmd).map_err(|e| io::Error::new(e.kind(), format!("`{cmd}`: {e}")))?),
                }
            }
        }
        Ok(me)
    }

    /// The relay's ports: each kernel host's TUN device.
    pub fn ports(&mut self) -> Vec<Port<'_>> {
        self.hosts.iter_mut().map(|(h, ns)| Port { host: *h, tun: &mut ns.tun }).collect()
    }
}

/// Runs the server command `cmd` in `ns`, its output to stderr (so that the client command's
/// stdout stays its own), and waits until something listens in the namespace (up to
/// [`LISTEN_WAIT`]): a client that connected first would be refused.
fn start_command(ns: &Namespace, cmd: &str) -> io::Result<Job> {
    let to_stderr = std::os::fd::AsFd::as_fd(&io::stderr()).try_clone_to_owned()?;
    let mut job = Job::start(&ns.name, cmd, to_stderr.into(), COMMAND_GRACE)?;
    let started = std::time::Instant::now();
    while started.elapsed() < LISTEN_WAIT {
        if let Some(status) = job.try_wait()? {
            return Err(io::Error::other(format!("the command exited at once ({status})")));
        }
        let listening = ns.command("ss", &["-Hltnu".to_string()]).output()?;
        if !listening.stdout.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(job)
}
