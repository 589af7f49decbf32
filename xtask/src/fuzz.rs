//! `cargo xtask fuzz [--seconds N] [--parallel N] [TARGET...]`: build every cargo-fuzz target in
//! `fuzz/` once, write seed corpora from the reference files (and the small synthetic seeds
//! committed in `fuzz/seeds/`), then run each target for a set time with libFuzzer's limits for
//! hangs (`-timeout`) and memory (`-rss_limit_mb`, `-malloc_limit_mb`). A finding stops the run
//! and names the input that reproduces it.
//!
//! Everything generated lives under `target/fuzz/`: the build (`build/`), the seeds (`seeds/`,
//! rebuilt each run: third-party bytes are never committed), the corpus libFuzzer grows
//! (`corpus/`, kept between runs) and findings (`artifacts/`). The build runs on the stable
//! toolchain with `RUSTC_BOOTSTRAP=1` (cargo-fuzz passes `-Z` flags), without a sanitizer (the
//! code under test is safe Rust: panics, overflow checks and debug assertions are what find bugs)
//! and with debug assertions on. `cargo-fuzz` is installed into `target/tools/` when missing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::run::{self, Result};

/// Every target in `fuzz/Cargo.toml`, in the order they run.
pub const TARGETS: &[&str] = &[
    "slip",
    "response",
    "telnet",
    "monitor_lines",
    "partition_csv",
    "partition_binary",
    "bin_image",
    "elf_to_image",
];

/// Seconds per target in `cargo xtask ci`'s short round.
pub const CI_SECONDS: u64 = 4;

/// Options of `cargo xtask fuzz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How long each target runs.
    pub seconds: u64,
    /// How many targets run at once.
    pub parallel: usize,
    /// The targets to run (all when empty).
    pub targets: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seconds: 60,
            parallel: 1,
            targets: Vec::new(),
        }
    }
}

/// Parses `cargo xtask fuzz` arguments.
pub fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--seconds" | "--parallel" => {
                let value = rest
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|v| *v > 0)
                    .ok_or_else(|| format!("{arg} needs a positive whole number"))?;
                if arg == "--seconds" {
                    options.seconds = value;
                } else {
                    options.parallel = usize::try_from(value).unwrap_or(1);
                }
            }
            name if TARGETS.contains(&name) => options.targets.push(name.to_owned()),
            other => {
                return Err(format!(
                    "unknown argument `{other}` for `fuzz` (expected --seconds N, --parallel N or targets: {})",
                    TARGETS.join(", ")
                ));
            }
        }
    }
    Ok(options)
}

/// How one target's run went.
#[derive(Debug)]
struct Outcome {
    target: String,
    elapsed: Duration,
    runs: Option<u64>,
    corpus: usize,
}

/// Build once, write the seeds, run the chosen targets.
pub fn run(options: &Options) -> Result {
    let root = run::repo_root();
    let work = root.join("target/fuzz");
    let cargo_fuzz = ensure_cargo_fuzz(&work)?;
    build(&cargo_fuzz, &root, &work)?;
    let targets: Vec<&str> = if options.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        TARGETS
            .iter()
            .copied()
            .filter(|t| options.targets.iter().any(|o| o == t))
            .collect()
    };
    let testdata = run::testdata_dir();
    match &testdata {
        Some(dir) => println!("    seeds from {} and fuzz/seeds/", dir.display()),
        None => println!("    seeds from fuzz/seeds/ only (no testdata)"),
    }
    for target in &targets {
        let dir = work.join("seeds").join(target);
        let count = write_seeds(target, &root.join("fuzz/seeds"), testdata.as_deref(), &dir)?;
        println!("    {target}: {count} seeds");
    }
    let mut outcomes = Vec::new();
    for batch in targets.chunks(options.parallel.max(1)) {
        let mut running = Vec::new();
        for target in batch {
            running.push(start(target, &work, options.seconds)?);
        }
        for job in running {
            outcomes.push(finish(job)?);
        }
    }
    println!(
        "    {:<17} {:>8} {:>12} {:>8}",
        "target", "time", "runs", "corpus"
    );
    for o in &outcomes {
        println!(
            "    {:<17} {:>8} {:>12} {:>8}",
            o.target,
            run::format_duration(o.elapsed),
            o.runs.map_or_else(|| "?".to_owned(), |r| r.to_string()),
            o.corpus
        );
    }
    Ok(())
}

