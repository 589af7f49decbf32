//! The monitor for Rust firmware: defmt frames (esp-println's `defmt-espflash` framing) decoded
//! with the table of an ELF these tests write themselves (`support/defmt_elf.rs`), with text
//! between the frames, frames split across reads, a mismatched ELF told once; the ELF's own
//! word on its log format, `--log-format` and `--output-format`; log levels coloured and
//! filtered (`--log-level`, `--filter`), plain with `NO_COLOR` and in a pipe. The virtual chip
//! plays the firmware's output after it boots (`sim://?console=FILE`).

use std::path::Path;

use cargo_esp32s3::exit;
use cargo_esp32s3::monitor::defmt::{DefmtDecoder, LogFormat, OutputFormat, detect_log_format};
use cargo_esp32s3::monitor::{Control, MonitorEvent, Session, WatchOptions};
use cargo_esp32s3::transport::Transport as _;
use cargo_esp32s3::transport::sim::SimTransport;

#[path = "support/cli.rs"]
mod cli;
use cli::{Outcome, Run};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;

#[path = "support/defmt_elf.rs"]
mod defmt_elf;
use defmt_elf::{DefmtFirmware, Statement, frame, payload};

/// The firmware: five statements in four functions of three modules, DWARF placing them.
fn firmware() -> DefmtFirmware {
    DefmtFirmware {
        statements: vec![
            Statement::new("defmt_info", "temp {=u8} C", "app::sensor::read", 12),
            Statement::new(
                "defmt_warn",
                "battery low: {=u16} mV",
                "app::power::check",
                30,
            ),
            Statement::new("defmt_println", "hello from defmt", "app::main", 5),
            Statement::new(
                "defmt_error",
                "wifi failed: {=str}",
                "app::net::connect",
                77,
            ),
            Statement::new("defmt_debug", "tick {=u32}", "app::main", 9),
        ],
        dwarf: true,
        ..DefmtFirmware::default()
    }
}

/// What the firmware prints: text and frames mixed, a frame right after an unfinished line.
fn console_stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"boot ok\r\n");
    s.extend(frame(&payload(0, None, &[21])));
    s.extend_from_slice(b"plain line\r\n");
    s.extend(frame(&payload(1, None, &3100u16.to_le_bytes())));
    s.extend(frame(&payload(2, None, &[])));
    s.extend_from_slice(b"partial");
    let mut text = 7u32.to_le_bytes().to_vec();
    text.extend_from_slice(b"timeout");
    s.extend(frame(&payload(3, None, &text)));
    s.extend_from_slice(b"I (100) wifi: connected\r\n");
    s.extend(frame(&payload(4, None, &7u32.to_le_bytes())));
    s.extend_from_slice(b"tail\r\n");
    s
}

/// What the monitor makes of [`console_stream`], in order (with the default one-line format).
const DECODED: [&str; 10] = [
    "line boot ok",
    "defmt [INFO ] temp 21 C (app app/src/main.rs:12)",
    "line plain line",
    "defmt [WARN ] battery low: 3100 mV (app app/src/main.rs:30)",
    "defmt hello from defmt",
    "line partial",
    "defmt [ERROR] wifi failed: timeout (app app/src/main.rs:77)",
    "line I (100) wifi: connected",
    "defmt [DEBUG] tick 7 (app app/src/main.rs:9)",
    "line tail",
];

/// Feed `chunks` through a session with `decoder`; the lines, frames and hints it delivered.
fn session_events(decoder: DefmtDecoder, chunks: &[&[u8]]) -> Vec<String> {
    let options = WatchOptions {
        defmt: Some(decoder),
        hints: true,
        ..WatchOptions::default()
    };
    let mut session = Session::new(&options);
    let mut seen = Vec::new();
    let mut record = |event: MonitorEvent<'_>| {
        match event {
            MonitorEvent::Line(l) => seen.push(format!("line {l}")),
            MonitorEvent::Defmt(d) => seen.push(format!("defmt {}", d.text)),
            MonitorEvent::Hint(h) => seen.push(format!("hint {h}")),
            MonitorEvent::Received(_) | MonitorEvent::Address { .. } => {}
        }
        Control::Continue
    };
    for chunk in chunks {
        assert_eq!(session.feed(chunk, &mut record), None);
    }
    session.finish(&mut record);
    seen
}

fn decoder() -> DefmtDecoder {
    DefmtDecoder::from_elf(&firmware().elf(), None).expect("the test firmware's table")
}

