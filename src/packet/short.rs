//! A packet as a diagram labels it: short, in Wireshark's terms, and whether it is plain
//! enough to be drawn as part of a flight.

use super::{describe_dns, tls_record_names, PacketSummary, Transport};
use crate::wire::http;

/// How a diagram may draw a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plain {
    /// It has a name of its own (SYN, ClientHello, GET, a DNS query, a QUIC long header).
    Named,
    /// Data with nothing more to name (a segment of a response, a QUIC 1-RTT packet).
    Data,
    /// A pure acknowledgement.
    Ack,
}

/// A packet as a diagram labels it: short, in Wireshark's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Short {
    pub label: String,
    pub plain: Plain,
    /// Transport payload bytes.
    pub payload: usize,
}

/// `ServerHello … Finished` for a list of TLS record names; `None` when they are all
/// application data.
fn tls_short(names: &[&str]) -> Option<String> {
    let mut runs: Vec<(&str, usize)> = Vec::new();
    for &n in names {
        match runs.last_mut() {
            Some((last, k)) if *last == n => *k += 1,
            _ => runs.push((n, 1)),
        }
    }
    if runs.iter().all(|(n, _)| *n == "Application Data") {
        return None;
    }
    let one = |(n, k): &(&str, usize)| if *k > 1 { format!("{n} ×{k}") } else { n.to_string() };
    Some(match runs.as_slice() {
        [a] => one(a),
        [a, b] => format!("{}, {}", one(a), one(b)),
        [a, .., z] => format!("{} … {}", one(a), one(z)),
        [] => String::new(),
    })
}

impl PacketSummary {
    /// The packet as a ladder diagram labels it; `tls`: the TLS records starting in it, named
    /// from the whole stream where the caller has them (else sniffed from this segment).
    pub fn short(&self, bytes: &[u8], tls: Option<&[&'static str]>) -> Short {
        let payload = self.payload(bytes);
        let n = payload.len();
        let (label, plain) = match &self.transport {
            Transport::Tcp { flags, .. } => {
                let mut control: Vec<&str> = Vec::new();
                for (on, name) in [(flags.syn, "SYN"), (flags.fin, "FIN"), (flags.rst, "RST")] {
                    if on {
                        control.push(name);
                    }
                }
                if !control.is_empty() && flags.ack {
                    control.push("ACK");
                }
                let sniffed;
                let names = match tls {
                    Some(t) => t,
                    None => {
                        sniffed = tls_record_names(payload);
                        &sniffed[..]
                    }
                };
                let named = tls_short(names).or_else(|| http::start_line(payload).map(str::to_string));
                match (n, control.is_empty(), named) {
                    (0, true, _) => ("ACK".to_string(), Plain::Ack),
                    (0, false, _) => (control.join(", "), Plain::Named),
                    (_, _, Some(name)) if control.is_empty() => (name, Plain::Named),
                    (_, _, Some(name)) => (format!("{name} [{}]", control.join(", ")), Plain::Named),
                    (_, false, None) => (format!("{} B [{}]", n, control.join(", ")), Plain::Named),
                    (_, true, None) if names.is_empty() => (format!("{n} B"), Plain::Data),
                    (_, true, None) => (format!("Application Data, {n} B"), Plain::Data),
                }
            }
            Transport::Udp { src_port, dst_port, .. } => {
                if *src_port == 53 || *dst_port == 53 {
                    (describe_dns(payload).unwrap_or_else(|| format!("DNS, {n} B")), Plain::Named)
                } else {
                    match crate::wire::quic::packet_type(payload) {
                        Some("1-RTT") => (format!("QUIC 1-RTT, {n} B"), Plain::Data),
                        Some(t) => (format!("QUIC {t}, {n} B"), Plain::Named),
                        None => (format!("UDP, {n} B"), Plain::Named),
                    }
                }
            }
            Transport::Icmp { v6, icmp_type, code } => (super::icmp_name(*v6, *icmp_type, *code), Plain::Named),
            Transport::Other { protocol } => (format!("IP protocol {protocol}"), Plain::Named),
        };
        Short { label, plain, payload: n }
    }
}
