//! The layers point one way: a module of `src/` may use only the modules below it.
//!
//! This test reads every `src/**/*.rs`, finds the crate's own paths in the code (`crate::x`,
//! `crate::{x, y}`, and `super::` chains that climb to the crate root), leaving out comments
//! and string literals, and checks each one against the table below. Test code inside `src`
//! counts too: a test that reaches up is still an upward import when the tests are built.
//!
//! When it fails, it names the file, the line and the import. Either the import goes (move
//! the thing it needs down to where both can see it), or the table changes, on purpose.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The crate's top-level modules, bottom up. A module may import only modules on the lines
/// above its own; modules on one line may not import each other.
const LAYERS: &[&[&str]] = &[
    // Leaves: they import nothing from the crate.
    &["units", "time", "rng", "metrics", "wire"],
    // Seeded service-time distributions (they parse durations with units, and test with rng).
    &["dist"],
    // One direction of an emulated path.
    &["link"],
    // Packets classified for comments, diagrams and scripted drops.
    &["packet"],
    // The pcapng writer.
    &["capture"],
    // smoltcp hosts.
    &["host"],
    // Protocol drivers.
    &["proto"],
    // The network of hosts and links, and the applications on the hosts (`settle`).
    &["sim"],
    // What hosts serve (HTTP services, gateways) and the programs that call them (workloads).
    &["service"],
    // Lab files and plans.
    &["script"],
    // Analyses: phases and measurements, from a run or from any capture.
    &["timeline"],
    // Ladders, plots and the HTML report.
    &["picture"],
    // What moves time.
    &["backend"],
    // Runs a lab: builds the network, drives it, measures, evaluates the checks.
    &["runner"],
    // The command line, and the fuzz targets' bodies (both drive whole runs).
    &["cli", "fuzz_targets"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|line| line.contains(&module))
}

/// One reference to the top-level module `target`, as written at `line`.
struct Import {
    line: usize,
    text: String,
    target: String,
}

#[test]
fn every_module_is_in_the_table() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';').trim().to_string())
        .collect();
    let table: BTreeSet<String> = LAYERS.iter().flat_map(|l| l.iter().map(|m| m.to_string())).collect();
    assert_eq!(declared, table, "src/lib.rs's modules and the table in tests/layers.rs differ");
}

