//! What goes where: the one [`Plan`] type that decides which bytes go to which flash offset, for
//! every way firmware arrives — an ELF (given, or built by cargo) made into an app image and, with
//! a bootloader, a whole offset-0 layout; a prebuilt `.bin` placed by its content; explicit
//! `--at OFFSET FILE` pairs. The command line and scripts make the same plan from the same
//! inputs, and [`crate::Board::flash`] is its only executor.
//!
//! A plan keeps the bytes it read: laying it out again for the flash size a chip reports
//! ([`Plan::for_flash_size`]) reads no file, and nothing is read twice. Placing an app written
//! alone next to the chip's own partition table ([`Plan::regions_for_chip`]) asks the chip through
//! the flasher, and says what it decided as [`Event`]s.
//!
//! The byte work (ELF → app image, bootloader header, partition tables, merging) is `image`'s;
//! this module decides which files to read, checks them before any chip is touched, and phrases
//! what it found. It reads files but never prints, and knows nothing of ports or terminals.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cargo::IdfOutputs;
use crate::config::Settings;
use crate::error::{read_file, shown_path};
use crate::event::{AppAloneWhy, Event};
use crate::flasher::Flasher;
use crate::image::app::{AppImage, AppImageOptions, elf_to_app_image};
use crate::image::app_desc::app_desc_of_image;
use crate::image::elf::looks_like_elf;
use crate::image::format::{ESP32S3_CHIP_ID, HEADER_LEN, ImageHeader, chip_name};
use crate::image::info::{BinKind, flash_regions_for_bin, inspect_at, require_app_descriptors};
use crate::image::merge::{Offset0Inputs, Region, RegionKind, merge_regions, offset0_regions};
use crate::image::partition::{
    ENTRY_MAGIC, MAX_TABLE_LEN, Partition, PartitionError, PartitionTable,
};
use crate::image::{FlashParams, FlashSize, ImageError};
use crate::transport::Transport;
use crate::units::human_size;

/// The flash size assumed when none is configured and no chip has said yet: esptool's and
/// espflash's default, and the smallest flash on ESP32-S3 modules.
pub const DEFAULT_FLASH_SIZE: FlashSize = FlashSize::S4Mb;

/// Where ESP-IDF leaves the bootloader and the partition table it builds for an esp-idf-sys
/// project, for the advice in [`PlanError::CannotBootApp`].
const IDF_OUTPUT_PATHS: &str = "an ESP-IDF build leaves them at target/<triple>/<profile>/build/esp-idf-sys-*/out/build/bootloader/bootloader.bin \
    and .../partition_table/partition-table.bin; set `partition-table` for the latter";

/// Why a plan cannot be written, beyond what is wrong with its files (those are
/// [`ImageError`]s and partition errors, named by file). Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A file a setting names cannot be read.
    #[error(
        "cannot read {} ({}): {source}; fix the path, or remove the setting",
        shown_path(path),
        setting.origin()
    )]
    SettingFile {
        /// Which setting named it.
        setting: SettingFile,
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// `erase-all` with a plan that writes the app alone.
    #[error(
        "--erase-all would erase the bootloader and partition table the app needs, and only the app is written; set `bootloader` in [package.metadata.esp32s3] (or pass --bootloader) to write a whole layout, or flash without --erase-all"
    )]
    EraseAllAppAlone,
    /// `erase-all` with `--at` files that write an app but not the bootloader or the partition
    /// table it needs.
    #[error(
        "--erase-all would erase the {missing} that the app written at 0x{app_offset:x} needs, and the files given do not include one; add it (--at 0x0 BOOTLOADER, --at 0x8000 TABLE) or flash without --erase-all"
    )]
    EraseAllWithoutLayout {
        /// What is missing (`bootloader`, `partition table`).
        missing: &'static str,
        /// Where the app goes.
        app_offset: u32,
    },
    /// The app alone cannot go onto this chip: it would not boot.
    #[error("{reason}; {}; nothing was written", advice(*app))]
    CannotBootApp {
        /// What the chip lacks.
        reason: ChipLacks,
        /// What the app came as (the advice differs).
        app: AppInput,
    },
    /// A `--at` file whose content belongs at another offset (a merged image or a bootloader
    /// anywhere but where the ROM reads it, a partition table off the table offset).
    #[error(
        "{file} is {what}, which belongs at 0x{belongs_at:x}, not 0x{offset:x}: {why}; write it at 0x{belongs_at:x} (`flash FILE` places it by its content), or pass --force to write it at 0x{offset:x} anyway; nothing was written"
    )]
    WrongOffset {
        /// The file, as the user should see it.
        file: String,
        /// What its content is (`a merged offset-0 image`, `an ESP32-S3 bootloader`).
        what: &'static str,
        /// Where it was asked to go.
        offset: u32,
        /// Where it belongs.
        belongs_at: u32,
        /// What happens written where it was asked to go.
        why: &'static str,
    },
    /// The partition table a prebuilt file or `--at` pair writes reaches past this chip's flash.
    #[error(
        "the partition table in {file} puts `{partition}` up to 0x{end:x}, beyond this chip's {} flash; the bootloader would refuse the table: flash an image made for this flash size; nothing was written",
        human_size(u64::from(*flash_size))
    )]
    TableBeyondFlash {
        /// The file holding the table, as the user should see it.
        file: String,
        /// The partition that reaches furthest past the end.
        partition: String,
        /// Where it ends.
        end: u64,
        /// The chip's flash size in bytes.
        flash_size: u32,
    },
    /// A `--at` app image at an offset that is not the start of an app partition of the table
    /// that will be on the chip.
    #[error(
        "{file} is an app image, but 0x{offset:x} is not the start of an app partition in {table} ({}): the bootloader would never load it; write it at an app partition's offset, or pass --force; nothing was written",
        app_partitions_text(partitions)
    )]
    NotAnAppPartition {
        /// The file, as the user should see it.
        file: String,
        /// Where it was asked to go.
        offset: u32,
        /// Which table (`the partition table written with it`, `the chip's partition table at 0x8000`).
        table: String,
        /// The app partitions of that table: name and offset.
        partitions: Vec<(String, u32)>,
    },
    /// A blank chip, no bootloader configured, and none kept either: every way to get one.
    #[error(
        "{reason}; {}; or let this tool keep one for blank chips: `cargo esp32s3 bootloader import FILE` (ESP-IDF's bootloader.bin, its build folder, or a merged image such as MicroPython's firmware .bin) or `cargo esp32s3 bootloader save` with a board that boots; {}; nothing was written",
        advice(*app),
        found_text(found)
    )]
    NoBootloaderKept {
        /// What the chip lacks (its bootloader).
        reason: ChipLacks,
        /// What the app came as.
        app: AppInput,
        /// ESP32-S3 bootloader images found on this machine.
        found: Vec<PathBuf>,
    },
    /// A partition to erase is not in the table.
    #[error("--erase-parts {name}: {table} has no partition {name:?}; it has {}", names.join(", "))]
    NoPartitionToErase {
        /// The name given.
        name: String,
        /// Which table was looked at.
        table: String,
        /// The names it has.
        names: Vec<String>,
    },
    /// A data partition type to erase is not one.
    #[error("--erase-data-parts {given}: not a data partition type; use {}", crate::image::partition::PartitionType::Data.accepted_subtypes())]
    UnknownDataType {
        /// The type given.
        given: String,
    },
    /// Partitions should be erased but there is no table to find them in.
    #[error(
        "--erase-parts / --erase-data-parts need a partition table, but none is written and the chip has none at 0x{offset:x}; write a layout with a table, or erase by address with `cargo esp32s3 erase --region`"
    )]
    NoTableToErase {
        /// The table offset.
        offset: u32,
    },
    /// An ELF cannot be run from RAM.
    #[error("{} cannot run from RAM: {problem}", shown_path(path))]
    RamImage {
        /// The ELF.
        path: PathBuf,
        /// Why.
        problem: String,
    },
}

