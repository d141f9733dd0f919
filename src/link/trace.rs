//! Links whose rate or delay follow a recorded trace.
//!
//! **Rate traces** are in mahimahi's format (`mm-link`, Netravali et al., "Mahimahi: Accurate
//! Record-and-Replay for HTTP", USENIX ATC 2015; `src/frontend/link_queue.cc`): one line per
//! *delivery opportunity*, a whole number of milliseconds since the trace began; each
//! opportunity lets 1500 bytes leave the queue, and a time repeated on several lines is several
//! opportunities in that millisecond. A file holding just `1` is 1500 bytes per ms, 12 Mbit/s.
//! The trace repeats after its last line, shifted by that line's time. As in mahimahi:
//!
//! - an opportunity carries up to 1500 bytes, from one packet or several queued ones; a packet
//!   leaves at the opportunity that carries its last byte, and bytes of a packet that do not
//!   fit in what is left of one opportunity spill into the next ones (mahimahi refuses
//!   packets over 1500 bytes; here they take several opportunities);
//! - an opportunity the queue cannot use is lost, and so is what is left of one when the queue
//!   runs dry: a packet sent at `t` can use only opportunities after `t` (mahimahi burns those
//!   due up to now before it queues an arriving packet), or the rest of the opportunity the
//!   previous packet ended in if that one is still to come.
//!
//! Times are in µs here (mahimahi's clock ticks in ms), and the trace's time 0 is when the link
//! was created or [reconfigured](super::Link::reconfigure) with a new trace.
//!
//! **Delay traces** are wirelab's own: lines `TIME_MS DELAY_MS` (numbers of milliseconds,
//! decimals allowed), the one-way delay from that time on. The first line is at time 0, times
//! increase, and the last delay holds to the end of the run: a delay trace does not repeat.
//! A packet takes the delay in force when its last bit leaves the transmitter.

use std::time::Duration;

/// Bytes per delivery opportunity (mahimahi's `PACKET_SIZE`).
pub const OPPORTUNITY_BYTES: u64 = 1500;
/// Largest time or delay a trace line may hold, in ms (2^32 - 1, about 49.7 days).
pub const MAX_TRACE_MS: u64 = u32::MAX as u64;

/// A rate trace: delivery opportunities in ms. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateTrace {
    /// The file it came from, for messages.
    pub name: String,
    /// Non-decreasing, not empty, the last one above 0.
    opportunities: Vec<u64>,
}

/// A delay trace: (from µs, one-way delay). See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelayTrace {
    pub name: String,
    /// Starts at 0, strictly increasing times.
    steps: Vec<(u64, Duration)>,
}

/// `line N: what was wrong, what was expected`.
fn bad(line: usize, message: String) -> String {
    format!("line {line}: {message}")
}

/// The lines of a trace file with their 1-based numbers; a trailing newline is not a line,
/// `\r\n` endings are accepted.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
}

impl RateTrace {
    /// Parses mahimahi's format; the error says the line and what was expected there.
    pub fn parse(name: &str, text: &str) -> Result<RateTrace, String> {
        const FORM: &str = "one delivery time per line, whole milliseconds (mahimahi format)";
        let mut opportunities: Vec<u64> = Vec::new();
        for (n, line) in lines(text) {
            let word = line.trim();
            if word.is_empty() {
                return Err(bad(n, format!("empty line; expected {FORM}")));
            }
            let ms = word
                .parse::<u64>()
                .ok()
                .filter(|&ms| ms <= MAX_TRACE_MS)
                .ok_or_else(|| bad(n, format!("`{word}` is not a time; expected {FORM}, 0 to {MAX_TRACE_MS}")))?;
            if let Some(&last) = opportunities.last().filter(|&&last| ms < last) {
                return Err(bad(n, format!("{ms} is before the previous line's {last}; times must not decrease")));
            }
            opportunities.push(ms);
        }
        match opportunities.last() {
            None => Err(format!("no delivery times; expected {FORM}")),
            Some(0) => Err("the last time is 0; the trace must last for a nonzero time".into()),
            Some(_) => Ok(RateTrace { name: name.to_string(), opportunities }),
        }
    }

    /// Period of the trace in µs: its last time.
    fn period(&self) -> u64 {
        self.opportunities.last().copied().unwrap_or(1).max(1) * 1000
    }

    /// The time of opportunity `n` (counted over repeats), µs from the trace's start.
    pub fn at(&self, n: u64) -> u64 {
        let len = self.opportunities.len() as u64;
        let cycle = n / len;
        let ms = self.opportunities[(n % len) as usize];
        cycle.saturating_mul(self.period()).saturating_add(ms * 1000)
    }

