//! `cargo xtask interop`: the independent-client tier. Espressif's own esptool (the pinned
//! 4.8.1 and the newest release from PyPI) talks to our simulator on a pseudo-terminal and over
//! RFC 2217, so the simulator is judged by a client we did not write.
//!
//! For each esptool version: a venv under `target/interop/` (reused when it already holds the
//! right version), then two tiers, each with a fresh simulator and an empty 8 MB flash file and
//! steps that each have a timeout and a log in `target/interop/logs/`. On the pty (no modem
//! lines, chip in download mode) the steps cover the protocol; over RFC 2217 (`sim --rfc2217 0
//! --boot spi`, the chip booting from its flash) esptool's own default reset must bring the chip
//! into download mode through DTR/RTS, and its hard reset must take it out again. This file
//! knows esptool's command line and the simulator's contract (first stdout line: the pty path
//! or the `rfc2217://` URL); it does not work around simulator bugs: a failing step is reported
//! with its log.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::run::{self, Finished, KillOnDrop, Result};

/// The MicroPython offset-0 image (bootloader + partition table + app), relative to testdata.
pub(crate) const FIRMWARE: &str = "firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin";
/// The pinned old release: the last 4.x, still the one most guides and IDEs install.
pub(crate) const PINNED_VERSION: &str = "4.8.1";
/// The region `erase-region` clears and the test reads back.
const ERASE_OFFSET: u32 = 0x1_0000;
const ERASE_LEN: u32 = 0x1_0000;
/// Longest any single esptool run may take before it is killed and the step fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);
/// What the RFC 2217 tier writes: ESP-IDF's hello_world layout (bootloader at 0x0, partition
/// table at 0x8000, app at 0x10000), which boots into an app that stays quiet. A layout that
/// fails to boot would loop through resets, and pyserial opening a port over RFC 2217 drives
/// DTR low-then-RTS as two messages ~50 ms apart: a reset landing in that gap samples IO0 low,
/// so "no loader after the hard reset" could not be checked reliably.
pub(crate) const HELLO_WORLD_DIR: &str = "firmware/esp-idf-hello_world-esp32s3";
/// Longest the simulator may take to print its pty path.
const SIM_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `cargo xtask interop`.
#[derive(Debug, Default)]
pub struct Options {
    /// Run only this esptool (`4.8.1` or `latest`); both when `None`.
    pub only: Option<Release>,
}

/// Which esptool release a venv holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// [`PINNED_VERSION`].
    Pinned,
    /// The newest release on PyPI.
    Latest,
}

impl Release {
    /// How the release is chosen, for messages.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Release::Pinned => "pinned",
            Release::Latest => "newest",
        }
    }

    /// The venv's name suffix.
    fn label(self) -> &'static str {
        match self {
            Release::Pinned => PINNED_VERSION,
            Release::Latest => "latest",
        }
    }
}

