//! Pure image handling: ELF → ESP32-S3 app image, bootloader header patching, partition tables,
//! merged offset-0 images, and the identification of prebuilt `.bin` files.
//!
//! Everything here takes bytes and returns bytes or values. It must not know about files, ports,
//! terminals, environment variables or cargo; callers read and write the files.

pub mod app;
pub mod elf;
pub mod format;
pub mod info;
pub mod merge;
pub mod partition;

pub use format::{FlashFreq, FlashMode, FlashParams, FlashSize, ImageHeader, ParsedImage, Segment};

/// Errors building, parsing or merging images. Each message names the value and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
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
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Invalid(String),
}
