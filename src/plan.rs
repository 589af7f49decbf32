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
use crate::image::elf::looks_like_elf;
use crate::image::format::{ESP32S3_CHIP_ID, HEADER_LEN, ImageHeader, chip_name};
use crate::image::info::flash_regions_for_bin;
use crate::image::merge::{Offset0Inputs, Region, RegionKind, merge_regions, offset0_regions};
use crate::image::partition::{ENTRY_MAGIC, MAX_TABLE_LEN, Partition, PartitionTable};
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

/// Why a plan cannot be made or written. Each message names the file or value and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The firmware file is empty.
    #[error(
        "{} is empty (0 bytes); rebuild the firmware or check the path",
        shown_path(path)
    )]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The ELF could not be made into an app image.
    #[error("cannot make an app image from {}: {source}", shown_path(path))]
    AppImage {
        /// The ELF.
        path: PathBuf,
        /// Why.
        #[source]
        source: ImageError,
    },
    /// The bootloader ELF could not be made into an image.
    #[error("cannot make a bootloader image from {}: {source}", shown_path(path))]
    BootloaderImage {
        /// The bootloader ELF.
        path: PathBuf,
        /// Why.
        #[source]
        source: ImageError,
    },
    /// The bootloader, table and app do not make an offset-0 layout.
    #[error("{}: {source}", shown_path(bootloader))]
    Layout {
        /// The bootloader file the layout was made with.
        bootloader: PathBuf,
        /// What is wrong with the layout.
        #[source]
        source: ImageError,
    },
    /// The app image is larger than its partition.
    #[error(
        "the app image is {} but app partition {partition} holds only {}; enlarge the partition in the partition table or shrink the app (e.g. build with --release)",
        human_size(*app_len),
        human_size(*partition_size)
    )]
    AppTooBig {
        /// The app image's length.
        app_len: u64,
        /// The partition's name.
        partition: String,
        /// The partition's size.
        partition_size: u64,
    },
    /// The partition table file is neither binary nor CSV.
    #[error(
        "{}: not a partition table: neither binary (no AA 50 at the start) nor CSV text",
        shown_path(path)
    )]
    NotATable {
        /// The file.
        path: PathBuf,
    },
    /// A prebuilt `.bin` cannot be placed.
    #[error("{}: {source}", shown_path(path))]
    Bin {
        /// The file.
        path: PathBuf,
        /// Why it cannot be placed.
        #[source]
        source: ImageError,
    },
    /// `--at` was given an ELF.
    #[error(
        "{} is an ELF file, not a flash image; flash it without --at (it is converted), or convert it with `cargo esp32s3 save-image` first",
        shown_path(path)
    )]
    AtElf {
        /// The file.
        path: PathBuf,
    },
    /// A merged image was asked for without a bootloader.
    #[error("{what}: {}", NO_BOOTLOADER_ADVICE)]
    NoBootloader {
        /// What could not be done.
        what: String,
    },
    /// `erase-all` with a plan that writes the app alone.
    #[error(
        "--erase-all would erase the bootloader and partition table the app needs, and only the app is written; set `bootloader` in [package.metadata.esp32s3] (or pass --bootloader) to write a whole layout, or flash without --erase-all"
    )]
    EraseAllAppAlone,
    /// The app alone cannot go onto this chip: it would not boot.
    #[error("{reason}; {}; nothing was written", advice(*app))]
    CannotBootApp {
        /// What the chip lacks.
        reason: ChipLacks,
        /// What the app came as (the advice differs).
        app: AppInput,
    },
}

/// What is printed when no bootloader is known (so no merged image can be made).
pub const NO_BOOTLOADER_ADVICE: &str = "no second-stage bootloader is configured and this project does not ship one; set `bootloader = \"path/to/bootloader.bin\"` in [package.metadata.esp32s3], ESP32S3_BOOTLOADER or --bootloader (esp-idf-sys projects get ESP-IDF's automatically)";

/// What an app written alone came as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppInput {
    /// An ELF made into an app image (no bootloader configured).
    Elf,
    /// A prebuilt bare app image (`.bin`).
    AppImageFile,
}

