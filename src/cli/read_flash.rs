//! `read-flash OFFSET SIZE FILE`: read flash contents into a file (checked against the chip's
//! MD5). An existing FILE is kept unless `--force`: it may be the only copy of something.

use std::path::PathBuf;

use super::CliError;
use super::args::{ConnectArgs, ManifestArgs};
use super::build::write;
use super::connect::{self, number_arg};
use super::context::{self, shown_path};
use super::progress::{Progress, reset_line};
use cargo_esp32s3::units::human_size;

/// Arguments of `read-flash`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 read-flash 0x0 4M backup.bin        the whole of a 4 MiB flash
  cargo esp32s3 read-flash 0x8000 0xc00 table.bin  the partition table
  cargo esp32s3 read-flash 0x9000 24K nvs.bin --force")]
pub struct Args {
    /// Flash offset to start at (decimal, 0x hex, or with K/M)
    #[arg(value_name = "OFFSET", value_parser = number_arg)]
    pub offset: u32,
    /// Number of bytes to read (decimal, 0x hex, or with K/M)
    #[arg(value_name = "SIZE", value_parser = number_arg)]
    pub size: u32,
    /// File to write
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Overwrite FILE if it exists
    #[arg(long)]
    pub force: bool,
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Read and save.
pub fn run(args: Args) -> super::Result<()> {
    if args.size == 0 {
        return Err(CliError::BadArgument("SIZE is 0: nothing to read".into()));
    }
    if args.file.is_dir() {
        return Err(CliError::Refused(format!(
            "{} is a folder; give the path of a file to write, such as {}",
            shown_path(&args.file),
            shown_path(&args.file.join("flash.bin"))
        )));
    }
    if args.file.exists() && !args.force {
        return Err(CliError::Refused(format!(
            "{} exists; pass --force to overwrite it, or choose another file",
            shown_path(&args.file)
        )));
    }
    // A long read must not end in a file that cannot be written: check the folder first.
    if let Some(folder) = args.file.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !folder.is_dir() {
            return Err(CliError::Refused(format!(
                "cannot write {}: the folder {} does not exist; create it first, or choose another file",
                shown_path(&args.file),
                shown_path(folder)
            )));
        }
    }
    let flags = context::flag_values(Some(&args.connect), None, None, None);
    let ctx = context::load(&args.manifest, flags)?;
    let mut progress = Progress::new();
    let mut board = connect::open_board(&ctx, &args.connect, &mut progress)?;
    let started = std::time::Instant::now();
    let bytes = board.read_flash(args.offset, args.size, progress.callback())?;
    write(&args.file, &bytes)?;
    eprintln!(
        "Read {} bytes ({}) at 0x{:x} in {:.1} s into {}",
        bytes.len(),
        human_size(bytes.len() as u64),
        args.offset,
        started.elapsed().as_secs_f64(),
        shown_path(&args.file)
    );
    let done = board.reset(ctx.settings.after)?;
    eprintln!("{}", reset_line(done));
    Ok(())
}
