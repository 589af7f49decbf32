//! Identification of prebuilt files: is this a bare app image, a bootloader, a merged offset-0
//! image, a partition table or an ELF; is it for the ESP32-S3; is it intact; and, above all, at
//! which flash offset must each part be written.
//!
//! How an app is told from a bootloader: an app has flash-mapped segments (IROM/DROM, loaded by
//! the MMU from the app partition) and starts with an `esp_app_desc_t` (magic 0xABCD5432) at 0x20
//! in its first (DROM) segment. The ROM, which loads whatever sits at 0x0, only copies segments to
//! RAM, so an image with no flash-mapped segment is something the ROM boots from 0x0: an ESP-IDF
//! 2nd-stage bootloader when it carries the `esp_bootloader_desc_t` magic 0x50 at 0x20 or its
//! entry lies at the top of internal SRAM (0x403B0000 and up, where ESP-IDF links its bootloader so
//! that the app can load below it); any other RAM-only image (like esptool's `helloworld`) is
//! reported as such.
//!
//! Pure data in, pure data out: the CLI renders [`ImageInfo`]; nothing here prints or reads files.

use super::app_desc::{APP_DESC_LEN, BOOTLOADER_DESC_LEN, parse_app_desc, parse_bootloader_desc};
pub use super::app_desc::{AppDescriptor, BootloaderDescriptor};
use super::elf::{check_ident, looks_like_elf};
use super::error::ImageError;
use super::format::{
    ESP32S3_CHIP_ID, IMAGE_MAGIC, ImageHeader, MMU_PAGE, chip_name, is_flash_mapped, memory_kinds,
    parse_image,
};
use super::partition::{DEFAULT_TABLE_OFFSET, ENTRY_MAGIC, MAX_TABLE_LEN, PartitionTable};
use super::region::{Region, RegionKind};

/// ESP-IDF links the 2nd-stage bootloader at the top of internal SRAM, from here up.
const BOOTLOADER_IRAM_START: u32 = 0x403B_0000;

/// What kind of file this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinKind {
    /// An app image alone: it goes into an app partition (0x10000 with the default table).
    AppImage,
    /// An image the ROM boots from 0x0: a 2nd-stage bootloader or another RAM-only image.
    BootloaderImage,
    /// Bootloader, partition table and app(s) in one file for offset 0 (or a merged file that
    /// starts at the partition table).
    MergedImage,
    /// A binary partition table alone.
    PartitionTable,
    /// An ELF file (to be converted, not flashed as is).
    Elf,
}

/// What one image inside the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRole {
    /// An application (has flash-mapped segments).
    App,
    /// An ESP-IDF 2nd-stage bootloader (RAM-only, bootloader descriptor or bootloader address).
    Bootloader,
    /// Another RAM-only image (for example one meant for `load-ram`); the ROM runs it from 0x0.
    RamOnly,
}

/// One segment as found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Load address.
    pub load_addr: u32,
    /// Data length.
    pub len: u32,
    /// Offset of the segment header from the start of the image (what esptool prints).
    pub file_offset: usize,
    /// Offset of the segment data from the start of the image.
    pub data_offset: usize,
    /// esptool's memory names for the load address (`DROM`, `IRAM`, `PADDING`...).
    pub memory_kinds: Vec<&'static str>,
    /// True when the MMU maps it from flash (IROM/DROM).
    pub flash_mapped: bool,
}

