//! `ES15xx`: the codes of [`SymbolsError`] (the firmware ELF used to decode code addresses). It
//! must not know how addresses are decoded.

use std::path::PathBuf;

use crate::symbols::SymbolsError;

catalogue! {
    /// The code of a symbols error.
    pub(super) fn code(&SymbolsError);
    /// `ES15xx`: symbols.
    pub(super) const ENTRIES;
    wrappers {}
    SymbolsError::Read { .. } => ES1501 {
        example: SymbolsError::Read {
            path: PathBuf::from("target/xtensa-esp32s3-none-elf/release/blinky"),
            source: std::io::ErrorKind::NotFound.into(),
        },
        cause: "The ELF given with --elf cannot be read: a wrong path, or a build that has not run yet.",
        fix: "Check the path given with --elf, or build first.",
    },
    SymbolsError::NotElf { .. } => ES1502 {
        example: SymbolsError::NotElf {
            what: "firmware.bin".into(),
            detail: "Could not read file magic".into(),
        },
        cause: "The file given to decode addresses is not an ELF: usually the `.bin` image instead of the ELF it was made from.",
        fix: "Give the firmware ELF (`target/xtensa-esp32s3-*/<profile>/NAME`), not a .bin.",
    },
    SymbolsError::BadDwarf { .. } => ES1503 {
        example: SymbolsError::BadDwarf {
            what: "blinky".into(),
            detail: "invalid abbreviation code".into(),
        },
        cause: "The ELF's debug information is malformed: a damaged file, or one rewritten by a tool that broke it.",
        fix: "Rebuild the firmware.",
    },
}