#[test]
fn frames_decode_exactly_between_text_at_every_split() {
    let stream = console_stream();
    assert_eq!(session_events(decoder(), &[&stream]), DECODED);
    for cut in 1..stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(session_events(decoder(), &[a, b]), DECODED, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(session_events(decoder(), &bytes), DECODED, "byte by byte");
}

/// The virtual chip boots the synthetic image and then prints `console`.
fn chip_url(dir: &Path, console: &[u8]) -> String {
    let flash = dir.join("flash.bin");
    std::fs::write(&flash, synthetic_elf::synthetic_offset0_image()).expect("flash file");
    let file = dir.join("console.bin");
    std::fs::write(&file, console).expect("console file");
    format!(
        "sim://?mode=spi&flash={}&console={}",
        flash.display(),
        file.display()
    )
}

#[test]
fn frames_from_the_virtual_chip_read_a_few_bytes_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut chip = SimTransport::open(&chip_url(dir.path(), &console_stream())).expect("sim");
    let mut chunks = Vec::new();
    let mut buf = [0u8; 5];
    loop {
        let n = chip
            .read(&mut buf, std::time::Instant::now())
            .expect("read");
        if n == 0 {
            break;
        }
        chunks.push(buf[..n].to_vec());
    }
    let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    let seen = session_events(decoder(), &chunks);
    // The boot log, then exactly what the firmware printed.
    let start = seen
        .iter()
        .position(|l| l == "line boot ok")
        .expect("the app's output");
    assert!(seen[..start].iter().any(|l| l.starts_with("line entry 0x")));
    assert_eq!(seen[start..], DECODED);
}

fn monitor(dir: &Path, url: &str, extra: &[&str]) -> Outcome {
    let mut args = vec![
        "monitor",
        "--port",
        url,
        "--non-interactive",
        "--until",
        "tail$",
        "--timeout",
        "20",
    ];
    args.extend_from_slice(extra);
    Run::new(dir, &args).run()
}

/// The lines the monitor printed after the boot log.
fn app_lines(out: &Outcome) -> Vec<&str> {
    let lines: Vec<&str> = out.stdout.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "boot ok")
        .unwrap_or_else(|| panic!("no app output:\n{}", out.dump()));
    lines[start..].to_vec()
}

fn texts(decoded: &[&str]) -> Vec<String> {
    decoded
        .iter()
        .map(|l| l.split_once(' ').map(|(_, t)| t).unwrap_or(l).to_string())
        .collect()
}

#[test]
fn monitor_decodes_defmt_with_the_elf_it_is_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fw.elf"), firmware().elf()).expect("ELF");
    let url = chip_url(dir.path(), &console_stream());
    // The ELF has a .defmt table: decoded without a flag, and said so.
    let out = monitor(dir.path(), &url, &["--elf", "fw.elf"]);
    out.succeeds();
    assert_eq!(app_lines(&out), texts(&DECODED));
    out.stderr_has(&["decoding defmt frames with the table in fw.elf"]);
    assert!(!out.stdout.contains('\u{1b}'), "no colours in a pipe");

    // --output-format takes a defmt log format.
    let out = monitor(
        dir.path(),
        &url,
        &["--elf", "fw.elf", "--output-format", "{L:<1}|{m}|{s}"],
    );
    out.succeeds();
    let lines = app_lines(&out);
    assert!(
        lines.contains(&"INFO|app::sensor::read|temp 21 C"),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"ERROR|app::net::connect|wifi failed: timeout"),
        "{lines:?}"
    );
    assert!(lines.contains(&"hello from defmt"), "println: {lines:?}");
    let bad = monitor(
        dir.path(),
        &url,
        &["--elf", "fw.elf", "--output-format", "{L}"],
    );
    bad.fails(exit::USAGE, &["--output-format \"{L}\"", "no {s}"]);

    // --log-format plain leaves the frames alone: no decoded line.
    let out = monitor(
        dir.path(),
        &url,
        &["--elf", "fw.elf", "--log-format", "plain"],
    );
    out.succeeds();
    assert!(!out.stdout.contains("temp 21 C"), "{}", out.stdout);
    assert!(out.stdout.contains("plain line"), "{}", out.stdout);
}

