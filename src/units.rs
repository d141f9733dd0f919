//! Values as users type them: durations (`150ms`), percentages (`1%`), rates (`10mbit`) and
//! sizes (`200KB`).
//!
//! Every parser trims the input, accepts optional spaces between the number and its unit, and
//! returns a [`UnitError`] that names the value and what would have been accepted, so the
//! command line can print it as is.

use std::time::Duration;

/// A value that could not be parsed: the text, what it was meant to be, and what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{value}` is not {what} (expected {expected})")]
pub struct UnitError {
    pub value: String,
    pub what: &'static str,
    pub expected: &'static str,
}

const DURATION: &str = "a duration";
const DURATION_FORM: &str = "a non-negative number with a unit: ns, us, ms, s, m or h, e.g. 150ms";
const PERCENT: &str = "a percentage";
const PERCENT_FORM: &str = "a number from 0 to 100, optionally followed by %, e.g. 1% or 0.5%";
const RATE: &str = "a rate";
const RATE_FORM: &str = "a number above 0 with a tc unit: bit, kbit, mbit, gbit, tbit, kibit, \
                         mibit, gibit (bits/s) or bps, kbps, mbps, gbps (bytes/s), e.g. 10mbit";
const SIZE: &str = "a size";
const SIZE_FORM: &str =
    "a whole number of bytes, optionally with a unit: B, KB, MB, GB, TB (SI) or KiB, MiB, GiB, TiB, e.g. 200KB";

fn error(value: &str, what: &'static str, expected: &'static str) -> UnitError {
    UnitError { value: value.to_string(), what, expected }
}

/// Splits `" 1.5 ms "` into `(1.5, "ms")`. The number is digits with at most one dot and no
/// sign, so negative numbers, `inf` and `NaN` are rejected here.
fn split(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if !num.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    value.is_finite().then_some((value, unit.trim()))
}

/// Parses a duration: `150ms`, `1.5s`, `500us`, `2m` (minutes), `1h`, `75 ms`, `10ns`.
/// A bare number is only accepted when it is zero (`0`), since `150` is ambiguous.
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    if is_expression(s) {
        let nanos = expression(s, DURATION, DURATION_EXPRESSION_FORM, |t| Ok(one_duration(t)?.as_nanos() as f64))?;
        return Ok(Duration::from_nanos(nanos));
    }
    one_duration(s)
}

const DURATION_EXPRESSION_FORM: &str = "durations added or subtracted, each optionally multiplied or divided by a number, with spaces around the operators, e.g. `7s - 150ms / 2`; the result must not be negative";

/// Whether `s` is an expression ([`expression`]): it has an operator between spaces.
fn is_expression(s: &str) -> bool {
    s.split_whitespace().any(|t| matches!(t, "+" | "-" | "*" | "/"))
}

/// `7s - 150ms / 2`, `1460B * 6`: terms joined by ` + ` and ` - `, each one value with a unit
/// (read by `one`, in the smallest unit: nanoseconds, bytes) multiplied (` * `) or divided
/// (` / `) by plain numbers, so that a lab can derive a timing or a size from its parameters
/// (`"${gap} - ${rtt} / 2"`, `"${mss}B * 6"`). The total is rounded to a whole unit.
fn expression(
    s: &str,
    what: &'static str,
    form: &'static str,
    one: impl Fn(&str) -> Result<f64, UnitError>,
) -> Result<u64, UnitError> {
    let bad = || error(s, what, form);
    let mut total = 0.0f64;
    let mut sign = 1.0;
    let mut tokens = s.split_whitespace().peekable();
    loop {
        // One term: factors joined by * and /, exactly one of them a value with a unit.
        let mut unit_value: Option<f64> = None;
        let mut factor = 1.0f64;
        let mut divide = false;
        loop {
            let tok = tokens.next().ok_or_else(bad)?;
            let value = match tok.parse::<f64>() {
                Ok(n) if n.is_finite() => n,
                _ if unit_value.is_none() => {
                    unit_value = Some(one(tok).map_err(|_| bad())?);
                    1.0
                }
                _ => return Err(bad()),
            };
            if divide {
                if value == 0.0 {
                    return Err(bad());
                }
                factor /= value;
            } else {
                factor *= value;
            }
            match tokens.peek() {
                Some(&"*") => divide = false,
                Some(&"/") => divide = true,
                _ => break,
            }
            tokens.next();
        }
        total += sign * unit_value.ok_or_else(bad)? * factor;
        match tokens.next() {
            None => break,
            Some("+") => sign = 1.0,
            Some("-") => sign = -1.0,
            Some(_) => return Err(bad()),
        }
    }
    let total = total.round();
    if !(0.0..u64::MAX as f64).contains(&total) {
        return Err(bad());
    }
    Ok(total as u64)
}

