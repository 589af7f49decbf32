//! The serial monitor: address decoding against a synthetic ELF (symbol table only) and the real
//! ESP-IDF hello_world ELF (DWARF file:line); the library's `watch` over `sim://` (boot log,
//! hints once, `until`, timeout, callback stop); and the CLI end to end (`monitor` and
//! `flash --monitor`, non-interactive, against the in-process simulator). On Unix the interactive
//! monitor also runs in a pseudo-terminal (`support/pty_harness.rs`): keys (Ctrl+R, Ctrl+C,
//! Ctrl+]), raw mode while it runs, and the terminal restored on exit and on SIGTERM/SIGHUP; those
//! tests are `#[cfg(unix)]`, as a pty is.

use std::path::Path;
use std::time::{Duration, Instant};

use cargo_esp32s3::exit;
use cargo_esp32s3::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions, watch};
use cargo_esp32s3::symbols::Symbols;
use cargo_esp32s3::transport::sim::SimTransport;

#[path = "support/cli.rs"]
mod cli;
use cli::{Outcome, Run};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;

#[path = "support/testdata.rs"]
mod testdata;
use testdata::testdata;

/// A relocatable Xtensa ELF with a symbol table and no DWARF: a C function, a mangled Rust
/// function and a ROM function the linker script provides (absolute, no size).
fn elf_with_symbols() -> Vec<u8> {
    use object::write::{Object, Symbol, SymbolSection};
    use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};
    let mut elf = Object::new(BinaryFormat::Elf, Architecture::Xtensa, Endianness::Little);
    let text = elf.add_section(Vec::new(), b".text".to_vec(), object::SectionKind::Text);
    elf.append_section_data(text, &[0u8; 16], 4);
    let functions: [(&str, u64, u64, SymbolKind); 4] = [
        ("app_main", 0x4200_1000, 0x40, SymbolKind::Text),
        (
            "_ZN5hello5blink17he3b0c44298fc1c14E",
            0x4200_1040,
            0x20,
            SymbolKind::Text,
        ),
        ("ets_printf", 0x4000_0588, 0, SymbolKind::Text),
        ("s_counter", 0x3fc9_0000, 4, SymbolKind::Data),
    ];
    for (name, value, size, kind) in functions {
        elf.add_symbol(Symbol {
            name: name.as_bytes().to_vec(),
            value,
            size,
            kind,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Absolute,
            flags: SymbolFlags::None,
        });
    }
    elf.write().expect("synthetic ELF")
}

#[test]
fn symbol_table_decodes_functions_with_offsets() {
    let symbols = Symbols::from_elf_bytes(&elf_with_symbols()).expect("symbols");
    assert!(!symbols.has_debug_info());
    let check = |addr: u32, expected: Option<&str>| {
        let got = symbols.lookup(addr).map(|l| l.to_string());
        assert_eq!(got.as_deref(), expected, "address 0x{addr:08x}");
    };
    check(0x4200_1000, Some("app_main"));
    check(0x4200_101c, Some("app_main+0x1c"));
    check(0x4200_103f, Some("app_main+0x3f"));
    check(0x4200_1040, Some("hello::blink"));
    check(0x4200_1052, Some("hello::blink+0x12"));
    check(0x4200_1060, None);
    check(0x4200_0ffc, None);
    check(0x4000_0588, Some("ets_printf"));
    check(0x4000_058c, None);
    check(0x3fc9_0000, None);
}

#[test]
fn real_elf_decodes_to_file_and_line() {
    let Some(dir) = testdata() else { return };
    let path = dir.join("firmware/esp-idf-hello_world-esp32s3/hello_world.elf");
    let symbols = Symbols::from_elf_file(&path).expect("hello_world.elf");
    assert!(symbols.has_debug_info());
    let app_main = symbol_address(&path, "app_main");
    let location = symbols.lookup(app_main + 4).expect("app_main is known");
    assert_eq!(location.function.as_deref(), Some("app_main"), "{location}");
    let file = location.file.clone().unwrap_or_default();
    assert!(file.ends_with("hello_world_main.c"), "{location}");
    // The Windows build directory is not glued in front of the absolute source path.
    assert!(
        file.starts_with("D:/") && !file.contains("build"),
        "{location}"
    );
    assert!(location.line.is_some_and(|l| l > 0), "{location}");
    // A stack address decodes to nothing.
    assert_eq!(symbols.lookup(0x3fc9_8e50), None);
}

