//! Tied requests (Dean & Barroso, "The Tail at Scale", CACM 2013): a gateway sends a call to
//! two replicas, each copy naming the other; the replica that *starts* its copy first tells the
//! other, which drops its copy if it is still waiting in the queue. Queueing delay, not
//! service time, is what the copy saves, and little work is done twice: only when both copies
//! start before the message crosses.
//!
//! On the wire: the call's path carries its twin, `/c/N/k/a?tie=10.0.1.2:80`, and the message
//! is one UDP datagram to the twin's port (the same number as its HTTP port), `TIE-CANCEL
//! /c/N/k`: the call, whichever try the twin's copy is.

use std::net::SocketAddrV4;

/// The prefix of a cancellation message.
const CANCEL: &str = "TIE-CANCEL ";

/// The query a tied copy's path carries: its twin's address.
pub fn query(twin: SocketAddrV4) -> String {
    format!("?tie={twin}")
}

/// The twin a request's path names, if it is a tied copy.
pub fn twin(path: &str) -> Option<SocketAddrV4> {
    let (_, query) = path.split_once('?')?;
    query.split('&').find_map(|kv| kv.strip_prefix("tie=")?.parse().ok())
}

/// The message that cancels call `k` of request `req` at the twin.
pub fn cancel_message(req: u64, k: u32) -> Vec<u8> {
    format!("{CANCEL}/c/{req}/{k}").into_bytes()
}

/// The call a cancellation message names.
pub fn parse_cancel(bytes: &[u8]) -> Option<(u64, u32)> {
    let text = std::str::from_utf8(bytes).ok()?.strip_prefix(CANCEL)?;
    let mut parts = text.strip_prefix("/c/")?.split('/');
    let req = parts.next()?.parse().ok()?;
    let k = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((req, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_names_its_twin_and_a_cancel_its_call() {
        let twin_addr: SocketAddrV4 = "10.0.1.2:80".parse().unwrap();
        let path = format!("/c/7/2/0{}", query(twin_addr));
        assert_eq!(path, "/c/7/2/0?tie=10.0.1.2:80");
        assert_eq!(twin(&path), Some(twin_addr));
        assert_eq!(twin("/c/7/2/0"), None);
        assert_eq!(parse_cancel(&cancel_message(7, 2)), Some((7, 2)));
        for bad in [&b"TIE-CANCEL /c/7"[..], b"TIE-CANCEL /c/x/2", b"hello", b"TIE-CANCEL /c/1/2/3", &[0xff, 0xfe]] {
            assert_eq!(parse_cancel(bad), None, "{bad:?}");
        }
    }
}
