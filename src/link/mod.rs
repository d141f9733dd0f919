//! One direction of an emulated path.

pub mod kind;

pub use kind::PacketKind;