#[test]
fn missing_or_wrong_elf_is_one_line_error() {
    let err = Symbols::from_elf_file(Path::new("/nonexistent/fw.elf")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read ELF /nonexistent/fw.elf"),
        "{err}"
    );
    let err = Symbols::from_elf_bytes(&[0xE9; 64]).unwrap_err();
    assert!(err.to_string().contains("not an ELF file"), "{err}");
    assert!(!err.to_string().contains('\n'));
}

/// The address of a symbol, read with `object` directly (independent of `Symbols`).
fn symbol_address(path: &Path, name: &str) -> u32 {
    use object::{Object as _, ObjectSymbol as _};
    let bytes = std::fs::read(path).expect("ELF");
    let elf = object::File::parse(&*bytes).expect("parse");
    let symbol = elf
        .symbols()
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("{name} not in the ELF"));
    u32::try_from(symbol.address()).expect("32-bit address")
}

/// Watch a transport and collect what was delivered, rendered as text; stop after
/// `stop_after_lines` lines when given.
fn watch_rendered(
    transport: &mut impl cargo_esp32s3::transport::Transport,
    options: &WatchOptions,
    stop_after_lines: Option<usize>,
) -> (Vec<String>, WatchEnd) {
    let mut seen = Vec::new();
    let mut lines = 0;
    let end = watch(transport, options, &mut |event| {
        match event {
            MonitorEvent::Received(_) => {}
            MonitorEvent::Line(l) => {
                seen.push(format!("line {l}"));
                lines += 1;
                if stop_after_lines == Some(lines) {
                    return Control::Stop;
                }
            }
            MonitorEvent::Hint(h) => seen.push(format!("hint {h}")),
            MonitorEvent::Address { addr, location } => {
                seen.push(format!("addr 0x{addr:08x} {location}"))
            }
            MonitorEvent::Defmt(line) => seen.push(format!("defmt {}", line.text)),
        }
        Control::Continue
    })
    .expect("watch");
    (seen, end)
}

#[test]
fn watch_blank_chip_gives_the_invalid_header_hint_once_and_times_out() {
    let mut sim = SimTransport::open("sim://?mode=spi").expect("sim");
    let options = WatchOptions {
        timeout: Some(Duration::from_millis(300)),
        hints: true,
        ..WatchOptions::default()
    };
    let started = Instant::now();
    let (seen, end) = watch_rendered(&mut sim, &options, None);
    assert_eq!(end, WatchEnd::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        seen.iter().any(|l| l == "line invalid header: 0xffffffff"),
        "{seen:?}"
    );
    let hints: Vec<_> = seen.iter().filter(|l| l.starts_with("hint ")).collect();
    assert_eq!(hints.len(), 1, "{seen:?}");
    assert!(hints[0].contains("belongs at 0x0"), "{seen:?}");
}

#[test]
fn watch_stops_on_until_and_on_the_callback() {
    let options = WatchOptions {
        until: regex::Regex::new(r"^rst:0x1 \(POWERON\)").ok(),
        timeout: Some(Duration::from_secs(5)),
        ..WatchOptions::default()
    };
    let mut sim = SimTransport::open("sim://?mode=spi").expect("sim");
    let (seen, end) = watch_rendered(&mut sim, &options, None);
    assert_eq!(
        end,
        WatchEnd::Matched {
            line: "rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)".into()
        },
        "{seen:?}"
    );
    assert_eq!(
        seen.first().map(String::as_str),
        Some("line ESP-ROM:esp32s3-20210327")
    );

    let mut sim = SimTransport::open("sim://?mode=spi").expect("sim");
    let (seen, end) = watch_rendered(&mut sim, &WatchOptions::default(), Some(2));
    assert_eq!(end, WatchEnd::Stopped);
    assert_eq!(seen.len(), 2, "{seen:?}");
}

/// A scripted serial line for the watch tests. It delivers `incoming` chunk by chunk; what the
/// host writes is kept in `sent` and, with `echo`, delivered back after what is queued (a
/// console with echo, one poll later). Once the queue is empty it is silent, or with `hang_up`
/// the port is gone (the end of a recording).
#[derive(Default)]
struct ScriptedLine {
    incoming: std::collections::VecDeque<Vec<u8>>,
    sent: Vec<u8>,
    echo: bool,
    hang_up: bool,
}

