//! The monitor's own keys: the exit key from `monitor-exit-key` in Cargo.toml and from
//! `--exit-key`, `--ctrl-c-exits`, the key help (Ctrl+T H), and `monitor --help` listing the
//! keys. The interactive cases run in a pseudo-terminal (Unix).

use std::path::Path;

use cargo_esp32s3::exit;

#[path = "support/cli.rs"]
mod cli;
use cli::Run;

/// A crate whose metadata sets `monitor-exit-key`.
fn crate_with_exit_key(key: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"keys\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.esp32s3]\nmonitor-exit-key = \"{key}\"\n"
        ),
    )
    .expect("Cargo.toml");
    std::fs::create_dir(dir.path().join("src")).expect("src");
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").expect("main.rs");
    dir
}

#[test]
fn help_lists_the_keys() {
    let out = Run::new(Path::new("."), &["monitor", "--help"]).run();
    let text = &out.succeeds().stdout;
    for key in [
        "Ctrl+]",
        "Ctrl+R          reset the chip",
        "Ctrl+T F        rebuild with the same cargo arguments, flash what changed",
        "Ctrl+T H        show the keys",
        "monitor-exit-key",
        "--exit-key",
        "--ctrl-c-exits",
        "--log-level",
        "--filter",
        "--log-format",
        "--output-format",
    ] {
        assert!(text.contains(key), "{key:?} in:\n{text}");
    }
    let out = Run::new(Path::new("."), &["flash", "--help"]).run();
    assert!(out.succeeds().stdout.contains("Ctrl+T F rebuilds"));
}

#[test]
fn a_bad_exit_key_is_a_configuration_error() {
    let dir = crate_with_exit_key("ctrl+m");
    let out = Run::new(
        dir.path(),
        &["monitor", "--port", "sim://", "--timeout", "1"],
    )
    .run();
    out.fails(
        exit::CONFIG,
        &["invalid value \"ctrl+m\" for monitor-exit-key", "ctrl+x"],
    );
    let out = Run::new(
        Path::new("."),
        &["monitor", "--port", "sim://", "--exit-key", "ctrl+t"],
    )
    .run();
    out.fails(exit::USAGE, &["the exit key Ctrl+T already starts"]);
}

#[cfg(unix)]
#[path = "support/pty_harness.rs"]
mod pty_harness;

/// The exit key from Cargo.toml: Ctrl+] then goes to the chip, the configured key exits; the
/// flag beats the metadata; Ctrl+T H shows the keys as configured.
#[cfg(unix)]
#[test]
fn the_exit_key_is_configurable() {
    use std::time::Duration;
    let wait = Duration::from_secs(15);
    let dir = crate_with_exit_key("ctrl+x");
    let manifest = dir.path().join("Cargo.toml");
    let manifest = manifest.to_str().expect("utf-8");
    let monitor = |extra: &[&str]| {
        let mut args = vec!["monitor", "--port", "sim://", "--manifest-path", manifest];
        args.extend_from_slice(extra);
        let command = pty_harness::PtyChild::spawn(cli::binary(), &args, &[("NO_COLOR", "1")]);
        command.wait_for("invalid header: 0xffffffff", wait);
        command
    };
    let mut pty = monitor(&[]);
    assert!(
        pty.shown().contains("Ctrl+R resets the chip, Ctrl+X exits"),
        "{}",
        pty.shown()
    );
    pty.send(&[0x1d]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        pty.running(),
        "Ctrl+] goes to the chip now:\n{}",
        pty.shown()
    );
    pty.send(&[0x14, b'h']);
    pty.wait_for("Ctrl+T F        rebuild", wait);
    assert!(
        pty.shown().contains("Ctrl+X          exit"),
        "{}",
        pty.shown()
    );
    pty.send(&[0x18]);
    assert!(pty.wait_exit(wait).success(), "{}", pty.shown());

    // The flag wins over Cargo.toml; Ctrl+T X exits too.
    let mut pty = monitor(&["--exit-key", "ctrl+q"]);
    assert!(pty.shown().contains("Ctrl+Q exits"), "{}", pty.shown());
    pty.send(&[0x18]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(pty.running(), "Ctrl+X goes to the chip:\n{}", pty.shown());
    pty.send(&[0x14, b'x']);
    assert!(pty.wait_exit(wait).success(), "{}", pty.shown());

    // --ctrl-c-exits.
    let mut pty = monitor(&["--ctrl-c-exits"]);
    assert!(
        pty.shown().contains("Ctrl+X or Ctrl+C exits"),
        "{}",
        pty.shown()
    );
    pty.send(&[0x03]);
    assert!(pty.wait_exit(wait).success(), "{}", pty.shown());
}
