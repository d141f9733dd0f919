//! The simulation core: the network of hosts and links, the record of every packet, and the
//! applications on the hosts with what one instant does to them ([`app::settle`]), which
//! every driver of time in [`crate::backend`] shares. (Virtual time and seeded randomness are
//! the leaves [`crate::time`] and [`crate::rng`].)

pub mod app;
pub mod fault;
mod impair;
pub mod network;
pub mod tap;