impl ScriptedLine {
    /// A recording of what a chip printed, played back in `chunks`, then the port is gone.
    fn playback(chunks: &[&str]) -> Self {
        ScriptedLine {
            incoming: chunks.iter().map(|c| c.as_bytes().to_vec()).collect(),
            hang_up: true,
            ..ScriptedLine::default()
        }
    }

    /// A chip that echoes what it is sent.
    fn echo() -> Self {
        ScriptedLine {
            echo: true,
            ..ScriptedLine::default()
        }
    }
}

impl cargo_esp32s3::transport::Transport for ScriptedLine {
    fn read(
        &mut self,
        buf: &mut [u8],
        _deadline: Instant,
    ) -> Result<usize, cargo_esp32s3::transport::TransportError> {
        let Some(chunk) = self.incoming.pop_front() else {
            if self.hang_up {
                return Err(cargo_esp32s3::transport::TransportError::Disconnected {
                    port: "playback".into(),
                    detail: "end of recording".into(),
                });
            }
            return Ok(0);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n < chunk.len() {
            self.incoming.push_front(chunk[n..].to_vec());
        }
        Ok(n)
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), cargo_esp32s3::transport::TransportError> {
        self.sent.extend_from_slice(bytes);
        if self.echo {
            self.incoming.push_back(bytes.to_vec());
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), cargo_esp32s3::transport::TransportError> {
        Ok(())
    }
    fn clear_input(&mut self) -> Result<(), cargo_esp32s3::transport::TransportError> {
        Ok(())
    }
    fn set_dtr(&mut self, _: bool) -> Result<(), cargo_esp32s3::transport::TransportError> {
        Ok(())
    }
    fn set_rts(&mut self, _: bool) -> Result<(), cargo_esp32s3::transport::TransportError> {
        Ok(())
    }
    fn set_baud(&mut self, _: u32) -> Result<(), cargo_esp32s3::transport::TransportError> {
        Ok(())
    }
    fn baud(&self) -> u32 {
        115_200
    }
    fn describe(&self) -> String {
        "scripted line".into()
    }
    fn time(&self) -> cargo_esp32s3::transport::LinkTime {
        cargo_esp32s3::transport::LinkTime::Wall
    }
}

/// Play `chunks` through `watch` with `symbols` and return the rendered events and the end.
fn decode_playback(symbols: Symbols, chunks: &[&str]) -> (Vec<String>, WatchEnd) {
    let mut transport = ScriptedLine::playback(chunks);
    let options = WatchOptions {
        symbols: Some(symbols),
        hints: true,
        ..WatchOptions::default()
    };
    watch_rendered(&mut transport, &options, None)
}

#[test]
fn panic_lines_are_decoded_with_the_symbol_table() {
    let symbols = Symbols::from_elf_bytes(&elf_with_symbols()).expect("symbols");
    let (seen, end) = decode_playback(
        symbols,
        &[
            "Guru Meditation Error: Core  0 panic'ed (LoadProhibited).\r\n",
            "PC      : 0x4200101c  PS      : 0x00060630  A0      : 0x82001052\r\n",
            "\r\nBacktrace: 0x4200101c:0x3fc98e50 0x4200",
            "1052:0x3fc98e70 0x40000588:0x3fc98e90 0x4200101c:0x3fc98eb0\r\n",
            "load:0x42001000,len:0x40\r\nentry 0x42001000\r\nELF file SHA256: 0",
        ],
    );
    assert_eq!(end, WatchEnd::Disconnected);
    assert_eq!(
        seen,
        [
            "line Guru Meditation Error: Core  0 panic'ed (LoadProhibited).",
            "line PC      : 0x4200101c  PS      : 0x00060630  A0      : 0x82001052",
            "addr 0x4200101c app_main+0x1c",
            "line ",
            "line Backtrace: 0x4200101c:0x3fc98e50 0x42001052:0x3fc98e70 0x40000588:0x3fc98e90 0x4200101c:0x3fc98eb0",
            "addr 0x4200101c app_main+0x1c",
            "addr 0x42001052 hello::blink+0x12",
            "addr 0x40000588 ets_printf",
            "line load:0x42001000,len:0x40",
            "line entry 0x42001000",
            // The partial last line is delivered when the port goes away.
            "line ELF file SHA256: 0",
        ]
    );
}

#[test]
fn panic_lines_are_decoded_to_file_and_line_with_dwarf() {
    let Some(dir) = testdata() else { return };
    let path = dir.join("firmware/esp-idf-hello_world-esp32s3/hello_world.elf");
    let app_main = symbol_address(&path, "app_main");
    let symbols = Symbols::from_elf_file(&path).expect("hello_world.elf");
    let line = format!(
        "Backtrace: 0x{:08x}:0x3fc98e50 0x3fc98e70:0x00000000\r\n",
        app_main + 8
    );
    let (seen, _) = decode_playback(symbols, &[&line]);
    let decoded: Vec<&String> = seen.iter().filter(|l| l.starts_with("addr ")).collect();
    assert_eq!(decoded.len(), 1, "{seen:?}");
    let text = decoded[0];
    assert!(
        text.starts_with(&format!("addr 0x{:08x} app_main at ", app_main + 8)),
        "{text}"
    );
    // Built on Windows: the recorded directories use both separators.
    let position = text.rsplit(['/', '\\']).next().unwrap_or_default();
    let (file, line_no) = position.split_once(':').expect("file:line");
    assert_eq!(file, "hello_world_main.c", "{text}");
    assert!(line_no.parse::<u32>().is_ok_and(|n| n > 0), "{text}");
}

/// Run the CLI binary with stdin closed (non-interactive), inside `dir`, with extra variables.
fn cli_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    Run::new(dir, args).envs(env).run()
}

fn cli(dir: &Path, args: &[&str]) -> Outcome {
    cli_env(dir, args, &[])
}

/// How often `needle` stands in `text`.
fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// A bootable offset-0 image: MicroPython from the testdata, else a synthetic bootloader (the
/// ROM boots it the same way: banner, `load:` lines, `entry`).
fn bootable_image() -> Vec<u8> {
    testdata::micropython().unwrap_or_else(synthetic_elf::synthetic_bootloader)
}

/// `flash --port PORT fw.bin --monitor --non-interactive --until UNTIL EXTRA...` with
/// [`bootable_image`] as fw.bin.
fn flash_and_monitor(port: &str, until: &str, extra: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fw.bin"), bootable_image()).expect("write image");
    let mut args = vec![
        "flash",
        "--port",
        port,
        "fw.bin",
        "--monitor",
        "--non-interactive",
        "--until",
        until,
    ];
    args.extend_from_slice(extra);
    cli(dir.path(), &args)
}

/// The monitor's log holds exactly one boot, from flash after a power-on reset (not the
/// download-mode banner), ending at the image's `entry`.
fn assert_one_boot_from_flash(log: &str) {
    assert_eq!(count(log, "ESP-ROM:esp32s3"), 1, "{log}");
    assert!(
        log.contains("rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)"),
        "{log}"
    );
    assert!(!log.contains("waiting for download"), "{log}");
    assert!(
        log.trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("entry 0x")),
        "{log}"
    );
}

