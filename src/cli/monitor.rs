//! `monitor`, and the monitor half of `flash --monitor`: show what the chip prints, send it what
//! the user types, decode code addresses with the firmware ELF, and stop on `--until` /
//! `--timeout` for scripts.
//!
//! Interactive when stdin and stdout are terminals (and `--non-interactive` is not given): the
//! terminal goes raw for the whole session through crossterm, on Linux, macOS and Windows alike
//! (restored on every exit path: return, error, panic, and on Unix SIGTERM/SIGHUP/SIGINT/SIGQUIT),
//! bytes from the chip are shown as they arrive, Ctrl+R resets the chip, Ctrl+] exits and every
//! other key goes to the chip as the bytes a VT100-style terminal sends (Ctrl+C as 0x03, Enter as
//! `--eol`, arrows as escape sequences). Otherwise stdin is forwarded to the chip until it ends
//! and complete lines are printed. The reading, line splitting, hints and decoding are the library's
//! (`cargo_esp32s3::monitor`); this file owns the terminal, the keys, the printing and the exit codes.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use regex::Regex;

use cargo_esp32s3::loader::ResetDone;
use cargo_esp32s3::monitor::{
    Control, InputGate, MonitorError, MonitorEvent, WatchEnd, WatchOptions,
};
use cargo_esp32s3::reset::{self, ResetSequence};
use cargo_esp32s3::symbols::Symbols;
use cargo_esp32s3::transport::{Transport, TransportError};

use super::CliError;
use super::args::ManifestArgs;
use super::context::{self, note};

/// The key that ends an interactive monitor (Ctrl+]).
pub const EXIT_KEY: u8 = 0x1d;
/// The key that resets the chip (Ctrl+R).
pub const RESET_KEY: u8 = 0x12;
/// The keys, as printed at start and in `--help`.
pub const KEYS_HELP: &str =
    "Ctrl+R resets the chip, Ctrl+] exits; every other key (Ctrl+C included) goes to the chip";

/// What Enter sends to the chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Eol {
    /// Carriage return (what MicroPython and ESP-IDF's console expect).
    #[default]
    Cr,
    /// Line feed.
    Lf,
    /// Carriage return and line feed.
    Crlf,
}

impl Eol {
    /// The bytes sent for Enter.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Eol::Cr => b"\r",
            Eol::Lf => b"\n",
            Eol::Crlf => b"\r\n",
        }
    }
}

/// Options of the monitor itself, shared by `monitor` and `flash --monitor`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Monitor")]
pub struct MonitorArgs {
    /// Firmware ELF whose symbols decode addresses in panics and backtraces
    #[arg(long, value_name = "FILE")]
    pub elf: Option<PathBuf>,
    /// Prefix every line with the seconds since the monitor started
    #[arg(long)]
    pub timestamps: bool,
    /// Append every line to FILE
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// What Enter sends to the chip
    #[arg(long, value_enum, value_name = "EOL", default_value_t = Eol::Cr)]
    pub eol: Eol,
    /// Exit 0 as soon as a line matches REGEX
    #[arg(long, value_name = "REGEX", env = "ESP32S3_MONITOR_UNTIL")]
    pub until: Option<String>,
    /// Exit with code 8 when SECS seconds pass first (with --until: without a match)
    #[arg(long, value_name = "SECS", env = "ESP32S3_MONITOR_TIMEOUT")]
    pub timeout: Option<String>,
}

/// The monitor part of `flash`: `--monitor`, its baud rate and the monitor options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FlashMonitorArgs {
    /// After the write and the reset, watch the chip's output on the same connection (the ELF
    /// flashed decodes addresses unless --elf is given); Ctrl+R resets the chip, Ctrl+] exits
    #[arg(long = "monitor", help_heading = "Monitor")]
    pub enabled: bool,
    /// Baud rate the firmware prints at, for --monitor [default: 115200] [env: ESP32S3_MONITOR_BAUD]
    #[arg(long, value_name = "BAUD", help_heading = "Monitor")]
    pub monitor_baud: Option<String>,
    /// How to monitor.
    #[command(flatten)]
    pub options: MonitorArgs,
}

