//! The pictures a run writes: ladders whose geometry is the data, labels that never overlap,
//! a report that parses and renders in a real browser, `--pictures` and `wirelab report`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use tempfile::TempDir;

/// The advance of a monospace glyph and the box rule the ladder's placer uses (svg.rs).
const ADVANCE: f64 = 0.6;

/// Pixels: the SVG writes one decimal, so a point is within 0.05 of where it should be, and
/// the scale read back from a segment's rounded ends moves it by up to 0.05 more.
const PX: f64 = 0.11;

fn attr(n: roxmltree::Node, name: &str) -> f64 {
    n.attribute(name).unwrap_or_else(|| panic!("<{}> has no {name}", n.tag_name().name())).parse().unwrap()
}

fn class_has(n: roxmltree::Node, class: &str) -> bool {
    n.attribute("class").is_some_and(|c| c.split(' ').any(|k| k == class))
}

/// One axis segment: linear from t0..t1 ms to y0..y1 px.
struct Segment {
    t0: f64,
    t1: f64,
    y0: f64,
    y1: f64,
}

struct Parsed {
    segments: Vec<Segment>,
    lanes: BTreeMap<String, f64>,
    /// (data-* attributes, line end points, has a cross)
    packets: Vec<(BTreeMap<String, String>, [f64; 4], bool)>,
    /// (text, box)
    labels: Vec<(String, [f64; 4])>,
}

impl Parsed {
    fn y(&self, t: f64) -> f64 {
        let s = self.segments.iter().find(|s| t <= s.t1 + 1e-9).unwrap_or_else(|| self.segments.last().unwrap());
        if s.t1 > s.t0 {
            s.y0 + (t - s.t0) * (s.y1 - s.y0) / (s.t1 - s.t0)
        } else {
            s.y0
        }
    }
}

fn parse(svg: &str, name: &str) -> Parsed {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{name} is not XML: {e}"));
    let mut p = Parsed { segments: Vec::new(), lanes: BTreeMap::new(), packets: Vec::new(), labels: Vec::new() };
    for n in doc.descendants().filter(|n| n.is_element()) {
        match n.tag_name().name() {
            "line" if class_has(n, "axis-segment") => p.segments.push(Segment {
                t0: attr(n, "data-t0-ms"),
                t1: attr(n, "data-t1-ms"),
                y0: attr(n, "y1"),
                y1: attr(n, "y2"),
            }),
            "line" if class_has(n, "lane") => {
                p.lanes.insert(n.attribute("data-host").unwrap().to_string(), attr(n, "x1"));
            }
            "g" if class_has(n, "pkt") => {
                let data: BTreeMap<String, String> = n
                    .attributes()
                    .filter(|a| a.name().starts_with("data-"))
                    .map(|a| (a.name().to_string(), a.value().to_string()))
                    .collect();
                let line = n.children().find(|c| c.tag_name().name() == "line").expect("a packet without a line");
                let ends = [attr(line, "x1"), attr(line, "y1"), attr(line, "x2"), attr(line, "y2")];
                let cross = n.children().any(|c| class_has(c, "cross"));
                assert!(n.children().any(|c| c.tag_name().name() == "title"), "{name}: a packet without a <title>");
                p.packets.push((data, ends, cross));
            }
            "text" => {
                let text = n.text().unwrap_or("").to_string();
                let (x, y, size) = (attr(n, "x"), attr(n, "y"), attr(n, "font-size"));
                assert!(size >= 10.0, "{name}: text {text:?} is {size} px");
                let w = text.chars().count() as f64 * ADVANCE * size;
                let x0 = match n.attribute("text-anchor") {
                    Some("middle") => x - w / 2.0,
                    Some("end") => x - w,
                    _ => x,
                };
                p.labels.push((text, [x0, y - 0.8 * size, x0 + w, y + 0.25 * size]));
            }
            _ => {}
        }
    }
    assert!(!p.segments.is_empty(), "{name}: no axis segments");
    p
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= PX
}