fn app_partitions_text(partitions: &[(String, u32)]) -> String {
    if partitions.is_empty() {
        return "it has no app partition".to_string();
    }
    let shown: Vec<String> = partitions
        .iter()
        .map(|(name, offset)| format!("{name} at 0x{offset:x}"))
        .collect();
    format!("app partitions: {}", shown.join(", "))
}

fn found_text(found: &[PathBuf]) -> String {
    if found.is_empty() {
        "no ESP32-S3 bootloader image was found on this machine".to_string()
    } else {
        let shown: Vec<String> = found.iter().map(|p| shown_path(p)).collect();
        format!(
            "ESP32-S3 bootloaders found on this machine: {}",
            shown.join(", ")
        )
    }
}

/// The settings that name files a plan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingFile {
    /// `bootloader`.
    Bootloader,
    /// `partition-table`.
    PartitionTable,
}

impl SettingFile {
    /// Where the value can come from, for messages.
    fn origin(self) -> &'static str {
        match self {
            SettingFile::Bootloader => {
                "the `bootloader` setting: [package.metadata.esp32s3], --bootloader or ESP32S3_BOOTLOADER, or an ESP-IDF build's bootloader.bin"
            }
            SettingFile::PartitionTable => {
                "the `partition-table` setting: [package.metadata.esp32s3], --partition-table or ESP32S3_PARTITION_TABLE, or an ESP-IDF build's partition-table.bin"
            }
        }
    }
}

/// What an app written alone came as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppInput {
    /// An ELF made into an app image (no bootloader configured).
    Elf,
    /// A prebuilt bare app image (`.bin`).
    AppImageFile,
    /// An app image given with `--at OFFSET FILE`.
    AtPair,
}

fn advice(app: AppInput) -> String {
    match app {
        AppInput::Elf => format!(
            "set `bootloader` in [package.metadata.esp32s3] (or pass --bootloader, or set Settings::bootloader in a script) to a second-stage bootloader .bin or ELF so the bootloader and partition table are flashed too ({IDF_OUTPUT_PATHS})"
        ),
        AppInput::AppImageFile | AppInput::AtPair => "flash a merged offset-0 image instead, or write the bootloader and partition table too with --at 0x0 BOOTLOADER --at 0x8000 TABLE --at 0x10000 APP (or pass --force to write it anyway)".to_string(),
    }
}

/// What a chip lacks to boot an app written alone, with the values found on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChipLacks {
    /// Flash at 0x0 holds no image.
    #[error(
        "the chip has no bootloader at 0x0 (flash there starts {})",
        hex_bytes(first_bytes)
    )]
    NoBootloader {
        /// The first bytes there.
        first_bytes: Vec<u8>,
    },
    /// The bootloader at 0x0 is another chip's.
    #[error(
        "the bootloader on the chip at 0x0 is for {} (chip id {chip_id}), not the ESP32-S3",
        chip_name(*chip_id).unwrap_or("an unknown chip")
    )]
    OtherChipBootloader {
        /// The chip id in its header.
        chip_id: u16,
    },
    /// No partition table at the table offset.
    #[error("the chip has no partition table at 0x{offset:x} (no AA 50 entry there)")]
    NoTable {
        /// The table offset.
        offset: u32,
    },
    /// The partition table there is invalid.
    #[error("the chip has no valid partition table at 0x{offset:x} ({problem})")]
    InvalidTable {
        /// The table offset.
        offset: u32,
        /// What is wrong with it.
        problem: String,
    },
    /// The table has no app partition to use.
    #[error("the partition table on the chip at 0x{offset:x}: {problem}")]
    NoAppPartition {
        /// The table offset.
        offset: u32,
        /// Which partition was looked for, and what there is.
        problem: String,
    },
    /// The app does not fit the chip's app partition.
    #[error(
        "the app ({app_len} bytes) does not fit the chip's {partition} partition ({size} bytes at 0x{offset:x})"
    )]
    AppTooBig {
        /// The app image's length.
        app_len: usize,
        /// The partition.
        partition: String,
        /// Its size.
        size: u32,
        /// Its offset.
        offset: u32,
    },
}

fn hex_bytes(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    shown.join(" ")
}

/// Where a piece of the layout came from, for messages.
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

/// How a plan places what it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Bootloader, partition table and app: boots on a blank chip.
    Layout,
    /// The app alone, into the app partition the chip's own partition table names.
    AppAlone,
    /// Files placed where their content (a `.bin`) or the user (`--at`) says.
    Fixed,
}

/// One part of a prebuilt file and where it goes, for telling the user before connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The file.
    pub file: PathBuf,
    /// What the part is (`merged image`, `app image`, `bootloader image`, `partition table`).
    pub what: String,
    /// Its length.
    pub len: usize,
    /// The flash offset it goes to.
    pub offset: u32,
}

/// The settings a plan is made with (copied, so a plan stands alone).
#[derive(Debug, Clone)]
struct PlanSettings {
    flash_mode: Option<crate::image::FlashMode>,
    flash_freq: Option<crate::image::FlashFreq>,
    /// The configured size; `None` when the chip's detected size should decide.
    flash_size: Option<FlashSize>,
    table_offset: u32,
    target_app_partition: Option<String>,
    min_chip_rev: u16,
    max_chip_rev: u16,
    ignore_app_descriptor: bool,
    force: bool,
}

impl PlanSettings {
    fn of(settings: &Settings) -> Self {
        PlanSettings {
            flash_mode: settings.flash_mode,
            flash_freq: settings.flash_freq,
            flash_size: settings.flash_size,
            table_offset: settings.partition_table_offset,
            target_app_partition: settings.target_app_partition.clone(),
            min_chip_rev: settings.min_chip_rev,
            max_chip_rev: settings.max_chip_rev,
            ignore_app_descriptor: settings.ignore_app_descriptor,
            force: settings.force,
        }
    }
}

/// The bytes an ELF plan read, kept so that it can be laid out again without reading a file.
#[derive(Debug, Clone)]
struct ElfInputs {
    path: PathBuf,
    elf: Arc<[u8]>,
    /// The bootloader file (an image or an ELF) and where it came from.
    bootloader: Option<(PathBuf, Arc<[u8]>)>,
    /// The partition table file, parsed (a CSV's offsets do not depend on the flash size).
    table: Option<(PathBuf, PartitionTable)>,
}

