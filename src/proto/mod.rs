//! Protocol drivers.

pub mod tls;
