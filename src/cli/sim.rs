//! `cargo esp32s3 sim`: run the virtual ESP32-S3 for other tools, served on a pseudo-terminal
//! (`--pty`) or over RFC 2217 on 127.0.0.1 (`--rfc2217 PORT`).
//!
//! Prints where to connect as the first line of stdout (the device path, or
//! `rfc2217://127.0.0.1:PORT`) so scripts can read it, serves until Ctrl-C/SIGTERM/SIGHUP (or
//! Ctrl-Break and a closed console on Windows, through the `ctrlc` crate), then writes the flash
//! file back. `--pty` is Unix-only; elsewhere it fails with a one-line error pointing to
//! `--rfc2217`. Only argument handling, printing and signal handling live here; the chip and the
//! server loops are `cargo_esp32s3::sim`.

use std::path::PathBuf;

use cargo_esp32s3::Error;
use cargo_esp32s3::sim::{ChipKind, Esp32s3, Faults, Pace, SimConfig, SimError, StartIn};
use cargo_esp32s3::transport::TransportError;
use cargo_esp32s3::units::parse_size;

use super::CliError;

/// Arguments.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("server").required(true).args(["pty", "rfc2217"]))]
#[command(after_help = "\
Examples:
  cargo esp32s3 sim --pty
  cargo esp32s3 sim --pty --flash board.bin --flash-size 16MB --link /tmp/esp32s3
  esptool --port /dev/pts/5 --before no-reset --chip esp32s3 flash-id
  cargo esp32s3 sim --rfc2217 0 --flash board.bin
  esptool --port rfc2217://127.0.0.1:40123 --chip esp32s3 flash-id
  cargo esp32s3 sim --pty --faults 'fault-seed=7&drop=1e-5&late=0.01&reset-at=300K'

The first line on stdout is where to connect: the device path, or rfc2217://127.0.0.1:PORT.
A pseudo-terminal has no DTR/RTS lines, so the chip starts (and stays) in download mode; use
--before no-reset with esptool (no_reset with esptool.py 4.x). Over RFC 2217 DTR and RTS reach
the chip's IO0 and EN pins, so it starts by booting from its flash like a board just plugged in,
and a client's reset sequence brings it into download mode.")]
pub struct Args {
    /// Serve the chip on a pseudo-terminal
    #[arg(long)]
    pub pty: bool,
    /// Serve the chip over RFC 2217 on 127.0.0.1:PORT (0 picks a free port)
    #[arg(long, value_name = "PORT")]
    pub rfc2217: Option<u16>,
    /// How the chip starts: in download mode, or booting from its flash (default: download
    /// with --pty, spi with --rfc2217)
    #[arg(long, value_name = "MODE", value_parser = parse_boot)]
    pub boot: Option<StartIn>,
    /// Keep the flash contents in this file (loaded at start, written back on exit)
    #[arg(long, value_name = "FILE")]
    pub flash: Option<PathBuf>,
    /// Flash chip size, e.g. 4MB, 8MB, 16MB
    #[arg(long, value_name = "SIZE", default_value = "8MB", value_parser = parse_flash_size)]
    pub flash_size: u32,
    /// Also create a symlink to the device at this path (removed on exit; --pty only)
    #[arg(long, value_name = "PATH", requires = "pty")]
    pub link: Option<PathBuf>,
    /// Claim to be another chip (to test a host's wrong-chip refusal)
    #[arg(long, value_name = "CHIP", default_value = "esp32s3", value_parser = parse_chip)]
    pub chip: ChipKind,
    /// `real`: the line, the flash and the CPU take their real time (the calibrated model in
    /// `sim::Pace`); `off`: answer at once
    #[arg(long, value_name = "PACE", default_value = "off", value_parser = parse_pace)]
    pub pace: PaceArg,
    /// The USB-UART adapter's limit: above this speed the line corrupts bytes
    #[arg(long, value_name = "BAUD")]
    pub max_baud: Option<u32>,
    /// Faults on the line, in the loaders and in the flash, as a sim:// URL takes them:
    /// fault-seed=N, drop, flip, dup, truncate, noise, late, error and program-fail rates,
    /// late-by, reset-at, unplug-at, replug, replug-after, bad-sector (joined with &)
    #[arg(long, value_name = "OPTIONS", value_parser = parse_faults)]
    pub faults: Option<Faults>,
}

