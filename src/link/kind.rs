//! What kind of packet a link is carrying, as far as scripted drops care.

use std::fmt;

/// The class of a packet, used by scripted drop rules ("the 3rd data segment", "the SYN/ACK").
///
/// A TCP segment is classed by the first that applies: `Rst`, `SynAck`, `Syn`, `Fin`, `Data`
/// (any payload), `Ack` (no payload). A FIN that carries data is `Fin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketKind {
    Syn,
    SynAck,
    Ack,
    Data,
    Fin,
    Rst,
    Udp,
    Other,
}

impl PacketKind {
    /// Every kind with the name a lab file uses for it.
    pub const NAMES: [(&'static str, PacketKind); 8] = [
        ("syn", PacketKind::Syn),
        ("syn-ack", PacketKind::SynAck),
        ("ack", PacketKind::Ack),
        ("data", PacketKind::Data),
        ("fin", PacketKind::Fin),
        ("rst", PacketKind::Rst),
        ("udp", PacketKind::Udp),
        ("other", PacketKind::Other),
    ];

    /// The name a lab file uses.
    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, k)| *k == self).map(|(n, _)| *n).unwrap_or("other")
    }

    /// Parses a lab file's name for a kind.
    pub fn from_name(name: &str) -> Option<PacketKind> {
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }
}

impl fmt::Display for PacketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
