//! HTTP/2 frames (placeholder).
