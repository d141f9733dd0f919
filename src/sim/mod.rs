//! The simulation core: virtual time, seeded randomness and the network.

pub mod network;
pub mod rng;
pub mod time;
