//! `flash [FILE | --at OFFSET FILE ...]`: decide what goes where, connect, write (skipping what
//! the flash already holds, verifying the rest) and reset.
//!
//! What goes where: no FILE builds the firmware like `build`; an ELF goes through the image
//! pipeline (bootloader, partition table and app when a bootloader is known, else the app alone);
//! a `.bin` is identified by its content (a merged offset-0 image or a bootloader at 0x0, a bare
//! app at the app partition, a partition table at its offset); `--at` writes files exactly where
//! told. The files are checked before the chip is touched.

use std::path::{Path, PathBuf};

use clap::ArgAction;

use crate::config::Settings;
use crate::error::read_file;
use crate::flasher::Flasher;
use crate::flasher::Region as FlashRegion;
use crate::image::elf::looks_like_elf;
use crate::image::format::{ESP32S3_CHIP_ID, HEADER_LEN, ImageHeader, chip_name};
use crate::image::info::flash_regions_for_bin;
use crate::image::merge::{Region, RegionKind};
use crate::image::partition::{MAX_TABLE_LEN, PartitionTable};
use crate::image::{FlashSize, ImageError};

use super::CliError;
use super::args::{BuildArgs, ConnectArgs, FlashConfigArgs, ImageArgs, ManifestArgs};
use super::build::{build_firmware, idf_outputs};
use super::connect::{self, AnyTransport, parse_number};
use super::context::{self, note, shown_path, size_text};
use super::images::{self, DEFAULT_FLASH_SIZE, IdfOutputs};
use super::progress::{Progress, reset_line};

/// Arguments of `flash`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 flash --release                   build, then flash bootloader, table and app
  cargo esp32s3 flash firmware.bin                a merged image goes to 0x0, an app to its partition
  cargo esp32s3 flash --at 0x0 bootloader.bin --at 0x8000 partitions.bin --at 0x10000 app.bin
  cargo esp32s3 flash --port /dev/ttyACM0 --baud 921600 --no-skip app.elf
  cargo esp32s3 flash --port sim:// firmware.bin  try it on the simulator")]
pub struct Args {
    /// ELF, merged offset-0 .bin, app .bin or bootloader .bin (omit to build the project)
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Write FILE at OFFSET exactly as it is; repeat for several files
    #[arg(
        long = "at",
        num_args = 2,
        value_names = ["OFFSET", "FILE"],
        action = ArgAction::Append,
        conflicts_with = "file"
    )]
    pub at: Vec<String>,
    /// Write every region even when the flash already holds it [env: ESP32S3_SKIP_UNCHANGED=false]
    #[arg(long)]
    pub no_skip: bool,
    /// Do not check the written regions' MD5 [env: ESP32S3_VERIFY=false]
    #[arg(long)]
    pub no_verify: bool,
    /// Flash even when the image's chip revision range excludes this chip
    #[arg(long)]
    pub force: bool,
    /// Erase the whole flash before writing
    #[arg(long)]
    pub erase_all: bool,
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// What to build.
    #[command(flatten)]
    pub build: BuildArgs,
    /// Flash settings for the image headers.
    #[command(flatten)]
    pub flash: FlashConfigArgs,
    /// Bootloader and partition table.
    #[command(flatten)]
    pub image: ImageArgs,
    /// After the write and the reset, watch the chip's output on the same connection
    #[arg(long, help_heading = "Monitor")]
    pub monitor: bool,
    /// Baud rate the firmware prints at, for --monitor [default: 115200] [env: ESP32S3_MONITOR_BAUD]
    #[arg(long, value_name = "BAUD", help_heading = "Monitor")]
    pub monitor_baud: Option<String>,
    /// How to monitor (with --monitor; the ELF flashed decodes addresses unless --elf is given).
    #[command(flatten)]
    pub monitor_options: Box<super::monitor::MonitorArgs>,
}

/// Where the regions come from.
enum Input {
    /// An ELF (given or built), through the image pipeline.
    Elf { path: PathBuf, idf: IdfOutputs },
    /// Regions fixed before connecting (prebuilt `.bin` files, `--at`).
    Regions(Vec<Region>),
    /// A bare app `.bin`: it goes to its app partition, and only onto a chip that can boot it.
    BareApp(Region),
}

