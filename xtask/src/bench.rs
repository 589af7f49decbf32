//! `cargo xtask bench`: this tool, esptool (the newest, with its stub and `--no-stub`; 4.8.1
//! exactly as the MicroPython guide runs it) and espflash (when it is on `PATH`) against the same
//! paced virtual chip (`cargo-esp32s3 sim --pty --pace real`, a fresh simulator for every run, as
//! a user power-cycles a board into download mode), timed from outside, side by side.
//!
//! Scenarios: (a) first flash of the MicroPython image onto a blank chip (460800, 921600 and each
//! tool's defaults), (b) the identical image again, (c) the image changed only in its last 64 KiB,
//! (d) erase of the whole 8 MiB flash, (e) read back 1 MiB, (f) ESP-IDF's `hello_world.elf` to a
//! merged image (process time). The simulator reports what crossed the line and how long its CPU
//! and flash were busy (its `stats:` line), from which the wire limit comes. The table is printed
//! as markdown and written with JSON to `target/bench/`; the checks of the targets
//! follow it.
//!
//! `--quick` runs a small image (the hello_world layout, or 256 KiB of generated data without the
//! reference files) with this tool and esptool 4.8.1 only, so CI keeps the harness working in
//! well under two minutes. The numbers are a model calibrated on two real figures (see
//! `src/sim/pace.rs`), not a hardware measurement. Linux only (it needs a pseudo-terminal).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::interop::{self, Esptool, Release};
use crate::run::{self, Finished, KillOnDrop, Result};

/// The guide's figures the model is calibrated on (esptool 4.8.1 with its stub at 460800).
const GUIDE_WRITE_SECONDS: f64 = 28.0;
const GUIDE_WRITE_COMPRESSED: f64 = 1_086_018.0;
const GUIDE_ERASE_SECONDS: f64 = 19.6;
/// Longest one run may take (esptool `--no-stub` reading 1 MiB 64 bytes at a time is the slowest).
const RUN_TIMEOUT: Duration = Duration::from_secs(1200);
/// The image with its last 64 KiB changed, in `target/bench/`.
const CHANGED: &str = "changed-tail.bin";
/// Runs of (f), whose median is reported.
const PROCESS_SAMPLES: usize = 5;
/// Longest the simulator may take to start or to stop.
const SIM_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `cargo xtask bench`.
#[derive(Debug, Default)]
pub struct Options {
    /// A small image, this tool and esptool 4.8.1 only.
    pub quick: bool,
}

