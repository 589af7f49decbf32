//! `cargo esp32s3 build` against real `cargo build` runs on tiny host-target projects (there is
//! no Xtensa toolchain in CI): the host ELF must be refused at the image step with a clear
//! message, and the no/several-executables cases must say what to pass. All projects share one
//! target directory under the system temp dir, so only the first run compiles anything much.

use std::path::{Path, PathBuf};

use cargo_esp32s3::exit;

#[path = "support/cli.rs"]
mod cli;
use cli::{BUILD_LIMIT, Outcome, Run};

fn shared_target_dir() -> PathBuf {
    std::env::temp_dir().join("cargo-esp32s3-tests-target")
}

/// `cargo esp32s3 ARGS...` in `dir`, building into the shared target directory.
fn esp32s3(dir: &Path, args: &[&str]) -> Outcome {
    Run::new(dir, &["esp32s3"])
        .args(args)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .limit(BUILD_LIMIT)
        .run()
}

/// Write `files` (path, contents) under a new temporary directory.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, contents) in files {
        let path = dir.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, contents).expect("write file");
    }
    dir
}

fn package(name: &str) -> String {
    format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
}

#[test]
fn host_elf_is_refused_at_the_image_step() {
    let dir = tree(&[
        ("Cargo.toml", &package("hostfw")),
        ("src/main.rs", "fn main() { println!(\"hi\"); }\n"),
    ]);
    let outcome = esp32s3(dir.path(), &["build"]);
    let line = outcome.fails(
        exit::IMAGE,
        &["cannot make an app image from", "hostfw", "not Xtensa"],
    );
    if cfg!(target_arch = "x86_64") {
        assert!(line.contains("this ELF is for x86-64"), "{line}");
    }
    // No image was written next to the ELF.
    assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
}

#[test]
fn several_executables_need_a_choice() {
    let dir = tree(&[
        (
            "Cargo.toml",
            "[workspace]\nmembers = [\"one\", \"two\"]\nresolver = \"2\"\n",
        ),
        ("one/Cargo.toml", &package("one")),
        ("one/src/main.rs", "fn main() {}\n"),
        ("two/Cargo.toml", &package("two")),
        ("two/src/main.rs", "fn main() {}\n"),
    ]);
    let outcome = esp32s3(dir.path(), &["build"]);
    let line = outcome.fails(exit::BUILD, &[]);
    for part in [
        "`cargo build` produced 2 executables",
        "one (bin of one)",
        "two (bin of two)",
        "pick one with --bin NAME or --example NAME",
    ] {
        assert!(line.contains(part), "{part:?} missing: {line}");
    }
    // Choosing one gets past the choice, to the image step.
    let outcome = esp32s3(dir.path(), &["build", "--bin", "two"]);
    outcome.fails(exit::IMAGE, &["not Xtensa"]);
}

#[test]
fn a_library_alone_is_no_firmware() {
    let dir = tree(&[
        ("Cargo.toml", &package("onlylib")),
        ("src/lib.rs", "pub fn f() {}\n"),
    ]);
    let outcome = esp32s3(dir.path(), &["build"]);
    outcome.fails(exit::BUILD, &["produced no executable"]);
}

#[test]
fn compiler_errors_are_shown_and_the_build_fails() {
    let dir = tree(&[
        ("Cargo.toml", &package("broken")),
        ("src/main.rs", "fn main() { let x: u8 = \"no\"; }\n"),
    ]);
    let outcome = esp32s3(dir.path(), &["build"]);
    assert_eq!(
        outcome.code,
        Some(i32::from(exit::BUILD)),
        "{}",
        outcome.dump()
    );
    // The rendered compiler diagnostic reached stderr through our callback.
    outcome.stderr_has(&["mismatched types"]);
    assert!(
        outcome
            .stderr
            .lines()
            .any(|l| l.starts_with("error[ES0304]: `cargo build` failed")),
        "{}",
        outcome.stderr
    );
}

#[test]
fn settings_errors_stop_before_building() {
    let manifest = format!(
        "{}\n[package.metadata.esp32s3]\ntarget = \"xtensa-esp32-none-elf\"\n",
        package("wrongchip")
    );
    let dir = tree(&[("Cargo.toml", &manifest), ("src/main.rs", "fn main() {}\n")]);
    let outcome = esp32s3(dir.path(), &["build"]);
    outcome.fails(exit::CONFIG, &["builds for the ESP32,"]);
    assert!(!outcome.stderr.contains("Compiling"), "{}", outcome.stderr);
}

#[test]
fn unknown_package_lists_the_members() {
    let dir = tree(&[
        ("Cargo.toml", &package("member")),
        ("src/main.rs", "fn main() {}\n"),
    ]);
    let outcome = esp32s3(dir.path(), &["build", "--package", "nope"]);
    let line = outcome.fails(exit::BUILD, &[]);
    assert!(
        line.contains("package \"nope\" is not in the workspace"),
        "{line}"
    );
    assert!(line.contains("members: member"), "{line}");
}

#[test]
fn flash_without_a_file_builds_and_checks_the_image_before_connecting() {
    let dir = tree(&[
        ("Cargo.toml", &package("flashhost")),
        ("src/main.rs", "fn main() {}\n"),
    ]);
    let outcome = esp32s3(dir.path(), &["flash", "--port", "sim://"]);
    outcome.fails(exit::IMAGE, &["not Xtensa"]);
    assert!(!outcome.stderr.contains("Connecting"), "{}", outcome.stderr);
}

#[test]
fn save_image_can_build_first() {
    let dir = tree(&[
        ("Cargo.toml", &package("savehost")),
        ("src/main.rs", "fn main() {}\n"),
    ]);
    let outcome = esp32s3(dir.path(), &["save-image", "--build", "out.bin"]);
    let line = outcome.fails(exit::IMAGE, &[]);
    assert!(
        line.contains("savehost") && line.contains("not Xtensa"),
        "{line}"
    );
    assert!(!dir.path().join("out.bin").exists());
    // --build takes only the output: a second path is a usage error.
    let outcome = esp32s3(dir.path(), &["save-image", "--build", "a", "b"]);
    assert_eq!(
        outcome.code,
        Some(i32::from(exit::USAGE)),
        "{}",
        outcome.dump()
    );
}