#[test]
fn flash_monitor_shows_the_boot_log_after_the_reset() {
    let out = flash_and_monitor("sim://", "entry 0x", &[]);
    out.succeeds();
    let log = &out.stdout;
    // Exactly the boot after the reset: booted from flash, not the download-mode banner of the
    // connect (that was dropped when the host switched to the monitor baud).
    assert_one_boot_from_flash(log);
    assert!(log.contains("\nload:0x"), "{log}");
    out.stderr_has(&["Hard resetting"]);
    assert!(!out.stderr.contains("hint:"), "{}", out.stderr);
}

#[test]
fn monitoring_a_blank_chip_gives_the_hint_once_and_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let out = cli(
        dir.path(),
        &["monitor", "--port", "sim://?mode=spi", "--timeout", "1"],
    );
    let error = out.fails(exit::MONITOR_TIMEOUT, &[]);
    assert_eq!(
        error,
        "error[ES0005]: the monitor's --timeout of 1 s passed"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    out.stdout_has(&["invalid header: 0xffffffff"]);
    // Once where the boot loop starts (not once per loop), and once again when the monitor
    // ends, after the log that scrolled it away.
    assert_eq!(count(&out.stderr, "hint:"), 2, "{}", out.stderr);
    out.stderr_has(&["not 0x1000"]);
}

