//! wirelab: a packet-level network lab.
//!
//! The crate is layered the way a network stack is, bottom up:
//!
//! - [`units`]: parsing of durations, percentages, rates and sizes as users type them.
//! - [`sim`]: virtual time, seeded randomness, and the network of hosts and links (sans-IO).
//! - [`link`]: one direction of an emulated path: delay, jitter, loss, rate, queue, MTU.
//! - [`wire`]: protocol formats read from byte streams (TLS records, decrypted with a key log).
//! - [`packet`]: parsing and describing IPv4 packets for comments, diagrams and scripted drops.
//! - [`capture`]: the pcapng writer (one vantage point per file).
//! - [`host`]: smoltcp hosts with queue-backed devices.
//! - [`proto`]: drivers that pump real protocol crates (rustls, hickory-proto, httparse) over sockets.
//! - [`script`]: lab files (TOML): parameters, links, scenarios, steps, expectations.
//! - [`timeline`]: phases measured during a run, rendered as a table or JSON.
//! - [`picture`]: the ladder diagram of each scenario and the HTML report, rendered from the
//!   run's packet records and timeline.
//! - [`runner`]: executes a lab's scenarios step by step.
//! - [`backend`]: drivers that move time (the virtual clock).
//! - [`cli`]: the `wirelab` command line.
//!
//! `fuzz_targets` (hidden) holds the bodies of the fuzz targets in `fuzz/`, replayed over their
//! corpora by `cargo test`.

pub mod backend;
pub mod capture;
pub mod cli;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod host;
pub mod link;
pub mod packet;
pub mod picture;
pub mod proto;
pub mod runner;
pub mod script;
pub mod sim;
pub mod timeline;
pub mod units;
pub mod wire;
