fn main() {
    let lab = wirelab::script::Lab::load("handshake").unwrap();
    for i in 0..lab.raw.scenarios.len() {
        let plan = wirelab::script::plan::plan(&lab, i, &Default::default()).unwrap();
        let out = wirelab::runner::run_scenario(&plan, 1).unwrap();
        print!("{}", wirelab::timeline::table::scenario(&out.timeline));
        std::fs::write(format!("/tmp/{}.pcapng", plan.name), &out.pcapng).unwrap();
    }
}
