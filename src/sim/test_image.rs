//! A tiny ESP32-S3 image writer for the simulator's own unit tests, written from the format facts
//! (esp32s3-facts.md §10) and apart from `crate::image`: the simulator checks images with its own
//! parser, so its tests build them with their own writer too, and a mistake in the host's writer
//! cannot be cancelled out by the same mistake here.
//!
//! Only what the tests need: the 24-byte header, segments, the 0xEF-seeded XOR checksum on the
//! last byte of a 16-byte line, and the optional appended SHA-256. Test code only.

use sha2::{Digest as _, Sha256};

/// The header fields the tests vary; the others are what `elf2image` writes for an ESP32-S3
/// (SPI pins not remapped, WP pin 0xEE, reserved bytes zero).
#[derive(Debug, Clone)]
pub(crate) struct TestHeader {
    /// Entry point.
    pub entry: u32,
    /// SPI mode (0 QIO, 1 QOUT, 2 DIO, 3 DOUT).
    pub flash_mode: u8,
    /// Flash size (high nibble) and frequency (low nibble).
    pub flash_size_freq: u8,
    /// Chip id (9 for the ESP32-S3).
    pub chip_id: u16,
    /// Lowest chip revision, major × 100 + minor.
    pub min_rev_full: u16,
    /// Highest chip revision, major × 100 + minor.
    pub max_rev_full: u16,
    /// Whether a SHA-256 digest follows the checksum.
    pub hash_appended: bool,
}

impl Default for TestHeader {
    /// DIO, 4 MB at 40 MHz, chip id 9, any revision, digest appended.
    fn default() -> Self {
        TestHeader {
            entry: 0,
            flash_mode: 2,
            flash_size_freq: 0x20,
            chip_id: 9,
            min_rev_full: 0,
            max_rev_full: 0xFFFF,
            hash_appended: true,
        }
    }
}

/// The image of `segments` (`(load address, data)`, data already padded as the test wants it).
pub(crate) fn image(header: &TestHeader, segments: &[(u32, &[u8])]) -> Vec<u8> {
    let count = u8::try_from(segments.len()).expect("a test image has few segments");
    let mut out = vec![0xE9, count, header.flash_mode, header.flash_size_freq];
    out.extend(header.entry.to_le_bytes());
    // WP pin disabled, three SPI drive bytes.
    out.extend([0xEE, 0, 0, 0]);
    out.extend(header.chip_id.to_le_bytes());
    // The legacy one-byte minimum revision.
    out.push(0);
    out.extend(header.min_rev_full.to_le_bytes());
    out.extend(header.max_rev_full.to_le_bytes());
    out.extend([0; 4]);
    out.push(u8::from(header.hash_appended));
    assert_eq!(out.len(), 24, "the header is 24 bytes");

    let mut checksum = 0xEFu8;
    for (addr, data) in segments {
        out.extend(addr.to_le_bytes());
        out.extend(
            u32::try_from(data.len())
                .expect("small segment")
                .to_le_bytes(),
        );
        out.extend_from_slice(data);
        checksum = data.iter().fold(checksum, |sum, byte| sum ^ byte);
    }
    let with_checksum = (out.len() + 1).next_multiple_of(16);
    out.resize(with_checksum - 1, 0);
    out.push(checksum);
    if header.hash_appended {
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_the_format() {
        let data = [1u8, 2, 3, 4];
        let plain = image(
            &TestHeader {
                hash_appended: false,
                entry: 0x4037_0000,
                ..TestHeader::default()
            },
            &[(0x3FC9_0000, &data)],
        );
        // 24 header + 8 segment header + 4 data = 36, checksum at 47.
        assert_eq!(plain.len(), 48);
        assert_eq!(plain[..4], [0xE9, 1, 2, 0x20]);
        assert_eq!(plain[4..8], 0x4037_0000u32.to_le_bytes());
        assert_eq!(plain[12..14], [9, 0]);
        assert_eq!(plain[17..19], [0xFF, 0xFF]);
        assert_eq!(plain[23], 0);
        assert_eq!(plain[47], 0xEF ^ 1 ^ 2 ^ 3 ^ 4);
        let hashed = image(&TestHeader::default(), &[(0x3FC9_0000, &data)]);
        assert_eq!(hashed.len(), 48 + 32);
        assert_eq!(hashed[23], 1);
        assert_eq!(hashed[48..], Sha256::digest(&hashed[..48])[..]);
    }
}
