//! `flash [FILE | --at OFFSET FILE ...]`: decide what goes where, connect, write (skipping what
//! the flash already holds, verifying the rest) and reset.
//!
//! What goes where: no FILE builds the firmware like `build`; an ELF goes through the image
//! pipeline (bootloader, partition table and app when a bootloader is known, else the app alone);
//! a `.bin` is identified by its content (a merged offset-0 image or a bootloader at 0x0, a bare
//! app at the app partition, a partition table at its offset); `--at` writes files exactly where
//! told. The files are checked (the [`Plan`]) before any chip is touched; what a chip gets is
//! decided after connecting ([`regions_for_board`]): an app alone goes into the app partition
//! that the chip's own partition table names, and a layout whose app partition differs from the
//! chip's table is written with a note naming both offsets.
//!
//! One port is handled here; several (`--port` repeated, `--all-ports`) go to
//! [`flash_many`](super::flash_many), which runs the same per-board steps in parallel.
//!
//! Used as cargo's runner (`runner = "cargo esp32s3 flash --monitor"`), `cargo run` calls
//! `flash [--monitor] <ELF> [ARGS...]`: options after the ELF are ours as anywhere else, and the
//! words after `--` that cargo passes on are ignored with a note (firmware has no command line).

use std::path::{Path, PathBuf};

use clap::ArgAction;

use crate::config::Settings;
use crate::error::read_file;
use crate::flasher::Region as FlashRegion;
use crate::flasher::{Flasher, WriteSummary};
use crate::image::elf::looks_like_elf;
use crate::image::info::flash_regions_for_bin;
use crate::image::merge::{Region, RegionKind};
use crate::image::partition::{ENTRY_MAGIC, MAX_TABLE_LEN, Partition, PartitionTable};
use crate::image::{FlashSize, ImageError};
use crate::layout;
use crate::loader::ResetDone;

use super::CliError;
use super::args::{ConnectArgs, ImageJobArgs};
use super::build::{build_firmware, idf_outputs, idf_outputs_near};
use super::connect::{self, AnyTransport, parse_number};
use super::context::{self, note, shown_path, size_text};
use super::images::{self, DEFAULT_FLASH_SIZE, IdfOutputs, Prepared, Source};
use super::progress::{Progress, reset_line};

/// Arguments of `flash`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 flash --release                   build, then flash bootloader, table and app
  cargo esp32s3 flash firmware.bin                a merged image goes to 0x0, an app to its partition
  cargo esp32s3 flash --at 0x0 bootloader.bin --at 0x8000 partitions.bin --at 0x10000 app.bin
  cargo esp32s3 flash --port /dev/ttyACM0 --baud 921600 --no-skip app.elf
  cargo esp32s3 flash --port sim:// firmware.bin  try it on the simulator
  cargo esp32s3 flash -p /dev/ttyUSB0 -p /dev/ttyUSB1 fw.bin   two boards at once
  cargo esp32s3 flash --all-ports fw.bin          every port that looks like an Espressif board

Without a bootloader (no `bootloader` key, no --bootloader, no ESP-IDF build output) an ELF's app
goes alone into the app partition named by the partition table already on the chip.
Several boards: the image is made once, then flashed to all of them in parallel; a summary table
(port, MAC, result, time) follows, and the exit status is 0 only when every board succeeded.
As cargo's runner: `runner = \"cargo esp32s3 flash --monitor\"` in .cargo/config.toml; `cargo run`
passes the ELF, and words after `cargo run --` are ignored (options such as --port are used).")]
pub struct Args {
    /// ELF, merged offset-0 .bin, app .bin or bootloader .bin (omit to build the project)
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Words `cargo run -- ...` passes after the ELF; ignored with a note (firmware has no
    /// command line)
    #[arg(value_name = "RUN_ARGS", requires = "file")]
    pub run_args: Vec<String>,
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
    /// Package, build, flash settings, bootloader and partition table.
    #[command(flatten)]
    pub job: ImageJobArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// `--monitor` and how to monitor (boxed: the command enum stays small).
    #[command(flatten)]
    pub monitor: Box<super::monitor::FlashMonitorArgs>,
}

/// What to write, decided and checked before any chip is touched.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Regions fixed before connecting (prebuilt `.bin` files, `--at`).
    Fixed(Vec<Region>),
    /// A bare app `.bin`: it goes into the chip's app partition, only onto a chip that can boot it.
    BareApp(Region),
    /// An ELF (given or built), made into an app image and, with a bootloader, a full layout.
    Elf {
        /// The ELF.
        path: PathBuf,
        /// What an ESP-IDF build left next to it.
        idf: IdfOutputs,
        /// The images, made for the configured flash size (else the default).
        prepared: Box<Prepared>,
    },
}