/// What the plan was made from.
#[derive(Debug, Clone)]
enum Input {
    Elf(Box<ElfInputs>),
    /// Prebuilt files and `--at` pairs: their regions are final.
    Files,
}

/// What goes where, checked before any chip is touched. See the module documentation.
#[derive(Debug, Clone)]
pub struct Plan {
    input: Input,
    settings: PlanSettings,
    placement: Placement,
    regions: Vec<Region>,
    placed: Vec<Placed>,
    flash_size: FlashSize,
    /// False while an ELF plan's size-dependent checks (its partition table against the flash,
    /// the app against the default table sized for the flash) wait for the chip's size.
    size_checked: bool,
    app: Option<AppImage>,
    table: Option<(PartitionTable, Source)>,
    app_partition: Option<Partition>,
    bootloader_source: Option<Source>,
    /// Partitions to erase before writing (`--erase-parts`, `--erase-data-parts`).
    erase: EraseParts,
}

impl Plan {
    /// The plan for an ELF: its app image and, when a bootloader is configured (or `idf` names
    /// the one an esp-idf-sys build made), the bootloader and partition table with it. Reads the
    /// ELF, the bootloader and the partition table once, here.
    pub fn from_elf(path: &Path, settings: &Settings, idf: &IdfOutputs) -> crate::Result<Plan> {
        Self::from_elf_bytes(path, read_file(path)?, settings, idf)
    }

    /// The plan for a file as `flash FILE` takes it: an ELF (with the bootloader and table an
    /// ESP-IDF build left next to it, as `cargo run` hands over the ELF alone) or a prebuilt
    /// `.bin` placed by its content.
    pub fn from_file(path: &Path, settings: &Settings) -> crate::Result<Plan> {
        let bytes = read_file(path)?;
        if looks_like_elf(&bytes) {
            let idf = crate::cargo::idf_outputs_near(path);
            // Read once: the ELF bytes in hand are the ones laid out.
            return Self::from_elf_bytes(path, bytes, settings, &idf);
        }
        Self::from_bin_bytes(path, bytes, settings)
    }

    fn from_elf_bytes(
        path: &Path,
        elf: Vec<u8>,
        settings: &Settings,
        idf: &IdfOutputs,
    ) -> crate::Result<Plan> {
        if elf.is_empty() {
            return Err(in_file(path, ImageError::EmptyFile).into());
        }
        let bootloader_path = settings.bootloader.clone().or(idf.bootloader.clone());
        let table_path = settings
            .partition_table
            .clone()
            .or(idf.partition_table.clone());
        let plan_settings = PlanSettings::of(settings);
        let bootloader = match bootloader_path {
            Some(path) => Some((
                path.clone(),
                Arc::from(read_setting_file(&path, SettingFile::Bootloader)?),
            )),
            None => None,
        };
        let table = match table_path {
            Some(path) => Some((
                path.clone(),
                read_table(&path, settings.partition_table_offset)?,
            )),
            None => None,
        };
        let inputs = ElfInputs {
            path: path.to_path_buf(),
            elf: Arc::from(elf),
            bootloader,
            table,
        };
        // Without a configured size the chip's decides; the checks that depend on it wait.
        let sized = settings.flash_size.is_some();
        let size = settings.flash_size.unwrap_or(DEFAULT_FLASH_SIZE);
        lay_out_elf(inputs, plan_settings, size, sized)
    }

    /// The plan for a prebuilt `.bin`, placed by its content: a merged offset-0 image or a
    /// bootloader at 0x0, a partition table at its offset, a bare app image into the app
    /// partition (of the chip's own table when it is written, see [`Plan::regions_for_chip`]).
    pub fn from_bin(path: &Path, settings: &Settings) -> crate::Result<Plan> {
        let bytes = read_file(path)?;
        Self::from_bin_bytes(path, bytes, settings)
    }

    fn from_bin_bytes(path: &Path, bytes: Vec<u8>, settings: &Settings) -> crate::Result<Plan> {
        let plan_settings = PlanSettings::of(settings);
        let mut regions = flash_regions_for_bin(&bytes, settings.partition_table_offset)
            .map_err(|source| in_file(path, source))?;
        if !settings.ignore_app_descriptor {
            inspect_at(&bytes, settings.partition_table_offset)
                .and_then(|info| require_app_descriptors(&info))
                .map_err(|source| in_file(path, source))?;
        }
        let configured =
            settings.partition_table.is_some() || settings.target_app_partition.is_some();
        let size = settings.flash_size.unwrap_or(DEFAULT_FLASH_SIZE);
        let mut table = None;
        if let [region] = regions.as_mut_slice() {
            if region.kind == RegionKind::App && configured {
                // A bare app goes where the configured table puts it (the chip's own table still
                // decides when it is written).
                let (chip_table, source) = match &settings.partition_table {
                    Some(file) => (
                        read_table(file, settings.partition_table_offset)?,
                        Source::File(file.clone()),
                    ),
                    None => (
                        PartitionTable::default_for(size.bytes(), settings.partition_table_offset),
                        Source::DefaultTable(size),
                    ),
                };
                let partition = chip_table
                    .app_partition(settings.target_app_partition.as_deref())
                    .map_err(|e| e.in_file(source.to_string()))?
                    .clone();
                region.offset = partition.offset;
                region.label = format!("app ({})", partition.name);
                table = Some((chip_table, source));
            }
        }
        let placed = regions
            .iter()
            .map(|r| Placed {
                file: path.to_path_buf(),
                what: r.label.clone(),
                len: r.data.len(),
                offset: r.offset,
            })
            .collect();
        // From here on (progress, refusals, failures) each region also names its file.
        for region in &mut regions {
            region.label = format!("{} from {}", region.label, shown_path(path));
        }
        let placement = match regions.as_slice() {
            [only] if only.kind == RegionKind::App => Placement::AppAlone,
            _ => Placement::Fixed,
        };
        Ok(Plan {
            input: Input::Files,
            settings: plan_settings,
            placement,
            regions,
            placed,
            flash_size: size,
            size_checked: true,
            app: None,
            table,
            app_partition: None,
            bootloader_source: None,
            erase: EraseParts::default(),
        })
    }

    /// The plan for explicit `--at OFFSET FILE` pairs: each file written exactly where it is
    /// given, as it is, after the checks a plain `flash FILE` makes of its content: an ELF is
    /// refused (it has no flash offset of its own), an image for another chip too, and unless
    /// `force` a merged offset-0 image or a bootloader anywhere but 0x0, a partition table off
    /// the table offset, an app without an app descriptor (unless `ignore-app-descriptor`) or
    /// outside an app partition of the table written with it. Files that are not images
    /// (filesystems, NVS) are data and go anywhere. Where the chip's own bootloader and table
    /// must serve an app, [`Plan::regions_for_chip`] checks them.
    pub fn from_at(pairs: &[(u32, PathBuf)], settings: &Settings) -> crate::Result<Plan> {
        let plan_settings = PlanSettings::of(settings);
        let mut regions = Vec::new();
        for (offset, path) in pairs {
            let data = read_file(path)?;
            let kind = at_content(*offset, path, &data, &plan_settings)?;
            regions.push(Region {
                offset: *offset,
                data,
                kind,
                label: shown_path(path),
            });
        }
        let plan = Plan {
            input: Input::Files,
            settings: plan_settings,
            placement: Placement::Fixed,
            regions,
            placed: Vec::new(),
            flash_size: settings.flash_size.unwrap_or(DEFAULT_FLASH_SIZE),
            size_checked: true,
            app: None,
            table: None,
            app_partition: None,
            bootloader_source: None,
            erase: EraseParts::default(),
        };
        // With a table among the files, the apps are checked against it before any chip is
        // touched; otherwise against the chip's, once connected.
        if let Some(table) = layout_table(&plan.regions, plan.settings.table_offset) {
            plan.check_apps_in(&table, "the partition table written with it")?;
        }
        Ok(plan)
    }

