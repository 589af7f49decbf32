//! The image error: one variant per problem with an ELF, an image, a merged file or an offset-0
//! layout, each carrying the values at fault, and its one-line message (what is wrong, then what
//! to do) in the `#[error]` attribute, so this enum is the catalogue of every image message.
//!
//! It sits at the bottom of `image/` (only the partition table's own error lies below it), so it
//! must not call into the other image modules: values a message needs (a chip's name) are carried
//! in the variant. Nothing here reads files; variants that name a file take its name as given.

use std::ops::Range;

use object::elf;

use super::partition::PartitionError;
use crate::units::human_size;

/// Errors building, parsing or merging images. Each message names the value and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    // --- Any file ---------------------------------------------------------------------------
    /// A file of zero bytes.
    #[error("the file is empty (0 bytes); rebuild it or check the path")]
    EmptyFile,
    /// A file that is none of the things this tool reads.
    #[error(
        "not an ESP32-S3 image, partition table or ELF: the file starts with {} (an image starts with e9, a partition table with aa 50, an ELF with 7f 45 4c 46)",
        hex_spaced(head)
    )]
    UnknownFile {
        /// Its first bytes (up to 4).
        head: Vec<u8>,
    },
    /// A file that starts with erased flash.
    #[error(
        "the file starts with 0xFF bytes (erased flash): there is no image at its start; a chip booting this prints `invalid header: 0xffffffff`"
    )]
    ErasedFlash,
    /// A problem with a file, named as the user gave it.
    #[error("{file}: {source}")]
    InFile {
        /// The file, as the user should see it.
        file: String,
        /// The problem.
        #[source]
        source: Box<ImageError>,
    },

    // --- The image format -------------------------------------------------------------------
    /// Input shorter than the structure being read.
    #[error(
        "the file is truncated: the {what} needs {needed} bytes but only {available} are there; re-copy or rebuild the file"
    )]
    Truncated {
        /// What was being read.
        what: String,
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// Not an ESP image (wrong first byte).
    #[error(
        "not an ESP image: byte at offset 0x{offset:x} is 0x{found:02x}, expected the image magic 0xe9; pass an image built for the ESP32-S3 (an ELF goes through save-image first)"
    )]
    BadMagic {
        /// Byte found.
        found: u8,
        /// Where.
        offset: usize,
    },
    /// More segments than the ROM and bootloader accept.
    #[error(
        "invalid segment count {count} (max 16); this usually indicates a linker script problem: merge or drop sections in the linker script"
    )]
    TooManySegments {
        /// Segment count.
        count: usize,
    },
    /// An image built for another chip.
    #[error(
        "this image is for {}; build it for the ESP32-S3 (target xtensa-esp32s3-none-elf or xtensa-esp32s3-espidf)",
        chip_text(*chip_id, *chip)
    )]
    WrongChip {
        /// The chip id in the header.
        chip_id: u16,
        /// The chip's name, when the id is a known one (`format::chip_name`).
        chip: Option<&'static str>,
    },
    /// A header whose "hash appended" byte is neither 0 nor 1.
    #[error(
        "byte 23 of the header is 0x{value:02x} where an ESP32-S3 image has 0 or 1; this looks like an ESP8266 image or a corrupt file"
    )]
    BadHashFlag {
        /// The byte.
        value: u8,
    },
    /// The stored checksum disagrees with the segments.
    #[error(
        "the checksum does not match: stored 0x{stored:02x} but the segments give 0x{computed:02x}; the file is corrupt, rebuild or re-download it"
    )]
    ChecksumMismatch {
        /// Checksum byte in the image.
        stored: u8,
        /// Checksum of the segment data.
        computed: u8,
    },
    /// The appended SHA-256 disagrees with the image.
    #[error(
        "the appended SHA-256 does not match the image; the file is corrupt or was edited without updating the digest"
    )]
    DigestMismatch,

    // --- Reading an ELF ---------------------------------------------------------------------
    /// A file that does not start with the ELF magic.
    #[error(
        "not an ELF file (it starts with [{}], an ELF starts with 7f 45 4c 46); pass the ELF your build produced, or a .bin image",
        hex_spaced(head)
    )]
    NotElf {
        /// Its first bytes (up to 4).
        head: Vec<u8>,
    },
    /// An ESP image given where an ELF was expected.
    #[error(
        "not an ELF file (it starts with [{}], an ELF starts with 7f 45 4c 46); it looks like an ESP image already (first byte e9): use it as a .bin, no conversion needed",
        hex_spaced(head)
    )]
    ImageNotElf {
        /// Its first bytes (up to 4).
        head: Vec<u8>,
    },
    /// An ELF shorter than its identification bytes.
    #[error(
        "truncated ELF: {len} bytes, fewer than the {needed} of the ELF identification; rebuild the firmware or re-copy the file"
    )]
    TruncatedElf {
        /// File length.
        len: usize,
        /// Bytes the identification needs.
        needed: usize,
    },
    /// An ELF whose data-encoding byte is neither little- nor big-endian.
    #[error(
        "corrupted ELF: unknown data encoding {value} in byte 5 (1 = little-endian, 2 = big-endian); rebuild the firmware"
    )]
    UnknownElfEncoding {
        /// The byte.
        value: u8,
    },
    /// An ELF whose class byte is neither 32- nor 64-bit.
    #[error(
        "corrupted ELF: unknown class {value} in byte 4 (1 = 32-bit, 2 = 64-bit); rebuild the firmware"
    )]
    UnknownElfClass {
        /// The byte.
        value: u8,
    },
    /// An ELF for another CPU.
    #[error(
        "this ELF is for {} (e_machine {machine}), not Xtensa; build for xtensa-esp32s3-none-elf or -espidf{}",
        machine_name(*machine),
        if *machine == elf::EM_RISCV { " (RISC-V is for the ESP32-C and -H chips)" } else { "" }
    )]
    NotXtensa {
        /// `e_machine`.
        machine: u16,
    },
    /// A 64-bit Xtensa ELF.
    #[error(
        "this is a 64-bit ELF; the ESP32-S3 runs 32-bit Xtensa code: build for xtensa-esp32s3-none-elf or -espidf"
    )]
    Elf64Bit,
    /// A big-endian Xtensa ELF.
    #[error(
        "this ELF is big-endian; the ESP32-S3 is little-endian: build for xtensa-esp32s3-none-elf or -espidf"
    )]
    BigEndianElf,
    /// The ELF header cannot be parsed.
    #[error(
        "truncated or corrupted ELF header ({source}); rebuild the firmware or re-copy the file"
    )]
    CorruptElfHeader {
        /// What the ELF reader said.
        #[source]
        source: object::read::Error,
    },
    /// The section table cannot be parsed.
    #[error("corrupted ELF section table ({source}); rebuild the firmware or re-copy the file")]
    CorruptSectionTable {
        /// What the ELF reader said.
        #[source]
        source: object::read::Error,
    },
    /// A section's name cannot be read.
    #[error(
        "corrupted ELF section table: the name of section {index} cannot be read ({source}); rebuild the firmware"
    )]
    UnreadableSectionName {
        /// Index of the section.
        index: usize,
        /// What the ELF reader said.
        #[source]
        source: object::read::Error,
    },
    /// A section whose bytes lie beyond the end of the file.
    #[error(
        "corrupted ELF: section {section} claims 0x{size:x} bytes at file offset 0x{offset:x} but the file has only 0x{file_len:x} bytes; rebuild the firmware or re-copy the file"
    )]
    SectionBeyondFile {
        /// The section.
        section: String,
        /// Its size (`sh_size`).
        size: u32,
        /// Its file offset (`sh_offset`).
        offset: u32,
        /// The file's length.
        file_len: usize,
    },
    /// An ELF without a single section to load.
    #[error(
        "the ELF has no loadable sections (no ALLOC PROGBITS section with an address and contents); check that it is the linked firmware, not an object file or a stripped debug file"
    )]
    NoLoadSections,
    /// A section in the chip's mask ROM.
    #[error(
        "section {section} (0x{len:x} bytes at 0x{addr:08x}) is in the ESP32-S3 mask ROM (0x40000000..0x40060000), where nothing can be loaded; this looks like the chip's ROM ELF, not an application: pass the ELF your firmware build produced"
    )]
    SectionInMaskRom {
        /// The section.
        section: String,
        /// Its load address.
        addr: u32,
        /// Its length.
        len: usize,
    },
    /// A section in no memory of the chip.
    #[error(
        "section {section} (0x{len:x} bytes at 0x{addr:08x}) is outside every ESP32-S3 memory region (flash-mapped 0x3c000000.., 0x42000000.., internal RAM 0x3fc88000.., 0x40370000.., RTC 0x50000000.., 0x600fe000..); check the linker script and the build target"
    )]
    SectionOutsideMemory {
        /// The section.
        section: String,
        /// Its load address.
        addr: u32,
        /// Its length.
        len: usize,
    },
    /// A section that starts in one memory and ends in another (or in none).
    #[error(
        "section {section} (0x{len:x} bytes at 0x{addr:08x}) runs past the end of its memory region (last byte at 0x{last:x}); check the linker script"
    )]
    SectionPastRegionEnd {
        /// The section.
        section: String,
        /// Its load address.
        addr: u32,
        /// Its length.
        len: usize,
        /// Address of its last byte.
        last: u64,
    },
    /// Two sections that share addresses.
    #[error(
        "sections {first} (0x{:08x}..0x{:08x}) and {second} (0x{:08x}..0x{:08x}) overlap; check the linker script",
        first_range.start,
        first_range.end,
        second_range.start,
        second_range.end
    )]
    SectionsOverlap {
        /// The section with the lower address.
        first: String,
        /// Its address range.
        first_range: Range<u64>,
        /// The other section.
        second: String,
        /// Its address range.
        second_range: Range<u64>,
    },

    // --- Making an app image ----------------------------------------------------------------
    /// Two flash segments in one 64 KiB MMU page.
    #[error(
        "flash segments at 0x{first:08x} ({}) and 0x{second:08x} ({}) land in the same 64 KiB flash page, which the MMU can map only once; change the linker script so that they are adjacent (to be merged) or in separate pages",
        first_sections.join(" + "),
        second_sections.join(" + ")
    )]
    SharedFlashPage {
        /// Load address of the lower segment.
        first: u32,
        /// The sections merged into it.
        first_sections: Vec<String>,
        /// Load address of the other segment.
        second: u32,
        /// The sections merged into it.
        second_sections: Vec<String>,
    },
    /// A segment of 16 MiB or more.
    #[error(
        "segment at 0x{addr:08x} ({}) is 0x{len:x} bytes, the bootloader accepts less than 16 MiB per segment; check the linker script",
        sections.join(" + ")
    )]
    SegmentTooLarge {
        /// Load address.
        addr: u32,
        /// The sections merged into it.
        sections: Vec<String>,
        /// Its length.
        len: usize,
    },
    /// A flash segment whose address is not a multiple of 4.
    #[error(
        "flash segment at 0x{addr:08x} ({}) does not start on a 4-byte boundary, so it cannot be placed at a matching file offset; align the section in the linker script",
        sections.join(" + ")
    )]
    UnalignedFlashSegment {
        /// Load address.
        addr: u32,
        /// The sections merged into it.
        sections: Vec<String>,
    },
    /// An ESP-IDF app descriptor section without the descriptor's magic word.
    #[error(
        "section {section} at 0x{addr:08x} does not start with the app descriptor magic 0xabcd5432; the ELF is damaged or was linked with a foreign linker script"
    )]
    AppDescBadMagic {
        /// The section.
        section: String,
        /// Its load address.
        addr: u32,
    },
    /// An app descriptor section too short for the ELF SHA-256 field, or not flash-mapped.
    #[error(
        "section {section} at 0x{addr:08x} is too short for an app descriptor (it needs 0x{needed:x} bytes) or is not flash-mapped; check the linker script"
    )]
    AppDescTooShort {
        /// The section.
        section: String,
        /// Its load address.
        addr: u32,
        /// Bytes the descriptor needs.
        needed: u32,
    },
    /// An app descriptor whose ELF SHA-256 is already filled in.
    #[error(
        "the app descriptor in {section} at 0x{addr:08x} already holds an ELF SHA-256; it must be zero in a freshly linked ELF: rebuild the firmware"
    )]
    AppDescShaAlreadySet {
        /// The section.
        section: String,
        /// Its load address.
        addr: u32,
    },
    /// An app image without an `esp_app_desc_t` at the start of its first segment.
    #[error(
        "{what} has no ESP-IDF app descriptor (esp_app_desc_t): ESP-IDF bootloaders from v5.2.3 on read it and refuse the app, so the chip would boot-loop; add `esp_bootloader_esp_idf::esp_app_desc!();` to an esp-hal app (esp-hal 1.0), or pass --ignore-app-descriptor (`ignore-app-descriptor = true`) if the bootloader on the chip is older"
    )]
    NoAppDescriptor {
        /// Which app (`the app`, `the app in partition factory`).
        what: String,
    },
    /// Converting the app's ELF failed (the file and why).
    #[error("cannot make an app image from {file}: {source}")]
    AppFromElf {
        /// The ELF, as the user should see it.
        file: String,
        /// Why.
        #[source]
        source: Box<ImageError>,
    },
    /// Converting the bootloader's ELF failed (the file and why).
    #[error("cannot make a bootloader image from {file}: {source}")]
    BootloaderFromElf {
        /// The ELF, as the user should see it.
        file: String,
        /// Why.
        #[source]
        source: Box<ImageError>,
    },

    // --- Identifying and placing prebuilt files ---------------------------------------------
    /// An ELF given where a flash image is expected.
    #[error(
        "this is an ELF file, not a flash image; convert it with `cargo esp32s3 save-image` first"
    )]
    ElfNotFlashImage,
    /// An ELF given to `--at`, which writes files as they are.
    #[error(
        "{file} is an ELF file, not a flash image; flash it without --at (it is converted), or convert it with `cargo esp32s3 save-image` first"
    )]
    ElfWithAt {
        /// The file, as the user should see it.
        file: String,
    },
    /// A file that failed a check and must not be flashed.
    #[error("{problem}; refusing to flash a damaged file")]
    DamagedFile {
        /// The first check it failed (from `info::ImageInfo::problems`).
        problem: String,
    },
    /// A file whose flash offset cannot be told from its content.
    #[error(
        "cannot tell at which flash offset this {what} goes; flash its parts with explicit offsets"
    )]
    NoPlacement {
        /// What the file is (`app image`, `merged image`).
        what: &'static str,
    },
    /// A file that failed `image-info`'s checks.
    #[error("{file} failed {} check(s): {}", problems.len(), problems.join("; "))]
    FailedChecks {
        /// The file, as the user should see it.
        file: String,
        /// Every check it failed.
        problems: Vec<String>,
    },
    /// The partition table in a file cannot be read.
    #[error("partition table{}: {source}", at_offset(*offset))]
    BadPartitionTable {
        /// Where the table sits in the file, when not at its start.
        offset: Option<u32>,
        /// Why.
        #[source]
        source: PartitionError,
    },
    /// The image in an app partition of a merged file cannot be read.
    #[error("app in partition `{partition}`: {source}")]
    AppInPartition {
        /// The partition.
        partition: String,
        /// Why.
        #[source]
        source: Box<ImageError>,
    },
    /// A file that is not a bootloader followed by a partition table.
    #[error(
        "not an offset-0 image: no bootloader at 0x0 followed by a partition table at 0x{table_offset:x}; pass a merged image, or the table offset it was built with"
    )]
    NotOffset0Image {
        /// Where the table was looked for.
        table_offset: u32,
    },

    // --- Merging ----------------------------------------------------------------------------
    /// Two regions that share flash.
    #[error(
        "{first} at 0x{:x}..0x{:x} overlaps {second} at 0x{:x}..0x{:x}; move one of them",
        first_range.start,
        first_range.end,
        second_range.start,
        second_range.end
    )]
    RegionsOverlap {
        /// Label of the region that starts first.
        first: String,
        /// Its flash range.
        first_range: Range<u64>,
        /// Label of the other region.
        second: String,
        /// Its flash range.
        second_range: Range<u64>,
    },
    /// A region below the first flash offset of the output.
    #[error(
        "{region} at 0x{offset:x} lies below the start offset 0x{start:x} of the output; start the output at 0x{offset:x} or lower"
    )]
    RegionBelowStart {
        /// Its label.
        region: String,
        /// Its flash offset.
        offset: u32,
        /// The output's first flash offset.
        start: u32,
    },
    /// Content beyond the size the output is padded to.
    #[error(
        "{region} ends at 0x{end:x}, beyond the padding size 0x{pad:x} ({}); use a larger size",
        human_size(u64::from(*pad))
    )]
    BeyondPadSize {
        /// Label of the last region.
        region: String,
        /// Where it ends.
        end: u64,
        /// The padding size.
        pad: u32,
    },
    /// A merged image too large to hold in memory.
    #[error(
        "the merged image would be 0x{len:x} bytes, too large to build in memory; merge fewer or smaller parts"
    )]
    MergedTooLarge {
        /// Its length.
        len: u64,
    },
    /// The bootloader cannot be read as an ESP32-S3 image.
    #[error("the bootloader is not a valid ESP32-S3 image: {source}")]
    InvalidBootloader {
        /// Why.
        #[source]
        source: Box<ImageError>,
    },
    /// The bootloader's header cannot take the flash settings.
    #[error("cannot set the flash settings in the bootloader: {source}")]
    BootloaderFlashParams {
        /// Why (the image fails its checksum or digest).
        #[source]
        source: Box<ImageError>,
    },
    /// A bootloader that runs into the partition table.
    #[error(
        "the bootloader is 0x{len:x} bytes and runs past the partition table at 0x{table_offset:x}; use a smaller bootloader or move the table with --partition-table-offset"
    )]
    BootloaderTooBig {
        /// The bootloader's length.
        len: usize,
        /// Where the table starts.
        table_offset: u32,
    },
    /// No bootloader to make an offset-0 image with.
    #[error("{action}: {NO_BOOTLOADER_ADVICE}")]
    NoBootloader {
        /// What could not be done (`cannot write a merged image`).
        action: String,
    },
    /// An app image larger than its partition.
    #[error(
        "the app image is {} (0x{app:x} bytes) but partition `{partition}` holds only {} (0x{partition_size:x} bytes): it would be {}% full; enlarge the partition in the partition table or shrink the app (e.g. build with --release)",
        human_size(*app),
        human_size(u64::from(*partition_size)),
        app * 100 / u64::from((*partition_size).max(1))
    )]
    AppTooBig {
        /// The app image's length.
        app: u64,
        /// The partition.
        partition: String,
        /// Its size.
        partition_size: u32,
    },
    /// The partition table is invalid.
    #[error(transparent)]
    Partition(#[from] PartitionError),
}