/// Every packet's line starts on its sender's lane at its send time and ends on its
/// receiver's lane at its arrival (or half way, at the time it is marked lost).
fn check_geometry(p: &Parsed, name: &str) {
    for (data, [x1, y1, x2, y2], cross) in &p.packets {
        let lane = |k: &str| p.lanes[&data[k]];
        let t = |k: &str| data[k].parse::<f64>().unwrap();
        assert!(close(*x1, lane("data-from")) && close(*y1, p.y(t("data-sent-ms"))), "{name}: start of {data:?}");
        if let Some(_rule) = data.get("data-lost") {
            assert!(*cross, "{name}: a lost packet without its ✕: {data:?}");
            let half = (lane("data-from") + lane("data-to")) / 2.0;
            assert!(close(*x2, half) && close(*y2, p.y(t("data-lost-at-ms"))), "{name}: loss point of {data:?}");
        } else if data.contains_key("data-arrived-ms") {
            assert!(!cross, "{name}: a delivered packet with a ✕: {data:?}");
            assert!(close(*x2, lane("data-to")) && close(*y2, p.y(t("data-arrived-ms"))), "{name}: end of {data:?}");
        } else {
            assert!(data.contains_key("data-in-flight-until-ms"), "{name}: a packet with no fate: {data:?}");
        }
    }
}

fn check_labels_apart(p: &Parsed, name: &str) {
    for (i, (a, ba)) in p.labels.iter().enumerate() {
        for (b, bb) in &p.labels[i + 1..] {
            let overlap = ba[0] < bb[2] && bb[0] < ba[2] && ba[1] < bb[3] && bb[1] < ba[3];
            assert!(!overlap, "{name}: labels {a:?} and {b:?} overlap");
        }
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("no {file}: {e}"))
}

fn frame_packet(p: &Parsed, frame: u64) -> &BTreeMap<String, String> {
    let f = frame.to_string();
    &p.packets.iter().find(|(d, _, _)| d.get("data-frame") == Some(&f)).unwrap_or_else(|| panic!("no frame {f}")).0
}

#[test]
fn the_handshake_spans_one_rtt_on_the_ladder_at_25_and_310_ms() {
    for rtt in [25.0, 310.0] {
        let dir = TempDir::new().unwrap();
        common::run_handshake(dir.path(), &["--scenario", "fresh-tls13", "--rtt", &format!("{rtt}ms")]);
        let svg = read(dir.path(), "handshake-fresh-tls13.svg");
        let p = parse(&svg, "handshake-fresh-tls13.svg");
        check_geometry(&p, "handshake-fresh-tls13.svg");
        let t = common::timeline(dir.path());
        let tcp = &t["scenarios"][0]["phases"].as_array().unwrap().iter().find(|p| p["id"] == "tcp_handshake").unwrap();
        let (syn, ack) = (tcp["first_frame"].as_u64().unwrap(), tcp["last_frame"].as_u64().unwrap());
        let ms = |d: &BTreeMap<String, String>, k: &str| d[k].parse::<f64>().unwrap();
        let (syn, synack, ack) = (frame_packet(&p, syn), frame_packet(&p, syn + 1), frame_packet(&p, ack));
        assert_eq!((syn["data-from"].as_str(), syn["data-to"].as_str()), ("client", "server"));
        assert_eq!((synack["data-from"].as_str(), synack["data-to"].as_str()), ("server", "client"));
        assert!((ms(syn, "data-arrived-ms") - ms(syn, "data-sent-ms") - rtt / 2.0).abs() < 1e-9);
        assert!((ms(synack, "data-arrived-ms") - ms(syn, "data-sent-ms") - rtt).abs() < 1e-9, "at {rtt} ms");
        assert!((ms(ack, "data-sent-ms") - ms(syn, "data-sent-ms") - rtt).abs() < 1e-9, "at {rtt} ms");
        // On the picture: the same span on one linear scale.
        let (y0, y1) = (p.y(ms(syn, "data-sent-ms")), p.y(ms(ack, "data-sent-ms")));
        let seg =
            p.segments.iter().find(|s| s.t0 <= ms(syn, "data-sent-ms") && ms(ack, "data-sent-ms") <= s.t1).unwrap();
        assert!(((y1 - y0) - rtt * (seg.y1 - seg.y0) / (seg.t1 - seg.t0)).abs() < PX);
    }
}

