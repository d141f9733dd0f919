//! How much of its traffic a vantage point keeps (`wirelab run --capture none|first:N|all`).
//!
//! The limit is applied where a tap records ([`super::Capture::record_in`]): frames past it are
//! counted (their number, their phase's first and last frame) but their bytes are never
//! stored, so a long run's memory stays flat. What analyses measure must not depend on it:
//! the runner refuses a limit for scenarios whose analysis reads the capture's packets.

use std::fmt;

/// The frames a capture keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keep {
    /// Every frame (the default).
    #[default]
    All,
    /// The first `N` frames (N ≥ 1); the file says where it was cut and how many frames the
    /// whole run had.
    First(u64),
    /// No frame: no capture file is written.
    None,
}

/// What `--capture` accepts, for error messages and help.
pub const ALLOWED: &str = "none, first:N (N a whole number of frames, 1 or more) or all";

impl Keep {
    /// `none`, `first:N` or `all`.
    pub fn parse(s: &str) -> Result<Keep, String> {
        let t = s.trim();
        match t {
            "all" => return Ok(Keep::All),
            "none" => return Ok(Keep::None),
            _ => {}
        }
        let Some(n) = t.strip_prefix("first:") else {
            return Err(format!("`{s}` is not a capture limit (allowed: {ALLOWED})"));
        };
        if n.trim().is_empty() {
            return Err(format!("`{s}` needs a number of frames after `first:` (allowed: {ALLOWED})"));
        }
        match n.trim().parse::<u64>() {
            Ok(0) => Err(format!("`{s}` keeps no frame: write `none` for no capture (allowed: {ALLOWED})")),
            Ok(n) => Ok(Keep::First(n)),
            Err(_) => Err(format!("`{s}`: `{n}` is not a number of frames (allowed: {ALLOWED})")),
        }
    }

    /// The most frames kept: `None` for all.
    pub fn limit(self) -> Option<u64> {
        match self {
            Keep::All => None,
            Keep::First(n) => Some(n),
            Keep::None => Some(0),
        }
    }

    /// Every frame is kept.
    pub fn is_all(self) -> bool {
        self == Keep::All
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::All => write!(f, "all"),
            Keep::First(n) => write!(f, "first:{n}"),
            Keep::None => write!(f, "none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_names_the_allowed_ones() {
        assert_eq!(Keep::parse("all"), Ok(Keep::All));
        assert_eq!(Keep::parse("none"), Ok(Keep::None));
        assert_eq!(Keep::parse("first:50"), Ok(Keep::First(50)));
        assert_eq!(Keep::parse(" first: 7 "), Ok(Keep::First(7)));
        for bad in ["first:", "first:0", "first:-1", "first:x", "some", "", "FIRST:3", "first:99999999999999999999"] {
            let e = Keep::parse(bad).unwrap_err();
            assert!(e.contains(ALLOWED), "{bad}: {e}");
        }
        assert_eq!(Keep::First(3).to_string(), "first:3");
        assert_eq!(Keep::None.limit(), Some(0));
        assert_eq!(Keep::All.limit(), None);
    }
}
