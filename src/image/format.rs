//! The ESP32-S3 image format itself: the 8-byte common header, the 16-byte extended header,
//! segments, the XOR checksum and the appended SHA-256, and the flash mode/size/frequency codes.
//!
//! This module encodes and decodes bytes; it decides nothing about layout (see `app.rs`) and knows
//! nothing of files, ports or cargo. Facts: `esp32s3-facts.md` §10.

use sha2::{Digest, Sha256};

use super::error::ImageError;

/// First byte of every ESP image.
pub const IMAGE_MAGIC: u8 = 0xE9;
/// Chip id of the ESP32-S3 in the extended header and in GET_SECURITY_INFO.
pub const ESP32S3_CHIP_ID: u16 = 9;
/// Size of the common header plus the extended header.
pub const HEADER_LEN: usize = 24;
/// Size of a segment header (load address, length).
pub const SEGMENT_HEADER_LEN: usize = 8;
/// Most segments an image may hold.
pub const MAX_SEGMENTS: usize = 16;
/// Seed of the image checksum (and of the serial protocol's data checksum).
pub const CHECKSUM_SEED: u8 = 0xEF;
/// The S3 MMU maps flash in 64 KiB pages.
pub const MMU_PAGE: u32 = 0x10000;
/// `wp_pin` value meaning "no WP pin".
pub const WP_PIN_DISABLED: u8 = 0xEE;
/// Magic word of `esp_app_desc_t`.
pub const APP_DESC_MAGIC: u32 = 0xABCD_5432;
/// Magic byte of `esp_bootloader_desc_t`.
pub const BOOTLOADER_DESC_MAGIC: u8 = 0x50;

/// Name of the chip behind an image chip id, for messages about images built for other chips.
pub fn chip_name(chip_id: u16) -> Option<&'static str> {
    Some(match chip_id {
        0 => "ESP32",
        2 => "ESP32-S2",
        4 => "ESP32-S3(beta2)",
        5 => "ESP32-C3",
        6 => "ESP32-S3(beta3)",
        9 => "ESP32-S3",
        12 => "ESP32-C2",
        13 => "ESP32-C6",
        16 => "ESP32-H2",
        18 => "ESP32-P4",
        20 => "ESP32-C61",
        23 => "ESP32-C5",
        _ => return None,
    })
}

/// SPI flash mode (header byte 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlashMode {
    /// Quad I/O.
    Qio,
    /// Quad output.
    Qout,
    /// Dual I/O.
    Dio,
    /// Dual output.
    Dout,
}

impl FlashMode {
    /// All modes, in code order.
    pub const ALL: [FlashMode; 4] = [
        FlashMode::Qio,
        FlashMode::Qout,
        FlashMode::Dio,
        FlashMode::Dout,
    ];

    /// The header code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The mode for a header code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }

    /// Lowercase name as users type it (`dio`).
    pub fn name(self) -> &'static str {
        match self {
            FlashMode::Qio => "qio",
            FlashMode::Qout => "qout",
            FlashMode::Dio => "dio",
            FlashMode::Dout => "dout",
        }
    }

    /// Parse a user-typed name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// SPI flash clock (low nibble of header byte 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlashFreq {
    /// 20 MHz.
    F20m,
    /// 26 MHz.
    F26m,
    /// 40 MHz (the S3 default).
    F40m,
    /// 80 MHz.
    F80m,
}

impl FlashFreq {
    /// All frequencies.
    pub const ALL: [FlashFreq; 4] = [
        FlashFreq::F20m,
        FlashFreq::F26m,
        FlashFreq::F40m,
        FlashFreq::F80m,
    ];

    /// The header nibble.
    pub fn code(self) -> u8 {
        match self {
            FlashFreq::F40m => 0x0,
            FlashFreq::F26m => 0x1,
            FlashFreq::F20m => 0x2,
            FlashFreq::F80m => 0xF,
        }
    }

    /// The frequency for a header nibble.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }

    /// Name as esptool prints it (`80m`).
    pub fn name(self) -> &'static str {
        match self {
            FlashFreq::F20m => "20m",
            FlashFreq::F26m => "26m",
            FlashFreq::F40m => "40m",
            FlashFreq::F80m => "80m",
        }
    }

    /// Parse `80m`, `80mhz`, `80MHz` or `80`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let digits = s.trim_end_matches("hz").trim_end_matches('m');
        Self::ALL
            .into_iter()
            .find(|f| f.name().trim_end_matches('m') == digits)
    }
}