fn one_duration(s: &str) -> Result<Duration, UnitError> {
    let bad = || error(s, DURATION, DURATION_FORM);
    let (value, unit) = split(s).ok_or_else(bad)?;
    let nanos_per_unit: f64 = match unit {
        "" if value == 0.0 => 0.0,
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return Err(bad()),
    };
    let nanos = (value * nanos_per_unit).round();
    if nanos >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Parses a percentage (`1%`, `0.5%`, or a bare `1` meaning 1%) into a fraction in `0.0..=1.0`.
pub fn parse_percent(s: &str) -> Result<f64, UnitError> {
    let bad = || error(s, PERCENT, PERCENT_FORM);
    let (value, unit) = split(s).ok_or_else(bad)?;
    if !(unit.is_empty() || unit == "%") || value > 100.0 {
        return Err(bad());
    }
    Ok(value / 100.0)
}

/// Parses a rate in tc's units, case-insensitive, into bits per second. `bit` units count bits
/// (SI `kbit` = 1000, IEC `kibit` = 1024); `bps` units count *bytes* per second, as in tc. A
/// bare number is bits per second. The rate must be above zero.
pub fn parse_rate(s: &str) -> Result<u64, UnitError> {
    let bad = || error(s, RATE, RATE_FORM);
    let (value, unit) = split(s).ok_or_else(bad)?;
    let unit = unit.to_ascii_lowercase();
    let (prefix, bits) = if let Some(p) = unit.strip_suffix("bit") {
        (p, 1.0)
    } else if let Some(p) = unit.strip_suffix("bps") {
        (p, 8.0)
    } else if unit.is_empty() {
        ("", 1.0)
    } else {
        return Err(bad());
    };
    let scale = multiplier(prefix).ok_or_else(bad)?;
    let bps = (value * scale * bits).round();
    if bps < 1.0 || bps >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bps as u64)
}

/// SI and IEC prefixes: `k` = 1000, `ki` = 1024, up to tera.
fn multiplier(prefix: &str) -> Option<f64> {
    Some(match prefix {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "ki" => 1024.0,
        "mi" => 1024.0 * 1024.0,
        "gi" => 1024.0 * 1024.0 * 1024.0,
        "ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    })
}

/// Parses a size in bytes, case-insensitive: `14600`, `10B`, `200KB` (200 000), `1.5KB`,
/// `1MB`, `64KiB` (65 536), `1MiB`. `K`, `M`, `G` alone mean KB, MB, GB. The result must be a
/// whole number of bytes. An expression derives one: `1460B * 6`, terms added or subtracted,
/// each one size with its unit multiplied or divided by numbers.
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    if is_expression(s) {
        return expression(s, SIZE, SIZE_EXPRESSION_FORM, |t| Ok(one_size(t)? as f64));
    }
    one_size(s)
}

const SIZE_EXPRESSION_FORM: &str = "sizes with a unit added or subtracted, each optionally multiplied or divided by a number, with spaces around the operators, e.g. `1460B * 6`; the result must not be negative";

fn one_size(s: &str) -> Result<u64, UnitError> {
    let bad = || error(s, SIZE, SIZE_FORM);
    let (value, unit) = split(s).ok_or_else(bad)?;
    let unit = unit.to_ascii_lowercase();
    let prefix = unit.strip_suffix('b').unwrap_or(&unit);
    let scale = multiplier(prefix).ok_or_else(bad)?;
    let bytes = value * scale;
    if bytes.fract() != 0.0 || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// A duration as a user would type it, in the largest unit that divides it: `2us`, `150ms`,
/// `30s`, `5m`, `168h` (for messages that name a range).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    for (unit, size) in
        [("h", 3_600_000_000_000u128), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)]
    {
        if nanos >= size && nanos % size == 0 {
            return format!("{}{unit}", nanos / size);
        }
    }
    if nanos == 0 {
        "0s".to_string()
    } else {
        format!("{nanos}ns")
    }
}

