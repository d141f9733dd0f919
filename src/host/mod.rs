//! Hosts: smoltcp interfaces with queue-backed devices.
