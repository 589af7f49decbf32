//! The rough edges a first user hits, each as it was found: a panic when the reader of stdout
//! goes away (`| head -1`), completions that never fire for `cargo esp32s3 …`, `image-info`
//! saying little about an ELF (and accepting a truncated one `flash` refuses), configuration
//! errors reported one per run, a missing `bootloader` file that did not name its key,
//! `flash-size = 8` refused, and `--help` listing flags a command then refuses.

use std::io::Read as _;
use std::process::{Command, Stdio};

use cargo_esp32s3::exit;

#[path = "support/cli.rs"]
mod cli;
use cli::{Bench, Outcome};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::{synthetic_bootloader, synthetic_elf};

#[path = "support/testdata.rs"]
mod testdata;

const TABLE_CSV: &str = "nvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x10000, 1M,\n";

/// Run the binary in `bench` with stdout going to a pipe nobody reads (its reader closed at
/// once, as `head -1` does after its line): the command must end quietly, as a success.
fn with_closed_stdout(bench: &Bench, args: &[&str]) {
    let mut child = Command::new(cli::binary())
        .current_dir(bench.dir())
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    drop(child.stdout.take());
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let status = child.wait().expect("wait for the binary");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(
        status.code(),
        Some(i32::from(exit::SUCCESS)),
        "{args:?} on a closed pipe: {status}; stderr: {stderr}"
    );
    assert!(stderr.is_empty(), "{args:?} said something: {stderr}");
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let bench = Bench::new();
    bench.write("t.csv", TABLE_CSV.as_bytes());
    with_closed_stdout(&bench, &["partition-table", "t.csv"]);
    // Completion scripts are larger than a pipe's buffer: the write itself meets the closed end.
    with_closed_stdout(&bench, &["completions", "bash"]);
    with_closed_stdout(&bench, &["completions", "zsh"]);
}

/// What bash completes for `words` (the cursor on the last word) with our script loaded, and
/// `_cargo` standing in for cargo's own completion.
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "_cargo() {{ COMPREPLY=(cargo-own-completion); }}\nsource '{script}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_cargo_esp32s3_dispatch cargo '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let output = Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completion_fires_for_cargo_esp32s3() {
    if Command::new("bash").arg("--version").output().is_err() {
        println!("skipped: bash is not installed");
        return;
    }
    let bench = Bench::new();
    let out = bench.run(&["completions", "bash"]);
    out.succeeds();
    let script = bench.write("cargo-esp32s3.bash", out.stdout.as_bytes());
    // Commands after `cargo esp32s3`, and flags after a command (they used to never complete).
    assert_eq!(
        bash_completes(&script, &["cargo", "esp32s3", "fl"]),
        ["flash"]
    );
    let flags = bash_completes(&script, &["cargo", "esp32s3", "erase", "--pa"]);
    assert!(flags.contains(&"--partition".to_owned()), "{flags:?}");
    // Every other cargo command keeps cargo's own completion.
    assert_eq!(
        bash_completes(&script, &["cargo", "bu"]),
        ["cargo-own-completion"]
    );
    // The installed binary itself completes too.
    let program = format!(
        "source '{script}'\nCOMP_WORDS=(cargo-esp32s3 flash --no-s)\nCOMP_CWORD=2\n_esp32s3 cargo-esp32s3 --no-s flash\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    );
    let output = Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .expect("run bash");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "--no-skip");
}