/// What is said when no second-stage bootloader is known (so no offset-0 layout can be made).
pub const NO_BOOTLOADER_ADVICE: &str = "no second-stage bootloader is configured and this project does not ship one; set `bootloader = \"path/to/bootloader.bin\"` in [package.metadata.esp32s3], ESP32S3_BOOTLOADER or --bootloader (esp-idf-sys projects get ESP-IDF's automatically)";

/// `e9 05 02 20`.
fn hex_spaced(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    shown.join(" ")
}

/// "the ESP32-C3 (chip id 5), not the ESP32-S3", or the same for an unknown id.
fn chip_text(chip_id: u16, chip: Option<&str>) -> String {
    match chip {
        Some(name) => format!("the {name} (chip id {chip_id}), not the ESP32-S3"),
        None => format!("an unknown chip (chip id {chip_id}), not the ESP32-S3 (chip id 9)"),
    }
}

/// " at 0x8000", or nothing.
fn at_offset(offset: Option<u32>) -> String {
    offset.map(|o| format!(" at 0x{o:x}")).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_variants_put_the_inner_message_after_the_context() {
        let inner = ImageError::EmptyFile;
        let e = ImageError::InFile {
            file: "fw.bin".into(),
            source: Box::new(inner.clone()),
        };
        assert_eq!(e.to_string(), format!("fw.bin: {inner}"));
        assert_eq!(
            std::error::Error::source(&e).map(|s| s.to_string()),
            Some(inner.to_string())
        );
        let e = ImageError::BadPartitionTable {
            offset: Some(0x8000),
            source: PartitionError::EmptyTable,
        };
        assert!(
            e.to_string().starts_with("partition table at 0x8000: "),
            "{e}"
        );
    }

    #[test]
    fn wrong_chip_names_the_chip_or_its_id() {
        let known = ImageError::WrongChip {
            chip_id: 5,
            chip: Some("ESP32-C3"),
        };
        assert_eq!(
            known.to_string(),
            "this image is for the ESP32-C3 (chip id 5), not the ESP32-S3; build it for the ESP32-S3 (target xtensa-esp32s3-none-elf or xtensa-esp32s3-espidf)"
        );
        let unknown = ImageError::WrongChip {
            chip_id: 77,
            chip: None,
        };
        assert!(
            unknown
                .to_string()
                .contains("an unknown chip (chip id 77), not the ESP32-S3 (chip id 9)")
        );
    }
}
