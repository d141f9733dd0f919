//! Pictures rendered from a run's data: the ladder diagram of each scenario, and the HTML
//! report that holds a run's tables and pictures in one self-contained file.
//!
//! Nothing here reads a clock, a file or comment text: each renderer is a function from
//! structured data to bytes, so the same seed gives the same pictures.

pub mod ladder;
pub mod plot;
pub mod plots;
pub mod report;
pub mod svg;
