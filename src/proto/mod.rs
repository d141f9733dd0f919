//! Protocol drivers: each pumps a real protocol crate over smoltcp sockets.
//!
//! [`http_client::HttpConn`] puts them together for a client: one TCP connection with
//! optional TLS, carrying HTTP/1.1, HTTP/2 or a WebSocket. Every client program of the lab
//! holds its connections as `HttpConn`s.

pub mod cwnd;
pub mod dns;
pub mod h2;
pub mod http1;
pub mod http_client;
pub mod quic;
pub mod stream;
pub mod tls;
pub mod ws;
