//! `cargo xtask ci`: the one test command. Formatting, lints, the same lints for Windows and
//! macOS (`cross-check`: those platforms are compile-checked, Linux runs everything), every test
//! (doctests included), the API documentation with warnings denied, the README's quick start
//! (`cargo xtask demo`), a short round of every fuzz target (`cargo xtask fuzz`, a few seconds
//! each on one shared build), then the esptool interop tier and the quick side-by-side bench
//! (`cargo xtask bench --quick`) when the reference files and Python are there.
//!
//! Each step is printed as it starts and timed; the first failure stops the run and names its
//! step. What the steps check lives in the tools and tests they run, not here.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::run::{self, Result};
use crate::{bench, demo, fuzz, interop};

/// Options of `cargo xtask ci`.
#[derive(Debug, Default)]
pub struct Options {
    /// Skip the interop tier (refused when `CI=true`, where it must run).
    pub no_interop: bool,
}

/// Parses `cargo xtask ci` arguments.
pub fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options::default();
    for arg in args {
        match arg.as_str() {
            "--no-interop" => options.no_interop = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}` for `ci` (expected --no-interop)"
                ));
            }
        }
    }
    Ok(options)
}

/// Runs every step, stopping at the first failure.
pub fn run(options: &Options) -> Result {
    let testdata = run::testdata_dir();
    let interop_plan = plan_interop(options, testdata.is_some())?;
    let total = 7 + 2 * usize::from(interop_plan.is_ok());
    let mut times: Vec<(&str, Duration)> = Vec::new();
    let started = Instant::now();

    let mut step = |number: usize, name: &'static str, body: &mut dyn FnMut() -> Result| {
        println!("==> [{number}/{total}] {name}");
        let start = Instant::now();
        let outcome = body();
        let elapsed = start.elapsed();
        match outcome {
            Ok(()) => {
                println!("    ok: {name} in {}", run::format_duration(elapsed));
                times.push((name, elapsed));
                Ok(())
            }
            Err(message) => Err(format!(
                "step `{name}` failed after {}: {message}",
                run::format_duration(elapsed)
            )),
        }
    };

    step(1, "fmt", &mut || {
        let mut command = run::cargo();
        command.args(["fmt", "--all", "--", "--check"]);
        println!("    $ {}", run::describe(&command));
        run::run_inherit(command)
            .map_err(|e| format!("{e}; run `cargo fmt --all` and commit the result"))
    })?;

    step(2, "clippy", &mut || {
        let mut command = run::cargo();
        command.args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]);
        println!("    $ {}", run::describe(&command));
        run::run_inherit(command)?;
        // The library alone, as an xtask crate builds it (`default-features = false`): it must
        // not need the command line's crates.
        let mut command = run::cargo();
        command.args([
            "clippy",
            "--lib",
            "--no-default-features",
            "--",
            "-D",
            "warnings",
        ]);
        println!("    $ {}", run::describe(&command));
        run::run_inherit(command)
            .map_err(|e| format!("{e}: the library does not build without the `cli` feature"))
    })?;

    step(3, "cross-check", &mut cross_check_step)?;

    step(4, "test", &mut || test_step(testdata.as_deref()))?;

    step(5, "doc", &mut || {
        // The library is documented for xtask authors: a broken link or a malformed example in
        // the docs fails CI like a failing test.
        let mut command = run::cargo();
        command
            .args(["doc", "--no-deps", "--lib"])
            .env("RUSTDOCFLAGS", "-D warnings");
        println!(
            "    $ RUSTDOCFLAGS=\"-D warnings\" {}",
            run::describe(&command)
        );
        run::run_inherit(command)
    })?;

    // The README's quick start, as a user runs it: the main job against the virtual chip.
    step(6, "demo", &mut demo::run)?;

    // No crash, hang or runaway allocation in a few seconds per target: the long rounds are
    // `cargo xtask fuzz --seconds 600`, run by hand.
    step(7, "fuzz", &mut || {
        fuzz::run(&fuzz::Options {
            seconds: fuzz::CI_SECONDS,
            ..fuzz::Options::default()
        })
    })?;

    match &interop_plan {
        Ok(()) => step(8, "interop", &mut || {
            let Some(dir) = testdata.as_deref() else {
                return Err("testdata disappeared during the run".to_owned());
            };
            interop::run(&interop::Options::default(), dir)
        })?,
        Err(reason) => println!("==> interop tier skipped: {reason}"),
    }

    // The side-by-side bench, quick: the harness (venvs, paced simulator, table) keeps working.
    // It needs Python like the interop tier, and reuses its esptool 4.8.1.
    if interop_plan.is_ok() {
        step(9, "bench", &mut || {
            bench::run(&bench::Options { quick: true })
        })?;
    }

    println!(
        "==> all steps passed in {}",
        run::format_duration(started.elapsed())
    );
    for (name, elapsed) in &times {
        println!("    {name:<11} {}", run::format_duration(*elapsed));
    }
    Ok(())
}

/// The other supported platforms, compile-checked with clippy (warnings denied) on every run:
/// Windows (the GNU target: `cargo check` needs no linker or C toolchain for it) and macOS.
const CROSS_TARGETS: &[&str] = &["x86_64-pc-windows-gnu", "aarch64-apple-darwin"];

/// `cargo clippy --workspace --all-targets --target T -- -D warnings` for each of
/// [`CROSS_TARGETS`], adding a target's standard library with rustup first when it is missing.
fn cross_check_step() -> Result {
    let installed = installed_targets()?;
    let missing = missing_targets(&installed, CROSS_TARGETS);
    if !missing.is_empty() {
        let mut command = Command::new("rustup");
        command
            .current_dir(run::repo_root())
            .args(["target", "add"])
            .args(&missing);
        println!("    $ {}", run::describe(&command));
        run::run_inherit(command).map_err(|e| {
            format!(
                "{e}; the cross-check needs the standard library of {}: run `rustup target add {}`",
                missing.join(" and "),
                missing.join(" ")
            )
        })?;
    }
    for target in CROSS_TARGETS {
        let mut command = run::cargo();
        command.args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--target",
            target,
            "--",
            "-D",
            "warnings",
        ]);
        println!("    $ {}", run::describe(&command));
        run::run_inherit(command).map_err(|e| {
            format!("{e}: the code does not compile cleanly for {target}; gate platform-specific code with #[cfg(...)] and give the other platforms an alternative")
        })?;
    }
    Ok(())
}

/// `rustup target list --installed`, run in the repository (so its toolchain is the one asked).
fn installed_targets() -> Result<String> {
    let mut command = Command::new("rustup");
    command
        .current_dir(run::repo_root())
        .args(["target", "list", "--installed"]);
    let text = run::describe(&command);
    let output = command.output().map_err(|e| {
        format!("cannot start `{text}`: {e}; the cross-check needs rustup to add the Windows and macOS targets")
    })?;
    if !output.status.success() {
        return Err(format!(
            "`{text}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The `wanted` targets absent from `installed` (rustup's list, one target a line).
fn missing_targets<'a>(installed: &str, wanted: &[&'a str]) -> Vec<&'a str> {
    wanted
        .iter()
        .copied()
        .filter(|target| !installed.lines().any(|line| line.trim() == *target))
        .collect()
}

