//! The layout of an offset-0 flash image around one ELF: the app image made from it, the
//! partition table and the second-stage bootloader read from wherever the settings (or an
//! esp-idf-sys build) say, and the regions they become. Shared by the command line (`build`,
//! `save-image`, `flash`) and the library facade ([`crate::Project::image`]), so both lay out
//! the same bytes.
//!
//! The byte work is done by `image::app` and `image::merge`; this module only decides which files
//! to read and phrases what it found. It reads files but never prints, and it knows nothing of
//! ports, terminals or the command line.

use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::error::read_file;
use crate::image::app::{AppImage, AppImageOptions, elf_to_app_image};
use crate::image::elf::looks_like_elf;
use crate::image::merge::{Offset0Inputs, Region, offset0_regions};
use crate::image::partition::{ENTRY_MAGIC, Partition, PartitionTable};
use crate::image::{FlashParams, FlashSize, ImageError};

use crate::units::human_size;

use crate::flasher::{Event, Flasher};
use crate::image::format::{ESP32S3_CHIP_ID, HEADER_LEN, ImageHeader, chip_name};
use crate::image::partition::{MAX_TABLE_LEN, PartitionError};
use crate::transport::Transport;

/// The flash size assumed when none is configured (and no chip is there to ask): esptool's and
/// espflash's default, and the smallest flash on ESP32-S3 modules.
pub const DEFAULT_FLASH_SIZE: FlashSize = FlashSize::S4Mb;

/// Files ESP-IDF built for an esp-idf-sys project (found by `cargo::build`).
#[derive(Debug, Clone, Default)]
pub struct IdfOutputs {
    /// `bootloader/bootloader.bin`.
    pub bootloader: Option<PathBuf>,
    /// `partition_table/partition-table.bin`.
    pub partition_table: Option<PathBuf>,
}

/// Where a piece came from, for messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A file (from the settings or from the esp-idf-sys build).
    File(PathBuf),
    /// The built-in default table for this flash size.
    DefaultTable(FlashSize),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => f.write_str(&shown_path(path)),
            Source::DefaultTable(size) => write!(f, "the default table for {} flash", size.name()),
        }
    }
}

/// Everything made from one ELF.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The app image.
    pub app: AppImage,
    /// The partition table in use.
    pub table: PartitionTable,
    /// Where it came from.
    pub table_source: Source,
    /// The partition the app goes into.
    pub app_partition: Partition,
    /// The offset-0 regions (bootloader, table, app), or `None` when there is no bootloader.
    pub regions: Option<Vec<Region>>,
    /// Where the bootloader came from.
    pub bootloader_source: Option<Source>,
    /// The flash size the layout was checked against.
    pub flash_size: FlashSize,
}

/// The flash parameters for image headers from the settings (unset = the image's default).
pub fn flash_params(settings: &Settings) -> FlashParams {
    FlashParams {
        mode: settings.flash_mode,
        size: settings.flash_size,
        freq: settings.flash_freq,
    }
}

/// Turn the ELF at `elf_path` into an app image and lay out the offset-0 image around it.
pub fn prepare(
    elf_path: &Path,
    settings: &Settings,
    idf: &IdfOutputs,
    flash_size: FlashSize,
) -> crate::Result<Prepared> {
    let elf = read_file(elf_path)?;
    if elf.is_empty() {
        // Said before "cannot make an app image": the file itself is the problem, and its name
        // leads the message as it does for `flash` and `image-info`.
        return Err(ImageError::Invalid(format!(
            "{} is empty (0 bytes); rebuild the firmware or check the path",
            shown_path(elf_path)
        ))
        .into());
    }
    // One flash size for the app header, the bootloader header and the default table: the
    // configured one, or what the chip reported, or the default.
    let flash = FlashParams {
        size: Some(flash_size),
        ..flash_params(settings)
    };
    let options = AppImageOptions {
        flash,
        min_rev_full: settings.min_chip_rev,
        max_rev_full: settings.max_chip_rev,
        append_digest: true,
    };
    let app = elf_to_app_image(&elf, &options).map_err(|e| {
        ImageError::Invalid(format!(
            "cannot make an app image from {}: {e}",
            shown_path(elf_path)
        ))
    })?;

    let (table, table_source) = load_table(settings, idf, flash_size)?;
    let table_name = table_source.to_string();
    table
        .validate(Some(flash_size.bytes()), settings.partition_table_offset)
        .map_err(|e| e.in_file(table_name.clone()))?;
    let app_partition = table
        .app_partition(settings.target_app_partition.as_deref())
        .map_err(|e| e.in_file(table_name.clone()))?
        .clone();
    check_fits(&app, &app_partition)?;

    let bootloader_path = settings.bootloader.clone().or(idf.bootloader.clone());
    let (regions, bootloader_source) = match bootloader_path {
        Some(path) => {
            let bootloader = read_file(&path)?;
            // ESP-IDF's bootloader.elf becomes its image the same way an app does.
            let bootloader = if looks_like_elf(&bootloader) {
                elf_to_app_image(&bootloader, &options)
                    .map_err(|e| {
                        ImageError::Invalid(format!(
                            "cannot make a bootloader image from {}: {e}",
                            shown_path(&path)
                        ))
                    })?
                    .bytes
            } else {
                bootloader
            };
            let regions = offset0_regions(&Offset0Inputs {
                bootloader: &bootloader,
                table: &table,
                table_offset: settings.partition_table_offset,
                app: &app.bytes,
                app_partition: Some(&app_partition.name),
                flash,
                flash_size: Some(flash_size.bytes()),
            })
            .map_err(|e| ImageError::Invalid(format!("{}: {e}", shown_path(&path))))?;
            (Some(regions), Some(Source::File(path)))
        }
        None => (None, None),
    };
    Ok(Prepared {
        app,
        table,
        table_source,
        app_partition,
        regions,
        bootloader_source,
        flash_size,
    })
}

