//! `ES05xx`: the codes of [`ImageError`] (ELF files, app and bootloader images, merged offset-0
//! images, prebuilt `.bin` files). It must not know how images are read: its examples are
//! values, not files.

use object::elf;

use super::partition;
use crate::image::ImageError;

/// What the ELF reader says about bytes that are no ELF header, for the examples of its errors.
fn object_error() -> object::read::Error {
    match object::read::elf::ElfFile32::<object::Endianness>::parse(&[][..]) {
        Err(e) => e,
        Ok(_) => unreachable!("no bytes are no ELF"),
    }
}

catalogue! {
    /// The code of an image error.
    pub(super) fn code(&ImageError);
    /// `ES05xx`: images.
    pub(super) const ENTRIES;
    wrappers {
        ImageError::InFile { source, .. }
        | ImageError::AppFromElf { source, .. }
        | ImageError::BootloaderFromElf { source, .. }
        | ImageError::AppInPartition { source, .. }
        | ImageError::InvalidBootloader { source }
        | ImageError::BootloaderFlashParams { source } => code(source),
        ImageError::BadPartitionTable { source, .. } | ImageError::Partition(source) => {
            partition::code(source)
        }
    }
    ImageError::EmptyFile => ES0501 {
        example: ImageError::EmptyFile,
        cause: "The file has no bytes: a build or a download that was interrupted, or a path to a placeholder.",
        fix: "Rebuild or download the file again, and check that the path names the file you meant.",
    },
    ImageError::UnknownFile { .. } => ES0502 {
        example: ImageError::UnknownFile { head: b"PK\x03\x04".to_vec() },
        cause: "The file is none of what this tool reads (an ESP image, a partition table, an ELF): often a zip archive, a UF2 or Intel hex file, or an HTML page saved instead of the download.",
        fix: "Unpack the archive, or download the `.bin` itself; the first bytes in the message tell what the file is (`50 4b` is a zip, `3a` a hex file, `3c` HTML).",
    },
    ImageError::ErasedFlash => ES0503 {
        example: ImageError::ErasedFlash,
        cause: "The file starts with 0xFF bytes, as erased flash reads: a dump of a blank chip, or an image read from the wrong offset.",
        fix: "Flash the image your build produced, or the part of the dump that starts with the image (its first byte is 0xe9).",
    },
    ImageError::Truncated { .. } => ES0504 {
        example: ImageError::Truncated {
            what: "segment 1 (0x2000 bytes at 0x3fc88000)".into(),
            needed: 0x2040,
            available: 0x1000,
        },
        cause: "The file ends inside a structure it announces: a download or copy cut short, or a file read while the build was still writing it.",
        fix: "Copy or download the file again, or rebuild it.",
    },
    ImageError::BadMagic { .. } => ES0505 {
        example: ImageError::BadMagic { found: 0x7f, offset: 0 },
        cause: "An ESP image was expected but the first byte is not 0xe9: an ELF, a file for another tool, or an image taken from the wrong offset of a dump.",
        fix: "Pass an image built for the ESP32-S3; an ELF goes to `flash` or `save-image` (without --at), which convert it.",
    },
    ImageError::TooManySegments { .. } => ES0506 {
        example: ImageError::TooManySegments { count: 17 },
        cause: "The ELF has more loadable sections than the 16 segments the ROM and the bootloader accept: usually a custom linker script that leaves gaps between sections.",
        fix: "Merge adjacent sections or drop unused ones in the linker script, or use the HAL's own linker scripts.",
    },
    ImageError::WrongChip { .. } => ES0507 {
        example: ImageError::WrongChip { chip_id: 5, chip: Some("ESP32-C3") },
        cause: "The image header names another chip: the firmware was built for another target, or the download for another board was picked.",
        fix: "Build for xtensa-esp32s3-none-elf or xtensa-esp32s3-espidf, or download the ESP32-S3 build of the firmware (MicroPython's is ESP32_GENERIC_S3).",
    },
    ImageError::BadHashFlag { .. } => ES0508 {
        example: ImageError::BadHashFlag { value: 0x12 },
        cause: "Byte 23 of the header is neither 0 nor 1: an ESP8266 image (which has no extended header) or a damaged file.",
        fix: "Use an image built for the ESP32-S3, or download or rebuild the file again.",
    },
    ImageError::ChecksumMismatch { .. } => ES0509 {
        example: ImageError::ChecksumMismatch { stored: 0x3c, computed: 0x5a },
        cause: "The checksum byte at the end of the image does not match its segments: the file was damaged in transfer or patched after the build.",
        fix: "Rebuild or re-download the file; change an image by rebuilding it, not by editing bytes.",
    },
    ImageError::DigestMismatch => ES0510 {
        example: ImageError::DigestMismatch,
        cause: "The SHA-256 appended to the image does not match it: the file was damaged, or a header byte (flash mode or size) was changed without updating the digest.",
        fix: "Rebuild or re-download the file. This tool recomputes the digest itself when it sets the flash parameters, so there is no need to patch the header by hand.",
    },
    ImageError::NotElf { .. } => ES0511 {
        example: ImageError::NotElf { head: b":100".to_vec() },
        cause: "An ELF was expected (a build's output, `save-image`'s input) but the file is something else: an Intel hex file, a text file, or an unknown binary.",
        fix: "Pass the ELF cargo built, `target/xtensa-esp32s3-*/<profile>/NAME` (no extension); give a `.bin` to the commands that flash or inspect images.",
    },
    ImageError::ImageNotElf { .. } => ES0512 {
        example: ImageError::ImageNotElf { head: vec![0xe9, 0x05, 0x02, 0x20] },
        cause: "An ESP image was given where an ELF is expected, for example to `save-image`.",
        fix: "Use the file as it is: `flash FILE` and `image-info FILE` take `.bin` images directly.",
    },
    ImageError::TruncatedElf { .. } => ES0513 {
        example: ImageError::TruncatedElf { len: 10, needed: 16 },
        cause: "The file is shorter than an ELF identification: an interrupted build or copy.",
        fix: "Rebuild the firmware, or copy the file again.",
    },
    ImageError::UnknownElfEncoding { .. } => ES0514 {
        example: ImageError::UnknownElfEncoding { value: 7 },
        cause: "Byte 5 of the ELF identification is neither 1 (little-endian) nor 2 (big-endian): the file is damaged.",
        fix: "Rebuild the firmware.",
    },
    ImageError::UnknownElfClass { .. } => ES0515 {
        example: ImageError::UnknownElfClass { value: 9 },
        cause: "Byte 4 of the ELF identification is neither 1 (32-bit) nor 2 (64-bit): the file is damaged.",
        fix: "Rebuild the firmware.",
    },
    ImageError::NotXtensa { .. } => ES0516 {
        example: ImageError::NotXtensa { machine: elf::EM_RISCV },
        cause: "The ELF was built for another CPU: a RISC-V target (the ESP32-C and -H chips), or the host (x86-64, AArch64) because no target was set.",
        fix: "Build for xtensa-esp32s3-none-elf (no_std) or xtensa-esp32s3-espidf (std); `cargo esp32s3 init` sets the target in .cargo/config.toml.",
    },
    ImageError::Elf64Bit => ES0517 {
        example: ImageError::Elf64Bit,
        cause: "The ELF is 64-bit: built for the host, or for another architecture.",
        fix: "Build for xtensa-esp32s3-none-elf or xtensa-esp32s3-espidf.",
    },
    ImageError::BigEndianElf => ES0518 {
        example: ImageError::BigEndianElf,
        cause: "The ELF is big-endian; the ESP32-S3 is little-endian, so it was built for another target.",
        fix: "Build for xtensa-esp32s3-none-elf or xtensa-esp32s3-espidf.",
    },
    ImageError::CorruptElfHeader { .. } => ES0519 {
        example: ImageError::CorruptElfHeader { source: object_error() },
        cause: "The ELF header cannot be parsed: the file is damaged or cut short.",
        fix: "Rebuild the firmware, or copy the file again.",
    },
    ImageError::CorruptSectionTable { .. } => ES0520 {
        example: ImageError::CorruptSectionTable { source: object_error() },
        cause: "The ELF's section table cannot be parsed: the file is damaged or cut short.",
        fix: "Rebuild the firmware, or copy the file again.",
    },
    ImageError::UnreadableSectionName { .. } => ES0521 {
        example: ImageError::UnreadableSectionName { index: 7, source: object_error() },
        cause: "A section's name points outside the section-name table: the file is damaged.",
        fix: "Rebuild the firmware.",
    },
    ImageError::SectionBeyondFile { .. } => ES0522 {
        example: ImageError::SectionBeyondFile {
            section: ".rodata".into(),
            size: 0x4000,
            offset: 0x1000,
            file_len: 0x2000,
        },
        cause: "A section claims bytes past the end of the file: the ELF was cut short, or stripped by a tool that damaged it.",
        fix: "Rebuild the firmware, or copy the file again.",
    },
    ImageError::NoLoadSections => ES0523 {
        example: ImageError::NoLoadSections,
        cause: "The ELF has no section to load: an object file (`.o`), a library, or a debug-only file split off the firmware.",
        fix: "Pass the linked firmware ELF that cargo wrote for the binary.",
    },
    ImageError::SectionInMaskRom { .. } => ES0524 {
        example: ImageError::SectionInMaskRom {
            section: ".text".into(),
            addr: 0x4000_0400,
            len: 0x100,
        },
        cause: "A section lies in the chip's mask ROM, where nothing can be loaded: this is the ROM's own ELF (from ESP-IDF's tools), not an application.",
        fix: "Pass the ELF your firmware build produced.",
    },
    ImageError::SectionOutsideMemory { .. } => ES0525 {
        example: ImageError::SectionOutsideMemory {
            section: ".data".into(),
            addr: 0x2000_0000,
            len: 0x100,
        },
        cause: "A section's address is in no memory of the ESP32-S3: a linker script for another chip, or a build for another target.",
        fix: "Build for the ESP32-S3 target with its HAL's linker scripts, and check the memory regions of a custom script.",
    },
    ImageError::SectionPastRegionEnd { .. } => ES0526 {
        example: ImageError::SectionPastRegionEnd {
            section: ".dram0.data".into(),
            addr: 0x3fcf_f000,
            len: 0x2000,
            last: 0x3fd0_0fff,
        },
        cause: "A section starts in one memory region and runs past its end: the linker script gives the region more room than the chip has.",
        fix: "Check the memory lengths in the linker script, or make the section smaller (less static data, a smaller stack or heap).",
    },
    ImageError::SectionsOverlap { .. } => ES0527 {
        example: ImageError::SectionsOverlap {
            first: ".data".into(),
            first_range: 0x3fc8_8000..0x3fc8_9000,
            second: ".noinit".into(),
            second_range: 0x3fc8_8800..0x3fc8_8900,
        },
        cause: "Two loadable sections share addresses: a linker script that places them by hand.",
        fix: "Fix the section placement in the linker script.",
    },
    ImageError::SharedFlashPage { .. } => ES0528 {
        example: ImageError::SharedFlashPage {
            first: 0x3c00_0020,
            first_sections: vec![".rodata".into()],
            second: 0x3c00_c000,
            second_sections: vec![".rodata.extra".into()],
        },
        cause: "Two flash segments that are not adjacent land in the same 64 KiB page, which the MMU maps only once: a linker script with a gap inside a page.",
        fix: "Make the sections adjacent (they are then merged into one segment) or start the second one on a 64 KiB boundary.",
    },
    ImageError::SegmentTooLarge { .. } => ES0529 {
        example: ImageError::SegmentTooLarge {
            addr: 0x4200_0020,
            sections: vec![".text".into()],
            len: 0x100_0000,
        },
        cause: "A segment is 16 MiB or more, which the bootloader refuses: usually a linker script that places a section far from the previous one, so the gap is filled.",
        fix: "Check the section addresses in the linker script.",
    },
    ImageError::UnalignedFlashSegment { .. } => ES0530 {
        example: ImageError::UnalignedFlashSegment {
            addr: 0x3c00_0022,
            sections: vec![".rodata".into()],
        },
        cause: "A flash-mapped section does not start on a 4-byte boundary, so it cannot sit at a matching file offset.",
        fix: "Align the section to 4 bytes (`ALIGN(4)`) in the linker script.",
    },
    ImageError::AppDescBadMagic { .. } => ES0531 {
        example: ImageError::AppDescBadMagic {
            section: ".flash.appdesc".into(),
            addr: 0x3c00_0020,
        },
        cause: "The section meant for the ESP-IDF app descriptor does not start with its magic word: a linker script that puts something else first, or a damaged ELF.",
        fix: "Keep the app descriptor first in the section (esp-hal's and ESP-IDF's linker scripts do), and rebuild.",
    },
    ImageError::AppDescTooShort { .. } => ES0532 {
        example: ImageError::AppDescTooShort {
            section: ".flash.appdesc".into(),
            addr: 0x3c00_0020,
            needed: 0x100,
        },
        cause: "The app descriptor's section is shorter than the descriptor, or it is not mapped from flash.",
        fix: "Check the linker script's placement of the app descriptor section.",
    },
    ImageError::AppDescShaAlreadySet { .. } => ES0533 {
        example: ImageError::AppDescShaAlreadySet {
            section: ".flash.appdesc".into(),
            addr: 0x3c00_0020,
        },
        cause: "The ELF's app descriptor already holds an ELF SHA-256, which a freshly linked ELF leaves zero: the ELF was patched by another tool.",
        fix: "Rebuild the firmware and pass the ELF the linker wrote.",
    },
    ImageError::NoAppDescriptor { .. } => ES0534 {
        example: ImageError::NoAppDescriptor { what: "the app".into() },
        cause: "The app has no ESP-IDF app descriptor (`esp_app_desc_t`), which ESP-IDF bootloaders from v5.2.3 on require: an esp-hal app without `esp_app_desc!()`.",
        fix: "Add `esp_bootloader_esp_idf::esp_app_desc!();` to the app, or pass --ignore-app-descriptor (`ignore-app-descriptor = true`) when the chip's bootloader is older.",
    },
    ImageError::ElfNotFlashImage => ES0535 {
        example: ImageError::ElfNotFlashImage,
        cause: "An ELF was given where a flash image is expected (`image-info`'s image checks, a `.bin` placed by its content).",
        fix: "Convert it with `cargo esp32s3 save-image ELF OUT.bin`, or let `flash ELF` convert it.",
    },
    ImageError::ElfWithAt { .. } => ES0536 {
        example: ImageError::ElfWithAt {
            file: "target/xtensa-esp32s3-none-elf/release/blinky".into(),
        },
        cause: "An ELF was given to --at, which writes files as they are.",
        fix: "Flash the ELF without --at (it is converted and placed), or convert it first with `save-image` and write the `.bin` with --at.",
    },
    ImageError::DamagedFile { .. } => ES0537 {
        example: ImageError::DamagedFile {
            problem: "the checksum does not match: stored 0x3c but the segments give 0x5a; the file is corrupt, rebuild or re-download it".into(),
        },
        cause: "A prebuilt file failed one of `image-info`'s checks (checksum, digest, segments, partition table), so it is not flashed.",
        fix: "Run `cargo esp32s3 image-info FILE` to see every problem, then rebuild or re-download the file.",
    },
    ImageError::NoPlacement { .. } => ES0538 {
        example: ImageError::NoPlacement { what: "app image" },
        cause: "The file's flash offset cannot be told from its content: a bare app image with no partition table to say where it goes.",
        fix: "Write it with an explicit offset (`--at 0x10000 FILE`), or flash the merged offset-0 image instead.",
    },
    ImageError::FailedChecks { .. } => ES0539 {
        example: ImageError::FailedChecks {
            file: "firmware.bin".into(),
            problems: vec![
                "the appended SHA-256 does not match the image; the file is corrupt or was edited without updating the digest".into(),
            ],
        },
        cause: "`image-info` found problems in the file; each is listed in the message.",
        fix: "Rebuild or re-download the file; do not flash it as it is.",
    },
    ImageError::NotOffset0Image { .. } => ES0540 {
        example: ImageError::NotOffset0Image { table_offset: 0x8000 },
        cause: "The file does not start with a bootloader followed by a partition table at the table offset: an app image, or a merged image built with another table offset.",
        fix: "Pass a merged offset-0 image, or the --partition-table-offset it was built with.",
    },
    ImageError::RegionsOverlap { .. } => ES0541 {
        example: ImageError::RegionsOverlap {
            first: "bootloader".into(),
            first_range: 0x0..0x9000,
            second: "partition table".into(),
            second_range: 0x8000..0x9000,
        },
        cause: "Two parts of a merged image share flash: a bootloader larger than the space before the table, or --at offsets that overlap.",
        fix: "Move one of them (`--partition-table-offset`, other --at offsets), or use a smaller bootloader.",
    },
    ImageError::RegionBelowStart { .. } => ES0542 {
        example: ImageError::RegionBelowStart {
            region: "bootloader".into(),
            offset: 0x0,
            start: 0x1000,
        },
        cause: "A part lies below the first offset of the output image.",
        fix: "Start the output at that part's offset or lower.",
    },
    ImageError::BeyondPadSize { .. } => ES0543 {
        example: ImageError::BeyondPadSize { region: "app".into(), end: 0x190000, pad: 0x100000 },
        cause: "The content ends past the size the merged image is padded to.",
        fix: "Pad to a larger size (the flash size), or make the app smaller.",
    },
    ImageError::MergedTooLarge { .. } => ES0544 {
        example: ImageError::MergedTooLarge { len: 0x1_0000_0000 },
        cause: "The merged image would be too large to build in memory: a part at a far offset, often a typo in an --at offset.",
        fix: "Check the offsets; merge fewer or smaller parts.",
    },
    ImageError::BootloaderTooBig { .. } => ES0545 {
        example: ImageError::BootloaderTooBig { len: 0x8400, table_offset: 0x8000 },
        cause: "The bootloader runs into the partition table: a debug build of the bootloader, or a table offset too low for it.",
        fix: "Build the bootloader with size optimisation, or move the table with --partition-table-offset (and in the bootloader's configuration).",
    },
    ImageError::NoBootloader { .. } => ES0546 {
        example: ImageError::NoBootloader { action: "cannot write a merged image".into() },
        cause: "An offset-0 layout needs a second-stage bootloader and none is configured: a no_std project without a `bootloader` setting.",
        fix: "Set `bootloader = \"path/to/bootloader.bin\"` in [package.metadata.esp32s3], ESP32S3_BOOTLOADER or --bootloader; esp-idf-sys projects get ESP-IDF's automatically.",
    },
    ImageError::AppTooBig { .. } => ES0547 {
        example: ImageError::AppTooBig {
            app: 0x18_0000,
            partition: "factory".into(),
            partition_size: 0x10_0000,
        },
        cause: "The app image is larger than the partition it goes into: a debug build, or the default 1 MiB factory partition.",
        fix: "Build with --release, or enlarge the app partition in the partition table (and set `partition-table`).",
    },
}
