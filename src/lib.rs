//! wirelab: a packet-level network lab.
//!
//! The crate is layered the way a network stack is, bottom up:
//!
//! - [`units`]: parsing of durations, percentages, rates and sizes as users type them.
//! - [`time`]: virtual time (the core never reads a clock).
//! - [`rng`]: seeded randomness, one stream per consumer.
//! - [`metrics`]: the names of the metrics wirelab measures (what checks may name).
//! - [`sim`]: the network of hosts and links (sans-IO).
//! - [`link`]: one direction of an emulated path: delay, jitter, loss, rate, queue, MTU.
//! - [`wire`]: formats read from bytes: link layers, IPv4/IPv6 and their transport headers (the one
//!   packet parser), TLS records (decrypted with a key log), QUIC headers.
//! - [`packet`]: classifying and describing packets for comments, diagrams and scripted drops.
//! - [`capture`]: the pcapng writer (one vantage point per file).
//! - [`host`]: smoltcp hosts with queue-backed devices.
//! - [`proto`]: drivers that pump real protocol crates (rustls, hickory-proto, httparse) over sockets.
//! - [`script`]: lab files (TOML): parameters, links, scenarios, steps, expectations.
//! - [`timeline`]: phases measured during a run, or read off any capture (`wirelab annotate`),
//!   rendered as a table or JSON.
//! - [`picture`]: the ladder diagram of each scenario and the HTML report, rendered from the
//!   run's packet records and timeline.
//! - [`runner`]: executes a lab's scenarios step by step.
//! - [`backend`]: drivers that move time (the virtual clock).
//! - [`cli`]: the `wirelab` command line.

pub mod backend;
pub mod capture;
pub mod cli;
pub mod host;
pub mod link;
pub mod metrics;
pub mod packet;
pub mod picture;
pub mod proto;
pub mod rng;
pub mod runner;
pub mod script;
pub mod sim;
pub mod time;
pub mod timeline;
pub mod units;
pub mod wire;
