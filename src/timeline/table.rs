//! The terminal rendering of a timeline.

use std::fmt::Write;

use super::{LabTimeline, Scenario};

/// A table of one scenario's phases, with its expectations underneath.
pub fn scenario(s: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "── {} — {}", s.name, s.title);
    let _ = writeln!(out, "   link: {}; {}", s.link, s.congestion);
    if !s.params.is_empty() {
        let _ = writeln!(out, "   params: {}", s.params.join("; "));
    }
    let _ = writeln!(
        out,
        "   {:<20} {:>9} {:>9} {:>9} {:>6}  {:<9} what",
        "phase", "start ms", "end ms", "took ms", "RTTs", "frames"
    );
    for p in &s.phases {
        let rtts = p.rtts.map_or("-".to_string(), |r| format!("{r:.2}"));
        let frames = match (p.first_frame, p.last_frame) {
            (Some(a), Some(b)) => format!("{a}-{b}"),
            _ => "none".to_string(),
        };
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        let _ = writeln!(
            out,
            "   {:<20} {:>9.3} {:>9} {:>9} {:>6}  {:<9} {}{}",
            p.id,
            p.start_ms,
            ms(p.end_ms),
            ms(p.duration_ms()),
            rtts,
            frames,
            p.label,
            if p.end_ms.is_none() { " (did not end)" } else { "" }
        );
    }
    for e in &s.events {
        let frame = e.first_frame.map_or("none".to_string(), |f| format!("{f}-"));
        let _ =
            writeln!(out, "   {:<20} {:>9.3} {:>9} {:>9} {:>6}  {:<9} {}", "event", e.at_ms, "", "", "", frame, e.what);
    }
    if let Some(total) = s.metrics.get("total_ms") {
        let _ = writeln!(out, "   {:<20} {:>29.3}", "total", total);
    }
    if !s.rounds.is_empty() {
        out.push_str(&rounds(&s.rounds));
    }
    out.push_str(&pool_metrics(s));
    out.push_str(&workload(s));
    if !s.failover_seconds.is_empty() {
        out.push_str(&fleet(s));
    }
    if !s.hops.is_empty() {
        out.push_str(&hops(s));
    }
    if !s.streams.is_empty() {
        let _ = writeln!(
            out,
            "   {:<7} {:<28} {:>9} {:>12} {:>10}",
            "object", "carried by", "bytes", "complete ms", "stall ms"
        );
        for st in &s.streams {
            let complete = st.complete_ms.map_or("-".to_string(), |c| format!("{c:.3}"));
            let _ = writeln!(
                out,
                "   {:<7} {:<28} {:>9} {:>12} {:>10.3}",
                st.id, st.carried_by, st.bytes, complete, st.stall_ms
            );
        }
    }
    if !s.note.is_empty() {
        let _ = writeln!(out, "   why: {}", s.note);
    }
    for w in &s.warnings {
        let _ = writeln!(out, "   WARNING: {w}");
    }
    if let Some(e) = &s.error {
        let _ = writeln!(out, "   ERROR: {e}");
    }
    for e in &s.expectations {
        let measured = e.measured.map_or("no value".to_string(), |m| format!("measured {m:.3}"));
        let within = e.tolerance.map_or(String::new(), |t| match e.check.contains("rtts") {
            true => format!(", within ±{t} RTT for this path's jitter, rate or clock"),
            false => format!(", within ±{t} ms: virtual time rounds each one-way trip up to the µs"),
        });
        let verdict = match (e.ok, &e.skipped) {
            (_, Some(_)) => "skip",
            (true, None) => " ok ",
            (false, None) => "FAIL",
        };
        let _ = writeln!(out, "   [{verdict}] {} ({measured}{within})", e.check);
        if let Some(t) = &e.theory {
            let _ = writeln!(out, "          theory: {t}");
        }
        if let Some(why) = &e.skipped {
            let _ = writeln!(out, "          skipped: {why}");
        }
    }
    out
}

/// Every scenario, one after the other.
pub fn lab(t: &LabTimeline) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "lab {} (seed {}, client–server RTT {} ms)\n", t.lab, t.seed, t.rtt_ms);
    for s in &t.scenarios {
        out.push_str(&scenario(s));
        out.push('\n');
    }
    out
}

/// The slow-start rounds of a response, next to the IW10 theory.
pub fn rounds(rounds: &[super::rounds::Round]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "   {:<6} {:>9} {:>9} {:>10} {:>11} {:>7}  {:<9} theory (IW x MSS, doubling)",
        "round", "start ms", "segments", "bytes", "cumulative", "retx", "frames"
    );
    let mut theory_cumulative = 0;
    for r in rounds {
        theory_cumulative += r.theory_bytes.unwrap_or(0);
        // The teaching text's table stops at the fifth round; past it the theory is noise.
        let theory = match r.theory_bytes {
            Some(b) if r.round <= 5 => format!(
                "{} (cumulative {})",
                crate::units::format_bytes(b),
                crate::units::format_bytes(theory_cumulative)
            ),
            _ => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "   {:<6} {:>9.3} {:>9} {:>10} {:>11} {:>7}  {:<9} {}",
            r.round,
            r.start_ms,
            r.segments,
            r.bytes,
            r.cumulative_bytes,
            r.retransmissions,
            format!("{}-{}", r.first_frame, r.last_frame),
            theory
        );
    }
    out
}

