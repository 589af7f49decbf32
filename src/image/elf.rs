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

use super::ImageError;
use super::format::{APP_DESC_MAGIC, is_flash_mapped, memory_kinds, sha256};
use super::info::AppDescriptor;

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

/// Offset of `app_elf_sha256` inside `esp_app_desc_t`.
pub const APP_DESC_ELF_SHA_OFFSET: u32 = 0x90;

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
    let header = elf::FileHeader32::<LittleEndian>::parse(bytes).map_err(|e| {
        ImageError::Invalid(format!(
            "truncated or corrupted ELF header ({e}); rebuild the firmware or re-copy the file"
        ))
    })?;
    let endian = LittleEndian;
    let sections = header.sections(endian, bytes).map_err(|e| {
        ImageError::Invalid(format!(
            "corrupted ELF section table ({e}); rebuild the firmware or re-copy the file"
        ))
    })?;

    let mut segments = Vec::new();
    let mut app_desc_section = None;
    let mut bootloader_desc_addr = None;
    let mut has_espflash_metadata = false;
    for (index, section) in sections.iter().enumerate() {
        let name_bytes = sections.section_name(endian, section).map_err(|e| {
            ImageError::Invalid(format!(
                "corrupted ELF section table: the name of section {index} cannot be read ({e}); rebuild the firmware"
            ))
        })?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        if name == ESPFLASH_METADATA_SECTION {
            has_espflash_metadata = true;
        }
        if !is_loadable(section, endian) {
            continue;
        }
        let addr = section.sh_addr(endian);
        let data = section.data(endian, bytes).map_err(|_| {
            ImageError::Invalid(format!(
                "corrupted ELF: section {name} claims 0x{:x} bytes at file offset 0x{:x} but the file has only 0x{:x} bytes; rebuild the firmware or re-copy the file",
                section.sh_size(endian),
                section.sh_offset(endian),
                bytes.len()
            ))
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
        return Err(ImageError::Invalid(
            "the ELF has no loadable sections (no ALLOC PROGBITS section with an address and contents); check that it is the linked firmware, not an object file or a stripped debug file".into(),
        ));
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
        return Err(ImageError::Invalid(
            "the file is empty (0 bytes); rebuild the firmware or check the path".into(),
        ));
    }
    if !looks_like_elf(bytes) {
        let shown: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let advice = if bytes.first() == Some(&super::format::IMAGE_MAGIC) {
            "it looks like an ESP image already (first byte e9): use it as a .bin, no conversion needed"
        } else {
            "pass the ELF your build produced, or a .bin image"
        };
        return Err(ImageError::Invalid(format!(
            "not an ELF file (it starts with [{}], an ELF starts with 7f 45 4c 46); {advice}",
            shown.join(" ")
        )));
    }
    const IDENT_AND_MACHINE: usize = 20;
    let Some(ident) = bytes.get(..IDENT_AND_MACHINE) else {
        return Err(ImageError::Invalid(format!(
            "truncated ELF: {} bytes, fewer than the {IDENT_AND_MACHINE} of the ELF identification; rebuild the firmware or re-copy the file",
            bytes.len()
        )));
    };
    // e_ident[EI_CLASS] and e_ident[EI_DATA].
    let class = ident[4];
    let data = ident[5];
    let machine = match data {
        elf::ELFDATA2LSB => u16::from_le_bytes([ident[18], ident[19]]),
        elf::ELFDATA2MSB => u16::from_be_bytes([ident[18], ident[19]]),
        other => {
            return Err(ImageError::Invalid(format!(
                "corrupted ELF: unknown data encoding {other} in byte 5 (1 = little-endian, 2 = big-endian); rebuild the firmware"
            )));
        }
    };
    if machine != EM_XTENSA {
        let hint = if machine == elf::EM_RISCV {
            " (RISC-V is for the ESP32-C and -H chips)"
        } else {
            ""
        };
        return Err(ImageError::Invalid(format!(
            "this ELF is for {} (e_machine {machine}), not Xtensa; build for xtensa-esp32s3-none-elf or -espidf{hint}",
            machine_name(machine)
        )));
    }
    match class {
        elf::ELFCLASS32 => {}
        elf::ELFCLASS64 => {
            return Err(ImageError::Invalid(
                "this is a 64-bit ELF; the ESP32-S3 runs 32-bit Xtensa code: build for xtensa-esp32s3-none-elf or -espidf".into(),
            ));
        }
        other => {
            return Err(ImageError::Invalid(format!(
                "corrupted ELF: unknown class {other} in byte 4 (1 = 32-bit, 2 = 64-bit); rebuild the firmware"
            )));
        }
    }
    if data != elf::ELFDATA2LSB {
        return Err(ImageError::Invalid(
            "this ELF is big-endian; the ESP32-S3 is little-endian: build for xtensa-esp32s3-none-elf or -espidf".into(),
        ));
    }
    Ok(())
}

/// Human name of an `e_machine` value, for the wrong-architecture message.
fn machine_name(machine: u16) -> &'static str {
    match machine {
        elf::EM_386 => "x86",
        elf::EM_X86_64 => "x86-64",
        elf::EM_ARM => "ARM",
        elf::EM_AARCH64 => "AArch64",
        elf::EM_RISCV => "RISC-V",
        elf::EM_MIPS => "MIPS",
        elf::EM_PPC => "PowerPC",
        elf::EM_PPC64 => "PowerPC64",
        elf::EM_AVR => "AVR",
        elf::EM_XTENSA => "Xtensa",
        _ => "another architecture",
    }
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
    let len = segment.data.len();
    let start = segment.addr;
    let last = u32::try_from(segment.end() - 1).ok();
    let describe = || {
        format!(
            "section {} (0x{len:x} bytes at 0x{start:08x})",
            segment.name
        )
    };
    match region_of(start) {
        Some(Region::MaskRom) => Err(ImageError::Invalid(format!(
            "{} is in the ESP32-S3 mask ROM (0x40000000..0x40060000), where nothing can be loaded; this looks like the chip's ROM ELF, not an application: pass the ELF your firmware build produced",
            describe()
        ))),
        None => Err(ImageError::Invalid(format!(
            "{} is outside every ESP32-S3 memory region (flash-mapped 0x3c000000.., 0x42000000.., internal RAM 0x3fc88000.., 0x40370000.., RTC 0x50000000.., 0x600fe000..); check the linker script and the build target",
            describe()
        ))),
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
                Err(ImageError::Invalid(format!(
                    "{} runs past the end of its memory region (last byte at 0x{:x}); check the linker script",
                    describe(),
                    segment.end() - 1
                )))
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
            return Err(ImageError::Invalid(format!(
                "sections {} (0x{:08x}..0x{:08x}) and {} (0x{:08x}..0x{:08x}) overlap; check the linker script",
                first.name,
                first.addr,
                first.end(),
                second.name,
                second.addr,
                second.end()
            )));
        }
    }
    Ok(())
}

/// Read the fields of an `esp_app_desc_t` from the start of its section (the layout is
/// `info.rs`'s; texts stay empty when the magic or the 256 bytes are missing).
fn parse_app_desc(segment: &LoadSegment, kind: AppDescKind) -> AppDesc {
    let bytes = &segment.data;
    let fields = super::info::parse_app_desc(bytes);
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
        let msg = check_ident(&x86_64).unwrap_err().to_string();
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
            "the file is empty (0 bytes); rebuild the firmware or check the path"
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
