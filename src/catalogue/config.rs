//! `ES01xx`: the codes of [`ConfigError`] (flags, `ESP32S3_*` variables and the metadata
//! tables). It must not know how settings are merged: its examples are values.

use crate::config::{ConfigError, Key};

catalogue! {
    /// The code of a configuration error.
    pub(super) fn code(&ConfigError);
    /// `ES01xx`: configuration.
    pub(super) const ENTRIES;
    wrappers {
        // Every problem is reported in one run; the message carries the first one's code (a
        // list is never built empty, `ConfigError::of_all` makes sure).
        ConfigError::Several { problems } => problems.first().map_or(super::Code("ES0102"), code),
    }
    ConfigError::UnknownKey { .. } => ES0101 {
        example: ConfigError::UnknownKey {
            key: "baudrate".into(),
            file: "Cargo.toml [package.metadata.esp32s3]".into(),
            suggestion: Some("baud"),
        },
        cause: "The metadata table has a key this tool does not know: a typo, or a key of another tool (espflash's `[package.metadata.espflash]` keys differ).",
        fix: "Use the key the message suggests, or one of the keys it lists (the README's Configuration section says what each does).",
    },
    ConfigError::BadValue { .. } => ES0102 {
        example: ConfigError::BadValue {
            origin: "ESP32S3_BAUD".into(),
            value: "\"fast\"".into(),
            accepted: Key::Baud.accepted().into(),
        },
        cause: "A flag, variable or key has a value that does not parse or is out of range; the message names where it came from.",
        fix: "Write a value the message accepts, where the message says the wrong one is.",
    },
    ConfigError::NotATable { .. } => ES0103 {
        example: ConfigError::NotATable {
            file: "Cargo.toml [package.metadata.esp32s3]".into(),
            found: "\"/dev/ttyUSB0\"".into(),
        },
        cause: "`package.metadata.esp32s3` (or the workspace's) is a value, not a table: written as `esp32s3 = \"...\"`.",
        fix: "Write a table: a `[package.metadata.esp32s3]` header with `key = value` lines below it.",
    },
    ConfigError::WrongChip { .. } => ES0104 {
        example: ConfigError::WrongChip {
            chip: "esp32c3".into(),
            file: "Cargo.toml [package.metadata.esp32s3]".into(),
        },
        cause: "`chip` names another chip: the table was copied from another project.",
        fix: "Set `chip = \"esp32s3\"` or remove the key; use espflash for other chips.",
    },
    ConfigError::WrongTarget { .. } => ES0105 {
        example: ConfigError::WrongTarget {
            triple: "riscv32imc-unknown-none-elf".into(),
            origin: ".cargo/config.toml [build] target".into(),
            chip: "ESP32-C3",
        },
        cause: "The target triple builds for another chip: a project set up for another ESP32 variant.",
        fix: "Use xtensa-esp32s3-none-elf (no_std) or xtensa-esp32s3-espidf (std); `cargo esp32s3 init` writes it.",
    },
    ConfigError::RevisionRange { .. } => ES0106 {
        example: ConfigError::RevisionRange { min: 2, max: 1 },
        cause: "`min-chip-rev` is above `max-chip-rev`, so no chip would do.",
        fix: "Lower `min-chip-rev` or raise `max-chip-rev`.",
    },
}