    /// The first opportunity strictly after `t` (µs from the trace's start).
    pub fn first_after(&self, t: u64) -> u64 {
        let len = self.opportunities.len() as u64;
        let cycle = t / self.period();
        let start = cycle.saturating_mul(self.period());
        let i = self.opportunities.partition_point(|&ms| start.saturating_add(ms * 1000) <= t) as u64;
        cycle.saturating_mul(len).saturating_add(i)
    }

    /// The average rate over one repeat, in bits per second.
    pub fn mean_rate_bps(&self) -> u64 {
        let bits = self.opportunities.len() as u64 * OPPORTUNITY_BYTES * 8;
        bits * 1_000_000 / self.period()
    }
}

/// A rate trace in use: where the next packet may start.
#[derive(Clone, Debug)]
pub(crate) struct TraceClock {
    trace: std::sync::Arc<RateTrace>,
    /// When the trace's time 0 is, µs.
    base: u64,
    /// The opportunity the previous packet's last byte left in, and the bytes left in it.
    last: Option<(u64, u64)>,
}

impl TraceClock {
    pub(crate) fn new(trace: std::sync::Arc<RateTrace>, base: u64) -> Self {
        TraceClock { trace, base, last: None }
    }

    pub(crate) fn trace(&self) -> &std::sync::Arc<RateTrace> {
        &self.trace
    }

    /// Queues `len` bytes offered at `now` (µs) behind everything queued before; returns when
    /// its last byte leaves, µs. The first packet of a clock also waits for `not_before` (the
    /// end of a transmission at an earlier rate, before a reconfiguration).
    pub(crate) fn transmit(&mut self, now: u64, not_before: u64, len: u64) -> u64 {
        let from = if self.last.is_some() { now } else { now.max(not_before) };
        let t = from.saturating_sub(self.base);
        let (mut n, avail) = match self.last {
            Some((n, left)) if self.trace.at(n) > t && left > 0 => (n, left),
            Some((n, _)) if self.trace.at(n) > t => (n + 1, OPPORTUNITY_BYTES),
            _ => (self.trace.first_after(t), OPPORTUNITY_BYTES),
        };
        let left = if len <= avail {
            avail - len
        } else {
            let spill = (len - avail).div_ceil(OPPORTUNITY_BYTES);
            n = n.saturating_add(spill);
            spill * OPPORTUNITY_BYTES - (len - avail)
        };
        self.last = Some((n, left));
        self.base.saturating_add(self.trace.at(n))
    }
}