/// Flash.
pub fn run(args: Args) -> crate::Result<()> {
    let mut flags = context::flag_values(
        Some(&args.connect),
        Some(&args.flash),
        Some(&args.image),
        Some(&args.build),
    );
    if args.no_skip {
        flags.skip_unchanged = Some(false);
    }
    if args.no_verify {
        flags.verify = Some(false);
    }
    flags.monitor_baud = args.monitor_baud.clone();
    let ctx = context::load(&args.manifest, flags)?;
    let settings = &ctx.settings;

    let input = if !args.at.is_empty() {
        Input::Regions(at_regions(&args.at)?)
    } else {
        match &args.file {
            None => {
                let built = build_firmware(&ctx, &args.manifest, &args.build)?;
                let idf = idf_outputs(&built);
                Input::Elf {
                    path: built.executable,
                    idf,
                }
            }
            Some(path) => {
                let bytes = read_file(path)?;
                if looks_like_elf(&bytes) {
                    Input::Elf {
                        path: path.clone(),
                        idf: IdfOutputs::default(),
                    }
                } else {
                    let mut regions = bin_regions(path, &bytes, settings)?;
                    match regions.as_slice() {
                        [only] if only.kind == RegionKind::App => Input::BareApp(regions.remove(0)),
                        _ => Input::Regions(regions),
                    }
                }
            }
        }
    };
    // Check the ELF before touching the chip, with the flash size known so far.
    if let Input::Elf { path, idf } = &input {
        let size = settings.flash_size.unwrap_or(DEFAULT_FLASH_SIZE);
        images::prepare(path, settings, idf, size)?;
    }
    // The monitor's options and ELF are checked before the chip is touched too.
    let monitor = match args.monitor {
        true => {
            let plan = super::monitor::Plan::from_args(
                &args.monitor_options,
                args.connect.non_interactive,
                settings.hard_reset_sequence.clone(),
            )?;
            let flashed_elf = match &input {
                Input::Elf { path, .. } => Some(path.as_path()),
                _ => None,
            };
            let elf = args.monitor_options.elf.as_deref().or(flashed_elf);
            Some((plan, super::monitor::load_symbols(elf)?))
        }
        false => None,
    };

    let mut progress = Progress::new();
    let mut flasher = connect::flasher(
        settings,
        args.connect.non_interactive,
        args.force,
        &mut progress,
    )?;
    let regions = match input {
        Input::Regions(regions) => regions,
        Input::BareApp(app) => {
            check_chip_boots_app(
                &mut flasher,
                settings.partition_table_offset,
                app.offset,
                app.data.len(),
                BARE_APP_HOW,
                &mut progress,
            )?;
            vec![app]
        }
        Input::Elf { path, idf } => {
            let detected = FlashSize::from_bytes(u64::from(flasher.flash_size()));
            let size = settings
                .flash_size
                .or(detected)
                .unwrap_or(DEFAULT_FLASH_SIZE);
            let prepared = images::prepare(&path, settings, &idf, size)?;
            eprintln!(
                "{}",
                images::fill_line(prepared.app.bytes.len(), &prepared.app_partition)
            );
            match prepared.regions {
                Some(regions) => regions,
                None => {
                    check_chip_boots_app(
                        &mut flasher,
                        settings.partition_table_offset,
                        prepared.app_partition.offset,
                        prepared.app.bytes.len(),
                        ELF_APP_HOW,
                        &mut progress,
                    )?;
                    note(&images::no_bootloader_note(&format!(
                        "writing only the app at 0x{:x}; the chip already holds a bootloader and a partition table that fits it",
                        prepared.app_partition.offset
                    )));
                    vec![Region {
                        offset: prepared.app_partition.offset,
                        data: prepared.app.bytes,
                        kind: RegionKind::App,
                        label: format!("app ({})", prepared.app_partition.name),
                    }]
                }
            }
        }
    };

    if args.erase_all {
        flasher.erase_all(&mut progress.callback())?;
    }
    let to_write: Vec<FlashRegion> = regions
        .into_iter()
        .map(|r| FlashRegion {
            offset: r.offset,
            data: r.data,
            label: r.label,
        })
        .collect();
    let summary = flasher.write_regions(&to_write, &mut progress.callback())?;
    let skipped = if summary.skipped > 0 {
        format!(", {} skipped (unchanged)", summary.skipped)
    } else {
        String::new()
    };
    eprintln!(
        "Flashed {} region{}{skipped} in {:.1} s",
        summary.written,
        if summary.written == 1 { "" } else { "s" },
        summary.elapsed.as_secs_f64()
    );
    let Some((plan, symbols)) = monitor else {
        let done = flasher.loader().reset_after(settings.after)?;
        eprintln!("{}", reset_line(done));
        return Ok(());
    };
    // Same connection: the host switches to the monitor baud right before the chip restarts.
    let done = flasher
        .loader()
        .reset_into_monitor(settings.after, settings.monitor_baud)?;
    eprintln!("{}", reset_line(done));
    let mut transport = flasher.into_loader().into_transport();
    super::monitor::start_after_flash(&mut *transport, symbols, &plan)
}

/// Regions from `--at OFFSET FILE` pairs, written exactly as given.
fn at_regions(pairs: &[String]) -> crate::Result<Vec<Region>> {
    let mut regions = Vec::new();
    for pair in pairs.chunks(2) {
        let [offset_text, file] = pair else {
            return Err(CliError::BadArgument("--at needs an OFFSET and a FILE".into()).into());
        };
        let offset = parse_number(offset_text).ok_or_else(|| {
            CliError::BadArgument(format!(
                "--at {offset_text:?} {file}: the offset is not a number; write it as 0x10000 or 65536"
            ))
        })?;
        let path = Path::new(file);
        let data = read_file(path)?;
        if looks_like_elf(&data) {
            return Err(ImageError::Invalid(format!(
                "{file} is an ELF file, not a flash image; flash it without --at (it is converted), or convert it with `cargo esp32s3 save-image` first"
            ))
            .into());
        }
        regions.push(Region {
            offset,
            data,
            kind: RegionKind::Data,
            label: shown_path(path),
        });
    }
    Ok(regions)
}