/// The connection-pool figures of a scenario that ran bursts (the keepalive lab).
fn pool_metrics(s: &Scenario) -> String {
    let m = |k: &str| s.metrics.get(k).copied();
    let Some(opened) = m("connections_opened") else { return String::new() };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "   requests {}, retried {}, failed {}; connections opened {opened}, TLS handshakes {}, time in handshakes {:.0} ms",
        m("requests").unwrap_or(0.0),
        m("requests_retried").unwrap_or(0.0),
        m("requests_failed").unwrap_or(0.0),
        m("handshakes").unwrap_or(0.0),
        m("handshake_ms_total").unwrap_or(0.0)
    );
    let _ = writeln!(
        out,
        "   latency p50 {:.1} ms, p99 {:.1} ms; keepalive traffic {} bytes in {} packets{}",
        m("latency_p50_ms").unwrap_or(f64::NAN),
        m("latency_p99_ms").unwrap_or(f64::NAN),
        m("keepalive_bytes").unwrap_or(0.0),
        m("keepalive_packets").unwrap_or(0.0),
        match (m("keepalive_bytes_per_conn_per_30s"), m("keepalive_mb_per_s_at_1m_conns")) {
            (Some(b), Some(mb)) =>
                format!(" = {b:.1} bytes per connection per 30 s idle ({mb:.2} MB/s at 1 M connections)"),
            _ => String::new(),
        }
    );
    if let (Some(closes), Some(resets)) = (m("server_idle_closes"), m("server_resets")) {
        let _ = writeln!(
            out,
            "   closes: the client found {} pooled connections closed by the server; the server closed {closes} \
             on its idle timeout and reset {resets} that a request reached after it had closed",
            m("closed_by_server").unwrap_or(0.0),
        );
    }
    out
}

/// A workload's requests at the client and its gateway's calls (the tail-latency lab).
fn workload(s: &Scenario) -> String {
    let m = |k: &str| s.metrics.get(k).copied();
    let (Some(requests), Some(failed), None) = (m("requests"), m("failed_requests"), m("connections_opened")) else {
        return String::new();
    };
    // A request against a latency budget is told by its hops ([`hops`]); a fleet by [`fleet`].
    if !s.hops.is_empty() || !s.failover_seconds.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let ms = |k: &str| m(k).map_or("-".to_string(), |v| format!("{v:.3}"));
    let _ = writeln!(
        out,
        "   {:>8} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}   (ms at the client, nearest rank over the {} that succeeded)",
        "requests",
        "failed",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        requests - failed
    );
    let _ = writeln!(
        out,
        "   {requests:>8} {failed:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
        ms("latency_p50_ms"),
        ms("latency_p90_ms"),
        ms("latency_p99_ms"),
        ms("latency_p999_ms"),
        ms("latency_max_ms")
    );
    if !s.breakdown.is_empty() {
        let _ = writeln!(
            out,
            "   {:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}   (ms, along each request's critical path)",
            "where it went", "total", "network", "handshakes", "queue", "service", "gateway"
        );
        for b in &s.breakdown {
            let _ = writeln!(
                out,
                "   {:<14} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
                format!("p{} #{}", b.percentile, b.request),
                b.total_ms,
                b.network_ms,
                b.handshake_ms,
                b.queue_ms,
                b.service_ms,
                b.gateway_ms
            );
        }
    }
    if let Some(calls) = m("calls") {
        let mut parts = vec![format!("gateway: {calls} calls")];
        if let Some(f) = m("frac_all_calls_under_p99") {
            parts.push(format!("every call under the service p99 in {:.2}% of requests", f * 100.0));
        }
        if let Some(p) = m("single_percentile_of_chain_p99") {
            parts.push(format!("the slowest call of the chain's p99 request is a single call's p{p:.2}"));
        }
        if let Some(f) = m("frac_slow_requests").filter(|&f| f > 0.0) {
            parts.push(format!("{:.1}% of requests slow", f * 100.0));
        }
        let extra = m("extra_load").unwrap_or(0.0);
        if let Some(ties) = m("ties").filter(|&t| t > 0.0) {
            parts.push(format!(
                "{ties} tied copies: {} dropped from a queue when the twin started, {} ran twice",
                m("tie_dropped").unwrap_or(0.0),
                m("tie_both_ran").unwrap_or(0.0)
            ));
        } else if extra > 0.0 {
            parts.push(format!(
                "extra load {:.1}% ({} hedges, {} retries; {} tries cancelled)",
                extra * 100.0,
                m("hedges").unwrap_or(0.0),
                m("retries").unwrap_or(0.0),
                m("cancelled_tries").unwrap_or(0.0)
            ));
        }
        if let Some(d) = m("deadline_exceeded").filter(|&d| d > 0.0) {
            parts.push(format!("{d} past the deadline"));
        }
        let _ = writeln!(out, "   {}", parts.join("; "));
    }
    out
}