/// The partition table: the configured file, else the one esp-idf-sys built, else the default
/// table for the flash size.
pub fn load_table(
    settings: &Settings,
    idf: &IdfOutputs,
    flash_size: FlashSize,
) -> crate::Result<(PartitionTable, Source)> {
    let Some(path) = settings
        .partition_table
        .clone()
        .or(idf.partition_table.clone())
    else {
        return Ok((
            PartitionTable::default_for(flash_size.bytes(), settings.partition_table_offset),
            Source::DefaultTable(flash_size),
        ));
    };
    let bytes = read_file(&path)?;
    let shown = shown_path(&path);
    let table = if bytes.starts_with(&ENTRY_MAGIC) {
        PartitionTable::from_binary(&bytes)
    } else {
        match std::str::from_utf8(&bytes) {
            Ok(text) => PartitionTable::from_csv_at(text, settings.partition_table_offset),
            Err(_) => Err(crate::image::partition::PartitionError::Invalid(
                "not a partition table: neither binary (no AA 50 at the start) nor CSV text"
                    .to_string(),
            )),
        }
    }
    .map_err(|e| e.in_file(shown))?;
    Ok((table, Source::File(path)))
}

fn check_fits(app: &AppImage, partition: &Partition) -> Result<(), ImageError> {
    let len = app.bytes.len() as u64;
    let size = u64::from(partition.size);
    if len > size {
        return Err(ImageError::Invalid(format!(
            "the app image is {} but app partition {} holds only {}; enlarge the partition in the partition table or shrink the app (e.g. build with --release)",
            human_size(len),
            partition.name,
            human_size(size)
        )));
    }
    Ok(())
}

/// `app partition factory: 812 KiB of 3 MiB used (26%)`.
pub fn fill_line(app_len: usize, partition: &Partition) -> String {
    let size = u64::from(partition.size).max(1);
    let len = app_len as u64;
    format!(
        "app partition {}: {} of {} used ({}%)",
        partition.name,
        human_size(len),
        human_size(u64::from(partition.size)),
        len * 100 / size
    )
}

/// A path for messages: relative to the current directory when it is below it (so messages
/// read like what the user typed).
pub fn shown_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// Why an app cannot be written alone onto a chip: what the chip lacks, with the values found.
/// Callers add what to do (their flags or settings differ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannotBootApp(pub String);

/// Where an app written alone goes on this chip, read from the chip itself: its bootloader at
/// 0x0 must be an ESP32-S3 image, and its partition table at `table_offset` must name an app
/// partition (`target`, else factory, else ota_0) that holds `app_len` bytes. Without this an
/// app written next to an erased bootloader only gives the `invalid header: 0xffffffff` boot
/// loop, and the flash would still report success.
///
/// The outer error is a failure to talk to the chip; the inner one says why the chip cannot
/// boot the app.
pub fn chip_app_partition<T: Transport>(
    flasher: &mut Flasher<T>,
    table_offset: u32,
    target: Option<&str>,
    app_len: usize,
    on_progress: &mut dyn FnMut(Event),
) -> crate::Result<Result<Partition, CannotBootApp>> {
    let refuse = |reason: String| Ok(Err(CannotBootApp(reason)));
    let header = flasher.read_flash(0, HEADER_LEN as u32, on_progress)?;
    match ImageHeader::decode(&header) {
        Ok(h) if h.chip_id == ESP32S3_CHIP_ID => {}
        Ok(h) => {
            return refuse(format!(
                "the bootloader on the chip at 0x0 is for {} (chip id {}), not the ESP32-S3",
                chip_name(h.chip_id).unwrap_or("an unknown chip"),
                h.chip_id
            ));
        }
        Err(_) => {
            let first: Vec<String> = header.iter().take(4).map(|b| format!("{b:02x}")).collect();
            return refuse(format!(
                "the chip has no bootloader at 0x0 (flash there starts {})",
                first.join(" ")
            ));
        }
    }
    let table = match read_chip_table(flasher, table_offset, on_progress)? {
        None => {
            return refuse(format!(
                "the chip has no partition table at 0x{table_offset:x} (no AA 50 entry there)"
            ));
        }
        Some(Err(e)) => {
            return refuse(format!(
                "the chip has no valid partition table at 0x{table_offset:x} ({e})"
            ));
        }
        Some(Ok(table)) => table,
    };
    let partition = match table.app_partition(target) {
        Ok(partition) => partition,
        Err(e) => {
            return refuse(format!(
                "the partition table on the chip at 0x{table_offset:x}: {e}"
            ));
        }
    };
    if app_len as u64 > u64::from(partition.size) {
        return refuse(format!(
            "the app ({app_len} bytes) does not fit the chip's {} partition ({} bytes at 0x{:x})",
            partition.name, partition.size, partition.offset
        ));
    }
    Ok(Ok(partition.clone()))
}

/// The partition table on the chip: `None` when there is none (no entry magic at the offset),
/// else the parsed table or why it is invalid. Reads one entry first, so a blank chip costs
/// only that.
pub fn read_chip_table<T: Transport>(
    flasher: &mut Flasher<T>,
    table_offset: u32,
    on_progress: &mut dyn FnMut(Event),
) -> crate::Result<Option<Result<PartitionTable, PartitionError>>> {
    let first = flasher.read_flash(table_offset, 32, on_progress)?;
    if !first.starts_with(&ENTRY_MAGIC) {
        return Ok(None);
    }
    let bytes = flasher.read_flash(table_offset, MAX_TABLE_LEN as u32, on_progress)?;
    Ok(Some(PartitionTable::from_binary(&bytes)))
}
