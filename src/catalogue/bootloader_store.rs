//! `ES12xx`: the codes of [`StoreError`] (the bootloaders this tool keeps for blank chips). It
//! must not know where they are kept.

use std::path::PathBuf;

use crate::bootloader_store::StoreError;

catalogue! {
    /// The code of a bootloader store error.
    pub(super) fn code(&StoreError);
    /// `ES12xx`: kept bootloaders.
    pub(super) const ENTRIES;
    wrappers {}
    StoreError::NotABootloader { .. } => ES1201 {
        example: StoreError::NotABootloader {
            what: "build/app.bin".into(),
            problem: "it is an app image, not a bootloader".into(),
        },
        cause: "The file (or the flash at 0x0) is not an intact ESP32-S3 second-stage bootloader: an app image, another chip's bootloader, or a damaged file.",
        fix: "Give ESP-IDF's bootloader.bin, its build folder, or a merged image that starts with one.",
    },
    StoreError::NoBootloaderIn { .. } => ES1202 {
        example: StoreError::NoBootloaderIn {
            dir: PathBuf::from("build"),
            looked: vec![
                "bootloader/bootloader.bin".into(),
                "build/bootloader/bootloader.bin".into(),
                "bootloader.bin".into(),
            ],
        },
        cause: "A folder was given to import, and it has no bootloader where ESP-IDF puts one: the project is not built yet, or it is another folder.",
        fix: "Build the project first (`idf.py build`), or give the bootloader .bin itself.",
    },
    StoreError::UnknownId { .. } => ES1203 {
        example: StoreError::UnknownId { id: "3f2a".into(), ids: vec!["9c41d0e2".into()] },
        cause: "No kept bootloader has the id given.",
        fix: "Use an id from `cargo esp32s3 bootloader list`.",
    },
    StoreError::AmbiguousId { .. } => ES1204 {
        example: StoreError::AmbiguousId {
            id: "9c".into(),
            ids: vec!["9c41d0e2".into(), "9c7730aa".into()],
        },
        cause: "The id given is the start of several kept bootloaders' ids.",
        fix: "Give more of the id.",
    },
    StoreError::NothingOnChip { .. } => ES1205 {
        example: StoreError::NothingOnChip {
            port: "/dev/ttyUSB0".into(),
            problem: "the flash there is erased".into(),
        },
        cause: "`bootloader save` found no ESP32-S3 bootloader at 0x0 of the chip: a blank or erased chip.",
        fix: "Save one from a board that boots, or import a file with `cargo esp32s3 bootloader import FILE`.",
    },
    StoreError::BadRecord { .. } => ES1206 {
        example: StoreError::BadRecord {
            path: PathBuf::from("bootloaders/9c41d0e2.json"),
            problem: "not JSON (EOF while parsing a value at line 1 column 0)".into(),
        },
        cause: "A record in the cache directory is damaged: a write that was interrupted, or a file edited by hand.",
        fix: "Delete the record and its .bin, or import the bootloader again.",
    },
}
