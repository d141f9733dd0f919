//! Wire formats read from bytes: checked views that never panic on any input.

pub mod ip;
pub mod link;
pub mod quic;
pub mod tls;