#[test]
fn the_elf_says_how_its_firmware_logs() {
    let with_table = firmware();
    assert_eq!(
        detect_log_format(&with_table.elf()).ok(),
        Some(LogFormat::Defmt)
    );
    let says_serial = DefmtFirmware {
        log_format: Some("serial"),
        ..firmware()
    };
    assert_eq!(
        detect_log_format(&says_serial.elf()).ok(),
        Some(LogFormat::Plain)
    );
    let says_defmt = DefmtFirmware {
        log_format: Some("defmt-espflash"),
        ..firmware()
    };
    assert_eq!(
        detect_log_format(&says_defmt.elf()).ok(),
        Some(LogFormat::Defmt)
    );
    let no_defmt = DefmtFirmware {
        no_table: true,
        ..firmware()
    };
    assert_eq!(
        detect_log_format(&no_defmt.elf()).ok(),
        Some(LogFormat::Plain)
    );
    assert!(detect_log_format(b"not an ELF").is_err());
    // Without DWARF the lines have no location.
    let bare = DefmtFirmware {
        dwarf: false,
        ..firmware()
    };
    let decoder = DefmtDecoder::from_elf(&bare.elf(), None).expect("table");
    assert!(!decoder.has_locations());
    let bytes = frame(&payload(0, None, &[21]));
    let line = decoder.decode(&bytes[2..bytes.len() - 1]).expect("decodes");
    assert_eq!(line.text, "[INFO ] temp 21 C");
    // A timestamp, shown first.
    let stamped = DefmtFirmware {
        timestamp: Some("{=u64:ms}"),
        dwarf: false,
        ..firmware()
    };
    let decoder =
        DefmtDecoder::from_elf(&stamped.elf(), Some(OutputFormat::default())).expect("table");
    let bytes = frame(&payload(0, Some(1250), &[21]));
    let line = decoder.decode(&bytes[2..bytes.len() - 1]).expect("decodes");
    assert_eq!(line.timestamp.as_deref(), Some("1.250"));
    assert_eq!(line.text, "1.250 [INFO ] temp 21 C");

    let dir = tempfile::tempdir().expect("tempdir");
    let url = chip_url(dir.path(), &console_stream());
    std::fs::write(dir.path().join("serial.elf"), says_serial.elf()).expect("ELF");
    std::fs::write(dir.path().join("plain.elf"), no_defmt.elf()).expect("ELF");
    // The metadata says serial: no decoding unless asked for.
    let out = monitor(dir.path(), &url, &["--elf", "serial.elf"]);
    out.succeeds();
    assert!(!out.stdout.contains("temp 21 C"), "{}", out.stdout);
    let out = monitor(
        dir.path(),
        &url,
        &["--elf", "serial.elf", "--log-format", "defmt"],
    );
    out.succeeds();
    assert_eq!(app_lines(&out), texts(&DECODED));
    // defmt asked for, but no table, or no ELF: one line that says what to do.
    let out = monitor(
        dir.path(),
        &url,
        &["--elf", "plain.elf", "--log-format", "defmt"],
    );
    out.fails(exit::IMAGE, &["has no defmt table", "--log-format plain"]);
    let out = monitor(dir.path(), &url, &["--log-format", "defmt"]);
    out.fails(
        exit::USAGE,
        &["--log-format defmt needs the firmware's ELF", "--elf"],
    );
}

#[test]
fn a_mismatched_elf_is_told_once_and_the_text_goes_on() {
    // Another firmware's table: its only statement wants eight bytes.
    let other = DefmtFirmware {
        statements: vec![Statement::new("defmt_info", "{=u64} ticks", "other", 1)],
        ..DefmtFirmware::default()
    };
    let mut stream = console_stream();
    for i in 0..50u8 {
        stream.extend(frame(&payload(0, None, &[i])));
        stream.extend_from_slice(b"x\r\n");
    }
    // Not even rzCOBS.
    stream.extend_from_slice(b"\xff\x00\x01\x00");
    stream.extend_from_slice(b"tail\r\n");
    let decoder = DefmtDecoder::from_elf(&other.elf(), None).expect("table");
    let seen = session_events(decoder, &[&stream]);
    let hints: Vec<&String> = seen.iter().filter(|l| l.starts_with("hint ")).collect();
    assert_eq!(hints.len(), 1, "{seen:?}");
    assert!(
        hints[0].contains("flash the ELF you monitor, or pass --elf"),
        "{hints:?}"
    );
    assert!(!seen.iter().any(|l| l.starts_with("defmt ")), "{seen:?}");
    assert!(seen.contains(&"line plain line".to_string()));
    assert_eq!(seen.iter().filter(|l| *l == "line x").count(), 50);

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("other.elf"), other.elf()).expect("ELF");
    let url = chip_url(dir.path(), &stream);
    let out = monitor(dir.path(), &url, &["--elf", "other.elf"]);
    out.succeeds();
    assert_eq!(
        out.stderr.matches("does not decode").count(),
        1,
        "{}",
        out.stderr
    );
    out.stderr_has(&["flash the ELF you monitor, or pass --elf"]);
    assert!(out.stdout.contains("plain line"));
}

