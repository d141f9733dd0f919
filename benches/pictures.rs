//! What the pictures cost: each scenario run without pictures, and with them (the records
//! they are drawn from, the ladder, the plots and the report), best of several runs.
//! Prints `name: value` lines; the target is at most 1.20 (pictures add no more than 20%).

use std::time::{Duration, Instant};

use wirelab::picture::{ladder, plot, report};
use wirelab::script::plan::{self, Overrides};
use wirelab::script::Lab;

const REPEATS: usize = 9;

fn best(mut f: impl FnMut()) -> Duration {
    (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    println!("# wirelab pictures: wall time of a scenario with and without pictures, best of {REPEATS}");
    for (lab_name, scenario) in [
        ("handshake", "fresh-tls13"),
        ("slow-start", "one-loss"),
        ("keepalive", "short-timeout"),
        ("hol", "one-loss-h2"),
    ] {
        let lab = Lab::load(lab_name).expect("a built-in lab");
        let i = lab.scenario_names().iter().position(|n| *n == scenario).expect("a scenario of the lab");
        let bare = plan::plan(&lab, i, &Overrides::default()).expect("a plan");
        let drawn = plan::plan(&lab, i, &Overrides { pictures: true, ..Default::default() }).expect("a plan");
        let without = best(|| {
            wirelab::runner::run_scenario(&bare, 1).expect("the scenario runs");
        });
        let mut bytes = 0;
        let with = best(|| {
            let o = wirelab::runner::run_scenario(&drawn, 1).expect("the scenario runs");
            let mut svgs: Vec<String> = o.ladder.iter().map(ladder::render).collect();
            svgs.extend(o.time_seq.iter().map(plot::time_sequence));
            let mut extras = report::Extras::default();
            extras.ladders.insert(scenario.to_string(), svgs[0].clone());
            let t = wirelab::timeline::LabTimeline {
                schema: 1,
                lab: lab_name.into(),
                title: String::new(),
                description: String::new(),
                seed: 1,
                backend: "virtual".into(),
                rtt_ms: 0.0,
                params: Default::default(),
                scenarios: vec![o.timeline],
                size_sweep: Vec::new(),
                loss_table: Vec::new(),
                theory: Vec::new(),
            };
            bytes = svgs.iter().map(String::len).sum::<usize>() + report::render(&t, &extras).len();
        });
        // Where the time goes: gathering the records is in `with`; rendering alone here.
        let o = wirelab::runner::run_scenario(&drawn, 1).expect("the scenario runs");
        let ladder_ms = best(|| {
            o.ladder.iter().map(ladder::render).for_each(drop);
        });
        let plots_ms = best(|| {
            o.time_seq.iter().map(plot::time_sequence).for_each(drop);
        });
        let name = format!("{lab_name}_{scenario}").replace('-', "_");
        println!("render_ms_{name}_ladder: {:.2}", ladder_ms.as_secs_f64() * 1000.0);
        println!("render_ms_{name}_time_sequence: {:.2}", plots_ms.as_secs_f64() * 1000.0);
        println!("wall_ms_{name}_without_pictures: {:.2}", without.as_secs_f64() * 1000.0);
        println!("wall_ms_{name}_with_pictures: {:.2}", with.as_secs_f64() * 1000.0);
        println!("picture_bytes_{name}: {bytes}");
        println!("ratio_pictures_{name}: {:.3}", with.as_secs_f64() / without.as_secs_f64());
    }
}