/// Decides whether the interop tier runs: `Ok(Ok(()))` to run it, `Ok(Err(reason))` to skip it,
/// `Err` when it must run under CI but cannot.
fn plan_interop(options: &Options, have_testdata: bool) -> Result<std::result::Result<(), String>> {
    let ci = run::is_ci();
    if options.no_interop {
        if ci {
            return Err(
                "--no-interop is refused when CI=true: the interop tier must run".to_owned(),
            );
        }
        return Ok(Err("--no-interop".to_owned()));
    }
    if !have_testdata {
        return Ok(Err(
            "no testdata (set ESP32S3_TESTDATA or provide ../shared/testdata)".to_owned(),
        ));
    }
    if !run::program_exists("python3") {
        if ci {
            return Err(
                "CI=true and testdata is present, but python3 is missing: install Python 3 to run the interop tier"
                    .to_owned(),
            );
        }
        return Ok(Err("python3 not found".to_owned()));
    }
    Ok(Ok(()))
}

/// `cargo test --workspace`, showing the per-binary summary lines and any failure as it happens.
/// `--no-fail-fast` runs every test binary even after one fails, so one CI run lists every
/// failure; the step still fails.
fn test_step(testdata: Option<&std::path::Path>) -> Result {
    let mut command = run::cargo();
    command.args(["test", "--workspace", "--no-fail-fast"]);
    match testdata {
        Some(dir) => {
            println!("    golden tier: testdata at {}", dir.display());
            command.env("ESP32S3_TESTDATA", dir);
        }
        None => println!("    golden tier skipped: no testdata"),
    }
    println!("    $ {}", run::describe(&command));
    let log = run::repo_root().join("target/xtask/test.log");
    let status = run::run_filtered(command, &log, is_test_summary_line)?;
    if status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let details = failure_details(&text, 200);
    if details.is_empty() {
        // No test failed, so the build did (or the harness crashed): its end says why.
        println!("    last lines of {}:", log.display());
        run::print_indented(&run::tail(&log, 80));
    } else {
        println!("    failed tests:");
        run::print_indented(&details);
    }
    Err(format!(
        "`cargo test --workspace` failed ({status}); full log: {}",
        log.display()
    ))
}

