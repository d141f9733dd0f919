//! The theory a lab sets beside its measurements: the figure a model gives for the settings
//! that ran (slow start's doubling from IW x MSS, the handshakes' round trips, ...), for the
//! lab's theory rows and for checks that compare with `theory`.

use crate::script::plan::ScenarioPlan;

/// The figure `model` gives for `plan`, and how it was reached (or why the model does not
/// apply to these settings). No model: the teaching text's `expected`, whatever the settings.
pub fn figure(model: Option<&str>, expected: f64, plan: &ScenarioPlan) -> (Option<f64>, String) {
    use crate::script::steps::Step;
    use crate::timeline::theory::{flights, tls13_stream_bytes};
    let rtt = plan.rtt().as_secs_f64() * 1000.0;
    let steps = || plan.steps.iter();
    let tls_rtts = steps().find_map(|s| match s {
        Step::Tls { version: crate::proto::tls::TlsVersion::Tls12, .. } => Some(2.0),
        Step::Tls { .. } => Some(1.0),
        _ => None,
    });
    let iw = plan.tcp.initial_window_bytes();
    let iw_words = |iw: u64| {
        format!(
            "IW {} segments x MSS {} = {iw} bytes, doubling each RTT (RFC 5681 §3.1)",
            iw / plan.tcp.mss as u64,
            plan.tcp.mss
        )
    };
    // The response as bytes on the TCP stream: body, HTTP head, and TLS records where TLS ran.
    let response = steps().find_map(|s| match s {
        Step::Request { size } => Some(*size),
        _ => None,
    });
    let stream_bytes = response.map(|n| {
        let plain = n + crate::proto::http1::response_head(n).len() as u64;
        if tls_rtts.is_some() {
            tls13_stream_bytes(plain)
        } else {
            plain
        }
    });
    let slow_start = || -> Result<(f64, String), String> {
        let iw = iw.ok_or("smoltcp's own Reno starts at 2 x 1024 bytes and grows about 1.5x per round, not by doubling from IW: the model does not apply")?;
        let bytes = stream_bytes.ok_or("the scenario has no request step")?;
        let n = flights(bytes, iw).ok_or("no initial window")?;
        let flights = if n == 1 { "1 flight".to_string() } else { format!("{n} flights") };
        Ok((f64::from(n.saturating_sub(1)), format!("{flights} for {bytes} bytes with {}", iw_words(iw))))
    };
    let dns_rtts = || {
        let find = |r: crate::script::plan::Role| plan.hosts.iter().position(|h| h.role == r);
        let (resolver, authority) =
            (find(crate::script::plan::Role::Resolver)?, find(crate::script::plan::Role::Authority)?);
        let two_way = |a: usize, b: usize| (plan.link(a, b).delay + plan.link(b, a).delay).as_secs_f64() * 1000.0;
        Some((two_way(plan.client, resolver) + two_way(resolver, authority)) / rtt)
    };
    let result: Result<(f64, String), String> = match model.unwrap_or("fixed") {
        "rtts_in_ms" => Ok((expected * rtt, format!("{} RTT x {rtt} ms", expected))),
        "slow_start" => slow_start(),
        "iw_bytes" => iw
            .map(|iw| (iw as f64, iw_words(iw)))
            .ok_or_else(|| "smoltcp's own Reno starts at 2 x 1024 bytes".to_string()),
        "fresh" | "fresh_cold_dns" => slow_start().map(|(ss, how)| {
            let tls = tls_rtts.unwrap_or(0.0);
            let dns = if model == Some("fresh_cold_dns") { dns_rtts().unwrap_or(0.0) } else { 0.0 };
            let total = dns + 1.0 + tls + 1.0 + ss;
            let dns_words = if dns > 0.0 { format!("DNS {dns:.2} (resolver and authority) + ") } else { String::new() };
            (
                (total * 1000.0).round() / 1000.0,
                format!("{dns_words}TCP 1 + TLS {tls} + request 1 + slow start {ss} ({how})"),
            )
        }),
        "slow_start_flights" => slow_start().map(|(ss, how)| (ss + 1.0, how)),
        "iw_segments" => match (iw, stream_bytes) {
            (Some(iw), Some(bytes)) => {
                let mss = (plan.tcp.mss as u64).max(1);
                let n = (iw / mss).min(bytes.div_ceil(mss));
                Ok((
                    n as f64,
                    format!(
                        "{n} segments: the smaller of IW {} and the response's {} segments of {mss} bytes",
                        iw / mss,
                        bytes.div_ceil(mss)
                    ),
                ))
            }
            (None, _) => Err("smoltcp's own Reno starts at 2 x 1024 bytes, not at IW segments".to_string()),
            (_, None) => Err("the scenario has no request step".to_string()),
        },
        "iw10_flights" => {
            let mss = plan.tcp.mss as u64;
            stream_bytes
                .and_then(|bytes| {
                    flights(bytes, 10 * mss)
                        .map(|n| (f64::from(n), format!("{n} flights for {bytes} bytes with {}", iw_words(10 * mss))))
                })
                .ok_or_else(|| "the scenario has no request step".to_string())
        }
        "bursts_x_requests" => steps()
            .find_map(|s| match s {
                Step::Bursts(b) if !b.every.is_zero() => {
                    let bursts = b.duration.as_nanos().div_ceil(b.every.as_nanos());
                    Some((
                        (bursts * u128::from(b.requests)) as f64,
                        format!("{bursts} bursts (duration / every, rounded up) x {} requests", b.requests),
                    ))
                }
                _ => None,
            })
            .ok_or_else(|| "the scenario has no bursts step".to_string()),
        "budget_rtts" => super::rtt_model::chain(plan).map(|c| (round3(c.total_ms), c.words())),
        "budget_hop_share" => super::rtt_model::chain(plan).and_then(|c| {
            let budget = c.budget_ms.filter(|b| *b > 0.0).ok_or("the workload step names no budget")?;
            let h = c.largest().ok_or("the chain has no hop")?;
            Ok((
                (h.ms() / budget * 1e6).round() / 1e6,
                format!("{} -> {}: {} RTT x {} ms of a {budget} ms budget", h.from, h.to, h.rtts, h.rtt_ms),
            ))
        }),
        "fresh_over_pooled" => super::rtt_model::chain(plan).and_then(|c| {
            let h = c
                .hops
                .iter()
                .filter(|h| h.handshake_rtts > 0.0)
                .max_by(|a, b| a.ms().total_cmp(&b.ms()))
                .ok_or("no hop opens a fresh connection")?;
            let pooled = h.rtts - h.handshake_rtts;
            Ok((
                h.rtts / pooled,
                format!(
                    "{} -> {}: {} RTT fresh (handshakes {}) over {pooled} RTT on a warm connection",
                    h.from, h.to, h.rtts, h.handshake_rtts
                ),
            ))
        }),
        _ => Ok((expected, "the teaching text".to_string())),
    };
    match result {
        Ok((v, how)) => (Some(v), how),
        Err(why) => (None, why),
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// How far a request's measured time may stray from the `budget_rtts` model's figure, in ms
/// (see [`super::rtt_model::Chain::tolerance_ms`]); `None` without a workload chain.
pub fn budget_tolerance_ms(plan: &ScenarioPlan) -> Option<f64> {
    super::rtt_model::chain(plan).ok().map(|c| c.tolerance_ms())
}