/// `cargo fuzz` on the PATH, else the copy in `target/tools/`, installed there when missing.
fn ensure_cargo_fuzz(work: &Path) -> Result<Command> {
    let on_path = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        let mut command = run::cargo();
        command.arg("fuzz");
        return Ok(command);
    }
    let tools = work.join("../tools");
    let binary = tools.join("bin/cargo-fuzz");
    if !binary.is_file() {
        let mut install = run::cargo();
        install.args(["install", "cargo-fuzz", "--locked", "--root"]);
        install.arg(&tools);
        println!("    cargo-fuzz not found; installing it into target/tools/");
        println!("    $ {}", run::describe(&install));
        run::run_inherit(install)?;
    }
    let mut command = Command::new(binary);
    command.arg("fuzz");
    Ok(command)
}

/// One build for every target (release, debug assertions, no sanitizer).
fn build(cargo_fuzz: &Command, root: &Path, work: &Path) -> Result {
    let mut command = Command::new(cargo_fuzz.get_program());
    command.args(cargo_fuzz.get_args());
    command
        .current_dir(root.join("fuzz"))
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "build",
            "--release",
            "--debug-assertions",
            "--sanitizer",
            "none",
        ])
        .arg("--target-dir")
        .arg(work.join("build"));
    println!("    $ RUSTC_BOOTSTRAP=1 {}", run::describe(&command));
    run::run_inherit(command)
}

/// The built binary of `target`.
fn binary(work: &Path, target: &str) -> Result<PathBuf> {
    let build = work.join("build");
    let entries =
        std::fs::read_dir(&build).map_err(|e| format!("cannot read {}: {e}", build.display()))?;
    for entry in entries.flatten() {
        let candidate = entry.path().join("release").join(target);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "the fuzz build left no binary for `{target}` under {}",
        build.display()
    ))
}

/// A target running in the background.
struct Job {
    target: String,
    child: run::KillOnDrop,
    log: PathBuf,
    artifacts: PathBuf,
    corpus: PathBuf,
    started: Instant,
    seconds: u64,
}