impl Plan {
    /// True when only an app is written, into the layout already on the chip.
    pub fn writes_app_alone(&self) -> bool {
        match self {
            Plan::Fixed(_) => false,
            Plan::BareApp(_) => true,
            Plan::Elf { prepared, .. } => prepared.regions.is_none(),
        }
    }
}

/// Flash.
pub fn run(args: Args) -> crate::Result<()> {
    let mut flags = context::job_flag_values(&args.job, Some(&args.connect));
    if args.no_skip {
        flags.skip_unchanged = Some(false);
    }
    if args.no_verify {
        flags.verify = Some(false);
    }
    flags.monitor_baud = args.monitor.monitor_baud.clone();
    let ctx = context::load(&args.job.manifest, flags)?;
    let settings = &ctx.settings;
    // Two files (`flash bootloader.bin app.bin`) would otherwise pass for run arguments.
    if let Some(file) = args.run_args.iter().find(|a| Path::new(a).is_file()) {
        return Err(CliError::BadArgument(format!(
            "flash takes one FILE but {file} follows it; write several files with --at OFFSET FILE, or flash a merged image"
        ))
        .into());
    }
    if !args.run_args.is_empty() {
        note(&format!(
            "ignoring {} after the firmware file: firmware has no command line (`cargo run -- ARGS` passes them on); flash options such as --port are read wherever they stand",
            args.run_args.join(" ")
        ));
    }

    // Several boards: the port list is checked before a possibly long build.
    let ports = if args.connect.several_boards() {
        super::flash_many::ports_to_flash(&args.connect)?
    } else {
        Vec::new()
    };
    let plan = make_plan(&args, &ctx)?;
    if args.erase_all && plan.writes_app_alone() {
        return Err(CliError::BadArgument(
            "--erase-all would erase the bootloader and partition table the app needs, and only the app is written; set `bootloader` in [package.metadata.esp32s3] (or pass --bootloader) to write a whole layout, or flash without --erase-all".into(),
        )
        .into());
    }
    // The monitor's options and ELF are checked before the chip is touched too.
    let monitor = if args.monitor.enabled {
        if !ports.is_empty() {
            return Err(CliError::BadArgument(
                "--monitor watches one board; flash several boards without it, then run `cargo esp32s3 monitor --port PORT` for the one to watch".into(),
            )
            .into());
        }
        let monitor_plan = super::monitor::Plan::from_args(
            &args.monitor.options,
            args.connect.non_interactive,
            settings.hard_reset_sequence.clone(),
        )?;
        let flashed_elf = match &plan {
            Plan::Elf { path, .. } => Some(path.as_path()),
            _ => None,
        };
        let elf = args.monitor.options.elf.as_deref().or(flashed_elf);
        Some((monitor_plan, super::monitor::load_symbols(elf)?))
    } else {
        None
    };
    if !ports.is_empty() {
        let job = super::flash_many::Job {
            plan: &plan,
            settings,
            force: args.force,
            erase_all: args.erase_all,
        };
        return super::flash_many::run(&ports, &job);
    }

    let mut progress = Progress::new();
    let mut flasher = connect::flasher(
        settings,
        args.connect.non_interactive,
        args.force,
        &mut progress,
    )?;
    let regions = regions_for_board(&mut flasher, &plan, settings, true, &mut progress)?;
    write_regions(&mut flasher, regions, args.erase_all, &mut progress)?;
    let Some((monitor_plan, symbols)) = monitor else {
        reset_board(&mut flasher, settings, &mut progress)?;
        return Ok(());
    };
    // Same connection: the host switches to the monitor baud right before the chip restarts.
    let done = flasher
        .loader()
        .reset_into_monitor(settings.after, settings.monitor_baud)?;
    progress.info(reset_line(done));
    let mut transport = flasher.into_loader().into_transport();
    super::monitor::start_after_flash(&mut *transport, symbols, &monitor_plan, done)
}

