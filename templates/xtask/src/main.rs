//! This project's automation, run as `cargo xtask <task>` (written by `cargo esp32s3 init --xtask`;
//! it is yours to change). It uses the `cargo_esp32s3` library, so it builds, lays out and flashes
//! exactly as `cargo esp32s3 flash` does, and it runs on any port that command accepts, `sim://`
//! (the virtual ESP32-S3) included.
//!
//! - `cargo xtask flash [--release] [--port PORT] [--elf FILE]`: build, flash, reset.
//! - `cargo xtask test-on-device [--release] [--port PORT] [--elf FILE] [--expect TEXT]
//!   [--timeout SECS]`: flash, reset, then watch the console until a line contains TEXT (exit 0),
//!   a line shows a panic (exit 1, its backtrace decoded with the ELF) or the time runs out
//!   (exit 1). Make the firmware print TEXT (default `tests passed`) when its on-device checks
//!   succeed.
//!
//! The port comes from `--port`, else `ESP32S3_PORT`, else `port` in
//! `[package.metadata.esp32s3]`; every other setting from the same places as for `cargo esp32s3`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cargo_esp32s3::cargo::BuildOptions;
use cargo_esp32s3::config::FlagValues;
use cargo_esp32s3::flasher::Event;
use cargo_esp32s3::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions};
use cargo_esp32s3::reset::After;
use cargo_esp32s3::symbols::Symbols;
use cargo_esp32s3::{Board, Discover, Project};

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  flash           build, flash and reset the board
  test-on-device  flash, reset, then wait for a console line containing --expect TEXT

options:
  --release        build with the release profile
  --port PORT      the board's port (/dev/ttyUSB0, COM3, sim://); default ESP32S3_PORT
  --elf FILE       flash this ELF instead of building
  --expect TEXT    the line that means success (test-on-device; default \"tests passed\")
  --timeout SECS   how long to wait for it (test-on-device; default 30)";

/// Lines that end a test run as failed at once.
const FAILURE_MARKS: [&str; 2] = ["panicked at", "Guru Meditation Error"];

struct Options {
    release: bool,
    port: Option<String>,
    elf: Option<PathBuf>,
    expect: String,
    timeout: Duration,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let options = match parse(rest) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match task.as_str() {
        "flash" => flash(&options).and_then(|(mut board, _)| {
            board
                .reset(After::HardReset)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
        "test-on-device" => test_on_device(&options),
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

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        release: false,
        port: None,
        elf: None,
        expect: "tests passed".to_string(),
        timeout: Duration::from_secs(30),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--release" => options.release = true,
            "--port" => options.port = Some(value()?),
            "--elf" => options.elf = Some(PathBuf::from(value()?)),
            "--expect" => options.expect = value()?,
            "--timeout" => {
                let text = value()?;
                let secs: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| {
                        format!("--timeout {text:?} is not a positive number of seconds")
                    })?;
                options.timeout = Duration::from_secs_f64(secs);
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(options)
}

/// Find the project (the workspace root this xtask lives in), build unless given an ELF, and
/// flash. The board is handed back for the reset, and the ELF for decoding addresses.
fn flash(options: &Options) -> Result<(Board, PathBuf), String> {
    let env = |name: &str| std::env::var(name).ok();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let project = Project::discover_with(
        &root,
        &Discover {
            flags: FlagValues {
                port: options.port.clone(),
                ..FlagValues::default()
            },
            env: Some(&env),
            cargo: std::env::var_os("CARGO").map(PathBuf::from),
            ..Discover::default()
        },
    )
    .map_err(|e| e.to_string())?;

    let (plan, elf) = match &options.elf {
        Some(elf) => (project.plan(elf), elf.clone()),
        None => {
            let build = BuildOptions {
                release: options.release,
                ..BuildOptions::default()
            };
            let built = project
                .build(&build, |message| eprint!("{message}"))
                .map_err(|e| e.to_string())?;
            (project.plan_of(&built), built.executable)
        }
    };
    let plan = plan.map_err(|e| e.to_string())?;

    let port = project.settings().port.clone().ok_or(
        "no port: pass --port, set ESP32S3_PORT, or set `port` in [package.metadata.esp32s3]",
    )?;
    let mut board =
        Board::open_with(&port, project.settings(), report).map_err(|e| e.to_string())?;
    let summary = board.flash(&plan, report).map_err(|e| e.to_string())?;
    eprintln!(
        "flashed {} region(s), {} unchanged, in {:.1} s",
        summary.written,
        summary.skipped,
        summary.elapsed.as_secs_f64()
    );
    Ok((board, elf))
}

/// Flash, reset into the firmware, then watch the console until a line contains the expected
/// text. Code addresses in a panic are decoded with the ELF.
fn test_on_device(options: &Options) -> Result<(), String> {
    let (mut board, elf) = flash(options)?;
    board
        .reset_into_monitor(After::HardReset)
        .map_err(|e| e.to_string())?;
    let watch = WatchOptions {
        timeout: Some(options.timeout),
        symbols: Symbols::from_elf_file(&elf).ok(),
        hints: true,
        ..WatchOptions::default()
    };
    let mut outcome = None;
    let end = board
        .monitor(&watch, |event| {
            match event {
                MonitorEvent::Line(line) => {
                    println!("{line}");
                    if line.contains(&options.expect) {
                        outcome = Some(Ok(()));
                        return Control::Stop;
                    }
                    if FAILURE_MARKS.iter().any(|mark| line.contains(mark)) {
                        outcome = Some(Err(format!("the firmware failed: {line}")));
                        return Control::Stop;
                    }
                }
                MonitorEvent::Address { addr, location } => println!("  0x{addr:08x}: {location}"),
                MonitorEvent::Hint(hint) => eprintln!("hint: {hint}"),
                _ => {}
            }
            Control::Continue
        })
        .map_err(|e| e.to_string())?;
    match (outcome, end) {
        (Some(result), _) => result,
        (None, WatchEnd::Disconnected) => Err("the port closed before the expected line".into()),
        (None, _) => Err(format!(
            "no line containing {:?} within {:.0} s; check that the firmware prints it",
            options.expect,
            options.timeout.as_secs_f64()
        )),
    }
}

/// Progress, one line per step.
fn report(event: Event) {
    match event {
        Event::Connected { port, .. } => eprintln!("connected on {port}"),
        Event::RegionStarted {
            offset, len, label, ..
        } => {
            eprintln!("writing {label} ({len} bytes at 0x{offset:x})")
        }
        Event::RegionSkipped { label, .. } => eprintln!("{label} unchanged"),
        Event::Warning(message) => eprintln!("warning: {message}"),
        _ => {}
    }
}
