//! Network namespaces and TUN devices that wirelab creates for real-time runs, and removes.
//!
//! Safety rules (README, "Real-time mode"): every namespace is named `wl<pid>` or
//! `wl<pid>-<tag>` after the process that owns it, and its TUN device `wl<pid>t<tag>`; the TUN
//! is created in wirelab's namespace, moved into the new namespace and given the lab's address
//! there, with the TUN as its only route. Packets from the namespace can therefore only reach
//! wirelab's relay, which delivers them to the lab's other hosts (in-process, or another
//! namespace of the same run) and nowhere else. The namespace (and with it the TUN device) is
//! deleted when the [`Namespace`] is dropped, on error, and after Ctrl-C or SIGTERM; one left
//! behind by a crashed run (its pid no longer alive) is deleted at the next start.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::{Command, Stdio};

/// Whether this process may create namespaces and TUN devices (root, or CAP_NET_ADMIN).
pub fn have_net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).map(str::trim).unwrap_or("0");
    u64::from_str_radix(eff, 16).is_ok_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// Why this process cannot create kernel hosts, if it cannot: a message that says what to run.
pub fn missing_access(what: &str) -> Option<String> {
    if !have_net_admin() {
        return Some(format!(
            "{what}: needs root or CAP_NET_ADMIN to create a network namespace and a TUN device \
             (run it with sudo, or: sudo setcap cap_net_admin,cap_sys_admin+ep $(which wirelab))"
        ));
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some(format!("{what}: /dev/net/tun is missing (load the tun module: modprobe tun)"));
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some(format!("{what}: the `ip` command is missing (install iproute2)"));
    }
    None
}

/// Runs `ip` with `args`; an error names the command.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// The owning pid of a namespace named like wirelab's: `wl<pid>`, or `wl<pid>-<tag>` with an
/// alphanumeric tag.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("wl")?;
    let (pid, tag) = rest.split_once('-').unwrap_or((rest, "a"));
    if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    pid.parse().ok()
}

/// Deletes namespaces named like wirelab's whose process is gone (left by a crashed run).
pub fn remove_stale() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().map(|o| o.stdout).unwrap_or_default();
    let mut removed = Vec::new();
    for line in String::from_utf8_lossy(&out).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = owner(name) else { continue };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            if ip(&["netns", "del", name]).is_ok() {
                removed.push(name.to_string());
            }
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{name}"));
        }
    }
    removed
}

/// The name of this process's namespace with `tag`: `wl<pid>`, or `wl<pid>-<tag>`.
pub fn name(tag: &str) -> String {
    let pid = std::process::id();
    if tag.is_empty() {
        format!("wl{pid}")
    } else {
        format!("wl{pid}-{tag}")
    }
}

/// A namespace with one TUN device, owned by this process.
pub struct Namespace {
    pub name: String,
    pub device: String,
    pub tun: File,
}

impl Namespace {
    /// Creates `wl<pid>` (or `wl<pid>-<tag>`) with a TUN device addressed `addr`/32, whose only
    /// route is the TUN, and `nameserver` in its resolv.conf (`ip netns exec` bind-mounts it).
    /// `tag` is at most 3 alphanumeric characters (device names are limited to 15).
    pub fn create(tag: &str, addr: Ipv4Addr, nameserver: Ipv4Addr) -> io::Result<Namespace> {
        let pid = std::process::id();
        let name = name(tag);
        let device = format!("wl{pid}t{tag}");
        ip(&["netns", "add", &name])?;
        // From here on, Drop removes what exists.
        let tun = match open_tun(&device) {
            Ok(t) => t,
            Err(e) => {
                let _ = ip(&["netns", "del", &name]);
                return Err(e);
            }
        };
        let ns = Namespace { name, device, tun };
        // A /32: no connected subnet route, so the default route (the TUN) carries everything,
        // and route attributes such as initcwnd set on it apply to every peer.
        let cidr = format!("{addr}/32");
        ip(&["link", "set", &ns.device, "netns", &ns.name])?;
        ip(&["-n", &ns.name, "addr", "add", &cidr, "dev", &ns.device])?;
        // A deep transmit queue: the kernel's bursts (slow start, a window opening) wait there
        // for the relay instead of being dropped before they reach the emulated link.
        ip(&["-n", &ns.name, "link", "set", &ns.device, "txqueuelen", "10000", "up"])?;
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns.name, "route", "add", "default", "dev", &ns.device])?;
        let dir = format!("/etc/netns/{}", ns.name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(format!("{dir}/resolv.conf"), format!("nameserver {nameserver}\n"))?;
        Ok(ns)
    }

    /// Sets route attributes on the namespace's default route, e.g. `["initcwnd", "4"]`
    /// (ip-route(8): the initial congestion window of connections that use the route).
    pub fn set_route(&self, attrs: &[&str]) -> io::Result<()> {
        let mut args = vec!["-n", &self.name, "route", "change", "default", "dev", &self.device];
        args.extend_from_slice(attrs);
        ip(&args)
    }

    /// Runs `f` on a new thread that has joined this namespace, so that the sockets it opens
    /// belong to the namespace's kernel stack (setns(2) changes only the calling thread).
    pub fn spawn_inside<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<std::thread::JoinHandle<io::Result<T>>> {
        let ns = File::open(format!("/run/netns/{}", self.name))?;
        Ok(std::thread::spawn(move || {
            // SAFETY: setns on an fd we opened; it affects only this new thread.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            drop(ns);
            f()
        }))
    }

    /// A command that runs `program args` inside the namespace.
    pub fn command(&self, program: &str, args: &[String]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]).args(args);
        c
    }
}