/// Flash chip size (high nibble of header byte 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlashSize {
    /// 1 MiB.
    S1Mb,
    /// 2 MiB.
    S2Mb,
    /// 4 MiB.
    S4Mb,
    /// 8 MiB.
    S8Mb,
    /// 16 MiB.
    S16Mb,
    /// 32 MiB.
    S32Mb,
    /// 64 MiB.
    S64Mb,
    /// 128 MiB.
    S128Mb,
}

impl FlashSize {
    /// All sizes, in code order.
    pub const ALL: [FlashSize; 8] = [
        FlashSize::S1Mb,
        FlashSize::S2Mb,
        FlashSize::S4Mb,
        FlashSize::S8Mb,
        FlashSize::S16Mb,
        FlashSize::S32Mb,
        FlashSize::S64Mb,
        FlashSize::S128Mb,
    ];

    /// The header nibble (already shifted down: 0..=7).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The size for a header nibble.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }

    /// Size in bytes.
    pub fn bytes(self) -> u32 {
        (1u32 << 20) << (self as u32)
    }

    /// The size with exactly this many bytes.
    pub fn from_bytes(bytes: u64) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| u64::from(s.bytes()) == bytes)
    }

    /// Name as esptool prints it (`4MB`).
    pub fn name(self) -> &'static str {
        match self {
            FlashSize::S1Mb => "1MB",
            FlashSize::S2Mb => "2MB",
            FlashSize::S4Mb => "4MB",
            FlashSize::S8Mb => "8MB",
            FlashSize::S16Mb => "16MB",
            FlashSize::S32Mb => "32MB",
            FlashSize::S64Mb => "64MB",
            FlashSize::S128Mb => "128MB",
        }
    }

    /// Parse `4MB`, `4mb`, `4M` or `4`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let digits = s.trim_end_matches('b').trim_end_matches('m');
        Self::ALL
            .into_iter()
            .find(|f| f.name().trim_end_matches("MB") == digits)
    }
}

/// Flash settings carried in header bytes 2 and 3. `None` means "keep what the image has".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlashParams {
    /// Mode, or keep.
    pub mode: Option<FlashMode>,
    /// Size, or keep.
    pub size: Option<FlashSize>,
    /// Frequency, or keep.
    pub freq: Option<FlashFreq>,
}

impl FlashParams {
    /// True when nothing would change.
    pub fn is_keep(&self) -> bool {
        self.mode.is_none() && self.size.is_none() && self.freq.is_none()
    }

    /// Apply to header bytes 2 and 3, preserving the nibbles that are kept.
    pub fn apply(&self, mode_byte: &mut u8, size_freq_byte: &mut u8) {
        if let Some(mode) = self.mode {
            *mode_byte = mode.code();
        }
        if let Some(size) = self.size {
            *size_freq_byte = (*size_freq_byte & 0x0F) | (size.code() << 4);
        }
        if let Some(freq) = self.freq {
            *size_freq_byte = (*size_freq_byte & 0xF0) | freq.code();
        }
    }
}

/// The 8-byte common header followed by the 16-byte extended header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageHeader {
    /// Number of segments (byte 1).
    pub segment_count: u8,
    /// Raw flash mode byte (byte 2).
    pub flash_mode: u8,
    /// Raw size/frequency byte (byte 3): size code in the high nibble, frequency in the low.
    pub flash_size_freq: u8,
    /// Entry point address.
    pub entry: u32,
    /// WP pin (0xEE = disabled).
    pub wp_pin: u8,
    /// SPI pin drive settings, three bytes of two nibbles each.
    pub spi_pin_drv: [u8; 3],
    /// Chip id (9 for the ESP32-S3).
    pub chip_id: u16,
    /// Legacy minimum chip revision (major only).
    pub min_rev: u8,
    /// Minimum chip revision, major*100+minor.
    pub min_rev_full: u16,
    /// Maximum chip revision, major*100+minor (0xFFFF = no limit).
    pub max_rev_full: u16,
    /// Reserved bytes (zero).
    pub reserved: [u8; 4],
    /// 1 when a SHA-256 digest follows the checksum.
    pub hash_appended: u8,
}

