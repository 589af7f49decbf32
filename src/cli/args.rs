//! Argument groups shared by several commands. These only describe what the user typed; turning
//! them into [`Settings`](cargo_esp32s3::config::Settings) (with environment and metadata) is
//! `config`'s job.

use std::path::PathBuf;

use clap::Args;

/// Which package and manifest to read `[package.metadata.esp32s3]` from.
#[derive(Debug, Clone, Default, Args)]
pub struct ManifestArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package to build or read settings from
    #[arg(long, value_name = "SPEC")]
    pub package: Option<String>,
}

/// How to reach the chip.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    /// Serial port (/dev/ttyUSB0, COM3, sim://) [env: ESP32S3_PORT]; `flash` takes it more than
    /// once to flash several boards at once
    #[arg(short = 'p', long, value_name = "PORT", action = clap::ArgAction::Append)]
    pub port: Vec<String>,
    /// Baud rate for flashing, switched to after connecting at 115200 [env: ESP32S3_BAUD]
    #[arg(short = 'B', long, value_name = "BAUD")]
    pub baud: Option<String>,
    /// Reset before connecting: default-reset, usb-reset, no-reset, no-reset-no-sync [env: ESP32S3_BEFORE]
    #[arg(long, value_name = "MODE")]
    pub before: Option<String>,
    /// Reset after the operation: hard-reset, soft-reset, no-reset, watchdog-reset [env: ESP32S3_AFTER]
    #[arg(short = 'a', long, value_name = "MODE")]
    pub after: Option<String>,
    /// Load this flasher stub (esptool JSON format) and use stub commands [env: ESP32S3_STUB]
    #[arg(long, value_name = "FILE")]
    pub stub: Option<PathBuf>,
    /// Connection attempts before giving up (0 = forever) [env: ESP32S3_CONNECT_ATTEMPTS]
    #[arg(long, value_name = "N")]
    pub connect_attempts: Option<String>,
    /// Never ask questions (pick the port or fail)
    #[arg(long)]
    pub non_interactive: bool,
    /// Ask which port to use even when only one looks like an ESP32-S3 board (the port picked
    /// is remembered for this project and offered first next time)
    #[arg(long, conflicts_with = "non_interactive")]
    pub confirm_port: bool,
    /// Write a protocol trace to FILE: every packet both ways with timestamps, decoded
    /// (command, fields, status) and raw, plus resets and console text; attach it to a bug
    /// report
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

impl ConnectArgs {
    /// For commands that work on one board: refuse several `--port`s.
    pub fn single_port(&self, command: &str) -> Result<Option<&str>, crate::cli::CliError> {
        match self.port.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            several => Err(crate::cli::CliError::BadArgument(format!(
                "`{command}` works on one board but --port was given {} times ({}); run it once per port",
                several.len(),
                several.join(", ")
            ))),
        }
    }
}

/// Flash settings written into image headers.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Flash settings")]
pub struct FlashConfigArgs {
    /// Flash mode: qio, qout, dio, dout [env: ESP32S3_FLASH_MODE]
    #[arg(short = 'm', long, value_name = "MODE")]
    pub flash_mode: Option<String>,
    /// Flash frequency: 20m, 26m, 40m, 80m [env: ESP32S3_FLASH_FREQ]
    #[arg(short = 'f', long, value_name = "FREQ")]
    pub flash_freq: Option<String>,
    /// Flash size: 1MB, 2MB, 4MB, 8MB, 16MB, 32MB, 64MB, 128MB [env: ESP32S3_FLASH_SIZE]
    #[arg(short = 's', long, value_name = "SIZE")]
    pub flash_size: Option<String>,
}

/// What goes around the app in a merged image.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Image")]
pub struct ImageArgs {
    /// Second-stage bootloader image to place at 0x0 [env: ESP32S3_BOOTLOADER]
    #[arg(long, value_name = "FILE")]
    pub bootloader: Option<PathBuf>,
    /// Partition table, CSV or binary [env: ESP32S3_PARTITION_TABLE]
    #[arg(long, value_name = "FILE")]
    pub partition_table: Option<PathBuf>,
    /// Flash offset of the partition table [default: 0x8000]
    #[arg(long, value_name = "OFFSET")]
    pub partition_table_offset: Option<String>,
    /// App partition to place the app in [default: factory, else ota_0]
    #[arg(long, value_name = "NAME")]
    pub target_app_partition: Option<String>,
    /// Lowest chip revision the app runs on, as MAJOR.MINOR [default: 0.0]
    #[arg(long, value_name = "REV")]
    pub min_chip_rev: Option<String>,
    /// Highest chip revision the app runs on, as MAJOR.MINOR [default: 0.99]
    #[arg(long, value_name = "REV")]
    pub max_chip_rev: Option<String>,
    /// Write an app without an ESP-IDF app descriptor (`esp_app_desc!()`), which bootloaders
    /// from ESP-IDF v5.2.3 on refuse [env: ESP32S3_IGNORE_APP_DESCRIPTOR]
    #[arg(long)]
    pub ignore_app_descriptor: bool,
}

/// What `cargo build` should build.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Build")]
pub struct BuildArgs {
    /// Build with the release profile
    #[arg(short = 'r', long)]
    pub release: bool,
    /// Build with this profile
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Build this binary
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// Build this example
    #[arg(long, value_name = "NAME")]
    pub example: Option<String>,
    /// Features to activate (space or comma separated)
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all features
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the default feature
    #[arg(long)]
    pub no_default_features: bool,
    /// Build for this target triple [env: ESP32S3_TARGET]
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Directory for all generated artifacts
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Require Cargo.lock to be up to date
    #[arg(long)]
    pub locked: bool,
    /// Require Cargo.lock and cache to be up to date
    #[arg(long)]
    pub frozen: bool,
    /// Run without accessing the network
    #[arg(long)]
    pub offline: bool,
    /// Unstable flags passed to cargo (-Z build-std=core)
    #[arg(short = 'Z', value_name = "FLAG")]
    pub unstable: Vec<String>,
}

/// Everything a command that makes images from a Cargo project takes: the package, what to
/// build, the flash settings for the headers, and the bootloader and partition table. `build`,
/// `save-image` and `flash` share it, so they accept the same flags and read them the same way.
#[derive(Debug, Clone, Default, Args)]
pub struct ImageJobArgs {
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// What to build.
    #[command(flatten)]
    pub build: BuildArgs,
    /// Flash settings for the image headers.
    #[command(flatten)]
    pub flash: FlashConfigArgs,
    /// Bootloader and partition table.
    #[command(flatten)]
    pub image: ImageArgs,
}
