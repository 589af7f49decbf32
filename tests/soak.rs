//! The soak: many flashes of real images (MicroPython's offset-0 image and ESP-IDF's hello_world
//! layout, from the shared testdata when it is there) onto virtual chips with faults of every
//! kind at several rates, over the ROM loader and the stub, through the library's one executor.
//! Each flash ends in a verified success or a clean failure (an error with its catalogue code);
//! a silent corruption (the tool said it succeeded and the chip's flash differs from the image)
//! fails the soak, and so does a success that changed flash outside the image.
//!
//! `soak_short` runs a few dozen flashes in the test suite. `soak_full` is the long run, started
//! by `cargo xtask soak [--flashes N] [--seed S]` (it sets `SOAK_FLASHES`, `SOAK_SEED` and
//! `SOAK_OUT`; without them it says it is skipped): it prints the markdown table of the verified-success rate per fault type and
//! rate and writes the JSON report.

#[path = "support/fault_bench.rs"]
mod fault_bench;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use cargo_esp32s3::sim::{Faults, Link, Replug};
use fault_bench::{Flashed, SharedSim, chip, firmware_like, flash, images, settings, stub_file};

/// One kind of fault and the rates (or one-shot triggers) it is soaked at.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Drop,
    Flip,
    Dup,
    Truncate,
    Noise,
    Late,
    Error,
    Reset,
    UnplugSame,
    UnplugOther,
    ProgramFail,
}

impl Kind {
    const ALL: [Kind; 11] = [
        Kind::Drop,
        Kind::Flip,
        Kind::Dup,
        Kind::Truncate,
        Kind::Noise,
        Kind::Late,
        Kind::Error,
        Kind::Reset,
        Kind::UnplugSame,
        Kind::UnplugOther,
        Kind::ProgramFail,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Drop => "drop (byte lost)",
            Kind::Flip => "flip (bit inverted)",
            Kind::Dup => "dup (reply twice)",
            Kind::Truncate => "truncate (reply cut)",
            Kind::Noise => "noise (junk before a reply)",
            Kind::Late => "late (4 s stall before a reply)",
            Kind::Error => "error (failure status)",
            Kind::Reset => "reset-at (watchdog mid-transfer)",
            Kind::UnplugSame => "unplug-at, back at its path",
            Kind::UnplugOther => "unplug-at, back under another name",
            Kind::ProgramFail => "program-fail (bit left at 1)",
        }
    }

    /// The rates a kind is soaked at (per byte, per reply, per command or per program
    /// operation); one-shot kinds have one "rate", `once`.
    fn rates(self) -> &'static [f64] {
        match self {
            Kind::Drop | Kind::Flip => &[1e-6, 1e-5, 5e-5],
            Kind::Dup | Kind::Truncate | Kind::Noise | Kind::Error => &[0.002, 0.01, 0.05],
            Kind::Late => &[0.002, 0.01, 0.03],
            Kind::ProgramFail => &[0.01, 0.05, 0.2],
            Kind::Reset | Kind::UnplugSame | Kind::UnplugOther => &[1.0],
        }
    }

    fn one_shot(self) -> bool {
        matches!(self, Kind::Reset | Kind::UnplugSame | Kind::UnplugOther)
    }
}

/// A small deterministic generator for the soak's own choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One flash of the soak: what was asked and how it ended.
struct Trial {
    kind: Kind,
    rate: f64,
    image: String,
    stub: bool,
    outcome: Flashed,
}

/// The outcomes of one (kind, rate) cell.
#[derive(Default)]
struct Cell {
    flashes: u32,
    verified: u32,
    failures: BTreeMap<String, u32>,
    retries: u64,
    silent: u32,
    collateral: u32,
    injected: u64,
}