impl Default for ImageHeader {
    fn default() -> Self {
        ImageHeader {
            segment_count: 0,
            flash_mode: FlashMode::Dio.code(),
            flash_size_freq: (FlashSize::S4Mb.code() << 4) | FlashFreq::F40m.code(),
            entry: 0,
            wp_pin: WP_PIN_DISABLED,
            spi_pin_drv: [0; 3],
            chip_id: ESP32S3_CHIP_ID,
            min_rev: 0,
            min_rev_full: 0,
            max_rev_full: 0xFFFF,
            reserved: [0; 4],
            hash_appended: 1,
        }
    }
}

impl ImageHeader {
    /// Encode the 24 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = IMAGE_MAGIC;
        b[1] = self.segment_count;
        b[2] = self.flash_mode;
        b[3] = self.flash_size_freq;
        b[4..8].copy_from_slice(&self.entry.to_le_bytes());
        b[8] = self.wp_pin;
        b[9..12].copy_from_slice(&self.spi_pin_drv);
        b[12..14].copy_from_slice(&self.chip_id.to_le_bytes());
        b[14] = self.min_rev;
        b[15..17].copy_from_slice(&self.min_rev_full.to_le_bytes());
        b[17..19].copy_from_slice(&self.max_rev_full.to_le_bytes());
        b[19..23].copy_from_slice(&self.reserved);
        b[23] = self.hash_appended;
        b
    }

    /// Decode the first 24 bytes of an image. Checks the magic and the length only.
    pub fn decode(bytes: &[u8]) -> Result<Self, ImageError> {
        if bytes.len() < HEADER_LEN {
            return Err(ImageError::Truncated {
                what: "image header".into(),
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        }
        if bytes[0] != IMAGE_MAGIC {
            return Err(ImageError::BadMagic {
                found: bytes[0],
                offset: 0,
            });
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        Ok(ImageHeader {
            segment_count: bytes[1],
            flash_mode: bytes[2],
            flash_size_freq: bytes[3],
            entry: u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            wp_pin: bytes[8],
            spi_pin_drv: [bytes[9], bytes[10], bytes[11]],
            chip_id: u16_at(12),
            min_rev: bytes[14],
            min_rev_full: u16_at(15),
            max_rev_full: u16_at(17),
            reserved: [bytes[19], bytes[20], bytes[21], bytes[22]],
            hash_appended: bytes[23],
        })
    }

    /// The decoded flash mode, if the byte is a known code.
    pub fn mode(&self) -> Option<FlashMode> {
        FlashMode::from_code(self.flash_mode)
    }

    /// The decoded flash size, if the nibble is a known code.
    pub fn size(&self) -> Option<FlashSize> {
        FlashSize::from_code(self.flash_size_freq >> 4)
    }

    /// The decoded flash frequency, if the nibble is a known code.
    pub fn freq(&self) -> Option<FlashFreq> {
        FlashFreq::from_code(self.flash_size_freq & 0x0F)
    }
}

/// One segment: where it loads and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Load address.
    pub addr: u32,
    /// Contents (a multiple of 4 bytes in a well-formed image).
    pub data: Vec<u8>,
}

/// A segment as found in an image file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSegment {
    /// Load address.
    pub addr: u32,
    /// Offset of the segment header in the file.
    pub header_offset: usize,
    /// Offset of the segment data in the file.
    pub data_offset: usize,
    /// Data length.
    pub len: u32,
}

/// An image read from bytes: header, segment table, checksum and digest, all checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedImage {
    /// The headers.
    pub header: ImageHeader,
    /// The segments in file order.
    pub segments: Vec<ParsedSegment>,
    /// The checksum byte stored in the image.
    pub stored_checksum: u8,
    /// The checksum computed over the segment data.
    pub computed_checksum: u8,
    /// Length of the image through the checksum byte (where the digest starts).
    pub data_len: usize,
    /// The appended SHA-256, if the header says there is one.
    pub stored_digest: Option<[u8; 32]>,
    /// SHA-256 of `bytes[..data_len]`.
    pub computed_digest: [u8; 32],
}

impl ParsedImage {
    /// Length of the whole image, digest included.
    pub fn total_len(&self) -> usize {
        self.data_len + if self.stored_digest.is_some() { 32 } else { 0 }
    }

    /// True when the stored checksum matches.
    pub fn checksum_ok(&self) -> bool {
        self.stored_checksum == self.computed_checksum
    }

    /// `Some(true/false)` when a digest is appended, `None` otherwise.
    pub fn digest_ok(&self) -> Option<bool> {
        self.stored_digest.map(|d| d == self.computed_digest)
    }
}

