//! `cargo esp32s3 sim`: run the virtual ESP32-S3 for other tools, served on a pseudo-terminal.
//!
//! Prints the device path as the first line of stdout (so scripts can read it), serves until
//! SIGINT/SIGTERM, then writes the flash file back. Only argument handling, printing and signal
//! handling live here; the chip and the pty loop are `crate::sim`.

use std::path::PathBuf;

use crate::Error;
use crate::sim::{ChipKind, Esp32s3, SimConfig, SimError, StartIn, parse_size};
use crate::transport::TransportError;

/// Arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  cargo esp32s3 sim --pty
  cargo esp32s3 sim --pty --flash board.bin --flash-size 16MB --link /tmp/esp32s3
  esptool --port /dev/pts/5 --before no-reset --chip esp32s3 flash-id

The first line on stdout is the device path. A pseudo-terminal has no DTR/RTS lines, so the chip
stays in download mode; use --before no-reset with esptool (no_reset with esptool.py 4.x).")]
pub struct Args {
    /// Serve the chip on a pseudo-terminal (the only server so far)
    #[arg(long, required = true)]
    pub pty: bool,
    /// Keep the flash contents in this file (loaded at start, written back on exit)
    #[arg(long, value_name = "FILE")]
    pub flash: Option<PathBuf>,
    /// Flash chip size, e.g. 4MB, 8MB, 16MB
    #[arg(long, value_name = "SIZE", default_value = "8MB", value_parser = parse_flash_size)]
    pub flash_size: u32,
    /// Also create a symlink to the device at this path (removed on exit)
    #[arg(long, value_name = "PATH")]
    pub link: Option<PathBuf>,
    /// Claim to be another chip (to test a host's wrong-chip refusal)
    #[arg(long, value_name = "CHIP", default_value = "esp32s3", value_parser = parse_chip)]
    pub chip: ChipKind,
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

fn sim_error(e: SimError) -> Error {
    match e {
        SimError::FlashFile {
            action,
            path,
            source,
        } => Error::file(action, path, source),
        other => Error::Transport(TransportError::Io {
            port: "pty".into(),
            source: std::io::Error::other(other.to_string()),
        }),
    }
}

/// Run the command.
pub fn run(args: Args) -> crate::Result<()> {
    let config = SimConfig {
        flash_size: args.flash_size,
        flash_file: args.flash.clone(),
        chip: args.chip,
        start_in: StartIn::Download,
        ..SimConfig::default()
    };
    let chip = Esp32s3::new(config).map_err(sim_error)?;
    serve_pty(chip, &args)
}

#[cfg(unix)]
fn serve_pty(chip: Esp32s3, args: &Args) -> crate::Result<()> {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicBool, Ordering};

    static STOP: AtomicBool = AtomicBool::new(false);
    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::SeqCst);
    }

    let server = crate::sim::pty::PtyServer::open(chip).map_err(sim_error)?;
    let device = server.slave_path().to_path_buf();
    if let Some(link) = &args.link {
        // Replace a stale link from an earlier run; never delete anything else.
        if std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(link).map_err(|e| Error::file("replace", link, e))?;
        }
        std::os::unix::fs::symlink(&device, link).map_err(|e| Error::file("create", link, e))?;
    }
    let handler: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
    let stop = server.stop_handle();
    std::thread::spawn(move || {
        while !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        stop.stop();
    });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", device.display());
    let _ = writeln!(
        stdout,
        "serving a virtual {} in download mode ({} MiB flash{}) on {}; stop with Ctrl-C",
        args.chip.name().to_uppercase().replace("ESP32", "ESP32-"),
        args.flash_size >> 20,
        args.flash
            .as_ref()
            .map(|f| format!(", kept in {}", f.display()))
            .unwrap_or_default(),
        args.link.as_ref().unwrap_or(&device).display()
    );
    let _ = stdout.flush();
    drop(stdout);
    let result = server.serve();
    if let Some(link) = &args.link {
        let _ = std::fs::remove_file(link);
    }
    result.map(|_| ()).map_err(sim_error)
}

#[cfg(not(unix))]
fn serve_pty(_chip: Esp32s3, _args: &Args) -> crate::Result<()> {
    Err(Error::Transport(TransportError::InvalidPort {
        port: "pty".into(),
        reason: "pseudo-terminals exist only on Unix; use the sim:// port in-process".into(),
    }))
}
