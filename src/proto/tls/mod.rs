//! TLS from rustls with a seeded, lab-only crypto provider.
