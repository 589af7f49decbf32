//! Configuration: `[package.metadata.esp32s3]` (falling back to `[workspace.metadata.esp32s3]`),
//! environment variables (`ESP32S3_PORT`, …) and command-line flags, merged into [`Settings`].
//!
//! Precedence, key by key: flag > environment > package metadata > workspace metadata > default.
//! Every source is validated completely, even where a higher one overrides it, so a typo in
//! Cargo.toml is reported the first time, not the day the flag that hid it is dropped. Each error
//! names the key, where it came from (flag, variable or file and table) and the accepted values,
//! and an unknown key comes with the closest known key.
//!
//! This module does not run cargo (the caller passes the metadata JSON that `cargo metadata`
//! printed) and does not read the process environment (the CLI passes a lookup function), so
//! [`resolve`] is a pure function. Keys are kebab-case only, as in Cargo's own manifest; a
//! snake_case spelling is an unknown key whose suggestion is the kebab-case one.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::image::{FlashFreq, FlashMode, FlashSize};
use crate::reset::{After, Before, ResetSequence};
use crate::units;

/// Lowest accepted baud rate (for `baud` and `monitor-baud`). Far below this a transfer takes
/// so long that it looks like a hang (at 12 baud one 4 KiB block needs about an hour), and no
/// ESP32-S3 setup uses slower than 9600.
pub const MIN_BAUD: u32 = 9600;

/// Highest accepted baud rate. The ROM's CHANGE_BAUDRATE only reprograms the UART's clock
/// divider, and the ESP32-S3 UART's documented ceiling is 5 Mbaud; a faster request leaves the
/// chip and the host at different rates, which again looks like a hang.
pub const MAX_BAUD: u32 = 5_000_000;

/// Default baud rate for flashing (switched to with CHANGE_BAUDRATE after connecting at 115200).
pub const DEFAULT_BAUD: u32 = 460_800;
/// Default console speed of the ROM and of ESP-IDF/esp-hal apps.
pub const DEFAULT_MONITOR_BAUD: u32 = 115_200;
/// Default partition table offset (ESP-IDF's, as the image module defines it).
pub const DEFAULT_PARTITION_TABLE_OFFSET: u32 = crate::image::partition::DEFAULT_TABLE_OFFSET;
/// The only chip this tool supports, as written in the `chip` key.
pub const CHIP: &str = "esp32s3";
/// Name of the metadata table under `[package.metadata]` and `[workspace.metadata]`.
pub const TABLE: &str = "esp32s3";

/// Every setting, resolved. `None` means "not set anywhere": the consumer decides (detect the
/// flash size, keep the image's mode, use the default partition table, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Serial port name or URL (`/dev/ttyUSB0`, `COM3`, `sim://`).
    pub port: Option<String>,
    /// Flashing baud rate: the rate used when [`Settings::auto_baud`] is off, and where the
    /// ladder does not apply (USB-Serial/JTAG, `socket://`).
    pub baud: u32,
    /// `baud = "auto"` (the default): after connecting, climb to the fastest rate the link
    /// proves it carries (`crate::baud`); a number for `baud` turns it off.
    pub auto_baud: bool,
    /// Where the rate the ladder settled on is remembered per port, so the next run starts
    /// there (the command line uses a file in the user's cache directory). Not a key.
    pub baud_memory: Option<PathBuf>,
    /// Console baud rate.
    pub monitor_baud: u32,
    /// Flash mode written into image headers.
    pub flash_mode: Option<FlashMode>,
    /// Flash frequency written into image headers.
    pub flash_freq: Option<FlashFreq>,
    /// Flash size written into image headers (and used to size the default partition table).
    /// `None` (unset, or `detect`): the chip's detected size.
    pub flash_size: Option<FlashSize>,
    /// `flash-size = "keep"`: leave the size in a bootloader's header as it is. Without it an
    /// unset or `detect` size writes the chip's detected size into the bootloader at 0x0 (a
    /// merged image's too), its SHA-256 recomputed.
    pub keep_flash_size: bool,
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
    /// `stub = "auto"` (the default) and no stub file given: the command line looks for the
    /// ESP32-S3 stub of an installed esptool ([`crate::stub_finder`]) and sets
    /// [`Settings::stub`] to it; without one the ROM loader is used. `stub = "none"` turns it
    /// off. The library itself never searches.
    pub stub_auto: bool,
    /// How many times to try connecting (0 = forever).
    pub connect_attempts: u32,
    /// Skip flash regions whose MD5 already matches.
    pub skip_unchanged: bool,
    /// Check the MD5 of every written region.
    pub verify: bool,
    /// A custom reset into download mode (esptool's notation), instead of the automatic choice.
    pub reset_sequence: Option<ResetSequence>,
    /// A custom hard reset after the operation (esptool's notation).
    pub hard_reset_sequence: Option<ResetSequence>,
    /// Write an app that has no ESP-IDF app descriptor (`esp_app_desc!()`), which ESP-IDF
    /// bootloaders from v5.2.3 on refuse to boot.
    pub ignore_app_descriptor: bool,
    /// Override the refusals that can sensibly be overridden (`--force`): an image's chip
    /// revision range, a file written with `--at` where its content does not belong, a flash
    /// size larger than the chip's, plaintext or an erase on a chip with flash encryption or
    /// secure boot. A choice for one run, not a key: only a flag or a script sets it.
    pub force: bool,
    /// Erase the whole flash before writing (`--erase-all`). A choice for one run, not a key.
    pub erase_all: bool,
    /// The key that ends the interactive monitor (Ctrl+] unless set).
    pub monitor_exit_key: ControlKey,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: None,
            baud: DEFAULT_BAUD,
            auto_baud: true,
            baud_memory: None,
            monitor_baud: DEFAULT_MONITOR_BAUD,
            flash_mode: None,
            flash_freq: None,
            flash_size: None,
            keep_flash_size: false,
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
            stub_auto: true,
            connect_attempts: 7,
            skip_unchanged: true,
            verify: true,
            reset_sequence: None,
            hard_reset_sequence: None,
            ignore_app_descriptor: false,
            force: false,
            erase_all: false,
            monitor_exit_key: ControlKey::DEFAULT_EXIT,
        }
    }
}

