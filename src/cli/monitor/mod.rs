//! `monitor`, and the monitor half of `flash --monitor`: show what the chip prints (defmt frames
//! decoded, log lines coloured and filtered by level and tag), send it what the user types,
//! decode code addresses with the firmware ELF, follow a USB device that re-enumerates, rebuild
//! and flash without leaving (Ctrl+T F), and stop on `--until` / `--timeout` for scripts.
//!
//! Interactive when stdin and stdout are terminals (and `--non-interactive` is not given): the
//! terminal goes raw for the whole session through crossterm, on Linux, macOS and Windows alike
//! (restored on every exit path: return, error, panic, and on Unix SIGTERM/SIGHUP/SIGINT/SIGQUIT),
//! Ctrl+R resets the chip, the exit key (Ctrl+] unless configured) exits, Ctrl+T starts the
//! monitor's commands, and every other key goes to the chip as the bytes a VT100-style terminal
//! sends (Ctrl+C as 0x03, Enter as `--eol`, arrows as escape sequences). Otherwise stdin is
//! forwarded to the chip until it ends and complete lines are printed. The reading, line
//! splitting, defmt decoding, level classification, hints and decoding are the library's
//! (`cargo_esp32s3::monitor`); this folder owns the terminal, the keys, the printing and the exit
//! codes.
//!
//! The pieces: `session.rs` (one monitor session: the watch, reconnecting, rebuilding),
//! `terminal.rs` (raw mode and the key reader), `keys.rs` (what keys send and mean),
//! `interactive.rs` and `non_interactive.rs` (the two ways of taking input), `output.rs` (stdout,
//! colours, filters, the log file, hints), `rebuild.rs` (Ctrl+T F).

mod interactive;
mod keys;
mod non_interactive;
mod output;
mod rebuild;
mod session;
mod terminal;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use cargo_esp32s3::config::Settings;
use cargo_esp32s3::loader::ResetDone;
use cargo_esp32s3::monitor::defmt::{DefmtDecoder, LogFormat, OutputFormat, detect_log_format};
use cargo_esp32s3::monitor::levels::{Level, LineFilter};
use cargo_esp32s3::monitor::reconnect::port_went_away;
use cargo_esp32s3::reset::{self, After, ResetSequence};
use cargo_esp32s3::symbols::Symbols;
use cargo_esp32s3::transport::{AnyTransport, Transport, TransportError};

use super::CliError;
use super::args::ImageJobArgs;
use super::context::{self, note, shown_path};

pub use keys::KEYS_HELP_TEXT;
use keys::KeyMap;
pub use rebuild::Rebuild;
pub use session::watch_chip;

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

/// How to read the console, as `--log-format` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatArg {
    /// Decode defmt frames (esp-println's defmt-espflash framing) with the ELF's table.
    Defmt,
    /// Text only.
    Plain,
}

/// Options of the monitor itself, shared by `monitor` and `flash --monitor`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Monitor")]
pub struct MonitorArgs {
    /// Firmware ELF: its symbols decode addresses in panics and backtraces, its defmt table
    /// decodes defmt frames
    #[arg(long, value_name = "FILE")]
    pub elf: Option<PathBuf>,
    /// defmt or plain [default: defmt when the ELF has a defmt table or its metadata says so]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,
    /// How defmt frames are shown: oneline (default), full, or a defmt log format such as
    /// "{t} [{L}] {s} ({m})"
    #[arg(long, value_name = "FORMAT")]
    pub output_format: Option<String>,
    /// Hide log lines below LEVEL: error, warn, info, debug, trace (ESP-IDF's, `log`'s and
    /// defmt's)
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Show only log lines of this ESP-IDF tag or module (and its submodules); repeat for more
    #[arg(long = "filter", value_name = "TAG")]
    pub filters: Vec<String>,
    /// Prefix every line with the seconds since the monitor started
    #[arg(long)]
    pub timestamps: bool,
    /// Append every line shown to FILE
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// What Enter sends to the chip
    #[arg(long, value_enum, value_name = "EOL", default_value_t = Eol::Cr)]
    pub eol: Eol,
    /// The key that exits, such as ctrl+x [default: ctrl+]] [env: ESP32S3_MONITOR_EXIT_KEY]
    #[arg(long, value_name = "KEY")]
    pub exit_key: Option<String>,
    /// Ctrl+C exits the monitor instead of going to the chip
    #[arg(long)]
    pub ctrl_c_exits: bool,
    /// End when the port disappears instead of waiting for the device to come back
    #[arg(long)]
    pub no_reconnect: bool,
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
    /// flashed decodes addresses and defmt unless --elf is given); Ctrl+R resets the chip,
    /// Ctrl+] exits, Ctrl+T F rebuilds and flashes again, Ctrl+T H shows the keys
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
#[command(after_help = after_help())]
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
    /// Package, and how Ctrl+T F builds and lays out the firmware.
    #[command(flatten)]
    pub job: ImageJobArgs,
}

