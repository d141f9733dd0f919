//! The whole-network target: labs run on the virtual clock while a link mutates packets in flight.

use super::segments::fix_checksums;
use super::*;

/// The scenarios the whole-network target runs, with small sizes and a 20 s cap on virtual
/// time, pictures on: built once.
fn network_plans() -> &'static [ScenarioPlan] {
    static PLANS: OnceLock<Vec<ScenarioPlan>> = OnceLock::new();
    PLANS.get_or_init(|| {
        let set = |pairs: &[(&str, &str)]| Overrides {
            set: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            pictures: true,
            ..Default::default()
        };
        let small = [("response_size", "12KB"), ("time_limit", "20s")];
        let page = [("objects", "3"), ("size", "6KB"), ("lost_packet", "3"), ("time_limit", "20s")];
        type Params<'a> = &'a [(&'a str, &'a str)];
        let wanted: [(&str, &str, Params); 5] = [
            ("handshake", "fresh-tls13", &small),
            ("handshake", "fresh-tls12", &small),
            ("handshake", "zero-rtt", &small),
            ("hol", "one-loss-h2", &page),
            ("hol", "one-loss-h3", &page),
        ];
        wanted
            .iter()
            .map(|(lab, scenario, params)| {
                let lab = Lab::load(lab).expect("a built-in lab");
                let i = lab.scenario_names().iter().position(|n| n == scenario).expect("a scenario of the lab");
                plan::plan(&lab, i, &set(params)).expect("the fuzz target's plan")
            })
            .collect()
    })
}

/// The whole network, in the manner of smoltcp's `iface` fuzz target: a real scenario on the
/// virtual clock (TLS 1.3, TLS 1.2, 0-RTT resumption, HTTP/2, HTTP/3 over QUIC; DNS in the
/// handshake lab) with packets corrupted in flight, then everything `wirelab run` makes of
/// it: the timeline, its table and JSON (which reads back), the capture (which reads back),
/// the ladder, the plots and the report.
///
/// Input: byte 0 chooses the scenario; byte 1 bit 0 rewrites the IPv4 and TCP/UDP checksums
/// after corrupting (so that corrupted packets pass smoltcp's checks and reach TLS, HTTP and
/// QUIC), bit 1 truncates the packet at the offset instead of flipping it; then up to 64
/// mutations of 5 bytes: the index of the delivered packet (u16 LE, counted over the whole
/// network), an offset into it (u16 LE, modulo its length) and a byte to XOR there.
/// Virtual time is capped at 20 s per scenario; running out is an error in the timeline,
/// not a failure of the target.
pub fn network(data: &[u8]) {
    let plans = network_plans();
    let Some((&choice, rest)) = data.split_first() else { return };
    let plan = &plans[usize::from(choice) % plans.len()];
    let (flags, rest) = rest.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let mutations: Vec<(u64, usize, u8)> = rest
        .chunks_exact(5)
        .take(64)
        .map(|m| (u64::from(u16::from_le_bytes([m[0], m[1]])), usize::from(u16::from_le_bytes([m[2], m[3]])), m[4]))
        .collect();
    let mut delivered = 0u64;
    let mutator = Box::new(move |p: &mut Packet| {
        let mut touched = false;
        for &(_, offset, x) in mutations.iter().filter(|m| m.0 == delivered) {
            if p.bytes.is_empty() {
                break;
            }
            let at = offset % p.bytes.len();
            if flags & 2 != 0 {
                p.bytes.truncate(at.max(1));
            } else {
                p.bytes[at] ^= x;
            }
            touched = true;
        }
        if touched && flags & 1 != 0 {
            fix_checksums(&mut p.bytes);
        }
        delivered += 1;
    });
    let Ok(out) = crate::runner::run_scenario_mutated(plan, 1, mutator) else { return };
    let t = &out.timeline;
    let frames = t.metrics.get("frames").copied().unwrap_or(0.0) as u64;
    for p in &t.phases {
        if let (Some(first), Some(last)) = (p.first_frame, p.last_frame) {
            assert!(
                1 <= first && first <= last && last <= frames,
                "phase {}: frames {first}..{last} of {frames}",
                p.id
            );
        }
    }
    let _ = crate::timeline::table::scenario(t);
    let lab = crate::timeline::LabTimeline {
        schema: 1,
        lab: plan.lab.clone(),
        title: String::new(),
        description: String::new(),
        seed: 1,
        backend: "virtual".into(),
        rtt_ms: plan.rtt().as_secs_f64() * 1000.0,
        params: plan.params.clone(),
        scenarios: vec![t.clone()],
        size_sweep: Vec::new(),
        loss_table: Vec::new(),
        theory: Vec::new(),
    };
    let json = lab.to_json();
    if let Err(e) = serde_json::from_str::<crate::timeline::LabTimeline>(&json) {
        panic!("the timeline JSON does not read back ({e}):\n{json}");
    }
    let _ = crate::timeline::table::lab(&lab);
    let mut extras = crate::picture::report::Extras::default();
    if let Some(l) = &out.ladder {
        extras.ladders.insert(t.name.clone(), crate::picture::ladder::render(l));
    }
    if let Some(ts) = &out.time_seq {
        let _ = crate::picture::plot::time_sequence(ts);
    }
    if !t.rounds.is_empty() {
        let _ = crate::picture::plot::rounds("fuzz", &t.rounds);
    }
    let _ = crate::picture::report::render(&lab, &extras);
    let pcapng = out.pcapng();
    let mut reader = pcap_file::pcapng::PcapNgReader::new(&pcapng[..]).expect("the capture has a section header");
    let mut packets = 0u64;
    while let Some(block) = reader.next_block() {
        packets += u64::from(block.expect("the capture reads back").0.as_enhanced_packet().is_some());
    }
    assert_eq!(packets, frames, "packets in the capture");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without mutations every scenario of the whole-network target runs to its end, so the
    /// target exercises the protocols and analyses rather than an early error.
    #[test]
    fn the_network_scenarios_finish_unmutated() {
        for plan in network_plans() {
            let out = crate::runner::run_scenario_mutated(plan, 1, Box::new(|_| {})).expect("runs");
            assert_eq!(out.timeline.error, None, "{}", plan.name);
            assert!(out.ladder.is_some(), "{}: pictures", plan.name);
        }
    }
}
