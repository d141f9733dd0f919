//! pcapng captures.