/// `monitor --help`'s text after the options: the keys, the modes, examples.
fn after_help() -> String {
    format!(
        "{KEYS_HELP_TEXT}

Non-interactive (stdin is not a terminal, or --non-interactive): stdin is sent to the chip until
it ends and lines are printed; --until exits 0 on a match, --timeout exits 8 when it passes.
A serial port that disappears (a USB board re-enumerating after a reset) is waited for and
reopened, also under a new name with the same USB serial number (--no-reconnect: end instead).

Examples:
  cargo esp32s3 monitor --elf target/xtensa-esp32s3-none-elf/debug/app   (defmt decoded if used)
  cargo esp32s3 monitor --log-level warn --filter wifi
  cargo esp32s3 monitor --port /dev/ttyUSB0 --timestamps --log boot.log
  cargo esp32s3 monitor --release                 Ctrl+T F rebuilds with --release
  cargo esp32s3 monitor --non-interactive --until 'ready' --timeout 30"
    )
}

/// Monitor: open the port (no loader, no SYNC), reset the chip into its firmware, watch.
pub fn run(args: Args) -> super::Result<()> {
    let mut flags = context::job_flag_values(&args.job, None);
    flags.port = args.port.clone();
    flags.monitor_baud = args.baud.clone();
    flags.monitor_exit_key = args.monitor.exit_key.clone();
    let ctx = context::load(&args.job.manifest, flags)?;
    let settings = &ctx.settings;
    // Check the options and read the ELF before touching the port.
    let plan = Plan::from_args(&args.monitor, args.non_interactive, settings)?;
    let firmware = load_firmware(args.monitor.elf.as_deref(), &plan)?;
    // Ctrl+T F rebuilds the ELF given (when this project's build made it), else the project.
    let rebuild = args
        .monitor
        .elf
        .as_deref()
        .and_then(|elf| Rebuild::for_file(&ctx, &args.job.manifest, &args.job.build, elf))
        .or_else(|| Rebuild::new(&ctx, &args.job.manifest, &args.job.build));
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
    session::watch_chip(transport, firmware, &plan, rebuild)
}

/// What the session must do after a key or an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// End the monitor.
    Exit,
    /// Rebuild, flash what changed, reset, go on (Ctrl+T F).
    Rebuild,
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
    /// `--log-level` and `--filter`.
    filter: LineFilter,
    /// `--log-format`, when given.
    log_format: Option<LogFormat>,
    /// `--output-format`, checked.
    output_format: Option<OutputFormat>,
    /// The exit key and `--ctrl-c-exits`.
    keys: KeyMap,
    /// Wait for a serial device that disappears.
    reconnect: bool,
    /// The speed to open a port at again after it came back.
    monitor_baud: u32,
}

