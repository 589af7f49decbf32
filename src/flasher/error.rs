//! What can go wrong flashing, erasing, reading or verifying, as values ([`FlashError`]): each
//! message is one line naming the region, offsets and sizes at fault and what to do.

use crate::loader::{ChipRevision, LoaderError};

/// A failure flashing, erasing, reading or verifying.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// Talking to the loader failed.
    #[error(transparent)]
    Loader(#[from] LoaderError),
    /// Two regions overlap.
    #[error(
        "{first} (0x{first_offset:x}..0x{first_end:x}) overlaps {second} at 0x{second_offset:x}; fix the offsets"
    )]
    Overlap {
        /// Label of the first region.
        first: String,
        /// Its offset.
        first_offset: u32,
        /// Its end.
        first_end: u64,
        /// Label of the second region.
        second: String,
        /// Its offset.
        second_offset: u32,
    },
    /// A region runs past the end of the flash.
    #[error(
        "{label} (0x{len:x} bytes at 0x{offset:x}) will not fit in {flash_size} bytes of flash; use a smaller image or check --flash-size"
    )]
    DoesNotFit {
        /// Region label.
        label: String,
        /// Offset.
        offset: u64,
        /// Length.
        len: u64,
        /// Flash size in bytes.
        flash_size: u32,
    },
    /// An image built for another chip.
    #[error("{label} is an image for the {chip}, not the ESP32-S3; build it for the ESP32-S3")]
    WrongChipImage {
        /// Region label.
        label: String,
        /// The chip the image header names.
        chip: String,
    },
    /// The image does not support this chip's revision.
    #[error(
        "{label} requires chip revision {required} (this chip is revision {chip}); use --force to flash anyway"
    )]
    RevisionOutOfRange {
        /// Region label.
        label: String,
        /// The supported range, in words.
        required: String,
        /// This chip's revision.
        chip: ChipRevision,
    },
    /// Plaintext on a chip with flash encryption.
    #[error(
        "flash encryption is enabled on this chip: refusing to write {label} as plaintext, which the chip would decrypt into garbage; pass --force to write it anyway (an image encrypted beforehand, or a partition that is not encrypted)"
    )]
    EncryptionEnabled {
        /// Region label.
        label: String,
    },
    /// A write onto a chip with secure boot.
    #[error(
        "secure boot is enabled on this chip: refusing to write {label}, which its bootloader refuses to run unless it is signed with the chip's key; pass --force to write a signed image"
    )]
    SecureBootEnabled {
        /// Region label.
        label: String,
    },
    /// Erasing is refused on a secured chip.
    #[error(
        "erasing is refused: secure boot or flash encryption is enabled on this chip, and erasing would leave it unbootable; pass --force if you mean it"
    )]
    SecurityActive,
    /// A configured flash size larger than the flash the chip has.
    #[error(
        "the configured flash size ({} MiB) is larger than this chip's flash ({} MiB, from its flash ID): images would name flash that is not there; set --flash-size to the chip's or to detect, or pass --force if the flash ID is wrong",
        configured >> 20,
        detected >> 20
    )]
    LargerThanChip {
        /// The configured size in bytes.
        configured: u32,
        /// The size the flash ID names, in bytes.
        detected: u32,
    },
    /// The caller stopped the write (its [`super::Cancel`] was set) after the current block.
    #[error(
        "interrupted: {}; run the same command again to finish (regions the chip already holds are skipped)",
        interrupted_summary(verified, unverified)
    )]
    Interrupted {
        /// Regions written and verified (or already on the chip), as `label (0x… bytes at 0x…)`.
        verified: Vec<String>,
        /// Regions not written, or written only in part, in the same form.
        unverified: Vec<String>,
    },
    /// Erase bounds not on 4 KiB sectors.
    #[error("erase {what} 0x{value:x} is not a multiple of 4 KiB (0x1000); round it to a sector")]
    Unaligned {
        /// "offset" or "size".
        what: &'static str,
        /// The value.
        value: u32,
    },
    /// A range past the end of the flash.
    #[error(
        "0x{size:x} bytes at 0x{offset:x} run past the end of the {flash_size}-byte flash; check the offset and size"
    )]
    OutOfRange {
        /// Offset.
        offset: u32,
        /// Size.
        size: u32,
        /// Flash size in bytes.
        flash_size: u32,
    },
    /// The flash does not hold what was written.
    #[error(
        "verification failed for {label}: the flash MD5 of 0x{len:x} bytes at 0x{offset:x} is {actual}, the data's is {expected}; flash again, and try a lower --baud if it persists"
    )]
    Md5Mismatch {
        /// Region label.
        label: String,
        /// Offset.
        offset: u32,
        /// Length.
        len: u32,
        /// MD5 of the data (hex).
        expected: String,
        /// MD5 of the flash (hex).
        actual: String,
    },
    /// The region reads back erased after writing.
    #[error(
        "write failed, the region is empty: {label} (0x{len:x} bytes at 0x{offset:x}) reads back as erased flash; check the flash chip and its power supply"
    )]
    WrittenEmpty {
        /// Region label.
        label: String,
        /// Offset.
        offset: u32,
        /// Length.
        len: u32,
    },
    /// Writing a region failed even after sending it again.
    #[error("writing {label} at 0x{offset:x} failed after {attempts} attempt{}: {source}", if *attempts == 1 { "" } else { "s" })]
    WriteFailed {
        /// Region label.
        label: String,
        /// Offset.
        offset: u32,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: LoaderError,
    },
    /// Data read back does not match the chip's MD5 or length.
    #[error(
        "reading 0x{size:x} bytes at 0x{offset:x} returned corrupt data ({detail}); read again, and try a lower --baud if it persists"
    )]
    ReadCorrupt {
        /// Offset.
        offset: u32,
        /// Size.
        size: u32,
        /// What did not match.
        detail: String,
    },
}

/// `verified: a, b; not verified: c` for [`FlashError::Interrupted`].
pub(crate) fn interrupted_summary(verified: &[String], unverified: &[String]) -> String {
    let list = |regions: &[String]| {
        if regions.is_empty() {
            "none".to_string()
        } else {
            regions.join(", ")
        }
    };
    format!(
        "verified on the chip: {}; not written or not verified: {}",
        list(verified),
        list(unverified)
    )
}