#[test]
fn a_scripted_drop_ends_in_a_cross_and_is_not_a_client_frame() {
    let dir = TempDir::new().unwrap();
    common::run_lab("slow-start", dir.path(), &["--scenario", "one-loss", "--rtt", "29ms"]);
    let p = parse(&read(dir.path(), "slow-start-one-loss.svg"), "slow-start-one-loss.svg");
    check_geometry(&p, "slow-start-one-loss.svg");
    let lost: Vec<_> = p.packets.iter().filter(|(d, _, _)| d.contains_key("data-lost")).collect();
    assert_eq!(lost.len(), 1, "one scripted drop, one lost packet");
    let (data, _, cross) = lost[0];
    assert!(*cross && data["data-lost"].starts_with("scripted drop"), "{data:?}");
    assert!(!data.contains_key("data-frame"), "the client never received it, so it has no frame there");
    assert!(p.labels.iter().any(|(t, _)| t.contains("✕ lost: scripted drop")), "the drop is labelled with its rule");
}

/// Every built-in lab at its defaults and away from them: XML, geometry, labels apart, report.
#[test]
fn every_lab_draws_a_ladder_whose_geometry_is_the_data_with_labels_apart() {
    for (lab, extra) in [
        ("handshake", &[][..]),
        ("handshake", &["--rtt", "0.4ms", "--loss", "2%", "--seed", "3"][..]),
        ("slow-start", &["--set", "response_size=1MB", "--link", "delay 10ms 3ms rate 20mbit"][..]),
        ("keepalive", &[][..]),
        ("hol", &["--scenario", "one-loss-h1", "--scenario", "one-loss-h2", "--scenario", "one-loss-h3"][..]),
    ] {
        let dir = TempDir::new().unwrap();
        let o = common::wirelab().args(["run", lab]).args(extra).arg("--out").arg(dir.path()).output().unwrap();
        assert!(o.status.code().is_some_and(|c| c <= 1), "{lab} {extra:?}: {}", String::from_utf8_lossy(&o.stderr));
        let t = common::lab_timeline(dir.path(), lab);
        let html = read(dir.path(), &format!("{lab}.html"));
        let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
        let page = roxmltree::Document::parse_with_options(&html, options)
            .unwrap_or_else(|e| panic!("{lab}.html is not well-formed: {e}"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        for s in t["scenarios"].as_array().unwrap() {
            let name = format!("{lab}-{}.svg", s["name"].as_str().unwrap());
            let svg = read(dir.path(), &name);
            let p = parse(&svg, &name);
            check_geometry(&p, &name);
            check_labels_apart(&p, &name);
            assert!(!p.packets.is_empty(), "{name}: no packets drawn");
        }
        let inlined = page.descendants().filter(|n| n.tag_name().name() == "svg" && class_has(*n, "ladder")).count();
        assert_eq!(inlined, t["scenarios"].as_array().unwrap().len(), "{lab}.html inlines {inlined} ladders");
        // Nothing is fetched: no script, no external reference but the namespace.
        for bad in ["<script", "<link", "src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(!html.contains(bad), "{lab}.html contains {bad}");
        }
    }
}

#[test]
fn pictures_flag_chooses_the_files_and_report_rebuilds_the_page() {
    let expect = |pictures: &str, svg: bool, html: bool| {
        let dir = TempDir::new().unwrap();
        common::run_handshake(dir.path(), &["--scenario", "pooled", "--pictures", pictures]);
        assert_eq!(dir.path().join("handshake-pooled.svg").exists(), svg, "--pictures {pictures}");
        assert_eq!(dir.path().join("handshake.html").exists(), html, "--pictures {pictures}");
        dir
    };
    let o = common::wirelab().args(["run", "handshake", "--pictures", "png"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--pictures") && err.contains("png"), "{err}");
    expect("none", false, false);
    expect("svg", true, false);
    expect("html", false, true);
    let dir = expect("all", true, true);
    let rebuilt = dir.path().join("again.html");
    let o = common::wirelab()
        .arg("report")
        .arg(dir.path().join("handshake.json"))
        .arg("-o")
        .arg(&rebuilt)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::read(&rebuilt).unwrap() == std::fs::read(dir.path().join("handshake.html")).unwrap(),
        "wirelab report wrote another page than the run"
    );
    let o = common::wirelab().arg("report").arg(dir.path().join("handshake-pooled.keys")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("handshake-pooled.keys") && err.contains("not a wirelab timeline"), "{err}");
}

/// Headless Chromium loads each report from disk: no console error, every image loaded, the
/// ladders laid out; a screenshot is kept in target/pictures/ to look at.
#[test]
fn reports_render_in_a_real_browser() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| std::process::Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
    else {
        eprintln!("SKIPPED reports_render_in_a_real_browser: no chromium (scripts/test installs it)");
        return;
    };
    let keep = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("pictures");
    std::fs::create_dir_all(&keep).unwrap();
    let small_failover = ["--set", "clients=3", "--set", "duration=40s", "--capture", "none"];
    for (lab, extra) in [("handshake", &[][..]), ("slow-start", &[][..]), ("dns-failover", &small_failover[..])] {
        let dir = TempDir::new().unwrap();
        common::run_lab(lab, dir.path(), extra);
        // A probe that fails loudly in the console if an image did not load or a ladder has no size.
        let page = read(dir.path(), &format!("{lab}.html"));
        let probe = r#"<script>window.addEventListener('load',function(){var bad=0;for(var i of document.images){if(!i.complete||i.naturalWidth===0){bad++;}}for(var s of document.querySelectorAll('svg.ladder')){var r=s.getBoundingClientRect();if(r.width<100||r.height<100){bad++;}}console.log(bad===0?'WIRELAB-PROBE-OK':'WIRELAB-PROBE-BAD '+bad);});</script>"#;
        let probed = dir.path().join("probed.html");
        std::fs::write(&probed, page.replace("</body>", &format!("{probe}</body>"))).unwrap();
        let shot = keep.join(format!("{lab}.png"));
        let o = std::process::Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
            .arg("--window-size=1400,2400")
            .arg(format!("--screenshot={}", shot.display()))
            .arg(format!("file://{}", probed.display()))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&o.stderr);
        let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
        assert!(console.iter().any(|l| l.contains("WIRELAB-PROBE-OK")), "{lab}.html: the probe did not pass:\n{log}");
        assert!(
            !console.iter().any(|l| !l.contains("WIRELAB-PROBE")),
            "{lab}.html: console messages:\n{}",
            console.join("\n")
        );
        assert!(shot.metadata().is_ok_and(|m| m.len() > 10_000), "no screenshot of {lab}.html");
    }
}

/// Counts elements of `tag` whose `attr` is `value` (and, if given, whose stroke-width is `width`).
fn count(svg: &str, tag: &str, attr: &str, value: &str, width: Option<&str>) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    doc.descendants()
        .filter(|n| n.tag_name().name() == tag && n.attribute(attr) == Some(value))
        .filter(|n| width.is_none_or(|w| n.attribute("stroke-width") == Some(w)))
        .count()
}

