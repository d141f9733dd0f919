//! Wire formats read from bytes: checked views that never panic on any input.

pub mod quic;
pub mod tls;