/// Arguments of `monitor`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Keys (interactive): Ctrl+R resets the chip, Ctrl+] exits; every other key (Ctrl+C
included) goes to the chip, Enter as --eol.

Non-interactive (stdin is not a terminal, or --non-interactive): stdin is sent to the chip until
it ends and lines are printed; --until exits 0 on a match, --timeout exits 8 when it passes.

Examples:
  cargo esp32s3 monitor --elf target/xtensa-esp32s3-espidf/debug/app
  cargo esp32s3 monitor --port /dev/ttyUSB0 --timestamps --log boot.log
  cargo esp32s3 monitor --non-interactive --until 'ready' --timeout 30"
)]
pub struct Args {
    /// Serial port (/dev/ttyUSB0, COM3, sim://) [env: ESP32S3_PORT]
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<String>,
    /// Baud rate the firmware prints at [default: 115200] [env: ESP32S3_MONITOR_BAUD]
    #[arg(short = 'B', long, value_name = "BAUD")]
    pub baud: Option<String>,
    /// Do not reset the chip when the monitor starts
    #[arg(long)]
    pub no_reset: bool,
    /// Never use the terminal's keys: forward stdin, print lines (for scripts and CI)
    #[arg(long)]
    pub non_interactive: bool,
    /// Write a trace of the port to FILE: console bytes both ways with timestamps, and the
    /// DTR/RTS changes of resets
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Monitor options.
    #[command(flatten)]
    pub monitor: MonitorArgs,
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// Monitor: open the port (no loader, no SYNC), reset the chip into its firmware, watch.
pub fn run(args: Args) -> super::Result<()> {
    let flags = cargo_esp32s3::config::FlagValues {
        port: args.port.clone(),
        monitor_baud: args.baud.clone(),
        ..Default::default()
    };
    let ctx = context::load(&args.manifest, flags)?;
    let settings = &ctx.settings;
    // Check the options before touching the port.
    let plan = Plan::from_args(
        &args.monitor,
        args.non_interactive,
        settings.hard_reset_sequence.clone(),
    )?;
    let symbols = load_symbols(args.monitor.elf.as_deref())?;
    let options = super::connect::PortOptions {
        non_interactive: args.non_interactive,
        confirm_port: false,
        trace: args.trace.clone(),
    };
    let port = super::connect::choose_port(&ctx, &options)?;
    let mut transport =
        super::connect::open_port(&port, settings.monitor_baud, args.trace.as_deref())?;
    if !args.no_reset {
        // What the chip printed before this reset is not this session's boot log.
        transport.clear_input()?;
        // A port without modem lines (a pty, a network bridge) cannot reset: just watch.
        let _ = reset_into_firmware(&mut *transport, plan.hard_reset.as_ref());
    }
    watch_chip(&mut *transport, symbols, &plan)
}

/// What the user asked of one monitor session, checked.
#[derive(Debug)]
pub struct Plan {
    until: Option<Regex>,
    until_text: Option<String>,
    timeout: Option<Duration>,
    timestamps: bool,
    log: Option<PathBuf>,
    eol: Eol,
    interactive: bool,
    /// The `hard-reset-sequence` setting, for the reset at start and Ctrl+R.
    hard_reset: Option<ResetSequence>,
}

impl Plan {
    /// Check the options; interactive when stdin and stdout are terminals and not refused.
    /// `hard_reset` is the configured custom hard reset (the default one for the port if `None`).
    pub fn from_args(
        args: &MonitorArgs,
        non_interactive: bool,
        hard_reset: Option<ResetSequence>,
    ) -> super::Result<Self> {
        // An empty value counts as unset, as for every ESP32S3_* variable: an empty
        // ESP32S3_MONITOR_UNTIL (a CI variable that expanded to nothing) would otherwise be a
        // pattern that matches the first line and ends a check successfully before it began.
        let until_text = args.until.clone().filter(|text| !text.is_empty());
        let timeout_text = args.timeout.as_deref().filter(|text| !text.is_empty());
        let until = match &until_text {
            Some(text) => Some(Regex::new(text).map_err(|e| {
                let reason = e.to_string();
                let reason = reason.lines().last().unwrap_or_default().trim().to_string();
                CliError::BadArgument(format!(
                    "--until {text:?} is not a valid regular expression ({reason}); escape special characters such as ( or [ with a backslash"
                ))
            })?),
            None => None,
        };
        let timeout = match timeout_text {
            Some(text) => Some(parse_timeout(text)?),
            None => None,
        };
        let interactive =
            !non_interactive && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        Ok(Plan {
            until,
            until_text,
            timeout,
            timestamps: args.timestamps,
            log: args.log.clone(),
            eol: args.eol,
            interactive,
            hard_reset,
        })
    }
}

/// `--timeout SECS`: a positive number of seconds.
fn parse_timeout(text: &str) -> super::Result<Duration> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            CliError::BadArgument(format!(
                "--timeout {text:?} is not a number of seconds; use a positive number such as 30 or 2.5"
            ))
        })
}