#[test]
fn slow_start_plots_show_the_rounds_and_the_retransmission_that_ran() {
    let dir = TempDir::new().unwrap();
    common::run_lab("slow-start", dir.path(), &["--rtt", "29ms", "--set", "response_size=300KB"]);
    let t = common::lab_timeline(dir.path(), "slow-start");
    let html = read(dir.path(), "slow-start.html");
    for s in t["scenarios"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let rounds = s["rounds"].as_array().unwrap();
        let bars = read(dir.path(), &format!("slow-start-{name}-rounds.svg"));
        // One measured bar per round, plus the legend's swatch.
        assert_eq!(count(&bars, "rect", "fill", "#0072B2", None), rounds.len() + 1, "{name}: bars");
        let theory = rounds.iter().filter(|r| !r["theory_bytes"].is_null()).count();
        assert_eq!(count(&bars, "rect", "fill", "#E69F00", None), theory + 1, "{name}: theory bars");
        let tsg = read(dir.path(), &format!("slow-start-{name}-time-sequence.svg"));
        let retx = s["metrics"]["retransmissions"].as_f64().unwrap() as usize;
        assert_eq!(count(&tsg, "polyline", "stroke", "#D55E00", Some("4")), retx, "{name}: retransmissions");
        for svg in [&bars, &tsg] {
            let doc = roxmltree::Document::parse(svg).unwrap();
            for n in doc.descendants().filter(|n| n.tag_name().name() == "text") {
                let size: f64 = n.attribute("font-size").unwrap().parse().unwrap();
                assert!(size >= 10.0, "{name}: a plot's text is {size} px");
            }
        }
        assert!(html.contains(&format!("slow-start-{name}-time-sequence.svg")), "the report links {name}'s plot");
    }
    assert!(
        t["scenarios"].as_array().unwrap().iter().any(|s| s["metrics"]["retransmissions"].as_f64() == Some(1.0)),
        "one-loss should retransmit once"
    );
}

