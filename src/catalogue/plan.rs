//! `ES07xx`: the codes of [`PlanError`] (what goes where, and whether the chip can boot it;
//! refused before anything is written). It must not know how plans are made.

use std::path::PathBuf;

use crate::plan::{AppInput, ChipLacks, PlanError, SettingFile};

catalogue! {
    /// The code of a plan error.
    pub(super) fn code(&PlanError);
    /// `ES07xx`: plans.
    pub(super) const ENTRIES;
    wrappers {}
    PlanError::SettingFile { .. } => ES0701 {
        example: PlanError::SettingFile {
            setting: SettingFile::Bootloader,
            path: PathBuf::from("bootloader.bin"),
            source: std::io::ErrorKind::NotFound.into(),
        },
        cause: "A file that the `bootloader` or `partition-table` setting names cannot be read: a wrong path (relative paths start at the manifest's directory), or a file not built yet.",
        fix: "Fix the path in the setting the message names, or remove the setting.",
    },
    PlanError::EraseAllAppAlone => ES0702 {
        example: PlanError::EraseAllAppAlone,
        cause: "--erase-all was given for a plan that writes the app alone: the bootloader and the partition table the app needs would be erased and not written back.",
        fix: "Set `bootloader` (or pass --bootloader) so the whole layout is written, or flash without --erase-all.",
    },
    PlanError::EraseAllWithoutLayout { .. } => ES0703 {
        example: PlanError::EraseAllWithoutLayout { missing: "bootloader", app_offset: 0x10000 },
        cause: "--erase-all with --at files that write an app but not the bootloader or table it needs.",
        fix: "Add the missing part with --at (`--at 0x0 BOOTLOADER`, `--at 0x8000 TABLE`), or flash without --erase-all.",
    },
    PlanError::CannotBootApp { .. } => ES0704 {
        example: PlanError::CannotBootApp {
            reason: ChipLacks::NoBootloader { first_bytes: vec![0xff, 0xff, 0xff, 0xff] },
            app: AppInput::AppImageFile,
        },
        cause: "Only an app would be written, and the chip could not boot it: it has no bootloader or no valid partition table, its bootloader is another chip's, or the app does not fit its app partition (the message says which).",
        fix: "Flash the whole layout: set `bootloader` for a build, or flash a merged offset-0 image, or give the bootloader and table with --at.",
    },
    PlanError::WrongOffset { .. } => ES0705 {
        example: PlanError::WrongOffset {
            file: "ESP32_GENERIC_S3-20241129-v1.24.1.bin".into(),
            what: "a merged image (bootloader, partition table and app in one file)",
            offset: 0x1000,
            belongs_at: 0x0,
            why: "its bootloader, table and app would all land at the wrong places and the chip would boot-loop",
        },
        cause: "A file given with --at belongs at another offset: a merged image or a bootloader not at 0x0 (0x1000 is the ESP32's place, not the ESP32-S3's), or a partition table off the table offset.",
        fix: "Write it where the message says, or use `flash FILE`, which places it by its content; --force writes it anyway.",
    },
    PlanError::TableBeyondFlash { .. } => ES0706 {
        example: PlanError::TableBeyondFlash {
            file: "firmware.bin".into(),
            partition: "vfs".into(),
            end: 0x80_0000,
            flash_size: 0x40_0000,
        },
        cause: "The partition table in the files reaches past this chip's flash, so the bootloader would refuse it: a firmware built for a board with more flash (MicroPython's 8 MiB or 16 MiB builds on a 4 MiB chip).",
        fix: "Flash the image made for this flash size.",
    },
    PlanError::NotAnAppPartition { .. } => ES0707 {
        example: PlanError::NotAnAppPartition {
            file: "app.bin".into(),
            offset: 0x20000,
            table: "the chip's partition table at 0x8000".into(),
            partitions: vec![("factory".into(), 0x10000)],
        },
        cause: "An app image given with --at is not at the start of an app partition of the table that will be on the chip, so the bootloader would never load it.",
        fix: "Write it at an app partition's offset (the message lists them), or pass --force.",
    },
    PlanError::NoBootloaderKept { .. } => ES0708 {
        example: PlanError::NoBootloaderKept {
            reason: ChipLacks::NoBootloader { first_bytes: vec![0xff, 0xff, 0xff, 0xff] },
            app: AppInput::Elf,
            found: Vec::new(),
        },
        cause: "The chip is blank, no bootloader is configured, and this tool has none kept from earlier boards, so the app alone would not boot.",
        fix: "Set `bootloader`, or keep one: `cargo esp32s3 bootloader import FILE` (ESP-IDF's bootloader.bin, its build folder, or a merged image) or `bootloader save` from a board that boots.",
    },
    PlanError::NoPartitionToErase { .. } => ES0709 {
        example: PlanError::NoPartitionToErase {
            name: "storage".into(),
            table: "partitions.csv".into(),
            names: vec!["nvs".into(), "phy_init".into(), "factory".into()],
        },
        cause: "--erase-parts names a partition the table does not have.",
        fix: "Use one of the names the message lists.",
    },
    PlanError::UnknownDataType { .. } => ES0710 {
        example: PlanError::UnknownDataType { given: "fs".into() },
        cause: "--erase-data-parts names something that is not a data partition subtype.",
        fix: "Use one of the subtypes the message lists.",
    },
    PlanError::NoTableToErase { .. } => ES0711 {
        example: PlanError::NoTableToErase { offset: 0x8000 },
        cause: "Partitions should be erased by name, but no table is written and the chip has none.",
        fix: "Write a layout with a table, or erase by address with `cargo esp32s3 erase --region OFFSET SIZE`.",
    },
    PlanError::RamImage { .. } => ES0712 {
        example: PlanError::RamImage {
            path: PathBuf::from("blinky"),
            problem: "section .text is linked at 0x42000020, which the MMU maps from flash (IROM); --ram loads RAM sections only and leaves the flash untouched, so that code would not be there; link the program into RAM (IRAM/DRAM), or flash it without --ram".into(),
        },
        cause: "--ram loads RAM sections only, and the ELF has code or data linked to flash (or it is no ELF).",
        fix: "Link the program into RAM (IRAM/DRAM), or flash it without --ram.",
    },
}
