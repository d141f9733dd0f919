//! `wirelab annotate`: comments and a per-connection timeline for a capture made elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Failure;
use crate::script::InputError;
use crate::timeline::from_capture::annotate_file::{self, Annotated};
use crate::timeline::from_capture::connections::ConnectionTimeline;
use crate::timeline::from_capture::emit_lab;
use crate::timeline::{table, LabTimeline, Scenario};

pub const ANNOTATE_HELP: &str = "\
Reads a pcap or pcapng file made by any tool (tcpdump, Wireshark, dumpcap; Ethernet, VLAN,
Linux cooked SLL/SLL2, raw IP or BSD loopback; IPv4 and IPv6) and writes a copy in which every
frame carries one more comment: its TCP connection, the phase it belongs to (TCP handshake,
TLS handshake, request, response), TCP events (retransmission, keepalive probe, reset),
what it carries (TLS records, HTTP start lines, DNS), bytes that were never captured before it,
and on the handshake's last packet the round-trip time the handshake shows. Timestamps,
interfaces and existing comments are kept. Frames that are not IP are kept and say what they are.

It then prints each connection's timeline in ms and in RTTs, the RTT estimated from its own
handshake (the last SYN to the client's ACK of the SYN/ACK: one round trip at any point on the path).

Examples:
  sudo tcpdump -i any -w trace.pcap 'port 443'     # then, in another shell: curl https://...
  wirelab annotate trace.pcap                         # writes trace-annotated.pcapng
  wirelab annotate trace.pcapng -o /tmp/a.pcapng --keys $SSLKEYLOGFILE
  wirelab annotate trace.pcap --json > timeline.json
  wirelab annotate trace.pcap --emit-lab replay.toml && wirelab run replay.toml

Exit status: 0 annotated; 2 the input cannot be read as pcap/pcapng (the message says where);
1 the output could not be written.";

#[derive(clap::Args, Debug)]
pub struct AnnotateArgs {
    /// The capture to read: pcap or pcapng.
    input: PathBuf,
    /// Where to write the annotated pcapng (default: <input>-annotated.pcapng beside it).
    #[arg(short = 'o', long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// A TLS key log (SSLKEYLOGFILE format) to embed, so Wireshark decrypts with no setup.
    #[arg(long, value_name = "KEYLOG")]
    keys: Option<PathBuf>,
    /// Print the timeline as wirelab's JSON (schema 1) instead of a table.
    #[arg(long)]
    json: bool,
    /// Write a lab file that replays the first complete connection's path: its RTT, its
    /// losses as scripted drops, its bottleneck rate (run it with `wirelab run FILE`).
    #[arg(long, value_name = "FILE")]
    emit_lab: Option<PathBuf>,
}

pub fn run(args: AnnotateArgs) -> Result<i32, Failure> {
    let out = args.out.clone().unwrap_or_else(|| default_output(&args.input));
    if same_file(&args.input, &out) {
        let shown = out.display();
        return Err(InputError::new(format!("annotate: -o {shown} is the input: write the copy elsewhere")).into());
    }
    let keys = match &args.keys {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| InputError::new(format!("annotate --keys {}: cannot read it: {e}", path.display())))?,
        ),
        None => None,
    };
    let annotated = match annotate_file::annotate(&args.input, &out, keys.as_deref()) {
        Ok(a) => a,
        Err(e) if e.is_bad_input() => {
            let _ = std::fs::remove_file(&out);
            return Err(InputError::new(format!("annotate {e}")).into());
        }
        Err(e) => return Err(Failure::Run(anyhow::anyhow!("annotate {e}"))),
    };
    let timeline = timeline(&args.input, &out, &annotated);
    if let Some(lab) = &args.emit_lab {
        let Some(c) = annotated.connections.iter().find(|c| c.rtt_ms.is_some()) else {
            let shown = args.input.display();
            return Err(InputError::new(format!(
                "annotate {shown} --emit-lab: no connection with a whole handshake to replay"
            ))
            .into());
        };
        let source = args.input.file_name().map_or(String::new(), |f| f.to_string_lossy().into_owned());
        crate::cli::output::write_atomic(lab, emit_lab::lab_file(c, &source).as_bytes()).map_err(Failure::Run)?;
        eprintln!("wrote {} (connection {}: replay it with wirelab run {})", lab.display(), c.number, lab.display());
    }
    if args.json {
        out!("{}", timeline.to_json());
    } else {
        outln!(
            "{}: {} frames ({} not IP), {} TCP connection(s) with their SYN; wrote {}\n",
            args.input.display(),
            annotated.frames,
            annotated.not_ip,
            annotated.connections.len(),
            out.display()
        );
        for s in &timeline.scenarios {
            outln!("{}", table::scenario(s));
        }
    }
    Ok(0)
}

/// `trace.pcap` -> `trace-annotated.pcapng`, beside it.
fn default_output(input: &Path) -> PathBuf {
    let stem = input.file_stem().map_or("capture".into(), |s| s.to_string_lossy().into_owned());
    input.with_file_name(format!("{stem}-annotated.pcapng"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The connections as a lab timeline (schema 1): one scenario per connection, named `conn-N`,
/// times in ms since the capture's first frame. `rtt_ms` is the first connection's estimate.
fn timeline(input: &Path, out: &Path, a: &Annotated) -> LabTimeline {
    let capture = out.file_name().map_or(String::new(), |f| f.to_string_lossy().into_owned());
    let scenarios = a.connections.iter().map(|c| scenario(c, &capture)).collect();
    LabTimeline {
        schema: 1,
        lab: "annotate".into(),
        title: format!("Connections in {}", input.display()),
        description: String::new(),
        seed: 0,
        backend: "capture".into(),
        rtt_ms: a.connections.iter().find_map(|c| c.rtt_ms).unwrap_or(0.0),
        params: BTreeMap::new(),
        scenarios,
        size_sweep: Vec::new(),
        loss_table: Vec::new(),
        theory: Vec::new(),
    }
}

fn scenario(c: &ConnectionTimeline, capture: &str) -> Scenario {
    let mut metrics = BTreeMap::new();
    metrics.insert("frames".to_string(), c.frames as f64);
    if let Some(rtt) = c.rtt_ms {
        metrics.insert("rtt_ms".to_string(), rtt);
    }
    metrics.insert("client_bytes".to_string(), c.bytes[0] as f64);
    metrics.insert("server_bytes".to_string(), c.bytes[1] as f64);
    let rtt = c.rtt_ms.map_or("RTT unknown: the handshake was not captured whole".to_string(), |r| {
        format!("RTT {r:.3} ms, from its handshake")
    });
    Scenario {
        name: format!("conn-{}", c.number),
        title: format!("{} -> {}", c.client, c.server),
        params: Vec::new(),
        capture: Some(capture.to_string()),
        congestion: "as captured".into(),
        link: rtt,
        phases: c.phases.clone(),
        events: Vec::new(),
        metrics,
        rounds: Vec::new(),
        streams: Vec::new(),
        latency_cdf: Vec::new(),
        breakdown: Vec::new(),
        hops: Vec::new(),
        failover_seconds: Vec::new(),
        note: String::new(),
        expectations: Vec::new(),
        error: None,
        warnings: Vec::new(),
    }
}