/// The elements of `svg` with class `class`, as their attributes.
fn marks(svg: &str, class: &str) -> Vec<BTreeMap<String, String>> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    doc.descendants()
        .filter(|n| class_has(*n, class))
        .map(|n| n.attributes().map(|a| (a.name().to_string(), a.value().to_string())).collect())
        .collect()
}

fn num(m: &BTreeMap<String, String>, k: &str) -> f64 {
    m.get(k).unwrap_or_else(|| panic!("no {k} in {m:?}")).parse().unwrap()
}

/// The x scale the plot's axes say they use: (data from, data to, px from, px to).
fn x_scale(svg: &str) -> [f64; 4] {
    let axes = marks(svg, "axes");
    let v: Vec<f64> = axes[0]["data-x-scale"].split(' ').map(|x| x.parse().unwrap()).collect();
    [v[0], v[1], v[2], v[3]]
}

/// Text of every plot at least 10 px.
fn check_text(svg: &str, name: &str) {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{name} is not XML: {e}"));
    for n in doc.descendants().filter(|n| n.tag_name().name() == "text") {
        assert!(attr(n, "font-size") >= 10.0, "{name}: text {:?} is under 10 px", n.text());
    }
}

/// HTTP/1.1 and HTTP/3 stall one object, HTTP/2 all six; the shaded stalls are the JSON's
/// stall times, and the report sets the three side by side. At the default RTT and at 29 ms.
#[test]
fn hol_streams_shade_the_measured_stalls() {
    for rtt in [None, Some("29ms")] {
        let dir = TempDir::new().unwrap();
        let mut args = vec!["--scenario", "one-loss-h1", "--scenario", "one-loss-h2", "--scenario", "one-loss-h3"];
        if let Some(r) = rtt {
            args.extend(["--rtt", r]);
        }
        let o = common::run_lab("hol", dir.path(), &args);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("3 streams plots (hol-one-loss-h1-streams.svg, …)"), "{stdout}");
        let t = common::lab_timeline(dir.path(), "hol");
        for (scenario, stalled) in [("one-loss-h1", 1), ("one-loss-h2", 6), ("one-loss-h3", 1)] {
            let name = format!("hol-{scenario}-streams.svg");
            let svg = read(dir.path(), &name);
            check_text(&svg, &name);
            let [d0, d1, p0, p1] = x_scale(&svg);
            let per_ms = (p1 - p0) / (d1 - d0);
            let stalls = marks(&svg, "stall");
            let s = common::scenario(&t, scenario);
            let mut objects_stalled = 0;
            for obj in s["streams"].as_array().unwrap() {
                let id = obj["id"].as_u64().unwrap().to_string();
                let mine: Vec<_> = stalls.iter().filter(|m| m["data-object"] == id).collect();
                let json = obj["stall_ms"].as_f64().unwrap();
                for m in &mine {
                    let (from, to) = (num(m, "data-from-ms"), num(m, "data-to-ms"));
                    assert!((num(m, "x") - (p0 + (from - d0) * per_ms)).abs() <= PX, "{name} {rtt:?}: {m:?}");
                    assert!((num(m, "width") - (to - from) * per_ms).abs() <= PX, "{name} {rtt:?}: {m:?}");
                }
                let longest = mine.iter().map(|m| num(m, "data-to-ms") - num(m, "data-from-ms")).fold(0.0, f64::max);
                assert!(
                    (longest - json).abs() * per_ms <= 1.0,
                    "{name} {rtt:?}: object {id} shaded {longest} ms, the JSON says {json} ms"
                );
                assert_eq!(mine.is_empty(), json == 0.0, "{name} {rtt:?}: object {id}");
                objects_stalled += usize::from(!mine.is_empty());
                let line = marks(&svg, "delivered").into_iter().find(|m| m["data-object"] == id).unwrap();
                assert!(num(&line, "data-bytes") >= obj["bytes"].as_f64().unwrap(), "{name}: object {id} {line:?}");
                let done = obj["complete_ms"].as_f64().unwrap();
                assert!(num(&line, "data-last-ms") <= done + 1e-6, "{name}: delivered after completion? {line:?}");
            }
            assert_eq!(objects_stalled, stalled, "{name} {rtt:?}: objects stalled");
            assert_eq!(s["metrics"]["streams_stalled"].as_f64(), Some(stalled as f64));
        }
        let html = read(dir.path(), "hol.html");
        let doc = roxmltree::Document::parse_with_options(
            &html,
            roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() },
        )
        .unwrap();
        let row = doc.descendants().find(|n| class_has(*n, "side-by-side")).expect("no side-by-side row");
        let cells: Vec<&str> = row
            .children()
            .filter(|n| class_has(*n, "plot-cell"))
            .filter_map(|n| n.attribute("data-scenario"))
            .collect();
        assert_eq!(cells, ["one-loss-h1", "one-loss-h2", "one-loss-h3"]);
    }
}

