//! `reset` and `hold-in-reset`: the board utilities that only move the chip's EN (and IO0) line.
//! `reset` restarts the chip into its firmware with the hard reset `flash` ends with (IO0 high,
//! an EN pulse; the USB-Serial/JTAG sequence on the chip's own USB), without connecting to the
//! loader; on a port without DTR/RTS (a pty, a raw TCP bridge) it connects and lets the RTC
//! watchdog reset the chip instead. `hold-in-reset` keeps EN low until told to let go.

use std::io::{BufRead as _, IsTerminal as _};
use std::time::Duration;

use cargo_esp32s3::loader::ResetDone;
use cargo_esp32s3::reset::{self, After};
use cargo_esp32s3::transport::Transport as _;

use super::CliError;
use super::args::{ConnectArgs, ManifestArgs};
use super::connect::{self, PortOptions};
use super::context;
use super::progress::{Progress, reset_line};

/// Arguments of `reset`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 reset                         restart the firmware
  cargo esp32s3 reset --port /dev/ttyACM0
  cargo esp32s3 reset --port sim:// --trace reset.trace

The chip restarts into its firmware (IO0 released, EN pulsed), as after `flash`. A custom
`hard-reset-sequence` from the settings is used when one is set.")]
pub struct ResetArgs {
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Arguments of `hold-in-reset`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 hold-in-reset                 hold until Enter (or until stdin ends)
  cargo esp32s3 hold-in-reset --seconds 30    hold for 30 seconds, then let the chip run

EN is held low (over the chip's USB-Serial/JTAG: a core reset is held) while this runs; the
chip starts its firmware when it lets go. Most systems drop DTR and RTS when a port is closed,
so a reset cannot outlive the command.")]
pub struct HoldArgs {
    /// Hold for SECS seconds instead of until Enter (or the end of stdin)
    #[arg(long, value_name = "SECS")]
    pub seconds: Option<f64>,
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `reset`: the hard reset on the lines; the watchdog through the loader where there are none.
pub fn run_reset(args: ResetArgs) -> super::Result<()> {
    let flags = context::flag_values(Some(&args.connect), None, None, None);
    let ctx = context::load(&args.manifest, flags)?;
    let options = PortOptions::from(&args.connect);
    let port = connect::choose_port(&ctx, &options)?;
    let played = {
        let mut transport =
            connect::open_port(&port, ctx.settings.monitor_baud, options.trace.as_deref())?;
        let sequence = reset::hard_reset_sequence(
            transport.usb_ids(),
            ctx.settings.hard_reset_sequence.as_ref(),
        );
        transport
            .set_dtr(false)
            .and_then(|()| reset::play(&mut *transport, &sequence.steps))
    };
    let done = match played {
        Ok(()) => ResetDone::HardResetRts,
        Err(_) => {
            // No DTR/RTS on this port: only the loader can reset the chip (its RTC watchdog).
            let mut settings = ctx.settings.clone();
            settings.before = reset::Before::NoReset;
            let mut progress = Progress::new();
            let mut board = cargo_esp32s3::Board::open_on(
                connect::open_port(&port, cargo_esp32s3::loader::ROM_BAUD, None)?,
                &settings,
                progress.callback(),
            )?;
            board.reset(After::WatchdogReset)?
        }
    };
    eprintln!("{}", reset_line(done));
    Ok(())
}

/// `hold-in-reset`: EN low (IO0 released) until Enter, the end of stdin or `--seconds`.
pub fn run_hold(args: HoldArgs) -> super::Result<()> {
    let seconds = match args.seconds {
        Some(s) if !(s.is_finite() && (0.0..1e7).contains(&s)) => {
            return Err(CliError::BadArgument(format!(
                "--seconds {s} is not a number of seconds; use a positive number such as 10 or 0.5"
            )));
        }
        other => other,
    };
    let flags = context::flag_values(Some(&args.connect), None, None, None);
    let ctx = context::load(&args.manifest, flags)?;
    let options = PortOptions::from(&args.connect);
    let port = connect::choose_port(&ctx, &options)?;
    let mut transport =
        connect::open_port(&port, ctx.settings.monitor_baud, options.trace.as_deref())?;
    transport
        .set_dtr_rts(false, true)
        .map_err(|e| {
            CliError::Refused(format!(
                "cannot hold the chip in reset through {port}: setting RTS failed ({e}); a port without DTR/RTS (a pty, a raw TCP bridge) cannot do it"
            ))
        })?;
    match seconds {
        Some(s) => {
            eprintln!("Holding the chip on {port} in reset for {s} s");
            transport.pause(Duration::from_secs_f64(s));
        }
        None if std::io::stdin().is_terminal() => {
            eprintln!("Holding the chip on {port} in reset; press Enter to let it run");
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
        }
        None => {
            eprintln!("Holding the chip on {port} in reset until stdin ends");
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        }
    }
    transport.set_rts(false)?;
    eprintln!("Released the reset: the chip runs its firmware");
    Ok(())
}
