//! `erase [--region OFFSET SIZE | --partition NAME,...]`: erase a region, partitions (found by
//! the board in the table on the chip, all checked before any is erased), or, only when neither
//! is given, the whole flash, and it says so. A bootloader about to be erased is kept first (in
//! the user's cache directory, `cargo esp32s3 bootloader list`).

use super::CliError;
use super::args::{ConnectArgs, ManifestArgs};
use super::connect::{self, number_arg};
use super::context;
use super::progress::{Progress, reset_line};
use cargo_esp32s3::units::human_size;

/// Flash sectors are 4 KiB; erase commands work on whole sectors.
const SECTOR: u32 = 0x1000;

/// Arguments of `erase`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 erase                              erase the whole flash
  cargo esp32s3 erase --region 0x9000 0x6000       erase 24 KiB at 0x9000
  cargo esp32s3 erase --partition nvs              erase the nvs partition of the table on the chip
  cargo esp32s3 erase --partition nvs,otadata      erase both (each name is checked first)

Before the bootloader is erased (the whole flash, or a region from 0x0), a copy is kept in the
user's cache directory; a blank chip then gets it back with the next `flash` of an app.")]
pub struct Args {
    /// Erase SIZE bytes at OFFSET (both multiples of 4 KiB: 0x1000, 4K)
    #[arg(long, num_args = 2, value_names = ["OFFSET", "SIZE"], value_parser = number_arg, conflicts_with = "partition")]
    pub region: Option<Vec<u32>>,
    /// Erase the partitions with these names, as the partition table on the chip places them
    /// (several: --partition nvs,otadata, or the flag repeated)
    #[arg(long, value_name = "NAME", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub partition: Vec<String>,
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Partition table offset on the chip [default: 0x8000]
    #[arg(long, value_name = "OFFSET")]
    pub partition_table_offset: Option<String>,
    /// Erase even on a chip with secure boot or flash encryption (it may not boot again)
    #[arg(long)]
    pub force: bool,
}

/// Erase.
pub fn run(args: Args) -> super::Result<()> {
    let region = match args.region.as_deref() {
        Some([offset, size]) => Some(check_region(*offset, *size)?),
        Some(_) => {
            return Err(CliError::BadArgument(
                "--region needs an OFFSET and a SIZE".into(),
            ));
        }
        None => None,
    };
    let mut flags = context::flag_values(Some(&args.connect), None, None, None);
    flags.partition_table_offset = args.partition_table_offset.clone();
    flags.force = args.force;
    let ctx = context::load(&args.manifest, flags)?;
    let settings = &ctx.settings;

    let mut progress = Progress::new();
    let mut board = connect::open_board(&ctx, &args.connect, &mut progress)?;
    match (region, &args.partition) {
        (Some((offset, size)), _) => {
            board.erase_region(offset, size, progress.callback())?;
        }
        (None, names) if !names.is_empty() => {
            board.erase_partitions(names, progress.callback())?;
        }
        (None, _) => {
            eprintln!(
                "Erasing the whole flash ({}); use --region or --partition to erase less",
                human_size(u64::from(board.flash_size()))
            );
            board.erase_all(progress.callback())?;
        }
    }
    let done = board.reset(settings.after)?;
    eprintln!("{}", reset_line(done));
    Ok(())
}

/// Both must be whole sectors, and the region must not wrap around.
fn check_region(offset: u32, size: u32) -> super::Result<(u32, u32)> {
    if offset % SECTOR != 0 || size % SECTOR != 0 || size == 0 {
        return Err(CliError::BadArgument(format!(
            "--region 0x{offset:x} 0x{size:x}: offset and size must be multiples of 4 KiB (0x1000) and the size not 0; for example --region 0x9000 0x6000"
        )));
    }
    if offset.checked_add(size).is_none() {
        return Err(CliError::BadArgument(format!(
            "--region 0x{offset:x} 0x{size:x} runs past the 4 GiB address space"
        )));
    }
    Ok((offset, size))
}
