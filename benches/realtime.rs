//! Real-time benchmarks: how exactly the wall-clock relay keeps the configured delay, how fast
//! it moves the kernel's packets, and that jitter keeps packet order. Needs root (namespaces
//! and TUN devices), ping (iputils-ping) and iperf3; `scripts/bench` installs them. Without
//! them it prints why and measures nothing.
//!
//! Output: `name: value` lines on stdout.
//!
//! - `ping_rtt_error_median_ms`, `ping_rtt_error_p99_ms`: 300 pings (every 10 ms) from a
//!   kernel namespace to the in-process server through `delay 25ms` each way, the error of
//!   ping's own RTT against the configured 50 ms (target: p99 <= 0.5 ms).
//! - `iperf3_gbps`: iperf3 between two kernel namespaces through the link with no impairment,
//!   5 s, the kernel's default congestion control, the capture cut to 96 bytes a packet
//!   (target: >= 1.5 Gbit/s where a minimal relay reaches about 1.8).
//! - `iperf3_minimal_relay_gbps`: the same iperf3 through a minimal relay that passes frames
//!   (64 KB offload bursts included) from one TUN to the other unchanged, the ceiling of this
//!   machine's TUN path; `iperf3_vs_minimal_relay` is the ratio (wirelab also cuts every burst
//!   into packets, runs them through the link and the capture, and joins them again).
//! - `iperf3_delay25ms_gbps`: iperf3 with `delay 25ms` each way, socket buffers up to 64 MiB,
//!   8 s (target: >= 1 Gbit/s).
//! - `jitter_reordered_replies`: 300 pings through `delay 25ms 5ms`: replies that came back
//!   before an earlier one (expected 0: jitter keeps order, as netem's does since Linux 3.x);
//!   `reorder_reordered_replies`: the same with `reorder 25%` (expected > 0).

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wirelab::backend::realtime::netns::{missing_access, Namespace};

const WIRELAB: &str = env!("CARGO_BIN_EXE_wirelab");
/// Socket buffers large enough for 1 Gbit/s over 50 ms (6.25 MB in flight), in both namespaces.
const BIG_BUFFERS: &str = "sysctl -qw net.ipv4.tcp_rmem='4096 131072 67108864' net.ipv4.tcp_wmem='4096 16384 67108864'";

fn main() {
    if let Some(why) = missing_access("realtime benchmarks") {
        println!("# skipping: {why}");
        return;
    }
    for tool in ["ping", "iperf3"] {
        if Command::new(tool).arg("-V").output().is_err() {
            println!("# skipping: {tool} is not installed (scripts/bench installs it)");
            return;
        }
    }
    println!("# wirelab real-time relay (name: value)");
    let out = tempfile::TempDir::new().expect("temp dir");
    let dir = out.path().to_str().expect("utf-8 temp dir").to_string();

    let rtts = ping(&dir, "delay 25ms", 300);
    let mut errors: Vec<f64> = rtts.iter().map(|r| (r - 50.0).abs()).collect();
    errors.sort_by(f64::total_cmp);
    println!("ping_replies: {}", rtts.len());
    println!("ping_rtt_error_median_ms: {:.3}", percentile(&errors, 50.0));
    println!("ping_rtt_error_p99_ms: {:.3}", percentile(&errors, 99.0));

    let plain = iperf3(&dir, "delay 0ms", "", 5);
    let minimal = minimal_relay_iperf3(5);
    println!("iperf3_gbps: {plain:.2}");
    println!("iperf3_minimal_relay_gbps: {minimal:.2}");
    println!("iperf3_vs_minimal_relay: {:.2}", plain / minimal);
    println!("iperf3_delay25ms_gbps: {:.2}", iperf3(&dir, "delay 25ms", BIG_BUFFERS, 8));

    println!("jitter_reordered_replies: {}", inversions(&ping_seqs(&dir, "delay 25ms 5ms", 300)));
    println!("reorder_reordered_replies: {}", inversions(&ping_seqs(&dir, "delay 25ms reorder 25%", 300)));
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    wirelab::timeline::percentile(sorted, p).unwrap_or(f64::NAN)
}

