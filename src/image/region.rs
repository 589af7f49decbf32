//! Bytes to be written at a flash offset, and what they are: the unit that `merge.rs` lays out,
//! `info.rs` finds in a prebuilt file, and the flasher writes.
//!
//! A plain value type at the bottom of `image/`; it knows nothing of how regions are made,
//! merged or written.

/// What a region of a merged image holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionKind {
    /// The 2nd-stage bootloader image at 0x0.
    Bootloader,
    /// The binary partition table.
    PartitionTable,
    /// An app image in an app partition.
    App,
    /// Anything else (raw data for a data partition, an unknown file).
    Data,
}

/// Bytes to be written at a flash offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Flash offset of the first byte.
    pub offset: u32,
    /// The bytes.
    pub data: Vec<u8>,
    /// What they are.
    pub kind: RegionKind,
    /// A short label for messages (`bootloader`, `partition table`, `factory`).
    pub label: String,
}

impl Region {
    /// First flash byte after the region.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + self.data.len() as u64
    }
}