/// Run `flashes` flashes from `seed`, cycling through the kinds and their rates; `small` keeps
/// to the hello_world layout (the short run). Returns the trials.
fn soak(flashes: u32, seed: u64, small: bool) -> Vec<Trial> {
    let dir = tempfile::tempdir().expect("tempdir");
    let stub_path = stub_file(dir.path());
    let images = images();
    let cells: Vec<(Kind, f64)> = Kind::ALL
        .iter()
        .flat_map(|k| k.rates().iter().map(move |r| (*k, *r)))
        .collect();
    let mut rng = Rng(seed);
    let mut trials = Vec::new();
    for n in 0..flashes {
        let (kind, rate) = cells[n as usize % cells.len()];
        let (label, regions) = if small {
            &images[1]
        } else {
            &images[rng.below(images.len() as u64) as usize]
        };
        let stub = rng.below(2) == 1;
        let total: usize = regions.iter().map(|r| r.data.len()).sum();
        let mut faults = Faults {
            seed: seed.wrapping_mul(1_000_003).wrapping_add(u64::from(n)),
            ..Faults::default()
        };
        let mut link = Link::Uart;
        match kind {
            Kind::Drop => faults.drop = rate,
            Kind::Flip => faults.flip = rate,
            Kind::Dup => faults.dup = rate,
            Kind::Truncate => faults.truncate = rate,
            Kind::Noise => faults.noise = rate,
            Kind::Late => faults.late = rate,
            Kind::Error => faults.error = rate,
            Kind::ProgramFail => faults.program_fail = rate,
            // Somewhere in the transfer: the compressed image is about half its size, and the
            // connection and the checks come first.
            Kind::Reset => faults.reset_at = Some(2_000 + rng.below(total as u64 / 2)),
            Kind::UnplugSame | Kind::UnplugOther => {
                faults.unplug_at = Some(2_000 + rng.below(total as u64 / 2));
                faults.replug = if matches!(kind, Kind::UnplugSame) {
                    Replug::Same
                } else {
                    Replug::Other
                };
                // Mostly back within the tool's wait (5 s here), now and then too late.
                faults.replug_after = Duration::from_millis(300 + rng.below(5_500));
                link = Link::UsbSerialJtag;
            }
        }
        let sim = SharedSim::new(chip(faults, link), "sim://");
        // Half the chips hold an older build (skip-unchanged compares chunk by chunk), half
        // are erased.
        if rng.below(2) == 1 {
            let mut guard = sim.lock();
            let flash = guard.chip_mut().flash_mut();
            for region in regions {
                flash.load(region.offset, &older(&region.data, rng.next()));
            }
        }
        let settings = settings(stub.then_some(stub_path.as_path()));
        let outcome = flash(&sim, &settings, regions, Duration::from_secs(5));
        trials.push(Trial {
            kind,
            rate,
            image: label.clone(),
            stub,
            outcome,
        });
    }
    trials
}

/// An older build of `data`: the same bytes with a few stretches changed.
fn older(data: &[u8], seed: u64) -> Vec<u8> {
    let mut old = data.to_vec();
    let mut rng = Rng(seed);
    for _ in 0..4 {
        let at = rng.below(old.len() as u64) as usize;
        let len = (rng.below(0x8000) as usize).min(old.len() - at);
        let noise = firmware_like(len, rng.next());
        old[at..at + len].copy_from_slice(&noise);
    }
    old
}

/// The trials by (kind, rate), in the soak's order.
fn cells(trials: &[Trial]) -> Vec<((String, String), Cell)> {
    let mut out: Vec<((String, String), Cell)> = Vec::new();
    for trial in trials {
        let key = (
            trial.kind.name().to_string(),
            if trial.kind.one_shot() {
                "once".to_string()
            } else {
                format!("{}", trial.rate)
            },
        );
        let at = match out.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                out.push((key, Cell::default()));
                out.len() - 1
            }
        };
        let cell = &mut out[at].1;
        let o = &trial.outcome;
        cell.flashes += 1;
        cell.retries += o.retries() as u64;
        let f = o.faults;
        cell.injected += f.dropped
            + f.flipped
            + f.duplicated
            + f.truncated
            + f.noise
            + f.late
            + f.errors
            + f.resets
            + f.unplugs
            + f.program_failures;
        match &o.result {
            Ok(_) if o.holds_image => {
                cell.verified += 1;
                if !o.untouched_elsewhere {
                    cell.collateral += 1;
                }
            }
            Ok(_) => cell.silent += 1,
            Err((code, _)) => *cell.failures.entry(code.clone()).or_default() += 1,
        }
    }
    out
}

