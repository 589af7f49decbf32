//! Pure image handling: ELF → ESP32-S3 app image, bootloader header patching, partition tables,
//! merged offset-0 images, and the identification of prebuilt `.bin` files.
//!
//! Everything here takes bytes and returns bytes or values. It must not know about files, ports,
//! terminals, environment variables or cargo; callers read and write the files.
//!
//! The modules form a layered graph, each using only those listed before it (`tests/tidy.rs`
//! checks that there is no cycle):
//!
//! | module | owns |
//! |---|---|
//! | `partition` | partition tables (CSV, binary, checks) and their error |
//! | `error` | [`ImageError`], the catalogue of image messages |
//! | `format` | the image format: headers, segments, checksum, digest, flash codes, chip ids |
//! | `app_desc` | `esp_app_desc_t` and `esp_bootloader_desc_t` |
//! | `region` | bytes to be written at a flash offset |
//! | `elf` | reading an ESP32-S3 ELF |
//! | `app` | ELF → app image |
//! | `info` | identifying and checking prebuilt files, and where they go |
//! | `merge` | bootloader header patch, offset-0 regions, merging and splitting |

pub mod app;
pub mod app_desc;
pub mod elf;
pub mod error;
pub mod format;
pub mod info;
pub mod merge;
pub mod partition;
pub mod region;

pub use error::{ImageError, NO_BOOTLOADER_ADVICE};
pub use format::{FlashFreq, FlashMode, FlashParams, FlashSize, ImageHeader, ParsedImage, Segment};
pub use region::{Region, RegionKind};