#[test]
fn image_info_shows_an_elf_as_its_app_image_and_refuses_a_truncated_one_as_flash_does() {
    let bench = Bench::new();
    let elf = synthetic_elf();
    bench.write("app.elf", &elf);
    let out = bench.run(&["image-info", "app.elf"]);
    out.succeeds();
    out.stdout_has(&[
        "ELF file (Xtensa)",
        "App image",
        "Segment",
        "IROM",
        "Checksum",
    ]);
    if let Some(dir) = testdata::testdata() {
        let golden = dir.join("firmware/esp-idf-hello_world-esp32s3/hello_world.elf");
        let out = bench.run(&["image-info", golden.to_str().expect("utf-8 path")]);
        out.succeeds();
        out.stdout_has(&[
            "App descriptor",
            "Project:       hello_world",
            "ESP-IDF:       v5.1.4",
        ]);
    } else {
        println!("skipped: the ESP-IDF hello_world ELF (no ../shared/testdata)");
    }

    // Cut short: refused with the message flash gives, and nothing is shown as fine.
    bench.write("cut.elf", &elf[..elf.len() / 2]);
    let info = bench.run(&["image-info", "cut.elf"]);
    let info_error = info.fails(exit::IMAGE, &["cannot make an app image from cut.elf"]);
    let flash = bench.on_chip(&["flash", "cut.elf"]);
    let flash_error = flash.fails(exit::IMAGE, &["cannot make an app image from"]);
    assert_eq!(
        info_error.split_once(": ").map(|(_, why)| why),
        flash_error.split_once(": ").map(|(_, why)| why),
        "image-info and flash give the same reason"
    );
}

/// A crate in `bench` whose `[package.metadata.esp32s3]` holds `metadata`.
fn crate_with(bench: &Bench, metadata: &str) {
    bench.write(
        "Cargo.toml",
        format!(
            "[package]\nname = \"fw\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.esp32s3]\n{metadata}"
        )
        .as_bytes(),
    );
    bench.write("src/main.rs", b"fn main() {}\n");
}

#[test]
fn every_configuration_error_is_reported_in_one_run() {
    let bench = Bench::new();
    crate_with(&bench, "baud = \"fast\"\nflash_mode = \"dio\"\n");
    bench.write("app.elf", &synthetic_elf());
    let out: Outcome = bench
        .cmd(&["save-image", "app.elf", "app.bin"])
        .env("ESP32S3_AFTER", "bogus")
        .run();
    out.fails(
        exit::CONFIG,
        &[
            "3 problems in the configuration",
            "ESP32S3_AFTER",
            "\"fast\" for baud",
            "unknown key \"flash_mode\"",
            "did you mean \"flash-mode\"",
        ],
    );
}

#[test]
fn a_missing_bootloader_file_names_its_key() {
    let bench = Bench::new();
    crate_with(&bench, "bootloader = \"missing.bin\"\n");
    bench.write("app.elf", &synthetic_elf());
    let out = bench.run(&["save-image", "--merge", "app.elf", "out.bin"]);
    out.fails(
        exit::CONFIG,
        &[
            "missing.bin",
            "the `bootloader` setting",
            "--bootloader",
            "ESP32S3_BOOTLOADER",
        ],
    );
    assert!(!bench.path("out.bin").exists());
}

#[test]
fn flash_size_8_means_8_megabytes() {
    let bench = Bench::new();
    crate_with(&bench, "flash-size = 8\nbootloader = \"bootloader.bin\"\n");
    bench.write("bootloader.bin", &synthetic_bootloader());
    bench.write("app.elf", &synthetic_elf());
    bench
        .run(&["save-image", "--merge", "--pad", "app.elf", "full.bin"])
        .succeeds();
    let full = std::fs::read(bench.path("full.bin")).expect("the padded image");
    assert_eq!(full.len(), 8 << 20);
    bench
        .run(&["image-info", "full.bin"])
        .stdout_has(&["size 8MB"]);
}

#[test]
fn help_lists_only_flags_a_command_accepts() {
    let bench = Bench::new();
    let help = |command: &str| bench.run(&[command, "--help"]).stdout;
    // Several boards are `flash`'s business; the other chip commands take one port.
    assert!(help("flash").contains("--all-ports"));
    for command in ["erase", "board-info", "read-flash", "monitor", "reset"] {
        assert!(
            !help(command).contains("--all-ports"),
            "{command} --help lists --all-ports"
        );
    }
    // Commands that read no Cargo.toml do not offer to read one.
    for command in [
        "completions",
        "image-info",
        "partition-table",
        "list-ports",
        "sim",
    ] {
        assert!(
            !help(command).contains("--manifest-path"),
            "{command} --help lists --manifest-path"
        );
    }
    // What is listed is accepted: --all-ports on erase is now a usage error from clap itself.
    let out = bench.on_chip(&["erase", "--all-ports"]);
    out.fails(exit::USAGE, &["--all-ports"]);
}