/// A key typed with Ctrl, kept as the byte a terminal sends for it (Ctrl+] is 0x1d): the
/// monitor's exit key. Written `ctrl+]`, `Ctrl-X`, `C-x` or `^X`, case-insensitive. Keys a
/// terminal sends for something else are refused: Ctrl+H (Backspace on many terminals), Ctrl+I
/// (Tab), Ctrl+J and Ctrl+M (Enter) and Ctrl+[ (Escape, which starts the arrow keys' sequences).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlKey(u8);

impl ControlKey {
    /// Ctrl+], the monitor's exit key unless `monitor-exit-key` says otherwise.
    pub const DEFAULT_EXIT: ControlKey = ControlKey(0x1d);

    /// The key a text names (see the type's docs).
    pub fn parse(text: &str) -> Option<ControlKey> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        let key = ["ctrl+", "ctrl-", "control+", "control-", "c-", "^"]
            .iter()
            .find_map(|prefix| lower.strip_prefix(prefix))?;
        let mut chars = key.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return None;
        };
        let byte = match c {
            'a'..='z' => c as u8 - b'a' + 1,
            '@' => 0x00,
            '\\' => 0x1c,
            ']' => 0x1d,
            '^' => 0x1e,
            '_' => 0x1f,
            _ => return None,
        };
        // Backspace, Tab, Enter (both line feed and carriage return) are what these send.
        (![0x08, 0x09, 0x0a, 0x0d].contains(&byte)).then_some(ControlKey(byte))
    }

    /// The control byte a terminal sends for the key.
    pub fn byte(self) -> u8 {
        self.0
    }
}

impl fmt::Display for ControlKey {
    /// `Ctrl+]`, `Ctrl+X`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = match self.0 {
            0x00 => '@',
            byte @ 0x01..=0x1a => char::from(b'A' + byte - 1),
            0x1c => '\\',
            0x1d => ']',
            0x1e => '^',
            0x1f => '_',
            _ => '?',
        };
        write!(f, "Ctrl+{c}")
    }
}

/// A configuration problem. Every message names where the value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key that this tool does not know.
    #[error("unknown key {key:?} in {file}{}; known keys: {}", suggestion_text(.suggestion), Key::names_list())]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Manifest and table.
        file: String,
        /// The closest known key, if any is close.
        suggestion: Option<&'static str>,
    },
    /// A value that does not parse or is out of range.
    #[error("invalid value {value} for {origin}: expected {accepted}")]
    BadValue {
        /// Where it came from (`--baud`, `ESP32S3_BAUD`, `` `baud` in …/Cargo.toml [...] ``).
        origin: String,
        /// The value as written (quoted when it was text).
        value: String,
        /// What is accepted.
        accepted: String,
    },
    /// The metadata entry exists but is not a table.
    #[error(
        "{file} must be a table of settings (like `[package.metadata.esp32s3]` with `port = \"/dev/ttyUSB0\"`), found {found}"
    )]
    NotATable {
        /// Manifest and table.
        file: String,
        /// What was there instead.
        found: String,
    },
    /// Another chip was named.
    #[error(
        "chip = {chip:?} in {file}: this tool is for the ESP32-S3 only; use espflash for other chips"
    )]
    WrongChip {
        /// The chip as written.
        chip: String,
        /// Manifest and table.
        file: String,
    },
    /// A target triple that builds for another chip.
    #[error(
        "target {triple} (from {origin}) builds for the {chip}, but this tool is for the ESP32-S3 only; use xtensa-esp32s3-none-elf (no_std) or xtensa-esp32s3-espidf (std), or espflash for other chips"
    )]
    WrongTarget {
        /// The triple.
        triple: String,
        /// Where it came from.
        origin: String,
        /// The chip the triple builds for.
        chip: &'static str,
    },
    /// More than one problem, from any of the sources: all of them, in one line.
    #[error("{} problems in the configuration: {}", problems.len(), join_problems(problems))]
    Several {
        /// Each problem.
        problems: Vec<ConfigError>,
    },
    /// The revision range is empty.
    #[error("min-chip-rev {} is above max-chip-rev {}; lower min-chip-rev or raise max-chip-rev", format_rev(*.min), format_rev(*.max))]
    RevisionRange {
        /// Lowest revision (major*100+minor).
        min: u16,
        /// Highest revision (major*100+minor).
        max: u16,
    },
}

fn join_problems(problems: &[ConfigError]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; also ")
}

impl ConfigError {
    /// `None` for no problem, the problem itself for one, [`ConfigError::Several`] for more.
    pub fn of_all(mut problems: Vec<ConfigError>) -> Option<ConfigError> {
        match problems.len() {
            0 => None,
            1 => problems.pop(),
            _ => Some(ConfigError::Several { problems }),
        }
    }
}

fn suggestion_text(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(key) => format!(" (did you mean {key:?}?)"),
        None => String::new(),
    }
}

/// Format a revision given as major*100+minor the way users read it (`v0.2`).
pub fn format_rev(full: u16) -> String {
    format!("v{}.{}", full / 100, full % 100)
}