/// The committed loss-table plot has a point per (scenario, loss, percentile) whose runs
/// finished, at the JSON's value, and `wirelab report` draws the same one again.
#[test]
fn the_loss_table_plot_is_the_tables_percentiles() {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures").join("reference");
    let t = common::lab_timeline(&reference, "hol");
    let svg = read(&reference, "hol-loss-table.svg");
    check_text(&svg, "hol-loss-table.svg");
    let points = marks(&svg, "point");
    let mut expected = 0;
    for row in t["loss_table"].as_array().unwrap() {
        for pct in ["50", "95", "99"] {
            let at = |m: &&BTreeMap<String, String>| {
                m["data-series"] == row["scenario"].as_str().unwrap()
                    && m["data-x"] == row["loss"].as_str().unwrap()
                    && m["data-pct"] == pct
            };
            let found: Vec<_> = points.iter().filter(at).collect();
            match row[format!("page_load_p{pct}_ms")].as_f64() {
                Some(v) => {
                    expected += 1;
                    assert_eq!(found.len(), 1, "{row}: p{pct}");
                    assert!((num(found[0], "data-ms") - v).abs() < 1e-3, "{row}: p{pct} {:?}", found[0]);
                    let n = row["runs"].as_u64().unwrap() - row["failed"].as_u64().unwrap();
                    assert_eq!(found[0]["data-n"], n.to_string());
                }
                None => assert!(found.is_empty(), "{row}: a point where no run finished"),
            }
        }
    }
    assert_eq!(points.len(), expected);
    let html = read(&reference, "hol.html");
    assert!(html.contains("hol-loss-table.svg") && html.contains(svg.trim_start_matches(|c| c != '<').trim_end()));
}

