//! Regressions found by reviewing issues 4 and 5 from the outside: each test drives the command
//! line the way a user did when the bug showed, and checks the one-line error (or the result)
//! the user should have got instead.

use std::path::Path;
use std::process::{Command, Output};

/// Run our binary in `dir` with `args`, with no `ESP32S3_*` settings from the caller's shell
/// except the ones in `env`.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-esp32s3"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ESP32S3_") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run cargo-esp32s3")
}

/// The exit code and the single `error:` line of a failed run (no panic, nothing else on
/// stderr).
fn single_error(output: &Output) -> (Option<i32>, String) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{stderr}");
    let line = lines.first().copied().unwrap_or_default();
    assert!(line.starts_with("error: "), "{line}");
    (output.status.code(), line.to_string())
}

/// A custom reset sequence whose step starts with a character outside ASCII used to panic
/// (the step was split at byte 1); it is a configuration error naming the step.
#[test]
fn a_reset_sequence_with_a_non_ascii_step_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (sequence, step) in [("é1|R0", "\"é1\""), ("D0|R1|W0.1|→", "\"→\"")] {
        for variable in ["ESP32S3_RESET_SEQUENCE", "ESP32S3_HARD_RESET_SEQUENCE"] {
            let output = run(
                dir.path(),
                &["board-info", "--port", "sim://"],
                &[(variable, sequence)],
            );
            let (code, line) = single_error(&output);
            assert_eq!(code, Some(3), "{line}");
            assert!(line.contains(variable), "{line}");
            assert!(line.contains(&format!("unknown step {step}")), "{line}");
        }
    }
}

/// `sim --rfc2217 PORT` on a port another program listens on names the port and says what to
/// do, instead of "I/O error on sim: ...".
#[test]
fn sim_rfc2217_on_a_busy_port_names_the_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = busy.local_addr().expect("address").port().to_string();
    let output = run(dir.path(), &["sim", "--rfc2217", &port], &[]);
    let (code, line) = single_error(&output);
    assert_eq!(code, Some(6), "{line}");
    assert_eq!(
        line,
        format!(
            "error: cannot serve on 127.0.0.1:{port}: another program listens there; choose another port, or --rfc2217 0 for a free one"
        )
    );
    assert!(
        output.stdout.is_empty(),
        "no URL is printed for a server that is not there"
    );
}