fn parse_faults(text: &str) -> Result<Faults, String> {
    cargo_esp32s3::transport::sim::parse_faults(text).map_err(|e| e.to_string())
}

/// `--pace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceArg {
    /// Answer at once.
    Off,
    /// Real time for the line, flash and CPU.
    Real,
}

fn parse_pace(text: &str) -> Result<PaceArg, String> {
    match text {
        "off" => Ok(PaceArg::Off),
        "real" => Ok(PaceArg::Real),
        _ => Err(format!("{text:?} is not a pace; use real or off")),
    }
}

fn parse_boot(text: &str) -> Result<StartIn, String> {
    match text {
        "download" => Ok(StartIn::Download),
        "spi" => Ok(StartIn::SpiBoot),
        _ => Err(format!("{text:?} is not a boot mode; use download or spi")),
    }
}

fn parse_flash_size(text: &str) -> Result<u32, String> {
    parse_size(text)
        .filter(|s| s.is_power_of_two() && (0x4_0000..=0x800_0000).contains(s))
        .map(|s| s as u32)
        .ok_or_else(|| {
            format!("{text:?} is not a flash size; use a power of two from 256KB to 128MB such as 4MB, 8MB or 16MB")
        })
}

fn parse_chip(text: &str) -> Result<ChipKind, String> {
    ChipKind::parse(text).ok_or_else(|| {
        let names: Vec<&str> = ChipKind::ALL.iter().map(|k| k.name()).collect();
        format!(
            "{text:?} is not a known chip; use one of {}",
            names.join(", ")
        )
    })
}

fn sim_error(e: SimError) -> CliError {
    CliError::Lib(match e {
        SimError::FlashFile {
            action,
            path,
            source,
        } => Error::file(action, path, source),
        other => Error::Transport(TransportError::Io {
            port: "sim".into(),
            source: std::io::Error::other(other.to_string()),
        }),
    })
}

/// Run the command.
pub fn run(args: Args) -> super::Result<()> {
    let default_boot = if args.rfc2217.is_some() {
        StartIn::SpiBoot
    } else {
        StartIn::Download
    };
    let config = SimConfig {
        flash_size: args.flash_size,
        flash_file: args.flash.clone(),
        chip: args.chip,
        start_in: args.boot.unwrap_or(default_boot),
        pace: (args.pace == PaceArg::Real).then(Pace::real),
        max_baud: args.max_baud,
        faults: args.faults.clone().unwrap_or_default(),
        ..SimConfig::default()
    };
    let chip = Esp32s3::new(config).map_err(sim_error)?;
    match args.rfc2217 {
        Some(port) => serve_rfc2217(chip, port, &args),
        None => serve_pty(chip, &args),
    }
}

/// Call `stop` (once) on Ctrl-C, SIGTERM or SIGHUP (Unix), or Ctrl-Break or a closed console
/// window (Windows), so the server ends and the flash file is written back. The `ctrlc` crate
/// runs `stop` on its own thread, not in a signal handler.
fn stop_on_signal(stop: impl FnOnce() + Send + 'static) -> super::Result {
    let mut stop = Some(stop);
    ctrlc::set_handler(move || {
        if let Some(stop) = stop.take() {
            stop();
        }
    })
    .map_err(|e| {
        CliError::Refused(format!(
            "cannot catch Ctrl-C to stop the simulator cleanly ({e}); without it the flash file would not be written back, so the simulator does not start"
        ))
    })
}

