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
use std::process::{Command, Output};

use cargo_esp32s3::config::Settings;
use cargo_esp32s3::image::FlashSize;
use cargo_esp32s3::image::format::{ImageHeader, Segment, encode_image};
use cargo_esp32s3::layout::{IdfOutputs, prepare};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::synthetic_elf;

/// This repository's target directory (the test binary lives in `<target>/debug/deps`).
fn our_target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .expect("target directory above the test binary")
        .to_path_buf()
}

fn tool(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-esp32s3"));
    clean_env(&mut command);
    command.current_dir(dir).arg("esp32s3");
    command
}

fn clean_env(command: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("ESP32S3_") {
            command.env_remove(key);
        }
    }
    command.env("NO_COLOR", "1");
}

fn check(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout + &stderr
}

/// A second-stage bootloader stand-in: a valid ESP32-S3 image with one IRAM segment.
fn bootloader() -> Vec<u8> {
    let header = ImageHeader {
        entry: 0x403C_8000,
        ..ImageHeader::default()
    };
    let segments = [Segment {
        addr: 0x403C_8000,
        data: (0..2048u32).map(|i| (i * 13) as u8).collect(),
    }];
    encode_image(&header, &segments).expect("bootloader image")
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
    check(
        &tool(temp.path())
            .args(["init", "--path", "fw", "--xtask", "--library-path", library])
            .output()
            .unwrap(),
        "init --xtask",
    );

    // The bootloader the crate's metadata names (init leaves the key commented out).
    std::fs::write(crate_dir.join("bootloader.bin"), bootloader()).unwrap();
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
    let mut build = Command::new(cargo);
    clean_env(&mut build);
    build
        .current_dir(temp.path())
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["build", "--offline", "--quiet", "--manifest-path"])
        .arg(&manifest_path)
        .args(["--package", "xtask-template-test"]);
    check(
        &build.output().unwrap(),
        "cargo build of the xtask template",
    );
    let xtask = target_dir.join("debug/xtask-template-test");

    let elf_path = temp.path().join("firmware.elf");
    std::fs::write(&elf_path, synthetic_elf()).unwrap();
    let flash_file = temp.path().join("flash.bin");
    let port = format!("sim://?flash={}", flash_file.display());
    let run = |args: &[&str]| {
        let mut command = Command::new(&xtask);
        clean_env(&mut command);
        command.current_dir(&crate_dir).args(args);
        command.output().unwrap()
    };

    let out = check(
        &run(&[
            "flash",
            "--elf",
            elf_path.to_str().unwrap(),
            "--port",
            &port,
        ]),
        "cargo xtask flash",
    );
    assert!(out.contains("flashed 3 region(s), 0 unchanged"), "{out}");

    // What the flash holds is what the library lays out for the same crate settings and the
    // virtual chip's 8 MB flash (no size is configured, so the chip's is used).
    let settings = Settings {
        bootloader: Some(crate_dir.join("bootloader.bin")),
        partition_table: Some(crate_dir.join("partitions.csv")),
        ..Settings::default()
    };
    let prepared = prepare(
        &elf_path,
        &settings,
        &IdfOutputs::default(),
        FlashSize::S8Mb,
    )
    .expect("layout");
    let flash = std::fs::read(&flash_file).expect("the virtual chip's flash file");
    for region in prepared.regions.expect("a complete layout") {
        let at = region.offset as usize;
        assert!(
            flash.get(at..at + region.data.len()) == Some(region.data.as_slice()),
            "the flash differs from the {} at 0x{:x}",
            region.label,
            region.offset
        );
    }

    // A second flash finds every region in place.
    let out = check(
        &run(&[
            "flash",
            "--elf",
            elf_path.to_str().unwrap(),
            "--port",
            &port,
        ]),
        "second cargo xtask flash",
    );
    assert!(out.contains("0 region(s), 3 unchanged"), "{out}");

    // test-on-device sees the console after the reset: the ROM loads the bootloader flashed
    // above and jumps to its entry point.
    let output = run(&[
        "test-on-device",
        "--elf",
        elf_path.to_str().unwrap(),
        "--port",
        &port,
        "--expect",
        "entry 0x403c8000",
        "--timeout",
        "10",
    ]);
    let console = check(&output, "cargo xtask test-on-device");
    assert!(console.contains("ESP-ROM:esp32s3"), "{console}");
    assert!(console.contains("load:0x403c8000,len:0x800"), "{console}");

    // test-on-device fails with a clear line when the expected text never comes (the synthetic
    // firmware prints nothing of its own).
    let output = run(&[
        "test-on-device",
        "--elf",
        elf_path.to_str().unwrap(),
        "--port",
        &port,
        "--expect",
        "no firmware prints this",
        "--timeout",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: no line containing \"no firmware prints this\" within 1 s"),
        "{stderr}"
    );

    let output = run(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown task `frobnicate`"));
}