#[test]
fn until_and_timeout_from_flags_and_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    // A match exits 0 (the default sim:// starts in download mode; the monitor's reset boots it
    // from the blank flash).
    let out = cli(
        path,
        &[
            "monitor",
            "--port",
            "sim://",
            "--until",
            r"^invalid header: 0x[0-9a-f]{8}$",
        ],
    );
    out.succeeds();
    assert!(
        !out.stdout.contains("waiting for download"),
        "{}",
        out.stdout
    );
    let out = cli_env(
        path,
        &["monitor", "--port", "sim://"],
        &[
            ("ESP32S3_MONITOR_UNTIL", "SPI_FAST_FLASH_BOOT"),
            ("ESP32S3_MONITOR_TIMEOUT", "10"),
        ],
    );
    out.succeeds();
    assert_eq!(
        out.stdout.lines().last(),
        Some("rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)")
    );
    // No match within the timeout: exit 8, one error line naming the pattern.
    let out = cli_env(
        path,
        &["monitor", "--port", "sim://", "--until", "never printed"],
        &[("ESP32S3_MONITOR_TIMEOUT", "0.5")],
    );
    let error = out.fails(exit::MONITOR_TIMEOUT, &[]);
    assert!(
        error.contains("no line matched --until \"never printed\" within 0.5 s"),
        "{error}"
    );
    // Bad values are usage errors, before the port is opened.
    for (flag, value, needle) in [
        ("--until", "ready (", "is not a valid regular expression"),
        ("--timeout", "soon", "is not a number of seconds"),
        ("--timeout", "0", "is not a number of seconds"),
    ] {
        let out = cli(path, &["monitor", "--port", "sim://", flag, value]);
        let error = out.fails(exit::USAGE, &[]);
        assert!(error.contains(needle), "{error}");
        assert!(!out.stderr.contains("--- monitor on"), "{}", out.stderr);
    }
    // A missing ELF is named.
    let out = cli(
        path,
        &[
            "monitor",
            "--port",
            "sim://",
            "--elf",
            "missing.elf",
            "--timeout",
            "1",
        ],
    );
    out.fails(exit::IMAGE, &["cannot read ELF missing.elf"]);
}

#[test]
fn log_file_and_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("boot.log");
    std::fs::write(&log, "earlier session\n").expect("seed log");
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--port",
            "sim://",
            "--timestamps",
            "--log",
            "boot.log",
            "--until",
            "invalid header",
        ],
    );
    out.succeeds();
    let text = std::fs::read_to_string(&log).expect("log");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("earlier session"), "appends: {text}");
    let rest: Vec<&str> = lines.collect();
    assert!(rest.len() >= 4, "{text}");
    for line in &rest {
        let (stamp, _) = line.split_once("] ").expect("timestamp");
        let seconds = stamp.trim_start_matches('[').trim();
        assert!(
            seconds
                .parse::<f64>()
                .is_ok_and(|s| (0.0..60.0).contains(&s)),
            "{line}"
        );
    }
    assert!(
        rest.last()
            .is_some_and(|l| l.ends_with("invalid header: 0xffffffff")),
        "{text}"
    );
    // What was shown is what was logged.
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), rest);
}

#[cfg(unix)]
#[path = "support/pty_harness.rs"]
mod pty_harness;

