//! The command line's own surface: every command's `--help` has examples, completions are
//! generated for every shell, and usage mistakes exit with code 2.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-esp32s3"))
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run cargo-esp32s3");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
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
            let (code, stdout, stderr) = run(&args);
            assert_eq!(code, 0, "{command}: {stderr}");
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
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
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
        let (code, stdout, stderr) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(stdout.contains(marker), "{shell}: no {marker:?}");
        assert!(stdout.contains("save-image"), "{shell}: commands missing");
    }
    let (code, _, stderr) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{stderr}");
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
        let (code, _, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
    }
}
