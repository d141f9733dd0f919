//! Plots whose marks carry their data (`data-*` attributes) and whose series differ by dash as
//! well as colour: head-of-line stalls per stream, percentiles against a swept value, a
//! connection pool over time. Each is a data struct and a function from it to an SVG document.

pub mod budget;
pub mod cdf;
pub mod chart;
pub mod connections;
pub mod failover;
pub mod percentiles;
pub mod streams;