/// The interactive monitor in a terminal: keys printed at start, Ctrl+R resets the chip (a fresh
/// ROM banner), Ctrl+C goes to the chip instead of ending the monitor, Ctrl+] exits 0, and the
/// terminal is back in its original (cooked, echoing) mode afterwards.
#[cfg(unix)]
#[test]
fn interactive_keys_in_a_pseudo_terminal() {
    use pty_harness::PtyChild;
    let wait = Duration::from_secs(15);
    let mut pty = PtyChild::spawn(
        cli::binary(),
        ["monitor", "--port", "sim://"],
        &[("NO_COLOR", "1")],
    );
    let before = pty.termios();
    assert_ne!(before.c_lflag & libc::ICANON, 0, "the pty starts cooked");
    pty.wait_for("Ctrl+R resets the chip, Ctrl+] exits", wait);
    pty.wait_for("invalid header: 0xffffffff", wait);
    // While the monitor runs the terminal is raw: no echo, no line editing, no signals.
    let raw = pty.termios();
    assert_eq!(raw.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG), 0);
    let banners = pty.count("ESP-ROM:esp32s3-20210327");
    assert_eq!(banners, 1, "{}", pty.shown());
    assert_eq!(pty.count("hint: nothing valid"), 1, "{}", pty.shown());
    // The hint follows the line that caused it, before the next line.
    let shown = pty.shown();
    let after_first = shown
        .split_once("invalid header: 0xffffffff")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let hint_at = after_first.find("hint: nothing valid");
    let next_line_at = after_first.find("invalid header: 0xffffffff");
    assert!(
        hint_at.is_some() && (next_line_at.is_none() || hint_at < next_line_at),
        "{shown}"
    );

    pty.send(&[0x12]);
    pty.wait_for_count("ESP-ROM:esp32s3-20210327", banners + 1, wait);
    pty.wait_for_count("rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)", 2, wait);
    // The hint stays once per session.
    assert_eq!(pty.count("hint: nothing valid"), 1, "{}", pty.shown());

    pty.send(&[0x03]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        pty.running(),
        "Ctrl+C must go to the chip:\n{}",
        pty.shown()
    );

    pty.send(&[0x1d]);
    let status = pty.wait_exit(wait);
    assert!(status.success(), "{status:?}\n{}", pty.shown());
    let after = pty.termios();
    assert_eq!(after.c_lflag, before.c_lflag, "local modes restored");
    assert_eq!(after.c_iflag, before.c_iflag, "input modes restored");
    assert_eq!(after.c_oflag, before.c_oflag, "output modes restored");
    assert!(!cli::has_error_report(&pty.shown()), "{}", pty.shown());
}

/// `flash --monitor`'s reset: the host is at the monitor baud when the chip restarts, on the EN
/// pulse and on the watchdog path, and the boot log is what the monitor sees first (the
/// download-mode text of the connect is dropped).
#[test]
fn reset_into_monitor_switches_the_host_before_the_boot_log() {
    use cargo_esp32s3::loader::{ConnectOptions, Loader};
    use cargo_esp32s3::reset::{After, Before};
    use cargo_esp32s3::transport::Transport as _;
    let connect = || {
        let options = ConnectOptions {
            before: Before::DefaultReset,
            attempts: 2,
            baud: 921_600,
            ..ConnectOptions::default()
        };
        let sim = SimTransport::open("sim://").expect("sim");
        let mut loader = Loader::connect(sim, &options, &mut |_| {}).expect("connect");
        assert_eq!(loader.transport_mut().baud(), 921_600);
        loader
    };

    let watch_options = WatchOptions {
        until: regex::Regex::new("invalid header").ok(),
        timeout: Some(Duration::from_secs(5)),
        ..WatchOptions::default()
    };
    // The watchdog path switches after its last register write, which still goes at 921600.
    for (after, cause) in [
        (After::HardReset, "rst:0x1 (POWERON)"),
        (After::WatchdogReset, "rst:0x10 (RTCWDT_RTC_RST)"),
    ] {
        let mut loader = connect();
        loader.reset_into_monitor(after, 115_200).expect("reset");
        let mut transport = loader.into_transport();
        assert_eq!(transport.baud(), 115_200, "{after:?}");
        let (seen, end) = watch_rendered(&mut transport, &watch_options, None);
        assert!(
            matches!(end, WatchEnd::Matched { .. }),
            "{after:?}: {seen:?}"
        );
        assert_eq!(
            seen.get(..3).map(<[String]>::to_vec),
            Some(vec![
                "line ESP-ROM:esp32s3-20210327".to_string(),
                "line Build:Mar 27 2021".to_string(),
                format!("line {cause},boot:0x8 (SPI_FAST_FLASH_BOOT)"),
            ]),
            "{after:?}: {seen:?}"
        );
    }

    // Without the monitor the host stays at the flashing speed.
    let mut loader = connect();
    loader.reset_after(After::HardReset).expect("reset");
    assert_eq!(loader.into_transport().baud(), 921_600);
}

