//! Reading an ESP32-S3 firmware ELF: the bytes each loadable section puts in memory, the entry
//! point, where the app descriptor sits, and the SHA-256 of the whole file.
//!
//! This module reads and checks; it does not lay out images (that is `app.rs`) and knows nothing
//! of files, ports or cargo.
//!
//! # Sections, not program headers
//!
//! The loadable bytes are taken from the ELF *sections* (ALLOC sections of type PROGBITS,
//! INIT_ARRAY, FINI_ARRAY or PREINIT_ARRAY with a non-zero address and size), not from the
//! PT_LOAD program headers. Program headers are too coarse for this chip's linker scripts:
//! esp-hal puts `.rwdata_dummy` and `.rotext_dummy` (reservations that must not be written)
//! inside the same PT_LOAD as real data, and ESP-IDF apps have PT_LOADs of file size 0 that
//! alias flash pages used by other segments. Sections name every byte range precisely, so the
//! image holds exactly what the program needs, as both ESP-IDF's `elf2image` and espflash do.
//! The cost is that merging neighbouring sections into image segments is our job; `app.rs` does
//! it. Sections are returned here in section-table order and unpadded, so every merge policy can
//! be built on top.

use object::LittleEndian;
use object::elf;
use object::read::elf::{FileHeader, SectionHeader};

pub use super::app_desc::APP_DESC_ELF_SHA_OFFSET;
use super::app_desc::{AppDescriptor, parse_app_desc as parse_app_desc_bytes};
use super::error::ImageError;
use super::format::{APP_DESC_MAGIC, IMAGE_MAGIC, is_flash_mapped, memory_kinds, sha256};

/// `e_machine` of Tensilica Xtensa, the ESP32-S3's CPU.
pub const EM_XTENSA: u16 = 94;

/// Section holding ESP-IDF's `esp_app_desc_t`; its ELF SHA-256 field is filled in by the image
/// tool.
pub const IDF_APP_DESC_SECTION: &str = ".flash.appdesc";
/// Section holding esp-hal's (esp-bootloader-esp-idf's) copy of `esp_app_desc_t`.
pub const ESP_HAL_APP_DESC_SECTION: &str = ".rodata_desc";
/// Section holding ESP-IDF's `esp_bootloader_desc_t` in a bootloader ELF.
pub const BOOTLOADER_DESC_SECTION: &str = ".dram0.bootdesc";
/// Section in which esp-hal builds leave metadata for espflash.
pub const ESPFLASH_METADATA_SECTION: &str = ".espressif.metadata";

/// One loadable ELF section: its load address, its bytes, and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSegment {
    /// Load address (`sh_addr`).
    pub addr: u32,
    /// Section contents, exactly as in the file (not padded).
    pub data: Vec<u8>,
    /// Section name, for messages (`.text`).
    pub name: String,
}

impl LoadSegment {
    /// One past the last address, as u64 so that it cannot overflow.
    pub fn end(&self) -> u64 {
        u64::from(self.addr) + self.data.len() as u64
    }
}

/// Which convention an app descriptor section follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppDescKind {
    /// ESP-IDF's `.flash.appdesc`: the image tool writes the ELF's SHA-256 into it.
    EspIdf,
    /// esp-hal's `.rodata_desc`: left as linked (espflash does not patch it either).
    EspHal,
}

/// Where the `esp_app_desc_t` of an app lives, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDesc {
    /// Name of the section holding it.
    pub section: String,
    /// Its load address (a DROM address).
    pub addr: u32,
    /// Size of the section in bytes.
    pub size: u32,
    /// Which convention it follows.
    pub kind: AppDescKind,
    /// True when the section starts with the magic word 0xABCD5432.
    pub magic_ok: bool,
    /// `version` field (NUL-trimmed, lossy UTF-8).
    pub version: String,
    /// `project_name` field.
    pub project_name: String,
    /// `idf_ver` field.
    pub idf_ver: String,
    /// `app_elf_sha256` field as linked.
    pub elf_sha256: [u8; 32],
}