/// Regions for a prebuilt `.bin`, placed by its content. A bare app goes to the configured app
/// partition when a table or partition name is configured.
fn bin_regions(path: &Path, bytes: &[u8], settings: &Settings) -> crate::Result<Vec<Region>> {
    let mut regions = flash_regions_for_bin(bytes, settings.partition_table_offset)
        .map_err(|e| ImageError::Invalid(format!("{}: {e}", shown_path(path))))?;
    let configured = settings.partition_table.is_some() || settings.target_app_partition.is_some();
    if let [region] = regions.as_mut_slice() {
        if region.kind == RegionKind::App && configured {
            let size = settings.flash_size.unwrap_or(DEFAULT_FLASH_SIZE);
            let (table, source) = images::load_table(settings, &IdfOutputs::default(), size)?;
            let partition = table
                .app_partition(settings.target_app_partition.as_deref())
                .map_err(|e| e.in_file(source.to_string()))?;
            region.offset = partition.offset;
            region.label = format!("app ({})", partition.name);
        }
    }
    for region in &regions {
        eprintln!(
            "{}: {} ({}) goes to 0x{:x}",
            shown_path(path),
            region.label,
            size_text(region.data.len() as u64),
            region.offset
        );
    }
    // From here on (progress, refusals, failures) each region also names the file it came from.
    for region in &mut regions {
        region.label = format!("{} from {}", region.label, shown_path(path));
    }
    Ok(regions)
}

/// What to do when an ELF's app cannot go alone onto the chip.
const ELF_APP_HOW: &str = "set `bootloader` in [package.metadata.esp32s3] (or pass --bootloader) so \
    the bootloader and partition table are flashed too; nothing was written";
/// What to do when a bare app `.bin` cannot go alone onto the chip.
const BARE_APP_HOW: &str = "flash a merged offset-0 image instead, or write the bootloader and \
    partition table too with --at 0x0 BOOTLOADER --at 0x8000 TABLE --at 0x10000 APP; nothing was written";

/// Before writing an app alone, make sure the chip can boot it: an ESP32-S3 bootloader at 0x0 and
/// a partition table with an app partition at `app_offset` big enough for `app_len` bytes.
/// Without this check an app written next to an erased bootloader only gives the
/// `invalid header: 0xffffffff` boot loop, and the flash would still report success.
fn check_chip_boots_app(
    flasher: &mut Flasher<AnyTransport>,
    table_offset: u32,
    app_offset: u32,
    app_len: usize,
    how: &str,
    progress: &mut Progress,
) -> crate::Result<()> {
    let header = flasher.read_flash(0, HEADER_LEN as u32, &mut progress.callback())?;
    match ImageHeader::decode(&header) {
        Ok(h) if h.chip_id == ESP32S3_CHIP_ID => {}
        Ok(h) => {
            let chip = chip_name(h.chip_id).unwrap_or("an unknown chip");
            return Err(CliError::Refused(format!(
                "the bootloader on the chip at 0x0 is for {chip} (chip id {}), not the ESP32-S3; {how}",
                h.chip_id
            ))
            .into());
        }
        Err(_) => {
            let first: Vec<String> = header.iter().take(4).map(|b| format!("{b:02x}")).collect();
            return Err(CliError::Refused(format!(
                "the chip has no bootloader at 0x0 (flash there starts {}); {how}",
                first.join(" ")
            ))
            .into());
        }
    }
    let table_bytes =
        flasher.read_flash(table_offset, MAX_TABLE_LEN as u32, &mut progress.callback())?;
    let table = PartitionTable::from_binary(&table_bytes).map_err(|e| {
        CliError::Refused(format!(
            "the chip has no valid partition table at 0x{table_offset:x} ({e}); {how}"
        ))
    })?;
    let Some(partition) = table
        .partitions
        .iter()
        .find(|p| p.is_app() && p.offset == app_offset)
    else {
        let apps: Vec<String> = table
            .partitions
            .iter()
            .filter(|p| p.is_app())
            .map(|p| format!("{} at 0x{:x}", p.name, p.offset))
            .collect();
        return Err(CliError::Refused(format!(
            "the partition table on the chip has no app partition at 0x{app_offset:x} (its app partitions: {}); {how}",
            if apps.is_empty() { "none".to_string() } else { apps.join(", ") }
        ))
        .into());
    };
    if app_len as u64 > u64::from(partition.size) {
        return Err(CliError::Refused(format!(
            "the app ({} bytes) does not fit the chip's {} partition ({} bytes at 0x{:x}); {how}",
            app_len, partition.name, partition.size, partition.offset
        ))
        .into());
    }
    Ok(())
}