fn advice(app: AppInput) -> String {
    match app {
        AppInput::Elf => format!(
            "set `bootloader` in [package.metadata.esp32s3] (or pass --bootloader, or set Settings::bootloader in a script) to a second-stage bootloader .bin or ELF so the bootloader and partition table are flashed too ({IDF_OUTPUT_PATHS})"
        ),
        AppInput::AppImageFile => "flash a merged offset-0 image instead, or write the bootloader and partition table too with --at 0x0 BOOTLOADER --at 0x8000 TABLE --at 0x10000 APP".to_string(),
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
    app: Option<AppImage>,
    table: Option<(PartitionTable, Source)>,
    app_partition: Option<Partition>,
    bootloader_source: Option<Source>,
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
            return Err(PlanError::EmptyFile {
                path: path.to_path_buf(),
            }
            .into());
        }
        let bootloader_path = settings.bootloader.clone().or(idf.bootloader.clone());
        let table_path = settings
            .partition_table
            .clone()
            .or(idf.partition_table.clone());
        let plan_settings = PlanSettings::of(settings);
        let bootloader = match bootloader_path {
            Some(path) => Some((path.clone(), Arc::from(read_file(&path)?))),
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
        let size = settings.flash_size.unwrap_or(DEFAULT_FLASH_SIZE);
        lay_out_elf(inputs, plan_settings, size)
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
        let mut regions =
            flash_regions_for_bin(&bytes, settings.partition_table_offset).map_err(|source| {
                PlanError::Bin {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
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
            app: None,
            table,
            app_partition: None,
            bootloader_source: None,
        })
    }

    /// The plan for explicit `--at OFFSET FILE` pairs: each file written exactly where it is
    /// given, as it is (an ELF is refused: it has no flash offset of its own).
    pub fn from_at(pairs: &[(u32, PathBuf)], settings: &Settings) -> crate::Result<Plan> {
        let mut regions = Vec::new();
        for (offset, path) in pairs {
            let data = read_file(path)?;
            if looks_like_elf(&data) {
                return Err(PlanError::AtElf { path: path.clone() }.into());
            }
            regions.push(Region {
                offset: *offset,
                data,
                kind: RegionKind::Data,
                label: shown_path(path),
            });
        }
        Ok(Plan {
            input: Input::Files,
            settings: PlanSettings::of(settings),
            placement: Placement::Fixed,
            regions,
            placed: Vec::new(),
            flash_size: settings.flash_size.unwrap_or(DEFAULT_FLASH_SIZE),
            app: None,
            table: None,
            app_partition: None,
            bootloader_source: None,
        })
    }

    /// The plan laid out for a flash of `size`: the same plan when its size was configured (or
    /// is already `size`) or it holds no ELF, else the ELF's images made again from the bytes
    /// read at the start (no file is read).
    pub fn for_flash_size(&self, size: FlashSize) -> crate::Result<Cow<'_, Plan>> {
        match &self.input {
            Input::Elf(inputs) if self.settings.flash_size.is_none() && size != self.flash_size => {
                let plan = lay_out_elf((**inputs).clone(), self.settings.clone(), size)?;
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
            return Err(PlanError::NoBootloader {
                what: "cannot write a merged image".into(),
            }
            .into());
        }
        let pad_to = pad.then(|| self.flash_size.bytes());
        Ok(merge_regions(&self.regions, pad_to)?)
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
        Ok(())
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

/// Make the images of an ELF plan for a flash of `size` from the bytes it read.
fn lay_out_elf(inputs: ElfInputs, settings: PlanSettings, size: FlashSize) -> crate::Result<Plan> {
    // One flash size for the app header, the bootloader header and the default table: the
    // configured one, or what the chip reported, or the default.
    let flash = FlashParams {
        mode: settings.flash_mode,
        size: Some(size),
        freq: settings.flash_freq,
    };
    let options = AppImageOptions {
        flash,
        min_rev_full: settings.min_chip_rev,
        max_rev_full: settings.max_chip_rev,
        append_digest: true,
    };
    let app = elf_to_app_image(&inputs.elf, &options).map_err(|source| PlanError::AppImage {
        path: inputs.path.clone(),
        source,
    })?;

    let (table, table_source) = match &inputs.table {
        Some((path, table)) => (table.clone(), Source::File(path.clone())),
        None => (
            PartitionTable::default_for(size.bytes(), settings.table_offset),
            Source::DefaultTable(size),
        ),
    };
    let table_name = table_source.to_string();
    table
        .validate(Some(size.bytes()), settings.table_offset)
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
    let (app_len, partition_size) = (app.bytes.len() as u64, u64::from(app_partition.size));
    if app_len > partition_size {
        return Err(PlanError::AppTooBig {
            app_len,
            partition: app_partition.name.clone(),
            partition_size,
        }
        .into());
    }

    let (placement, regions, bootloader_source) = match &inputs.bootloader {
        Some((path, bytes)) => {
            // ESP-IDF's bootloader.elf becomes its image the same way an app does.
            let converted;
            let bootloader: &[u8] = if looks_like_elf(bytes) {
                converted = elf_to_app_image(bytes, &options)
                    .map_err(|source| PlanError::BootloaderImage {
                        path: path.clone(),
                        source,
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
                flash_size: Some(size.bytes()),
            })
            .map_err(|source| PlanError::Layout {
                bootloader: path.clone(),
                source,
            })?;
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
        app: Some(app),
        table: Some((table, table_source)),
        app_partition: Some(app_partition),
        bootloader_source,
    })
}

/// A partition table file: binary (starts with an entry's AA 50) or CSV.
fn read_table(path: &Path, table_offset: u32) -> crate::Result<PartitionTable> {
    let bytes = read_file(path)?;
    let table = if bytes.starts_with(&ENTRY_MAGIC) {
        PartitionTable::from_binary(&bytes)
    } else {
        match std::str::from_utf8(&bytes) {
            Ok(text) => PartitionTable::from_csv_at(text, table_offset),
            Err(_) => {
                return Err(PlanError::NotATable {
                    path: path.to_path_buf(),
                }
                .into());
            }
        }
    };
    Ok(table.map_err(|e| e.in_file(shown_path(path)))?)
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
) -> crate::Result<Option<Result<PartitionTable, crate::image::partition::PartitionError>>> {
    let first = flasher.read_flash(table_offset, 32, on_event)?;
    if !first.starts_with(&ENTRY_MAGIC) {
        return Ok(None);
    }
    let bytes = flasher.read_flash(table_offset, MAX_TABLE_LEN as u32, on_event)?;
    Ok(Some(PartitionTable::from_binary(&bytes)))
}
