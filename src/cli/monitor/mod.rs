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
//!
//! The pieces: `terminal.rs` (raw mode and the key reader), `keys.rs` (what keys send and mean),
//! `interactive.rs` and `non_interactive.rs` (the two ways of watching), `output.rs` (stdout, the
//! log file, hints).

mod interactive;
mod keys;
mod non_interactive;
mod output;
mod terminal;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use regex::Regex;

use cargo_esp32s3::loader::ResetDone;
use cargo_esp32s3::monitor::{MonitorError, WatchEnd, WatchOptions};
use cargo_esp32s3::reset::{self, ResetSequence};
use cargo_esp32s3::symbols::Symbols;
use cargo_esp32s3::transport::{Transport, TransportError};

use super::CliError;
use super::args::ManifestArgs;
use super::context::{self, note};

pub use keys::KEYS_HELP;
use output::Output;

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
    let port = super::connect::choose_port(settings, args.non_interactive)?;
    let mut transport = cargo_esp32s3::transport::open(&port, settings.monitor_baud)?;
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
pub(super) fn reset_into_firmware<T: Transport + ?Sized>(
    transport: &mut T,
    custom: Option<&ResetSequence>,
) -> Result<(), TransportError> {
    transport.set_dtr(false)?;
    let sequence = reset::hard_reset_sequence(transport.usb_ids(), custom);
    reset::play(transport, &sequence.steps)
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
        let end = interactive::watch_interactive(transport, &options, plan, &mut output);
        drop(raw);
        end
    } else {
        eprintln!("--- monitor on {port} at {baud} baud (non-interactive) ---");
        non_interactive::watch_lines(transport, &options, plan, &mut output)
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