/// keepalive: the connections plot counts the SYNs and handshakes the JSON counts.
#[test]
fn keepalive_connections_plot_counts_what_happened() {
    let dir = TempDir::new().unwrap();
    let args = ["--scenario", "short-timeout", "--scenario", "long-timeout", "--rtt", "29ms", "--set", "duration=2m"];
    common::run_lab("keepalive", dir.path(), &args);
    let t = common::lab_timeline(dir.path(), "keepalive");
    for s in t["scenarios"].as_array().unwrap() {
        let name = format!("keepalive-{}-connections.svg", s["name"].as_str().unwrap());
        let svg = read(dir.path(), &name);
        check_text(&svg, &name);
        let shakes = &marks(&svg, "handshakes")[0];
        assert_eq!(num(shakes, "data-final"), s["metrics"]["handshakes"].as_f64().unwrap(), "{name}");
        let open = &marks(&svg, "open")[0];
        assert_eq!(num(open, "data-opened"), s["metrics"]["connections_opened"].as_f64().unwrap(), "{name}");
        assert!(num(open, "data-max") <= 5.0, "{name}: more open than the pool holds: {open:?}");
    }
    let short = common::scenario(&t, "short-timeout")["metrics"]["handshakes"].as_f64().unwrap();
    let long = common::scenario(&t, "long-timeout")["metrics"]["handshakes"].as_f64().unwrap();
    assert!(short > 3.0 * long, "short timeouts pay handshakes again: {short} vs {long}");
    assert!(read(dir.path(), "keepalive.html").contains("keepalive-short-timeout-connections.svg"));
}

/// `sweep` draws the summary: a point per (scenario, value, percentile) that has values, at
/// the summary's figure; a value whose runs all failed has none, and the legend says so.
#[test]
fn sweep_plots_match_its_summary() {
    let dir = TempDir::new().unwrap();
    let o = common::wirelab()
        .args(["sweep", "handshake", "--scenario", "fresh-tls13", "--set", "cc=iw,smoltcp"])
        .args(["--set", "time_limit=100ms,120s", "--seeds", "1..2", "--rtt", "29ms", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(1), "the 100 ms runs cannot finish: {stdout}");
    for key in ["cc", "time_limit"] {
        let svg = read(dir.path(), &format!("handshake-sweep-{key}.svg"));
        check_text(&svg, key);
        let points = marks(&svg, "point");
        let mut expected = 0;
        for line in stdout.lines().filter(|l| l.split_whitespace().next() == Some(key)) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (value, n, failed) = (f[1], f[2], f[3]);
            let at = |m: &&BTreeMap<String, String>| m["data-x"] == value;
            let found: Vec<_> = points.iter().filter(at).collect();
            if n == "0" {
                assert!(found.is_empty(), "{key}={value}: a point for runs that all failed");
                assert!(svg.contains(&format!("fresh-tls13 at {value}: all {failed} failed, none plotted")), "{svg}");
                continue;
            }
            for (i, pct) in ["50", "95", "99"].iter().enumerate() {
                let p = found.iter().find(|m| m["data-pct"] == *pct).unwrap_or_else(|| panic!("{key}={value} p{pct}"));
                assert!((num(p, "data-ms") - f[4 + i].parse::<f64>().unwrap()).abs() < 1e-3, "{line} vs {p:?}");
                assert_eq!((p["data-n"].as_str(), p["data-failed"].as_str()), (n, failed));
                expected += 1;
            }
        }
        assert_eq!(points.len(), expected, "{key}: {stdout}");
        assert!(expected > 0);
    }
    // cc's values are names: categories, in the order given.
    let cc = read(dir.path(), "handshake-sweep-cc.svg");
    assert!(cc.contains("cc (categories, in the order given; points only)"));
    assert!(marks(&cc, "pct-line").is_empty(), "no line joins categories");
    // --pictures none writes none.
    let dir = TempDir::new().unwrap();
    let o = common::wirelab()
        .args(["sweep", "handshake", "--scenario", "pooled", "--set", "rtt=20ms,40ms", "--seeds", "1..1"])
        .args(["--pictures", "none", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!dir.path().join("handshake-sweep-rtt.svg").exists());
}