/// The markdown table: one row per fault type and rate.
fn table(trials: &[Trial]) -> String {
    let mut out = String::from(
        "| fault | rate | flashes | verified success | clean failures (code × n) | retries | silent corruptions |\n|---|---|---:|---:|---|---:|---:|\n",
    );
    let (mut flashes, mut verified, mut silent, mut retries) = (0, 0, 0, 0);
    for ((kind, rate), cell) in cells(trials) {
        let failures: Vec<String> = cell
            .failures
            .iter()
            .map(|(code, n)| format!("{code} × {n}"))
            .collect();
        let _ = writeln!(
            out,
            "| {kind} | {rate} | {} | {} ({:.0} %) | {} | {} | {} |",
            cell.flashes,
            cell.verified,
            100.0 * f64::from(cell.verified) / f64::from(cell.flashes.max(1)),
            if failures.is_empty() {
                "–".to_string()
            } else {
                failures.join(", ")
            },
            cell.retries,
            cell.silent + cell.collateral,
        );
        flashes += cell.flashes;
        verified += cell.verified;
        silent += cell.silent + cell.collateral;
        retries += cell.retries;
    }
    let _ = writeln!(
        out,
        "| **all** | | **{flashes}** | **{verified} ({:.0} %)** | **{}** | **{retries}** | **{silent}** |",
        100.0 * f64::from(verified) / f64::from(flashes.max(1)),
        flashes - verified - silent,
    );
    out
}

/// The JSON report: the totals, the cells, and every flash.
fn json(trials: &[Trial], seed: u64, wall: Duration) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::new();
    let silent = trials
        .iter()
        .filter(|t| t.outcome.silent_corruption())
        .count();
    let collateral = trials
        .iter()
        .filter(|t| {
            t.outcome.result.is_ok() && t.outcome.holds_image && !t.outcome.untouched_elsewhere
        })
        .count();
    let verified = trials
        .iter()
        .filter(|t| t.outcome.result.is_ok() && t.outcome.holds_image)
        .count();
    let _ = write!(
        out,
        "{{\"seed\": {seed}, \"flashes\": {}, \"verified_successes\": {verified}, \"clean_failures\": {}, \"silent_corruptions\": {silent}, \"collateral\": {collateral}, \"retries\": {}, \"wall_seconds\": {:.1}, \"cells\": [",
        trials.len(),
        trials.iter().filter(|t| t.outcome.result.is_err()).count(),
        trials.iter().map(|t| t.outcome.retries()).sum::<usize>(),
        wall.as_secs_f64()
    );
    for (i, ((kind, rate), cell)) in cells(trials).into_iter().enumerate() {
        let failures: Vec<String> = cell
            .failures
            .iter()
            .map(|(code, n)| format!("\"{code}\": {n}"))
            .collect();
        let _ = write!(
            out,
            "{}{{\"fault\": \"{}\", \"rate\": \"{rate}\", \"flashes\": {}, \"verified_successes\": {}, \"clean_failures\": {{{}}}, \"retries\": {}, \"faults_injected\": {}, \"silent_corruptions\": {}, \"collateral\": {}}}",
            if i == 0 { "" } else { ", " },
            esc(&kind),
            cell.flashes,
            cell.verified,
            failures.join(", "),
            cell.retries,
            cell.injected,
            cell.silent,
            cell.collateral
        );
    }
    out.push_str("], \"trials\": [");
    for (i, t) in trials.iter().enumerate() {
        let o = &t.outcome;
        let (ok, code, message) = match &o.result {
            Ok(_) => (true, String::new(), String::new()),
            Err((code, message)) => (false, code.clone(), message.clone()),
        };
        let _ = write!(
            out,
            "{}{{\"fault\": \"{}\", \"rate\": {}, \"image\": \"{}\", \"loader\": \"{}\", \"said_success\": {ok}, \"chip_holds_image\": {}, \"code\": \"{code}\", \"message\": \"{}\", \"retries\": {}, \"chip_seconds\": {:.2}}}",
            if i == 0 { "" } else { ", " },
            esc(t.kind.name()),
            t.rate,
            esc(&t.image),
            if t.stub { "stub" } else { "rom" },
            o.holds_image,
            esc(&message),
            o.retries(),
            o.elapsed.as_secs_f64()
        );
    }
    out.push_str("]}\n");
    out
}

