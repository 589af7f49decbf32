//! Configuration: `[package.metadata.esp32s3]` (falling back to `[workspace.metadata.esp32s3]`),
//! environment variables (`ESP32S3_PORT`, …) and command-line flags, merged into [`Settings`].
//!
//! Precedence: flag > environment > package metadata > workspace metadata > default. This module
//! validates values and names the key, the file and the accepted values in every error. It does
//! not run cargo (the caller passes the metadata JSON) and does not read the process environment
//! itself (the CLI passes a lookup function), so it stays testable.
//! TODO(owner: cli helper): resolution and validation.

use std::path::PathBuf;

use crate::image::{FlashFreq, FlashMode, FlashSize};
use crate::reset::{After, Before};

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Placeholder.
    #[error("{0}")]
    Invalid(String),
}

/// Default baud rate for flashing (switched to with CHANGE_BAUDRATE after connecting at 115200).
pub const DEFAULT_BAUD: u32 = 460_800;
/// Default console speed of the ROM and of ESP-IDF/esp-hal apps.
pub const DEFAULT_MONITOR_BAUD: u32 = 115_200;
/// Default partition table offset.
pub const DEFAULT_PARTITION_TABLE_OFFSET: u32 = 0x8000;

/// Every setting, resolved. `None` means "not set anywhere": the consumer decides (detect the
/// flash size, keep the image's mode, use the default partition table, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Serial port name or URL (`/dev/ttyUSB0`, `COM3`, `sim://`).
    pub port: Option<String>,
    /// Flashing baud rate.
    pub baud: u32,
    /// Console baud rate.
    pub monitor_baud: u32,
    /// Flash mode written into image headers.
    pub flash_mode: Option<FlashMode>,
    /// Flash frequency written into image headers.
    pub flash_freq: Option<FlashFreq>,
    /// Flash size written into image headers (and used to size the default partition table).
    pub flash_size: Option<FlashSize>,
    /// Partition table file (CSV or binary).
    pub partition_table: Option<PathBuf>,
    /// Where the partition table goes in flash.
    pub partition_table_offset: u32,
    /// Name of the app partition to place the app in (else factory, else ota_0).
    pub target_app_partition: Option<String>,
    /// Second-stage bootloader image.
    pub bootloader: Option<PathBuf>,
    /// Lowest chip revision the app supports, major*100+minor.
    pub min_chip_rev: u16,
    /// Highest chip revision the app supports, major*100+minor.
    pub max_chip_rev: u16,
    /// What to do before connecting.
    pub before: Before,
    /// What to do after the operation.
    pub after: After,
    /// Cargo build target triple.
    pub target: Option<String>,
    /// Flasher stub in esptool's JSON format.
    pub stub: Option<PathBuf>,
    /// How many times to try connecting (0 = forever).
    pub connect_attempts: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: None,
            baud: DEFAULT_BAUD,
            monitor_baud: DEFAULT_MONITOR_BAUD,
            flash_mode: None,
            flash_freq: None,
            flash_size: None,
            partition_table: None,
            partition_table_offset: DEFAULT_PARTITION_TABLE_OFFSET,
            target_app_partition: None,
            bootloader: None,
            min_chip_rev: 0,
            max_chip_rev: 99,
            before: Before::DefaultReset,
            after: After::HardReset,
            target: None,
            stub: None,
            connect_attempts: 7,
        }
    }
}