/// What an ESP32-S3 ELF holds, as far as building an image is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// Entry point (`e_entry`).
    pub entry: u32,
    /// Loadable sections in section-table order, checked to lie in S3 memory and not overlap.
    pub segments: Vec<LoadSegment>,
    /// The app descriptor, when the ELF has one.
    pub app_desc: Option<AppDesc>,
    /// Load address of the bootloader descriptor section, when the ELF has one.
    pub bootloader_desc_addr: Option<u32>,
    /// True when the ELF carries an `.espressif.metadata` section (esp-hal builds made for
    /// espflash).
    pub has_espflash_metadata: bool,
    /// SHA-256 of the whole ELF file.
    pub sha256: [u8; 32],
}

/// True when the bytes start with the ELF magic `\x7fELF`.
pub fn looks_like_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Read an ESP32-S3 ELF: check that it is a little-endian 32-bit Xtensa ELF, collect its
/// loadable sections, and check that each lies in S3 memory and that none overlap.
pub fn read_elf(bytes: &[u8]) -> Result<ElfInfo, ImageError> {
    check_ident(bytes)?;
    let header = elf::FileHeader32::<LittleEndian>::parse(bytes)
        .map_err(|source| ImageError::CorruptElfHeader { source })?;
    let endian = LittleEndian;
    let sections = header
        .sections(endian, bytes)
        .map_err(|source| ImageError::CorruptSectionTable { source })?;

    let mut segments = Vec::new();
    let mut app_desc_section = None;
    let mut bootloader_desc_addr = None;
    let mut has_espflash_metadata = false;
    for (index, section) in sections.iter().enumerate() {
        let name_bytes = sections
            .section_name(endian, section)
            .map_err(|source| ImageError::UnreadableSectionName { index, source })?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        if name == ESPFLASH_METADATA_SECTION {
            has_espflash_metadata = true;
        }
        if !is_loadable(section, endian) {
            continue;
        }
        let addr = section.sh_addr(endian);
        let data = section
            .data(endian, bytes)
            .map_err(|_| ImageError::SectionBeyondFile {
                section: name.clone(),
                size: section.sh_size(endian),
                offset: section.sh_offset(endian),
                file_len: bytes.len(),
            })?;
        match name.as_str() {
            IDF_APP_DESC_SECTION => app_desc_section = Some((AppDescKind::EspIdf, segments.len())),
            ESP_HAL_APP_DESC_SECTION if app_desc_section.is_none() => {
                app_desc_section = Some((AppDescKind::EspHal, segments.len()))
            }
            BOOTLOADER_DESC_SECTION => bootloader_desc_addr = Some(addr),
            _ => {}
        }
        segments.push(LoadSegment {
            addr,
            data: data.to_vec(),
            name,
        });
    }

    if segments.is_empty() {
        return Err(ImageError::NoLoadSections);
    }
    // A section in the mask ROM says the most about the file (it is the ROM's own ELF), so it is
    // reported before any other misplaced section.
    let mut by_concern: Vec<&LoadSegment> = segments.iter().collect();
    by_concern.sort_by_key(|s| region_of(s.addr) != Some(Region::MaskRom));
    for segment in by_concern {
        check_region(segment)?;
    }
    check_overlaps(&segments)?;

    let app_desc = app_desc_section.and_then(|(kind, index)| {
        segments
            .get(index)
            .map(|segment| parse_app_desc(segment, kind))
    });

    Ok(ElfInfo {
        entry: header.e_entry(endian),
        segments,
        app_desc,
        bootloader_desc_addr,
        has_espflash_metadata,
        sha256: sha256(bytes),
    })
}

