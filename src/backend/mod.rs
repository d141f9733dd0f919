//! Backends: what moves time.
//!
//! The core (links, hosts, protocol drivers, capture, and what one instant does to them:
//! [`crate::sim::app::settle`]) never sleeps and never reads a clock. A backend decides what
//! `now` is: [`virtual_clock`] jumps straight to the next event, so a
//! 150 ms round trip costs no wall time and every run is deterministic.

pub mod realtime;
pub mod virtual_clock;
