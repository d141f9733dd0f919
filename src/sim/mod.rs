//! The simulation core: the network of hosts and links, and the record of every packet.
//! (Virtual time and seeded randomness are the leaves [`crate::time`] and [`crate::rng`].)

pub mod network;
