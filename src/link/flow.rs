//! Per-flow impairments: rules that give some packets of a path their own link.
//!
//! This is what netem does under a classful qdisc (tc-prio(8) or tc-htb(8) with a netem leaf
//! per class and tc-u32 filters): each rule is a netem instance of its own, with its own queue,
//! rate and random stream, and a packet goes to the first rule whose match it satisfies, else
//! to the path's own link. A rule's settings are the path's, in that direction, changed by what
//! the rule names; a rule with a rate therefore has a wire of its own (flows do not share the
//! bottleneck).
//!
//! A match is words joined by spaces, all of which must hold (`udp port 443`):
//!
//! | word | holds for |
//! |---|---|
//! | `tcp`, `udp`, `icmp` | packets of that protocol |
//! | `port N` | TCP or UDP packets from or to port N |
//! | `sport N`, `dport N` | TCP or UDP packets from (to) port N, in the direction they travel |
//! | `host ADDR` | packets from or to that host (a lab names hosts; they are resolved to addresses) |

use std::fmt;
use std::net::Ipv4Addr;

use super::LinkConfig;

/// The transport protocol of a packet, as far as flow rules care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Other,
}

/// What a flow rule looks at in a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    pub protocol: Protocol,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Ports, for TCP and UDP.
    pub ports: Option<(u16, u16)>,
}

/// A parsed `match`: every condition given must hold. See the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowMatch {
    pub protocol: Option<Protocol>,
    pub port: Option<u16>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub host: Option<Ipv4Addr>,
    /// The words as written, for messages and capture notes.
    pub text: String,
}

/// The words a match understands, for messages.
pub const MATCH_WORDS: &str = "tcp, udp, icmp, port N, sport N, dport N, host NAME";

impl FlowMatch {
    /// Parses match words; `host` names are resolved with `resolve`. The error says which word
    /// is wrong and what is allowed.
    pub fn parse(text: &str, resolve: impl Fn(&str) -> Option<Ipv4Addr>) -> Result<FlowMatch, String> {
        let mut m = FlowMatch { text: text.split_whitespace().collect::<Vec<_>>().join(" "), ..FlowMatch::default() };
        let mut words = text.split_whitespace();
        let mut any = false;
        while let Some(word) = words.next() {
            any = true;
            let protocol = match word {
                "tcp" => Some(Protocol::Tcp),
                "udp" => Some(Protocol::Udp),
                "icmp" => Some(Protocol::Icmp),
                _ => None,
            };
            if let Some(p) = protocol {
                if m.protocol.replace(p).is_some() {
                    return Err(format!("`{word}`: a match names at most one protocol"));
                }
                continue;
            }
            let value = match word {
                "port" | "sport" | "dport" | "host" => {
                    words.next().ok_or_else(|| format!("`{word}` needs a value (words: {MATCH_WORDS})"))?
                }
                _ => return Err(format!("unknown word `{word}` (words: {MATCH_WORDS})")),
            };
            if word == "host" {
                let addr = resolve(value).ok_or_else(|| format!("`host {value}`: no such host"))?;
                if m.host.replace(addr).is_some() {
                    return Err("`host` is given twice".into());
                }
                continue;
            }
            let port = value
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("`{word} {value}`: `{value}` is not a port (1 to 65535)"))?;
            let slot = match word {
                "port" => &mut m.port,
                "sport" => &mut m.sport,
                _ => &mut m.dport,
            };
            if slot.replace(port).is_some() {
                return Err(format!("`{word}` is given twice"));
            }
        }
        if !any {
            return Err(format!("empty match (words: {MATCH_WORDS})"));
        }
        let ports = m.port.is_some() || m.sport.is_some() || m.dport.is_some();
        if ports && matches!(m.protocol, Some(Protocol::Icmp)) {
            return Err("`icmp` has no ports".into());
        }
        Ok(m)
    }

    /// Whether a packet with `key` matches.
    pub fn matches(&self, key: &FlowKey) -> bool {
        let protocol = self.protocol.is_none_or(|p| p == key.protocol);
        let host = self.host.is_none_or(|h| h == key.src || h == key.dst);
        let ports = match key.ports {
            Some((s, d)) => {
                self.port.is_none_or(|p| p == s || p == d)
                    && self.sport.is_none_or(|p| p == s)
                    && self.dport.is_none_or(|p| p == d)
            }
            None => self.port.is_none() && self.sport.is_none() && self.dport.is_none(),
        };
        protocol && host && ports
    }
}

impl fmt::Display for FlowMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A flow rule: packets that match go through a link with `config`.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowRule {
    pub matcher: FlowMatch,
    pub config: LinkConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(protocol: Protocol, ports: Option<(u16, u16)>) -> FlowKey {
        FlowKey { protocol, src: Ipv4Addr::new(10, 0, 0, 1), dst: Ipv4Addr::new(10, 0, 0, 2), ports }
    }

    fn parse(text: &str) -> Result<FlowMatch, String> {
        FlowMatch::parse(text, |name| (name == "server").then_some(Ipv4Addr::new(10, 0, 0, 2)))
    }

    #[test]
    fn words_combine_with_and() {
        let m = parse("udp  port 443").unwrap();
        assert_eq!(m.text, "udp port 443");
        assert!(m.matches(&key(Protocol::Udp, Some((50000, 443)))));
        assert!(m.matches(&key(Protocol::Udp, Some((443, 50000)))));
        assert!(!m.matches(&key(Protocol::Tcp, Some((50000, 443)))));
        assert!(!m.matches(&key(Protocol::Udp, Some((50000, 53)))));
        let m = parse("tcp dport 80").unwrap();
        assert!(m.matches(&key(Protocol::Tcp, Some((50000, 80)))));
        assert!(!m.matches(&key(Protocol::Tcp, Some((80, 50000)))), "dport is the destination only");
        let m = parse("sport 80").unwrap();
        assert!(m.matches(&key(Protocol::Tcp, Some((80, 50000)))));
        assert!(!m.matches(&key(Protocol::Icmp, None)), "no ports, no match");
        let m = parse("icmp").unwrap();
        assert!(m.matches(&key(Protocol::Icmp, None)));
        let m = parse("host server").unwrap();
        assert!(m.matches(&key(Protocol::Other, None)));
        let m = FlowMatch::parse("host client", |_| Some(Ipv4Addr::new(10, 0, 0, 9))).unwrap();
        assert!(!m.matches(&key(Protocol::Tcp, Some((1, 2)))));
    }

    #[test]
    fn bad_matches_say_why() {
        let cases = [
            ("", "empty match"),
            ("sctp", "unknown word `sctp`"),
            ("port", "`port` needs a value"),
            ("port 0", "`0` is not a port (1 to 65535)"),
            ("port 70000", "`70000` is not a port"),
            ("tcp udp", "at most one protocol"),
            ("port 1 port 2", "`port` is given twice"),
            ("icmp port 1", "`icmp` has no ports"),
            ("host nowhere", "`host nowhere`: no such host"),
        ];
        for (text, message) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(message), "{text:?}: {e}");
        }
    }
}