/// A short human form in SI units for tables: `512 B`, `14.6 KB`, `200 KB`, `1.5 MB`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = "B";
    for u in UNITS {
        value /= 1000.0;
        unit = u;
        // Stop unless rounding to one decimal would print 1000.0 of this unit.
        if value < 999.95 {
            break;
        }
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_expressions() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("7s - 150ms / 2"), Ok(ms(6925)));
        assert_eq!(parse_duration("7s - 4 * 1s - 1.4s"), Ok(ms(1600)));
        assert_eq!(parse_duration("1s + 2 * 250ms"), Ok(ms(1500)));
        assert_eq!(parse_duration("3 * 100ms / 2"), Ok(ms(150)));
        for bad in ["1s - 2s", "1s * 2s", "1s / 0", "1s +", "- 1s", "2 * 3", "1s + x"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("subtracted"), "{bad}: {e}");
        }
    }

    #[test]
    fn size_expressions() {
        assert_eq!(parse_size("1460B * 6"), Ok(8760));
        assert_eq!(parse_size("6 * 1460"), Err(error("6 * 1460", SIZE, SIZE_EXPRESSION_FORM)), "no term has a unit");
        assert_eq!(parse_size("1MiB - 64KiB / 2"), Ok(1_015_808));
        assert_eq!(parse_size("200KB + 1KB * 1.5"), Ok(201_500));
        for bad in ["1KB - 2KB", "1KB * 2KB", "1KB / 0", "1KB +", "- 1KB", "1KB + x", "1ms * 2"] {
            let e = parse_size(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("subtracted") && e.contains("a size"), "{bad}: {e}");
        }
        // Not an expression: as before.
        assert_eq!(parse_size("1.5 KB"), Ok(1500));
    }

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("150ms"), Ok(ms(150)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("10ns"), Ok(Duration::from_nanos(10)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 75 ms "), Ok(ms(75)));
    }

    #[test]
    fn bad_durations() {
        for s in ["150", "-5ms", "NaN", "inf", "ms", "", "1.2.3s", "5 parsecs", "1e30h", "5ms5"] {
            let e = parse_duration(s).unwrap_err();
            assert_eq!(e.value, s);
            assert!(e.to_string().contains("is not a duration"), "{e}");
            assert!(e.to_string().contains("ms"), "{e}");
        }
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent("1%"), Ok(0.01));
        assert_eq!(parse_percent("0.5%"), Ok(0.005));
        assert_eq!(parse_percent("1"), Ok(0.01));
        assert_eq!(parse_percent("100%"), Ok(1.0));
        assert_eq!(parse_percent("0"), Ok(0.0));
    }

    #[test]
    fn bad_percents() {
        for s in ["101%", "-1%", "abc", "5 percent", "%", "NaN%"] {
            let e = parse_percent(s).unwrap_err();
            assert!(e.to_string().contains(&format!("`{s}` is not a percentage")), "{e}");
            assert!(e.to_string().contains("0 to 100"), "{e}");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("10mbit"), Ok(10_000_000));
        assert_eq!(parse_rate("10Mbit"), Ok(10_000_000));
        assert_eq!(parse_rate("100kbit"), Ok(100_000));
        assert_eq!(parse_rate("1gbit"), Ok(1_000_000_000));
        assert_eq!(parse_rate("1tbit"), Ok(1_000_000_000_000));
        assert_eq!(parse_rate("500bit"), Ok(500));
        assert_eq!(parse_rate("1mbps"), Ok(8_000_000));
        assert_eq!(parse_rate("100bps"), Ok(800));
        assert_eq!(parse_rate("1kibit"), Ok(1024));
        assert_eq!(parse_rate("1mibit"), Ok(1_048_576));
        assert_eq!(parse_rate("9600"), Ok(9600));
        assert_eq!(parse_rate("1.5 mbit"), Ok(1_500_000));
    }

    #[test]
    fn bad_rates() {
        for s in ["0", "0mbit", "10 furlongs", "mbit", "-1mbit", "10mb", "0.1bit"] {
            let e = parse_rate(s).unwrap_err();
            assert!(e.to_string().contains(&format!("`{s}` is not a rate")), "{e}");
            assert!(e.to_string().contains("mbit"), "{e}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("200KB"), Ok(200_000));
        assert_eq!(parse_size("200kb"), Ok(200_000));
        assert_eq!(parse_size("14600"), Ok(14_600));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("1.5KB"), Ok(1500));
        assert_eq!(parse_size("2k"), Ok(2000));
    }

    #[test]
    fn bad_sizes() {
        for s in ["1.5B", "-1KB", "12 apples", "KB", "1XB", ""] {
            let e = parse_size(s).unwrap_err();
            assert!(e.to_string().contains(&format!("`{s}` is not a size")), "{e}");
            assert!(e.to_string().contains("KiB"), "{e}");
        }
    }

    #[test]
    fn formats_bytes() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(1000), "1 KB");
        assert_eq!(format_bytes(14_600), "14.6 KB");
        assert_eq!(format_bytes(200_000), "200 KB");
        assert_eq!(format_bytes(1_500_000), "1.5 MB");
        assert_eq!(format_bytes(999_999), "1 MB");
        assert_eq!(format_bytes(3_000_000_000), "3 GB");
    }
}