impl DelayTrace {
    /// Parses `TIME_MS DELAY_MS` lines; the error says the line and what was expected there.
    pub fn parse(name: &str, text: &str) -> Result<DelayTrace, String> {
        const FORM: &str = "`TIME_MS DELAY_MS`, two numbers of milliseconds (e.g. `1000 25`)";
        let ms = |n: usize, word: &str, what: &str| -> Result<u64, String> {
            let v = word.parse::<f64>().ok().filter(|v| v.is_finite() && (0.0..=MAX_TRACE_MS as f64).contains(v));
            let v = v.ok_or_else(|| {
                bad(n, format!("`{word}` is not a {what}; expected {FORM}, each from 0 to {MAX_TRACE_MS}"))
            })?;
            Ok((v * 1000.0).round() as u64)
        };
        let mut steps: Vec<(u64, Duration)> = Vec::new();
        for (n, line) in lines(text) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let [time, delay] = words[..] else {
                return Err(bad(n, format!("`{}`: expected {FORM}", line.trim())));
            };
            let (at, delay) = (ms(n, time, "time")?, ms(n, delay, "delay")?);
            match steps.last() {
                None if at != 0 => return Err(bad(n, format!("the first line is at {time} ms; expected it at 0"))),
                Some(&(last, _)) if at <= last => {
                    return Err(bad(n, format!("time {time} ms is not after the previous line's; times must increase")))
                }
                _ => steps.push((at, Duration::from_micros(delay))),
            }
        }
        if steps.is_empty() {
            return Err(format!("no lines; expected {FORM}, the first at time 0"));
        }
        Ok(DelayTrace { name: name.to_string(), steps })
    }

    /// The delay in force `t` µs after the trace's start.
    pub fn at(&self, t: u64) -> Duration {
        let i = self.steps.partition_point(|&(from, _)| from <= t);
        self.steps[i.saturating_sub(1)].1
    }

    /// The delay at time 0.
    pub fn first(&self) -> Duration {
        self.steps[0].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn rate_trace_parses_mahimahis_format() {
        let t = RateTrace::parse("t", "1\n1\n3\n").unwrap();
        assert_eq!((0..7).map(|n| t.at(n) / 1000).collect::<Vec<_>>(), [1, 1, 3, 4, 4, 6, 7]);
        assert_eq!(t.first_after(0), 0);
        assert_eq!(t.first_after(1000), 2);
        assert_eq!(t.first_after(2999), 2);
        assert_eq!(t.first_after(3000), 3);
        assert_eq!(t.first_after(3500), 3);
        assert_eq!(t.first_after(6000), 6);
        // 3 opportunities per 3 ms: 12 Mbit/s.
        assert_eq!(t.mean_rate_bps(), 12_000_000);
        // Windows line endings.
        assert_eq!(RateTrace::parse("t", "1\r\n2\r\n").unwrap().opportunities, [1, 2]);
    }

    #[test]
    fn rate_trace_errors_name_the_line() {
        let cases = [
            ("", "no delivery times"),
            ("0\n0\n", "the last time is 0"),
            ("1\n\n2\n", "line 2: empty line"),
            ("1\n2.5\n", "line 2: `2.5` is not a time"),
            ("5\n3\n", "line 2: 3 is before the previous line's 5"),
            ("-1\n", "line 1: `-1` is not a time"),
            ("99999999999\n", "0 to 4294967295"),
        ];
        for (text, message) in cases {
            let e = RateTrace::parse("t", text).unwrap_err();
            assert!(e.contains(message), "{text:?}: {e}");
        }
    }

    #[test]
    fn opportunities_carry_1500_bytes_shared_and_spilled() {
        let trace = Arc::new(RateTrace::parse("t", "10\n20\n30\n40\n").unwrap());
        let mut c = TraceClock::new(trace, 0);
        // Two 700-byte packets share the 10 ms opportunity; 100 bytes are left, so a third
        // takes 100 there and 600 at 20 ms.
        assert_eq!(c.transmit(0, 0, 700), 10_000);
        assert_eq!(c.transmit(0, 0, 700), 10_000);
        assert_eq!(c.transmit(0, 0, 700), 20_000);
        // 900 left at 20 ms: a 1500-byte packet takes them and 600 of 30 ms.
        assert_eq!(c.transmit(0, 0, 1500), 30_000);
        // At 35 ms the queue has run dry; what was left at 30 ms is lost. Next: 40 ms.
        assert_eq!(c.transmit(35_000, 0, 100), 40_000);
        // A 4000-byte packet at 40 ms (after its start): 50, 60, 70 ms (the trace repeats
        // every 40 ms: 50, 60, 70, 80, ...).
        assert_eq!(c.transmit(40_000, 0, 4000), 70_000);
        // An opportunity at exactly the send time is already gone, as in mahimahi.
        assert_eq!(c.transmit(80_000, 0, 100), 90_000);
        // A clock started later counts from its base; its first packet waits for `not_before`.
        let every_ms = Arc::new(RateTrace::parse("t", "1\n").unwrap());
        let mut later = TraceClock::new(every_ms.clone(), 5_500);
        assert_eq!(later.transmit(5_500, 0, 1500), 6_500);
        assert_eq!(later.transmit(5_500, 0, 1500), 7_500);
        assert_eq!(TraceClock::new(every_ms, 5_500).transmit(5_500, 8_000, 1500), 8_500);
    }

    #[test]
    fn delay_trace_steps_and_holds() {
        let t = DelayTrace::parse("d", "0 20\n1000 80.5\n3000 10\n").unwrap();
        assert_eq!(t.first(), Duration::from_millis(20));
        assert_eq!(t.at(999_999), Duration::from_millis(20));
        assert_eq!(t.at(1_000_000), Duration::from_micros(80_500));
        assert_eq!(t.at(2_999_999), Duration::from_micros(80_500));
        assert_eq!(t.at(3_000_000), Duration::from_millis(10));
        assert_eq!(t.at(u64::MAX), Duration::from_millis(10));
    }

    #[test]
    fn delay_trace_errors_name_the_line() {
        let cases = [
            ("", "no lines"),
            ("5 20\n", "line 1: the first line is at 5 ms; expected it at 0"),
            ("0 20\n0 30\n", "line 2: time 0 ms is not after"),
            ("0 20\n10\n", "line 2: `10`: expected `TIME_MS DELAY_MS`"),
            ("0 -3\n", "line 1: `-3` is not a delay"),
            ("0 20\nx 3\n", "line 2: `x` is not a time"),
            ("0 NaN\n", "`NaN` is not a delay"),
        ];
        for (text, message) in cases {
            let e = DelayTrace::parse("d", text).unwrap_err();
            assert!(e.contains(message), "{text:?}: {e}");
        }
    }
}