/// Check that the bytes are a little-endian 32-bit Xtensa ELF, from the identification bytes and
/// `e_machine` alone, so that each wrong kind of file gets its own message (the machine first:
/// "this is an x86-64 program" helps more than "64-bit").
pub fn check_ident(bytes: &[u8]) -> Result<(), ImageError> {
    if bytes.is_empty() {
        // "it starts with []" would hide the real problem: there is nothing there at all.
        return Err(ImageError::EmptyFile);
    }
    if !looks_like_elf(bytes) {
        let head = bytes.iter().take(4).copied().collect();
        return Err(if bytes.first() == Some(&IMAGE_MAGIC) {
            ImageError::ImageNotElf { head }
        } else {
            ImageError::NotElf { head }
        });
    }
    const IDENT_AND_MACHINE: usize = 20;
    let Some(ident) = bytes.get(..IDENT_AND_MACHINE) else {
        return Err(ImageError::TruncatedElf {
            len: bytes.len(),
            needed: IDENT_AND_MACHINE,
        });
    };
    // e_ident[EI_CLASS] and e_ident[EI_DATA].
    let class = ident[4];
    let data = ident[5];
    let machine = match data {
        elf::ELFDATA2LSB => u16::from_le_bytes([ident[18], ident[19]]),
        elf::ELFDATA2MSB => u16::from_be_bytes([ident[18], ident[19]]),
        value => return Err(ImageError::UnknownElfEncoding { value }),
    };
    if machine != EM_XTENSA {
        return Err(ImageError::NotXtensa { machine });
    }
    match class {
        elf::ELFCLASS32 => {}
        elf::ELFCLASS64 => return Err(ImageError::Elf64Bit),
        value => return Err(ImageError::UnknownElfClass { value }),
    }
    if data != elf::ELFDATA2LSB {
        return Err(ImageError::BigEndianElf);
    }
    Ok(())
}

/// True for sections whose bytes must be in memory when the program starts.
fn is_loadable(section: &elf::SectionHeader32<LittleEndian>, endian: LittleEndian) -> bool {
    let is_alloc = section.sh_flags(endian) & elf::SHF_ALLOC != 0;
    let has_bytes_in_file = matches!(
        section.sh_type(endian),
        elf::SHT_PROGBITS | elf::SHT_INIT_ARRAY | elf::SHT_FINI_ARRAY | elf::SHT_PREINIT_ARRAY
    );
    is_alloc && has_bytes_in_file && section.sh_addr(endian) != 0 && section.sh_size(endian) != 0
}

/// Where on the ESP32-S3 an address lies, for placement and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Mapped from flash through the MMU (IROM or DROM).
    Flash,
    /// Internal or RTC RAM, loaded by the bootloader.
    Ram,
    /// The chip's mask ROM: exists, but nothing can be loaded there.
    MaskRom,
}

/// The region of an address, or `None` when it is in no loadable or known memory.
pub fn region_of(addr: u32) -> Option<Region> {
    if is_flash_mapped(addr) {
        return Some(Region::Flash);
    }
    let kinds = memory_kinds(addr);
    const RAM_KINDS: [&str; 5] = ["DRAM", "IRAM", "RTC_DRAM", "RTC_IRAM", "RTC_DATA"];
    if kinds.iter().any(|k| RAM_KINDS.contains(k)) {
        Some(Region::Ram)
    } else if kinds.contains(&"IROM_MASK") {
        Some(Region::MaskRom)
    } else {
        None
    }
}

/// Check that a section starts and ends in the same loadable region.
fn check_region(segment: &LoadSegment) -> Result<(), ImageError> {
    let (section, addr, len) = (segment.name.clone(), segment.addr, segment.data.len());
    let start = segment.addr;
    let last = u32::try_from(segment.end() - 1).ok();
    match region_of(start) {
        Some(Region::MaskRom) => Err(ImageError::SectionInMaskRom { section, addr, len }),
        None => Err(ImageError::SectionOutsideMemory { section, addr, len }),
        Some(region) => {
            // Flash: the same bus (instruction or data). RAM: the same named memory.
            let same_memory = |l: u32| match region {
                Region::Flash => is_flash_mapped(l) && (l >= 0x4000_0000) == (start >= 0x4000_0000),
                _ => memory_kinds(l) == memory_kinds(start),
            };
            let same_at_end = last.is_some_and(same_memory);
            if same_at_end {
                Ok(())
            } else {
                Err(ImageError::SectionPastRegionEnd {
                    section,
                    addr,
                    len,
                    last: segment.end() - 1,
                })
            }
        }
    }
}

