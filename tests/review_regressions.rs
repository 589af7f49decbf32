//! Regressions found by reviewing issues 4 and 5 from the outside: each test drives the command
//! line the way a user did when the bug showed, and checks the one-line error (or the result)
//! the user should have got instead.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;

use std::path::Path;

use cargo_esp32s3::exit;

use cli::{Outcome, Run};
use synthetic_elf::synthetic_bootloader as bootable_image;

/// Run our binary in `dir` with `args` and the `ESP32S3_*` settings in `env` (the harness drops
/// the caller's).
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    Run::new(dir, args).envs(env).run()
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
            let line = output.fails(exit::CONFIG, &[]);
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
    let line = output.fails(exit::CONNECT, &[]);
    assert_eq!(
        line,
        format!(
            "error[ES0003]: cannot serve on 127.0.0.1:{port}: another program listens there; choose another port, or --rfc2217 0 for a free one"
        )
    );
    assert!(
        output.stdout.is_empty(),
        "no URL is printed for a server that is not there"
    );
}

/// Issue 4's `flash --monitor` line, from a chip that boots its (blank) flash like a board just
/// plugged in, so only the reset dance gets it into download mode (the monitor suite's chips
/// start in download mode and would connect without one): over `sim://?mode=spi` and over
/// `rfc2217://` to the simulator's server. The connect must really reset (no "not reset"
/// warning), then the flashed image's boot after the hard reset is what the monitor shows.
#[test]
fn flash_monitor_from_a_chip_booting_its_flash_does_the_reset_dance() {
    use cargo_esp32s3::sim::rfc2217::Rfc2217Server;
    use cargo_esp32s3::sim::{Esp32s3, SimConfig, StartIn};
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fw.bin"), bootable_image()).expect("write image");
    let flash_monitor = |port: &str| {
        run(
            dir.path(),
            &[
                "flash",
                "--port",
                port,
                "fw.bin",
                // The image lands exactly as it is (its header not sized for the chip).
                "--flash-size",
                "keep",
                "--monitor",
                "--non-interactive",
                "--until",
                "^entry 0x403c8000$",
                "--timeout",
                "60",
            ],
            &[],
        )
    };
    let check = |what: &str, output: &Outcome| {
        output.succeeds();
        let (stdout, stderr) = (&output.stdout, &output.stderr);
        assert!(!stderr.contains("not reset"), "{what}: {stderr}");
        assert!(stderr.contains("Hash of data verified"), "{what}: {stderr}");
        let log: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("---")).collect();
        assert_eq!(
            log.first().copied(),
            Some("ESP-ROM:esp32s3-20210327"),
            "{what}: the boot log after the hard reset comes first:\n{stdout}"
        );
        assert!(
            log.contains(&"rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)"),
            "{what}:\n{stdout}"
        );
        assert!(!stdout.contains("invalid header"), "{what}:\n{stdout}");
        assert!(
            !stdout.contains("waiting for download"),
            "{what}:\n{stdout}"
        );
        assert_eq!(
            log.last().copied(),
            Some("entry 0x403c8000"),
            "{what}:\n{stdout}"
        );
    };

    check("sim://?mode=spi", &flash_monitor("sim://?mode=spi"));

    let chip = Esp32s3::new(SimConfig {
        start_in: StartIn::SpiBoot,
        ..SimConfig::default()
    })
    .expect("chip");
    let server = Rfc2217Server::bind(chip, 0).expect("bind");
    let url = server.url();
    let stop = server.stop_handle();
    let serving = std::thread::spawn(move || server.serve());
    let output = flash_monitor(&url);
    stop.stop();
    let chip = serving.join().expect("server thread").expect("served");
    check(&url, &output);
    assert!(
        chip.resets() >= 2,
        "the connect reset and the hard reset reached the pins"
    );
    let image = bootable_image();
    assert!(
        chip.flash().read_vec(0, image.len()) == image,
        "the image is at 0x0 of the served chip"
    );
}

/// `flash --no-verify` (or `verify = false` from anywhere) reads nothing back, so its summary
/// says so instead of reading like the verified success of a normal flash.
#[test]
fn an_unverified_flash_says_so_in_its_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fw.bin"), bootable_image()).expect("write image");
    let summary = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["flash", "--port", "sim://", "fw.bin"];
        all.extend_from_slice(args);
        run(dir.path(), &all, env).succeeds().stderr.clone()
    };
    for stderr in [
        summary(&["--no-verify"], &[]),
        summary(&[], &[("ESP32S3_VERIFY", "false")]),
    ] {
        assert!(!stderr.contains("verified."), "{stderr}");
        assert!(
            stderr.contains("Flashed 1 region in ")
                && stderr.contains(" (not verified: verification is off)"),
            "{stderr}"
        );
    }
    let stderr = summary(&[], &[]);
    assert!(stderr.contains("Hash of data verified."), "{stderr}");
    assert!(!stderr.contains("not verified"), "{stderr}");
}

/// An empty `ESP32S3_MONITOR_UNTIL` / `ESP32S3_MONITOR_TIMEOUT` counts as unset, like every other
/// `ESP32S3_*` variable. Before, the empty pattern matched the first line (exit 0 before the
/// chip had booted: a CI check that passes without checking) and the empty timeout was refused.
#[test]
fn empty_monitor_variables_count_as_unset() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Empty --until from the environment, a real one from the flag's absence: the timeout from
    // the environment decides, so the run must last and end with exit 8.
    let started = std::time::Instant::now();
    let output = run(
        dir.path(),
        &["monitor", "--port", "sim://?mode=spi"],
        &[
            ("ESP32S3_MONITOR_UNTIL", ""),
            ("ESP32S3_MONITOR_TIMEOUT", "1"),
        ],
    );
    let line = output.fails(exit::MONITOR_TIMEOUT, &[]);
    assert_eq!(line, "error[ES0005]: the monitor's --timeout of 1 s passed");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));

    // Empty timeout, real pattern: no error about the timeout, the pattern ends the run.
    let output = run(
        dir.path(),
        &["monitor", "--port", "sim://", "--until", "^invalid header"],
        &[("ESP32S3_MONITOR_TIMEOUT", "")],
    );
    output.succeeds();
}

/// `rfc2217://` pointed at a plain TCP echo server (a raw bridge, a mistyped port) used to end
/// in "did not acknowledge the baud rate": the echo passed for telnet negotiation. The client
/// request coming back is recognised and the error says to use socket:// for a raw server.
#[test]
fn rfc2217_to_an_echo_server_says_it_is_not_an_rfc2217_server() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let url = format!("rfc2217://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(buf.get(..n).unwrap_or_default()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        vec!["board-info", "--port", url.as_str()],
        vec!["monitor", "--port", url.as_str(), "--timeout", "5"],
    ] {
        let started = std::time::Instant::now();
        let output = run(dir.path(), &args, &[]);
        output.fails(
            exit::CONNECT,
            &["is not an RFC 2217 server; for a raw TCP bridge use socket:// instead"],
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "recognised at once, not after the acknowledgement wait"
        );
    }
}

/// `partition-table FILE -o OUT` without saying which format to write is a usage mistake (exit 2,
/// like any other bad combination of flags), not an image error, and nothing is written.
#[test]
fn partition_table_output_without_a_format_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("p.csv"),
        "nvs, data, nvs, 0x9000, 0x6000\nfactory, app, factory, 0x10000, 1M\n",
    )
    .expect("write csv");
    run(dir.path(), &["partition-table", "p.csv", "-o", "out"], &[])
        .fails(exit::USAGE, &["-o needs --to-binary or --to-csv"]);
    assert!(!dir.path().join("out").exists());
}