/// Parses `cargo xtask bench` arguments.
pub fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options::default();
    for arg in args {
        match arg.as_str() {
            "--quick" => options.quick = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}` for `bench` (expected --quick; the criterion benchmarks are `cargo xtask criterion`)"
                ));
            }
        }
    }
    Ok(options)
}

/// One measured run.
#[derive(Debug, Clone)]
struct Row {
    tool: String,
    scenario: &'static str,
    /// Wall time of the tool's process(es), or why there is none.
    outcome: std::result::Result<f64, String>,
    stats: Option<Stats>,
    /// A number the targets need from the tool's own output (esptool's `Wrote … in T seconds`).
    reported: Option<(f64, f64)>,
}

/// The simulator's `stats:` line.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    to_chip_bytes: u64,
    to_host_bytes: u64,
    to_chip_wire: f64,
    to_host_wire: f64,
    busy: f64,
}

impl Stats {
    fn parse(line: &str) -> Option<Stats> {
        let rest = line.strip_prefix("stats:")?;
        let mut stats = Stats::default();
        for pair in rest.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            match key {
                "to_chip_bytes" => stats.to_chip_bytes = value.parse().ok()?,
                "to_host_bytes" => stats.to_host_bytes = value.parse().ok()?,
                "to_chip_wire_ms" => stats.to_chip_wire = value.parse::<f64>().ok()? / 1e3,
                "to_host_wire_ms" => stats.to_host_wire = value.parse::<f64>().ok()? / 1e3,
                "busy_ms" => stats.busy = value.parse::<f64>().ok()? / 1e3,
                _ => {}
            }
        }
        Some(stats)
    }

    /// The line's limit: the busier direction (the two run at once).
    fn wire_limit(&self) -> f64 {
        self.to_chip_wire.max(self.to_host_wire)
    }
}

/// Everything the runs share.
struct Bench {
    binary: PathBuf,
    work: PathBuf,
    logs: PathBuf,
    image: PathBuf,
    changed: PathBuf,
    image_len: usize,
    rows: Vec<Row>,
}

/// What flash a run starts from.
enum Start<'a> {
    Blank,
    CopyOf(&'a Path),
}

/// Runs the bench and prints the table.
pub fn run(options: &Options) -> Result {
    if !cfg!(target_os = "linux") {
        return Err(
            "the bench serves the virtual chip on a Linux pseudo-terminal; run it on Linux".into(),
        );
    }
    let root = run::repo_root();
    let work = root.join("target/bench");
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let testdata = run::testdata_dir();
    let (image_bytes, image_name) = firmware(options.quick, testdata.as_deref())?;
    let image = work.join(&image_name);
    let changed = work.join(CHANGED);
    write(&image, &image_bytes)?;
    write(&changed, &change_tail(&image_bytes))?;

    // esptool first: a network or pip problem shows before anything is built.
    let interop_work = root.join("target/interop");
    let latest = if options.quick {
        None
    } else {
        Some(Esptool::ensure(Release::Latest, &interop_work, &logs)?)
    };
    let pinned = Esptool::ensure(Release::Pinned, &interop_work, &logs)?;

    let mut build = run::cargo();
    build.args(["build", "--bin", "cargo-esp32s3"]);
    if !options.quick {
        build.arg("--release");
    }
    println!("    building: {}", run::describe(&build));
    run::run_inherit(build)?;
    let profile = if options.quick { "debug" } else { "release" };
    let binary = root.join("target").join(profile).join("cargo-esp32s3");

    let mut bench = Bench {
        binary,
        work: work.clone(),
        logs,
        image,
        changed,
        image_len: image_bytes.len(),
        rows: Vec::new(),
    };
    let started = Instant::now();
    if options.quick {
        bench.quick(&pinned)?;
    } else {
        let latest = latest.ok_or("the newest esptool is missing")?;
        let testdata =
            testdata.ok_or("the full bench needs the reference files (set ESP32S3_TESTDATA)")?;
        bench.full(&latest, &pinned, &testdata)?;
    }
    let table = bench.table();
    let targets = if options.quick {
        String::new()
    } else {
        bench.targets()
    };
    println!("\n{table}\n{targets}");
    let stem = if options.quick { "quick" } else { "results" };
    write(
        &work.join(format!("{stem}.md")),
        format!("{table}\n{targets}").as_bytes(),
    )?;
    write(&work.join(format!("{stem}.json")), bench.json().as_bytes())?;
    println!(
        "    bench done in {}; table and JSON in {}",
        run::format_duration(started.elapsed()),
        work.display()
    );
    let failed: Vec<String> = bench
        .rows
        .iter()
        .filter_map(|r| match &r.outcome {
            Err(reason) if !reason.starts_with("absent") && !reason.starts_with("unsupported") => {
                Some(format!("{} {}", r.tool, r.scenario))
            }
            _ => None,
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} run(s) failed: {}",
            failed.len(),
            failed.join(", ")
        ))
    }
}

/// The image: MicroPython (full) or the hello_world layout / generated data (quick).
fn firmware(quick: bool, testdata: Option<&Path>) -> Result<(Vec<u8>, String)> {
    match (quick, testdata) {
        (false, Some(dir)) => {
            let path = dir.join(interop::FIRMWARE);
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Ok((bytes, "micropython.bin".into()))
        }
        (false, None) => Err("the full bench needs the reference files (set ESP32S3_TESTDATA or provide ../shared/testdata)".into()),
        (true, Some(dir)) => Ok((
            interop::hello_world_layout(&dir.join(interop::HELLO_WORLD_DIR))?,
            "hello_world-layout.bin".into(),
        )),
        (true, None) => {
            // Not an image a chip boots, but flashing does not care.
            let mut x: u64 = 0x2545_F491_4F6C_DD1D;
            let bytes = (0..256 * 1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 32) as u8 & 0x3F
                })
                .collect();
            Ok((bytes, "generated.bin".into()))
        }
    }
}

/// The image with its last 64 KiB changed (every byte's low bit flipped).
fn change_tail(image: &[u8]) -> Vec<u8> {
    let mut changed = image.to_vec();
    let from = changed.len().saturating_sub(0x1_0000);
    for byte in &mut changed[from..] {
        *byte ^= 0x01;
    }
    changed
}

fn write(path: &Path, bytes: &[u8]) -> Result {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The tools' command lines.
#[derive(Clone, Copy)]
enum Tool<'a> {
    /// This tool: its label, extra arguments, and `PATH` with an esptool on it (for `stub =
    /// "auto"`) or without.
    Ours {
        args: &'a [&'a str],
        esptool_on_path: Option<&'a Esptool>,
    },
    /// esptool with or without its stub, at a baud (`None`: its default).
    Esptool {
        tool: &'a Esptool,
        stub: bool,
        baud: Option<u32>,
    },
}

impl Bench {
    fn quick(&mut self, pinned: &Esptool) -> Result {
        let ours = Tool::Ours {
            args: &[],
            esptool_on_path: None,
        };
        let a = self.flash("cargo-esp32s3 (defaults)", "a", ours, Start::Blank, false)?;
        self.flash(
            "cargo-esp32s3 (defaults)",
            "b",
            ours,
            Start::CopyOf(&a),
            false,
        )?;
        self.flash(
            "cargo-esp32s3 (defaults)",
            "c",
            ours,
            Start::CopyOf(&a),
            true,
        )?;
        self.read("cargo-esp32s3 (defaults)", ours, &a, 0x1_0000)?;
        let guide = Tool::Esptool {
            tool: pinned,
            stub: true,
            baud: Some(460_800),
        };
        let label = format!("esptool {} (stub, 460800)", pinned.version);
        self.flash(&label, "a", guide, Start::Blank, false)?;
        Ok(())
    }