/// Parse an image without judging it: walks the segments, reads the checksum and the digest.
///
/// Fails only when the bytes cannot be an image at all (bad magic, truncated, more than
/// [`MAX_SEGMENTS`] segments). Checksum and digest results are returned for the caller to judge.
pub fn parse_image(bytes: &[u8]) -> Result<ParsedImage, ImageError> {
    let header = ImageHeader::decode(bytes)?;
    let count = header.segment_count as usize;
    if count > MAX_SEGMENTS {
        return Err(ImageError::TooManySegments { count });
    }
    let mut pos = HEADER_LEN;
    let mut segments = Vec::with_capacity(count);
    let mut checksum = CHECKSUM_SEED;
    for index in 0..count {
        let seg_header: Option<&[u8; SEGMENT_HEADER_LEN]> = bytes
            .get(pos..pos + SEGMENT_HEADER_LEN)
            .and_then(|h| h.try_into().ok());
        let Some(h) = seg_header else {
            return Err(ImageError::Truncated {
                what: format!("header of segment {index}"),
                needed: pos + SEGMENT_HEADER_LEN,
                available: bytes.len(),
            });
        };
        let addr = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let data_offset = pos + SEGMENT_HEADER_LEN;
        let end = data_offset
            .checked_add(len as usize)
            .filter(|&e| e <= bytes.len());
        let Some(end) = end else {
            return Err(ImageError::Truncated {
                what: format!("segment {index} (0x{len:x} bytes at 0x{addr:08x})"),
                needed: data_offset.saturating_add(len as usize),
                available: bytes.len(),
            });
        };
        checksum = bytes[data_offset..end].iter().fold(checksum, |c, b| c ^ b);
        segments.push(ParsedSegment {
            addr,
            header_offset: pos,
            data_offset,
            len,
        });
        pos = end;
    }
    // The checksum byte sits at the last byte of the next 16-byte boundary.
    let checksum_pos = pos | 15;
    let Some(&stored_checksum) = bytes.get(checksum_pos) else {
        return Err(ImageError::Truncated {
            what: "checksum byte".into(),
            needed: checksum_pos + 1,
            available: bytes.len(),
        });
    };
    let data_len = checksum_pos + 1;
    let stored_digest = if header.hash_appended == 1 {
        let digest: Option<[u8; 32]> = bytes
            .get(data_len..data_len + 32)
            .and_then(|d| d.try_into().ok());
        let Some(digest) = digest else {
            return Err(ImageError::Truncated {
                what: "appended SHA-256".into(),
                needed: data_len + 32,
                available: bytes.len(),
            });
        };
        Some(digest)
    } else {
        None
    };
    Ok(ParsedImage {
        header,
        segments,
        stored_checksum,
        computed_checksum: checksum,
        data_len,
        stored_digest,
        computed_digest: sha256(&bytes[..data_len]),
    })
}

/// Encode an image from a header and segments: segment headers, data, checksum, optional digest.
///
/// `header.segment_count` is overwritten with the number of segments. Segment data is written as
/// given; callers pad it to 4 bytes.
pub fn encode_image(header: &ImageHeader, segments: &[Segment]) -> Result<Vec<u8>, ImageError> {
    if segments.len() > MAX_SEGMENTS {
        return Err(ImageError::TooManySegments {
            count: segments.len(),
        });
    }
    let mut header = header.clone();
    header.segment_count = segments.len() as u8;
    let mut out = Vec::with_capacity(
        HEADER_LEN
            + segments
                .iter()
                .map(|s| s.data.len() + SEGMENT_HEADER_LEN)
                .sum::<usize>()
            + 48,
    );
    out.extend_from_slice(&header.encode());
    let mut checksum = CHECKSUM_SEED;
    for seg in segments {
        out.extend_from_slice(&seg.addr.to_le_bytes());
        out.extend_from_slice(&(seg.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&seg.data);
        checksum = seg.data.iter().fold(checksum, |c, b| c ^ b);
    }
    // Zero-pad so that the checksum lands on the last byte of a 16-byte line.
    while out.len() % 16 != 15 {
        out.push(0);
    }
    out.push(checksum);
    if header.hash_appended == 1 {
        let digest = sha256(&out);
        out.extend_from_slice(&digest);
    }
    Ok(out)
}

/// SHA-256 of some bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Kind of memory an address belongs to on the ESP32-S3 (esptool's memory map names).
///
/// An address may belong to several kinds (DRAM is also byte accessible internal memory), so
/// this returns every name that applies, in esptool's order.
pub fn memory_kinds(addr: u32) -> Vec<&'static str> {
    const MAP: &[(u32, u32, &str)] = &[
        (0x0000_0000, 0x0001_0000, "PADDING"),
        (0x3C00_0000, 0x3D00_0000, "DROM"),
        (0x3D00_0000, 0x3E00_0000, "EXTRAM_DATA"),
        (0x600F_E000, 0x6010_0000, "RTC_DRAM"),
        (0x3FC8_8000, 0x3FD0_0000, "BYTE_ACCESSIBLE"),
        (0x3FC8_8000, 0x403E_2000, "MEM_INTERNAL"),
        (0x3FC8_8000, 0x3FD0_0000, "DRAM"),
        (0x4000_0000, 0x4006_0000, "IROM_MASK"),
        (0x4037_0000, 0x403E_0000, "IRAM"),
        (0x600F_E000, 0x6010_0000, "RTC_IRAM"),
        (0x4200_0000, 0x4280_0000, "IROM"),
        (0x5000_0000, 0x5000_2000, "RTC_DATA"),
    ];
    MAP.iter()
        .filter(|(lo, hi, _)| (*lo..*hi).contains(&addr))
        .map(|(_, _, n)| *n)
        .collect()
}

