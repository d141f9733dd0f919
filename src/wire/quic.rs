//! QUIC packet headers, as far as a diagram needs them (RFC 9000 §17).

/// The type of the first QUIC packet in a UDP datagram: `Initial`, `0-RTT`, `Handshake` or
/// `Retry` for a version 1 long header (RFC 9000 §17.2), `Version Negotiation` (§17.2.1),
/// `1-RTT` for a short header (§17.3); `None` for an empty datagram or a long header of
/// another version. The fixed bit (0x40) is not checked: endpoints may grease it (RFC 9287;
/// quinn does).
pub fn packet_type(datagram: &[u8]) -> Option<&'static str> {
    let &first = datagram.first()?;
    if first & 0x80 == 0 {
        return Some("1-RTT");
    }
    match datagram.get(1..5)? {
        [0, 0, 0, 0] => Some("Version Negotiation"),
        [0, 0, 0, 1] => Some(match (first >> 4) & 0x03 {
            0 => "Initial",
            1 => "0-RTT",
            2 => "Handshake",
            _ => "Retry",
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::packet_type;

    #[test]
    fn header_forms() {
        assert_eq!(packet_type(&[0xc3, 0, 0, 0, 1]), Some("Initial"));
        assert_eq!(packet_type(&[0xa0, 0, 0, 0, 1]), Some("Handshake"), "greased fixed bit");
        assert_eq!(packet_type(&[0xe0, 0, 0, 0, 1, 8]), Some("Handshake"));
        assert_eq!(packet_type(&[0x80, 0, 0, 0, 0]), Some("Version Negotiation"));
        assert_eq!(packet_type(&[0xc0, 0xff, 0, 0, 0x1d]), None, "a draft version");
        assert_eq!(packet_type(&[0xc0, 0, 0]), None, "cut short");
        assert_eq!(packet_type(&[0x41]), Some("1-RTT"));
        assert_eq!(packet_type(&[0x01]), Some("1-RTT"), "greased fixed bit");
        assert_eq!(packet_type(&[]), None);
    }
}
