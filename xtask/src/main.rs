//! The repository's own automation (`cargo xtask <task>`): CI, the esptool interop tier, and
//! benchmarks. See matklad/cargo-xtask for the pattern. TODO(owner: xtask helper).

fn main() {
    eprintln!("usage: cargo xtask <ci|interop|bench>");
    std::process::exit(2);
}
