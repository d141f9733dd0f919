//! wirelab: a packet-level network lab.
//!
//! The crate is layered the way a network stack is, bottom up. A module uses only the modules
//! listed above it, never one below (`tests/layers.rs` checks this):
//!
//! - [`units`]: parsing of durations, percentages, rates and sizes as users type them.
//! - [`time`]: virtual time (the core never reads a clock; it is handed `now`).
//! - [`rng`]: seeded randomness, one stream per consumer.
//! - [`metrics`]: the names of the metrics wirelab measures (what checks may name).
//! - [`wire`]: formats read from bytes: link layers, IPv4/IPv6 and their transport headers (the one
//!   packet parser), TLS records (decrypted with a key log), QUIC headers.
//! - [`dist`]: seeded service-time distributions (fixed, uniform, exponential, lognormal, Pareto,
//!   bimodal), given by name and percentiles in a lab file.
//! - [`link`]: one direction of an emulated path: delay, jitter, loss, rate, queue, MTU.
//! - [`packet`]: classifying and describing packets for comments, diagrams and scripted drops.
//! - [`capture`]: the pcapng writer (one vantage point per file).
//! - [`host`]: smoltcp hosts with queue-backed devices.
//! - [`proto`]: drivers that pump real protocol crates (rustls, hickory-proto, httparse) over sockets.
//! - [`sim`]: the network of hosts and links, its record of every packet, and the applications on
//!   the hosts with what one instant does to them (sans-IO; every backend shares it).
//! - [`script`]: lab files (TOML): parameters, links, scenarios, steps, and checks (parsed and
//!   validated here, evaluated by the runner).
//! - [`timeline`]: phases and measurements of a run, or read off any capture (`wirelab annotate`),
//!   rendered as a table or JSON.
//! - [`picture`]: the ladder diagram of each scenario and the HTML report, rendered from the
//!   run's packet records and timeline.
//! - [`backend`]: drivers that move time (the virtual clock, or the wall clock).
//! - [`runner`]: runs a scenario: builds its world, drives it on a backend, analyses the run and
//!   evaluates its checks.
//! - [`cli`]: the `wirelab` command line.
//!
//! The first five are leaves: they import nothing from the crate (`dist` uses only `units` and
//! `rng`). `fuzz_targets` (hidden) holds
//! the bodies of the fuzz targets in `fuzz/`, replayed over their corpora by `cargo test`; it
//! sits on top, beside `cli`.

pub mod backend;
pub mod capture;
pub mod cli;
pub mod dist;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod host;
pub mod link;
pub mod metrics;
pub mod packet;
pub mod picture;
pub mod proto;
pub mod rng;
pub mod runner;
pub mod script;
pub mod service;
pub mod sim;
pub mod time;
pub mod timeline;
pub mod units;
pub mod wire;
