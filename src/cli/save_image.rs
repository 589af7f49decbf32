//! `save-image [ELF] OUTPUT`: turn an ELF into an app image, or with `--merge` into a merged
//! offset-0 image (bootloader, partition table, app), without a chip.
//!
//! It overwrites OUTPUT only when OUTPUT is missing or already an ESP image (first byte 0xE9, as
//! every file this command writes is): swapping the two paths by mistake must not destroy an ELF
//! or anything else. `--force` overwrites anyway.

use std::path::{Path, PathBuf};

use cargo_esp32s3::cargo::IdfOutputs;
use cargo_esp32s3::image::format::IMAGE_MAGIC;
use cargo_esp32s3::plan::Plan;

use super::CliError;
use super::args::ImageJobArgs;
use super::build::{build_firmware, plan_app, print_fill, print_output, print_sources, write};
use super::context::{self, shown_path};

/// Arguments of `save-image`.
#[derive(Debug, clap::Args)]
#[command(
    override_usage = "cargo esp32s3 save-image [OPTIONS] <ELF> <OUTPUT>\n       cargo esp32s3 save-image [OPTIONS] --build <OUTPUT>",
    after_help = "Examples:
  cargo esp32s3 save-image target/xtensa-esp32s3-none-elf/release/app app.bin
  cargo esp32s3 save-image --merge app.elf firmware.bin        # flash at 0x0
  cargo esp32s3 save-image --merge --pad --flash-size 8mb app.elf full-8mb.bin
  cargo esp32s3 save-image --build --release --merge firmware.bin"
)]
pub struct Args {
    /// The ELF to convert (with --build: the output file)
    #[arg(value_name = "ELF")]
    pub elf: PathBuf,
    /// The file to write
    #[arg(
        value_name = "OUTPUT",
        required_unless_present = "build_first",
        conflicts_with = "build_first"
    )]
    pub output: Option<PathBuf>,
    /// Build the firmware first and convert the ELF cargo produced
    #[arg(long = "build")]
    pub build_first: bool,
    /// Write a merged offset-0 image (bootloader + partition table + app) instead of the app image
    #[arg(long)]
    pub merge: bool,
    /// Pad the merged image with 0xFF to the full flash size
    #[arg(long, requires = "merge")]
    pub pad: bool,
    /// Overwrite OUTPUT even when it is not an ESP image
    #[arg(long)]
    pub force: bool,
    /// Package, build, flash settings, bootloader and partition table.
    #[command(flatten)]
    pub job: ImageJobArgs,
}

/// Convert (after building, with `--build`) and write OUTPUT.
pub fn run(args: Args) -> super::Result {
    let flags = context::job_flag_values(&args.job, None);
    let ctx = context::load(&args.job.manifest, flags)?;
    // clap guarantees: two paths without --build, one (the output) with it.
    let (elf, output, idf) = match args.output {
        Some(output) => (args.elf, output, IdfOutputs::default()),
        None => {
            let built = build_firmware(&ctx, &args.job.manifest, &args.job.build)?;
            let idf = built.idf();
            (built.executable, args.elf, idf)
        }
    };
    check_output(&elf, &output, args.force)?;

    let planned = Plan::from_elf(&elf, &ctx.settings, &idf)?;
    // No chip: the layout is checked for the flash size its headers name.
    let plan = planned.for_file()?;
    if args.merge {
        let merged = plan.merged(args.pad)?;
        write(&output, &merged)?;
        print_output("merged image", &output, merged.len(), ", write at 0x0");
        print_sources(&plan);
    } else {
        let app = plan_app(&plan)?;
        let at = plan
            .app_partition()
            .map(|p| format!(", write at 0x{:x}", p.offset))
            .unwrap_or_default();
        write(&output, &app.bytes)?;
        print_output("app image", &output, app.bytes.len(), &at);
    }
    print_fill(&plan);
    Ok(())
}

/// Refuse to overwrite the input, or a file that is not an ESP image, unless forced.
fn check_output(elf: &Path, output: &Path, force: bool) -> super::Result<()> {
    let same = match (elf.canonicalize(), output.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(CliError::Refused(format!(
            "the output {} is the input ELF; give another output file",
            shown_path(output)
        )));
    }
    if force || !output.exists() {
        return Ok(());
    }
    let mut first = [0u8; 1];
    let is_image = std::fs::File::open(output)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut first))
        .is_ok()
        && first[0] == IMAGE_MAGIC;
    if is_image {
        Ok(())
    } else {
        Err(CliError::Refused(format!(
            "{} exists and is not an ESP image; not overwriting it (check the order: ELF first, then OUTPUT), or pass --force",
            shown_path(output)
        )))
    }
}
