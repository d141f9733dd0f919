//! `wirelab annotate --emit-lab`: a lab file that puts a measured connection's path on the
//! emulated link, so the same losses can be replayed with another protocol or setting ("what
//! would HTTP/3 have done on this path?").
//!
//! From one connection it takes the round trip its handshake showed, each data segment that
//! never reached the capture point as a scripted drop (the nth data segment of that
//! direction), and, where full-size segments arrived evenly spaced, a bottleneck rate (their
//! size on the wire over the median spacing). The lab fetches as many bytes as the server
//! sent, over TLS 1.3 or 1.2 if the connection used TLS, with smoltcp's Reno (the loss
//! response a replay of losses needs). Segment sizes and windows come from the lab's stacks,
//! not the captured ones, so the drops hit the same positions only where the stacks segment
//! alike; the file says so.

use std::fmt::Write as _;

use super::connections::ConnectionTimeline;

/// The lab file replaying `c`, captured in `source`.
pub fn lab_file(c: &ConnectionTimeline, source: &str) -> String {
    let rtt_ms = c.rtt_ms.unwrap_or(0.0);
    let tls =
        c.phases.iter().find(|p| p.id == "tls_handshake").map(|p| if p.label.contains("1.2") { "1.2" } else { "1.3" });
    let port = if tls.is_some() { 443 } else { 80 };
    let mss = c.path.mss[1].max(536);
    let mut out = String::new();
    let _ = writeln!(out, "# Made by `wirelab annotate {source} --emit-lab`, from connection {}:", c.number);
    let _ = writeln!(out, "# {} -> {}, {} frames.", c.client, c.server, c.frames);
    let _ = writeln!(out, "# The path it showed: the handshake's round trip, the data segments that never reached");
    let _ = writeln!(
        out,
        "# the capture point (as scripted drops: the nth data segment of that direction){}.",
        if c.path.spacing.is_some() { ", and the bottleneck rate its evenly spaced segments show" } else { "" }
    );
    let _ = writeln!(out, "# The lab's own TCP (smoltcp) segments and paces as it does, so the drops land on the");
    let _ = writeln!(out, "# same segments only where both stacks cut the stream alike (same MSS: {mss} bytes).");
    if c.path.lost_data.is_empty() && c.path.retransmitted.iter().any(|&r| r > 0) {
        let _ = writeln!(
            out,
            "# The connection resent {} segment(s) with no hole at the capture point: the capture was taken",
            c.path.retransmitted.iter().sum::<u32>()
        );
        let _ = writeln!(out, "# at the sender, after which losses show only as resends; they are not replayed.");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "name = \"replay\"");
    let _ = writeln!(out, "title = \"A captured path replayed: {} -> {}\"", c.client, c.server);
    let _ = writeln!(out, "description = \"\"\"\nThe round trip ({rtt_ms:.3} ms), losses{} of connection {} in {source}, on the emulated link.\nRun it as it is, or change what runs over the path: --set cc=iw, --set response_size=..., or\nedit the steps (tls version, request size).\"\"\"",
        if c.path.spacing.is_some() { " and bottleneck rate" } else { "" }, c.number);
    let _ = writeln!(out, "rounds = true               # each slow-start round of the response is a phase");
    let _ = writeln!(out);
    let _ = writeln!(out, "[params]");
    let _ = writeln!(out, "rtt = \"{}us\"", (rtt_ms * 1000.0).round().max(2.0) as u64);
    // The body: what the server sent, less a plain response's header where the capture shows it.
    let body = c.bytes[1].saturating_sub(c.path.http_header.unwrap_or(0) as u64);
    let _ = writeln!(out, "response_size = \"{}B\"", body.clamp(1, crate::proto::http1::MAX_BODY));
    let _ = writeln!(out, "cc = \"smoltcp\"             # smoltcp's Reno: it answers losses (\"iw\" would not)");
    let _ = writeln!(out, "mss = {mss}");
    let _ = writeln!(out, "time_limit = \"600s\"");
    let _ = writeln!(out);
    let _ = writeln!(out, "[link]");
    let _ = writeln!(out, "rtt = \"${{rtt}}\"");
    if let Some((gap_us, size)) = c.path.spacing.filter(|(g, _)| *g > 0) {
        let kbit = (size as f64 * 8.0 * 1000.0 / gap_us as f64).round().max(8.0) as u64;
        let _ = writeln!(out, "rate = \"{kbit}kbit\"             # {size} B on the wire every {gap_us} µs (10th percentile of the spacing)");
    }
    let _ = writeln!(out);
    for (name, addr, role) in [("client", "10.0.0.1", "client"), ("server", "10.0.0.2", "server")] {
        let _ = writeln!(out, "[[host]]\nname = \"{name}\"\naddr = \"{addr}\"\nrole = \"{role}\"\n");
    }
    let _ = writeln!(out, "[[scenario]]");
    let _ = writeln!(out, "name = \"as-captured\"");
    let _ = writeln!(out, "title = \"The captured connection's path, its losses at their positions\"");
    let _ = writeln!(out, "steps = [");
    let _ = writeln!(out, "  {{ step = \"connect\", to = \"server\", port = {port} }},");
    if let Some(v) = tls {
        let _ = writeln!(out, "  {{ step = \"tls\", version = \"{v}\" }},");
    }
    let _ = writeln!(out, "  {{ step = \"request\", size = \"${{response_size}}\" }},");
    let _ = writeln!(out, "]");
    for &(from_client, nth) in &c.path.lost_data {
        let (from, to) = if from_client { ("client", "server") } else { ("server", "client") };
        let _ = writeln!(out, "\n[[scenario.drop]]\nfrom = \"{from}\"\nto = \"{to}\"\npacket = \"data\"\nnth = {nth}");
    }
    out
}