#[test]
fn imports_point_down_the_layers() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    assert!(files.len() > 20, "found only {} files under src/", files.len());
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(src()).unwrap();
        // The crate root (lib.rs) and the binary (main.rs) sit above every layer.
        if rel == Path::new("lib.rs") || rel == Path::new("main.rs") {
            continue;
        }
        let from = top_module(rel);
        let Some(from_layer) = layer_of(&from) else {
            wrong.push(format!("src/{}: module `{from}` is not in the table of tests/layers.rs", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for import in imports(rel, &text) {
            if import.target == from {
                continue;
            }
            let at = format!("{}:{}", Path::new("src").join(rel).display(), import.line);
            match layer_of(&import.target) {
                None => wrong.push(format!(
                    "{at}: `{}` names `{}`, which is not a module in the table of tests/layers.rs",
                    import.text, import.target
                )),
                Some(to_layer) if to_layer >= from_layer => wrong.push(format!(
                    "{at}: `{}`: {from} may not import {} ({} is on layer {from_layer}, {} on layer {to_layer}; a module may use only the layers below it: see LAYERS in tests/layers.rs)",
                    import.text, import.target, from, import.target
                )),
                Some(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{} import(s) point up or sideways:\n  {}\n", wrong.len(), wrong.join("\n  "));
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `sim/network.rs` is in `sim`; `units.rs` is `units`.
fn top_module(rel: &Path) -> String {
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

/// The module path of a file: `sim/network.rs` is `sim::network`, `sim/mod.rs` is `sim`.
fn module_depth(rel: &Path) -> usize {
    let n = rel.components().count();
    if rel.file_name().is_some_and(|f| f == "mod.rs") {
        n - 1
    } else {
        n
    }
}

/// The source with comments and the insides of string and character literals blanked out
/// (newlines kept, so line numbers still hold).
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_at(&c, i) {
            // A raw string: r"..." or r#"..."#.
            out.push('r');
            i += 1;
            for _ in 0..=hashes {
                out.push(c[i]);
                i += 1;
            }
            while i < c.len() {
                if c[i] == '"' && c[i + 1..].iter().take(hashes).filter(|&&h| h == '#').count() == hashes {
                    for _ in 0..=hashes {
                        out.push(c[i]);
                        i += 1;
                    }
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            if i < c.len() {
                out.push('"');
                i += 1;
            }
        } else if c[i] == '\'' && (next == Some('\\') || c.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\u{..}'); otherwise a lifetime or a label.
            out.push('\'');
            i += 1;
            if c[i] == '\\' {
                out.push(' ');
                i += 1;
            }
            while i < c.len() && c[i] != '\'' {
                blank(&mut out, c[i]);
                i += 1;
            }
            if i < c.len() {
                out.push('\'');
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Where `c[i]` is the `r` of a raw string (`r"`, `r#"`, `br#"`), the number of `#`s.
fn raw_string_at(c: &[char], i: usize) -> Option<usize> {
    let ident = |k: usize| c[k].is_alphanumeric() || c[k] == '_';
    let starts = i == 0 || !ident(i - 1) || (c[i - 1] == 'b' && (i < 2 || !ident(i - 2)));
    let hashes = c[i + 1..].iter().take_while(|&&h| h == '#').count();
    (c[i] == 'r' && starts && c.get(i + 1 + hashes) == Some(&'"')).then_some(hashes)
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Other(char),
}

fn tokens(code: &str) -> Vec<(Token, usize)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Token::Ident(c[start..i].iter().collect()), line));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Token::PathSep, line));
            i += 2;
        } else {
            out.push((Token::Other(ch), line));
            i += 1;
        }
    }
    out
}

/// Every reference in a file to a top-level module of the crate.
fn imports(rel: &Path, text: &str) -> Vec<Import> {
    let toks = tokens(&code_only(text));
    let ident = |k: usize| match toks.get(k) {
        Some((Token::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    let is = |k: usize, t: Token| toks.get(k).is_some_and(|(x, _)| *x == t);
    let mut found = Vec::new();
    let mut record = |k: usize, shown: String| {
        if let Some(target) = ident(k) {
            if target != "self" && target != "super" {
                found.push(Import { line: toks[k].1, text: shown, target: target.to_string() });
            }
        }
    };
    // Inline modules (`mod tests { ... }`) open at these brace depths.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut k = 0;
    while k < toks.len() {
        match &toks[k].0 {
            Token::Other('{') => depth += 1,
            Token::Other('}') => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            Token::Ident(w) if w == "mod" && ident(k + 1).is_some() && is(k + 2, Token::Other('{')) => {
                inline.push(depth);
            }
            Token::Ident(w) if (w == "crate" || w == "super") && is(k + 1, Token::PathSep) => {
                // Only where a path starts (not `a::super`).
                let starts = k == 0 || !is(k - 1, Token::PathSep);
                let (mut j, mut climbs) = (k, 0);
                if w == "super" {
                    while ident(j) == Some("super") && is(j + 1, Token::PathSep) {
                        climbs += 1;
                        j += 2;
                    }
                    j -= 2;
                }
                let here = module_depth(rel) + inline.len();
                let at_root = w == "crate" || climbs == here;
                if starts && at_root {
                    let lead: String = toks[k..=j + 1]
                        .iter()
                        .map(|(t, _)| match t {
                            Token::Ident(s) => s.clone(),
                            Token::PathSep => "::".into(),
                            Token::Other(c) => c.to_string(),
                        })
                        .collect();
                    let after = j + 2;
                    if is(after, Token::Other('{')) {
                        // `crate::{a::b, c}`: the first name of each path at the top of the group.
                        let mut level = 0;
                        let mut m = after;
                        let mut first = true;
                        while m < toks.len() {
                            match &toks[m].0 {
                                Token::Other('{') => {
                                    level += 1;
                                    first = level == 1;
                                }
                                Token::Other('}') => {
                                    level -= 1;
                                    if level == 0 {
                                        break;
                                    }
                                }
                                Token::Other(',') if level == 1 => first = true,
                                Token::Ident(name) if level == 1 && first => {
                                    record(m, format!("{lead}{{{name}, ..}}"));
                                    first = false;
                                }
                                _ => {}
                            }
                            m += 1;
                        }
                    } else if let Some(name) = ident(after) {
                        record(after, format!("{lead}{name}"));
                    }
                    k = j + 1;
                }
            }
            _ => {}
        }
        k += 1;
    }
    found
}

#[test]
fn the_reader_sees_paths_not_comments_or_strings() {
    let text = r##"
//! Uses [`crate::cli`] in a doc comment.
use crate::units::parse_size; // crate::picture
use crate::{time::Instant, rng::{self, stream}};
/* crate::runner /* nested crate::cli */ */
const S: &str = "crate::backend";
const R: &str = r#"crate::backend "quoted""#;
const C: char = '"';
fn f<'a>(x: &'a str) -> &'a str { let _ = super::super::sim::network::Network::new(); x }
mod inner {
    use super::super::proto; // one level deeper, so this is `a::proto`, not the crate's
}
"##;
    let found: Vec<(String, usize)> =
        imports(Path::new("a/b.rs"), text).into_iter().map(|i| (i.target, i.line)).collect();
    let want: Vec<(String, usize)> =
        [("units", 3), ("time", 4), ("rng", 4), ("sim", 9)].iter().map(|(m, l)| (m.to_string(), *l)).collect();
    assert_eq!(found, want);
}
