//! `wirelab show`: every built-in lab is described with its scenarios and parameters (each with
//! what it allows), `--toml` prints the lab file exactly, and the ranges shown are the ranges
//! planning enforces.

mod common;

use std::process::Output;

use wirelab::script::params::{lab_params, Kind, ParamInfo};
use wirelab::script::plan::{plan, Overrides};
use wirelab::script::{Lab, BUILTIN};

fn show(args: &[&str]) -> Output {
    common::wirelab().arg("show").args(args).output().expect("cannot start the wirelab binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is not UTF-8")
}

#[test]
fn every_builtin_lab_lists_its_scenarios_and_parameters_with_what_they_allow() {
    for (name, text) in BUILTIN {
        let output = show(&[name]);
        assert_eq!(output.status.code(), Some(0), "show {name}: {}", String::from_utf8_lossy(&output.stderr));
        let out = stdout(&output);
        let lines: Vec<&str> = out.lines().collect();
        let lab = Lab::load(name).unwrap();
        if let Some(title) = &lab.raw.title {
            assert!(lines[0].contains(title.as_str()), "show {name}: no title in {:?}", lines[0]);
        }
        for sc in lab.scenario_names() {
            assert!(
                lines.iter().any(|l| l.split_whitespace().next() == Some(sc)),
                "show {name}: scenario {sc} is not listed:\n{out}"
            );
        }
        for p in lab_params(&lab, text) {
            let at = lines
                .iter()
                .position(|l| *l == format!("  {} = {}", p.name, p.default))
                .unwrap_or_else(|| panic!("show {name}: parameter {} = {} is not listed:\n{out}", p.name, p.default));
            // The parameter's block: its lines up to the next parameter or section.
            let block: Vec<&str> = lines[at + 1..].iter().take_while(|l| l.starts_with("      ")).copied().collect();
            let allowed = block.iter().find(|l| l.trim_start().starts_with("allowed: "));
            let allowed = allowed.unwrap_or_else(|| panic!("show {name}: {} has no `allowed:` line:\n{out}", p.name));
            assert!(
                p.kinds.iter().all(|k| *k != Kind::Text),
                "{name}: parameter {} has no kind beyond text: {:?}",
                p.name,
                p.kinds
            );
            assert!(allowed.contains(&p.kinds[0].describe()), "show {name}: {}: {allowed}", p.name);
            assert!(!p.meaning.is_empty(), "{name}: parameter {} says nothing about what it does", p.name);
        }
        for e in &lab.raw.expects {
            assert!(out.contains(&e.check), "show {name}: check {} is not listed", e.check);
        }
    }
}

