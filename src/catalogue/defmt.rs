//! `ES14xx`: the codes of [`DefmtError`] (decoding defmt frames with the firmware ELF's table).
//! It must not know how defmt is decoded. Its examples come as the monitor reports them
//! (`MonitorError::Defmt`), the one way they reach the user.

use crate::monitor::MonitorError;
use crate::monitor::defmt::DefmtError;

catalogue! {
    /// The code of a defmt error.
    pub(super) fn code(&DefmtError);
    /// `ES14xx`: defmt.
    pub(super) const ENTRIES;
    wrappers {}
    DefmtError::NotElf { .. } => ES1401 {
        example: MonitorError::Defmt(DefmtError::NotElf {
            detail: "Could not read file magic".into(),
        }),
        cause: "The file given to decode defmt is not an ELF: a `.bin` image, or another file.",
        fix: "Give the firmware's ELF with --elf (`target/xtensa-esp32s3-none-elf/<profile>/NAME`).",
    },
    DefmtError::NoTable => ES1402 {
        example: MonitorError::Defmt(DefmtError::NoTable),
        cause: "The ELF has no .defmt section: the firmware does not use defmt, or the ELF is of another build.",
        fix: "Give the ELF of the firmware that uses defmt with --elf, or use --log-format plain.",
    },
    DefmtError::Table { .. } => ES1403 {
        example: MonitorError::Defmt(DefmtError::Table { detail: "defmt version mismatch".into() }),
        cause: "The .defmt table cannot be read: a defmt version this decoder does not know, or a damaged ELF.",
        fix: "Rebuild the firmware (with defmt 1.x), or use --log-format plain.",
    },
    DefmtError::Encoding { .. } => ES1404 {
        example: MonitorError::Defmt(DefmtError::Encoding { encoding: "raw".into() }),
        cause: "The firmware's defmt encoding cannot share the console with text (raw frames have no boundaries).",
        fix: "Use esp-println's `defmt-espflash` feature, which frames defmt with rzCOBS.",
    },
    DefmtError::OutputFormat { .. } => ES1405 {
        example: MonitorError::Defmt(DefmtError::OutputFormat {
            format: "{t} {z}".into(),
            problem: "unknown placeholder {z}".into(),
        }),
        cause: "--output-format is not a defmt log format.",
        fix: "Use oneline, full, or a format such as \"{t} [{L}] {s}\".",
    },
}
