//! `cargo xtask soak [--flashes N] [--seed S] [--release]`: the long soak of `tests/soak.rs`,
//! hundreds of flashes of real images onto virtual chips under randomised faults, counted.
//!
//! The soak itself is the test `soak_full` (the library's own code drives the virtual chip,
//! which this crate does not depend on); this task runs it with its settings in the environment
//! (`SOAK_FLASHES`, `SOAK_SEED`, `SOAK_OUT`), shows its markdown table, and fails when the test
//! does, that is when any flash was a silent corruption. The report lands in `target/soak/`.

use crate::run::{self, Result};

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How many flashes.
    pub flashes: u32,
    /// The seed every fault and choice is drawn from.
    pub seed: u64,
    /// Build the test in release mode (slower to build, faster to run).
    pub release: bool,
}

/// Parses `cargo xtask soak` arguments.
pub fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        flashes: 500,
        seed: 1,
        release: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--flashes" => {
                options.flashes = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--flashes takes a number of flashes, such as 500")?;
            }
            "--seed" => {
                options.seed = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--seed takes a whole number, such as 1")?;
            }
            "--release" => options.release = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}` for `soak` (it takes --flashes N, --seed S and --release)"
                ));
            }
        }
    }
    Ok(options)
}

/// Runs the soak and points at its report.
pub fn run(options: &Options) -> Result {
    let out = run::repo_root().join("target").join("soak");
    let mut soak = run::cargo();
    soak.arg("test");
    if options.release {
        soak.arg("--release");
    }
    soak.args([
        "--test",
        "soak",
        "soak_full",
        "--",
        "--exact",
        "--nocapture",
    ])
    .env("SOAK_FLASHES", options.flashes.to_string())
    .env("SOAK_SEED", options.seed.to_string())
    .env("SOAK_OUT", &out);
    run::run_inherit(soak)?;
    println!(
        "soak report: {}",
        out.join(format!("soak-{}-{}.json", options.seed, options.flashes))
            .display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let args = |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };
        assert_eq!(
            parse(&[]).unwrap(),
            Options {
                flashes: 500,
                seed: 1,
                release: false
            }
        );
        assert_eq!(
            parse(&args(&["--flashes", "40", "--seed", "7", "--release"])).unwrap(),
            Options {
                flashes: 40,
                seed: 7,
                release: true
            }
        );
        assert!(parse(&args(&["--flashes", "0"])).is_err());
        assert!(
            parse(&args(&["--fast"]))
                .unwrap_err()
                .contains("--flashes N")
        );
    }
}