    fn full(&mut self, latest: &Esptool, pinned: &Esptool, testdata: &Path) -> Result {
        let no_esptool = Tool::Ours {
            args: &[],
            esptool_on_path: None,
        };
        let with_esptool = Tool::Ours {
            args: &[],
            esptool_on_path: Some(latest),
        };
        let rom_460 = Tool::Ours {
            args: &["--baud", "460800", "--stub", "none"],
            esptool_on_path: None,
        };
        let rom_921 = Tool::Ours {
            args: &["--baud", "921600", "--stub", "none"],
            esptool_on_path: None,
        };
        let stub_460 = Tool::Ours {
            args: &["--baud", "460800"],
            esptool_on_path: Some(latest),
        };
        let esp = |stub, baud| Tool::Esptool {
            tool: latest,
            stub,
            baud,
        };
        let v = latest.version.clone();
        let ours_label = "cargo-esp32s3 (defaults; no esptool installed)";
        let ours_stub_label = "cargo-esp32s3 (defaults; esptool installed: its stub)";
        let esp_label = format!("esptool {v} (stub, 460800)");

        // (a) first flash, and the files the other scenarios start from.
        let ours_a = self.flash(ours_label, "a", no_esptool, Start::Blank, false)?;
        let ours_stub_a = self.flash(ours_stub_label, "a", with_esptool, Start::Blank, false)?;
        let rom_460_a = self.flash(
            "cargo-esp32s3 --baud 460800 (ROM)",
            "a",
            rom_460,
            Start::Blank,
            false,
        )?;
        self.flash(
            "cargo-esp32s3 --baud 921600 (ROM)",
            "a",
            rom_921,
            Start::Blank,
            false,
        )?;
        self.flash(
            "cargo-esp32s3 --baud 460800 (esptool's stub)",
            "a",
            stub_460,
            Start::Blank,
            false,
        )?;
        let esp_a = self.flash(
            &esp_label,
            "a",
            esp(true, Some(460_800)),
            Start::Blank,
            false,
        )?;
        self.flash(
            &format!("esptool {v} (stub, 921600)"),
            "a",
            esp(true, Some(921_600)),
            Start::Blank,
            false,
        )?;
        self.flash(
            &format!("esptool {v} (stub, defaults: 115200)"),
            "a",
            esp(true, None),
            Start::Blank,
            false,
        )?;
        let esp_rom_a = self.flash(
            &format!("esptool {v} (--no-stub, 460800)"),
            "a",
            esp(false, Some(460_800)),
            Start::Blank,
            false,
        )?;
        let guide = Tool::Esptool {
            tool: pinned,
            stub: true,
            baud: Some(460_800),
        };
        let guide_label = format!("esptool {} (stub, 460800: the guide)", pinned.version);
        self.flash(&guide_label, "a", guide, Start::Blank, false)?;
        self.espflash("a")?;

        // (b) the same image again, (c) its last 64 KiB changed.
        for (label, tool, start) in [
            (ours_label, no_esptool, &ours_a),
            (ours_stub_label, with_esptool, &ours_stub_a),
            (esp_label.as_str(), esp(true, Some(460_800)), &esp_a),
        ] {
            self.flash(label, "b", tool, Start::CopyOf(start), false)?;
            self.flash(label, "c", tool, Start::CopyOf(start), true)?;
        }

        // (d) erase the whole flash.
        self.erase(ours_label, no_esptool, &ours_a)?;
        self.erase(ours_stub_label, with_esptool, &ours_stub_a)?;
        self.erase(&esp_label, esp(true, Some(460_800)), &esp_a)?;
        self.erase(&guide_label, guide, &esp_a)?;

        // (e) read back 1 MiB.
        self.read(ours_label, no_esptool, &ours_a, 0x10_0000)?;
        self.read(
            "cargo-esp32s3 --baud 460800 (ROM)",
            rom_460,
            &rom_460_a,
            0x10_0000,
        )?;
        self.read(ours_stub_label, with_esptool, &ours_stub_a, 0x10_0000)?;
        self.read(&esp_label, esp(true, Some(460_800)), &esp_a, 0x10_0000)?;
        self.read(
            &format!("esptool {v} (--no-stub, 460800)"),
            esp(false, Some(460_800)),
            &esp_rom_a,
            0x10_0000,
        )?;

        // (f) hello_world.elf to a merged image.
        self.merge(latest, &testdata.join(interop::HELLO_WORLD_DIR))?;
        Ok(())
    }