/// The `---- <test> stdout ----` sections of every failed test in `cargo test` output (at most
/// `max_lines` lines), so a CI log shows each failure's message, not only the last one's.
fn failure_details(output: &str, max_lines: usize) -> String {
    let mut kept = Vec::new();
    let mut in_section = false;
    for line in output.lines() {
        if line.starts_with("---- ") {
            in_section = true;
        } else if line == "failures:" {
            in_section = false;
        }
        if in_section && !line.trim_start().starts_with("at /rustc/") {
            kept.push(line);
        }
    }
    kept.truncate(max_lines);
    kept.join("\n")
}

/// The lines of `cargo test` output worth showing live: which binary runs, its summary, and
/// anything that failed.
fn is_test_summary_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.starts_with("Running ")
        || trimmed.starts_with("Doc-tests ")
        || trimmed.starts_with("test result:")
        || trimmed.starts_with("error")
        || trimmed.starts_with("---- ")
        || line.contains("FAILED")
        || line.contains("panicked at")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_or_name_the_bad_one() {
        let check = |args: &[&str], expected: Result<bool>| {
            let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
            let parsed = parse(&args).map(|options| options.no_interop);
            assert_eq!(parsed, expected, "{args:?}");
        };
        check(&[], Ok(false));
        check(&["--no-interop"], Ok(true));
        check(
            &["--fast"],
            Err("unknown argument `--fast` for `ci` (expected --no-interop)".to_owned()),
        );
    }

    #[test]
    fn missing_targets_are_those_not_listed() {
        let installed = "x86_64-unknown-linux-gnu\nx86_64-pc-windows-gnu\n";
        assert_eq!(
            missing_targets(installed, CROSS_TARGETS),
            ["aarch64-apple-darwin"]
        );
        assert_eq!(
            missing_targets("", CROSS_TARGETS),
            ["x86_64-pc-windows-gnu", "aarch64-apple-darwin"]
        );
        let all = "aarch64-apple-darwin\nx86_64-pc-windows-gnu\n";
        assert!(missing_targets(all, CROSS_TARGETS).is_empty());
    }

    #[test]
    fn failure_details_keep_each_failed_test_section() {
        let output = "\
running 2 tests
test a ... FAILED
test b ... ok

failures:

---- a stdout ----
thread 'a' panicked at tests/x.rs:3:5:
left != right

failures:
    a

test result: FAILED. 1 passed; 1 failed
     Running tests/y.rs
---- c stdout ----
boom

failures:
    c
";
        assert_eq!(
            failure_details(output, 100),
            "---- a stdout ----\nthread 'a' panicked at tests/x.rs:3:5:\nleft != right\n\n---- c stdout ----\nboom\n"
        );
        assert_eq!(failure_details(output, 1), "---- a stdout ----");
        assert_eq!(failure_details("test result: ok. 3 passed", 100), "");
    }

    #[test]
    fn test_output_shows_binaries_summaries_and_failures_only() {
        let check = |line: &str, shown: bool| {
            assert_eq!(is_test_summary_line(line), shown, "{line}");
        };
        check(
            "     Running tests/tidy.rs (target/debug/deps/tidy-1)",
            true,
        );
        check("   Doc-tests cargo_esp32s3", true);
        check("test result: ok. 2 passed; 0 failed; 0 ignored", true);
        check("test image::tests::checksum ... ok", false);
        check("test image::tests::checksum ... FAILED", true);
        check("---- image::tests::checksum stdout ----", true);
        check("thread 'x' panicked at src/image/format.rs:10:5:", true);
        check("error[E0425]: cannot find value `x` in this scope", true);
        check("   Compiling cargo-esp32s3 v0.1.0", false);
        check("", false);
    }
}