/// Everything about one image in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDetails {
    /// Where the image starts in the file.
    pub file_offset: usize,
    /// Where it must be written in flash.
    pub flash_offset: u32,
    /// App, bootloader or RAM-only image.
    pub role: ImageRole,
    /// The raw header.
    pub header: ImageHeader,
    /// Segments in file order.
    pub segments: Vec<SegmentInfo>,
    /// Checksum byte stored in the image.
    pub checksum_stored: u8,
    /// Checksum computed from the segments.
    pub checksum_computed: u8,
    /// The appended SHA-256, if any.
    pub digest_stored: Option<[u8; 32]>,
    /// SHA-256 of the image through the checksum byte.
    pub digest_computed: [u8; 32],
    /// Length through the checksum byte.
    pub data_len: usize,
    /// Length including the digest.
    pub total_len: usize,
    /// The app descriptor (apps).
    pub app_desc: Option<AppDescriptor>,
    /// The bootloader descriptor (ESP-IDF 5.x+ bootloaders).
    pub bootloader_desc: Option<BootloaderDescriptor>,
}

impl ImageDetails {
    /// True when the stored checksum matches.
    pub fn checksum_valid(&self) -> bool {
        self.checksum_stored == self.checksum_computed
    }

    /// `Some(valid)` when a digest is appended.
    pub fn digest_valid(&self) -> Option<bool> {
        self.digest_stored.map(|d| d == self.digest_computed)
    }

    /// The chip revisions this image accepts, as the ROM and esptool read them: `(min, max)` in
    /// major*100+minor, `max` None for no limit. Pre-ESP-IDF-5 images (max_rev_full 0) only
    /// carry the legacy major revision.
    pub fn revision_range(&self) -> (u16, Option<u16>) {
        let h = &self.header;
        let legacy = h.max_rev_full == 0 || (h.min_rev_full == 0 && h.min_rev != 0);
        let min = if legacy {
            u16::from(h.min_rev) * 100
        } else {
            h.min_rev_full
        };
        let max = if legacy || h.max_rev_full == 0xFFFF {
            None
        } else {
            Some(h.max_rev_full)
        };
        (min, max)
    }
}

/// One part of the file and the flash offset it must be written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// What it is (`bootloader`, `partition table`, `app (factory)`).
    pub label: String,
    /// Its kind.
    pub kind: RegionKind,
    /// Where it starts in the file.
    pub file_offset: usize,
    /// Its length.
    pub len: usize,
    /// Where it goes in flash.
    pub flash_offset: u32,
}

/// What a file is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The kind of file.
    pub kind: BinKind,
    /// File length.
    pub file_len: usize,
    /// Every image found (the one at the start first, then apps in table order).
    pub images: Vec<ImageDetails>,
    /// The partition table, when the file holds one.
    pub partition_table: Option<PartitionTable>,
    /// Where the table goes in flash, when the file holds one.
    pub table_offset: Option<u32>,
    /// Where the whole file must be written (None for an ELF).
    pub write_at: Option<u32>,
    /// The parts and where each goes.
    pub placements: Vec<Placement>,
    /// Remarks that do not make the file unusable.
    pub notes: Vec<String>,
    /// Validation failures: the file should not be flashed as is.
    pub problems: Vec<String>,
}

