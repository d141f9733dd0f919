//! The theory a lab sets beside its measurements: the figure a model gives for the settings
//! that ran (slow start's doubling from IW x MSS, the handshakes' round trips, ...), for the
//! lab's theory rows and for checks that compare with `theory`.

use crate::script::plan::ScenarioPlan;

/// The figure `model` gives for `plan`, and how it was reached (or why the model does not
/// apply to these settings). No model: the teaching text's `expected`, whatever the settings.
pub fn figure(model: Option<&str>, expected: f64, plan: &ScenarioPlan) -> (Option<f64>, String) {
    use crate::script::steps::Step;
    use crate::timeline::theory::{first_capped_flight, flights, tls13_stream_bytes};
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
    // No flight is larger than the socket buffer: the receiver advertises at most its buffer
    // and the sender keeps at most its buffer unacknowledged.
    let max_window = plan.tcp.buffer as u64;
    // The flights of slow start, while the window doubles; past the buffer the model stops.
    let uncapped_flights = |bytes: u64, iw: u64| -> Result<u32, String> {
        if let Some(k) = first_capped_flight(bytes, iw, max_window) {
            return Err(format!(
                "the window reaches the {max_window}-byte socket buffer at flight {k}: from there the receiver's window updates, not slow start, decide how the stream splits into round trips ({} flights if every one carried the whole buffer)",
                flights(bytes, iw, max_window).unwrap_or(0)
            ));
        }
        flights(bytes, iw, max_window).ok_or_else(|| "no initial window".to_string())
    };
    let slow_start = || -> Result<(f64, String), String> {
        let iw = iw.ok_or("smoltcp's own Reno starts at 2 x 1024 bytes and grows about 1.5x per round, not by doubling from IW: the model does not apply")?;
        let bytes = stream_bytes.ok_or("the scenario has no request step")?;
        let n = uncapped_flights(bytes, iw)?;
        let flights = if n == 1 { "1 flight".to_string() } else { format!("{n} flights") };
        Ok((f64::from(n.saturating_sub(1)), format!("{flights} for {bytes} bytes with {}", iw_words(iw))))
    };
    let dns_rtts = || {
        use crate::service::DnsHandler;
        let (resolver, authority) = (plan.dns_host(DnsHandler::Resolver)?, plan.dns_host(DnsHandler::Authority)?);
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
        // A warm connection's window has grown past the response (the warm-up sent as much),
        // so the response leaves in one flight, unless it is more than the largest window.
        "warm_flights" => match stream_bytes {
            Some(bytes) if bytes <= max_window => {
                Ok((1.0, format!("{bytes} bytes fit in one window (the warm-up grew it past them; at most the {max_window}-byte socket buffer)")))
            }
            Some(bytes) => Err(format!(
                "{bytes} bytes are more than the {max_window}-byte socket buffer, the largest window: they cannot leave in one flight, and the receiver's window updates decide how many follow"
            )),
            None => Err("the scenario has no request step".to_string()),
        },
        "iw10_flights" => {
            let mss = plan.tcp.mss as u64;
            match stream_bytes {
                Some(bytes) => uncapped_flights(bytes, 10 * mss)
                    .map(|n| (f64::from(n), format!("{n} flights for {bytes} bytes with {}", iw_words(10 * mss)))),
                None => Err("the scenario has no request step".to_string()),
            }
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
        "all_calls_under_p99" | "chain_percentile" | "fanout_slow" | "hedge_load" => {
            tail(model.unwrap_or_default(), plan)
        }
        "budget_rtts" => super::rtt_model::chain(plan).map(|c| (round3(c.total_ms), c.words())),
        "budget_hop_share" => super::rtt_model::chain(plan).and_then(|c| {
            let budget = c.budget_ms.filter(|b| *b > 0.0).ok_or("the workload step names no budget")?;
            let h = c.largest().ok_or("the chain has no hop")?;
            let took = if h.requests < c.requests {
                format!(" (for the {} of {} requests that took it)", h.requests, c.requests)
            } else {
                String::new()
            };
            Ok((
                (h.ms() / budget * 1e6).round() / 1e6,
                format!("{} -> {}: {} RTT x {} ms of a {budget} ms budget{took}", h.from, h.to, h.rtts, h.rtt_ms),
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
        "failover_bound" | "connect_giveup" | "dns_queries" => {
            super::failover_model::figure(model.unwrap_or_default(), plan)
        }
        _ => Ok((expected, "the teaching text".to_string())),
    };
    match result {
        Ok((v, how)) => (Some(v), how),
        Err(why) => (None, why),
    }
}

/// The tail-latency lab's models, from the gateway's calls, the backends' service time and the
/// path between them, as they ran.
fn tail(model: &str, plan: &ScenarioPlan) -> Result<(f64, String), String> {
    use crate::service::{Handler, HedgeAfter, Policy};
    use crate::timeline::tail::theory::{self, Hedge};
    // The gateway the client calls.
    let g = plan.server;
    let spec = plan.hosts[g]
        .services
        .iter()
        .find_map(|s| match &s.handler {
            Handler::Gateway(g) => Some(g),
            _ => None,
        })
        .ok_or("the client does not call a gateway")?;
    let replica = spec.replicas.first().ok_or("the gateway has no upstream")?;
    let dist = plan.hosts[replica.host]
        .services
        .iter()
        .find_map(|s| match &s.handler {
            Handler::Service { time, .. } if s.port == replica.addr.port() => Some(time),
            _ => None,
        })
        .ok_or("the gateway's upstream has no `service` handler with a service time")?;
    let rtt = plan.link(g, replica.host).delay + plan.link(replica.host, g).delay;
    let hedge = match spec.policy {
        Policy::Hedged { after: HedgeAfter::Delay(d) } => Hedge::Delay(d),
        Policy::Hedged { after: HedgeAfter::Percentile(p) } => Hedge::Quantile(p / 100.0),
        _ => Hedge::None,
    };
    let param = |k: &str| -> Result<std::time::Duration, String> {
        plan.params
            .get(k)
            .and_then(|v| crate::units::parse_duration(v).ok())
            .ok_or_else(|| format!("the lab has no duration parameter `{k}`"))
    };
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let hedged = match hedge {
        Hedge::None => String::new(),
        Hedge::Delay(d) => format!(", each hedged after {} ms", ms(d)),
        Hedge::Quantile(q) => format!(", each hedged after the p{}", q * 100.0),
    };
    let n = spec.calls;
    match model {
        "all_calls_under_p99" => {
            let p99 = param("service_p99")?;
            let one = theory::call_under(dist, p99, rtt, hedge);
            Ok((
                theory::all_calls_under(dist, p99, rtt, n, hedge),
                format!(
                    "P(call under {} ms)^{n} = {one:.4}^{n}{hedged}: its service time under {} ms less the {} ms round trip",
                    ms(p99),
                    ms(p99),
                    ms(rtt)
                ),
            ))
        }
        "chain_percentile" if matches!(hedge, Hedge::None) => Ok((
            theory::chain_p99_as_single_percentile(n),
            format!("the slowest of {n} calls at its p99: F(x)^{n} = 0.99, F(x) = 0.99^(1/{n})"),
        )),
        "chain_percentile" => Err("hedging changes the single call's distribution: no closed form here".into()),
        "fanout_slow" => {
            let slow = param("slow_time")?;
            Ok((theory::some_call_slow(dist, slow, rtt, n), format!("1 - P(call under {} ms)^{n}", ms(slow))))
        }
        _ => Ok((
            theory::hedge_load(dist, rtt, hedge),
            match hedge {
                Hedge::Quantile(q) => {
                    format!("the {:.0}% of calls slower than their p{}", (1.0 - q) * 100.0, q * 100.0)
                }
                _ => "the share of calls unanswered at the hedge delay".to_string(),
            },
        )),
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
