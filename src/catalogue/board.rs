//! `ES11xx`: the codes of [`BoardError`] (operations a board refuses before touching the
//! flash). It must not know how the board works.

use crate::board::BoardError;

catalogue! {
    /// The code of a board error.
    pub(super) fn code(&BoardError);
    /// `ES11xx`: the board.
    pub(super) const ENTRIES;
    wrappers {}
    BoardError::UnreadableTable { .. } => ES1101 {
        example: BoardError::UnreadableTable {
            offset: 0x8000,
            problem: "the MD5 entry does not match the entries before it".into(),
        },
        cause: "A partition was named (to erase it) but the flash at the table offset is not a valid partition table: a damaged table, or a table at another offset.",
        fix: "Erase by address with --region OFFSET SIZE, or give --partition-table-offset.",
    },
    BoardError::NoTable { .. } => ES1102 {
        example: BoardError::NoTable { offset: 0x8000 },
        cause: "A partition was named but the chip has no partition table (the flash there is erased).",
        fix: "Erase by address with --region OFFSET SIZE.",
    },
    BoardError::BadAddress { .. } => ES1103 {
        example: BoardError::BadAddress {
            addr: 0x2000_0000,
            why: "not mapped on the ESP32-S3 (the ROM would crash reading it)",
        },
        cause: "`read-mem` or `write-mem` got an address the chip does not map (the ROM would crash reading it), or one that is not word-aligned.",
        fix: "Use a word-aligned address of the ROM, SRAM, RTC memory or the peripheral registers.",
    },
    BoardError::NoSuchPartition { .. } => ES1104 {
        example: BoardError::NoSuchPartition {
            name: "storage".into(),
            names: vec!["nvs".into(), "phy_init".into(), "factory".into()],
        },
        cause: "The chip's partition table has no partition by that name.",
        fix: "Use one of the names the message lists.",
    },
    BoardError::PortGone { .. } => ES1105 {
        example: BoardError::PortGone {
            port: "/dev/ttyACM0 (serial number 7C:DF:A1:00:00:01)".into(),
            waited_secs: 20,
            verified: vec!["bootloader (0x5000 bytes at 0x0)".into()],
            unverified: vec!["app (0x1f000 bytes at 0x10000)".into()],
        },
        cause: "The board's serial device disappeared in the middle of a write (the USB cable was pulled, the hub lost power, the device re-enumerated) and was not back at its path, nor under another path with the same USB serial number, within the wait.",
        fix: "Plug the board in again and run the same command: the regions the message names as verified are skipped, the rest is written.",
    },
}
