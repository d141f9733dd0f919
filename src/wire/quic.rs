//! QUIC packet headers, as far as a diagram needs them (RFC 9000 §17).

/// The type of the first QUIC packet in a UDP datagram: `Initial`, `0-RTT`, `Handshake` or
/// `Retry` for a long header (RFC 9000 §17.2, version 1 type bits), `1-RTT` for a short one
/// (§17.3); `None` for an empty datagram or one whose fixed bit is clear (not QUIC v1).
pub fn packet_type(datagram: &[u8]) -> Option<&'static str> {
    let &first = datagram.first()?;
    if first & 0x40 == 0 {
        return None;
    }
    if first & 0x80 == 0 {
        return Some("1-RTT");
    }
    Some(match (first >> 4) & 0x03 {
        0 => "Initial",
        1 => "0-RTT",
        2 => "Handshake",
        _ => "Retry",
    })
}

#[cfg(test)]
mod tests {
    use super::packet_type;

    #[test]
    fn header_forms() {
        assert_eq!(packet_type(&[0xc3, 0, 0, 0, 1]), Some("Initial"));
        assert_eq!(packet_type(&[0xe0]), Some("Handshake"));
        assert_eq!(packet_type(&[0x41]), Some("1-RTT"));
        assert_eq!(packet_type(&[0x00]), None);
        assert_eq!(packet_type(&[]), None);
    }
}
