//! The repository's own automation, run as `cargo xtask <task>` (the alias lives in
//! `.cargo/config.toml`; see matklad/cargo-xtask for the pattern).
//!
//! - `ci`: the one test command: fmt, clippy, clippy for Windows and macOS, every test, then the
//!   esptool interop tier.
//! - `interop`: esptool 4.8.1 and the newest esptool against `cargo-esp32s3 sim --pty` and
//!   `sim --rfc2217`.
//! - `fuzz`: every cargo-fuzz target in `fuzz/`, each for a set time, seeded from the testdata.
//! - `bench`: this tool, esptool and espflash side by side against the paced virtual chip.
//! - `criterion`: the criterion benchmarks in `benches/` (our own host-side costs).
//! - `demo`: the main job against the virtual chip, with images this repository makes itself.
//! - `errors`: `docs/errors.md` written from the error catalogue.
//! - `soak`: hundreds of flashes onto virtual chips under randomised faults, counted.
//!
//! std only: tasks run other programs with `std::process::Command`. See `docs/testing.md`.

mod bench;
mod ci;
mod criterion;
mod demo;
mod errors;
mod fuzz;
mod interop;
mod run;
mod soak;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  ci [--no-interop]                 fmt, clippy (also for Windows and macOS), tests, then the
                                    interop tier when testdata and python3 are present
                                    (--no-interop is refused when CI=true)
  interop [--only 4.8.1|latest]     esptool against the simulator on a pty and RFC 2217 (testdata)
  fuzz [--seconds N] [--parallel N] [TARGET...]
                                    build the cargo-fuzz targets once, seed them from testdata,
                                    run each for N seconds (default 60; the long round is
                                    `cargo xtask fuzz --seconds 600`); targets: slip, response,
                                    telnet, monitor_lines, partition_csv, partition_binary,
                                    bin_image, elf_to_image
  bench [--quick]                   this tool, esptool and espflash side by side against the paced
                                    virtual chip (installs esptool into target/interop/); markdown
                                    and JSON in target/bench/ (--quick: a small image, CI)
  criterion [--quick] [FILTER]      criterion benchmarks in benches/
  demo                              build the tool and flash a demo firmware onto the virtual
                                    ESP32-S3 (no hardware, no Xtensa toolchain needed)
  errors                            write docs/errors.md from the error catalogue
                                    (src/catalogue/), then check it
  soak [--flashes N] [--seed S] [--release]
                                    N flashes (default 500) of real images onto virtual chips
                                    under every fault type at several rates; the table of
                                    verified successes and JSON in target/soak/; fails on any
                                    silent corruption

environment:
  ESP32S3_TESTDATA   the reference files (default: ../shared/testdata next to the repository)
  CI=true            every tier that can run must run";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let outcome = match task.as_str() {
        "ci" => ci::parse(rest).and_then(|options| ci::run(&options)),
        "interop" => interop::parse(rest).and_then(|options| {
            let testdata = run::testdata_dir().ok_or(
                "the interop tier needs the reference files: set ESP32S3_TESTDATA or provide ../shared/testdata",
            )?;
            interop::run(&options, &testdata)
        }),
        "fuzz" => fuzz::parse(rest).and_then(|options| fuzz::run(&options)),
        "bench" => bench::parse(rest).and_then(|options| bench::run(&options)),
        "criterion" => criterion::parse(rest).and_then(|options| criterion::run(&options)),
        "demo" => demo::parse(rest).and_then(|()| demo::run()),
        "errors" => errors::parse(rest).and_then(|()| errors::run()),
        "soak" => soak::parse(rest).and_then(|options| soak::run(&options)),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("error: unknown task `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