/// Parses `cargo xtask interop` arguments.
pub fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--only" => {
                let value = args.next().map(String::as_str);
                options.only = Some(match value {
                    Some(PINNED_VERSION) => Release::Pinned,
                    Some("latest") => Release::Latest,
                    Some(other) => {
                        return Err(format!(
                            "--only takes `{PINNED_VERSION}` or `latest`, not `{other}`"
                        ));
                    }
                    None => {
                        return Err(format!(
                            "--only needs a value: `{PINNED_VERSION}` or `latest`"
                        ));
                    }
                });
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}` for `interop` (expected --only {PINNED_VERSION}|latest)"
                ));
            }
        }
    }
    Ok(options)
}

/// Runs the tier against `testdata`; fails if any step of any version fails.
pub fn run(options: &Options, testdata: &Path) -> Result {
    let firmware_path = testdata.join(FIRMWARE);
    let firmware = std::fs::read(&firmware_path)
        .map_err(|e| format!("cannot read {}: {e}", firmware_path.display()))?;
    let hello_world = hello_world_layout(&testdata.join(HELLO_WORLD_DIR))?;
    let work = run::repo_root().join("target/interop");
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;

    let releases: Vec<Release> = match options.only {
        Some(release) => vec![release],
        None => vec![Release::Pinned, Release::Latest],
    };
    // Venvs first: a network or pip problem shows up before anything else is built or started.
    let mut tools = Vec::new();
    for release in releases {
        tools.push(Esptool::ensure(release, &work, &logs)?);
    }

    println!("    building the simulator: cargo build --bin cargo-esp32s3");
    let mut build = run::cargo();
    build.args(["build", "--bin", "cargo-esp32s3"]);
    run::run_inherit(build)?;
    let binary = run::repo_root().join("target/debug/cargo-esp32s3");

    let mut failures = Vec::new();
    for tool in &tools {
        let context = Context {
            tool,
            binary: &binary,
            firmware_path: &firmware_path,
            firmware: &firmware,
            hello_world: &hello_world,
            work: &work,
            logs: &logs,
        };
        failures.extend(context.run_all()?);
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} interop step(s) failed: {}",
            failures.len(),
            failures.join(", ")
        ))
    }
}

/// One installed esptool.
pub(crate) struct Esptool {
    pub(crate) release: Release,
    /// The installed version, e.g. `4.8.1` or `5.1.0`.
    pub(crate) version: String,
    /// The console script: `esptool.py` for 4.x, `esptool` for 5.x.
    pub(crate) program: PathBuf,
    /// 5.x spells subcommands and choices with dashes (`write-flash`, `no-reset`), 4.x with
    /// underscores.
    pub(crate) dashed: bool,
}

impl Esptool {
    /// Creates or reuses `target/interop/venv-<label>` holding the right esptool.
    pub(crate) fn ensure(release: Release, work: &Path, logs: &Path) -> Result<Esptool> {
        let venv = work.join(format!("venv-{}", release.label()));
        let python = venv.join("bin/python");
        let pip_log = logs.join(format!("{}-pip.log", release.label()));
        let start = Instant::now();
        if !python.exists() {
            println!("    creating {}", venv.display());
            let mut command = Command::new("python3");
            command.args(["-m", "venv"]).arg(&venv);
            run::run_inherit(command).map_err(|e| {
                format!("{e}; the interop tier needs `python3 -m venv` (on Debian: apt install python3-venv)")
            })?;
        }
        let installed = installed_version(&python);
        let version = match (release, installed) {
            (Release::Pinned, Some(version)) if version == PINNED_VERSION => version,
            (Release::Pinned, _) => {
                pip_install(&python, &format!("esptool=={PINNED_VERSION}"), &pip_log)?;
                installed_version(&python).ok_or("esptool is not importable after pip install")?
            }
            (Release::Latest, installed) => {
                // Asking pip to upgrade costs one index query and keeps "latest" honest.
                match pip_install(&python, "esptool", &pip_log) {
                    Ok(()) => {}
                    Err(e) if installed.is_some() => {
                        eprintln!("    warning: {e}; reusing the esptool already installed");
                    }
                    Err(e) => return Err(e),
                }
                installed_version(&python).ok_or("esptool is not importable after pip install")?
            }
        };
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .ok_or_else(|| format!("cannot read the major version of esptool {version}"))?;
        let dashed = major >= 5;
        let program = venv.join(if dashed {
            "bin/esptool"
        } else {
            "bin/esptool.py"
        });
        println!(
            "    esptool {version} ({}) ready in {} at {}",
            release.kind(),
            run::format_duration(start.elapsed()),
            venv.display()
        );
        Ok(Esptool {
            release,
            version,
            program,
            dashed,
        })
    }

    /// A subcommand or choice in this version's spelling (`write-flash` → `write_flash` on 4.x).
    pub(crate) fn spell(&self, dashed_name: &str) -> String {
        if self.dashed {
            return dashed_name.to_owned();
        }
        // Only the dashes inside the name change: `--flash-size` becomes `--flash_size`.
        let name = dashed_name.trim_start_matches('-');
        let prefix = "-".repeat(dashed_name.len() - name.len());
        format!("{prefix}{}", name.replace('-', "_"))
    }

    /// `esptool --chip esp32s3 [--port PTY --before no-reset --after no-reset] [--no-stub]`.
    fn command(&self, port: Option<&str>, stub: bool) -> Command {
        self.command_after(port, stub, "no-reset")
    }

    /// [`Esptool::command`] with another `--after` (dashed spelling).
    fn command_after(&self, port: Option<&str>, stub: bool, after: &str) -> Command {
        self.command_reset(port, stub, "no-reset", after)
    }

    /// [`Esptool::command`] with other `--before` and `--after` (dashed spelling).
    fn command_reset(&self, port: Option<&str>, stub: bool, before: &str, after: &str) -> Command {
        let mut command = Command::new(&self.program);
        command.args(["--chip", "esp32s3"]);
        if let Some(port) = port {
            // A pty has no DTR/RTS lines, so no reset can be played (esptool would fail setting
            // RTS for `hard-reset`); the simulator starts in download mode. `--after no-reset`
            // with the stub sends FLASH_BEGIN(0,0)+FLASH_END(0), which returns to the ROM
            // loader, so each run starts at the ROM unless `no-reset-stub` was used.
            command
                .args(["--port", port])
                .args(["--before", &self.spell(before)])
                .args(["--after", &self.spell(after)]);
        }
        if !stub {
            command.arg("--no-stub");
        }
        command
    }
}

/// The version of esptool importable by `python`, if any.
fn installed_version(python: &Path) -> Option<String> {
    let output = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('esptool'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !version.is_empty()).then_some(version)
}

/// `python -m pip install --upgrade <requirement>`, logged to `log`.
fn pip_install(python: &Path, requirement: &str, log: &Path) -> Result {
    println!("    pip install {requirement}");
    let mut command = Command::new(python);
    command.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--upgrade",
        requirement,
    ]);
    match run::run_logged_with_timeout(command, log, STEP_TIMEOUT)? {
        Finished::Exited(status) if status.success() => Ok(()),
        finished => {
            run::print_indented(&run::tail(log, 20));
            Err(format!(
                "pip install {requirement} failed ({}); log: {}",
                describe_finish(&finished),
                log.display()
            ))
        }
    }
}

fn describe_finish(finished: &Finished) -> String {
    match finished {
        Finished::Exited(status) => status.to_string(),
        Finished::TimedOut => format!("timed out after {}s", STEP_TIMEOUT.as_secs()),
    }
}

/// ESP-IDF's hello_world build as one offset-0 image: bootloader at 0x0, partition table at
/// 0x8000, app at 0x10000, gaps erased (0xFF).
pub(crate) fn hello_world_layout(dir: &Path) -> Result<Vec<u8>> {
    let mut image = Vec::new();
    for (offset, name) in [
        (0x0, "bootloader.bin"),
        (0x8000, "partition-table.bin"),
        (0x1_0000, "hello_world.bin"),
    ] {
        let path = dir.join(name);
        let part =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if image.len() > offset {
            return Err(format!("{} overlaps the part before it", path.display()));
        }
        image.resize(offset, 0xFF);
        image.extend_from_slice(&part);
    }
    Ok(image)
}

/// Everything one esptool version's run needs.
struct Context<'a> {
    tool: &'a Esptool,
    binary: &'a Path,
    firmware_path: &'a Path,
    firmware: &'a [u8],
    /// The offset-0 layout the RFC 2217 tier writes ([`HELLO_WORLD_DIR`]).
    hello_world: &'a [u8],
    work: &'a Path,
    logs: &'a Path,
}

/// What a step checks after esptool exits successfully.
enum Check {
    /// The log holds every `must` text and none of the `must_not` texts (each chosen to be the
    /// same in 4.8.1 and 5.x).
    Log {
        must: &'static [&'static str],
        must_not: &'static [&'static str],
    },
    /// The file esptool wrote equals the firmware byte for byte.
    ReadBackEqualsFirmware(PathBuf),
    /// The file esptool wrote (first) equals the file it was written from (second).
    ReadBackEquals(PathBuf, PathBuf),
    /// esptool fails (exits non-zero), and its log holds this text.
    Fails(&'static str),
    /// The file esptool wrote is all 0xFF (erased) and of the erased length.
    Erased(PathBuf),
    /// The log shows a valid checksum and no invalid field.
    ImageValid,
}

/// One esptool run.
struct Step {
    name: &'static str,
    command: Command,
    check: Check,
}

impl Context<'_> {
    /// Runs both tiers; returns the names of the failed steps.
    fn run_all(&self) -> Result<Vec<String>> {
        let mut failures = self.run_tier(Server::Pty)?;
        failures.extend(self.run_tier(Server::Rfc2217)?);
        Ok(failures)
    }

    /// Starts a fresh simulator and runs the tier's steps; returns the names of the failed steps.
    fn run_tier(&self, server: Server) -> Result<Vec<String>> {
        // Files are named after the installed version, so logs of different runs never mix.
        let version = self.tool.version.as_str();
        let label = match server {
            Server::Pty => version.to_owned(),
            Server::Rfc2217 => format!("{version}-rfc2217"),
        };
        let label = label.as_str();
        println!(
            "==> interop: esptool {version} ({}) against `cargo-esp32s3 {}`",
            self.tool.release.kind(),
            server.arguments().join(" ")
        );
        let flash_file = self.work.join(format!("sim-{label}.flash"));
        // A fresh, absent flash file: the simulator starts from an erased chip every time.
        match std::fs::remove_file(&flash_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove {}: {e}", flash_file.display())),
        }
        let sim_log = self.logs.join(format!("{label}-sim.log"));
        let mut sim = Sim::start(self.binary, server, &flash_file, &sim_log)?;
        println!("    simulator on {} (log: {})", sim.port, sim_log.display());

        let steps = match server {
            Server::Pty => self.steps(&sim.port),
            Server::Rfc2217 => self.rfc2217_steps(&sim.port),
        };
        let mut failures = Vec::new();
        for step in steps {
            let name = step.name;
            if !self.run_step(step) {
                failures.push(format!("{label}-{name}"));
            }
            if let Some(status) = sim.exited() {
                println!(
                    "    the simulator exited ({status}); last lines of {}:",
                    sim_log.display()
                );
                run::print_indented(&run::tail(&sim_log, 20));
                failures.push(format!("{label}-sim-exited"));
                break;
            }
        }
        drop(sim);
        Ok(failures)
    }

    /// The steps. ROM-only steps check that no stub was uploaded; stub steps that it was, or
    /// that the stub left running by the previous step was found again.
    fn steps(&self, pty: &str) -> Vec<Step> {
        let tool = self.tool;
        let port = Some(pty);
        let firmware = path_str(self.firmware_path);
        let label = tool.version.as_str();
        let read_back = self.work.join(format!("{label}-read-back.bin"));
        let erased = self.work.join(format!("{label}-erased.bin"));
        let len = format!("{:#x}", self.firmware.len());
        let erase_offset = format!("{ERASE_OFFSET:#x}");
        let erase_len = format!("{ERASE_LEN:#x}");
        let keep = |command: &mut Command| {
            // `keep` leaves the image header as it is, so the flash must match the file exactly.
            for option in ["--flash-mode", "--flash-freq", "--flash-size"] {
                command.args([tool.spell(option).as_str(), "keep"]);
            }
        };
        const UPLOAD: &str = "Uploading stub";
        const ROM_ONLY: Check = Check::Log {
            must: &[],
            must_not: &[UPLOAD],
        };
        let mut steps = Vec::new();
        let mut add = |name: &'static str, mut command: Command, args: &[&str], check: Check| {
            command.args(args);
            steps.push(Step {
                name,
                command,
                check,
            });
        };

        for name in ["chip-id", "flash-id", "read-mac"] {
            add(
                name,
                tool.command(port, false),
                &[&tool.spell(name)],
                ROM_ONLY,
            );
        }

        let mut write_rom = tool.command(port, false);
        write_rom.arg(tool.spell("write-flash"));
        keep(&mut write_rom);
        add(
            "write-flash-no-stub",
            write_rom,
            &["0x0", &firmware],
            Check::Log {
                must: &["Hash of data verified"],
                must_not: &[UPLOAD],
            },
        );

        let mut write_stub = tool.command(port, true);
        write_stub.arg(tool.spell("write-flash"));
        keep(&mut write_stub);
        add(
            "write-flash-stub",
            write_stub,
            &["0x0", &firmware],
            Check::Log {
                must: &[UPLOAD, "Hash of data verified"],
                must_not: &[],
            },
        );

        let mut verify = tool.command(port, true);
        verify.arg(tool.spell("verify-flash"));
        keep(&mut verify);
        add(
            "verify-flash",
            verify,
            &["0x0", &firmware],
            Check::Log {
                must: &["digest matched"],
                must_not: &[],
            },
        );

        add(
            "read-flash",
            tool.command(port, true),
            &[
                &tool.spell("read-flash"),
                "0x0",
                &len,
                &path_str(&read_back),
            ],
            Check::ReadBackEqualsFirmware(read_back.clone()),
        );
        add(
            "erase-region",
            tool.command(port, true),
            &[&tool.spell("erase-region"), &erase_offset, &erase_len],
            Check::Log {
                must: &[],
                must_not: &[],
            },
        );
        add(
            "read-erased",
            tool.command(port, true),
            &[
                &tool.spell("read-flash"),
                &erase_offset,
                &erase_len,
                &path_str(&erased),
            ],
            Check::Erased(erased.clone()),
        );

        // A step of MicroPython's guide: erase above 2 MiB with the stub and no size option. The
        // stub sets the flash size itself when it starts (the ROM's is 2 MiB until told), so the
        // simulator's stub must not answer C400 there.
        add(
            "erase-region-above-2mib",
            tool.command(port, true),
            &[&tool.spell("erase-region"), "0x200000", "0x10000"],
            Check::Log {
                must: &[],
                must_not: &["C400", "Failed SPI operation"],
            },
        );

        // `--after no-reset-stub` leaves the stub running; the next connection must find it
        // (SYNC answered with value 0) instead of uploading it again.
        add(
            "stub-left-running",
            tool.command_after(port, true, "no-reset-stub"),
            &[&tool.spell("flash-id")],
            Check::Log {
                must: &[UPLOAD],
                must_not: &[],
            },
        );
        add(
            "stub-found-running",
            tool.command(port, true),
            &[&tool.spell("flash-id")],
            Check::Log {
                must: &["already running"],
                must_not: &[UPLOAD],
            },
        );

        let mut image_info = tool.command(None, true);
        image_info.arg(tool.spell("image-info"));
        if !tool.dashed {
            // 4.x prints the detailed report only with `--version 2`; 5.x always does.
            image_info.args(["--version", "2"]);
        }
        add(
            "image-info",
            image_info,
            &[&path_str(&read_back)],
            Check::ImageValid,
        );
        steps
    }

    /// The RFC 2217 steps: every connection starts with esptool's own default reset (the chip
    /// boots from its flash until DTR/RTS put it into download mode), and the write ends with
    /// its hard reset, which a connection without a reset must then find no loader after.
    fn rfc2217_steps(&self, url: &str) -> Vec<Step> {
        let tool = self.tool;
        let port = Some(url);
        let label = tool.version.as_str();
        let small = self.work.join(format!("{label}-rfc2217-hello_world.bin"));
        let small_len = self.hello_world.len();
        if let Err(e) = std::fs::write(&small, self.hello_world) {
            println!("    cannot write {}: {e}", small.display());
        }
        let read_back = self.work.join(format!("{label}-rfc2217-read-back.bin"));
        let len = format!("{small_len:#x}");
        let keep = |command: &mut Command| {
            for option in ["--flash-mode", "--flash-freq", "--flash-size"] {
                command.args([tool.spell(option).as_str(), "keep"]);
            }
        };
        // The same in 4.8.1 and 5.x (4.x prints `MAC: ...`, 5.x pads the colon).
        const IDENTITY: &[&str] = &["ESP32-S3 (QFN56)", "7c:df:a1:00:00:01"];
        // esptool's warning when it could not set the lines.
        const NOT_RESET: &str = "NOT reset";
        let mut steps = Vec::new();
        let mut add = |name: &'static str, mut command: Command, args: &[&str], check: Check| {
            command.args(args);
            steps.push(Step {
                name,
                command,
                check,
            });
        };
        add(
            "rfc2217-chip-id",
            tool.command_reset(port, false, "default-reset", "no-reset"),
            &[&tool.spell("chip-id")],
            Check::Log {
                must: IDENTITY,
                must_not: &[NOT_RESET],
            },
        );
        add(
            "rfc2217-flash-id",
            tool.command_reset(port, true, "default-reset", "no-reset"),
            &[&tool.spell("flash-id")],
            Check::Log {
                must: &["Manufacturer: c8"],
                must_not: &[NOT_RESET],
            },
        );
        // With the stub and a faster speed, so SET_BAUDRATE goes through the server too.
        let mut write = tool.command_reset(port, true, "default-reset", "hard-reset");
        write
            .args(["--baud", "460800"])
            .arg(tool.spell("write-flash"));
        keep(&mut write);
        add(
            "rfc2217-write-flash",
            write,
            &["0x0", &path_str(&small)],
            Check::Log {
                must: &["Hash of data verified", "Hard resetting via RTS pin"],
                must_not: &[NOT_RESET],
            },
        );
        // After the hard reset the chip runs from its flash: without a reset there is no
        // loader to answer.
        let mut no_reset = tool.command_reset(port, false, "no-reset", "no-reset");
        no_reset.args(["--connect-attempts", "1"]);
        add(
            "rfc2217-left-loader",
            no_reset,
            &[&tool.spell("chip-id")],
            Check::Fails("Failed to connect to ESP32-S3"),
        );
        // A second connection with the default reset gets it back into download mode.
        add(
            "rfc2217-reconnect-read",
            tool.command_reset(port, true, "default-reset", "hard-reset"),
            &[
                &tool.spell("read-flash"),
                "0x0",
                &len,
                &path_str(&read_back),
            ],
            Check::ReadBackEquals(read_back.clone(), small.clone()),
        );
        steps
    }

    /// Runs one step and prints its PASS/FAIL line (and the log tail on failure).
    fn run_step(&self, step: Step) -> bool {
        let label = self.tool.version.as_str();
        let log = self.logs.join(format!("{label}-{}.log", step.name));
        let start = Instant::now();
        let outcome = match run::run_logged_with_timeout(step.command, &log, STEP_TIMEOUT) {
            Ok(Finished::Exited(status)) if matches!(step.check, Check::Fails(_)) => {
                if status.success() {
                    Err("esptool succeeded where it must fail".to_owned())
                } else {
                    self.check(&step.check, &log)
                }
            }
            Ok(Finished::Exited(status)) if status.success() => self.check(&step.check, &log),
            Ok(finished) => Err(format!("esptool {}", describe_finish(&finished))),
            Err(e) => Err(e),
        };
        let elapsed = run::format_duration(start.elapsed());
        match outcome {
            Ok(()) => {
                println!("    PASS {label} {:<20} {elapsed:>7}", step.name);
                true
            }
            Err(reason) => {
                println!(
                    "    FAIL {label} {:<20} {elapsed:>7}  {reason} (log: {})",
                    step.name,
                    log.display()
                );
                run::print_indented(&run::tail(&log, 25));
                false
            }
        }
    }

    fn check(&self, check: &Check, log: &Path) -> Result {
        match check {
            Check::Log { must, must_not } => {
                let text = String::from_utf8_lossy(&read(log)?).into_owned();
                if let Some(missing) = must.iter().find(|needle| !text.contains(*needle)) {
                    return Err(format!("the output lacks `{missing}`"));
                }
                if let Some(found) = must_not.iter().find(|needle| text.contains(*needle)) {
                    return Err(format!("the output shows `{found}`"));
                }
                Ok(())
            }
            Check::ReadBackEqualsFirmware(path) => {
                let data = read(path)?;
                match first_difference(&data, self.firmware) {
                    None => Ok(()),
                    Some(offset) => Err(format!(
                        "{} differs from {} at offset {offset:#x} ({} vs {} bytes)",
                        path.display(),
                        self.firmware_path.display(),
                        data.len(),
                        self.firmware.len()
                    )),
                }
            }
            Check::ReadBackEquals(path, written) => {
                let data = read(path)?;
                let expected = read(written)?;
                match first_difference(&data, &expected) {
                    None => Ok(()),
                    Some(offset) => Err(format!(
                        "{} differs from {} at offset {offset:#x}",
                        path.display(),
                        written.display(),
                    )),
                }
            }
            Check::Fails(needle) => {
                let text = String::from_utf8_lossy(&read(log)?).into_owned();
                if text.contains(needle) {
                    Ok(())
                } else {
                    Err(format!("esptool failed, but its output lacks `{needle}`"))
                }
            }
            Check::Erased(path) => {
                let data = read(path)?;
                let expected_len = usize::try_from(ERASE_LEN).unwrap_or(usize::MAX);
                if data.len() != expected_len {
                    return Err(format!(
                        "{} holds {} bytes, expected {expected_len}",
                        path.display(),
                        data.len()
                    ));
                }
                match data.iter().position(|&byte| byte != 0xFF) {
                    None => Ok(()),
                    Some(offset) => Err(format!(
                        "flash at {:#x} reads {:#04x} after erase-region, expected 0xff",
                        u64::from(ERASE_OFFSET) + offset as u64,
                        data.get(offset).copied().unwrap_or_default()
                    )),
                }
            }
            Check::ImageValid => {
                let text = String::from_utf8_lossy(&read(log)?).into_owned();
                let checksum_valid = text
                    .lines()
                    .any(|line| line.starts_with("Checksum:") && line.contains("(valid)"));
                if !checksum_valid {
                    return Err("image-info did not report a valid checksum".to_owned());
                }
                if text.contains("invalid") {
                    return Err("image-info reported an invalid field".to_owned());
                }
                Ok(())
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The first offset where `a` and `b` differ, counting a length difference as one.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}

/// How the simulator is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    /// On a pseudo-terminal, in download mode.
    Pty,
    /// Over RFC 2217 on a free port, booting from its flash.
    Rfc2217,
}

impl Server {
    fn arguments(self) -> &'static [&'static str] {
        match self {
            Server::Pty => &["sim", "--pty"],
            Server::Rfc2217 => &["sim", "--rfc2217", "0", "--boot", "spi"],
        }
    }

    /// Whether the first stdout line looks like this server's port.
    fn is_port(self, line: &str) -> bool {
        match self {
            Server::Pty => line.starts_with('/'),
            Server::Rfc2217 => line.starts_with("rfc2217://"),
        }
    }
}

/// The running `cargo-esp32s3 sim`; killed when dropped, also on failure.
struct Sim {
    process: KillOnDrop,
    /// The pty path or the `rfc2217://` URL.
    port: String,
}

