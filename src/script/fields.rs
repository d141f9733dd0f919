//! Turning lab-file values into typed values, with errors that name the field.
//!
//! Every string may refer to parameters as `${name}`; [`Params::resolve`] substitutes them
//! and remembers which parameter a bad value came from, so the error can say so.

use std::collections::BTreeMap;
use std::time::Duration;

use super::params::{DurationRange, IntRange, SizeRange};
use super::raw::Scalar;
use super::InputError;
use crate::units;

/// The parameters in force for one scenario: the lab's, then the scenario's, then `--set`.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pub values: BTreeMap<String, Scalar>,
}

/// A value after parameter substitution, with the field it came from for error messages.
#[derive(Clone, Debug)]
pub struct Value {
    pub field: String,
    pub scalar: Scalar,
    /// The parameters the value referred to (named in errors).
    pub from: Vec<String>,
}

impl Params {
    /// Substitutes `${name}` references in `scalar`, the value of `field`; a parameter whose
    /// value refers to others (`server_idle_timeout = "${gap} - ${rtt} / 2"`) is resolved too.
    pub fn resolve(&self, field: &str, scalar: &Scalar) -> Result<Value, InputError> {
        self.resolve_at(field, scalar, 0)
    }

    fn resolve_at(&self, field: &str, scalar: &Scalar, depth: usize) -> Result<Value, InputError> {
        let Scalar::Str(s) = scalar else {
            return Ok(Value { field: field.to_string(), scalar: scalar.clone(), from: vec![] });
        };
        let mut out = String::new();
        let mut from = Vec::new();
        let mut rest = s.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| InputError::new(format!("{field}: unclosed `${{` in \"{s}\"")))?;
            let name = &after[..end];
            let value = self.values.get(name).ok_or_else(|| {
                let known: Vec<&str> = self.values.keys().map(String::as_str).collect();
                InputError::new(format!(
                    "{field}: \"{s}\" refers to unknown parameter `{name}` (parameters: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ))
            })?;
            if depth >= 8 {
                return Err(InputError::new(format!(
                    "{field}: \"{s}\": parameter `{name}` refers to itself through its references"
                )));
            }
            let value = self.resolve_at(field, value, depth + 1)?;
            // A value that is exactly one reference keeps the parameter's type.
            if start == 0 && end + 3 == rest.len() && out.is_empty() {
                let mut from = vec![name.to_string()];
                from.extend(value.from);
                return Ok(Value { field: field.to_string(), scalar: value.scalar, from });
            }
            out.push_str(&value.scalar.to_string());
            from.push(name.to_string());
            from.extend(value.from);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Value { field: field.to_string(), scalar: Scalar::Str(out), from })
    }
}