/// The ELF's symbols, when one is given.
pub fn load_symbols(elf: Option<&std::path::Path>) -> super::Result<Option<Symbols>> {
    match elf {
        Some(path) => Ok(Some(Symbols::from_elf_file(path)?)),
        None => Ok(None),
    }
}

/// Restart the chip into its firmware: IO0 high (DTR released), then pulse EN.
fn reset_into_firmware<T: Transport + ?Sized>(
    transport: &mut T,
    custom: Option<&ResetSequence>,
) -> Result<(), TransportError> {
    transport.set_dtr(false)?;
    let sequence = reset::hard_reset_sequence(transport.usb_ids(), custom);
    reset::play(transport, &sequence.steps)
}

/// What the input thread delivers.
enum Input {
    Bytes(Vec<u8>),
    End,
    Failed(String),
}

/// Read stdin on a thread (a blocking read cannot be polled portably) and hand the bytes over.
fn spawn_stdin_reader() -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        loop {
            let message = match stdin.read(&mut buf) {
                Ok(0) => Input::End,
                Ok(n) => Input::Bytes(buf.get(..n).unwrap_or_default().to_vec()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Input::Failed(e.to_string()),
            };
            let last = !matches!(message, Input::Bytes(_));
            if tx.send(message).is_err() || last {
                return;
            }
        }
    });
    rx
}

/// Where lines and notes go, with optional timestamps and log file.
struct Output {
    started: Instant,
    timestamps: bool,
    log: Option<std::fs::File>,
    log_path: Option<PathBuf>,
    interactive: bool,
    /// The next byte shown starts a line (for timestamps in the raw byte stream).
    at_line_start: bool,
    /// Writing to stdout failed (its reader is gone).
    stdout_closed: bool,
    /// The terminal is raw: each LF shown goes out as CR LF, as the terminal itself did before.
    crlf: bool,
    failed: Option<cargo_esp32s3::Error>,
}

impl Output {
    fn stamp(&self) -> String {
        if self.timestamps {
            format!("[{:>9.3}] ", self.started.elapsed().as_secs_f64())
        } else {
            String::new()
        }
    }

    /// Show raw bytes as they arrive (interactive), a timestamp before each line's first byte.
    fn raw(&mut self, bytes: &[u8]) {
        let mut shown = Vec::with_capacity(bytes.len());
        if !self.timestamps {
            shown.extend_from_slice(bytes);
        } else {
            for &byte in bytes {
                let ends_line = byte == b'\n' || byte == b'\r';
                if self.at_line_start && !ends_line {
                    shown.extend_from_slice(self.stamp().as_bytes());
                }
                self.at_line_start = ends_line;
                shown.push(byte);
            }
        }
        self.show(&shown);
    }

    fn line(&mut self, line: &str) {
        let stamped = format!("{}{line}", self.stamp());
        if !self.interactive {
            self.show(format!("{stamped}\n").as_bytes());
        }
        self.log_line(&stamped);
    }

    /// A line of our own (decoded address), shown and logged.
    fn extra(&mut self, text: &str) {
        self.show(format!("{text}\n").as_bytes());
        self.log_line(text);
    }

    /// Write to stdout; a reader that went away (`| head`) ends the monitor.
    fn show(&mut self, bytes: &[u8]) {
        let crlf;
        let bytes = if self.crlf {
            crlf = translate_newlines(bytes, b'\n', b"\r\n");
            &crlf
        } else {
            bytes
        };
        let mut out = std::io::stdout().lock();
        if out.write_all(bytes).and_then(|()| out.flush()).is_err() {
            self.stdout_closed = true;
        }
    }