impl Sim {
    /// Starts the simulator and waits for the port on its first stdout line. Its stderr and
    /// the rest of its stdout go to `log`.
    fn start(binary: &Path, server: Server, flash_file: &Path, log: &Path) -> Result<Sim> {
        let mut log_file = run::create_log(log)?;
        let stderr_file = log_file
            .try_clone()
            .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .args(server.arguments())
            .arg("--flash")
            .arg(flash_file)
            .args(["--flash-size", "8MB"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_file);
        let text = run::describe(&command);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start `{text}`: {e}"))?;
        let stdout = child.stdout.take();
        let process = KillOnDrop(child);
        let stdout = stdout.ok_or("the simulator's stdout was not captured")?;

        // A thread reads stdout so the wait for the first line can time out, and keeps draining
        // it afterwards so the simulator never blocks on a full pipe.
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(|line| line.ok());
            let _ = sender.send(first);
            for line in lines.map_while(|line| line.ok()) {
                let _ = writeln!(log_file, "{line}");
            }
        });
        let first = receiver.recv_timeout(SIM_START_TIMEOUT);
        let port = match first {
            Ok(Some(line)) if server.is_port(line.trim()) => line.trim().to_owned(),
            Ok(Some(line)) => {
                return Err(format!(
                    "`{text}` printed `{line}` where the port was expected; log: {}",
                    log.display()
                ));
            }
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(format!(
                    "`{text}` exited without printing its port:\n{}",
                    run::tail(log, 20)
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "`{text}` printed no port within {}s; log: {}",
                    SIM_START_TIMEOUT.as_secs(),
                    log.display()
                ));
            }
        };
        Ok(Sim { process, port })
    }

    /// The exit status if the simulator has stopped (it should serve until killed).
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.0.try_wait().ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_finds_offsets_and_length_mismatches() {
        let check = |a: &[u8], b: &[u8], expected: Option<usize>| {
            assert_eq!(first_difference(a, b), expected, "{a:?} vs {b:?}");
        };
        check(b"", b"", None);
        check(b"abc", b"abc", None);
        check(b"abc", b"abd", Some(2));
        check(b"ab", b"abc", Some(2));
        check(b"abc", b"ab", Some(2));
        check(b"xbc", b"abc", Some(0));
    }

    #[test]
    fn arguments_parse_or_name_the_bad_one() {
        let check = |args: &[&str], expected: Result<Option<Release>>| {
            let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
            assert_eq!(parse(&args).map(|o| o.only), expected, "{args:?}");
        };
        check(&[], Ok(None));
        check(&["--only", "4.8.1"], Ok(Some(Release::Pinned)));
        check(&["--only", "latest"], Ok(Some(Release::Latest)));
        check(
            &["--only", "5.0"],
            Err("--only takes `4.8.1` or `latest`, not `5.0`".to_owned()),
        );
        check(
            &["--only"],
            Err("--only needs a value: `4.8.1` or `latest`".to_owned()),
        );
    }

    #[test]
    fn subcommands_are_spelled_per_version() {
        let tool = |dashed| Esptool {
            release: Release::Latest,
            version: String::new(),
            program: PathBuf::new(),
            dashed,
        };
        assert_eq!(tool(true).spell("write-flash"), "write-flash");
        assert_eq!(tool(false).spell("write-flash"), "write_flash");
        assert_eq!(tool(false).spell("--flash-size"), "--flash_size");
        assert_eq!(tool(false).spell("no-reset"), "no_reset");
    }
}