impl Plan {
    /// Check the options; interactive when stdin and stdout are terminals and not refused.
    /// `settings` gives the hard reset sequence (the default one for the port if unset), the
    /// exit key and the monitor baud rate.
    pub fn from_args(
        args: &MonitorArgs,
        non_interactive: bool,
        settings: &Settings,
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
        let min_level = match &args.log_level {
            Some(text) => Some(Level::parse(text).ok_or_else(|| {
                CliError::BadArgument(format!(
                    "--log-level {text:?} is not a log level; use {}",
                    Level::ACCEPTED
                ))
            })?),
            None => None,
        };
        let filter = LineFilter {
            min_level,
            tags: args
                .filters
                .iter()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
        };
        let output_format = match &args.output_format {
            Some(text) => {
                Some(OutputFormat::parse(text).map_err(|e| CliError::BadArgument(e.to_string()))?)
            }
            None => None,
        };
        let keys = KeyMap {
            exit: settings.monitor_exit_key,
            ctrl_c_exits: args.ctrl_c_exits,
        };
        keys.check().map_err(CliError::BadArgument)?;
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
            hard_reset: settings.hard_reset_sequence.clone(),
            filter,
            log_format: args.log_format.map(|f| match f {
                LogFormatArg::Defmt => LogFormat::Defmt,
                LogFormatArg::Plain => LogFormat::Plain,
            }),
            output_format,
            keys,
            reconnect: !args.no_reconnect,
            monitor_baud: settings.monitor_baud,
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

/// What the monitor knows of the firmware from its ELF.
#[derive(Debug, Default)]
pub struct Firmware {
    /// Symbols for decoding code addresses.
    pub symbols: Option<Symbols>,
    /// The defmt decoder, when the firmware writes defmt frames.
    pub defmt: Option<DefmtDecoder>,
}

/// Read the ELF (when there is one): its symbols, and its defmt table when the firmware writes
/// defmt (as `--log-format` says, else as the ELF says of itself).
pub fn load_firmware(elf: Option<&Path>, plan: &Plan) -> super::Result<Firmware> {
    let Some(path) = elf else {
        if plan.log_format == Some(LogFormat::Defmt) {
            return Err(CliError::BadArgument(
                "--log-format defmt needs the firmware's ELF (its .defmt table decodes the frames); pass --elf FILE".into(),
            ));
        }
        return Ok(Firmware::default());
    };
    let symbols = Symbols::from_elf_file(path)?;
    let format = match plan.log_format {
        Some(format) => format,
        None => {
            let bytes = std::fs::read(path)
                .map_err(|e| cargo_esp32s3::Error::file("read", path.to_path_buf(), e))?;
            detect_log_format(&bytes).map_err(monitor_error)?
        }
    };
    let defmt = match format {
        LogFormat::Plain => None,
        LogFormat::Defmt => {
            let bytes = std::fs::read(path)
                .map_err(|e| cargo_esp32s3::Error::file("read", path.to_path_buf(), e))?;
            let decoder = DefmtDecoder::from_elf(&bytes, plan.output_format.clone())
                .map_err(monitor_error)?;
            if plan.log_format.is_none() {
                note(&format!(
                    "decoding defmt frames with the table in {}{} (--log-format plain to show them raw)",
                    shown_path(path),
                    if decoder.has_locations() {
                        ""
                    } else {
                        ", no file:line (the ELF has no DWARF for them; build with debug = 2)"
                    }
                ));
            }
            Some(decoder)
        }
    };
    if defmt.is_none() && plan.output_format.is_some() {
        note(
            "--output-format lays out defmt frames; this firmware writes text, so it changes nothing",
        );
    }
    Ok(Firmware {
        symbols: Some(symbols),
        defmt,
    })
}

fn monitor_error(e: cargo_esp32s3::monitor::defmt::DefmtError) -> CliError {
    CliError::Lib(cargo_esp32s3::Error::Monitor(e.into()))
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

/// Whether a reset into the firmware that failed with `error` went through and took the port
/// with it (the chip's own USB re-enumerating as the chip restarted): a monitor then waits for
/// the device instead of failing. Not when no reset was asked for.
pub fn reset_lost_the_port(error: &cargo_esp32s3::Error, after: After) -> bool {
    after != After::NoReset && port_went_away(error)
}

/// How the chip was reset when the port went away with the reset `after` asked for.
pub fn reset_that_lost_the_port(after: After) -> ResetDone {
    match after {
        After::WatchdogReset => ResetDone::Watchdog,
        After::SoftReset => ResetDone::RanUserCode,
        After::HardReset | After::NoReset => ResetDone::HardResetRts,
    }
}

/// The flash command's monitor step: reuse the loader's open connection after the write.
pub fn start_after_flash(
    transport: AnyTransport,
    firmware: Firmware,
    plan: &Plan,
    reset: ResetDone,
    rebuild: Option<Rebuild>,
) -> super::Result<()> {
    note(match reset {
        ResetDone::StayedInLoader => {
            "monitoring the chip; it was not reset (--after no-reset), so it is still in the loader and prints nothing until it is reset (Ctrl+R)"
        }
        _ => "monitoring the chip; the boot log follows",
    });
    session::watch_chip(transport, firmware, plan, rebuild)
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
        let err = Plan::from_args(&args, true, &Settings::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--until \"ready (\" is not a valid regular expression ("),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn bad_levels_formats_and_keys_are_usage_errors() {
        let check = |args: MonitorArgs, settings: Settings, needle: &str| {
            let err = Plan::from_args(&args, true, &settings).unwrap_err();
            assert!(matches!(err, CliError::BadArgument(_)), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        };
        check(
            MonitorArgs {
                log_level: Some("loud".into()),
                ..MonitorArgs::default()
            },
            Settings::default(),
            "--log-level \"loud\" is not a log level; use error, warn",
        );
        check(
            MonitorArgs {
                output_format: Some("{L}".into()),
                ..MonitorArgs::default()
            },
            Settings::default(),
            "no {s}",
        );
        let ctrl_r = Settings {
            monitor_exit_key: cargo_esp32s3::config::ControlKey::parse("ctrl+r").expect("key"),
            ..Settings::default()
        };
        check(
            MonitorArgs::default(),
            ctrl_r,
            "Ctrl+R already resets the chip",
        );
    }
}