/// Read, build and check the input: what every board will get.
fn make_plan(args: &Args, ctx: &context::Context) -> crate::Result<Plan> {
    let settings = &ctx.settings;
    if !args.at.is_empty() {
        return Ok(Plan::Fixed(at_regions(&args.at)?));
    }
    let (path, idf) = match &args.file {
        None => {
            let built = build_firmware(ctx, &args.job.manifest, &args.job.build)?;
            let idf = idf_outputs(&built);
            (built.executable, idf)
        }
        Some(path) => {
            let bytes = read_file(path)?;
            if !looks_like_elf(&bytes) {
                let mut regions = bin_regions(path, &bytes, settings)?;
                return Ok(match regions.as_slice() {
                    [only] if only.kind == RegionKind::App => Plan::BareApp(regions.remove(0)),
                    _ => Plan::Fixed(regions),
                });
            }
            // `cargo run` hands over the ELF alone: an ESP-IDF build's bootloader and table next
            // to it are still found.
            (path.clone(), idf_outputs_near(path))
        }
    };
    let size = settings.flash_size.unwrap_or(DEFAULT_FLASH_SIZE);
    let prepared = images::prepare(&path, &settings_for_prepare(settings, &idf), &idf, size)?;
    Ok(Plan::Elf {
        path,
        idf,
        prepared: Box::new(prepared),
    })
}

/// The settings to make an ELF's images with. Without a bootloader and a table of our own, the
/// app goes into the chip's table, so `target-app-partition` names a partition there and must
/// not be looked up in the default table.
fn settings_for_prepare(settings: &Settings, idf: &IdfOutputs) -> Settings {
    let own_table = settings.partition_table.is_some() || idf.partition_table.is_some();
    let own_bootloader = settings.bootloader.is_some() || idf.bootloader.is_some();
    let mut settings = settings.clone();
    if !own_table && !own_bootloader {
        settings.target_app_partition = None;
    }
    settings
}

/// Decide what this chip gets, after connecting. An app alone goes into the app partition of
/// the table on the chip; a layout with its own table is compared with the chip's table first.
/// With `adapt_to_flash` (one board), an ELF's images are remade for the detected flash size
/// when none is configured; several boards all get the image made once.
pub fn regions_for_board(
    flasher: &mut Flasher<AnyTransport>,
    plan: &Plan,
    settings: &Settings,
    adapt_to_flash: bool,
    progress: &mut Progress,
) -> crate::Result<Vec<Region>> {
    match plan {
        Plan::Fixed(regions) => {
            note_table_change(flasher, regions, settings, progress)?;
            Ok(regions.clone())
        }
        Plan::BareApp(app) => {
            let chip_partition =
                chip_app_partition(flasher, settings, app.data.len(), BARE_APP_HOW, progress)?;
            if chip_partition.offset != app.offset {
                progress.note(&format!(
                    "the app goes to 0x{:x} ({} in the partition table on the chip), not 0x{:x}",
                    chip_partition.offset, chip_partition.name, app.offset
                ));
            }
            let mut app = app.clone();
            app.offset = chip_partition.offset;
            Ok(vec![app])
        }
        Plan::Elf {
            path,
            idf,
            prepared,
        } => {
            let detected = FlashSize::from_bytes(u64::from(flasher.flash_size()));
            let size = settings
                .flash_size
                .or(detected)
                .unwrap_or(DEFAULT_FLASH_SIZE);
            let remade;
            let prepared = if adapt_to_flash && size != prepared.flash_size {
                remade = images::prepare(path, &settings_for_prepare(settings, idf), idf, size)?;
                &remade
            } else {
                prepared.as_ref()
            };
            if let Some(regions) = &prepared.regions {
                progress.info(&images::fill_line(
                    prepared.app.bytes.len(),
                    &prepared.app_partition,
                ));
                note_table_change(flasher, regions, settings, progress)?;
                return Ok(regions.clone());
            }
            let partition = chip_app_partition(
                flasher,
                settings,
                prepared.app.bytes.len(),
                ELF_APP_HOW,
                progress,
            )?;
            progress.info(&images::fill_line(prepared.app.bytes.len(), &partition));
            let ours = &prepared.app_partition;
            let own_table = matches!(prepared.table_source, Source::File(_));
            if own_table && ours.offset != partition.offset {
                progress.note(&format!(
                    "{} puts the app ({}) at 0x{:x} but the partition table on the chip puts it ({}) at 0x{:x}; the chip's table is the one its bootloader reads, so the app goes to 0x{:x}",
                    prepared.table_source,
                    ours.name,
                    ours.offset,
                    partition.name,
                    partition.offset,
                    partition.offset
                ));
            }
            progress.note(&images::no_bootloader_note(&format!(
                "writing only the app, at 0x{:x} ({} in the partition table on the chip)",
                partition.offset, partition.name
            )));
            Ok(vec![Region {
                offset: partition.offset,
                data: prepared.app.bytes.clone(),
                kind: RegionKind::App,
                label: format!("app ({})", partition.name),
            }])
        }
    }
}