#[test]
fn toml_prints_the_lab_file_byte_for_byte() {
    let output = show(&["hol", "--toml"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(output.stdout, std::fs::read("labs/hol.toml").unwrap());
    for (name, text) in BUILTIN {
        assert_eq!(show(&[name, "--toml"]).stdout, text.as_bytes(), "show {name} --toml");
    }
    let output = show(&["labs/slow-start.toml", "--toml"]);
    assert_eq!(output.stdout, std::fs::read("labs/slow-start.toml").unwrap());
}

#[test]
fn an_unknown_lab_is_one_line_naming_it_and_the_labs() {
    for args in [&["nope"][..], &["nope", "--toml"]] {
        let output = show(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "show {args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "show {args:?} printed {:?}", stdout(&output));
        assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
        assert!(stderr.contains("`nope`"), "{stderr}");
        for (name, _) in BUILTIN {
            assert!(stderr.contains(name), "does not list {name}: {stderr}");
        }
    }
}

#[test]
fn list_points_to_show() {
    let output = common::wirelab().arg("list").output().unwrap();
    assert!(stdout(&output).contains("wirelab show <lab>"), "{}", stdout(&output));
}

/// Plans every scenario of `lab` with `--set key=value`: the first error, if any.
fn plan_with(lab: &Lab, key: &str, value: &str) -> Result<(), String> {
    let overrides = Overrides { set: vec![(key.to_string(), value.to_string())], ..Default::default() };
    for i in 0..lab.raw.scenarios.len() {
        plan(lab, i, &overrides).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn accepted(lab: &Lab, p: &ParamInfo, value: &str) {
    if let Err(e) = plan_with(lab, &p.name, value) {
        panic!("{}: --set {}={value} is within what show says ({:?}) but refused: {e}", lab.raw.name, p.name, p.kinds);
    }
}

/// Refused, with a message that names the parameter and (`range`) what show says it allows.
fn refused(lab: &Lab, p: &ParamInfo, value: &str, range: Option<&str>) {
    match plan_with(lab, &p.name, value) {
        Ok(()) => panic!("{}: --set {}={value} is outside {:?} but planned", lab.raw.name, p.name, p.kinds),
        Err(e) => {
            assert!(e.contains(&p.name), "{e}");
            if let Some(range) = range {
                assert!(
                    e.contains(range),
                    "{}: the refusal of {}={value} does not say {range:?}: {e}",
                    lab.raw.name,
                    p.name
                );
            }
        }
    }
}

/// The ranges `show` prints are the ones planning enforces: the limits plan, one past them is
/// refused with the same words.
#[test]
fn the_ranges_shown_are_the_ranges_enforced() {
    let mut checked = 0;
    for (name, text) in BUILTIN {
        let lab = Lab::load(name).unwrap();
        for p in lab_params(&lab, text) {
            let [kind] = p.kinds[..] else { continue };
            let words = kind.describe();
            match kind {
                Kind::Int(r) => {
                    accepted(&lab, &p, &r.max.to_string());
                    accepted(&lab, &p, &r.min.to_string());
                    refused(&lab, &p, &(r.max + 1).to_string(), Some(&words));
                    if r.min > 0 {
                        refused(&lab, &p, &(r.min - 1).to_string(), Some(&words));
                    }
                }
                Kind::Size(r) if r.max < u64::MAX => {
                    accepted(&lab, &p, &r.max.to_string());
                    accepted(&lab, &p, &r.min.to_string());
                    refused(&lab, &p, &(r.max + 1).to_string(), Some(&words));
                    if r.min > 0 {
                        refused(&lab, &p, &(r.min - 1).to_string(), Some(&words));
                    }
                }
                Kind::Choice(names) => {
                    for n in names {
                        // A choice may clash with other settings (http = "3" needs tls = "1.3",
                        // which tail-latency's plain-HTTP services do not have): then the
                        // refusal names that other field, never this one's value as out of range.
                        if let Err(e) = plan_with(&lab, &p.name, n) {
                            let field = format!(".{}:", p.name);
                            assert!(
                                !e.contains(&field) && !e.contains("allowed:"),
                                "{}: --set {}={n} is within what show says but refused: {e}",
                                lab.raw.name,
                                p.name
                            );
                        }
                    }
                    refused(&lab, &p, "nope", None);
                }
                Kind::Percent => {
                    accepted(&lab, &p, "100%");
                    refused(&lab, &p, "101%", None);
                }
                Kind::Duration(r) => {
                    // The limits themselves may clash with other settings (a time_limit shorter
                    // than the steps): check only that just past them is refused, in these words.
                    let past = r.max + std::time::Duration::from_micros(1);
                    refused(&lab, &p, &format!("{}us", past.as_micros()), Some(&words));
                    if let Some(below) = r.min.checked_sub(std::time::Duration::from_micros(1)) {
                        if !r.min.is_zero() {
                            refused(&lab, &p, &format!("{}us", below.as_micros()), Some(&words));
                        }
                    }
                    refused(&lab, &p, "-1s", None);
                }
                Kind::Bool => {
                    accepted(&lab, &p, "false");
                    refused(&lab, &p, "maybe", None);
                }
                _ => continue,
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} parameters checked");
}
