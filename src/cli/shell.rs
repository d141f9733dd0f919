//! `wirelab shell`: a real program on the kernel's own TCP, across the emulated link.
//!
//! The shell is a lab like any other, run by the same runner on the real-time backend: a plan
//! ([`SHELL_LAB`]) whose client is a kernel host (a network namespace whose only route is a
//! TUN device through the link model) and whose one step runs the user's command there, with
//! wirelab's terminal. On the other side are the lab's in-process servers (mahimahi-style):
//! HTTP on port 80 and HTTPS on 443 at `server.lab` (`GET /bytes/N` returns N bytes; the
//! certificate is the lab's self-signed one, so use `curl -k`), and DNS. With `--serve`, the
//! server is a kernel host too, running the given command. When the command exits, the
//! capture (`shell-N.pcapng`, N the first free number, with the TLS keys of the lab's server)
//! and the phases read off its packets are written, the namespaces are deleted, and wirelab
//! exits with the command's status.

use std::path::PathBuf;

use crate::backend::realtime::{self, netns};
use crate::runner::Clock;
use crate::script::plan::{self, ExecStdio, KernelServer, ScenarioPlan};
use crate::script::steps::Step;
use crate::script::{InputError, Lab};

use super::Failure;

/// The shell's lab: a client (the namespace), the lab's server at `server.lab`, and DNS (a
/// resolver the namespace's resolv.conf names, and the authority it asks, beside it). Its one
/// scenario is a placeholder `exec` step that [`plan`] fills with the user's command; the
/// client (and with `--serve` the server) are kernel hosts. A week is the longest a session
/// may last (the lab's largest `time_limit`).
const SHELL_LAB: &str = r#"
name = "shell"
title = "wirelab shell"

[params]
time_limit = "168h"

[[host]]
name = "client"
addr = "10.0.0.1"
role = "client"

[[host]]
name = "server"
addr = "10.0.0.2"
role = "server"

[[host]]
name = "resolver"
addr = "10.0.0.53"
role = "resolver"

[[host]]
name = "authority"
addr = "10.0.0.54"
role = "authority"

[dns]
names = { "server.lab" = "server" }
ttl = "60s"

[[scenario]]
name = "shell"
kernel = [KERNEL]
steps = [{ step = "exec", command = "true" }]
"#;

pub const SHELL_HELP: &str = "\
Runs CMD (default: $SHELL) in a fresh network namespace whose only route
crosses the emulated link to wirelab's own servers. Inside, these answer:
  http://server.lab/bytes/N, https://server.lab/bytes/N   N bytes (units
      allowed: 200KB) over HTTP/1.1; the certificate is self-signed, so
      curl -k
  server.lab = 10.0.0.2 (also answers ping); the resolver is 10.0.0.53
Nothing else is reachable. With --serve, server.lab is instead a second
namespace on the kernel's TCP, running the command you give. At exit: the
capture (TLS keys embedded) and the phases of the first connection, read
off the packets; wirelab exits with CMD's exit status. A session lasts a
week at most. Needs root or CAP_NET_ADMIN (sudo, or setcap
cap_net_admin,cap_sys_admin+ep on the binary).

Examples:
  sudo wirelab shell --link \"delay 20ms\" \\
      -- curl -sk https://server.lab/bytes/100000 -o /dev/null
  # an interactive shell behind the link
  sudo wirelab shell --link \"delay 50ms loss 1%\"
  sudo wirelab shell --link \"delay 25ms\" --serve \"exec iperf3 -s -1\" \\
      --snaplen 96 -- iperf3 -c 10.0.0.2";

