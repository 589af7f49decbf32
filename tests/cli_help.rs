//! The command line's own surface: every command's `--help` has examples, completions are
//! generated for every shell, and usage mistakes exit with code 2.

use std::path::Path;

use cargo_esp32s3::exit;

#[path = "support/cli.rs"]
mod cli;
use cli::{Outcome, Run};

/// Run the binary in the current directory.
fn run(args: &[&str]) -> Outcome {
    Run::new(Path::new("."), args).run()
}

#[test]
fn every_command_has_help_with_examples() {
    for command in [
        "build",
        "save-image",
        "completions",
        "flash",
        "erase",
        "board-info",
        "read-flash",
        "list-ports",
    ] {
        // Both as `cargo esp32s3 <command>` (cargo inserts `esp32s3`) and as the binary itself.
        for prefix in [&["esp32s3"][..], &[][..]] {
            let mut args = prefix.to_vec();
            args.extend([command, "--help"]);
            let out = run(&args);
            let stdout = &out.succeeds().stdout;
            assert!(stdout.contains("Examples:"), "{command} --help:\n{stdout}");
            assert!(
                stdout.contains("cargo esp32s3"),
                "{command} --help:\n{stdout}"
            );
            assert!(
                !stdout.contains('\x1b'),
                "colour with NO_COLOR in {command}"
            );
        }
    }
    let out = run(&["--help"]);
    let stdout = &out.succeeds().stdout;
    assert!(stdout.contains("Exit codes:"), "{stdout}");
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef cargo-esp32s3"),
        ("fish", "complete -c cargo-esp32s3"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer"),
    ] {
        let out = run(&["completions", shell]);
        let stdout = &out.succeeds().stdout;
        assert!(stdout.contains(marker), "{shell}: no {marker:?}");
        assert!(stdout.contains("save-image"), "{shell}: commands missing");
    }
    run(&["completions", "tcsh"]).fails(exit::USAGE, &["tcsh"]);
}

#[test]
fn usage_mistakes_exit_with_2() {
    for args in [
        &["flash", "--at", "0x0"][..],
        &["read-flash", "0x0"],
        &["read-flash", "zero", "16", "out.bin"],
        &[
            "erase",
            "--region",
            "0x1000",
            "0x1000",
            "--partition",
            "nvs",
        ],
        &["no-such-command"],
    ] {
        let out = run(args);
        out.fails(exit::USAGE, &[]);
        assert!(
            out.stderr.starts_with("error[ES0001]:"),
            "{args:?}: {}",
            out.dump()
        );
    }
}

/// The daily-workflow commands and flags: `--help` with examples, and a README entry for each.
#[test]
fn workflow_commands_and_flags_have_help_and_readme_entries() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    for command in [
        &["verify"][..],
        &["checksum-md5"],
        &["reset"],
        &["hold-in-reset"],
        &["read-mem"],
        &["write-mem"],
        &["bootloader"],
        &["new"],
        &["init"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = run(&args);
        let stdout = &out.succeeds().stdout;
        assert!(
            stdout.contains("Examples:"),
            "{command:?} --help:\n{stdout}"
        );
        assert!(
            stdout.contains("cargo esp32s3"),
            "{command:?} --help:\n{stdout}"
        );
        assert!(
            readme.contains(&format!("`{}", command.join(" "))),
            "no README entry for {command:?}"
        );
    }
    for sub in ["save", "import", "list", "show"] {
        run(&["bootloader", sub, "--help"]).succeeds();
        assert!(
            readme.contains(&format!("bootloader {sub}")),
            "README: bootloader {sub}"
        );
    }
    // Each new flag is in the help of the commands that take it, and in the README.
    for (command, flags) in [
        (
            "flash",
            &[
                "--ram",
                "--erase-parts",
                "--erase-data-parts",
                "--trace",
                "--confirm-port",
            ][..],
        ),
        ("erase", &["--partition", "--trace", "--confirm-port"]),
        ("board-info", &["--trace", "--confirm-port"]),
        ("monitor", &["--trace"]),
        ("new", &["--std"]),
        ("hold-in-reset", &["--seconds"]),
    ] {
        let out = run(&[command, "--help"]);
        let stdout = &out.succeeds().stdout;
        for flag in flags {
            assert!(
                stdout.contains(flag),
                "{command} --help lacks {flag}:\n{stdout}"
            );
            assert!(readme.contains(flag), "README lacks {flag}");
        }
    }
    for text in [
        "usb:303a:1001",
        "usb-serial:",
        "ESP32S3_CACHE_DIR",
        "espup install",
    ] {
        assert!(readme.contains(text), "README lacks {text}");
    }
}