/// Every silent corruption (and success with damage elsewhere), described for the failure.
fn corruptions(trials: &[Trial]) -> Vec<String> {
    trials
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            t.outcome.result.is_ok() && !(t.outcome.holds_image && t.outcome.untouched_elsewhere)
        })
        .map(|(i, t)| {
            format!(
                "flash {i}: {} at {} on {} ({}): success claimed, image {}",
                t.kind.name(),
                t.rate,
                t.image,
                if t.stub { "stub" } else { "ROM" },
                if t.outcome.holds_image {
                    "on the chip but flash outside it changed"
                } else {
                    "not on the chip"
                }
            )
        })
        .collect()
}

#[test]
fn soak_short() {
    // Two flashes of every fault type and rate, hello_world layout: a few seconds.
    let started = Instant::now();
    let cells = Kind::ALL
        .iter()
        .map(|k| k.rates().len() as u32)
        .sum::<u32>();
    let trials = soak(cells * 2, 1, true);
    println!("{}", table(&trials));
    let bad = corruptions(&trials);
    assert!(bad.is_empty(), "silent corruptions:\n{}", bad.join("\n"));
    let verified = trials
        .iter()
        .filter(|t| t.outcome.result.is_ok() && t.outcome.holds_image)
        .count();
    assert!(verified * 10 >= trials.len() * 7, "{}", table(&trials));
    // Every failure is clean: an error with its catalogue code.
    for t in &trials {
        if let Err((code, message)) = &t.outcome.result {
            assert!(code.starts_with("ES"), "{code}: {message}");
        }
    }
    println!("{} flashes in {:?}", trials.len(), started.elapsed());
}

#[test]
fn soak_full() {
    // The long run is asked for by `cargo xtask soak`, which sets SOAK_FLASHES.
    let Some(flashes) = std::env::var("SOAK_FLASHES")
        .ok()
        .and_then(|n| n.parse().ok())
    else {
        println!("skipped: the long soak runs with `cargo xtask soak` (SOAK_FLASHES is not set)");
        return;
    };
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let started = Instant::now();
    let trials = soak(flashes, seed, false);
    let wall = started.elapsed();
    let report = table(&trials);
    println!("{report}");
    let out = std::env::var_os("SOAK_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("soak"));
    std::fs::create_dir_all(&out).expect("report folder");
    let file = out.join(format!("soak-{seed}-{flashes}.json"));
    std::fs::write(&file, json(&trials, seed, wall)).expect("report");
    std::fs::write(out.join(format!("soak-{seed}-{flashes}.md")), &report).expect("report");
    println!(
        "{} flashes (seed {seed}) in {:.0} s; report in {}",
        trials.len(),
        wall.as_secs_f64(),
        file.display()
    );
    let bad = corruptions(&trials);
    assert!(bad.is_empty(), "silent corruptions:\n{}", bad.join("\n"));
}
