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
        assert!(out.stderr.starts_with("error:"), "{args:?}: {}", out.dump());
    }
}