/// Check that no two sections share an address.
fn check_overlaps(segments: &[LoadSegment]) -> Result<(), ImageError> {
    let mut by_addr: Vec<&LoadSegment> = segments.iter().collect();
    by_addr.sort_by_key(|s| s.addr);
    for pair in by_addr.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        if u64::from(second.addr) < first.end() {
            return Err(ImageError::SectionsOverlap {
                first: first.name.clone(),
                first_range: u64::from(first.addr)..first.end(),
                second: second.name.clone(),
                second_range: u64::from(second.addr)..second.end(),
            });
        }
    }
    Ok(())
}

/// Read the fields of an `esp_app_desc_t` from the start of its section (the layout is
/// `app_desc.rs`'s; texts stay empty when the magic or the 256 bytes are missing).
fn parse_app_desc(segment: &LoadSegment, kind: AppDescKind) -> AppDesc {
    let bytes = &segment.data;
    let fields = parse_app_desc_bytes(bytes);
    let text = |field: fn(&AppDescriptor) -> &String| {
        fields.as_ref().map(field).cloned().unwrap_or_default()
    };
    AppDesc {
        section: segment.name.clone(),
        addr: segment.addr,
        size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        kind,
        magic_ok: bytes.get(..4) == Some(&APP_DESC_MAGIC.to_le_bytes()[..]),
        version: text(|f| &f.version),
        project_name: text(|f| &f.project_name),
        idf_ver: text(|f| &f.idf_ver),
        elf_sha256: fields.as_ref().map_or([0; 32], |f| f.app_elf_sha256),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_of_known_addresses() {
        let cases: &[(u32, Option<Region>)] = &[
            (0x3C00_0020, Some(Region::Flash)),
            (0x4201_0020, Some(Region::Flash)),
            (0x3FC8_8000, Some(Region::Ram)),
            (0x4037_8000, Some(Region::Ram)),
            (0x600F_E000, Some(Region::Ram)),
            (0x5000_0000, Some(Region::Ram)),
            (0x4000_0400, Some(Region::MaskRom)),
            (0x3FF1_8C00, None),
            (0x1000_0000, None),
            (0x0000_0100, None),
        ];
        for &(addr, expected) in cases {
            assert_eq!(region_of(addr), expected, "0x{addr:08x}");
        }
    }

    #[test]
    fn ident_errors_name_the_problem() {
        let mut x86_64 = vec![0u8; 64];
        x86_64[..4].copy_from_slice(b"\x7fELF");
        x86_64[4] = 2;
        x86_64[5] = 1;
        x86_64[18] = 62;
        let e = check_ident(&x86_64).unwrap_err();
        assert_eq!(e, ImageError::NotXtensa { machine: 62 });
        let msg = e.to_string();
        assert!(msg.contains("x86-64 (e_machine 62)"), "{msg}");

        let mut be = vec![0u8; 64];
        be[..4].copy_from_slice(b"\x7fELF");
        be[4] = 1;
        be[5] = 2;
        be[19] = 94;
        let msg = check_ident(&be).unwrap_err().to_string();
        assert!(msg.contains("big-endian"), "{msg}");

        assert!(check_ident(b"\x7fELF\x01").is_err());
        assert!(!looks_like_elf(b"\xe9\x05"));

        let msg = check_ident(&[]).unwrap_err().to_string();
        assert_eq!(
            msg,
            "the file is empty (0 bytes); rebuild it or check the path"
        );
    }

    #[test]
    fn overlapping_sections_are_named() {
        let a = LoadSegment {
            addr: 0x3FC8_8000,
            data: vec![0; 16],
            name: ".data".into(),
        };
        let b = LoadSegment {
            addr: 0x3FC8_8008,
            data: vec![0; 16],
            name: ".bss_init".into(),
        };
        let msg = check_overlaps(&[b, a]).unwrap_err().to_string();
        assert!(msg.contains(".data") && msg.contains(".bss_init"), "{msg}");
    }
}