    /// A flash file for a run: erased (absent) or a copy of an earlier run's result.
    fn flash_file(&self, name: &str, start: &Start) -> Result<PathBuf> {
        let path = self.work.join("flash").join(format!("{name}.bin"));
        std::fs::create_dir_all(path.parent().unwrap_or(&self.work))
            .map_err(|e| format!("cannot create {}: {e}", self.work.display()))?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove {}: {e}", path.display())),
        }
        if let Start::CopyOf(from) = start {
            std::fs::copy(from, &path).map_err(|e| {
                format!("cannot copy {} to {}: {e}", from.display(), path.display())
            })?;
        }
        Ok(path)
    }

    /// The command for `tool` on `port` doing `action` (the tool's own subcommand and operands).
    fn command(&self, tool: Tool, port: &str, name: &str, action: Action) -> Command {
        match tool {
            Tool::Ours {
                args,
                esptool_on_path,
            } => {
                let mut command = Command::new(&self.binary);
                match action {
                    Action::Write(file) if file.ends_with(CHANGED) => {
                        // The changed bytes break the app's checksum and digest, which `flash
                        // FILE` refuses (it checks images); `--at` writes a file as it is, as
                        // the peers do.
                        command.args(["flash", "--at", "0x0"]).arg(file);
                    }
                    Action::Write(file) => {
                        command.arg("flash").arg(file);
                    }
                    Action::Erase => {
                        command.arg("erase");
                    }
                    Action::Read(len, out) => {
                        command
                            .args(["read-flash", "0", &format!("{len:#x}")])
                            .arg(out);
                    }
                }
                command
                    .args([
                        "--port", port, "--before", "no-reset", "--after", "no-reset",
                    ])
                    .args(args)
                    // The ladder's memory: per configuration, so (a) climbs as a first run does
                    // and the later scenarios start where it settled.
                    .env(
                        "ESP32S3_CACHE_DIR",
                        self.work.join("cache").join(name_stem(name)),
                    );
                let path = std::env::var_os("PATH").unwrap_or_default();
                match esptool_on_path {
                    Some(esptool) => {
                        let mut dirs = vec![
                            esptool
                                .program
                                .parent()
                                .map(Path::to_path_buf)
                                .unwrap_or_default(),
                        ];
                        dirs.extend(std::env::split_paths(&path));
                        command.env("PATH", std::env::join_paths(dirs).unwrap_or(path));
                        command.env_remove("ESP32S3_STUB");
                    }
                    None => {
                        // A machine without esptool: nothing for `stub = "auto"` to find.
                        command.env("ESP32S3_STUB", "none");
                    }
                }
                command
            }
            Tool::Esptool { tool, stub, baud } => {
                let mut command = Command::new(&tool.program);
                command.args(["--chip", "esp32s3", "--port", port]);
                command
                    .args(["--before", &tool.spell("no-reset")])
                    .args(["--after", &tool.spell("no-reset")]);
                if let Some(baud) = baud {
                    command.args(["--baud", &baud.to_string()]);
                }
                if !stub {
                    command.arg("--no-stub");
                }
                match action {
                    Action::Write(file) => {
                        command.arg(tool.spell("write-flash"));
                        if !tool.dashed {
                            // The guide's own spelling: `write_flash -z 0 firmware.bin`.
                            command.arg("-z");
                        }
                        command.arg("0").arg(file);
                    }
                    Action::Erase => {
                        command.arg(tool.spell("erase-flash"));
                    }
                    Action::Read(len, out) => {
                        command
                            .arg(tool.spell("read-flash"))
                            .args(["0", &format!("{len:#x}")])
                            .arg(out);
                    }
                }
                let _ = name;
                command
            }
        }
    }

    /// Flash the image (or the changed image) with `tool` from `start`; returns the flash file
    /// it left.
    fn flash(
        &mut self,
        label: &str,
        scenario: &'static str,
        tool: Tool,
        start: Start,
        changed: bool,
    ) -> Result<PathBuf> {
        let name = format!("{}-{scenario}", name_stem(label));
        let file = if changed {
            self.changed.clone()
        } else {
            self.image.clone()
        };
        let flash = self.flash_file(&name, &start)?;
        let needle = match tool {
            Tool::Esptool { .. } => Some("Hash of data verified"),
            Tool::Ours { .. } => Some("Hash of data verified"),
        };
        let skip_ok = scenario == "b";
        self.measure(
            label,
            scenario,
            &name,
            &flash,
            |bench, port| bench.command(tool, port, &name, Action::Write(&file)),
            if skip_ok { None } else { needle },
        )?;
        Ok(flash)
    }

    fn erase(&mut self, label: &str, tool: Tool, start: &Path) -> Result {
        let name = format!("{}-d", name_stem(label));
        let flash = self.flash_file(&name, &Start::CopyOf(start))?;
        self.measure(
            label,
            "d",
            &name,
            &flash,
            |bench, port| bench.command(tool, port, &name, Action::Erase),
            None,
        )?;
        Ok(())
    }

    fn read(&mut self, label: &str, tool: Tool, start: &Path, len: u32) -> Result {
        let name = format!("{}-e", name_stem(label));
        let flash = self.flash_file(&name, &Start::CopyOf(start))?;
        let out = self.work.join(format!("{name}.read"));
        let _ = std::fs::remove_file(&out);
        self.measure(
            label,
            "e",
            &name,
            &flash,
            |bench, port| bench.command(tool, port, &name, Action::Read(len, &out)),
            None,
        )?;
        // The bytes read must be the flash's.
        if let Some(row) = self.rows.last_mut() {
            let read = std::fs::read(&out).unwrap_or_default();
            let want = std::fs::read(start).unwrap_or_default();
            let want = want
                .get(..len as usize)
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|| {
                    let mut padded = want.clone();
                    padded.resize(len as usize, 0xFF);
                    padded
                });
            if row.outcome.is_ok() && read != want {
                row.outcome = Err(format!("{} does not hold the flash's bytes", out.display()));
            }
        }
        Ok(())
    }

    /// espflash, when installed: `write-bin` at 460800 and at its defaults.
    fn espflash(&mut self, scenario: &'static str) -> Result {
        if !run::program_exists("espflash") {
            for label in ["espflash (460800)", "espflash (defaults)"] {
                self.rows.push(Row {
                    tool: label.into(),
                    scenario,
                    outcome: Err(
                        "absent (espflash is not on PATH; `cargo install espflash --locked`)"
                            .into(),
                    ),
                    stats: None,
                    reported: None,
                });
            }
            return Ok(());
        }
        for (label, baud) in [
            ("espflash (460800)", Some("460800")),
            ("espflash (defaults)", None),
        ] {
            let name = format!("{}-{scenario}", name_stem(label));
            let flash = self.flash_file(&name, &Start::Blank)?;
            let image = self.image.clone();
            self.measure(
                label,
                scenario,
                &name,
                &flash,
                |_, port| {
                    let mut command = Command::new("espflash");
                    command
                        .args(["write-bin", "--port", port, "--chip", "esp32s3"])
                        .args([
                            "--before",
                            "no-reset",
                            "--after",
                            "no-reset",
                            "--non-interactive",
                        ]);
                    if let Some(baud) = baud {
                        command.args(["--baud", baud]);
                    }
                    command.arg("0x0").arg(&image);
                    command
                },
                None,
            )?;
        }
        Ok(())
    }

    /// (f): `save-image --merge` against esptool's `elf2image` + `merge-bin`, process time.
    fn merge(&mut self, esptool: &Esptool, dir: &Path) -> Result {
        let elf = dir.join("hello_world.elf");
        let bootloader = dir.join("bootloader.bin");
        let table = dir.join("partition-table.bin");
        let out = self.work.join("merged-ours.bin");
        let _ = std::fs::remove_file(&out);
        let mut ours = Command::new(&self.binary);
        ours.args(["save-image", "--merge", "--force"])
            .arg(&elf)
            .arg(&out)
            .arg("--bootloader")
            .arg(&bootloader)
            .arg("--partition-table")
            .arg(&table);
        let row = self.time_processes("cargo-esp32s3 save-image --merge", "f", vec![ours]);
        self.rows.push(row);
        let app = self.work.join("merged-esptool-app.bin");
        let merged = self.work.join("merged-esptool.bin");
        let mut elf2image = Command::new(&esptool.program);
        elf2image
            .args(["--chip", "esp32s3", &esptool.spell("elf2image"), "--output"])
            .arg(&app)
            .arg(&elf);
        let mut merge = Command::new(&esptool.program);
        merge
            .args(["--chip", "esp32s3", &esptool.spell("merge-bin"), "-o"])
            .arg(&merged)
            .arg("0x0")
            .arg(&bootloader)
            .arg("0x8000")
            .arg(&table)
            .arg("0x10000")
            .arg(&app);
        let label = format!("esptool {} elf2image + merge-bin", esptool.version);
        let row = self.time_processes(&label, "f", vec![elf2image, merge]);
        self.rows.push(row);
        Ok(())
    }

    /// Run processes one after the other (no simulator), timing them together, in a folder
    /// outside any Cargo project (where `cargo esp32s3` asks cargo for none); the median of
    /// [`PROCESS_SAMPLES`] runs, so a cold page cache does not decide a 10 ms measurement.
    fn time_processes(&self, label: &str, scenario: &'static str, commands: Vec<Command>) -> Row {
        let mut samples = Vec::new();
        let mut failure = None;
        for _ in 0..PROCESS_SAMPLES {
            match self.time_once(label, scenario, &commands) {
                Ok(seconds) => samples.push(seconds),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        samples.sort_by(f64::total_cmp);
        let outcome = match failure {
            Some(e) => Err(e),
            None => Ok(samples.get(samples.len() / 2).copied().unwrap_or_default()),
        };
        print_result(label, scenario, &outcome, None);
        Row {
            tool: label.into(),
            scenario,
            outcome,
            stats: None,
            reported: None,
        }
    }

    /// One timed run of `commands`, one after the other.
    fn time_once(&self, label: &str, scenario: &str, commands: &[Command]) -> Result<f64> {
        let mut total = Duration::ZERO;
        let outside = std::env::temp_dir().join("cargo-esp32s3-bench");
        let _ = std::fs::create_dir_all(&outside);
        for (index, template) in commands.iter().enumerate() {
            let mut command = Command::new(template.get_program());
            command.args(template.get_args()).current_dir(&outside);
            let log = self
                .logs
                .join(format!("{}-{scenario}-{index}.log", name_stem(label)));
            let started = Instant::now();
            match run::run_logged_with_timeout(command, &log, RUN_TIMEOUT)? {
                Finished::Exited(status) if status.success() => total += started.elapsed(),
                finished => return Err(format!("{finished:?}; log: {}", log.display())),
            }
        }
        Ok(total.as_secs_f64())
    }

    /// Start a fresh paced simulator on `flash`, run the command `make` builds for its port,
    /// stop the simulator and record the row.
    fn measure(
        &mut self,
        label: &str,
        scenario: &'static str,
        name: &str,
        flash: &Path,
        make: impl FnOnce(&Bench, &str) -> Command,
        needle: Option<&str>,
    ) -> Result {
        let sim_log = self.logs.join(format!("{name}-sim.log"));
        let sim = Sim::start(&self.binary, flash, &sim_log)?;
        let command = make(self, &sim.port);
        let log = self.logs.join(format!("{name}.log"));
        let started = Instant::now();
        let finished = run::run_logged_with_timeout(command, &log, RUN_TIMEOUT);
        let seconds = started.elapsed().as_secs_f64();
        let stats = sim.stop();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let outcome = match finished {
            Ok(Finished::Exited(status)) if status.success() => match needle {
                Some(needle) if !text.contains(needle) => Err(format!(
                    "the output lacks `{needle}`; log: {}",
                    log.display()
                )),
                _ => Ok(seconds),
            },
            Ok(Finished::Exited(_))
                if text.contains("not supported") || text.contains("NotImplementedInROM") =>
            {
                Err("unsupported by this tool in this mode".into())
            }
            Ok(finished) => Err(format!("{finished:?}; log: {}", log.display())),
            Err(e) => Err(e),
        };
        print_result(label, scenario, &outcome, stats.as_ref());
        self.rows.push(Row {
            tool: label.into(),
            scenario,
            outcome,
            stats,
            reported: esptool_wrote(&text),
        });
        Ok(())
    }

    /// The markdown table.
    fn table(&self) -> String {
        let mut out = String::from(
            "| tool | scenario | seconds | bytes on the wire (to chip / from chip) | ratio to the wire limit | ratio to this tool |\n|---|---|---:|---:|---:|---:|\n",
        );
        for row in &self.rows {
            let reference = self.reference(row.scenario);
            let (seconds, ratio_ours) = match &row.outcome {
                Ok(s) => (
                    format!("{s:.2}"),
                    reference.map_or("–".into(), |r| format!("{:.2}", s / r)),
                ),
                Err(reason) => (
                    reason.split(';').next().unwrap_or(reason).to_owned(),
                    "–".into(),
                ),
            };
            let (wire, ratio_wire) = match (&row.stats, &row.outcome) {
                (Some(stats), Ok(s)) if stats.wire_limit() > 0.0 => (
                    format!("{} / {}", stats.to_chip_bytes, stats.to_host_bytes),
                    format!("{:.2}", s / stats.wire_limit()),
                ),
                (Some(stats), _) => (
                    format!("{} / {}", stats.to_chip_bytes, stats.to_host_bytes),
                    "–".into(),
                ),
                _ => ("–".into(), "–".into()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {seconds} | {wire} | {ratio_wire} | {ratio_ours} |",
                row.tool,
                scenario_name(row.scenario)
            );
        }
        out.push_str(&format!(
            "\nImage: {} bytes. Each run: a fresh `cargo-esp32s3 sim --pty --pace real` (8 MiB), peers with `--before no-reset --after no-reset`; seconds are the tool's whole process, wall clock.\n",
            self.image_len
        ));
        out
    }

    /// This tool's time for `scenario` (its defaults without esptool, or the only row of ours).
    fn reference(&self, scenario: &str) -> Option<f64> {
        self.rows
            .iter()
            .filter(|r| r.scenario == scenario && r.tool.starts_with("cargo-esp32s3"))
            .find_map(|r| r.outcome.as_ref().ok().copied())
    }

    fn time(&self, tool_prefix: &str, scenario: &str) -> Option<f64> {
        self.row(tool_prefix, scenario)
            .and_then(|r| r.outcome.as_ref().ok().copied())
    }

    fn row(&self, tool_prefix: &str, scenario: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario && r.tool.starts_with(tool_prefix))
    }

    /// The targets, checked against this run.
    fn targets(&self) -> String {
        let mut out = String::from("Targets (this run):\n\n");
        let mut line = |text: String| {
            out.push_str("- ");
            out.push_str(&text);
            out.push('\n');
        };
        let verdict = |ok: bool| if ok { "holds" } else { "does not hold" };
        let guide = self.row("esptool 4.8.1 (stub, 460800", "a");
        let guide_time = guide.and_then(|r| r.outcome.as_ref().ok().copied());
        if let (Some(ours), Some(guide)) = (
            self.time("cargo-esp32s3 (defaults; no esptool", "a"),
            guide_time,
        ) {
            line(format!(
                "(a) defaults ≤ 0.5× the guide's esptool: {ours:.1} s vs {guide:.1} s = {:.2}×, {} (esptool not installed: ROM loader)",
                ours / guide,
                verdict(ours <= 0.5 * guide)
            ));
        }
        if let (Some(ours), Some(guide)) = (
            self.time("cargo-esp32s3 (defaults; esptool installed", "a"),
            guide_time,
        ) {
            line(format!(
                "(a) defaults ≤ 0.5× the guide's esptool: {ours:.1} s vs {guide:.1} s = {:.2}×, {} (esptool installed: its stub)",
                ours / guide,
                verdict(ours <= 0.5 * guide)
            ));
        }
        if let Some(row) = self.row("cargo-esp32s3 --baud 460800 (ROM)", "a") {
            if let (Ok(s), Some(stats)) = (&row.outcome, &row.stats) {
                let model = stats.to_chip_wire + stats.busy;
                line(format!(
                    "(a) ROM at 460800 ≤ 1.10× (wire + modelled erase, write and MD5 = {model:.1} s): {s:.1} s = {:.2}×, {}",
                    s / model,
                    verdict(*s <= 1.10 * model)
                ));
            }
            if let (Ok(s), Some(theirs)) = (
                &row.outcome,
                self.row_time_containing("--no-stub, 460800", "a"),
            ) {
                line(format!(
                    "(a) ROM at 460800 faster than esptool --no-stub at 460800: {s:.1} s vs {theirs:.1} s, {}",
                    verdict(*s < theirs)
                ));
            }
        }
        if let (Some(ours), Some(theirs)) = (
            self.time("cargo-esp32s3 --baud 460800 (esptool's stub)", "a"),
            self.row_time_containing("(stub, 460800)", "a"),
        ) {
            line(format!(
                "(a) with esptool's stub at 460800 no slower than esptool with it: {ours:.1} s vs {theirs:.1} s, {}",
                verdict(ours <= theirs * 1.02)
            ));
        }
        for prefix in [
            "cargo-esp32s3 (defaults; no esptool",
            "cargo-esp32s3 (defaults; esptool installed",
        ] {
            if let Some(s) = self.time(prefix, "b") {
                line(format!(
                    "(b) identical reflash ≤ 2 s ({prefix}…)): {s:.2} s, {}",
                    verdict(s <= 2.0)
                ));
            }
            if let Some(row) = self.row(prefix, "c") {
                if let (Ok(s), Some(stats)) = (&row.outcome, &row.stats) {
                    let model = stats.to_chip_wire + stats.busy;
                    line(format!(
                        "(c) app-tail change ≤ 1.2× (wire of the changed chunks + MD5 checks and writes = {model:.2} s) ({prefix}…)): {s:.2} s = {:.2}×, {}",
                        s / model,
                        verdict(*s <= 1.2 * model)
                    ));
                }
            }
        }
        if let (Some(ours), Some(theirs)) = (
            self.time("cargo-esp32s3 (defaults; no esptool", "e"),
            self.row_time_containing("--no-stub, 460800", "e"),
        ) {
            line(format!(
                "(e) ROM read-back of 1 MiB ≥ 2× faster than esptool --no-stub: {ours:.1} s vs {theirs:.1} s = {:.1}× faster, {}",
                theirs / ours,
                verdict(theirs >= 2.0 * ours)
            ));
        }
        if let (Some(ours), Some(theirs)) = (
            self.time("cargo-esp32s3 save-image", "f"),
            self.row_time_containing("elf2image", "f"),
        ) {
            line(format!(
                "(f) hello_world.elf → merged image ≤ 50 ms and ≥ 10× faster than esptool: {:.0} ms vs {:.0} ms = {:.0}×, {}",
                ours * 1e3,
                theirs * 1e3,
                theirs / ours,
                verdict(ours <= 0.050 && theirs >= 10.0 * ours)
            ));
        }
        if let Some((reported, compressed)) = guide.and_then(|r| r.reported) {
            let scaled = reported * GUIDE_WRITE_COMPRESSED / compressed;
            line(format!(
                "calibration: esptool 4.8.1 with its stub at 460800 reports {reported:.1} s for {compressed:.0} compressed bytes; scaled to the guide's 1086018 that is {scaled:.1} s against the guide's {GUIDE_WRITE_SECONDS} s ({:+.1} %)",
                (scaled / GUIDE_WRITE_SECONDS - 1.0) * 100.0
            ));
        }
        if let Some(row) = self.row("esptool 4.8.1", "d") {
            if let Some(reported) = self.erase_reported(row) {
                line(format!(
                    "calibration: esptool 4.8.1's chip erase reports {reported:.1} s against the guide's {GUIDE_ERASE_SECONDS} s ({:+.1} %)",
                    (reported / GUIDE_ERASE_SECONDS - 1.0) * 100.0
                ));
            }
        }
        out
    }

    fn row_time_containing(&self, needle: &str, scenario: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| {
                r.scenario == scenario && r.tool.contains(needle) && r.tool.starts_with("esptool")
            })
            .and_then(|r| r.outcome.as_ref().ok().copied())
    }

    /// `Chip erase completed successfully in 19.6s` from the erase row's log.
    fn erase_reported(&self, row: &Row) -> Option<f64> {
        let log = self.logs.join(format!("{}-d.log", name_stem(&row.tool)));
        let text = std::fs::read_to_string(log).ok()?;
        let at = text.find("completed successfully in ")?;
        let rest = &text[at + "completed successfully in ".len()..];
        rest.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?
            .parse()
            .ok()
    }

    /// The rows as JSON (hand-written: the xtask crate has no dependencies).
    fn json(&self) -> String {
        let mut out = String::from("[\n");
        for (index, row) in self.rows.iter().enumerate() {
            let (seconds, error) = match &row.outcome {
                Ok(s) => (format!("{s:.3}"), "null".to_owned()),
                Err(e) => ("null".to_owned(), json_string(e)),
            };
            let stats = match &row.stats {
                Some(s) => format!(
                    "{{\"to_chip_bytes\": {}, \"to_host_bytes\": {}, \"to_chip_wire_s\": {:.3}, \"to_host_wire_s\": {:.3}, \"busy_s\": {:.3}}}",
                    s.to_chip_bytes, s.to_host_bytes, s.to_chip_wire, s.to_host_wire, s.busy
                ),
                None => "null".into(),
            };
            let _ = write!(
                out,
                "  {{\"tool\": {}, \"scenario\": {}, \"seconds\": {seconds}, \"error\": {error}, \"sim\": {stats}}}",
                json_string(&row.tool),
                json_string(scenario_name(row.scenario))
            );
            out.push_str(if index + 1 < self.rows.len() {
                ",\n"
            } else {
                "\n"
            });
        }
        out.push_str("]\n");
        out
    }
}