/// A shell command (`sh -c`) running inside a namespace, normally in a process group of its
/// own. Dropping it stops the whole group: SIGTERM, then SIGKILL after its grace period.
/// Whatever the shell started goes too, so nothing keeps a namespace alive after wirelab
/// deletes it. An attached job ([`Job::attached`]) has the terminal instead, and only it is
/// stopped.
pub struct Job {
    child: std::process::Child,
    grace: std::time::Duration,
    /// In wirelab's own process group (and terminal): signal the command alone, not a group.
    attached: bool,
}

impl Job {
    /// Starts `sh -c command` in the namespace named `ns`, stdin closed, stdout to `stdout`.
    pub fn start(ns: &str, command: &str, stdout: Stdio, grace: std::time::Duration) -> io::Result<Job> {
        use std::os::unix::process::CommandExt;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", command])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(stdout)
            .spawn()?;
        Ok(Job { child, grace, attached: false })
    }

    /// Starts `sh -c command` in the namespace named `ns` with wirelab's own standard streams,
    /// in wirelab's process group: an interactive shell takes the terminal as it would
    /// anywhere (it puts itself and each job it runs in groups of their own), and a Ctrl-C on a
    /// plain command reaches the command and wirelab together, as in any pipeline.
    pub fn attached(ns: &str, command: &str, grace: std::time::Duration) -> io::Result<Job> {
        let child = Command::new("ip").args(["netns", "exec", ns, "sh", "-c", command]).spawn()?;
        Ok(Job { child, grace, attached: true })
    }

    /// The exit status, once the shell has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.attached {
            // Once reaped, its pid may be someone else's: signal only a command still running.
            if let Ok(None) = self.child.try_wait() {
                // SAFETY: signalling our own child, not yet reaped.
                unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
                let deadline = std::time::Instant::now() + self.grace;
                while std::time::Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
            return;
        }
        // The group's id is the shell's pid; signalling an empty group does nothing.
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: signalling the process group this job leads.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + self.grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace destroys the TUN device that lives in it.
        let _ = ip(&["netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}

/// Opens a new TUN device `name` (IFF_TUN | IFF_NO_PI | IFF_VNET_HDR: raw IPv4 packets after a
/// virtio-net header, with TCP segmentation offload), non-blocking.
fn open_tun(name: &str) -> io::Result<File> {
    let path = CString::new("/dev/net/tun").map_err(io::Error::other)?;
    // SAFETY: plain libc calls on a path we own; the fd is checked and wrapped at once.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by this File from now on.
    let file = unsafe { File::from_raw_fd(fd) };
    // SAFETY: `ifreq` is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes().take(libc::IFNAMSIZ - 1)) {
        *dst = src as libc::c_char;
    }
    // IFF_VNET_HDR: every frame starts with a virtio-net header (see `super::offload`).
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
    // SAFETY: TUNSETIFF takes a pointer to an ifreq, which lives across the call.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // Checksum and TCPv4 segmentation offload: the kernel hands over whole send bursts, which
    // the relay cuts into packets (and joins again on the way back).
    const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
    const TUN_F_CSUM: libc::c_ulong = 1;
    const TUN_F_TSO4: libc::c_ulong = 2;
    // SAFETY: TUNSETOFFLOAD takes the flags by value.
    if unsafe { libc::ioctl(file.as_raw_fd(), TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::owner;

    #[test]
    fn only_wirelab_names_have_an_owner() {
        assert_eq!(owner("wl123"), Some(123));
        assert_eq!(owner("wl123-1"), Some(123));
        assert_eq!(owner("wl123-srv"), Some(123));
        assert_eq!(owner("wl123-"), None);
        assert_eq!(owner("wl123-a b"), None);
        assert_eq!(owner("wlan0"), None);
        assert_eq!(owner("blue"), None);
    }
}