impl Value {
    fn fail(&self, message: impl std::fmt::Display) -> InputError {
        let origin = if self.from.is_empty() {
            String::new()
        } else {
            format!(" (from parameter {})", self.from.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "))
        };
        InputError::new(format!("{}: {message}{origin}", self.field))
    }

    fn text(&self) -> String {
        self.scalar.to_string()
    }

    pub fn duration(&self) -> Result<Duration, InputError> {
        match &self.scalar {
            Scalar::Int(0) => Ok(Duration::ZERO),
            Scalar::Str(s) => units::parse_duration(s).map_err(|e| self.fail(e)),
            other => Err(self.fail(format!("`{other}` is not a duration (expected a string such as \"150ms\")"))),
        }
    }

    /// A duration within `range`; the error names the limits.
    pub fn duration_in(&self, range: DurationRange) -> Result<Duration, InputError> {
        let d = self.duration()?;
        if range.contains(d) {
            Ok(d)
        } else {
            Err(self.fail(format!("`{}` is out of range (allowed: {})", self.text(), range.describe())))
        }
    }

    /// A fraction 0..=1 from a percentage ("1%", 1, 0.5).
    pub fn percent(&self) -> Result<f64, InputError> {
        units::parse_percent(&self.text()).map_err(|e| self.fail(e))
    }

    pub fn rate(&self) -> Result<u64, InputError> {
        units::parse_rate(&self.text()).map_err(|e| self.fail(e))
    }

    pub fn size(&self) -> Result<u64, InputError> {
        match &self.scalar {
            Scalar::Int(i) if *i >= 0 => Ok(*i as u64),
            Scalar::Str(s) => units::parse_size(s).map_err(|e| self.fail(e)),
            other => Err(self.fail(format!("`{other}` is not a size (expected e.g. 200KB, 14600 or 64KiB)"))),
        }
    }

    /// A size in bytes within `range`; the error names both limits.
    pub fn size_in(&self, range: SizeRange) -> Result<u64, InputError> {
        let n = self.size()?;
        if range.contains(n) {
            Ok(n)
        } else {
            Err(self.fail(format!("`{}` ({n} bytes) is out of range (allowed: {})", self.text(), range.describe())))
        }
    }

    /// A whole number within `range`.
    pub fn int(&self, range: IntRange) -> Result<u64, InputError> {
        let n = match &self.scalar {
            Scalar::Int(i) => u64::try_from(*i).ok(),
            Scalar::Str(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if range.contains(n) => Ok(n),
            _ => Err(self.fail(format!("`{}` is out of range (allowed: {})", self.text(), range.describe()))),
        }
    }

    pub fn bool(&self) -> Result<bool, InputError> {
        match &self.scalar {
            Scalar::Bool(b) => Ok(*b),
            Scalar::Str(s) if s == "true" => Ok(true),
            Scalar::Str(s) if s == "false" => Ok(false),
            other => Err(self.fail(format!("`{other}` is not true or false"))),
        }
    }

    pub fn string(&self) -> Result<String, InputError> {
        match &self.scalar {
            Scalar::Str(s) if !s.is_empty() => Ok(s.clone()),
            other => Err(self.fail(format!("`{other}` is not a non-empty string"))),
        }
    }

    /// One of `allowed`.
    pub fn choice(&self, allowed: &[&str]) -> Result<String, InputError> {
        let s = self.text();
        if allowed.contains(&s.as_str()) {
            Ok(s)
        } else {
            Err(self.fail(format!("`{s}` is not allowed (allowed: {})", allowed.join(", "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        let mut values = BTreeMap::new();
        values.insert("rtt".to_string(), Scalar::Str("150ms".into()));
        values.insert("iw".to_string(), Scalar::Int(10));
        Params { values }
    }

    #[test]
    fn whole_reference_keeps_type_and_partial_interpolates() {
        let p = params();
        let v = p.resolve("x", &Scalar::Str("${iw}".into())).unwrap();
        assert_eq!(v.scalar, Scalar::Int(10));
        let v = p.resolve("x", &Scalar::Str("delay ${rtt} loss 1%".into())).unwrap();
        assert_eq!(v.scalar, Scalar::Str("delay 150ms loss 1%".into()));
    }

    #[test]
    fn parameters_may_refer_to_parameters_but_not_to_themselves() {
        let mut p = params();
        p.values.insert("gap".into(), Scalar::Str("7s".into()));
        p.values.insert("timeout".into(), Scalar::Str("${gap} - ${rtt} / 2".into()));
        let v = p.resolve("x", &Scalar::Str("${timeout}".into())).unwrap();
        assert_eq!(v.scalar, Scalar::Str("7s - 150ms / 2".into()));
        assert_eq!(v.from, ["timeout", "gap", "rtt"]);
        p.values.insert("a".into(), Scalar::Str("${b}".into()));
        p.values.insert("b".into(), Scalar::Str("1s + ${a}".into()));
        let e = p.resolve("step.every", &Scalar::Str("${a}".into())).unwrap_err().to_string();
        assert!(e.contains("step.every") && e.contains("refers to itself"), "{e}");
    }

    #[test]
    fn errors_name_field_and_parameter() {
        let p = params();
        let e = p.resolve("link.rtt", &Scalar::Str("${nope}".into())).unwrap_err();
        assert!(e.to_string().contains("link.rtt") && e.to_string().contains("`nope`"), "{e}");
        let v = p.resolve("step.size", &Scalar::Str("${rtt}".into())).unwrap();
        let e = v.size().unwrap_err().to_string();
        assert!(e.contains("step.size") && e.contains("parameter `rtt`"), "{e}");
    }
}