    /// What the watch should do after an event.
    fn control(&self) -> Control {
        if self.stdout_closed {
            Control::Stop
        } else {
            Control::Continue
        }
    }

    fn log_line(&mut self, text: &str) {
        if let (Some(file), Some(path)) = (&mut self.log, &self.log_path) {
            if let Err(e) = writeln!(file, "{text}") {
                if self.failed.is_none() {
                    self.failed = Some(cargo_esp32s3::Error::file("write", path.clone(), e));
                }
                self.log = None;
            }
        }
    }
}

/// Watch an open transport (the chip already started) as `plan` says. Used by `monitor` and
/// `flash --monitor`.
pub fn watch_chip<T: Transport + ?Sized>(
    transport: &mut T,
    symbols: Option<Symbols>,
    plan: &Plan,
) -> super::Result<()> {
    let log = match &plan.log {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| cargo_esp32s3::Error::file("open", path.clone(), e))?,
        ),
        None => None,
    };
    let options = WatchOptions {
        until: plan.until.clone(),
        timeout: plan.timeout,
        symbols,
        hints: true,
    };
    let mut output = Output {
        started: Instant::now(),
        timestamps: plan.timestamps,
        log,
        log_path: plan.log.clone(),
        interactive: plan.interactive,
        at_line_start: true,
        stdout_closed: false,
        crlf: false,
        failed: None,
    };
    let port = transport.describe();
    let baud = transport.baud();
    let end = if plan.interactive {
        eprintln!("--- monitor on {port} at {baud} baud; {KEYS_HELP} ---");
        let raw = terminal::RawMode::enter().map_err(|e| {
            MonitorError::Input(format!("cannot switch the terminal to raw mode: {e}"))
        })?;
        // Raw mode also stops the terminal from starting each new line at the left edge.
        output.crlf = true;
        let end = watch_interactive(transport, &options, plan, &mut output);
        drop(raw);
        end
    } else {
        eprintln!("--- monitor on {port} at {baud} baud (non-interactive) ---");
        watch_lines(transport, &options, plan, &mut output)
    }?;
    if let Some(error) = output.failed {
        return Err(error.into());
    }
    finish(end, plan)
}

/// Turn how the watch ended into the command's result.
fn finish(end: WatchEnd, plan: &Plan) -> super::Result<()> {
    match end {
        WatchEnd::Matched { .. } | WatchEnd::Stopped => Ok(()),
        WatchEnd::Disconnected => match &plan.until_text {
            Some(until) => Err(CliError::MonitorEnded(format!(
                "the port closed before a line matched --until {until:?}; check the connection and that the firmware prints it"
            ))),
            None => Ok(()),
        },
        WatchEnd::TimedOut => {
            let secs = plan.timeout.unwrap_or_default().as_secs_f64();
            let message = match &plan.until_text {
                Some(until) => format!(
                    "no line matched --until {until:?} within {secs} s; check that the firmware prints it, or raise --timeout"
                ),
                None => format!("the monitor's --timeout of {secs} s passed"),
            };
            Err(CliError::MonitorTimeout(message))
        }
    }
}

/// Print a hint on stderr; `raw`: the terminal is raw, so the line ends with CR LF.
fn show_hint(hint: &str, raw: bool) {
    let end = if raw { "\r\n" } else { "\n" };
    eprint!("{}{end}", console::style(hint).yellow().for_stderr());
}