/// "a virtual ESP32-S3 in download mode (8 MiB flash, kept in f.bin)".
fn describe(args: &Args, start_in: StartIn) -> String {
    format!(
        "a virtual {} {} ({} MiB flash{}{})",
        args.chip.name().to_uppercase().replace("ESP32", "ESP32-"),
        match start_in {
            StartIn::Download => "in download mode",
            StartIn::SpiBoot => "booting from flash",
        },
        args.flash_size >> 20,
        args.flash
            .as_ref()
            .map(|f| format!(", kept in {}", f.display()))
            .unwrap_or_default(),
        if args.pace == PaceArg::Real {
            ", paced: the line, flash and CPU take their real time"
        } else {
            ""
        },
    )
}

fn serve_rfc2217(chip: Esp32s3, port: u16, args: &Args) -> super::Result<()> {
    use std::io::Write as _;

    let start_in = chip.config().start_in;
    let server = cargo_esp32s3::sim::rfc2217::Rfc2217Server::bind(chip, port).map_err(|e| match e {
        // The usual mistake (a second server, or a port another program has) gets a message
        // naming the port and the way out, not a bare OS error.
        SimError::Socket { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            CliError::NoPort(format!(
                "cannot serve on 127.0.0.1:{port}: another program listens there; choose another port, or --rfc2217 0 for a free one"
            ))
        }
        other => sim_error(other),
    })?;
    let url = server.url();
    let stop = server.stop_handle();
    stop_on_signal(move || stop.stop())?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{url}");
    let _ = writeln!(
        stdout,
        "serving {} over RFC 2217 on {url}; DTR/RTS drive IO0/EN; stop with Ctrl-C",
        describe(args, start_in)
    );
    let _ = stdout.flush();
    drop(stdout);
    let chip = server.serve().map_err(sim_error)?;
    print_stats(&chip);
    Ok(())
}

#[cfg(unix)]
fn serve_pty(chip: Esp32s3, args: &Args) -> super::Result<()> {
    use std::io::Write as _;

    let start_in = chip.config().start_in;
    let server = cargo_esp32s3::sim::pty::PtyServer::open(chip).map_err(sim_error)?;
    let device = server.slave_path().to_path_buf();
    if let Some(link) = &args.link {
        // Replace a stale link from an earlier run; never delete anything else.
        if std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(link).map_err(|e| Error::file("replace", link, e))?;
        }
        std::os::unix::fs::symlink(&device, link).map_err(|e| Error::file("create", link, e))?;
    }
    let stop = server.stop_handle();
    stop_on_signal(move || stop.stop())?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", device.display());
    let _ = writeln!(
        stdout,
        "serving {} on {}; stop with Ctrl-C",
        describe(args, start_in),
        args.link.as_ref().unwrap_or(&device).display()
    );
    let _ = stdout.flush();
    drop(stdout);
    let result = server.serve();
    if let Some(link) = &args.link {
        let _ = std::fs::remove_file(link);
    }
    let chip = result.map_err(sim_error)?;
    print_stats(&chip);
    Ok(())
}

/// A paced chip's totals, one `stats:` line on stdout when the server stops (`cargo xtask
/// bench` reads it for the wire limit).
fn print_stats(chip: &Esp32s3) {
    use std::io::Write as _;
    if let Some(stats) = chip.pace_stats() {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "stats: to_chip_bytes={} to_host_bytes={} to_chip_wire_ms={:.1} to_host_wire_ms={:.1} busy_ms={:.1}",
            stats.to_chip_bytes,
            stats.to_host_bytes,
            stats.to_chip_wire.as_secs_f64() * 1e3,
            stats.to_host_wire.as_secs_f64() * 1e3,
            stats.busy.as_secs_f64() * 1e3
        );
        let _ = stdout.flush();
    }
}

/// Pseudo-terminals are a Unix thing; Windows gets RFC 2217 (or `sim://` in-process).
#[cfg(not(unix))]
fn serve_pty(_chip: Esp32s3, _args: &Args) -> super::Result<()> {
    Err(CliError::BadArgument(
        "`sim --pty`: pseudo-terminals are Unix-only; use `sim --rfc2217 PORT` and connect with rfc2217://127.0.0.1:PORT".to_owned(),
    ))
}
