//! `verify [FILE...] [--at OFFSET FILE...]`: compare what `flash` would write with what the chip
//! holds, region by region, writing nothing; exit 0 when everything matches, else exit 7 naming
//! the first region that differs and where in it. The same plans as `flash` (an ELF given or
//! built, a `.bin` placed by its content, `--at` pairs), compared by the library's
//! [`Board::verify`](cargo_esp32s3::Board::verify).

use std::path::PathBuf;

use clap::ArgAction;

use cargo_esp32s3::plan::Plan;
use cargo_esp32s3::units::{human_size, parse_number};

use super::CliError;
use super::args::{ConnectArgs, ImageJobArgs};
use super::build::build_firmware;
use super::connect;
use super::context;
use super::progress::{Progress, reset_line};

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 verify                            build, then compare with the chip
  cargo esp32s3 verify firmware.bin               a merged image at 0x0, an app in its partition
  cargo esp32s3 verify bootloader.bin app.elf     several files, each placed by its content
  cargo esp32s3 verify --at 0x9000 nvs.bin        a file at an offset

Nothing is written. Exit status 0: the chip holds every region `flash` would write. Exit status
7: a region differs; the message names the first one and the first 4 KiB in it that differs.")]
pub struct Args {
    /// ELF, merged offset-0 .bin, app .bin, bootloader .bin or partition table (omit to build
    /// the project)
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Compare FILE at OFFSET, exactly as it is; repeat for several files
    #[arg(
        long = "at",
        num_args = 2,
        value_names = ["OFFSET", "FILE"],
        action = ArgAction::Append,
        conflicts_with = "files"
    )]
    pub at: Vec<String>,
    /// Package, build, flash settings, bootloader and partition table.
    #[command(flatten)]
    pub job: ImageJobArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Compare and report.
pub fn run(args: Args) -> super::Result<()> {
    let flags = context::job_flag_values(&args.job, Some(&args.connect));
    let ctx = context::load(&args.job.manifest, flags)?;
    let settings = &ctx.settings;
    let plans: Vec<Plan> = if !args.at.is_empty() {
        let mut pairs = Vec::new();
        for pair in args.at.chunks(2) {
            let [offset, file] = pair else {
                return Err(CliError::BadArgument(
                    "--at needs an OFFSET and a FILE".into(),
                ));
            };
            let offset = parse_number(offset).ok_or_else(|| {
                CliError::BadArgument(format!(
                    "--at {offset:?} {file}: the offset is not a number; write it as 0x10000 or 65536"
                ))
            })?;
            pairs.push((offset, PathBuf::from(file)));
        }
        vec![Plan::from_at(&pairs, settings)?]
    } else if args.files.is_empty() {
        let built = build_firmware(&ctx, &args.job.manifest, &args.job.build)?;
        vec![Plan::from_elf(&built.executable, settings, &built.idf())?]
    } else {
        args.files
            .iter()
            .map(|file| Plan::from_file(file, settings))
            .collect::<cargo_esp32s3::Result<_>>()?
    };
    let mut progress = Progress::new();
    let mut board = connect::open_board(&ctx, &args.connect, &mut progress)?;
    let mut checked = 0;
    let mut first_mismatch = None;
    for plan in &plans {
        let report = board.verify(plan, progress.callback())?;
        for region in &report.regions {
            checked += 1;
            let end = u64::from(region.offset) + u64::from(region.len);
            let what = format!(
                "0x{:x}..0x{end:x} {} ({})",
                region.offset,
                region.label,
                human_size(u64::from(region.len))
            );
            match region.first_difference {
                None => outln!("{what}: matches"),
                Some(at) => {
                    outln!("{what}: DIFFERS (first difference in the 4 KiB at 0x{at:x})");
                    if first_mismatch.is_none() {
                        first_mismatch = Some((region.clone(), at));
                    }
                }
            }
        }
    }
    let done = board.reset(settings.after)?;
    if let Some((region, at)) = first_mismatch {
        return Err(CliError::Differs(format!(
            "the chip does not hold {} at 0x{:x}: the first difference is in the 4 KiB at 0x{at:x}; `cargo esp32s3 flash` with the same arguments writes it",
            region.label, region.offset
        )));
    }
    eprintln!("{}", reset_line(done));
    eprintln!(
        "Verified {checked} region{}: the chip holds what `flash` would write",
        if checked == 1 { "" } else { "s" }
    );
    Ok(())
}