/// Erase everything first when asked, then write the regions and say how it went. The first of
/// the two last steps of flashing a board; [`reset_board`] is the other.
pub fn write_regions(
    flasher: &mut Flasher<AnyTransport>,
    regions: Vec<Region>,
    erase_all: bool,
    progress: &mut Progress,
) -> crate::Result<WriteSummary> {
    if erase_all {
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
    // With --no-verify nothing was read back: the summary must not read like a checked success.
    let unverified = if flasher.options().verify || summary.written == 0 {
        ""
    } else {
        " (not verified: verification is off)"
    };
    progress.info(&format!(
        "Flashed {} region{}{skipped} in {:.1} s{unverified}",
        summary.written,
        if summary.written == 1 { "" } else { "s" },
        summary.elapsed.as_secs_f64()
    ));
    Ok(summary)
}

/// Leave the chip as `after` says and say how it was left: the last step of flashing a board.
pub fn reset_board(
    flasher: &mut Flasher<AnyTransport>,
    settings: &Settings,
    progress: &mut Progress,
) -> crate::Result<ResetDone> {
    let done = flasher.loader().reset_after(settings.after)?;
    progress.info(reset_line(done));
    Ok(done)
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
const ELF_APP_HOW: &str = "set `bootloader` in [package.metadata.esp32s3] (or pass --bootloader) \
    to a second-stage bootloader .bin or ELF so the bootloader and partition table are flashed too \
    (an ESP-IDF build leaves them at target/<triple>/<profile>/build/esp-idf-sys-*/out/build/bootloader/bootloader.bin \
    and .../partition_table/partition-table.bin; set `partition-table` for the latter); nothing was written";
/// What to do when a bare app `.bin` cannot go alone onto the chip.
const BARE_APP_HOW: &str = "flash a merged offset-0 image instead, or write the bootloader and \
    partition table too with --at 0x0 BOOTLOADER --at 0x8000 TABLE --at 0x10000 APP; nothing was written";

/// Where an app written alone goes on this chip ([`layout::chip_app_partition`]), or a refusal
/// that says what the chip lacks and, with `how`, what to do.
fn chip_app_partition(
    flasher: &mut Flasher<AnyTransport>,
    settings: &Settings,
    app_len: usize,
    how: &str,
    progress: &mut Progress,
) -> crate::Result<Partition> {
    layout::chip_app_partition(
        flasher,
        settings.partition_table_offset,
        settings.target_app_partition.as_deref(),
        app_len,
        &mut progress.callback(),
    )?
    .map_err(|layout::CannotBootApp(reason)| CliError::Refused(format!("{reason}; {how}")).into())
}

/// The partition table a layout writes at `table_offset`, if one of its regions covers it.
pub fn layout_table(regions: &[Region], table_offset: u32) -> Option<PartitionTable> {
    let region = regions
        .iter()
        .find(|r| r.offset <= table_offset && u64::from(table_offset) < r.end())?;
    let start = usize::try_from(table_offset - region.offset).ok()?;
    let bytes = region.data.get(start..)?;
    if !bytes.starts_with(&ENTRY_MAGIC) {
        return None;
    }
    PartitionTable::from_binary(bytes.get(..MAX_TABLE_LEN).unwrap_or(bytes)).ok()
}

/// Say so before writing a layout whose app partition is not where the chip's current table
/// puts it: the bootloader will boot the new place, and what sat at the old one stays.
fn note_table_change(
    flasher: &mut Flasher<AnyTransport>,
    regions: &[Region],
    settings: &Settings,
    progress: &mut Progress,
) -> crate::Result<()> {
    let table_offset = settings.partition_table_offset;
    let Some(ours) = layout_table(regions, table_offset) else {
        return Ok(());
    };
    // Secure Download Mode forbids reading flash; the note is advice, not worth failing for.
    if flasher.loader().secure_download_mode() {
        return Ok(());
    }
    let name = settings.target_app_partition.as_deref();
    let Ok(new_app) = ours.app_partition(name) else {
        return Ok(());
    };
    let Some(Ok(chip_table)) =
        layout::read_chip_table(flasher, table_offset, &mut progress.callback())?
    else {
        return Ok(());
    };
    if let Ok(old_app) = chip_table.app_partition(name) {
        if old_app.offset != new_app.offset {
            progress.note(&format!(
                "the partition table on the chip puts the app ({}) at 0x{:x}; the one being written puts it ({}) at 0x{:x} and replaces it",
                old_app.name, old_app.offset, new_app.name, new_app.offset
            ));
        }
    }
    Ok(())
}
