//! Parsing and describing IPv4 packets.