/// What a tool does in a run.
#[derive(Clone, Copy)]
enum Action<'a> {
    Write(&'a Path),
    Erase,
    Read(u32, &'a Path),
}

fn scenario_name(scenario: &str) -> &'static str {
    match scenario {
        "a" => "(a) first flash, blank chip",
        "b" => "(b) same image again",
        "c" => "(c) last 64 KiB changed (ours: --at 0x0)",
        "d" => "(d) erase 8 MiB",
        "e" => "(e) read back 1 MiB (--quick: 64 KiB)",
        "f" => "(f) ELF → merged image",
        _ => "?",
    }
}

/// A label as a file name.
fn name_stem(label: &str) -> String {
    let mut stem: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while stem.contains("--") {
        stem = stem.replace("--", "-");
    }
    stem.trim_matches('-').to_owned()
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// esptool's `Wrote N bytes (M compressed) at 0x… in T seconds`: `(T, M)`.
fn esptool_wrote(text: &str) -> Option<(f64, f64)> {
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("compressed) at 0x"))?;
    let compressed: f64 = line
        .split_once('(')?
        .1
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let seconds: f64 = line
        .split_once(" in ")?
        .1
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((seconds, compressed))
}

fn print_result(
    label: &str,
    scenario: &str,
    outcome: &std::result::Result<f64, String>,
    stats: Option<&Stats>,
) {
    let wire = stats.map_or(String::new(), |s| {
        format!(
            "  (wire limit {:.1} s, chip busy {:.1} s)",
            s.wire_limit(),
            s.busy
        )
    });
    match outcome {
        Ok(seconds) => println!("    {scenario} {label:<55} {seconds:>8.2} s{wire}"),
        Err(reason) => println!("    {scenario} {label:<55} {reason}"),
    }
}