#[test]
fn levels_and_tags_filter_lines_and_frames() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fw.elf"), firmware().elf()).expect("ELF");
    let url = chip_url(dir.path(), &console_stream());
    let shown = |extra: &[&str]| {
        let mut args = vec!["--elf", "fw.elf"];
        args.extend_from_slice(extra);
        let out = monitor(dir.path(), &url, &args);
        out.succeeds();
        app_lines(&out)
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shown(&["--log-level", "warn"]),
        [
            "boot ok",
            "plain line",
            "[WARN ] battery low: 3100 mV (app app/src/main.rs:30)",
            "hello from defmt",
            "partial",
            "[ERROR] wifi failed: timeout (app app/src/main.rs:77)",
            "tail",
        ]
    );
    assert_eq!(
        shown(&["--filter", "app::net", "--filter", "wifi"]),
        [
            "boot ok",
            "plain line",
            "hello from defmt",
            "partial",
            "[ERROR] wifi failed: timeout (app app/src/main.rs:77)",
            "I (100) wifi: connected",
            "tail",
        ]
    );
    // `app` keeps its submodules.
    assert_eq!(shown(&["--filter", "app", "--log-level", "debug"]).len(), 9);
    let out = monitor(dir.path(), &url, &["--log-level", "loud"]);
    out.fails(exit::USAGE, &["--log-level \"loud\" is not a log level"]);
}

/// What a firmware with ESP-IDF's and esp-println's log lines prints, one line coloured by the
/// firmware itself, and a prompt at the end.
fn coloured_console() -> Vec<u8> {
    let mut s = b"E (10) app: disk failed\r\nW (11) app: low space\r\nI (12) app: ready\r\nWARN - from log\r\n\x1b[0;32mI (13) app: own colour\x1b[0m\r\n".to_vec();
    s.extend(frame(&payload(3, None, &[2, 0, 0, 0, b'n', b'o'])));
    s.extend_from_slice(b"tail\r\napp> ");
    s
}

#[test]
fn a_pipe_gets_plain_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fw.elf"), firmware().elf()).expect("ELF");
    let url = chip_url(dir.path(), &coloured_console());
    let out = monitor(dir.path(), &url, &["--elf", "fw.elf"]);
    out.succeeds();
    // Only the firmware's own colour codes, unchanged.
    assert_eq!(out.stdout.matches('\u{1b}').count(), 2, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("\u{1b}[0;32mI (13) app: own colour\u{1b}[0m\n")
    );
    assert!(out.stdout.contains("\nE (10) app: disk failed\n"));
}

#[cfg(unix)]
#[path = "support/pty_harness.rs"]
mod pty_harness;

/// In a terminal, lines are coloured by level (ESP-IDF's, esp-println's and defmt's), the
/// firmware's own colours pass unchanged, and `NO_COLOR` turns colours off; the same with
/// `--non-interactive` on a terminal.
#[cfg(unix)]
#[test]
fn a_terminal_gets_colours_by_level_unless_no_color() {
    let dir = tempfile::tempdir().expect("tempdir");
    let elf = dir.path().join("fw.elf");
    std::fs::write(&elf, firmware().elf()).expect("ELF");
    let url = chip_url(dir.path(), &coloured_console());
    let elf = elf.to_str().expect("utf-8");
    let wait = std::time::Duration::from_secs(20);
    for interactive in [true, false] {
        let mut args = vec!["monitor", "--port", url.as_str(), "--elf", elf];
        if !interactive {
            args.extend(["--non-interactive", "--until", "^tail$"]);
        }
        let mut pty = pty_harness::PtyChild::spawn_without(
            cli::binary(),
            &args,
            &[("TERM", "xterm")],
            &["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"],
        );
        pty.wait_for("tail", wait);
        let shown = pty.shown();
        for coloured in [
            "\u{1b}[31mE (10) app: disk failed\u{1b}[0m",
            "\u{1b}[33mW (11) app: low space\u{1b}[0m",
            "\u{1b}[32mI (12) app: ready\u{1b}[0m",
            "\u{1b}[33mWARN - from log\u{1b}[0m",
            "\u{1b}[0;32mI (13) app: own colour\u{1b}[0m",
            "\u{1b}[31m[ERROR] wifi failed: no (app app/src/main.rs:77)\u{1b}[0m",
        ] {
            assert!(shown.contains(coloured), "{coloured:?} in {shown:?}");
        }
        assert!(
            !shown.contains("\u{1b}[0;32m\u{1b}[32m"),
            "no colour on colour"
        );
        if interactive {
            // An unfinished line (a prompt) still shows once the chip is quiet, and what is
            // typed is echoed after it as it comes.
            pty.wait_for("app> ", wait);
            pty.send(b"xy");
            pty.wait_for("app> xy", wait);
            pty.send(&[0x1d]);
        }
        assert!(pty.wait_exit(wait).success(), "{shown}");

        let mut pty = pty_harness::PtyChild::spawn(
            cli::binary(),
            &args,
            &[("TERM", "xterm"), ("NO_COLOR", "1")],
        );
        pty.wait_for("tail", wait);
        let shown = pty.shown();
        assert!(shown.contains("E (10) app: disk failed"), "{shown}");
        assert!(!shown.contains("\u{1b}[31m"), "{shown:?}");
        if interactive {
            pty.send(&[0x1d]);
        }
        assert!(pty.wait_exit(wait).success(), "{shown}");
    }
}
