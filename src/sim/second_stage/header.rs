//! The image header and segment facts the second stage reads (facts §10), parsed with this
//! folder's own code (never `crate::image`'s): the 24-byte header, segment limits, the header's
//! flash size, speed and mode as the boot log names them, and which addresses are mapped from
//! flash or loaded into RAM. Knows nothing of partitions or of the log.

use super::{le_u16, le_u32};

/// First byte of an image.
pub(super) const IMAGE_MAGIC: u8 = 0xE9;
/// Image header length (common and extended parts).
pub(super) const HEADER_LEN: u32 = 24;
/// Most segments an image may have.
pub(super) const MAX_SEGMENTS: u8 = 16;
/// Segment lengths must stay below this.
pub(super) const SIXTEEN_MB: u32 = 0x100_0000;

/// One segment of an image: where its data is in flash, where it goes, how long it is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub(super) data_at: u32,
    pub(super) addr: u32,
    pub(super) len: u32,
}

/// The header fields the second stage reads (facts §10).
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub(super) segment_count: u8,
    pub(super) flash_mode: u8,
    pub(super) flash_size_freq: u8,
    pub(super) entry: u32,
    pub(super) chip_id: u16,
    pub(super) min_rev_full: u16,
    pub(super) max_rev_full: u16,
    pub(super) hash_appended: bool,
}

impl Header {
    pub(super) fn parse(bytes: &[u8]) -> Option<Self> {
        (bytes.len() >= HEADER_LEN as usize).then(|| Header {
            segment_count: bytes[1],
            flash_mode: bytes[2],
            flash_size_freq: bytes[3],
            entry: le_u32(bytes, 4),
            chip_id: le_u16(bytes, 12),
            min_rev_full: le_u16(bytes, 15),
            max_rev_full: le_u16(bytes, 17),
            hash_appended: bytes[23] == 1,
        })
    }
}

/// The header's flash size in bytes (S3 size nibble: 1 MB << n).
pub(super) fn flash_size_bytes(size_freq: u8) -> u32 {
    match size_freq >> 4 {
        n @ 0..=7 => (1024 * 1024) << n,
        _ => 2 * 1024 * 1024,
    }
}

pub(super) fn spi_speed(size_freq: u8) -> &'static str {
    match size_freq & 0x0F {
        0x0 => "40MHz",
        0x1 => "26.7MHz",
        0x2 => "20MHz",
        0xF => "80MHz",
        _ => "20MHz",
    }
}

pub(super) fn spi_mode(mode: u8) -> &'static str {
    match mode {
        0 => "QIO",
        1 => "QOUT",
        2 => "DIO",
        3 => "DOUT",
        4 => "FAST READ",
        _ => "SLOW READ",
    }
}

/// Flash-mapped address ranges (IROM and DROM).
pub(super) fn is_mapped(addr: u32) -> bool {
    (0x4200_0000..0x4400_0000).contains(&addr) || (0x3C00_0000..0x3E00_0000).contains(&addr)
}

/// RAM the bootloader copies segments into (internal SRAM through the data and instruction
/// buses, RTC fast and slow memory).
pub(super) fn is_loaded(addr: u32) -> bool {
    (0x3FC8_8000..0x3FD0_0000).contains(&addr)
        || (0x4037_0000..0x403E_0000).contains(&addr)
        || (0x600F_E000..0x6010_0000).contains(&addr)
        || (0x5000_0000..0x5000_2000).contains(&addr)
}
