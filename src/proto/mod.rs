//! Protocol drivers: each pumps a real protocol crate over smoltcp sockets.

pub mod cwnd;
pub mod dns;
pub mod h2;
pub mod http1;
pub mod http_client;
pub mod quic;
pub mod stream;
pub mod tls;
pub mod ws;