/// One paced simulator on a pseudo-terminal.
struct Sim {
    process: KillOnDrop,
    port: String,
    lines: mpsc::Receiver<String>,
}

impl Sim {
    fn start(binary: &Path, flash: &Path, log: &Path) -> Result<Sim> {
        let log_file = run::create_log(log)?;
        let mut child = Command::new(binary)
            .args([
                "sim",
                "--pty",
                "--pace",
                "real",
                "--flash-size",
                "8MB",
                "--flash",
            ])
            .arg(flash)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start the simulator {}: {e}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("the simulator's stdout was not captured")?;
        let process = KillOnDrop(child);
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let port = lines
            .recv_timeout(SIM_TIMEOUT)
            .map_err(|_| format!("the simulator printed no port; log: {}", log.display()))?;
        if !port.starts_with('/') {
            return Err(format!(
                "the simulator printed `{port}` where its pty was expected"
            ));
        }
        Ok(Sim {
            process,
            port,
            lines,
        })
    }

    /// Stop it with SIGTERM (it writes its flash file back and prints its `stats:` line).
    fn stop(mut self) -> Option<Stats> {
        let pid = self.process.0.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + SIM_TIMEOUT;
        let mut stats = None;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if let Some(parsed) = Stats::parse(&line) {
                stats = Some(parsed);
            }
        }
        let _ = self.process.0.wait();
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esptool_summaries_and_sim_stats_parse() {
        assert_eq!(
            esptool_wrote(
                "Wrote 1735456 bytes (1137236 compressed) at 0x00000000 in 26.8 seconds (effective 518.9 kbit/s)..."
            ),
            Some((26.8, 1_137_236.0))
        );
        assert_eq!(esptool_wrote("Hash of data verified."), None);
        let stats = Stats::parse("stats: to_chip_bytes=10 to_host_bytes=20 to_chip_wire_ms=1500.0 to_host_wire_ms=20.0 busy_ms=250.5").unwrap();
        assert_eq!((stats.to_chip_bytes, stats.to_host_bytes), (10, 20));
        assert!((stats.wire_limit() - 1.5).abs() < 1e-9);
        assert!((stats.busy - 0.2505).abs() < 1e-9);
        assert_eq!(
            name_stem("esptool 5.1.0 (stub, 460800)"),
            "esptool-5.1.0-stub-460800"
        );
        assert_eq!(json_string("a \"b\"\n"), "\"a \\\"b\\\"\\n\"");
    }

    #[test]
    fn arguments_parse_or_name_the_bad_one() {
        assert!(!parse(&[]).unwrap().quick);
        assert!(parse(&["--quick".into()]).unwrap().quick);
        assert!(
            parse(&["slip".into()])
                .unwrap_err()
                .contains("cargo xtask criterion")
        );
    }
}