/// True when the address is mapped from flash through the MMU (IROM or DROM ranges).
pub fn is_flash_mapped(addr: u32) -> bool {
    (0x4200_0000..0x4400_0000).contains(&addr) || (0x3C00_0000..0x3E00_0000).contains(&addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = ImageHeader {
            segment_count: 3,
            entry: 0x4037_88F0,
            ..Default::default()
        };
        let bytes = h.encode();
        assert_eq!(&bytes[..4], &[0xE9, 3, 2, 0x20]);
        assert_eq!(ImageHeader::decode(&bytes).unwrap(), h);
    }

    #[test]
    fn encode_then_parse_checks_checksum_and_digest() {
        let segs = vec![
            Segment {
                addr: 0x3FC8_8000,
                data: vec![1, 2, 3, 4],
            },
            Segment {
                addr: 0x4037_8000,
                data: vec![0xAA; 8],
            },
        ];
        let img = encode_image(&ImageHeader::default(), &segs).unwrap();
        assert_eq!(img.len() % 16, 0);
        let parsed = parse_image(&img).unwrap();
        assert_eq!(parsed.segments.len(), 2);
        assert!(parsed.checksum_ok());
        assert_eq!(parsed.digest_ok(), Some(true));
        assert_eq!(parsed.total_len(), img.len());
        assert_eq!(parsed.computed_checksum, 0xEF ^ 1 ^ 2 ^ 3 ^ 4);
    }

    #[test]
    fn truncated_segment_is_an_error_not_a_panic() {
        let segs = vec![Segment {
            addr: 0x3FC8_8000,
            data: vec![0; 64],
        }];
        let img = encode_image(&ImageHeader::default(), &segs).unwrap();
        for cut in 0..img.len() {
            assert!(parse_image(&img[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn flash_params_keep_unset_nibbles() {
        let (mut mode, mut sf) = (2u8, 0x1Fu8);
        FlashParams {
            size: Some(FlashSize::S4Mb),
            ..Default::default()
        }
        .apply(&mut mode, &mut sf);
        assert_eq!((mode, sf), (2, 0x2F));
        FlashParams {
            mode: Some(FlashMode::Qio),
            freq: Some(FlashFreq::F40m),
            size: None,
        }
        .apply(&mut mode, &mut sf);
        assert_eq!((mode, sf), (0, 0x20));
    }

    #[test]
    fn names_parse() {
        assert_eq!(FlashSize::parse("16mb"), Some(FlashSize::S16Mb));
        assert_eq!(FlashSize::parse("4MB"), Some(FlashSize::S4Mb));
        assert_eq!(FlashFreq::parse("80mhz"), Some(FlashFreq::F80m));
        assert_eq!(FlashFreq::parse("40m"), Some(FlashFreq::F40m));
        assert_eq!(FlashMode::parse("DIO"), Some(FlashMode::Dio));
        assert_eq!(FlashSize::S16Mb.bytes(), 16 << 20);
    }
}