/// Runs `wirelab shell --link LINK ... -- CMD` and returns its stdout.
fn shell(dir: &str, link: &str, extra: &[&str], cmd: &[&str]) -> String {
    let out = Command::new(WIRELAB)
        .args(["shell", "--link", link, "--out", dir])
        .args(extra)
        .arg("--")
        .args(cmd)
        .stderr(Stdio::inherit())
        .output()
        .expect("cannot start wirelab");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// ping's reply lines: (icmp_seq, time in ms).
fn ping_lines(dir: &str, link: &str, count: u32) -> Vec<(u32, f64)> {
    let text = shell(dir, link, &[], &["ping", "-n", "-c", &count.to_string(), "-i", "0.01", "10.0.0.2"]);
    text.lines()
        .filter_map(|l| {
            let seq = l.split("icmp_seq=").nth(1)?.split_whitespace().next()?.parse().ok()?;
            let time = l.split("time=").nth(1)?.split_whitespace().next()?.parse().ok()?;
            Some((seq, time))
        })
        .collect()
}

fn ping(dir: &str, link: &str, count: u32) -> Vec<f64> {
    ping_lines(dir, link, count).into_iter().map(|(_, t)| t).collect()
}

fn ping_seqs(dir: &str, link: &str, count: u32) -> Vec<u32> {
    ping_lines(dir, link, count).into_iter().map(|(s, _)| s).collect()
}

/// Replies that arrived after a reply with a higher sequence number.
fn inversions(seqs: &[u32]) -> usize {
    let mut highest = 0;
    seqs.iter()
        .filter(|&&s| {
            let late = s < highest;
            highest = highest.max(s);
            late
        })
        .count()
}

/// iperf3 from the shell's namespace to a `--serve` namespace, in Gbit/s received.
fn iperf3(dir: &str, link: &str, setup: &str, seconds: u32) -> f64 {
    let pre = if setup.is_empty() { String::new() } else { format!("{setup}; ") };
    let serve = format!("{pre}exec iperf3 -s -1");
    let client = format!("{pre}iperf3 -J -c 10.0.0.2 -t {seconds}");
    let json = shell(dir, link, &["--serve", &serve, "--snaplen", "96"], &["sh", "-c", &client]);
    received_gbps(&json)
}

fn received_gbps(iperf_json: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(iperf_json).unwrap_or_default();
    v["end"]["sum_received"]["bits_per_second"].as_f64().unwrap_or(0.0) / 1e9
}

/// The ceiling: two namespaces joined by a loop that reads one TUN and writes the other.
fn minimal_relay_iperf3(seconds: u32) -> f64 {
    let a = Namespace::create("ma", Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::LOCALHOST).expect("namespace");
    let b = Namespace::create("mb", Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::LOCALHOST).expect("namespace");
    let mut server = b
        .command("iperf3", &["-s".into(), "-1".into()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3");
    std::thread::sleep(Duration::from_millis(300));
    let args: Vec<String> = ["-J", "-c", "10.0.0.2", "-t", &seconds.to_string()].map(String::from).to_vec();
    let mut client = a.command("iperf3", &args).stdout(Stdio::piped()).spawn().expect("iperf3");
    let mut stdout = client.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let mut buf = vec![0u8; 65536 + wirelab::backend::realtime::offload::VNET_HDR_LEN];
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 10);
    while Instant::now() < deadline && client.try_wait().ok().flatten().is_none() {
        let mut fds =
            [a.tun.as_raw_fd(), b.tun.as_raw_fd()].map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
        // SAFETY: two pollfds that live across the call.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, 20) };
        for (mut from, mut to) in [(&a.tun, &b.tun), (&b.tun, &a.tun)] {
            for _ in 0..256 {
                let Ok(n) = from.read(&mut buf) else { break };
                let _ = to.write(&buf[..n]);
            }
        }
    }
    let _ = client.kill();
    let _ = server.kill();
    let _ = (client.wait(), server.wait());
    received_gbps(&reader.join().unwrap_or_default())
}