/// A signal that ends the interactive monitor (a closed terminal, `kill`, a CI timeout) still
/// puts the terminal back, and the process dies of that signal as it would have.
#[cfg(unix)]
#[test]
fn a_fatal_signal_restores_the_terminal() {
    use std::os::unix::process::ExitStatusExt as _;
    let wait = Duration::from_secs(15);
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let mut pty = pty_harness::PtyChild::spawn(
            cli::binary(),
            ["monitor", "--port", "sim://"],
            &[("NO_COLOR", "1")],
        );
        let before = pty.termios();
        pty.wait_for("invalid header: 0xffffffff", wait);
        assert_eq!(pty.termios().c_lflag & libc::ICANON, 0, "raw while running");
        pty.signal(signal);
        let status = pty.wait_exit(wait);
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        let after = pty.termios();
        assert_eq!(
            after.c_lflag, before.c_lflag,
            "signal {signal}: local modes restored"
        );
        assert_eq!(
            after.c_iflag, before.c_iflag,
            "signal {signal}: input modes restored"
        );
    }
}

#[test]
fn input_hook_writes_to_the_chip_and_can_stop() {
    use cargo_esp32s3::monitor::watch_with_input;
    use cargo_esp32s3::transport::Transport as _;
    // Typed input reaches the chip; its echo is a line that ends the watch.
    let mut chip = ScriptedLine::echo();
    let options = WatchOptions {
        until: regex::Regex::new("^ready$").ok(),
        timeout: Some(Duration::from_secs(5)),
        ..WatchOptions::default()
    };
    let mut typed = vec![b"rea".to_vec(), b"dy\r\n".to_vec()].into_iter();
    let mut lines = Vec::new();
    let end = watch_with_input(
        &mut chip,
        &options,
        &mut |t| {
            if let Some(bytes) = typed.next() {
                t.write_all(&bytes)?;
            }
            Ok(Control::Continue)
        },
        &mut |event| {
            if let MonitorEvent::Line(l) = event {
                lines.push(l.to_string());
            }
            Control::Continue
        },
    )
    .expect("watch");
    assert_eq!(
        end,
        WatchEnd::Matched {
            line: "ready".into()
        }
    );
    assert_eq!(chip.sent, b"ready\r\n");
    assert_eq!(lines, ["ready"]);

    // The hook ends the watch (the interactive monitor's Ctrl+]) without waiting for output.
    let mut chip = ScriptedLine::echo();
    let started = Instant::now();
    let mut polls = 0;
    let end = watch_with_input(
        &mut chip,
        &WatchOptions::default(),
        &mut |_| {
            polls += 1;
            Ok(if polls == 3 {
                Control::Stop
            } else {
                Control::Continue
            })
        },
        &mut |_| Control::Continue,
    )
    .expect("watch");
    assert_eq!(end, WatchEnd::Stopped);
    assert_eq!(polls, 3);
    // Quiet polls wait out their interval instead of spinning.
    assert!(started.elapsed() >= cargo_esp32s3::monitor::POLL_INTERVAL * 2);
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Flash MicroPython and type `help()`: non-interactively through stdin (newline sent as the
/// default --eol, CR) and in a terminal (Enter), the REPL's welcome text comes back.
#[test]
fn micropython_answers_help_after_flash_monitor() {
    let Some(dir) = testdata() else { return };
    let image = dir.join(testdata::MICROPYTHON);
    let image = image.to_str().expect("utf-8 path").to_string();
    let work = tempfile::tempdir().expect("tempdir");
    let out = Run::new(
        work.path(),
        &[
            "flash",
            "--port",
            "sim://",
            &image,
            "--monitor",
            "--non-interactive",
            "--until",
            "^Welcome to MicroPython",
            "--timeout",
            "30",
        ],
    )
    .stdin(b"help()\n")
    .run();
    out.succeeds();
    let stdout = &out.stdout;
    let banner = stdout.find("MicroPython v1.26.1").expect("REPL banner");
    let typed = stdout
        .find(">>> help()")
        .expect("the echo of the typed line");
    let welcome = stdout.find("Welcome to MicroPython").expect("welcome text");
    assert!(
        stdout.find("entry 0x").is_some_and(|entry| entry < banner),
        "{stdout}"
    );
    assert!(banner < typed && typed < welcome, "{stdout}");

    #[cfg(unix)]
    {
        let mut pty = pty_harness::PtyChild::spawn(
            cli::binary(),
            ["flash", "--port", "sim://", &image, "--monitor"],
            &[("NO_COLOR", "1")],
        );
        let wait = Duration::from_secs(30);
        pty.wait_for(">>> ", wait);
        pty.send(b"help()\r");
        pty.wait_for("Welcome to MicroPython on the ESP32!", wait);
        pty.send(&[0x1d]);
        assert!(pty.wait_exit(wait).success(), "{}", pty.shown());
    }
}

#[test]
fn a_chip_left_in_download_mode_gets_the_download_hint_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // sim:// starts in download mode; without the monitor's reset the chip stays there.
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--port",
            "sim://",
            "--no-reset",
            "--until",
            "^waiting for download$",
        ],
    );
    out.succeeds();
    assert!(
        out.stdout.contains("boot:0x0 (DOWNLOAD(USB/UART0))"),
        "{}",
        out.stdout
    );
    // Once when the line shows, once again at the end.
    assert_eq!(count(&out.stderr, "hint:"), 2, "{}", out.stderr);
    out.stderr_has(&["stuck in download mode"]);
    out.stderr_has(&["--after watchdog-reset"]);
}

