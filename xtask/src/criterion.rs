//! `cargo xtask criterion`: runs the criterion benchmarks of the root package (`benches/*.rs`),
//! our own host-side costs (`cargo xtask bench` is the side-by-side with esptool).
//!
//! The bench list is read from `benches/` so a new file is picked up without touching this
//! task; `--quick` shortens warm-up and measurement for a smoke run.

use crate::run::{self, Result};

/// Options of `cargo xtask criterion`.
#[derive(Debug, Default)]
pub struct Options {
    /// Short warm-up and measurement: numbers for a sanity check, not for comparison.
    pub quick: bool,
    /// Only benchmarks whose id contains this (criterion's filter).
    pub filter: Option<String>,
}

/// Parses `cargo xtask criterion` arguments.
pub fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options::default();
    for arg in args {
        match arg.as_str() {
            "--quick" => options.quick = true,
            other if !other.starts_with('-') && options.filter.is_none() => {
                options.filter = Some(other.to_owned());
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}` for `criterion` (expected --quick and an optional filter)"
                ));
            }
        }
    }
    Ok(options)
}

/// Runs every bench in `benches/`.
pub fn run(options: &Options) -> Result {
    let dir = run::repo_root().join("benches");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let path = entry.path();
            let is_rust = path.extension().is_some_and(|ext| ext == "rs");
            let stem = path.file_stem()?.to_str()?.to_owned();
            is_rust.then_some(stem)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no benches in {}", dir.display()));
    }
    let mut command = run::cargo();
    command.arg("bench");
    for name in &names {
        command.args(["--bench", name]);
    }
    command.args(["--", "--noplot"]);
    if options.quick {
        command.args([
            "--warm-up-time",
            "1",
            "--measurement-time",
            "2",
            "--sample-size",
            "10",
        ]);
    }
    if let Some(filter) = &options.filter {
        command.arg(filter);
    }
    println!("==> criterion: {}", run::describe(&command));
    run::run_inherit(command)
}
