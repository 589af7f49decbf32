//! The xtask crate that `cargo esp32s3 init --xtask` writes compiles against this library and
//! works: a fresh crate is set up with the real binary (the xtask depending on this checkout by
//! path), the xtask is built offline, and its `flash` and `test-on-device` tasks run against
//! the virtual chip. The flash file must then hold the bootloader, the table and the app the
//! library lays out for the same inputs.
//!
//! Nothing downloads and little rebuilds: the build reuses this repository's Cargo.lock and
//! target directory (cargo is run from outside the crate so its `[build] target` for the chip
//! does not apply). The xtask package is renamed in the test only, so that its binary does not
//! replace this repository's own `target/debug/xtask`.

use std::path::{Path, PathBuf};

use cargo_esp32s3::cargo::IdfOutputs;
use cargo_esp32s3::config::Settings;
use cargo_esp32s3::image::FlashSize;
use cargo_esp32s3::plan::{Placement, Plan};

#[path = "support/cli.rs"]
mod cli;
use cli::{BUILD_LIMIT, Outcome, Run};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::{synthetic_bootloader, synthetic_elf};

/// This repository's target directory (the test binary lives in `<target>/debug/deps`).
fn our_target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .expect("target directory above the test binary")
        .to_path_buf()
}

/// Succeeded; what it printed, stdout then stderr.
fn check(outcome: &Outcome, what: &str) -> String {
    assert_eq!(outcome.code, Some(0), "{what} failed:\n{}", outcome.dump());
    outcome.no_panic();
    outcome.stdout.clone() + &outcome.stderr
}

#[test]
fn the_xtask_template_builds_against_the_library_and_flashes_the_virtual_chip() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let crate_dir = temp.path().join("fw");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        "[package]\nname = \"fw\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(crate_dir.join("src/main.rs"), "fn main() {}\n").unwrap();

    let library = env!("CARGO_MANIFEST_DIR");
    Run::new(
        temp.path(),
        &[
            "esp32s3",
            "init",
            "--path",
            "fw",
            "--xtask",
            "--library-path",
            library,
        ],
    )
    .run()
    .succeeds();

    // The bootloader the crate's metadata names (init leaves the key commented out).
    std::fs::write(crate_dir.join("bootloader.bin"), synthetic_bootloader()).unwrap();
    let manifest_path = crate_dir.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    assert!(
        manifest.contains("# bootloader = \"bootloader.bin\""),
        "{manifest}"
    );
    let manifest = manifest.replace(
        "# bootloader = \"bootloader.bin\"",
        "bootloader = \"bootloader.bin\"",
    );
    // The same profile as this repository, so the dependencies built for it are reused; the
    // library itself is a path dependency and gets built once more for this workspace.
    let manifest = manifest
        + "\n[profile.dev.package.\"*\"]\nopt-level = 2\n\n[profile.dev.package.cargo-esp32s3]\nopt-level = 0\n";
    std::fs::write(&manifest_path, manifest).unwrap();
    let xtask_manifest = crate_dir.join("xtask/Cargo.toml");
    let text = std::fs::read_to_string(&xtask_manifest).unwrap();
    assert!(
        text.contains(&format!("path = \"{library}\"")),
        "the dependency names this checkout: {text}"
    );
    std::fs::write(
        &xtask_manifest,
        text.replace("name = \"xtask\"", "name = \"xtask-template-test\""),
    )
    .unwrap();
    std::fs::copy(
        Path::new(library).join("Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .unwrap();

    let target_dir = our_target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest_arg = manifest_path.display().to_string();
    let build = Run::program(
        cargo,
        temp.path(),
        &[
            "build",
            "--offline",
            "--quiet",
            "--manifest-path",
            &manifest_arg,
            "--package",
            "xtask-template-test",
        ],
    )
    .env("CARGO_TARGET_DIR", &target_dir)
    .limit(BUILD_LIMIT)
    .run();
    check(&build, "cargo build of the xtask template");
    let xtask = target_dir.join("debug/xtask-template-test");

    let elf_path = temp.path().join("firmware.elf");
    std::fs::write(&elf_path, synthetic_elf()).unwrap();
    let flash_file = temp.path().join("flash.bin");
    let port = format!("sim://?flash={}", flash_file.display());
    let run = |args: &[&str]| Run::program(&xtask, &crate_dir, args).run();
    let elf_arg = elf_path.to_str().unwrap();
    // `cargo xtask flash` (or test-on-device) of the ELF onto the virtual chip, plus `extra`.
    let on_chip = |task: &str, extra: &[&str]| {
        let mut args = vec![task, "--elf", elf_arg, "--port", &port];
        args.extend_from_slice(extra);
        run(&args)
    };

    let out = check(&on_chip("flash", &[]), "cargo xtask flash");
    assert!(out.contains("flashed 3 region(s), 0 unchanged"), "{out}");

    // What the flash holds is what the library lays out for the same crate settings and the
    // virtual chip's 8 MB flash (no size is configured, so the chip's is used).
    // Laid out for the virtual chip's 8 MB flash, as the board does when no size is configured.
    let settings = Settings {
        bootloader: Some(crate_dir.join("bootloader.bin")),
        partition_table: Some(crate_dir.join("partitions.csv")),
        ..Settings::default()
    };
    let plan = Plan::from_elf(&elf_path, &settings, &IdfOutputs::default()).expect("layout");
    let plan = plan.for_flash_size(FlashSize::S8Mb).expect("layout");
    assert_eq!(plan.placement(), Placement::Layout);
    let flash = std::fs::read(&flash_file).expect("the virtual chip's flash file");
    for region in plan.regions() {
        let at = region.offset as usize;
        assert!(
            flash.get(at..at + region.data.len()) == Some(region.data.as_slice()),
            "the flash differs from the {} at 0x{:x}",
            region.label,
            region.offset
        );
    }

    // A second flash finds every region in place.
    let out = check(&on_chip("flash", &[]), "second cargo xtask flash");
    assert!(out.contains("0 region(s), 3 unchanged"), "{out}");

    // test-on-device sees the console after the reset: the ROM loads the bootloader flashed
    // above and jumps to its entry point.
    let output = on_chip(
        "test-on-device",
        &["--expect", "entry 0x403c8000", "--timeout", "10"],
    );
    let console = check(&output, "cargo xtask test-on-device");
    assert!(console.contains("ESP-ROM:esp32s3"), "{console}");
    assert!(console.contains("load:0x403c8000,len:0x800"), "{console}");

    // test-on-device fails with a clear line when the expected text never comes (the synthetic
    // firmware prints nothing of its own).
    let output = on_chip(
        "test-on-device",
        &["--expect", "no firmware prints this", "--timeout", "1"],
    );
    output.fails(1, &[]);
    output.stderr_has(&["error: no line containing \"no firmware prints this\" within 1 s"]);

    let output = run(&["frobnicate"]);
    assert_eq!(output.code, Some(2), "{}", output.dump());
    output.no_panic();
    output.stderr_has(&["unknown task `frobnicate`"]);
}