/// Non-interactive: forward stdin until it ends, print complete lines.
fn watch_lines<T: Transport + ?Sized>(
    transport: &mut T,
    options: &WatchOptions,
    plan: &Plan,
    output: &mut Output,
) -> Result<WatchEnd, MonitorError> {
    let input = spawn_stdin_reader();
    let mut input_open = true;
    let eol = plan.eol.bytes();
    // Lines piped in before the firmware reads its UART would be lost: held until it settles.
    let gate = std::cell::RefCell::new(InputGate::new(Instant::now()));
    let mut held: Vec<u8> = Vec::new();
    cargo_esp32s3::monitor::watch_with_input(
        transport,
        options,
        &mut |t| {
            while input_open {
                match input.try_recv() {
                    Ok(Input::Bytes(bytes)) => {
                        held.extend_from_slice(&translate_newlines(&bytes, b'\n', eol))
                    }
                    Ok(Input::End) | Err(mpsc::TryRecvError::Disconnected) => input_open = false,
                    Ok(Input::Failed(e)) => return Err(MonitorError::Input(e)),
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            if !held.is_empty() && gate.borrow_mut().is_open(Instant::now()) {
                t.write_all(&held)?;
                held.clear();
            }
            Ok(Control::Continue)
        },
        &mut |event| {
            match event {
                MonitorEvent::Received(_) => gate.borrow_mut().output(Instant::now()),
                MonitorEvent::Line(line) => output.line(line),
                MonitorEvent::Hint(hint) => show_hint(hint, false),
                MonitorEvent::Address { addr, location } => {
                    output.extra(&format!("--- 0x{addr:08x}: {location}"))
                }
            }
            output.control()
        },
    )
}

/// Replace each `newline` byte by `eol`.
fn translate_newlines(bytes: &[u8], newline: u8, eol: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &byte in bytes {
        if byte == newline {
            out.extend_from_slice(eol);
        } else {
            out.push(byte);
        }
    }
    out
}

/// Interactive: keys to the chip (Ctrl+R resets, Ctrl+] exits), bytes to the screen at once.
fn watch_interactive<T: Transport + ?Sized>(
    transport: &mut T,
    options: &WatchOptions,
    plan: &Plan,
    output: &mut Output,
) -> Result<WatchEnd, MonitorError> {
    // Dropped on every way out of this function: the reader thread is stopped and joined.
    let keys = terminal::KeyReader::spawn();
    // Windows reports AltGr as Ctrl+Alt; there the character is what the layout typed.
    let altgr_is_ctrl_alt = cfg!(windows);
    cargo_esp32s3::monitor::watch_with_input(
        transport,
        options,
        &mut |t| {
            loop {
                let key = match keys.try_recv() {
                    Ok(terminal::KeyInput::Key(key)) => key,
                    Ok(terminal::KeyInput::Failed(e)) => return Err(MonitorError::Input(e)),
                    Err(mpsc::TryRecvError::Empty | mpsc::TryRecvError::Disconnected) => break,
                };
                match key_bytes(&key, plan.eol, altgr_is_ctrl_alt).as_slice() {
                    [] => {}
                    [EXIT_KEY] => return Ok(Control::Stop),
                    [RESET_KEY] => {
                        if reset_into_firmware(t, plan.hard_reset.as_ref()).is_err() {
                            eprint!(
                                "\r\n--- this port has no reset line; press the board's RESET button ---\r\n"
                            );
                        }
                    }
                    bytes => t.write_all(bytes)?,
                }
            }
            Ok(Control::Continue)
        },
        &mut |event| {
            match event {
                MonitorEvent::Received(bytes) => output.raw(bytes),
                MonitorEvent::Line(line) => output.line(line),
                MonitorEvent::Hint(hint) => show_hint(hint, true),
                MonitorEvent::Address { addr, location } => {
                    output.extra(&format!("--- 0x{addr:08x}: {location}"))
                }
            }
            output.control()
        },
    )
}

/// The bytes a key sends to the chip, as a VT100-style terminal sends them: text as UTF-8, Enter
/// as `eol`, Backspace as DEL (0x7f, what xterm sends and MicroPython and ESP-IDF's line editor
/// erase with; Ctrl+H still sends 0x08), Ctrl+letter as its control byte, Alt+key with an ESC
/// before it, and the arrows, Home, End, Insert, Delete, Page Up/Down as their escape sequences.
/// Nothing for a key release, a lone modifier or a function key. With `altgr_is_ctrl_alt`
/// (Windows), Ctrl+Alt+character is the character AltGr typed.
fn key_bytes(key: &KeyEvent, eol: Eol, altgr_is_ctrl_alt: bool) -> Vec<u8> {
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let altgr = altgr_is_ctrl_alt && ctrl && alt;
    let sequence: &[u8] = match key.code {
        KeyCode::Char(c) => {
            let mut bytes = Vec::with_capacity(5);
            if alt && !altgr {
                bytes.push(0x1b);
            }
            match control_byte(c).filter(|_| ctrl && !altgr) {
                Some(byte) => bytes.push(byte),
                None => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
            return bytes;
        }
        KeyCode::Backspace if alt => b"\x1b\x7f",
        KeyCode::Backspace => b"\x7f",
        KeyCode::Enter => eol.bytes(),
        KeyCode::Tab => b"\t",
        KeyCode::BackTab => b"\x1b[Z",
        KeyCode::Esc => b"\x1b",
        KeyCode::Up => b"\x1b[A",
        KeyCode::Down => b"\x1b[B",
        KeyCode::Right => b"\x1b[C",
        KeyCode::Left => b"\x1b[D",
        KeyCode::Home => b"\x1b[H",
        KeyCode::End => b"\x1b[F",
        KeyCode::Insert => b"\x1b[2~",
        KeyCode::Delete => b"\x1b[3~",
        KeyCode::PageUp => b"\x1b[5~",
        KeyCode::PageDown => b"\x1b[6~",
        _ => b"",
    };
    sequence.to_vec()
}

/// The control byte Ctrl+`c` stands for, as xterm sends it: a letter's (Ctrl+R is 0x12), the
/// punctuation ones (Ctrl+] is 0x1d) and their digit aliases (Ctrl+5 is 0x1d too, which is how a
/// Unix terminal's 0x1d comes back from crossterm). `None` when Ctrl+`c` has no control byte.
fn control_byte(c: char) -> Option<u8> {
    let byte = u8::try_from(c).ok()?;
    match byte {
        b'a'..=b'z' => Some(byte - b'a' + 1),
        b'A'..=b'Z' => Some(byte - b'A' + 1),
        b'@' | b' ' | b'2' => Some(0x00),
        b'[' | b'3' => Some(0x1b),
        b'\\' | b'4' => Some(0x1c),
        b']' | b'5' => Some(0x1d),
        b'^' | b'6' => Some(0x1e),
        b'_' | b'7' | b'/' => Some(0x1f),
        b'?' | b'8' => Some(0x7f),
        0x00..=0x1f => Some(byte),
        _ => None,
    }
}

/// The interactive terminal, through crossterm on every platform: raw mode held for a session,
/// keys read on a thread, and the terminal put back on every way out (the session ending or
/// failing, a panic, and on Unix a fatal signal: SIGTERM, SIGHUP, SIGINT, SIGQUIT).
mod terminal {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Once, mpsc};
    use std::thread::JoinHandle;
    use std::time::Duration;

    use crossterm::event::{self, Event, KeyEvent};

    /// True while a session holds raw mode, so the panic hook and the signal watcher restore the
    /// terminal only when it is theirs to restore.
    static ACTIVE: AtomicBool = AtomicBool::new(false);

    /// How long the key reader waits for a key before it looks at its stop flag again.
    const POLL: Duration = Duration::from_millis(50);

    /// Leave raw mode if a session holds it. Safe to call from any thread, more than once.
    pub fn restore() {
        if ACTIVE.swap(false, Ordering::SeqCst) {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }

    /// Raw input (no echo, no line editing, Ctrl+C a key rather than a signal) until dropped.
    pub struct RawMode(());

    impl RawMode {
        /// Switch the terminal to raw mode, with the panic hook and the signal watcher in place.
        pub fn enter() -> std::io::Result<Self> {
            install_guards();
            // Windows consoles show the chip's ANSI colours only with VT processing on.
            #[cfg(windows)]
            let _ = crossterm::ansi_support::supports_ansi();
            // Marked before the switch, so a signal in between still restores.
            ACTIVE.store(true, Ordering::SeqCst);
            if let Err(e) = crossterm::terminal::enable_raw_mode() {
                ACTIVE.store(false, Ordering::SeqCst);
                return Err(e);
            }
            Ok(RawMode(()))
        }
    }

    impl Drop for RawMode {
        fn drop(&mut self) {
            restore();
        }
    }

    /// Once per process: a panic hook that restores before the message, and the signal watcher.
    fn install_guards() {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
            watch_signals();
        });
    }

    /// A thread that, on a signal that ends the process, restores the terminal and then lets the
    /// signal end the process as it would have (the same exit status, `kill -TERM` included).
    /// It lives as long as the process, so the signals keep their default effect after the
    /// session too. Without it (registration failed), a session still restores on return and
    /// panic.
    #[cfg(unix)]
    fn watch_signals() {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        let Ok(mut signals) =
            signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT])
        else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("terminal-signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    restore();
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    // Only reached if the default action did not end the process.
                    std::process::exit(128 + signal);
                }
            });
    }

    /// Ctrl+Break and a closed console window end the process through this handler (Ctrl+C is a
    /// key in raw mode), with the status an unhandled Ctrl+C or Ctrl+Break gives.
    #[cfg(windows)]
    fn watch_signals() {
        /// STATUS_CONTROL_C_EXIT.
        const CONTROL_C_EXIT: u32 = 0xC000_013A;
        let _ = ctrlc::try_set_handler(|| {
            restore();
            std::process::exit(i32::from_ne_bytes(CONTROL_C_EXIT.to_ne_bytes()));
        });
    }

    #[cfg(not(any(unix, windows)))]
    fn watch_signals() {}

    /// What the key reader delivers.
    pub enum KeyInput {
        /// A key press (or repeat; releases are filtered by the translation).
        Key(KeyEvent),
        /// Reading the terminal failed; the reader has stopped.
        Failed(String),
    }

    /// Keys read on a thread (the main thread reads the port). Dropping it stops the thread
    /// within [`POLL`] and joins it, so no thread is left blocked on the terminal.
    pub struct KeyReader {
        keys: mpsc::Receiver<KeyInput>,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl KeyReader {
        /// Start reading keys.
        pub fn spawn() -> Self {
            let (tx, keys) = mpsc::channel();
            let stop = Arc::new(AtomicBool::new(false));
            let stopped = Arc::clone(&stop);
            let thread = std::thread::spawn(move || {
                while !stopped.load(Ordering::SeqCst) {
                    let message = match event::poll(POLL) {
                        Ok(false) => continue,
                        Ok(true) => match event::read() {
                            Ok(Event::Key(key)) => KeyInput::Key(key),
                            // Resizes, focus and mouse events mean nothing to the chip.
                            Ok(_) => continue,
                            Err(e) => KeyInput::Failed(format!("cannot read the terminal: {e}")),
                        },
                        Err(e) => KeyInput::Failed(format!("cannot read the terminal: {e}")),
                    };
                    let failed = matches!(message, KeyInput::Failed(_));
                    if tx.send(message).is_err() || failed {
                        return;
                    }
                }
            });
            KeyReader {
                keys,
                stop,
                thread: Some(thread),
            }
        }

        /// The next key read, if any, without waiting.
        pub fn try_recv(&self) -> Result<KeyInput, mpsc::TryRecvError> {
            self.keys.try_recv()
        }
    }

    impl Drop for KeyReader {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// The flash command's monitor step: reuse the loader's open connection after the write.
pub fn start_after_flash<T: Transport + ?Sized>(
    transport: &mut T,
    symbols: Option<Symbols>,
    plan: &Plan,
    reset: ResetDone,
) -> super::Result<()> {
    note(match reset {
        ResetDone::StayedInLoader => {
            "monitoring the chip; it was not reset (--after no-reset), so it is still in the loader and prints nothing until it is reset (Ctrl+R)"
        }
        _ => "monitoring the chip; the boot log follows",
    });
    watch_chip(transport, symbols, plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        let check = |text: &str, expected: Option<Duration>| {
            assert_eq!(parse_timeout(text).ok(), expected, "{text:?}");
        };
        check("1", Some(Duration::from_secs(1)));
        check("2.5", Some(Duration::from_millis(2500)));
        check(" 30 ", Some(Duration::from_secs(30)));
        check("0", None);
        check("-1", None);
        check("soon", None);
        check("inf", None);
        check("NaN", None);
    }

    #[test]
    fn newlines_become_eol() {
        assert_eq!(translate_newlines(b"help()\n", b'\n', b"\r"), b"help()\r");
        assert_eq!(translate_newlines(b"a\nb\n", b'\n', b"\r\n"), b"a\r\nb\r\n");
        assert_eq!(translate_newlines(b"\x03", b'\n', b"\r"), b"\x03");
    }

    /// Keys as crossterm reports them (on Unix parsed from the bytes the terminal sent, on
    /// Windows from the console's key records) become the bytes the chip expects.
    #[test]
    fn keys_become_the_bytes_a_terminal_sends() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        let alt = KeyModifiers::ALT;
        let check = |event: KeyEvent, eol: Eol, expected: &[u8]| {
            assert_eq!(key_bytes(&event, eol, false), expected, "{event:?}");
        };
        check(key(KeyCode::Char('a'), none), Eol::Cr, b"a");
        check(key(KeyCode::Char('A'), KeyModifiers::SHIFT), Eol::Cr, b"A");
        check(key(KeyCode::Char('é'), none), Eol::Cr, "é".as_bytes());
        check(key(KeyCode::Enter, none), Eol::Cr, b"\r");
        check(key(KeyCode::Enter, none), Eol::Lf, b"\n");
        check(key(KeyCode::Enter, none), Eol::Crlf, b"\r\n");
        check(key(KeyCode::Backspace, none), Eol::Cr, b"\x7f");
        check(key(KeyCode::Char('h'), ctrl), Eol::Cr, b"\x08");
        check(key(KeyCode::Tab, none), Eol::Cr, b"\t");
        check(key(KeyCode::Esc, none), Eol::Cr, b"\x1b");
        check(key(KeyCode::Up, none), Eol::Cr, b"\x1b[A");
        check(key(KeyCode::Down, none), Eol::Cr, b"\x1b[B");
        check(key(KeyCode::Right, none), Eol::Cr, b"\x1b[C");
        check(key(KeyCode::Left, none), Eol::Cr, b"\x1b[D");
        check(key(KeyCode::Home, none), Eol::Cr, b"\x1b[H");
        check(key(KeyCode::End, none), Eol::Cr, b"\x1b[F");
        check(key(KeyCode::Delete, none), Eol::Cr, b"\x1b[3~");
        check(key(KeyCode::F(5), none), Eol::Cr, b"");
        // The monitor's own keys, from a Unix terminal (0x1d comes back as Ctrl+5) and from a
        // Windows console (Ctrl+] as typed, Ctrl+Shift+R with an upper-case letter).
        check(key(KeyCode::Char('r'), ctrl), Eol::Cr, &[RESET_KEY]);
        check(
            key(KeyCode::Char('R'), ctrl | KeyModifiers::SHIFT),
            Eol::Cr,
            &[RESET_KEY],
        );
        check(key(KeyCode::Char('5'), ctrl), Eol::Cr, &[EXIT_KEY]);
        check(key(KeyCode::Char(']'), ctrl), Eol::Cr, &[EXIT_KEY]);
        check(key(KeyCode::Char('c'), ctrl), Eol::Cr, b"\x03");
        check(key(KeyCode::Char(' '), ctrl), Eol::Cr, b"\x00");
        check(key(KeyCode::Char('x'), alt), Eol::Cr, b"\x1bx");
        check(key(KeyCode::Char('x'), ctrl | alt), Eol::Cr, b"\x1b\x18");
        // A release sends nothing (Windows reports both).
        let release = KeyEvent::new_with_kind(KeyCode::Char('a'), none, KeyEventKind::Release);
        check(release, Eol::Cr, b"");
        // Windows' AltGr (Ctrl+Alt) types the character itself.
        let altgr = key(KeyCode::Char('@'), ctrl | alt);
        assert_eq!(key_bytes(&altgr, Eol::Cr, true), b"@");
        assert_eq!(key_bytes(&altgr, Eol::Cr, false), b"\x1b\x00");
    }

    #[test]
    fn bad_until_is_one_line() {
        let args = MonitorArgs {
            until: Some("ready (".into()),
            ..MonitorArgs::default()
        };
        let err = Plan::from_args(&args, true, None).unwrap_err().to_string();
        assert!(
            err.starts_with("--until \"ready (\" is not a valid regular expression ("),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}
