fn main() {
    std::process::exit(wirelab::cli::main());
}