/// Every key of the `[package.metadata.esp32s3]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `chip`: must be `esp32s3` (a guard against copying the table into another chip's project).
    Chip,
    /// `port`.
    Port,
    /// `baud`.
    Baud,
    /// `monitor-baud`.
    MonitorBaud,
    /// `flash-mode`.
    FlashMode,
    /// `flash-freq`.
    FlashFreq,
    /// `flash-size`.
    FlashSize,
    /// `partition-table`.
    PartitionTable,
    /// `partition-table-offset`.
    PartitionTableOffset,
    /// `target-app-partition`.
    TargetAppPartition,
    /// `bootloader`.
    Bootloader,
    /// `min-chip-rev`.
    MinChipRev,
    /// `max-chip-rev`.
    MaxChipRev,
    /// `before`.
    Before,
    /// `after`.
    After,
    /// `target`.
    Target,
    /// `stub`.
    Stub,
    /// `connect-attempts`.
    ConnectAttempts,
    /// `skip-unchanged`.
    SkipUnchanged,
    /// `verify`.
    Verify,
    /// `reset-sequence`.
    ResetSequence,
    /// `hard-reset-sequence`.
    HardResetSequence,
    /// `monitor-exit-key`.
    MonitorExitKey,
    /// `ignore-app-descriptor`.
    IgnoreAppDescriptor,
}

impl Key {
    /// All keys, in documentation order.
    pub const ALL: [Key; 24] = [
        Key::Chip,
        Key::Port,
        Key::Baud,
        Key::MonitorBaud,
        Key::FlashMode,
        Key::FlashFreq,
        Key::FlashSize,
        Key::PartitionTable,
        Key::PartitionTableOffset,
        Key::TargetAppPartition,
        Key::Bootloader,
        Key::MinChipRev,
        Key::MaxChipRev,
        Key::Before,
        Key::After,
        Key::Target,
        Key::Stub,
        Key::ConnectAttempts,
        Key::SkipUnchanged,
        Key::Verify,
        Key::ResetSequence,
        Key::HardResetSequence,
        Key::MonitorExitKey,
        Key::IgnoreAppDescriptor,
    ];

    /// The key as written in Cargo.toml.
    pub fn name(self) -> &'static str {
        match self {
            Key::Chip => "chip",
            Key::Port => "port",
            Key::Baud => "baud",
            Key::MonitorBaud => "monitor-baud",
            Key::FlashMode => "flash-mode",
            Key::FlashFreq => "flash-freq",
            Key::FlashSize => "flash-size",
            Key::PartitionTable => "partition-table",
            Key::PartitionTableOffset => "partition-table-offset",
            Key::TargetAppPartition => "target-app-partition",
            Key::Bootloader => "bootloader",
            Key::MinChipRev => "min-chip-rev",
            Key::MaxChipRev => "max-chip-rev",
            Key::Before => "before",
            Key::After => "after",
            Key::Target => "target",
            Key::Stub => "stub",
            Key::ConnectAttempts => "connect-attempts",
            Key::SkipUnchanged => "skip-unchanged",
            Key::Verify => "verify",
            Key::ResetSequence => "reset-sequence",
            Key::HardResetSequence => "hard-reset-sequence",
            Key::MonitorExitKey => "monitor-exit-key",
            Key::IgnoreAppDescriptor => "ignore-app-descriptor",
        }
    }

    /// The environment variable that sets this key: `ESP32S3_` and the name in upper snake case
    /// (`ESP32S3_FLASH_MODE`); `chip` has none.
    pub fn env_var(self) -> Option<String> {
        (self != Key::Chip).then(|| {
            format!(
                "ESP32S3_{}",
                self.name().to_ascii_uppercase().replace('-', "_")
            )
        })
    }

    /// The command-line flag that sets this key, as users type it: `--` and the name, except the
    /// two switches that turn a default off; `chip` has none.
    pub fn flag(self) -> Option<String> {
        match self {
            // Sequences are board properties: set once in Cargo.toml or the environment.
            Key::Chip | Key::ResetSequence | Key::HardResetSequence => None,
            Key::SkipUnchanged => Some("--no-skip".into()),
            Key::Verify => Some("--no-verify".into()),
            Key::MonitorExitKey => Some("--exit-key".into()),
            _ => Some(format!("--{}", self.name())),
        }
    }

    /// The accepted values, as a phrase for error messages and documentation.
    pub fn accepted(self) -> &'static str {
        match self {
            Key::Chip => "\"esp32s3\"",
            Key::Port => {
                "a serial port name or URL such as \"/dev/ttyUSB0\", \"COM3\" or \"sim://\""
            }
            Key::Baud => {
                "\"auto\" (the fastest rate the link proves it carries), or an integer number of bits per second from 9600 to 5000000, such as 115200, 460800 or 921600"
            }
            Key::MonitorBaud => {
                "an integer number of bits per second from 9600 to 5000000, such as 115200, 460800 or 921600"
            }
            Key::FlashMode => "one of qio, qout, dio, dout, keep",
            Key::FlashFreq => "one of 20m, 26m, 40m, 80m, keep",
            Key::FlashSize => "one of 1MB, 2MB, 4MB, 8MB, 16MB, 32MB, 64MB, 128MB, detect, keep",
            Key::PartitionTable => "a path to a partition table, CSV or binary",
            Key::PartitionTableOffset => {
                "a multiple of 0x1000 (4 KiB) from 0x1000 up, such as 0x8000 (integer or \"0x...\" string)"
            }
            Key::TargetAppPartition => {
                "the name of an app partition such as \"factory\" or \"ota_0\""
            }
            Key::Bootloader => {
                "a path to a second-stage bootloader image (.bin, or an ELF that is converted)"
            }
            Key::MinChipRev | Key::MaxChipRev => {
                "a revision as a \"MAJOR.MINOR\" string such as \"0.2\" (minor below 100), or an integer major*100+minor such as 2"
            }
            Key::Before => "one of default-reset, usb-reset, no-reset, no-reset-no-sync",
            Key::After => "one of hard-reset, soft-reset, no-reset, watchdog-reset",
            Key::Target => {
                "a target triple for the ESP32-S3 such as \"xtensa-esp32s3-none-elf\" or \"xtensa-esp32s3-espidf\""
            }
            Key::Stub => {
                "a path to a flasher stub in esptool's JSON format, \"auto\" (the stub of an installed esptool, if any) or \"none\" (the ROM loader)"
            }
            Key::ConnectAttempts => "a non-negative integer (0 = keep trying forever)",
            Key::SkipUnchanged | Key::Verify | Key::IgnoreAppDescriptor => {
                "true or false (in variables also 1/0, yes/no, on/off)"
            }
            Key::MonitorExitKey => {
                "a key typed with Ctrl, such as \"ctrl+]\" (the default), \"ctrl+x\" or \"ctrl+q\" (not Ctrl+H, I, J, M or [, which are Backspace, Tab, Enter and Escape)"
            }
            Key::ResetSequence | Key::HardResetSequence => {
                "esptool's reset notation: steps D0/D1, R0/R1, U0,1 and W<seconds> separated by |, such as \"D0|R1|W0.1|D1|R0|W0.05|D0\""
            }
        }
    }

    /// The key with this exact name.
    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The known key closest to an unknown one, when one is close enough to be a likely typo.
    pub fn suggest(unknown: &str) -> Option<&'static str> {
        let normalized = unknown.trim().to_ascii_lowercase().replace('_', "-");
        let mut best: Option<(usize, &'static str)> = None;
        for key in Key::ALL {
            let distance = edit_distance(&normalized, key.name());
            if best.is_none_or(|(d, _)| distance < d) {
                best = Some((distance, key.name()));
            }
        }
        let (distance, name) = best?;
        // A third of the length allows one typo per three letters; below 2 that would refuse
        // even a single slip in short keys such as `baud`.
        let allowed = (name.len() / 3).max(2);
        if distance <= allowed {
            return Some(name);
        }
        // `baudrate`, `flash-frequency`: a known key that starts the unknown one (or the reverse).
        Key::ALL
            .into_iter()
            .map(Key::name)
            .find(|name| {
                name.len() >= 4 && (normalized.starts_with(name) || name.starts_with(&normalized))
            })
            .filter(|_| normalized.len() >= 4)
    }

    fn names_list() -> String {
        Key::ALL.map(Key::name).join(", ")
    }
}

