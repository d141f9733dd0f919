//! Lab files.
