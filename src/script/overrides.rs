//! What the command line changes in a run (`--set`, `--rtt`, `--loss`, `--link`, `--tap`,
//! `--pictures`, `--capture`), and the check that path flags do not hide what a swept
//! parameter varies.

use std::time::Duration;

use super::plan::plan;
use super::{InputError, Lab};
use crate::link::LinkConfig;

/// Command-line overrides of a run.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--set KEY=VALUE`, in order.
    pub set: Vec<(String, String)>,
    /// `--rtt`: the client–server round trip.
    pub rtt: Option<Duration>,
    /// `--loss`: random loss each way on the client–server path (fraction).
    pub loss: Option<f64>,
    /// `--link`: netem words for the client–server path, applied last.
    pub link: Option<String>,
    /// `--tap`: other vantage points to capture at (host names, or `all`).
    pub taps: Vec<String>,
    /// `--pictures` other than `none`: gather what the pictures are drawn from.
    pub pictures: bool,
    /// `--capture`: what each vantage point's capture keeps.
    pub capture: crate::capture::Keep,
}

impl Overrides {
    /// The path flags as typed on the command line (`--rtt 10ms --loss 0.3%`), for messages.
    pub fn path_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(rtt) = self.rtt {
            flags.push(format!("--rtt {rtt:?}"));
        }
        if let Some(p) = self.loss {
            flags.push(format!("--loss {}%", p * 100.0));
        }
        if let Some(words) = &self.link {
            flags.push(format!("--link \"{words}\""));
        }
        flags
    }

    /// The same overrides without the path flags.
    fn without_path_flags(&self) -> Overrides {
        Overrides { set: self.set.clone(), taps: self.taps.clone(), ..Default::default() }
    }
}

/// Two values of parameter `key` that give scenario `index` different client–server paths
/// without the path flags of `overrides` (`--rtt`, `--loss`, `--link`) and the same path with
/// them: the flags hide what `key` does, so runs labelled with those values would all run on
/// the flags' path. `None` when the flags hide nothing.
pub fn flags_hide(
    lab: &Lab,
    index: usize,
    overrides: &Overrides,
    key: &str,
    values: &[String],
) -> Result<Option<(String, String)>, InputError> {
    if overrides.path_flags().is_empty() || values.len() < 2 {
        return Ok(None);
    }
    let path_with = |o: &Overrides, value: &str| -> Result<Vec<LinkConfig>, InputError> {
        let mut o = o.clone();
        o.set.retain(|(k, _)| k != key);
        o.set.push((key.to_string(), value.to_string()));
        let p = plan(lab, index, &o)?;
        Ok(vec![p.link(p.client, p.server).clone(), p.link(p.server, p.client).clone()])
    };
    let bare = overrides.without_path_flags();
    // Each value's path without and with the flags, planned once.
    let paths: Vec<(Vec<LinkConfig>, Vec<LinkConfig>)> = values
        .iter()
        .map(|v| Ok((path_with(&bare, v)?, path_with(overrides, v)?)))
        .collect::<Result<_, InputError>>()?;
    for i in 0..values.len() {
        for j in i + 1..values.len() {
            if paths[i].0 != paths[j].0 && paths[i].1 == paths[j].1 {
                return Ok(Some((values[i].clone(), values[j].clone())));
            }
        }
    }
    Ok(None)
}

/// [`flags_hide`] as an input error for values that a sweep or a table varies (`what`: where
/// they come from, e.g. `--set loss=0%,1%`).
pub fn check_flags_keep(
    lab: &Lab,
    index: usize,
    overrides: &Overrides,
    key: &str,
    values: &[String],
    what: &str,
) -> Result<(), InputError> {
    match flags_hide(lab, index, overrides, key, values)? {
        None => Ok(()),
        Some((a, b)) => Err(InputError::new(format!(
            "{} conflicts with {what}: `{key}` = {a} and {b} would both run on the path the flag sets, \
             so their labels would not say what ran (drop the flag, or vary `{key}` alone)",
            overrides.path_flags().join(" ")
        ))),
    }
}
