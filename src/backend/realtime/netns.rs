//! Network namespaces and TUN devices that wirelab creates for real-time runs, and removes.
//!
//! Safety rules (README, "Real-time mode"): every namespace is named `wl<pid>` after the
//! process that owns it; its TUN device is created in wirelab's namespace, moved into the new
//! namespace and given the lab's address there, with the TUN as its only route. Packets from
//! the namespace can therefore only reach wirelab's relay, which delivers them to in-process
//! hosts and nowhere else. The namespace (and with it the TUN device) is deleted when the
//! [`Namespace`] is dropped, on error, and after Ctrl-C or SIGTERM; one left behind by a crashed
//! run (its pid no longer alive) is deleted at the next start.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::Command;

/// Whether this process may create namespaces and TUN devices (root, or CAP_NET_ADMIN).
pub fn have_net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).map(str::trim).unwrap_or("0");
    u64::from_str_radix(eff, 16).is_ok_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
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

/// Deletes namespaces named `wl<pid>` whose process is gone (left by a crashed run).
pub fn remove_stale() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().map(|o| o.stdout).unwrap_or_default();
    let mut removed = Vec::new();
    for line in String::from_utf8_lossy(&out).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name.strip_prefix("wl").and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            if ip(&["netns", "del", name]).is_ok() {
                removed.push(name.to_string());
            }
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{name}"));
        }
    }
    removed
}

/// A namespace with one TUN device, owned by this process.
pub struct Namespace {
    pub name: String,
    pub device: String,
    pub tun: File,
}

impl Namespace {
    /// Creates `wl<pid>` with a TUN device addressed `addr`/24, whose only route is the TUN,
    /// and `nameserver` in its resolv.conf (`ip netns exec` bind-mounts it).
    pub fn create(addr: Ipv4Addr, nameserver: Ipv4Addr) -> io::Result<Namespace> {
        let pid = std::process::id();
        let name = format!("wl{pid}");
        let device = format!("wl{pid}t");
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
        let cidr = format!("{addr}/24");
        ip(&["link", "set", &ns.device, "netns", &ns.name])?;
        ip(&["-n", &ns.name, "addr", "add", &cidr, "dev", &ns.device])?;
        ip(&["-n", &ns.name, "link", "set", &ns.device, "up"])?;
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns.name, "route", "add", "default", "dev", &ns.device])?;
        let dir = format!("/etc/netns/{}", ns.name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(format!("{dir}/resolv.conf"), format!("nameserver {nameserver}\n"))?;
        Ok(ns)
    }

    /// A command that runs `program args` inside the namespace.
    pub fn command(&self, program: &str, args: &[String]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]).args(args);
        c
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace destroys the TUN device that lives in it.
        let _ = ip(&["netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}

/// Opens a new TUN device `name` (IFF_TUN | IFF_NO_PI: raw IPv4 packets, no header), non-blocking.
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
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF takes a pointer to an ifreq, which lives across the call.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}