fn start(target: &str, work: &Path, seconds: u64) -> Result<Job> {
    let corpus = work.join("corpus").join(target);
    let artifacts = work.join("artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut command = Command::new(binary(work, target)?);
    // New inputs go into the first folder (kept); the seeds are read only.
    command
        .arg(&corpus)
        .arg(work.join("seeds").join(target))
        .arg(format!("-max_total_time={seconds}"))
        // A single input taking 10 s is a hang; the ELF converter's biggest seed takes ~50 ms.
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-malloc_limit_mb=1024")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    let log = work.join("logs").join(format!("{target}.log"));
    let file = run::create_log(&log)?;
    let err = file
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
    println!("==> fuzz {target} for {seconds}s");
    println!("    $ {}", run::describe(&command));
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start the `{target}` fuzzer: {e}"))?;
    Ok(Job {
        target: target.to_owned(),
        child: run::KillOnDrop(child),
        log,
        artifacts,
        corpus,
        started: Instant::now(),
        seconds,
    })
}

fn finish(mut job: Job) -> Result<Outcome> {
    // libFuzzer stops itself at -max_total_time; a minute more covers its final merge.
    let limit = Duration::from_secs(job.seconds + 60);
    let status = loop {
        match job.child.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if job.started.elapsed() > limit => {
                return Err(format!(
                    "the `{}` fuzzer did not stop after {}s; log: {}",
                    job.target,
                    limit.as_secs(),
                    job.log.display()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return Err(format!("cannot wait for the `{}` fuzzer: {e}", job.target)),
        }
    };
    let elapsed = job.started.elapsed();
    let text = String::from_utf8_lossy(&std::fs::read(&job.log).unwrap_or_default()).into_owned();
    if !status.success() {
        run::print_indented(&finding_excerpt(&text));
        let found = newest_file(&job.artifacts)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(no artifact written)".to_owned());
        return Err(format!(
            "fuzz target `{}` found a problem ({status}) after {}; input: {found}; reproduce with `{} {found}` (built by `cargo xtask fuzz`); log: {}",
            job.target,
            run::format_duration(elapsed),
            binary(
                job.log
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(Path::new(".")),
                &job.target
            )
            .map(|b| b.display().to_string())
            .unwrap_or_else(|_| job.target.clone()),
            job.log.display()
        ));
    }
    let corpus = std::fs::read_dir(&job.corpus).map_or(0, |d| d.count());
    Ok(Outcome {
        target: job.target,
        elapsed,
        runs: final_runs(&text),
        corpus,
    })
}

/// `Done 123456 runs in 60 second(s)` → 123456.
fn final_runs(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|line| {
        line.strip_prefix("Done ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// The lines of a libFuzzer log that say what went wrong.
fn finding_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("panicked at") || l.contains("==ERROR") || l.contains("ERROR:"))
        .unwrap_or(lines.len().saturating_sub(20));
    lines[start..lines.len().min(start + 30)].join("\n")
}

fn newest_file(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, path)| path)
}

/// Write the seeds of `target` into `dir` (emptied first): the committed synthetic ones, the
/// images and ELF made here (no image or ELF is committed: `tests/tidy.rs` keeps binaries out of
/// the repository), then those made from the reference files. Returns how many there are.
fn write_seeds(
    target: &str,
    committed: &Path,
    testdata: Option<&Path>,
    dir: &Path,
) -> Result<usize> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(committed.join(target)) {
        for entry in entries.flatten() {
            if let Ok(bytes) = std::fs::read(entry.path()) {
                seeds.push(bytes);
            }
        }
    }
    seeds.extend(synthetic_seeds(target));
    if let Some(testdata) = testdata {
        seeds.extend(seeds_from_testdata(target, testdata));
    }
    let unique: BTreeSet<Vec<u8>> = seeds.into_iter().filter(|s| !s.is_empty()).collect();
    for (index, seed) in unique.iter().enumerate() {
        let path = dir.join(format!("seed-{index:04}"));
        std::fs::write(&path, seed).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(unique.len())
}

/// Images and an ELF for the targets that read them, made here so that none is committed: an
/// app image (app descriptor in a DROM segment, code in IRAM) and a bootloader image (bootloader
/// descriptor, IRAM code), both with a valid checksum and no appended digest, and a minimal
/// Xtensa ELF with a descriptor section, code in flash and in IRAM.
fn synthetic_seeds(target: &str) -> Vec<Vec<u8>> {
    let mut descriptor = Vec::with_capacity(256);
    descriptor.extend(0xABCD_5432u32.to_le_bytes());
    descriptor.resize(16, 0);
    for (text, len) in [("1.0", 32), ("seed", 32), ("", 16), ("", 16), ("v5.4", 32)] {
        let mut field = text.as_bytes().to_vec();
        field.resize(len, 0);
        descriptor.extend(field);
    }
    descriptor.resize(0xB0, 0);
    descriptor.extend([0, 0, 0xFF, 0xFF, 16]);
    descriptor.resize(256, 0);
    match target {
        "bin_image" => {
            let mut bootloader_desc = vec![0x50, 0, 0, 0, 1, 0, 0, 0];
            bootloader_desc.extend(b"v5.4.2");
            bootloader_desc.resize(80, 0);
            vec![
                esp_image(
                    0x4037_8000,
                    &[(0x3C00_0020, &descriptor), (0x4037_8000, &[0x36; 64])],
                ),
                esp_image(
                    0x403C_8010,
                    &[(0x3FCD_0000, &bootloader_desc), (0x403C_8000, &[0x36; 64])],
                ),
            ]
        }
        "elf_to_image" => vec![xtensa_elf(&[
            (".rodata_desc", 0x3C00_0020, &descriptor),
            (".text", 0x4201_0020, &[0x36; 256]),
            (".iram0.text", 0x4037_8000, &[0x06; 64]),
        ])],
        _ => Vec::new(),
    }
}

/// An ESP32-S3 image of `segments` (load address, data): DIO, 4 MB, 40 MHz, chip id 9, revision
/// range v0.0..v0.99, the XOR checksum, no appended digest.
fn esp_image(entry: u32, segments: &[(u32, &[u8])]) -> Vec<u8> {
    let mut image = vec![0xE9, segments.len() as u8, 0x02, 0x20];
    image.extend(entry.to_le_bytes());
    image.extend([0xEE, 0, 0, 0, 9, 0, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0]);
    let mut checksum = 0xEFu8;
    for (addr, data) in segments {
        image.extend(addr.to_le_bytes());
        image.extend((data.len() as u32).to_le_bytes());
        image.extend_from_slice(data);
        checksum = data.iter().fold(checksum, |c, b| c ^ b);
    }
    while image.len() % 16 != 15 {
        image.push(0);
    }
    image.push(checksum);
    image
}

/// A little-endian ELF32 for Xtensa (e_machine 94) with `sections` (name, address, data) as
/// allocated PROGBITS, entered at 0x40378000.
fn xtensa_elf(sections: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut names = vec![0u8];
    let mut name_at = Vec::new();
    for (name, _, _) in sections {
        name_at.push(names.len() as u32);
        names.extend(name.as_bytes());
        names.push(0);
    }
    let shstrtab_name = names.len() as u32;
    names.extend(b".shstrtab\0");
    let mut body = Vec::new();
    let mut offsets = Vec::new();
    for (_, _, data) in sections {
        offsets.push(52 + body.len() as u32);
        body.extend_from_slice(data);
        body.resize(body.len().next_multiple_of(4), 0);
    }
    let names_at = 52 + body.len() as u32;
    body.extend(&names);
    body.resize(body.len().next_multiple_of(4), 0);
    let section_headers_at = 52 + body.len() as u32;
    let count = sections.len() as u16 + 2;
    let mut elf = b"\x7fELF\x01\x01\x01".to_vec();
    elf.resize(16, 0);
    for half in [2u16, 94] {
        elf.extend(half.to_le_bytes());
    }
    for word in [1u32, 0x4037_8000, 0, section_headers_at, 0x300] {
        elf.extend(word.to_le_bytes());
    }
    for half in [52u16, 0, 0, 40, count, count - 1] {
        elf.extend(half.to_le_bytes());
    }
    elf.extend(body);
    elf.extend([0; 40]);
    for (i, (_, addr, data)) in sections.iter().enumerate() {
        // name, PROGBITS, ALLOC|EXECINSTR, address, offset, size, link, info, align, entsize
        for word in [
            name_at[i],
            1,
            6,
            *addr,
            offsets[i],
            data.len() as u32,
            0,
            0,
            4,
            0,
        ] {
            elf.extend(word.to_le_bytes());
        }
    }
    for word in [
        shstrtab_name,
        3,
        0,
        0,
        names_at,
        names.len() as u32,
        0,
        0,
        1,
        0,
    ] {
        elf.extend(word.to_le_bytes());
    }
    elf
}

/// Seeds for `target` made from the reference files.
fn seeds_from_testdata(target: &str, testdata: &Path) -> Vec<Vec<u8>> {
    let files = all_files(testdata);
    let with_ext = |ext: &str| -> Vec<Vec<u8>> {
        files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .filter_map(|p| std::fs::read(p).ok())
            .collect()
    };
    let transcripts = std::fs::read_to_string(testdata.join("rom-transcripts/transcripts.jsonl"))
        .unwrap_or_default();
    match target {
        "slip" => {
            // Requests and replies as they travel (SLIP-framed), with the console text around.
            let mut seeds = Vec::new();
            for line in transcripts.lines() {
                let mut stream = hex_strings(line, "non_slip_hex").concat();
                for key in ["request_hex", "extra_requests_hex", "reply_frames_hex"] {
                    for frame in hex_strings(line, key) {
                        stream.extend(slip_encode(&frame));
                    }
                }
                // The first byte chooses how the target cuts the stream.
                stream.insert(0, (seeds.len() % 251) as u8);
                seeds.push(stream);
            }
            seeds
        }
        "response" => transcripts
            .lines()
            .flat_map(|line| hex_strings(line, "reply_frames_hex"))
            .collect(),
        "monitor_lines" => {
            let mut seeds: Vec<Vec<u8>> = files
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "txt"))
                .filter(|p| p.to_string_lossy().contains("console"))
                .filter_map(|p| std::fs::read(p).ok())
                .map(|mut text| {
                    // Whole files are long; the start shows the banner and the first loops.
                    text.truncate(8192);
                    text.insert(0, 7);
                    text
                })
                .collect();
            for line in transcripts.lines() {
                let text = hex_strings(line, "non_slip_hex").concat();
                if !text.is_empty() {
                    seeds.push([vec![3], text].concat());
                }
            }
            seeds
        }
        "partition_csv" => with_ext("csv"),
        "partition_binary" => {
            let mut seeds: Vec<Vec<u8>> = with_ext("bin")
                .into_iter()
                .filter(|b| b.starts_with(&[0xAA, 0x50]))
                .collect();
            // The tables inside merged images.
            for image in with_ext("bin") {
                if let Some(table) = image.get(0x8000..0x8C00) {
                    if table.starts_with(&[0xAA, 0x50]) {
                        seeds.push(table.to_vec());
                    }
                }
            }
            seeds
        }
        "bin_image" => with_ext("bin"),
        "elf_to_image" => with_ext("elf"),
        _ => Vec::new(),
    }
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The hex strings a JSON line holds under `key` (a string or an array of strings), decoded.
fn hex_strings(line: &str, key: &str) -> Vec<Vec<u8>> {
    let needle = format!("\"{key}\": ");
    let Some(at) = line.find(&needle) else {
        return Vec::new();
    };
    let rest = &line[at + needle.len()..];
    // An array runs to its `]`; a lone string is the first quoted text.
    let value = match rest.strip_prefix('[') {
        Some(array) => array.split(']').next().unwrap_or_default(),
        None => rest
            .get(..rest.find([',', '}']).unwrap_or(rest.len()))
            .unwrap_or_default(),
    };
    value
        .split('"')
        .skip(1)
        .step_by(2)
        .filter_map(decode_hex)
        .filter(|bytes| !bytes.is_empty())
        .collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A SLIP frame (`C0 … C0`, escapes applied), as the wire carries it.
fn slip_encode(packet: &[u8]) -> Vec<u8> {
    let mut out = vec![0xC0];
    for &b in packet {
        match b {
            0xC0 => out.extend([0xDB, 0xDC]),
            0xDB => out.extend([0xDB, 0xDD]),
            _ => out.push(b),
        }
    }
    out.push(0xC0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_or_name_the_bad_one() {
        let parse_strs = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            parse(&args)
        };
        assert_eq!(parse_strs(&[]), Ok(Options::default()));
        assert_eq!(
            parse_strs(&["--seconds", "600", "--parallel", "2", "slip", "telnet"]),
            Ok(Options {
                seconds: 600,
                parallel: 2,
                targets: vec!["slip".into(), "telnet".into()],
            })
        );
        assert!(parse_strs(&["--seconds", "0"]).is_err());
        assert!(parse_strs(&["--seconds"]).is_err());
        let e = parse_strs(&["nope"]).unwrap_err();
        assert!(e.contains("slip, response"), "{e}");
    }

    #[test]
    fn every_target_is_declared_in_the_fuzz_manifest() {
        let manifest =
            std::fs::read_to_string(run::repo_root().join("fuzz/Cargo.toml")).unwrap_or_default();
        for target in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target} is missing from fuzz/Cargo.toml"
            );
        }
        let declared = manifest.matches("[[bin]]").count();
        assert_eq!(declared, TARGETS.len(), "fuzz/Cargo.toml has other targets");
    }

    #[test]
    fn hex_strings_read_strings_and_arrays() {
        let line =
            r#"{"request_hex": "00d0", "reply_frames_hex": ["0100", "0a0b"], "non_slip_hex": ""}"#;
        assert_eq!(hex_strings(line, "request_hex"), vec![vec![0x00, 0xD0]]);
        assert_eq!(
            hex_strings(line, "reply_frames_hex"),
            vec![vec![0x01, 0x00], vec![0x0A, 0x0B]]
        );
        assert!(hex_strings(line, "non_slip_hex").is_empty());
        assert!(hex_strings(line, "missing").is_empty());
        assert_eq!(
            slip_encode(&[0xC0, 1, 0xDB]),
            [0xC0, 0xDB, 0xDC, 1, 0xDB, 0xDD, 0xC0]
        );
    }

    #[test]
    fn final_runs_come_from_the_done_line() {
        let log =
            "#100 NEW\nDone 123456 runs in 60 second(s)\nstat::number_of_executed_units: 123456";
        assert_eq!(final_runs(log), Some(123_456));
        assert_eq!(final_runs("crash"), None);
    }
}