#[path = "support/net.rs"]
mod net;

/// `monitor --port socket://` against a raw TCP bridge whose chip panics: the backtrace is
/// decoded with `--elf` (no reset is tried: a bridge has no modem lines), and the bridge closing
/// ends the monitor: fine without `--until`, an error naming the pattern with it.
#[test]
fn monitor_over_a_raw_tcp_bridge_decodes_a_panic() {
    use net::{RawServer, Step};
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fw.elf"), elf_with_symbols()).expect("write ELF");
    let panic_text = b"Guru Meditation Error: Core  0 panic'ed (LoadProhibited).\r\n\r\n\
PC      : 0x4200101c  PS      : 0x00060630\r\n\r\n\
Backtrace: 0x4200101c:0x3fc98e50 0x42001052:0x3fc98e70\r\n\r\nRebooting...\r\n";
    let script = vec![
        Step::Pause(Duration::from_millis(50)),
        Step::Send(panic_text.to_vec()),
        Step::Pause(Duration::from_millis(50)),
        Step::Close,
    ];

    let server = RawServer::script(script.clone());
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--port",
            &server.url(),
            "--elf",
            "fw.elf",
            "--timeout",
            "20",
        ],
    );
    out.succeeds();
    let shown: Vec<&str> = out.stdout.lines().collect();
    let pc = shown
        .iter()
        .position(|l| l.starts_with("PC      : 0x4200101c"))
        .expect("PC line");
    assert_eq!(
        shown.get(pc + 1),
        Some(&"--- 0x4200101c: app_main+0x1c"),
        "{}",
        out.stdout
    );
    let backtrace = shown
        .iter()
        .position(|l| l.starts_with("Backtrace:"))
        .expect("backtrace line");
    assert_eq!(
        shown.get(backtrace + 1..backtrace + 3),
        Some(
            &[
                "--- 0x4200101c: app_main+0x1c",
                "--- 0x42001052: hello::blink+0x12"
            ][..]
        ),
        "{}",
        out.stdout
    );
    assert_eq!(shown.last(), Some(&"Rebooting..."), "{}", out.stdout);

    let server = RawServer::script(script);
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--port",
            &server.url(),
            "--until",
            "ready",
            "--timeout",
            "20",
        ],
    );
    let error = out.fails(exit::CONNECT, &[]);
    assert!(
        error.contains("closed before a line matched --until \"ready\""),
        "{error}"
    );
}

/// `flash --monitor` over `rfc2217://` against the simulator's RFC 2217 server: the reset dance
/// goes over the network to the virtual pins, then the boot log of the flashed image follows on
/// the same connection.
#[test]
fn flash_monitor_over_rfc2217_shows_the_boot_log() {
    use cargo_esp32s3::sim::rfc2217::Rfc2217Server;
    use cargo_esp32s3::sim::{Esp32s3, SimConfig};
    let chip = Esp32s3::new(SimConfig::default()).expect("chip");
    let server = Rfc2217Server::bind(chip, 0).expect("bind");
    let url = server.url();
    let stop = server.stop_handle();
    let serving = std::thread::spawn(move || server.serve());

    let out = flash_and_monitor(&url, "^entry 0x", &["--timeout", "60"]);
    stop.stop();
    let chip = serving.join().expect("server thread").expect("served");
    out.succeeds();
    assert!(
        chip.resets() >= 2,
        "connect reset and hard reset reached the pins"
    );
    let log = &out.stdout;
    assert_one_boot_from_flash(log);
}
