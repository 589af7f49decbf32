//! `checksum-md5 OFFSET SIZE`: the MD5 of a flash range, computed by the chip (SPI_FLASH_MD5),
//! without reading the bytes over the line.

use super::args::{ConnectArgs, ManifestArgs};
use super::connect::{self, number_arg};
use super::context;
use super::progress::{Progress, reset_line};

/// Arguments of `checksum-md5`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 checksum-md5 0x10000 0x100000    the first MiB of the app partition
  cargo esp32s3 checksum-md5 0x0 4M

Prints the 32 hex digits of the MD5 on stdout (as md5sum and esptool do); the MD5 of erased
flash is that of 0xFF bytes.")]
pub struct Args {
    /// Flash offset (decimal, 0x hex, or with K/M)
    #[arg(value_name = "OFFSET", value_parser = number_arg)]
    pub offset: u32,
    /// Number of bytes (decimal, 0x hex, or with K/M)
    #[arg(value_name = "SIZE", value_parser = number_arg)]
    pub size: u32,
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Connect, ask the chip for the MD5, print it, reset.
pub fn run(args: Args) -> super::Result<()> {
    let flags = context::flag_values(Some(&args.connect), None, None, None);
    let ctx = context::load(&args.manifest, flags)?;
    let mut progress = Progress::new();
    let mut board = connect::open_board(&ctx, &args.connect, &mut progress)?;
    let digest = board.md5(args.offset, args.size)?;
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    outln!("{hex}");
    let done = board.reset(ctx.settings.after)?;
    eprintln!("{}", reset_line(done));
    Ok(())
}
