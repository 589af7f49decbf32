//! `ES10xx`: the codes of [`FlashError`] (writing, erasing, reading and verifying flash, and the
//! refusals that protect the chip). It must not know how flash is written.

use super::loader;
use crate::flasher::FlashError;
use crate::loader::{ChipRevision, LoaderError};
use crate::protocol::command::Opcode;

catalogue! {
    /// The code of a flash error.
    pub(super) fn code(&FlashError);
    /// `ES10xx`: flashing.
    pub(super) const ENTRIES;
    wrappers {
        FlashError::Loader(e) => loader::code(e),
    }
    FlashError::Overlap { .. } => ES1001 {
        example: FlashError::Overlap {
            first: "app".into(),
            first_offset: 0x10000,
            first_end: 0x11_0000,
            second: "storage.bin".into(),
            second_offset: 0x10_0000,
        },
        cause: "Two regions to write share flash: --at offsets that overlap, or an app larger than the gap before the next file.",
        fix: "Fix the offsets so the regions follow each other.",
    },
    FlashError::DoesNotFit { .. } => ES1002 {
        example: FlashError::DoesNotFit {
            label: "app".into(),
            offset: 0x10000,
            len: 0x40_0000,
            flash_size: 0x40_0000,
        },
        cause: "A region runs past the end of the flash: an image made for a larger flash, or a flash size set smaller than the chip's.",
        fix: "Use an image made for this flash size, or check --flash-size (`detect` reads the chip's).",
    },
    FlashError::WrongChipImage { .. } => ES1003 {
        example: FlashError::WrongChipImage { label: "firmware.bin".into(), chip: "ESP32".into() },
        cause: "The image about to be written was built for another chip.",
        fix: "Build or download the ESP32-S3 image.",
    },
    FlashError::RevisionOutOfRange { .. } => ES1004 {
        example: FlashError::RevisionOutOfRange {
            label: "app".into(),
            required: "v0.2 or higher".into(),
            chip: ChipRevision { major: 0, minor: 1 },
        },
        cause: "The image's header says which chip revisions it supports, and this chip's is not one of them: the image was built with `min-chip-rev` / `max-chip-rev` that exclude it.",
        fix: "Rebuild for this revision, or pass --force if you know the image runs on it.",
    },
    FlashError::EncryptionEnabled { .. } => ES1005 {
        example: FlashError::EncryptionEnabled { label: "app".into() },
        cause: "Flash encryption is enabled on the chip, so plaintext written to an encrypted partition would be decrypted into garbage.",
        fix: "Write an image encrypted beforehand, or pass --force for a partition that is not encrypted.",
    },
    FlashError::SecureBootEnabled { .. } => ES1006 {
        example: FlashError::SecureBootEnabled { label: "app".into() },
        cause: "Secure boot is enabled on the chip, so its bootloader refuses any image not signed with the chip's key.",
        fix: "Sign the image with the chip's key and pass --force to write it.",
    },
    FlashError::SecurityActive => ES1007 {
        example: FlashError::SecurityActive,
        cause: "Secure boot or flash encryption is enabled, and erasing would leave the chip unable to boot.",
        fix: "Pass --force only if you can write a signed or encrypted image afterwards.",
    },
    FlashError::LargerThanChip { .. } => ES1008 {
        example: FlashError::LargerThanChip { configured: 16 << 20, detected: 4 << 20 },
        cause: "The configured flash size is larger than the flash the chip reports: the setting was copied from another board.",
        fix: "Set --flash-size (or `flash-size`) to the chip's size or to `detect`; pass --force if the chip's flash ID is wrong.",
    },
    FlashError::Interrupted { .. } => ES1009 {
        example: FlashError::Interrupted {
            verified: vec!["bootloader (0x4e30 bytes at 0x0)".into()],
            unverified: vec!["app (0x3a120 bytes at 0x10000)".into()],
        },
        cause: "The write was stopped (Ctrl+C) after its current block; the message lists the regions the chip holds and those it does not.",
        fix: "Run the same command again: regions already on the chip are skipped, the rest is written.",
    },
    FlashError::Unaligned { .. } => ES1010 {
        example: FlashError::Unaligned { what: "offset", value: 0x9100 },
        cause: "Erasing works on whole 4 KiB sectors, and an erase bound is not on one.",
        fix: "Round the offset and size to multiples of 0x1000.",
    },
    FlashError::OutOfRange { .. } => ES1011 {
        example: FlashError::OutOfRange {
            offset: 0x3f_0000,
            size: 0x2_0000,
            flash_size: 0x40_0000,
        },
        cause: "A range to erase, read or check runs past the end of the flash.",
        fix: "Check the offset and the size against the chip's flash size (`cargo esp32s3 board-info`).",
    },
    FlashError::Md5Mismatch { .. } => ES1012 {
        example: FlashError::Md5Mismatch {
            label: "app".into(),
            offset: 0x10000,
            len: 0x3a120,
            expected: "1f0e3dad99908345f7439f8ffabdffc4".into(),
            actual: "8d777f385d3dfec8815d20f7496026dc".into(),
        },
        cause: "After writing, the chip's MD5 of the region differs from the data: bytes damaged on the line or in the flash, or a flash chip that does not hold what it is given (a failing or counterfeit chip, an unstable supply).",
        fix: "Flash again, with a lower --baud if it persists; if it keeps failing at the same place, the flash chip is suspect.",
    },
    FlashError::WrittenEmpty { .. } => ES1013 {
        example: FlashError::WrittenEmpty { label: "app".into(), offset: 0x10000, len: 0x3a120 },
        cause: "The region reads back as erased flash after writing: the flash chip is write-protected, not powered, or not the one the chip talks to.",
        fix: "Check the flash chip and its power supply (and write protection on modules that have it).",
    },
    FlashError::WriteFailed { .. } => ES1014 {
        example: FlashError::WriteFailed {
            label: "app".into(),
            offset: 0x10000,
            attempts: 3,
            source: LoaderError::Timeout {
                command: Opcode::FlashDeflData,
                port: "/dev/ttyUSB0".into(),
                timeout: std::time::Duration::from_secs(3),
            },
        },
        cause: "Writing a region failed every time it was sent again; the last failure is in the message (a timeout or a failure status, usually from an unreliable line).",
        fix: "Run again with a lower --baud, and check the cable and the power supply; regions already verified are skipped.",
    },
    FlashError::ReadCorrupt { .. } => ES1015 {
        example: FlashError::ReadCorrupt {
            offset: 0,
            size: 0x40_0000,
            detail: "the MD5 of the data read differs from the chip's".into(),
        },
        cause: "Data read back does not match the chip's MD5 or the length asked for: bytes lost or changed on the line.",
        fix: "Read again, with a lower --baud if it persists.",
    },
}
