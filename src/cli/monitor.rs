//! `monitor`, and the monitor half of `flash --monitor`: show what the chip prints, send it what
//! the user types, decode code addresses with the firmware ELF, and stop on `--until` /
//! `--timeout` for scripts.
//!
//! Interactive when stdin and stdout are terminals (and `--non-interactive` is not given): the
//! terminal goes raw for the whole session (restored on every exit path, panics included), bytes
//! from the chip are shown as they arrive, Ctrl+R resets the chip, Ctrl+] exits and every other
//! key goes to the chip (Ctrl+C too). Otherwise stdin is forwarded to the chip until it ends and
//! complete lines are printed. The reading, line splitting, hints and decoding are the library's
//! (`cargo_esp32s3::monitor`); this file owns the terminal, the keys, the printing and the exit codes.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use regex::Regex;

use cargo_esp32s3::loader::ResetDone;
use cargo_esp32s3::monitor::{Control, MonitorError, MonitorEvent, WatchEnd, WatchOptions};
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
        failed: None,
    };
    let port = transport.describe();
    let baud = transport.baud();
    let end = if plan.interactive {
        eprintln!("--- monitor on {port} at {baud} baud; {KEYS_HELP} ---");
        let raw = raw_terminal::RawMode::enter().map_err(|e| {
            MonitorError::Input(format!("cannot switch the terminal to raw mode: {e}"))
        })?;
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

/// Print a hint on stderr.
fn show_hint(hint: &str) {
    eprintln!("{}", console::style(hint).yellow().for_stderr());
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
    cargo_esp32s3::monitor::watch_with_input(
        transport,
        options,
        &mut |t| {
            while input_open {
                match input.try_recv() {
                    Ok(Input::Bytes(bytes)) => {
                        t.write_all(&translate_newlines(&bytes, b'\n', eol))?
                    }
                    Ok(Input::End) | Err(mpsc::TryRecvError::Disconnected) => input_open = false,
                    Ok(Input::Failed(e)) => return Err(MonitorError::Input(e)),
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            Ok(Control::Continue)
        },
        &mut |event| {
            match event {
                MonitorEvent::Received(_) => {}
                MonitorEvent::Line(line) => output.line(line),
                MonitorEvent::Hint(hint) => show_hint(hint),
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
    let input = spawn_stdin_reader();
    let eol = plan.eol.bytes();
    let mut input_open = true;
    cargo_esp32s3::monitor::watch_with_input(
        transport,
        options,
        &mut |t| {
            while input_open {
                let bytes = match input.try_recv() {
                    Ok(Input::Bytes(bytes)) => bytes,
                    Ok(Input::End) | Err(mpsc::TryRecvError::Disconnected) => {
                        input_open = false;
                        break;
                    }
                    Ok(Input::Failed(e)) => return Err(MonitorError::Input(e)),
                    Err(mpsc::TryRecvError::Empty) => break,
                };
                for key in bytes {
                    match key {
                        EXIT_KEY => return Ok(Control::Stop),
                        RESET_KEY => {
                            if reset_into_firmware(t, plan.hard_reset.as_ref()).is_err() {
                                eprintln!(
                                    "\r\n--- this port has no reset line; press the board's RESET button ---\r"
                                );
                            }
                        }
                        b'\r' => t.write_all(eol)?,
                        other => t.write_all(&[other])?,
                    }
                }
            }
            Ok(Control::Continue)
        },
        &mut |event| {
            match event {
                MonitorEvent::Received(bytes) => output.raw(bytes),
                MonitorEvent::Line(line) => output.line(line),
                MonitorEvent::Hint(hint) => show_hint(hint),
                MonitorEvent::Address { addr, location } => {
                    output.extra(&format!("--- 0x{addr:08x}: {location}"))
                }
            }
            output.control()
        },
    )
}

/// The terminal's raw mode, held for a whole session and restored when dropped or on a panic.
mod raw_terminal {
    #[cfg(unix)]
    mod imp {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicBool, Ordering};

        /// The terminal's settings before the first raw session (the same for every session
        /// of the process), read by the panic hook and the signal handler without locking.
        static ORIGINAL: OnceLock<libc::termios> = OnceLock::new();
        /// True while raw mode is on.
        static ACTIVE: AtomicBool = AtomicBool::new(false);
        /// Signals that end the process while the terminal is raw (Ctrl+C does not send one
        /// then; `kill`, a closed terminal or a CI runner's timeout do).
        const FATAL_SIGNALS: [libc::c_int; 4] =
            [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT];

        /// Put the original settings back if raw mode is on (async-signal-safe: an atomic, a
        /// plain read and tcsetattr).
        fn restore() {
            if ACTIVE.swap(false, Ordering::SeqCst) {
                if let Some(original) = ORIGINAL.get() {
                    // SAFETY: tcsetattr on stdin with settings tcgetattr returned.
                    unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, original) };
                }
            }
        }

        extern "C" fn restore_then_die(signal: libc::c_int) {
            restore();
            // SAFETY: back to the default action, then the same signal ends the process as
            // it would have without us.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
        }

        /// Raw input (no echo, no line buffering, no signals from Ctrl+C), output unchanged.
        pub struct RawMode {
            previous_handlers: Vec<(libc::c_int, libc::sighandler_t)>,
        }

        impl RawMode {
            /// Switch stdin's terminal to raw mode.
            pub fn enter() -> std::io::Result<Self> {
                let mut current = std::mem::MaybeUninit::<libc::termios>::uninit();
                // SAFETY: tcgetattr fills the struct on success, checked before use.
                if unsafe { libc::tcgetattr(libc::STDIN_FILENO, current.as_mut_ptr()) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // SAFETY: initialised by the successful tcgetattr above.
                let current = unsafe { current.assume_init() };
                let original = *ORIGINAL.get_or_init(|| {
                    let previous = std::panic::take_hook();
                    std::panic::set_hook(Box::new(move |info| {
                        restore();
                        previous(info);
                    }));
                    current
                });
                let mut raw = original;
                // SAFETY: cfmakeraw only edits the struct.
                unsafe { libc::cfmakeraw(&mut raw) };
                // Keep output processing, so "\n" still starts a new line on the screen.
                raw.c_oflag = original.c_oflag;
                let handler = restore_then_die as extern "C" fn(libc::c_int);
                let previous_handlers = FATAL_SIGNALS
                    .iter()
                    // SAFETY: installs a handler that only makes async-signal-safe calls.
                    .map(|&signal| {
                        (signal, unsafe {
                            libc::signal(signal, handler as libc::sighandler_t)
                        })
                    })
                    .collect();
                let session = RawMode { previous_handlers };
                ACTIVE.store(true, Ordering::SeqCst);
                // SAFETY: stdin with a struct derived from its own settings.
                if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(session)
            }
        }

        impl Drop for RawMode {
            fn drop(&mut self) {
                restore();
                for &(signal, handler) in &self.previous_handlers {
                    // SAFETY: puts back what `signal` returned when the session began.
                    unsafe { libc::signal(signal, handler) };
                }
            }
        }
    }

    #[cfg(not(unix))]
    mod imp {
        /// Without termios the console is used as it is (line-buffered input).
        pub struct RawMode(());

        impl RawMode {
            /// Nothing to switch.
            pub fn enter() -> std::io::Result<Self> {
                Ok(RawMode(()))
            }
        }
    }

    pub use imp::RawMode;
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