/// Levenshtein distance between two strings (insertions, deletions, substitutions; by chars).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // One row of the classic dynamic-programming table at a time.
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current[j + 1] = substitution.min(deletion).min(insertion);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Values given on the command line, as typed (parsing happens here so that flag, variable and
/// metadata share one parser and one set of messages). `None` means "flag not given".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlagValues {
    /// `--port`.
    pub port: Option<String>,
    /// `--baud`.
    pub baud: Option<String>,
    /// `--monitor-baud`.
    pub monitor_baud: Option<String>,
    /// `--flash-mode`.
    pub flash_mode: Option<String>,
    /// `--flash-freq`.
    pub flash_freq: Option<String>,
    /// `--flash-size`.
    pub flash_size: Option<String>,
    /// `--partition-table` (relative to the current directory).
    pub partition_table: Option<PathBuf>,
    /// `--partition-table-offset`.
    pub partition_table_offset: Option<String>,
    /// `--target-app-partition`.
    pub target_app_partition: Option<String>,
    /// `--bootloader` (relative to the current directory).
    pub bootloader: Option<PathBuf>,
    /// `--min-chip-rev`.
    pub min_chip_rev: Option<String>,
    /// `--max-chip-rev`.
    pub max_chip_rev: Option<String>,
    /// `--before`.
    pub before: Option<String>,
    /// `--after`.
    pub after: Option<String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--stub` (relative to the current directory).
    pub stub: Option<PathBuf>,
    /// `--connect-attempts`.
    pub connect_attempts: Option<String>,
    /// `Some(false)` for `--no-skip`.
    pub skip_unchanged: Option<bool>,
    /// `Some(false)` for `--no-verify`.
    pub verify: Option<bool>,
    /// `Some(true)` for `--ignore-app-descriptor`.
    pub ignore_app_descriptor: Option<bool>,
    /// `--force`.
    pub force: bool,
    /// `--erase-all`.
    pub erase_all: bool,
    /// `--exit-key`.
    pub monitor_exit_key: Option<String>,
}

/// Everything [`resolve`] reads. The CLI gathers it; tests build it from literals.
pub struct Sources<'a> {
    /// Command-line values.
    pub flags: FlagValues,
    /// Environment lookup (`std::env::var` in the CLI, a map in tests). Empty values count as unset.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The selected package's Cargo.toml and its whole `[package.metadata]` table (as JSON).
    pub package: Option<(PathBuf, Value)>,
    /// The workspace root Cargo.toml and its whole `[workspace.metadata]` table (as JSON).
    pub workspace: Option<(PathBuf, Value)>,
}

/// Merge flags, environment, package metadata, workspace metadata and defaults into [`Settings`].
pub fn resolve(sources: &Sources<'_>) -> Result<Settings, ConfigError> {
    // Every problem of every source is collected, so one run reports them all (a typo in the
    // manifest and a bad value in a variable together), not one per run.
    let mut problems = Vec::new();
    let layers = [
        flag_layer(&sources.flags, &mut problems),
        env_layer(sources.env, &mut problems),
        match &sources.package {
            Some((manifest, metadata)) => {
                metadata_layer(manifest, "package", metadata, &mut problems)
            }
            None => Layer::default(),
        },
        match &sources.workspace {
            Some((manifest, metadata)) => {
                metadata_layer(manifest, "workspace", metadata, &mut problems)
            }
            None => Layer::default(),
        },
    ];
    if let Some(error) = ConfigError::of_all(problems) {
        return Err(error);
    }
    let defaults = Settings::default();
    // The first layer (in precedence order) that sets a key wins.
    macro_rules! pick {
        ($field:ident) => {
            layers.iter().find_map(|layer| layer.$field.clone())
        };
    }
    let settings = Settings {
        port: pick!(port),
        baud: pick!(baud).flatten().unwrap_or(defaults.baud),
        auto_baud: pick!(baud).is_none_or(|fixed| fixed.is_none()),
        baud_memory: None,
        monitor_baud: pick!(monitor_baud).unwrap_or(defaults.monitor_baud),
        flash_mode: pick!(flash_mode).flatten(),
        flash_freq: pick!(flash_freq).flatten(),
        flash_size: pick!(flash_size).flatten(),
        keep_flash_size: pick!(keep_flash_size).unwrap_or(defaults.keep_flash_size),
        partition_table: pick!(partition_table),
        partition_table_offset: pick!(partition_table_offset)
            .unwrap_or(defaults.partition_table_offset),
        target_app_partition: pick!(target_app_partition),
        bootloader: pick!(bootloader),
        min_chip_rev: pick!(min_chip_rev).unwrap_or(defaults.min_chip_rev),
        max_chip_rev: pick!(max_chip_rev).unwrap_or(defaults.max_chip_rev),
        before: pick!(before).unwrap_or(defaults.before),
        after: pick!(after).unwrap_or(defaults.after),
        target: pick!(target),
        stub: pick!(stub).flatten(),
        stub_auto: pick!(stub_auto).unwrap_or(defaults.stub_auto),
        connect_attempts: pick!(connect_attempts).unwrap_or(defaults.connect_attempts),
        skip_unchanged: pick!(skip_unchanged).unwrap_or(defaults.skip_unchanged),
        verify: pick!(verify).unwrap_or(defaults.verify),
        reset_sequence: pick!(reset_sequence),
        hard_reset_sequence: pick!(hard_reset_sequence),
        ignore_app_descriptor: pick!(ignore_app_descriptor)
            .unwrap_or(defaults.ignore_app_descriptor),
        force: sources.flags.force,
        erase_all: sources.flags.erase_all,
        monitor_exit_key: pick!(monitor_exit_key).unwrap_or(defaults.monitor_exit_key),
    };
    if settings.min_chip_rev > settings.max_chip_rev {
        return Err(ConfigError::RevisionRange {
            min: settings.min_chip_rev,
            max: settings.max_chip_rev,
        });
    }
    Ok(settings)
}

/// Refuse a target triple that builds for another Espressif chip. Triples this tool does not
/// recognise (host triples, custom JSON targets) pass: the ELF check catches them later.
pub fn check_target(triple: &str, origin: &str) -> Result<(), ConfigError> {
    match target_chip(triple) {
        Some(chip) if chip != "ESP32-S3" => Err(ConfigError::WrongTarget {
            triple: triple.to_string(),
            origin: origin.to_string(),
            chip,
        }),
        _ => Ok(()),
    }
}

/// The Espressif chip a target triple builds for, when the triple names one.
pub fn target_chip(triple: &str) -> Option<&'static str> {
    let triple = triple.trim();
    // Xtensa triples name the chip: xtensa-esp32s3-none-elf, xtensa-esp32-espidf, ...
    if let Some(rest) = triple.strip_prefix("xtensa-") {
        let chip = rest.split('-').next().unwrap_or_default();
        return match chip {
            "esp32s3" => Some("ESP32-S3"),
            "esp32s2" => Some("ESP32-S2"),
            "esp32" => Some("ESP32"),
            "esp8266" => Some("ESP8266"),
            _ => None,
        };
    }
    // RISC-V triples name the ISA; the ESP32-S3 has no RISC-V main core, so all of them are wrong.
    let arch = triple.split('-').next().unwrap_or_default();
    let espressif_or_bare = triple.ends_with("-none-elf") || triple.contains("-esp-");
    match arch {
        "riscv32imc" if espressif_or_bare => Some("ESP32-C3 or ESP32-C2"),
        "riscv32imac" if espressif_or_bare => Some("ESP32-C6, ESP32-H2 or ESP32-C5"),
        "riscv32imafc" if espressif_or_bare => Some("ESP32-P4"),
        _ => None,
    }
}

/// One source's settings, each `None` when this source does not set the key.
#[derive(Debug, Default)]
struct Layer {
    port: Option<String>,
    /// `Some(None)`: `auto`.
    baud: Option<Option<u32>>,
    monitor_baud: Option<u32>,
    flash_mode: Option<Option<FlashMode>>,
    flash_freq: Option<Option<FlashFreq>>,
    flash_size: Option<Option<FlashSize>>,
    keep_flash_size: Option<bool>,
    partition_table: Option<PathBuf>,
    partition_table_offset: Option<u32>,
    target_app_partition: Option<String>,
    bootloader: Option<PathBuf>,
    min_chip_rev: Option<u16>,
    max_chip_rev: Option<u16>,
    before: Option<Before>,
    after: Option<After>,
    target: Option<String>,
    /// `Some(None)`: `auto` or `none` (see `stub_auto`).
    stub: Option<Option<PathBuf>>,
    stub_auto: Option<bool>,
    connect_attempts: Option<u32>,
    skip_unchanged: Option<bool>,
    verify: Option<bool>,
    reset_sequence: Option<ResetSequence>,
    hard_reset_sequence: Option<ResetSequence>,
    monitor_exit_key: Option<ControlKey>,
    ignore_app_descriptor: Option<bool>,
}

/// A value as one source holds it: text (flags, variables) or JSON (metadata).
#[derive(Clone, Copy)]
enum Raw<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl Raw<'_> {
    /// The value as shown in messages.
    fn shown(self) -> String {
        match self {
            Raw::Text(text) => format!("{text:?}"),
            Raw::Json(Value::String(text)) => format!("{text:?}"),
            Raw::Json(value) => value.to_string(),
        }
    }
}

/// Where a value came from, for messages.
#[derive(Clone, Copy)]
enum Origin<'a> {
    Flag(Key),
    Env(Key),
    Table {
        key: &'a str,
        manifest: &'a Path,
        scope: &'static str,
    },
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(key) => f.write_str(&key.flag().unwrap_or_else(|| key.name().into())),
            Origin::Env(key) => f.write_str(&key.env_var().unwrap_or_else(|| key.name().into())),
            Origin::Table {
                key,
                manifest,
                scope,
            } => write!(f, "{key} in {}", table_name(manifest, scope)),
        }
    }
}

fn table_name(manifest: &Path, scope: &str) -> String {
    format!("{} [{scope}.metadata.{TABLE}]", manifest.display())
}

fn flag_layer(flags: &FlagValues, problems: &mut Vec<ConfigError>) -> Layer {
    let mut layer = Layer::default();
    let texts: [(Key, Option<&str>); 15] = [
        (Key::Port, flags.port.as_deref()),
        (Key::Baud, flags.baud.as_deref()),
        (Key::MonitorBaud, flags.monitor_baud.as_deref()),
        (Key::FlashMode, flags.flash_mode.as_deref()),
        (Key::FlashFreq, flags.flash_freq.as_deref()),
        (Key::FlashSize, flags.flash_size.as_deref()),
        (
            Key::PartitionTableOffset,
            flags.partition_table_offset.as_deref(),
        ),
        (
            Key::TargetAppPartition,
            flags.target_app_partition.as_deref(),
        ),
        (Key::MinChipRev, flags.min_chip_rev.as_deref()),
        (Key::MaxChipRev, flags.max_chip_rev.as_deref()),
        (Key::Before, flags.before.as_deref()),
        (Key::After, flags.after.as_deref()),
        (Key::Target, flags.target.as_deref()),
        (Key::ConnectAttempts, flags.connect_attempts.as_deref()),
        (Key::MonitorExitKey, flags.monitor_exit_key.as_deref()),
    ];
    for (key, text) in texts {
        if let Some(text) = text {
            note(
                apply(&mut layer, key, Raw::Text(text), Origin::Flag(key), None),
                problems,
            );
        }
    }
    // Paths from flags stay as typed: relative to the current directory, like any command.
    layer.partition_table = flags.partition_table.clone();
    layer.bootloader = flags.bootloader.clone();
    if let Some(stub) = &flags.stub {
        match stub.to_str() {
            // `--stub auto` / `--stub none` are the words, not files of that name.
            Some(word) if ["auto", "none", "rom"].iter().any(|w| is_word(word, w)) => {
                note(
                    apply(
                        &mut layer,
                        Key::Stub,
                        Raw::Text(word),
                        Origin::Flag(Key::Stub),
                        None,
                    ),
                    problems,
                );
            }
            _ => {
                layer.stub = Some(Some(stub.clone()));
                layer.stub_auto = Some(false);
            }
        }
    }
    layer.skip_unchanged = flags.skip_unchanged;
    layer.verify = flags.verify;
    layer.ignore_app_descriptor = flags.ignore_app_descriptor;
    layer
}

/// Keep the problem, if any, and go on.
fn note(result: Result<(), ConfigError>, problems: &mut Vec<ConfigError>) {
    if let Err(problem) = result {
        problems.push(problem);
    }
}

fn env_layer(env: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<ConfigError>) -> Layer {
    let mut layer = Layer::default();
    for key in Key::ALL {
        let Some(var) = key.env_var() else { continue };
        let Some(text) = env(&var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        note(
            apply(&mut layer, key, Raw::Text(&text), Origin::Env(key), None),
            problems,
        );
    }
    layer
}

fn metadata_layer(
    manifest: &Path,
    scope: &'static str,
    metadata: &Value,
    problems: &mut Vec<ConfigError>,
) -> Layer {
    let mut layer = Layer::default();
    let Some(table) = metadata.get(TABLE) else {
        return layer;
    };
    let Value::Object(table) = table else {
        problems.push(ConfigError::NotATable {
            file: table_name(manifest, scope),
            found: table.to_string(),
        });
        return layer;
    };
    let base = manifest.parent().unwrap_or(Path::new(""));
    for (name, value) in table {
        let Some(key) = Key::from_name(name) else {
            problems.push(ConfigError::UnknownKey {
                key: name.clone(),
                file: table_name(manifest, scope),
                suggestion: Key::suggest(name),
            });
            continue;
        };
        let origin = Origin::Table {
            key: name,
            manifest,
            scope,
        };
        if key == Key::Chip {
            note(check_chip(value, manifest, scope, origin), problems);
            continue;
        }
        note(
            apply(&mut layer, key, Raw::Json(value), origin, Some(base)),
            problems,
        );
    }
    layer
}

fn check_chip(
    value: &Value,
    manifest: &Path,
    scope: &'static str,
    origin: Origin<'_>,
) -> Result<(), ConfigError> {
    let Value::String(chip) = value else {
        return Err(bad(Key::Chip, Raw::Json(value), origin));
    };
    let normalized = chip.trim().to_ascii_lowercase().replace(['-', '_'], "");
    if normalized == CHIP {
        Ok(())
    } else {
        Err(ConfigError::WrongChip {
            chip: chip.clone(),
            file: table_name(manifest, scope),
        })
    }
}

fn bad(key: Key, raw: Raw<'_>, origin: Origin<'_>) -> ConfigError {
    ConfigError::BadValue {
        origin: origin.to_string(),
        value: raw.shown(),
        accepted: key.accepted().to_string(),
    }
}

/// Parse one value into its slot in `layer`. `base` is the directory relative paths are joined to
/// (the declaring manifest's directory) or `None` for flags and variables.
fn apply(
    layer: &mut Layer,
    key: Key,
    raw: Raw<'_>,
    origin: Origin<'_>,
    base: Option<&Path>,
) -> Result<(), ConfigError> {
    let fail = || bad(key, raw, origin);
    match key {
        Key::Chip => {}
        Key::Port => layer.port = Some(non_empty_text(raw).ok_or_else(fail)?.to_string()),
        Key::Baud => {
            layer.baud = Some(if raw_is_word(raw, "auto") {
                None
            } else {
                Some(baud_rate(raw).ok_or_else(fail)?)
            });
        }
        Key::MonitorBaud => layer.monitor_baud = Some(baud_rate(raw).ok_or_else(fail)?),
        Key::FlashMode => {
            let text = non_empty_text(raw).ok_or_else(fail)?;
            layer.flash_mode = Some(if is_word(text, "keep") {
                None
            } else {
                Some(FlashMode::parse(text).ok_or_else(fail)?)
            });
        }
        Key::FlashFreq => {
            let text = non_empty_text(raw).ok_or_else(fail)?;
            layer.flash_freq = Some(if is_word(text, "keep") {
                None
            } else {
                Some(FlashFreq::parse(text).ok_or_else(fail)?)
            });
        }
        Key::FlashSize => {
            // `flash-size = 8` in TOML is a number: megabytes, as `--flash-size 8` is.
            let number = match raw {
                Raw::Json(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let text = match &number {
                Some(n) => n.as_str(),
                None => non_empty_text(raw).ok_or_else(fail)?,
            };
            layer.flash_size = Some(if is_word(text, "detect") || is_word(text, "keep") {
                None
            } else {
                Some(FlashSize::parse(text).ok_or_else(fail)?)
            });
            layer.keep_flash_size = Some(is_word(text, "keep"));
        }
        Key::PartitionTable => layer.partition_table = Some(path(raw, base).ok_or_else(fail)?),
        Key::Bootloader => layer.bootloader = Some(path(raw, base).ok_or_else(fail)?),
        Key::Stub => {
            if raw_is_word(raw, "auto") {
                layer.stub = Some(None);
                layer.stub_auto = Some(true);
            } else if raw_is_word(raw, "none") || raw_is_word(raw, "rom") {
                layer.stub = Some(None);
                layer.stub_auto = Some(false);
            } else {
                layer.stub = Some(Some(path(raw, base).ok_or_else(fail)?));
                layer.stub_auto = Some(false);
            }
        }
        Key::PartitionTableOffset => {
            let offset = unsigned(raw)
                .filter(|v| *v >= 0x1000 && v % 0x1000 == 0)
                .ok_or_else(fail)?;
            layer.partition_table_offset = Some(offset);
        }
        Key::TargetAppPartition => {
            layer.target_app_partition = Some(non_empty_text(raw).ok_or_else(fail)?.to_string())
        }
        Key::MinChipRev => layer.min_chip_rev = Some(revision(raw).ok_or_else(fail)?),
        Key::MaxChipRev => layer.max_chip_rev = Some(revision(raw).ok_or_else(fail)?),
        Key::Before => {
            let text = normalized_word(raw).ok_or_else(fail)?;
            let found = Before::NAMES.iter().find(|(name, _)| *name == text);
            layer.before = Some(found.ok_or_else(fail)?.1);
        }
        Key::After => {
            let text = normalized_word(raw).ok_or_else(fail)?;
            let found = After::NAMES.iter().find(|(name, _)| *name == text);
            layer.after = Some(found.ok_or_else(fail)?.1);
        }
        Key::Target => {
            let triple = non_empty_text(raw).ok_or_else(fail)?;
            check_target(triple, &origin.to_string())?;
            layer.target = Some(triple.to_string());
        }
        Key::ConnectAttempts => {
            let attempts = unsigned(raw).ok_or_else(fail)?;
            layer.connect_attempts = Some(attempts);
        }
        Key::SkipUnchanged => layer.skip_unchanged = Some(boolean(raw).ok_or_else(fail)?),
        Key::Verify => layer.verify = Some(boolean(raw).ok_or_else(fail)?),
        Key::MonitorExitKey => {
            let key = text(raw).and_then(ControlKey::parse).ok_or_else(fail)?;
            layer.monitor_exit_key = Some(key);
        }
        Key::IgnoreAppDescriptor => {
            layer.ignore_app_descriptor = Some(boolean(raw).ok_or_else(fail)?);
        }
        Key::ResetSequence | Key::HardResetSequence => {
            let text = non_empty_text(raw).ok_or_else(fail)?;
            let sequence = ResetSequence::parse(text).map_err(|e| ConfigError::BadValue {
                origin: origin.to_string(),
                value: raw.shown(),
                accepted: format!("{}; here {}", key.accepted(), e.problem),
            })?;
            if key == Key::ResetSequence {
                layer.reset_sequence = Some(sequence);
            } else {
                layer.hard_reset_sequence = Some(sequence);
            }
        }
    }
    Ok(())
}

fn text(raw: Raw<'_>) -> Option<&str> {
    match raw {
        Raw::Text(text) => Some(text),
        Raw::Json(Value::String(text)) => Some(text),
        Raw::Json(_) => None,
    }
}

fn non_empty_text(raw: Raw<'_>) -> Option<&str> {
    text(raw).map(str::trim).filter(|t| !t.is_empty())
}

fn is_word(text: &str, word: &str) -> bool {
    text.trim().eq_ignore_ascii_case(word)
}

/// Lowercase, with `_` read as `-` (esptool spells `default_reset`).
fn normalized_word(raw: Raw<'_>) -> Option<String> {
    non_empty_text(raw).map(|t| t.to_ascii_lowercase().replace('_', "-"))
}

fn path(raw: Raw<'_>, base: Option<&Path>) -> Option<PathBuf> {
    let text = non_empty_text(raw)?;
    Some(match base {
        Some(base) => base.join(text),
        None => PathBuf::from(text),
    })
}

/// A non-negative integer that fits in 32 bits: a JSON integer, or text as
/// [`units::parse_number`] reads it (decimal, `0x` hexadecimal, `_` separators, `K`/`M`).
fn unsigned(raw: Raw<'_>) -> Option<u32> {
    if let Raw::Json(Value::Number(number)) = raw {
        return number.as_u64().and_then(|v| u32::try_from(v).ok());
    }
    units::parse_number(non_empty_text(raw)?)
}

/// True when `raw` is the text `word` (any case): `auto`, `none`.
fn raw_is_word(raw: Raw<'_>, word: &str) -> bool {
    non_empty_text(raw).is_some_and(|text| is_word(text, word))
}

/// The baud rates this tool will ask for: [`MIN_BAUD`]..=[`MAX_BAUD`].
fn baud_rate(raw: Raw<'_>) -> Option<u32> {
    unsigned(raw).filter(|v| (MIN_BAUD..=MAX_BAUD).contains(v))
}

/// `"MAJOR.MINOR"` text, or (JSON only) an integer major*100+minor. Floats are refused: TOML's
/// 0.1 and 0.10 are the same number, so they cannot say which minor revision was meant.
fn revision(raw: Raw<'_>) -> Option<u16> {
    if let Raw::Json(Value::Number(number)) = raw {
        return number
            .as_u64()
            .and_then(|v| u16::try_from(v).ok())
            .filter(|v| *v <= 9999);
    }
    let text = non_empty_text(raw)?;
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let (major, minor) = text.split_once('.')?;
    let major: u16 = major.parse().ok().filter(|m| *m <= 99)?;
    let minor: u16 = minor.parse().ok().filter(|m| *m <= 99)?;
    Some(major * 100 + minor)
}

fn boolean(raw: Raw<'_>) -> Option<bool> {
    if let Raw::Json(Value::Bool(value)) = raw {
        return Some(*value);
    }
    if let Raw::Json(_) = raw {
        return None;
    }
    match non_empty_text(raw)?.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_flags_follow_the_key_names() {
        let cases: &[(Key, Option<&str>, Option<&str>)] = &[
            (Key::Chip, None, None),
            (Key::Port, Some("ESP32S3_PORT"), Some("--port")),
            (
                Key::MonitorBaud,
                Some("ESP32S3_MONITOR_BAUD"),
                Some("--monitor-baud"),
            ),
            (
                Key::PartitionTableOffset,
                Some("ESP32S3_PARTITION_TABLE_OFFSET"),
                Some("--partition-table-offset"),
            ),
            (
                Key::SkipUnchanged,
                Some("ESP32S3_SKIP_UNCHANGED"),
                Some("--no-skip"),
            ),
            (Key::Verify, Some("ESP32S3_VERIFY"), Some("--no-verify")),
            (
                Key::MonitorExitKey,
                Some("ESP32S3_MONITOR_EXIT_KEY"),
                Some("--exit-key"),
            ),
        ];
        for &(key, var, flag) in cases {
            assert_eq!(key.env_var().as_deref(), var, "{key:?}");
            assert_eq!(key.flag().as_deref(), flag, "{key:?}");
        }
    }

    #[test]
    fn control_keys() {
        for (text, byte, shown) in [
            ("ctrl+]", 0x1d, "Ctrl+]"),
            ("Ctrl-X", 0x18, "Ctrl+X"),
            ("C-q", 0x11, "Ctrl+Q"),
            ("^T", 0x14, "Ctrl+T"),
            (" control+\\ ", 0x1c, "Ctrl+\\"),
            ("ctrl+@", 0x00, "Ctrl+@"),
            ("CTRL+_", 0x1f, "Ctrl+_"),
        ] {
            let key = ControlKey::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(
                (key.byte(), key.to_string().as_str()),
                (byte, shown),
                "{text}"
            );
            assert_eq!(ControlKey::parse(&key.to_string()), Some(key));
        }
        for text in [
            "]", "ctrl+", "ctrl+ab", "ctrl+m", "ctrl+j", "ctrl+i", "ctrl+h", "ctrl+[", "ctrl+1",
            "alt+x",
        ] {
            assert_eq!(ControlKey::parse(text), None, "{text}");
        }
        assert_eq!(Settings::default().monitor_exit_key.to_string(), "Ctrl+]");
    }

    #[test]
    fn edit_distance_cases() {
        for (a, b, expected) in [
            ("", "", 0),
            ("baud", "baud", 0),
            ("flash_mode", "flash-mode", 1),
            ("bootlaoder", "bootloader", 2),
            ("kitten", "sitting", 3),
            ("", "port", 4),
        ] {
            assert_eq!(edit_distance(a, b), expected, "{a} vs {b}");
        }
    }

    #[test]
    fn suggestions() {
        for (unknown, expected) in [
            ("flash_mode", Some("flash-mode")),
            ("FLASH_SIZE", Some("flash-size")),
            ("bootlaoder", Some("bootloader")),
            ("baudrate", Some("baud")),
            ("partition_table_ofset", Some("partition-table-offset")),
            ("xyz", None),
            ("colour", None),
        ] {
            assert_eq!(Key::suggest(unknown), expected, "{unknown}");
        }
    }

    #[test]
    fn target_chips() {
        for (triple, expected) in [
            ("xtensa-esp32s3-none-elf", Some("ESP32-S3")),
            ("xtensa-esp32s3-espidf", Some("ESP32-S3")),
            ("xtensa-esp32-none-elf", Some("ESP32")),
            ("xtensa-esp32s2-espidf", Some("ESP32-S2")),
            ("riscv32imc-unknown-none-elf", Some("ESP32-C3 or ESP32-C2")),
            (
                "riscv32imac-esp-espidf",
                Some("ESP32-C6, ESP32-H2 or ESP32-C5"),
            ),
            ("riscv32imac-unknown-linux-gnu", None),
            ("x86_64-unknown-linux-gnu", None),
        ] {
            assert_eq!(target_chip(triple), expected, "{triple}");
        }
    }

    #[test]
    fn revisions() {
        for (raw, expected) in [
            (Raw::Text("0.0"), Some(0)),
            (Raw::Text("0.2"), Some(2)),
            (Raw::Text("v1.3"), Some(103)),
            (Raw::Text("0.99"), Some(99)),
            (Raw::Text("0.100"), None),
            (Raw::Text("2"), None),
            (Raw::Text("a.b"), None),
        ] {
            assert_eq!(revision(raw), expected, "{}", raw.shown());
        }
        assert_eq!(revision(Raw::Json(&serde_json::json!(3))), Some(3));
        assert_eq!(revision(Raw::Json(&serde_json::json!(0.3))), None);
    }
}