/// A fleet of clients calling a name that fails over (the dns-failover lab).
fn fleet(s: &Scenario) -> String {
    let m = |k: &str| s.metrics.get(k).copied();
    let n = |k: &str| m(k).map_or("-".to_string(), |v| format!("{v}"));
    let ms = |k: &str| m(k).map_or("-".to_string(), |v| format!("{v:.3}"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "   {:>8} {:>7} {:>8} {:>14} {:>14} {:>12} {:>12}   (failover: from the failure to a client's last request to the dead address, over clients)",
        "requests", "failed", "to dead", "failover max", "failover p50", "p99 window", "DNS queries"
    );
    let queries = format!("{} / {}", n("dns_queries"), n("resolver_queries"));
    let _ = writeln!(
        out,
        "   {:>8} {:>7} {:>8} {:>14} {:>14} {:>12} {:>12}   (ms; DNS: the clients' / the resolver's to the authority)",
        n("requests"),
        n("failed_requests"),
        n("requests_to_dead"),
        ms("failover_ms_max"),
        ms("failover_ms_p50"),
        ms("latency_p99_ms"),
        queries
    );
    let why: Vec<String> = [
        ("connect_timeouts", "connect timeouts"),
        ("refused", "refused"),
        ("broken", "connections broken"),
        ("unanswered", "unanswered when the run ended"),
    ]
    .iter()
    .filter_map(|(k, words)| m(k).filter(|&v| v > 0.0).map(|v| format!("{v} {words}")))
    .collect();
    if !why.is_empty() {
        let _ = writeln!(out, "   failed: {}", why.join(", "));
    }
    out
}

/// A request's hops: each one's time and share of the latency budget, whether the request
/// stayed within it, and which hop took most.
pub fn hops(s: &Scenario) -> String {
    let mut out = String::new();
    let m = |k: &str| s.metrics.get(k).copied();
    let Some(budget) = m("budget_ms") else { return out };
    // (From a JSON file `wirelab report` read, the budget may be any number.)
    let budget_words = std::time::Duration::try_from_secs_f64(budget / 1000.0)
        .map_or_else(|_| format!("{budget} ms"), crate::units::format_duration);
    let width = s.hops.iter().map(|h| h.from.len() + h.to.len() + 4).max().unwrap_or(0).max(22);
    let _ = writeln!(
        out,
        "   {:<width$} {:>9} {:>9} {:>6} {:>9}  {:<10} handshake RTTs",
        "hop",
        "RTT ms",
        "took ms",
        "RTTs",
        format!("of {budget_words}"),
        "connection",
    );
    for h in &s.hops {
        let rtts = if h.rtt_ms > 0.0 { format!("{:.2}", h.ms / h.rtt_ms) } else { "-".to_string() };
        let _ = writeln!(
            out,
            "   {:<width$} {:>9.3} {:>9.3} {:>6} {:>8.1}%  {:<10} {}",
            format!("{} -> {}", h.from, h.to),
            h.rtt_ms,
            h.ms,
            rtts,
            h.share_of_budget * 100.0,
            h.connection,
            h.handshake_rtts.map_or("-".to_string(), |r| format!("{r:.2}"))
        );
    }
    // Replicas share the requests: a hop's time is for the requests that took it, and the
    // total counts it for those only.
    let answered = m("requests").unwrap_or(0.0) - m("failed_requests").unwrap_or(0.0);
    let partial: Vec<String> = s
        .hops
        .iter()
        .filter(|h| h.requests > 0 && (h.requests as f64) < answered)
        .map(|h| format!("{} -> {} {} of {answered}", h.from, h.to, h.requests))
        .collect();
    if !partial.is_empty() {
        let _ = writeln!(
            out,
            "   not every request took every hop ({}): each hop's time is for the requests that took it",
            partial.join(", ")
        );
    }
    if let Some(v) = m("services_ms").filter(|v| v.abs() >= 0.0005) {
        let _ = writeln!(
            out,
            "   {:<width$} {:>9} {:>9.3} {:>6} {:>8.1}%",
            "in the services",
            "",
            v,
            "",
            v / budget * 100.0
        );
    }
    if let Some(total) = m("total_ms") {
        let verdict = if total <= budget {
            format!("within the {budget_words} budget, {:.3} ms to spare", budget - total)
        } else {
            format!("OVER the {budget_words} budget by {:.3} ms", total - budget)
        };
        let _ = writeln!(
            out,
            "   {:<width$} {:>9} {:>9.3} {:>6} {:>8.1}%  {verdict}",
            "request",
            "",
            total,
            "",
            total / budget * 100.0
        );
    }
    if let Some(h) = s.hops.iter().max_by(|a, b| a.ms.total_cmp(&b.ms)) {
        let _ = writeln!(
            out,
            "   most: {} -> {}, {:.3} ms, {:.1}% of the budget on its own",
            h.from,
            h.to,
            h.ms,
            h.share_of_budget * 100.0
        );
    }
    out
}