impl ImageInfo {
    /// True when nothing failed validation.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Identify and check a file, assuming the partition table lives at 0x8000.
pub fn inspect(bytes: &[u8]) -> Result<ImageInfo, ImageError> {
    inspect_at(bytes, DEFAULT_TABLE_OFFSET)
}

/// Identify and check a file whose partition table (if any) lives at `table_offset`.
///
/// Errors when the bytes cannot be used at all: empty, not an image/table/ELF, an image for
/// another chip, truncated. A readable file with a bad checksum or digest is returned with
/// `problems` filled in, so callers can still show it.
pub fn inspect_at(bytes: &[u8], table_offset: u32) -> Result<ImageInfo, ImageError> {
    let mut info = ImageInfo {
        kind: BinKind::AppImage,
        file_len: bytes.len(),
        images: Vec::new(),
        partition_table: None,
        table_offset: None,
        write_at: None,
        placements: Vec::new(),
        notes: Vec::new(),
        problems: Vec::new(),
    };
    match bytes.first() {
        None => return Err(ImageError::EmptyFile),
        Some(&IMAGE_MAGIC) => {}
        Some(_) if looks_like_elf(bytes) => {
            inspect_elf(bytes, &mut info);
            return Ok(info);
        }
        Some(_) if bytes.starts_with(&ENTRY_MAGIC) => {
            inspect_table_file(bytes, table_offset, &mut info)?;
            return Ok(info);
        }
        Some(_) => return Err(unknown_file(bytes)),
    }

    let first = image_details(bytes, 0, 0)?;
    let at_table = bytes.get(table_offset as usize..);
    let has_table = at_table.is_some_and(|t| t.starts_with(&ENTRY_MAGIC));
    if first.role != ImageRole::App && has_table && first.total_len <= table_offset as usize {
        inspect_merged(bytes, first, table_offset, &mut info)?;
        return Ok(info);
    }

    let (kind, flash_offset, label) = match first.role {
        ImageRole::App => {
            let offset = default_app_offset(table_offset);
            info.notes.push(format!(
                "this is a bare app image: it goes at 0x{offset:x} (the factory partition), not at 0x0; \
                 written at 0x0 the chip boot-loops with `invalid header: 0xffffffff` or similar"
            ));
            (BinKind::AppImage, offset, "app")
        }
        ImageRole::Bootloader => (BinKind::BootloaderImage, 0, "bootloader"),
        ImageRole::RamOnly => {
            info.notes.push(
                "RAM-only image that is not an ESP-IDF bootloader: the ROM runs it from 0x0, or load it to RAM without flashing".into(),
            );
            (BinKind::BootloaderImage, 0, "RAM-only image")
        }
    };
    info.kind = kind;
    info.write_at = Some(flash_offset);
    info.placements.push(Placement {
        label: label.into(),
        kind: if first.role == ImageRole::App {
            RegionKind::App
        } else {
            RegionKind::Bootloader
        },
        file_offset: 0,
        len: bytes.len(),
        flash_offset,
    });
    let mut first = first;
    first.flash_offset = flash_offset;
    check_image(&first, &mut info);
    trailing_note(bytes, first.total_len, &mut info);
    info.images.push(first);
    Ok(info)
}

/// What `flash FILE` writes where: a merged image at 0x0 (or at the table offset when it starts
/// with the table), a bare app at the app partition (0x10000 with the default table), a
/// bootloader or RAM-only image at 0x0, a partition table at `table_offset`.
pub fn flash_regions_for_bin(bytes: &[u8], table_offset: u32) -> Result<Vec<Region>, ImageError> {
    let info = inspect_at(bytes, table_offset)?;
    // An ELF is refused for what it is, before any problem with it.
    let (kind, label) = match info.kind {
        BinKind::Elf => return Err(ImageError::ElfNotFlashImage),
        BinKind::AppImage => (RegionKind::App, "app image"),
        BinKind::BootloaderImage => (RegionKind::Bootloader, "bootloader image"),
        BinKind::PartitionTable => (RegionKind::PartitionTable, "partition table"),
        BinKind::MergedImage => (RegionKind::Data, "merged image"),
    };
    if let Some(problem) = info.problems.first() {
        return Err(ImageError::DamagedFile {
            problem: problem.clone(),
        });
    }
    // Every kind but an ELF has a place to go; never guess one.
    let Some(offset) = info.write_at else {
        return Err(ImageError::NoPlacement { what: label });
    };
    Ok(vec![Region {
        offset,
        data: bytes.to_vec(),
        kind,
        label: label.into(),
    }])
}

/// Refuse a file whose apps (a bare app image, or the apps in a merged file's app partitions)
/// carry no ESP-IDF app descriptor: ESP-IDF bootloaders from v5.2.3 on read one from every app
/// they load ([`ImageError::NoAppDescriptor`]).
pub fn require_app_descriptors(info: &ImageInfo) -> Result<(), ImageError> {
    for image in info.images.iter().filter(|i| i.role == ImageRole::App) {
        if image.app_desc.is_none() {
            let what = if info.kind == BinKind::AppImage {
                "the app image".to_string()
            } else {
                format!("the app at 0x{:x}", image.flash_offset)
            };
            return Err(ImageError::NoAppDescriptor { what });
        }
    }
    Ok(())
}

/// Flash offset of the factory partition in the default table for a table at `table_offset`
/// (see [`PartitionTable::default_for`]).
pub fn default_app_offset(table_offset: u32) -> u32 {
    super::partition::default_factory_offset(table_offset)
}

fn unknown_file(bytes: &[u8]) -> ImageError {
    if bytes.iter().take(64).all(|&b| b == 0xFF) {
        return ImageError::ErasedFlash;
    }
    ImageError::UnknownFile {
        head: bytes.iter().take(4).copied().collect(),
    }
}

fn inspect_elf(bytes: &[u8], info: &mut ImageInfo) {
    info.kind = BinKind::Elf;
    info.notes.push(
        "this is an ELF file, not a flash image: `cargo esp32s3 save-image` converts it to an app image (and `--merge` to an offset-0 image)".into(),
    );
    // The same identification check (and message) as the converter's.
    if let Err(e) = check_ident(bytes) {
        info.problems.push(e.to_string());
    }
}

fn inspect_table_file(
    bytes: &[u8],
    table_offset: u32,
    info: &mut ImageInfo,
) -> Result<(), ImageError> {
    let table =
        PartitionTable::from_binary(bytes).map_err(|source| ImageError::BadPartitionTable {
            offset: None,
            source,
        })?;
    info.kind = BinKind::PartitionTable;
    info.table_offset = Some(table_offset);
    info.write_at = Some(table_offset);
    info.placements.push(Placement {
        label: "partition table".into(),
        kind: RegionKind::PartitionTable,
        file_offset: 0,
        len: bytes.len().min(MAX_TABLE_LEN),
        flash_offset: table_offset,
    });
    if let Err(e) = table.validate(None, table_offset) {
        info.notes.push(e.to_string());
    }
    // A merged file may start at the table (esptool merge-bin --target-offset 0x8000).
    if bytes.len() > MAX_TABLE_LEN {
        find_apps(bytes, table_offset, &table, info)?;
        if !info.images.is_empty() {
            info.kind = BinKind::MergedImage;
            info.notes.push(format!(
                "this merged image starts at the partition table, not at the bootloader: write it at 0x{table_offset:x}"
            ));
        }
    }
    info.partition_table = Some(table);
    Ok(())
}

fn inspect_merged(
    bytes: &[u8],
    mut first: ImageDetails,
    table_offset: u32,
    info: &mut ImageInfo,
) -> Result<(), ImageError> {
    info.kind = BinKind::MergedImage;
    info.write_at = Some(0);
    info.table_offset = Some(table_offset);
    first.flash_offset = 0;
    check_image(&first, info);
    info.placements.push(Placement {
        label: "bootloader".into(),
        kind: RegionKind::Bootloader,
        file_offset: 0,
        len: first.total_len,
        flash_offset: 0,
    });
    info.images.push(first);
    let table_bytes = bytes.get(table_offset as usize..).unwrap_or_default();
    let table = PartitionTable::from_binary(&table_bytes[..table_bytes.len().min(MAX_TABLE_LEN)])
        .map_err(|source| ImageError::BadPartitionTable {
        offset: Some(table_offset),
        source,
    })?;
    info.placements.push(Placement {
        label: "partition table".into(),
        kind: RegionKind::PartitionTable,
        file_offset: table_offset as usize,
        len: MAX_TABLE_LEN.min(table_bytes.len()),
        flash_offset: table_offset,
    });
    if let Err(e) = table.validate(None, table_offset) {
        info.problems.push(format!("partition table: {e}"));
    }
    find_apps(bytes, 0, &table, info)?;
    if !info.images.iter().any(|i| i.role == ImageRole::App) {
        info.problems.push(
            "no app image at the start of any app partition: the bootloader will find nothing to boot".into(),
        );
    }
    info.partition_table = Some(table);
    info.notes.push("write this file at 0x0".into());
    Ok(())
}

/// Look for an app image at the start of each app partition; `file_start` is the flash offset
/// of the file's first byte.
fn find_apps(
    bytes: &[u8],
    file_start: u32,
    table: &PartitionTable,
    info: &mut ImageInfo,
) -> Result<(), ImageError> {
    for p in table.partitions.iter().filter(|p| p.is_app()) {
        let Some(at) = p.offset.checked_sub(file_start).map(|o| o as usize) else {
            continue;
        };
        let Some(rest) = bytes.get(at..).filter(|r| !r.is_empty()) else {
            info.notes.push(format!(
                "app partition `{}` (0x{:x}) lies beyond the end of the file",
                p.name, p.offset
            ));
            continue;
        };
        if rest.first() != Some(&IMAGE_MAGIC) {
            info.notes.push(format!(
                "app partition `{}` (0x{:x}) holds no image (first byte 0x{:02x})",
                p.name, p.offset, rest[0]
            ));
            continue;
        }
        let mut details =
            image_details(rest, at, p.offset).map_err(|e| ImageError::AppInPartition {
                partition: p.name.clone(),
                source: Box::new(e),
            })?;
        details.flash_offset = p.offset;
        if details.role != ImageRole::App {
            info.problems.push(format!(
                "the image in app partition `{}` has no flash-mapped segment: it is not an app",
                p.name
            ));
        }
        if details.total_len as u64 > u64::from(p.size) {
            info.problems.push(format!(
                "the app in `{}` is 0x{:x} bytes, larger than the partition (0x{:x}); enlarge the partition or shrink the app",
                p.name, details.total_len, p.size
            ));
        }
        check_image(&details, info);
        info.placements.push(Placement {
            label: format!("app ({})", p.name),
            kind: RegionKind::App,
            file_offset: at,
            len: details.total_len,
            flash_offset: p.offset,
        });
        info.images.push(details);
    }
    Ok(())
}

/// Parse one image at the start of `bytes` (which starts at `file_offset` in the file).
fn image_details(
    bytes: &[u8],
    file_offset: usize,
    flash_offset: u32,
) -> Result<ImageDetails, ImageError> {
    let header = ImageHeader::decode(bytes)?;
    if header.chip_id != ESP32S3_CHIP_ID {
        return Err(ImageError::WrongChip {
            chip_id: header.chip_id,
            chip: chip_name(header.chip_id),
        });
    }
    if header.hash_appended > 1 {
        return Err(ImageError::BadHashFlag {
            value: header.hash_appended,
        });
    }
    let parsed = parse_image(bytes)?;
    let segments: Vec<SegmentInfo> = parsed
        .segments
        .iter()
        .map(|s| SegmentInfo {
            load_addr: s.addr,
            len: s.len,
            file_offset: s.header_offset,
            data_offset: s.data_offset,
            memory_kinds: memory_kinds(s.addr),
            flash_mapped: is_flash_mapped(s.addr),
        })
        .collect();
    let app_desc = segments
        .first()
        .filter(|s| s.memory_kinds.contains(&"DROM") && s.len as usize >= APP_DESC_LEN)
        .and_then(|s| bytes.get(s.data_offset..s.data_offset + APP_DESC_LEN))
        .and_then(parse_app_desc);
    let bootloader_desc = segments
        .first()
        .filter(|s| s.memory_kinds.contains(&"DRAM") && s.len as usize >= BOOTLOADER_DESC_LEN)
        .and_then(|s| bytes.get(s.data_offset..s.data_offset + BOOTLOADER_DESC_LEN))
        .and_then(parse_bootloader_desc);
    let role = if segments.iter().any(|s| s.flash_mapped) {
        ImageRole::App
    } else if bootloader_desc.is_some()
        || header.entry >= BOOTLOADER_IRAM_START && header.entry < 0x403E_0000
    {
        ImageRole::Bootloader
    } else {
        ImageRole::RamOnly
    };
    Ok(ImageDetails {
        file_offset,
        flash_offset,
        role,
        header,
        segments,
        checksum_stored: parsed.stored_checksum,
        checksum_computed: parsed.computed_checksum,
        digest_stored: parsed.stored_digest,
        digest_computed: parsed.computed_digest,
        data_len: parsed.data_len,
        total_len: parsed.total_len(),
        app_desc,
        bootloader_desc,
    })
}

/// Validation of one image: checksum, digest, revisions, flash mapping.
fn check_image(image: &ImageDetails, info: &mut ImageInfo) {
    let at = if image.flash_offset == 0 && image.file_offset == 0 {
        String::new()
    } else {
        format!(" (image at 0x{:x})", image.flash_offset)
    };
    if !image.checksum_valid() {
        info.problems.push(format!(
            "checksum{at}: stored 0x{:02x} but the segments give 0x{:02x}; the file is corrupt, rebuild or re-download it",
            image.checksum_stored, image.checksum_computed
        ));
    }
    if image.digest_valid() == Some(false) {
        info.problems.push(format!(
            "SHA-256{at}: the appended digest does not match the image; the file is corrupt or was edited without updating the digest"
        ));
    }
    let h = &image.header;
    if h.max_rev_full != 0 && h.max_rev_full != 0xFFFF && h.min_rev_full > h.max_rev_full {
        info.problems.push(format!(
            "chip revision range{at} is empty: minimum v{}.{} is above maximum v{}.{}",
            h.min_rev_full / 100,
            h.min_rev_full % 100,
            h.max_rev_full / 100,
            h.max_rev_full % 100
        ));
    }
    let (min, _) = image.revision_range();
    if min >= 100 {
        info.notes.push(format!(
            "the image{at} requires chip revision v{}.{} or later; ESP32-S3 chips so far are v0.x, so the ROM or bootloader will refuse it",
            min / 100,
            min % 100
        ));
    }
    if h.mode().is_none() {
        info.notes.push(format!(
            "unknown flash mode byte 0x{:02x}{at}",
            h.flash_mode
        ));
    }
    if h.freq().is_none() {
        info.notes.push(format!(
            "unknown flash frequency code 0x{:x}{at}",
            h.flash_size_freq & 0x0F
        ));
    }
    for (index, s) in image.segments.iter().enumerate() {
        if !s.flash_mapped {
            continue;
        }
        let flash_pos = u64::from(image.flash_offset) + s.data_offset as u64;
        if flash_pos % u64::from(MMU_PAGE) != u64::from(s.load_addr % MMU_PAGE) {
            info.problems.push(format!(
                "segment {index}{at} ({} at 0x{:08x}) lands at flash offset 0x{flash_pos:x}, not congruent with its address modulo 64 KiB: the MMU cannot map it; rebuild the image",
                s.memory_kinds.join("/"),
                s.load_addr
            ));
        }
    }
    if image.role == ImageRole::App && image.flash_offset % MMU_PAGE != 0 {
        info.problems.push(format!(
            "the app at 0x{:x} does not start on a 64 KiB boundary, so the MMU cannot map it; move its partition to a multiple of 0x10000",
            image.flash_offset
        ));
    }
}

fn trailing_note(bytes: &[u8], image_len: usize, info: &mut ImageInfo) {
    let Some(tail) = bytes.get(image_len..).filter(|t| !t.is_empty()) else {
        return;
    };
    let kind = if tail.iter().all(|&b| b == 0xFF) {
        "0xFF padding"
    } else {
        "data that is not part of the image"
    };
    info.notes.push(format!(
        "0x{:x} bytes after the image end (0x{image_len:x}) are {kind}",
        tail.len()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::{Segment, encode_image};

    fn img(chip: u16, segments: &[(u32, usize)], entry: u32) -> Vec<u8> {
        let header = ImageHeader {
            chip_id: chip,
            entry,
            ..Default::default()
        };
        let segs: Vec<Segment> = segments
            .iter()
            .map(|&(addr, len)| Segment {
                addr,
                data: vec![0x11; len],
            })
            .collect();
        encode_image(&header, &segs).unwrap()
    }

    #[test]
    fn kinds_and_offsets() {
        let ram = img(9, &[(0x3FCA_0000, 16), (0x4038_0000, 24)], 0x4038_0008);
        let i = inspect(&ram).unwrap();
        assert_eq!(
            (i.kind, i.images[0].role, i.write_at),
            (BinKind::BootloaderImage, ImageRole::RamOnly, Some(0))
        );
        let bl = img(9, &[(0x3FCD_0000, 16), (0x403C_8000, 24)], 0x403C_8010);
        assert_eq!(inspect(&bl).unwrap().images[0].role, ImageRole::Bootloader);
        // An app whose IROM segment data sits at file offset 0x20: congruent with 0x42000020.
        let app = img(9, &[(0x4200_0020, 64)], 0x4037_8000);
        let i = inspect(&app).unwrap();
        assert_eq!((i.kind, i.write_at), (BinKind::AppImage, Some(0x10000)));
        assert!(i.is_valid(), "{:?}", i.problems);
        assert!(i.notes[0].contains("not at 0x0"));
        let bad = img(9, &[(0x4200_0100, 64)], 0x4037_8000);
        assert!(inspect(&bad).unwrap().problems[0].contains("not congruent"));
        let table = PartitionTable::default_for_flash(4 << 20).to_binary();
        let i = inspect(&table).unwrap();
        assert_eq!(
            (i.kind, i.write_at),
            (BinKind::PartitionTable, Some(0x8000))
        );
    }

    #[test]
    fn refusals() {
        let c3 = img(5, &[(0x3FC8_0000, 16)], 0);
        let e = inspect(&c3).unwrap_err();
        assert!(matches!(e, ImageError::WrongChip { chip_id: 5, .. }));
        assert_eq!(
            e.to_string(),
            "this image is for the ESP32-C3 (chip id 5), not the ESP32-S3; build it for the ESP32-S3 (target xtensa-esp32s3-none-elf or xtensa-esp32s3-espidf)"
        );
        let mut corrupt = img(9, &[(0x3FCA_0000, 16)], 0x4038_0000);
        corrupt[34] ^= 0xFF;
        let i = inspect(&corrupt).unwrap();
        assert!(i.problems.iter().any(|p| p.starts_with("checksum")));
        assert!(i.problems.iter().any(|p| p.starts_with("SHA-256")));
        assert!(flash_regions_for_bin(&corrupt, 0x8000).is_err());
        assert!(inspect(&[]).is_err());
        assert!(
            inspect(&[0xFF; 100])
                .unwrap_err()
                .to_string()
                .contains("0xffffffff")
        );
        let elf = inspect(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x5e\0").unwrap();
        assert_eq!(elf.kind, BinKind::Elf);
        assert!(elf.is_valid(), "{:?}", elf.problems);
        let x86 = inspect(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0").unwrap();
        assert!(
            x86.problems[0].contains("x86-64 (e_machine 62)"),
            "{:?}",
            x86.problems
        );
        let e = flash_regions_for_bin(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0", 0x8000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("save-image"), "{e}");
        assert!(
            flash_regions_for_bin(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x5e\0", 0x8000)
                .is_err()
        );
    }

    #[test]
    fn default_app_offset_follows_the_table() {
        assert_eq!(default_app_offset(0x8000), 0x10000);
        assert_eq!(default_app_offset(0xA000), 0x20000);
    }
}