#[derive(clap::Args, Debug)]
pub struct ShellArgs {
    /// --rtt, --loss and --link set the path between the namespace and server.lab (default: no
    /// delay, no loss); --link's words come last.
    #[command(flatten)]
    path: super::PathArgs,
    /// Seed for the link's randomness (loss, jitter) and the server's TLS.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = super::parse_seed)]
    seed: u64,
    /// Directory for the capture and key log: shell-N.pcapng and shell-N.keys, N the first
    /// number not taken, so a second run does not overwrite the first.
    #[arg(long, value_name = "DIR", default_value = "captures")]
    out: PathBuf,
    /// Make server.lab (10.0.0.2) the Linux kernel in a second namespace, running CMD there
    /// (e.g. "iperf3 -s"), instead of wirelab's in-process servers. Both ends are then real TCP.
    #[arg(long, value_name = "CMD")]
    serve: Option<String>,
    /// Keep only the first BYTES of each packet in the capture (0: whole packets), for long
    /// high-rate runs (iperf3 at gigabits per second) whose capture would not fit in memory.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    snaplen: usize,
    /// The command to run inside the namespace, after `--`.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// `shell-N`, N the first number with no `shell-N.pcapng` in `dir`.
fn free_name(dir: &std::path::Path) -> String {
    (1u32..)
        .map(|n| format!("shell-{n}"))
        .find(|base| !dir.join(format!("{base}.pcapng")).exists())
        .unwrap_or_else(|| "shell".to_string())
}

/// The shell's plan: [`SHELL_LAB`] with the path flags on the client–server path (and on the
/// client–resolver path, so that DNS crosses the same link), `command` as its one step,
/// wirelab's terminal as the command's, the server's command and the snap length.
fn plan(args: &ShellArgs) -> Result<ScenarioPlan, InputError> {
    let kernel = if args.serve.is_some() { r#""client", "server""# } else { r#""client""# };
    let lab = Lab::parse(&SHELL_LAB.replace("KERNEL", kernel), "wirelab shell")?;
    let mut p = plan::plan(&lab, 0, &args.path.overrides(Vec::new()))?;
    let (n, client, server) = (p.hosts.len(), p.client, p.server);
    let resolver = p.dns_host(crate::service::DnsHandler::Resolver).unwrap_or(server);
    p.links[client * n + resolver] = p.links[client * n + server].clone();
    p.links[resolver * n + client] = p.links[server * n + client].clone();
    let command = match args.command.split_first() {
        Some((program, rest)) => std::iter::once(program).chain(rest).map(|a| quote(a)).collect::<Vec<_>>().join(" "),
        None => quote(&std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into())),
    };
    // `exec`: the command replaces sh, so its exit status and signals are its own.
    p.steps = vec![Step::Exec { command: format!("exec {command}") }];
    p.exec_stdio = ExecStdio::Terminal;
    p.snaplen = args.snaplen;
    if let Some(cmd) = &args.serve {
        p.kernel_server = KernelServer::Command(cmd.clone());
    }
    Ok(p)
}

/// `word` as one sh(1) word: in single quotes, each quote in it written `'\''`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

pub fn run(args: ShellArgs) -> Result<i32, Failure> {
    let plan = plan(&args)?;
    if let Some(why) = netns::missing_access("shell") {
        return Err(InputError::new(why).into());
    }
    super::output::prepare_dir(&args.out)?;
    for name in netns::remove_stale() {
        eprintln!("wirelab: removed namespace {name} left by a run that did not finish");
    }
    realtime::install_signal_handlers();
    let out =
        crate::runner::run_scenario_on(&plan, args.seed, Clock::Realtime, &mut |_, _| {}).map_err(Failure::Run)?;

    let base = free_name(&args.out);
    let capture_path = args.out.join(format!("{base}.pcapng"));
    super::output::write_capture(&capture_path, &out.capture, &out.key_log).map_err(Failure::Run)?;
    if !out.key_log.is_empty() {
        let keys = args.out.join(format!("{base}.keys"));
        std::fs::write(&keys, &out.key_log)
            .map_err(|e| Failure::Run(anyhow::anyhow!("writing {}: {e}", keys.display())))?;
    }
    let t = &out.timeline;
    let metric = |name: &str| t.metrics.get(name).copied().unwrap_or(0.0);
    eprintln!(
        "wirelab shell: {:.1} s, {} packets through the link ({}), {} lost; capture in {}",
        metric("total_ms") / 1000.0,
        metric("frames"),
        t.link,
        metric("dropped"),
        capture_path.display()
    );
    // A command's own exit status is its business (it is passed on below); anything else
    // that stopped the run is said.
    if let (Some(error), None) = (&t.error, t.metrics.get("exit_code")) {
        eprintln!("   {error}");
    }
    let rtt_ms = plan.rtt().as_secs_f64() * 1000.0;
    let phases: Vec<_> = t.phases.iter().filter(|p| p.id != "exec").collect();
    if !phases.is_empty() {
        eprintln!("   the first connection, read off the packets (1 RTT = {rtt_ms} ms):");
        for p in phases {
            let rtts = p.rtts.map_or("-".to_string(), |r| format!("{r:.2}"));
            eprintln!("   {:<15} {:>9.3} ms {:>6} RTTs   {}", p.id, p.duration_ms().unwrap_or(f64::NAN), rtts, p.label);
        }
    }
    // The command's own exit status; a run stopped by a signal exits as a shell would report it.
    let code = t.metrics.get("exit_code").map(|&c| c as i32);
    Ok(code.or_else(realtime::signal_exit_status).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        shell: ShellArgs,
    }

    fn planned(args: &[&str]) -> ScenarioPlan {
        plan(&Cli::parse_from(std::iter::once("wirelab").chain(args.iter().copied())).shell).unwrap()
    }

    #[test]
    fn the_shell_is_a_plan_with_the_command_as_its_step() {
        let p = planned(&[
            "--rtt",
            "30ms",
            "--loss",
            "1%",
            "--serve",
            "iperf3 -s",
            "--snaplen",
            "96",
            "--",
            "curl",
            "it's",
        ]);
        assert_eq!(p.steps, [Step::Exec { command: r"exec 'curl' 'it'\''s'".into() }]);
        assert_eq!(p.kernel, [p.client, p.server]);
        assert_eq!(p.kernel_server, KernelServer::Command("iperf3 -s".into()));
        assert_eq!((p.snaplen, p.exec_stdio), (96, ExecStdio::Terminal));
        assert_eq!(p.rtt(), Duration::from_millis(30));
        assert_eq!(p.hosts[p.server].addr, std::net::Ipv4Addr::new(10, 0, 0, 2));
        // DNS crosses the same link as the rest; the resolver's own lookups cost nothing.
        let resolver = p.dns_host(crate::service::DnsHandler::Resolver).unwrap();
        let authority = p.dns_host(crate::service::DnsHandler::Authority).unwrap();
        assert_eq!(p.link(p.client, resolver), p.link(p.client, p.server));
        assert_eq!(p.link(resolver, p.client), p.link(p.server, p.client));
        assert_eq!(p.link(resolver, authority).delay, Duration::ZERO);
        assert_eq!(p.time_limit, Duration::from_secs(168 * 3600));
    }

    #[test]
    fn without_serve_the_server_is_the_labs_own() {
        let p = planned(&[]);
        assert_eq!(p.kernel, [p.client]);
        assert_eq!((&p.kernel_server, p.snaplen), (&KernelServer::LabHttp, 0));
        assert_eq!(p.rtt(), Duration::ZERO);
    }

    #[test]
    fn quoted_words_reach_the_program_unchanged() {
        let words = ["plain", "two words", "it's", r"back\slash", "$HOME", "*", ""];
        let quoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s|' {}", quoted.join(" ")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), words.map(|w| format!("{w}|")).concat());
    }
}
