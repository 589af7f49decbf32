//! The image pipeline as the commands see it. The layout itself (ELF → app image, bootloader and
//! partition table → offset-0 regions) lives in the library, [`crate::layout`], so that the
//! command line and the xtask facade lay out the same bytes; this file keeps the names the
//! commands use and adds the one message that only the command line prints.

pub use crate::layout::{
    DEFAULT_FLASH_SIZE, IdfOutputs, Prepared, Source, fill_line, flash_params, load_table, prepare,
};

/// The note printed when no bootloader is known, so no merged image can be made.
pub fn no_bootloader_note(what: &str) -> String {
    format!(
        "{what}: no second-stage bootloader is configured and this project does not ship one; set `bootloader = \"path/to/bootloader.bin\"` in [package.metadata.esp32s3], ESP32S3_BOOTLOADER or --bootloader (esp-idf-sys projects get ESP-IDF's automatically)"
    )
}