    /// The plan laid out for a flash of `size`: the same plan when its size was configured (or
    /// is already `size`) or it holds no ELF, else the ELF's images made again from the bytes
    /// read at the start (no file is read).
    pub fn for_flash_size(&self, size: FlashSize) -> crate::Result<Cow<'_, Plan>> {
        match &self.input {
            Input::Elf(inputs)
                if self.settings.flash_size.is_none()
                    && (size != self.flash_size || !self.size_checked) =>
            {
                let mut plan = lay_out_elf((**inputs).clone(), self.settings.clone(), size, true)?;
                plan.erase = self.erase.clone();
                Ok(Cow::Owned(plan))
            }
            _ => Ok(Cow::Borrowed(self)),
        }
    }

    /// The plan laid out and checked for a file written without a chip (`build`, `save-image`):
    /// a plan made without a configured flash size is checked against the size its headers say
    /// (4 MB), as the chip that boots the file will read them.
    pub fn for_file(&self) -> crate::Result<Cow<'_, Plan>> {
        match &self.input {
            Input::Elf(inputs) if !self.size_checked => {
                let mut plan = lay_out_elf(
                    (**inputs).clone(),
                    self.settings.clone(),
                    self.flash_size,
                    true,
                )?;
                plan.erase = self.erase.clone();
                Ok(Cow::Owned(plan))
            }
            _ => Ok(Cow::Borrowed(self)),
        }
    }

    /// How the plan places what it writes.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// True when only an app is written, into the layout already on the chip.
    pub fn writes_app_alone(&self) -> bool {
        self.placement == Placement::AppAlone
    }

    /// The regions as planned, in flash order. An app written alone is placed at its planned
    /// partition here; [`Plan::regions_for_chip`] moves it to where the chip's table says.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Where each part of a prebuilt `.bin` goes (empty for an ELF or `--at` pairs).
    pub fn placed(&self) -> &[Placed] {
        &self.placed
    }

    /// The flash size the plan is laid out for.
    pub fn flash_size(&self) -> FlashSize {
        self.flash_size
    }

    /// The ELF the plan was made from.
    pub fn elf_path(&self) -> Option<&Path> {
        match &self.input {
            Input::Elf(inputs) => Some(&inputs.path),
            Input::Files => None,
        }
    }

    /// The app image made from the ELF.
    pub fn app(&self) -> Option<&AppImage> {
        self.app.as_ref()
    }

    /// The partition table the layout was checked against, and where it came from.
    pub fn partition_table(&self) -> Option<(&PartitionTable, &Source)> {
        self.table.as_ref().map(|(table, source)| (table, source))
    }

    /// The partition the app goes into (as the plan's table says).
    pub fn app_partition(&self) -> Option<&Partition> {
        self.app_partition.as_ref()
    }

    /// Where the bootloader came from, when the plan writes one from an ELF's layout.
    pub fn bootloader_source(&self) -> Option<&Source> {
        self.bootloader_source.as_ref()
    }

    /// The merged offset-0 image (write it at 0x0), padded with 0xFF to the flash size when
    /// `pad`; refused for a plan without a bootloader.
    pub fn merged(&self, pad: bool) -> crate::Result<Vec<u8>> {
        if self.placement != Placement::Layout {
            return Err(ImageError::NoBootloader {
                action: "cannot write a merged image".into(),
            }
            .into());
        }
        let plan = self.for_file()?;
        let pad_to = pad.then(|| plan.flash_size.bytes());
        Ok(merge_regions(&plan.regions, pad_to)?)
    }

    /// `app partition factory: 812 KiB of 3 MiB used (26%)` for the plan's own partition.
    pub fn fill(&self) -> Option<Event> {
        let (app, partition) = (self.app.as_ref()?, self.app_partition.as_ref()?);
        Some(fill_event(app.bytes.len(), partition))
    }

    /// Refuse choices that make no sense with this plan, before any chip is touched: erasing
    /// the whole flash when only the app is written would leave nothing to boot it.
    pub fn check_choices(&self, settings: &Settings) -> crate::Result<()> {
        if settings.erase_all && self.writes_app_alone() {
            return Err(PlanError::EraseAllAppAlone.into());
        }
        if settings.erase_all && !settings.force {
            if let Some(app) = self.at_apps().next() {
                let missing = if !self.writes_bootloader() {
                    Some("bootloader")
                } else if layout_table(&self.regions, self.settings.table_offset).is_none() {
                    Some("partition table")
                } else {
                    None
                };
                if let Some(missing) = missing {
                    return Err(PlanError::EraseAllWithoutLayout {
                        missing,
                        app_offset: app.offset,
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    /// The app images among `--at` files.
    fn at_apps(&self) -> impl Iterator<Item = &Region> {
        self.regions
            .iter()
            .filter(|r| self.placement == Placement::Fixed && r.kind == RegionKind::App)
    }

    /// True when the plan writes an ESP32-S3 image at 0x0 (a bootloader, or a merged image).
    fn writes_bootloader(&self) -> bool {
        self.regions.iter().any(|r| {
            r.offset == 0
                && ImageHeader::decode(&r.data).is_ok_and(|h| h.chip_id == ESP32S3_CHIP_ID)
        })
    }

    /// Every `--at` app image must start an app partition of `table` and fit it.
    fn check_apps_in(&self, table: &PartitionTable, which: &str) -> crate::Result<()> {
        if self.settings.force {
            return Ok(());
        }
        for app in self.at_apps() {
            let Some(partition) = table
                .partitions
                .iter()
                .find(|p| p.is_app() && p.offset == app.offset)
            else {
                return Err(PlanError::NotAnAppPartition {
                    file: app.label.clone(),
                    offset: app.offset,
                    table: which.to_string(),
                    partitions: table
                        .partitions
                        .iter()
                        .filter(|p| p.is_app())
                        .map(|p| (p.name.clone(), p.offset))
                        .collect(),
                }
                .into());
            };
            if app.data.len() as u64 > u64::from(partition.size) {
                return Err(ImageError::InFile {
                    file: app.label.clone(),
                    source: Box::new(ImageError::AppTooBig {
                        app: app.data.len() as u64,
                        partition: partition.name.clone(),
                        partition_size: partition.size,
                    }),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Before writing: `--at` apps written without the bootloader or the table they need must be
    /// served by the chip's own (read from the chip; skipped with a warning where Secure
    /// Download Mode forbids reading flash): a bootloader at 0x0, and a table with an app
    /// partition starting where each app goes. Nothing to check for other plans, or forced.
    /// [`crate::Board::flash`] calls it; comparing (`verify`) does not.
    pub fn check_at_apps_on_chip<T: Transport>(
        &self,
        flasher: &mut Flasher<T>,
        on_event: &mut dyn FnMut(Event),
    ) -> crate::Result<()> {
        if self.settings.force || self.at_apps().next().is_none() {
            return Ok(());
        }
        let table_offset = self.settings.table_offset;
        let plan_table = layout_table(&self.regions, table_offset);
        if self.writes_bootloader() && plan_table.is_some() {
            return Ok(());
        }
        if flasher.loader().secure_download_mode() {
            on_event(Event::Warning(
                "Secure Download Mode forbids reading flash, so the bootloader and partition table on the chip cannot be checked for the app written with --at".into(),
            ));
            return Ok(());
        }
        let cannot_boot = |reason| PlanError::CannotBootApp {
            reason,
            app: AppInput::AtPair,
        };
        if !self.writes_bootloader() {
            let header = flasher.read_flash(0, HEADER_LEN as u32, on_event)?;
            match ImageHeader::decode(&header) {
                Ok(h) if h.chip_id == ESP32S3_CHIP_ID => {}
                Ok(h) => {
                    return Err(
                        cannot_boot(ChipLacks::OtherChipBootloader { chip_id: h.chip_id }).into(),
                    );
                }
                Err(_) => {
                    return Err(cannot_boot(ChipLacks::NoBootloader {
                        first_bytes: header.iter().take(4).copied().collect(),
                    })
                    .into());
                }
            }
        }
        if plan_table.is_some() {
            return Ok(());
        }
        let table = match read_chip_table(flasher, table_offset, on_event)? {
            None => {
                return Err(cannot_boot(ChipLacks::NoTable {
                    offset: table_offset,
                })
                .into());
            }
            Some(Err(e)) => {
                return Err(cannot_boot(ChipLacks::InvalidTable {
                    offset: table_offset,
                    problem: e.to_string(),
                })
                .into());
            }
            Some(Ok(table)) => table,
        };
        self.check_apps_in(
            &table,
            &format!("the chip's partition table at 0x{table_offset:x}"),
        )
    }

    /// The regions this chip gets. An app written alone goes into the app partition that the
    /// chip's own partition table names, and only onto a chip that can boot it (else
    /// [`PlanError::CannotBootApp`], before anything is written); a layout or file whose table
    /// moves the app is written after an [`Event::TableMovesApp`].
    pub fn regions_for_chip<T: Transport>(
        &self,
        flasher: &mut Flasher<T>,
        on_event: &mut dyn FnMut(Event),
    ) -> crate::Result<Vec<Region>> {
        if !self.writes_app_alone() {
            self.check_table_fits(flasher.flash_size())?;
            if let Some(fill) = self.fill() {
                on_event(fill);
            }
            self.note_table_change(flasher, on_event)?;
            return Ok(self.regions.clone());
        }
        let [app] = self.regions.as_slice() else {
            return Ok(self.regions.clone());
        };
        let from_elf = matches!(self.input, Input::Elf(_));
        let input = if from_elf {
            AppInput::Elf
        } else {
            AppInput::AppImageFile
        };
        let partition = chip_app_partition(
            flasher,
            self.settings.table_offset,
            self.settings.target_app_partition.as_deref(),
            app.data.len(),
            on_event,
        )?
        .map_err(|reason| PlanError::CannotBootApp { reason, app: input })?;
        if from_elf {
            on_event(fill_event(app.data.len(), &partition));
        }
        // For an ELF only a table the user chose is worth comparing (the default one was a
        // guess); a prebuilt app was placed by the user's table or the default offset.
        let planned_by = match &self.table {
            Some((_, source @ Source::File(_))) if from_elf => Some(source.to_string()),
            _ => None,
        };
        if partition.offset != app.offset && (planned_by.is_some() || !from_elf) {
            on_event(Event::AppMovedByChipTable {
                planned_by,
                planned_partition: self
                    .app_partition
                    .as_ref()
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| partition.name.clone()),
                planned_offset: app.offset,
                partition: partition.name.clone(),
                offset: partition.offset,
            });
        }
        on_event(Event::AppAlone {
            offset: partition.offset,
            partition: partition.name.clone(),
            why: if from_elf {
                AppAloneWhy::NoBootloaderConfigured
            } else {
                AppAloneWhy::AppImageFile
            },
        });
        let mut app = app.clone();
        app.offset = partition.offset;
        if from_elf {
            app.label = format!("app ({})", partition.name);
        }
        Ok(vec![app])
    }

    /// The partition table a prebuilt file or `--at` pair writes must lie inside this chip's
    /// flash (an ELF's layout was checked when it was laid out for the chip's size).
    fn check_table_fits(&self, flash_size: u32) -> crate::Result<()> {
        // A file that itself runs past the flash is the first thing to fix; the flasher says so.
        let past_end = self.regions.iter().any(|r| r.end() > u64::from(flash_size));
        if matches!(self.input, Input::Elf(_)) || past_end {
            return Ok(());
        }
        let table_offset = self.settings.table_offset;
        let Some(table) = layout_table(&self.regions, table_offset) else {
            return Ok(());
        };
        if let Some(p) = table.partitions.iter().max_by_key(|p| p.end()) {
            if p.end() > u64::from(flash_size) {
                let file = self
                    .regions
                    .iter()
                    .find(|r| r.offset <= table_offset && u64::from(table_offset) < r.end())
                    .map_or_else(String::new, |r| r.label.clone());
                return Err(PlanError::TableBeyondFlash {
                    file,
                    partition: p.name.clone(),
                    end: p.end(),
                    flash_size,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Say so before writing a table whose app partition is not where the chip's current table
    /// puts it: the bootloader will boot the new place, and what sat at the old one stays.
    fn note_table_change<T: Transport>(
        &self,
        flasher: &mut Flasher<T>,
        on_event: &mut dyn FnMut(Event),
    ) -> crate::Result<()> {
        let table_offset = self.settings.table_offset;
        let Some(ours) = layout_table(&self.regions, table_offset) else {
            return Ok(());
        };
        // Secure Download Mode forbids reading flash; the note is advice, not worth failing for.
        if flasher.loader().secure_download_mode() {
            return Ok(());
        }
        let name = self.settings.target_app_partition.as_deref();
        let Ok(new_app) = ours.app_partition(name) else {
            return Ok(());
        };
        // One MD5 first: on a reflash the chip holds this very table, and reading it (48
        // commands of 64 bytes on the ROM) would only confirm that.
        if let Some(bytes) = table_bytes(&self.regions, table_offset) {
            let chip = flasher.md5(table_offset, MAX_TABLE_LEN as u32)?;
            if chip == <md5::Md5 as md5::Digest>::digest(&bytes).as_slice() {
                return Ok(());
            }
        }
        let Some(Ok(chip_table)) = read_chip_table(flasher, table_offset, on_event)? else {
            return Ok(());
        };
        if let Ok(old_app) = chip_table.app_partition(name) {
            if old_app.offset != new_app.offset {
                on_event(Event::TableMovesApp {
                    chip_partition: old_app.name.clone(),
                    chip_offset: old_app.offset,
                    new_partition: new_app.name.clone(),
                    new_offset: new_app.offset,
                });
            }
        }
        Ok(())
    }
}

/// Partitions to erase before a plan is written, by name or by data subtype
/// (`flash --erase-parts nvs,phy_init --erase-data-parts ota`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EraseParts {
    /// Partition names.
    pub names: Vec<String>,
    /// Data partition subtypes by name (`nvs`, `ota`, `phy`, `fat`, …; `otadata` is taken for
    /// `ota`).
    pub data_types: Vec<String>,
}

impl EraseParts {
    /// True when nothing is to be erased.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.data_types.is_empty()
    }

    /// The data subtype bytes, refusing names that are not data subtypes.
    fn data_subtypes(&self) -> Result<Vec<u8>, PlanError> {
        use crate::image::partition::PartitionType;
        self.data_types
            .iter()
            .map(|given| {
                let name = if given.eq_ignore_ascii_case("otadata") {
                    "ota"
                } else {
                    given.as_str()
                };
                PartitionType::Data.subtype_from_name(name).ok_or_else(|| {
                    PlanError::UnknownDataType {
                        given: given.clone(),
                    }
                })
            })
            .collect()
    }

    /// The partitions of `table` these name, in flash order, each once.
    fn select(&self, table: &PartitionTable, which: &str) -> Result<Vec<Partition>, PlanError> {
        let mut chosen: Vec<Partition> = Vec::new();
        for name in &self.names {
            let Some(partition) = table.find(name) else {
                return Err(PlanError::NoPartitionToErase {
                    name: name.clone(),
                    table: which.to_string(),
                    names: table.partitions.iter().map(|p| p.name.clone()).collect(),
                });
            };
            chosen.push(partition.clone());
        }
        let subtypes = self.data_subtypes()?;
        chosen.extend(
            table
                .partitions
                .iter()
                .filter(|p| {
                    p.ty == crate::image::partition::PartitionType::Data.code()
                        && subtypes.contains(&p.subtype)
                })
                .cloned(),
        );
        chosen.sort_by_key(|p| p.offset);
        chosen.dedup_by_key(|p| p.offset);
        Ok(chosen)
    }
}

impl Plan {
    /// The plan, erasing `parts` before it is written. The names and types are checked now
    /// against the partition table the plan writes, when it writes one, so a typo is refused
    /// before any chip is touched; for an app written alone they are looked up in the chip's
    /// table when it is written ([`Plan::partitions_to_erase`]).
    pub fn erasing(mut self, parts: EraseParts) -> crate::Result<Plan> {
        parts.data_subtypes()?;
        if let Some(table) = layout_table(&self.regions, self.settings.table_offset) {
            parts.select(&table, "the partition table being written")?;
        }
        self.erase = parts;
        Ok(self)
    }

    /// What the plan erases before writing.
    pub fn erase_parts(&self) -> &EraseParts {
        &self.erase
    }

    /// The partitions to erase before writing `regions` (what [`Plan::regions_for_chip`] gave):
    /// found in the table `regions` write, else in the chip's own table (read only then).
    pub fn partitions_to_erase<T: Transport>(
        &self,
        regions: &[Region],
        flasher: &mut Flasher<T>,
        on_event: &mut dyn FnMut(Event),
    ) -> crate::Result<Vec<Partition>> {
        if self.erase.is_empty() {
            return Ok(Vec::new());
        }
        let offset = self.settings.table_offset;
        if let Some(table) = layout_table(regions, offset) {
            return Ok(self
                .erase
                .select(&table, "the partition table being written")?);
        }
        match read_chip_table(flasher, offset, on_event)? {
            Some(Ok(table)) => Ok(self
                .erase
                .select(&table, "the partition table on the chip")?),
            _ => Err(PlanError::NoTableToErase { offset }.into()),
        }
    }

    /// True when the regions of this plan write a partition table at the table offset.
    pub fn writes_table(&self) -> bool {
        layout_table(&self.regions, self.settings.table_offset).is_some()
    }

    /// This plan with `bootloader` (an image the tool kept) for a chip that has none: an app
    /// that was to be written alone becomes a whole layout (the bootloader, the configured or
    /// default partition table, the app in its partition). Any other plan is returned as it is.
    pub fn with_bootloader(&self, path: &Path, bootloader: Vec<u8>) -> crate::Result<Plan> {
        if !self.writes_app_alone() {
            return Ok(self.clone());
        }
        if let Input::Elf(inputs) = &self.input {
            let mut inputs = (**inputs).clone();
            inputs.bootloader = Some((path.to_path_buf(), Arc::from(bootloader)));
            let mut plan = lay_out_elf(
                inputs,
                self.settings.clone(),
                self.flash_size,
                self.size_checked,
            )?;
            plan.erase = self.erase.clone();
            return Ok(plan);
        }
        let [app] = self.regions.as_slice() else {
            return Ok(self.clone());
        };
        let size = self.flash_size;
        let (table, source) = match &self.table {
            Some((table, source)) => (table.clone(), source.clone()),
            None => (
                PartitionTable::default_for(size.bytes(), self.settings.table_offset),
                Source::DefaultTable(size),
            ),
        };
        let partition = table
            .app_partition(self.settings.target_app_partition.as_deref())
            .map_err(|e| e.in_file(source.to_string()))?
            .clone();
        let flash = FlashParams {
            mode: self.settings.flash_mode,
            size: Some(size),
            freq: self.settings.flash_freq,
        };
        let regions = offset0_regions(&Offset0Inputs {
            bootloader: &bootloader,
            table: &table,
            table_offset: self.settings.table_offset,
            app: &app.data,
            app_partition: Some(&partition.name),
            flash,
            flash_size: Some(size.bytes()),
        })
        .map_err(|source| in_file(path, source))?;
        Ok(Plan {
            input: Input::Files,
            settings: self.settings.clone(),
            placement: Placement::Layout,
            regions,
            placed: self.placed.clone(),
            flash_size: size,
            size_checked: true,
            app: None,
            table: Some((table, source)),
            app_partition: Some(partition),
            bootloader_source: Some(Source::File(path.to_path_buf())),
            erase: self.erase.clone(),
        })
    }
}

/// A program to run from RAM (`flash --ram`): the loadable sections of an ELF, each at its RAM
/// address, and the entry point. Made only from an ELF whose every section lies in RAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamImage {
    /// The ELF it was made from.
    pub path: PathBuf,
    /// Where the program starts.
    pub entry: u32,
    /// The bytes to load: (address, bytes, section names), neighbouring sections joined.
    pub segments: Vec<RamSegment>,
}

/// One stretch of RAM a [`RamImage`] fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamSegment {
    /// Load address.
    pub addr: u32,
    /// The bytes.
    pub data: Vec<u8>,
    /// The ELF sections it holds, for messages.
    pub sections: Vec<String>,
}

impl RamImage {
    /// Read the ELF at `path` and check that it can run from RAM: every loadable section in
    /// internal or RTC RAM. A section the MMU maps from flash (IROM/DROM) is refused, naming it,
    /// because running from RAM leaves the flash untouched and that code would not be there.
    pub fn from_elf(path: &Path) -> crate::Result<RamImage> {
        let bytes = read_file(path)?;
        let refuse = |problem: String| PlanError::RamImage {
            path: path.to_path_buf(),
            problem,
        };
        if !looks_like_elf(&bytes) {
            return Err(refuse(
                "it is not an ELF file; --ram loads an ELF linked to run from RAM".into(),
            )
            .into());
        }
        let elf = crate::image::elf::read_elf(&bytes).map_err(|e| refuse(e.to_string()))?;
        let mut segments: Vec<RamSegment> = Vec::new();
        let mut sections = elf.segments.clone();
        sections.sort_by_key(|s| s.addr);
        for section in sections {
            match crate::image::elf::region_of(section.addr) {
                Some(crate::image::elf::Region::Ram) => {}
                Some(crate::image::elf::Region::Flash) => {
                    return Err(refuse(format!(
                        "section {} is linked at 0x{:08x}, which the MMU maps from flash ({}); --ram loads RAM sections only and leaves the flash untouched, so that code would not be there; link the program into RAM (IRAM/DRAM), or flash it without --ram",
                        section.name,
                        section.addr,
                        crate::image::format::memory_kinds(section.addr).join("/")
                    ))
                    .into());
                }
                _ => {
                    return Err(refuse(format!(
                        "section {} is linked at 0x{:08x}, which is not RAM; link the program into RAM (IRAM/DRAM)",
                        section.name, section.addr
                    ))
                    .into());
                }
            }
            match segments.last_mut() {
                Some(last)
                    if u64::from(last.addr) + last.data.len() as u64 == u64::from(section.addr) =>
                {
                    last.data.extend_from_slice(&section.data);
                    last.sections.push(section.name.clone());
                }
                _ => segments.push(RamSegment {
                    addr: section.addr,
                    data: section.data.clone(),
                    sections: vec![section.name.clone()],
                }),
            }
        }
        if segments.is_empty() {
            return Err(refuse("it has no loadable sections".into()).into());
        }
        Ok(RamImage {
            path: path.to_path_buf(),
            entry: elf.entry,
            segments,
        })
    }

    /// Bytes loaded in all.
    pub fn len(&self) -> usize {
        self.segments.iter().map(|s| s.data.len()).sum()
    }

    /// True when nothing would be loaded (never, for an image made by [`RamImage::from_elf`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Make the images of an ELF plan for a flash of `size` from the bytes it read. Unless `sized`
/// (the size is configured, or the chip's), the checks that depend on the size wait: the table
/// against the flash, and the app against the default table (which fills the flash).
fn lay_out_elf(
    inputs: ElfInputs,
    settings: PlanSettings,
    size: FlashSize,
    sized: bool,
) -> crate::Result<Plan> {
    // One flash size for the app header, the bootloader header and the default table: the
    // configured one, or what the chip reported, or the default.
    let flash = FlashParams {
        mode: settings.flash_mode,
        // Unsized, the layout is only provisional (laid out again for the chip or a file before
        // anything is written), and no header may claim the default size for the checks.
        size: sized.then_some(size),
        freq: settings.flash_freq,
    };
    let options = AppImageOptions {
        flash,
        min_rev_full: settings.min_chip_rev,
        max_rev_full: settings.max_chip_rev,
        append_digest: true,
    };
    let app = elf_to_app_image(&inputs.elf, &options).map_err(|source| ImageError::AppFromElf {
        file: shown_path(&inputs.path),
        source: Box::new(source),
    })?;
    // Only an image that runs from flash is an app the second stage loads (and reads the
    // descriptor of); one that loads wholly into RAM is a bootloader, which has none.
    let runs_from_flash = app
        .segments
        .iter()
        .any(|s| crate::image::format::is_flash_mapped(s.addr));
    if !settings.ignore_app_descriptor && runs_from_flash && app_desc_of_image(&app.bytes).is_none()
    {
        return Err(in_file(
            &inputs.path,
            ImageError::NoAppDescriptor {
                what: "the app".into(),
            },
        )
        .into());
    }

    let (table, table_source) = match &inputs.table {
        Some((path, table)) => (table.clone(), Source::File(path.clone())),
        None => (
            PartitionTable::default_for(size.bytes(), settings.table_offset),
            Source::DefaultTable(size),
        ),
    };
    let table_name = table_source.to_string();
    table
        .validate(sized.then(|| size.bytes()), settings.table_offset)
        .map_err(|e| e.in_file(table_name.clone()))?;
    // Without a bootloader and a table of our own, the app goes into the chip's table, so
    // `target-app-partition` names a partition there and is not looked up in the default table.
    let own_layout = inputs.bootloader.is_some() || inputs.table.is_some();
    let target = settings
        .target_app_partition
        .as_deref()
        .filter(|_| own_layout);
    let app_partition = table
        .app_partition(target)
        .map_err(|e| e.in_file(table_name.clone()))?
        .clone();
    if (sized || inputs.table.is_some()) && app.bytes.len() as u64 > u64::from(app_partition.size) {
        return Err(ImageError::AppTooBig {
            app: app.bytes.len() as u64,
            partition: app_partition.name.clone(),
            partition_size: app_partition.size,
        }
        .into());
    }

    let (placement, regions, bootloader_source) = match &inputs.bootloader {
        Some((path, bytes)) => {
            // ESP-IDF's bootloader.elf becomes its image the same way an app does.
            let converted;
            let bootloader: &[u8] = if looks_like_elf(bytes) {
                converted = elf_to_app_image(bytes, &options)
                    .map_err(|source| ImageError::BootloaderFromElf {
                        file: shown_path(path),
                        source: Box::new(source),
                    })?
                    .bytes;
                &converted
            } else {
                bytes
            };
            let regions = offset0_regions(&Offset0Inputs {
                bootloader,
                table: &table,
                table_offset: settings.table_offset,
                app: &app.bytes,
                app_partition: Some(&app_partition.name),
                flash,
                flash_size: sized.then(|| size.bytes()),
            })
            .map_err(|source| in_file(path, source))?;
            (Placement::Layout, regions, Some(Source::File(path.clone())))
        }
        None => (
            Placement::AppAlone,
            vec![Region {
                offset: app_partition.offset,
                data: app.bytes.clone(),
                kind: RegionKind::App,
                label: format!("app ({})", app_partition.name),
            }],
            None,
        ),
    };
    Ok(Plan {
        input: Input::Elf(Box::new(inputs)),
        settings,
        placement,
        regions,
        placed: Vec::new(),
        flash_size: size,
        size_checked: sized,
        app: Some(app),
        table: Some((table, table_source)),
        app_partition: Some(app_partition),
        bootloader_source,
        erase: EraseParts::default(),
    })
}

/// A partition table file: binary (starts with an entry's AA 50) or CSV.
fn read_table(path: &Path, table_offset: u32) -> crate::Result<PartitionTable> {
    let bytes = read_setting_file(path, SettingFile::PartitionTable)?;
    let table = if bytes.starts_with(&ENTRY_MAGIC) {
        PartitionTable::from_binary(&bytes)
    } else {
        match std::str::from_utf8(&bytes) {
            Ok(text) => PartitionTable::from_csv_at(text, table_offset),
            Err(e) => Err(PartitionError::NotATable {
                invalid_byte_at: e.valid_up_to(),
            }),
        }
    };
    Ok(table.map_err(|e| e.in_file(shown_path(path)))?)
}

/// What a `--at` file is, from its content, and the refusals of a file where it does not belong.
fn at_content(
    offset: u32,
    path: &Path,
    data: &[u8],
    settings: &PlanSettings,
) -> crate::Result<RegionKind> {
    let file = shown_path(path);
    if looks_like_elf(data) {
        return Err(ImageError::ElfWithAt { file }.into());
    }
    let table_offset = settings.table_offset;
    let info = match inspect_at(data, table_offset) {
        Ok(info) => info,
        // An image for another chip boots nowhere here, whatever the offset.
        Err(e @ ImageError::WrongChip { .. }) => return Err(in_file(path, e).into()),
        // Not an image or a table (a filesystem, NVS data): written as it is.
        Err(_) => return Ok(RegionKind::Data),
    };
    let wrong = |what, belongs_at, why| -> crate::Result<RegionKind> {
        Err(PlanError::WrongOffset {
            file: file.clone(),
            what,
            offset,
            belongs_at,
            why,
        }
        .into())
    };
    let force = settings.force;
    match info.kind {
        BinKind::MergedImage => {
            let belongs_at = info.write_at.unwrap_or(0);
            if offset != belongs_at && !force {
                return wrong(
                    "a merged image (bootloader, partition table and app in one file)",
                    belongs_at,
                    "its bootloader, table and app would all land at the wrong places and the chip would boot-loop",
                );
            }
            if !settings.ignore_app_descriptor {
                require_app_descriptors(&info).map_err(|e| in_file(path, e))?;
            }
            Ok(RegionKind::Data)
        }
        BinKind::BootloaderImage => {
            if offset != 0 && !force {
                return wrong(
                    "an ESP32-S3 bootloader image",
                    0,
                    "the ESP32-S3 ROM loads the bootloader from 0x0 only (0x1000 is the ESP32's place)",
                );
            }
            Ok(RegionKind::Bootloader)
        }
        BinKind::PartitionTable => {
            if offset != table_offset && !force {
                return wrong(
                    "a partition table",
                    table_offset,
                    "the bootloader reads its table at the partition table offset only (set --partition-table-offset if yours is elsewhere)",
                );
            }
            Ok(RegionKind::PartitionTable)
        }
        BinKind::AppImage => {
            if !settings.ignore_app_descriptor {
                require_app_descriptors(&info).map_err(|e| in_file(path, e))?;
            }
            Ok(RegionKind::App)
        }
        BinKind::Elf => Err(ImageError::ElfWithAt { file }.into()),
    }
}

/// A file a setting names (or an ESP-IDF build left): read, or an error that names the setting,
/// so a wrong path says which key to fix.
fn read_setting_file(path: &Path, setting: SettingFile) -> crate::Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| {
        PlanError::SettingFile {
            setting,
            path: path.to_path_buf(),
            source,
        }
        .into()
    })
}

/// `source`, named by the file it is about.
fn in_file(path: &Path, source: ImageError) -> ImageError {
    ImageError::InFile {
        file: shown_path(path),
        source: Box::new(source),
    }
}

/// How full the app partition is, as an event.
fn fill_event(app_len: usize, partition: &Partition) -> Event {
    Event::AppPartitionFill {
        partition: partition.name.clone(),
        used: app_len as u64,
        size: u64::from(partition.size),
    }
}

/// The `MAX_TABLE_LEN` bytes a layout writes at `table_offset` (0xFF past the region's end), if
/// one of its regions covers the offset.
fn table_bytes(regions: &[Region], table_offset: u32) -> Option<Vec<u8>> {
    let region = regions
        .iter()
        .find(|r| r.offset <= table_offset && u64::from(table_offset) < r.end())?;
    let start = usize::try_from(table_offset - region.offset).ok()?;
    let mut bytes = region.data.get(start..)?.to_vec();
    bytes.resize(MAX_TABLE_LEN, 0xFF);
    Some(bytes)
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

/// Where an app written alone goes on this chip, read from the chip itself: its bootloader at
/// 0x0 must be an ESP32-S3 image, and its partition table at `table_offset` must name an app
/// partition (`target`, else factory, else ota_0) that holds `app_len` bytes. Without this an
/// app written next to an erased bootloader only gives the `invalid header: 0xffffffff` boot
/// loop, and the flash would still report success.
///
/// The outer error is a failure to talk to the chip; the inner one says what the chip lacks.
pub fn chip_app_partition<T: Transport>(
    flasher: &mut Flasher<T>,
    table_offset: u32,
    target: Option<&str>,
    app_len: usize,
    on_event: &mut dyn FnMut(Event),
) -> crate::Result<Result<Partition, ChipLacks>> {
    let header = flasher.read_flash(0, HEADER_LEN as u32, on_event)?;
    match ImageHeader::decode(&header) {
        Ok(h) if h.chip_id == ESP32S3_CHIP_ID => {}
        Ok(h) => return Ok(Err(ChipLacks::OtherChipBootloader { chip_id: h.chip_id })),
        Err(_) => {
            return Ok(Err(ChipLacks::NoBootloader {
                first_bytes: header.iter().take(4).copied().collect(),
            }));
        }
    }
    let table = match read_chip_table(flasher, table_offset, on_event)? {
        None => {
            return Ok(Err(ChipLacks::NoTable {
                offset: table_offset,
            }));
        }
        Some(Err(e)) => {
            return Ok(Err(ChipLacks::InvalidTable {
                offset: table_offset,
                problem: e.to_string(),
            }));
        }
        Some(Ok(table)) => table,
    };
    let partition = match table.app_partition(target) {
        Ok(partition) => partition,
        Err(e) => {
            return Ok(Err(ChipLacks::NoAppPartition {
                offset: table_offset,
                problem: e.to_string(),
            }));
        }
    };
    if app_len as u64 > u64::from(partition.size) {
        return Ok(Err(ChipLacks::AppTooBig {
            app_len,
            partition: partition.name.clone(),
            size: partition.size,
            offset: partition.offset,
        }));
    }
    Ok(Ok(partition.clone()))
}

/// The partition table on the chip: `None` when there is none (no entry magic at the offset),
/// else the parsed table or why it is invalid. Reads one entry first, so a blank chip costs
/// only that.
pub fn read_chip_table<T: Transport>(
    flasher: &mut Flasher<T>,
    table_offset: u32,
    on_event: &mut dyn FnMut(Event),
) -> crate::Result<Option<Result<PartitionTable, PartitionError>>> {
    let first = flasher.read_flash(table_offset, 32, on_event)?;
    if !first.starts_with(&ENTRY_MAGIC) {
        return Ok(None);
    }
    let bytes = flasher.read_flash(table_offset, MAX_TABLE_LEN as u32, on_event)?;
    Ok(Some(PartitionTable::from_binary(&bytes)))
}
