//! Wire formats read from bytes: checked views that never panic on any input.

pub mod flow;
pub mod h2;
pub mod http;
pub mod ip;
pub mod link;
pub mod quic;
pub mod reorder;
pub mod tcp;
pub mod tls;
