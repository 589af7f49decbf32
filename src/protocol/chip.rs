//! Pure decoding of what the chip reports about itself: eFuse words → [`ChipInfo`], the RDID
//! answer → [`FlashId`] and its size, and the GET_SECURITY_INFO payload → [`SecurityInfo`].
//!
//! The loader reads the registers named here and hands the words over; nothing here talks to a
//! chip. Facts: `esp32s3-facts.md` §4 (eFuse layout), §5 (flash size table), §2 (security info).

use crate::image::FlashSize;

/// Register holding the chip magic on older ROMs (9 on the ESP32-S3).
pub const CHIP_DETECT_MAGIC_REG: u32 = 0x4000_1000;
/// eFuse BLOCK1 (MAC, revision, package) base address.
pub const EFUSE_BLOCK1: u32 = 0x6000_7044;
/// eFuse BLOCK2 base address.
pub const EFUSE_BLOCK2: u32 = 0x6000_705C;
/// EFUSE_RD_REPEAT_DATA3 (bit 9: octal flash).
pub const EFUSE_RD_REPEAT_DATA3: u32 = 0x6000_703C;

/// The eFuse words [`decode_chip_info`] needs, read from the registers named on each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EfuseWords {
    /// BLOCK1 word 0 (`0x60007044`): MAC bytes 2..5.
    pub mac0: u32,
    /// BLOCK1 word 1 (`0x60007048`): MAC bytes 0..1 in the low 16 bits.
    pub mac1: u32,
    /// BLOCK1 word 3 (`0x60007050`): package, minor revision low bits, block minor, flash cap.
    pub word3: u32,
    /// BLOCK1 word 4 (`0x60007054`): flash vendor, PSRAM cap low bits, PSRAM vendor.
    pub word4: u32,
    /// BLOCK1 word 5 (`0x60007058`): PSRAM cap high bit, minor revision high bit, major.
    pub word5: u32,
    /// BLOCK2 word 4 (`0x6000706C`): block version major.
    pub blk2_word4: u32,
    /// `0x6000703C`: flash type.
    pub rd_repeat3: u32,
}

impl EfuseWords {
    /// The register address of each field, in field order (mac0, mac1, word3, word4, word5,
    /// blk2_word4, rd_repeat3).
    pub const ADDRESSES: [u32; 7] = [
        EFUSE_BLOCK1,
        EFUSE_BLOCK1 + 4,
        EFUSE_BLOCK1 + 12,
        EFUSE_BLOCK1 + 16,
        EFUSE_BLOCK1 + 20,
        EFUSE_BLOCK2 + 16,
        EFUSE_RD_REPEAT_DATA3,
    ];

    /// Build from words read at [`EfuseWords::ADDRESSES`], in that order.
    pub fn from_words(w: [u32; 7]) -> Self {
        EfuseWords {
            mac0: w[0],
            mac1: w[1],
            word3: w[2],
            word4: w[3],
            word5: w[4],
            blk2_word4: w[5],
            rd_repeat3: w[6],
        }
    }
}

/// Chip revision, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChipRevision {
    /// Major revision.
    pub major: u8,
    /// Minor revision.
    pub minor: u8,
}

impl ChipRevision {
    /// The revision as one number, `major*100 + minor` (image headers use this form).
    pub fn full(self) -> u16 {
        u16::from(self.major) * 100 + u16::from(self.minor)
    }
}

impl std::fmt::Display for ChipRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

/// What the eFuses say about the chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipInfo {
    /// `ESP32-S3 (QFN56) (revision v0.2)`.
    pub description: String,
    /// Package name, `ESP32-S3 (QFN56)`.
    pub package: String,
    /// Chip revision (eco0 workaround applied).
    pub revision: ChipRevision,
    /// Features, e.g. `Wi-Fi`, `BT 5 (LE)`, `Dual Core + LP Core`, `240MHz`,
    /// `Embedded PSRAM 8MB (AP_3v3)`.
    pub features: Vec<String>,
    /// Crystal frequency in MHz (always 40 on the S3).
    pub crystal_mhz: u32,
    /// Factory MAC address.
    pub mac: [u8; 6],
    /// True when the eFuses say the flash is octal.
    pub octal_flash: bool,
}

impl ChipInfo {
    /// The MAC as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

fn bits(word: u32, low: u32, count: u32) -> u32 {
    (word >> low) & ((1 << count) - 1)
}

/// The chip revision, with the "eco0" workaround: on v0.0 chips with block version 1.1 the
/// major field was used for something else, so report v0.0.
pub fn decode_revision(w: &EfuseWords) -> ChipRevision {
    let minor_raw = (bits(w.word5, 23, 1) << 3) | bits(w.word3, 18, 3);
    let blk_minor = bits(w.word3, 24, 3);
    let blk_major = bits(w.blk2_word4, 0, 2);
    if minor_raw & 7 == 0 && blk_major == 1 && blk_minor == 1 {
        return ChipRevision { major: 0, minor: 0 };
    }
    // Both fields are at most 4 bits wide, so they fit in a u8.
    ChipRevision {
        major: bits(w.word5, 24, 2) as u8,
        minor: minor_raw as u8,
    }
}

/// Decode the eFuse words into a [`ChipInfo`].
pub fn decode_chip_info(w: &EfuseWords) -> ChipInfo {
    let revision = decode_revision(w);
    let package = match bits(w.word3, 21, 3) {
        0 => "ESP32-S3 (QFN56)",
        1 => "ESP32-S3-PICO-1 (LGA56)",
        _ => "Unknown ESP32-S3",
    }
    .to_string();
    let mut features: Vec<String> = ["Wi-Fi", "BT 5 (LE)", "Dual Core + LP Core", "240MHz"]
        .into_iter()
        .map(String::from)
        .collect();
    let flash_vendor = match bits(w.word4, 0, 3) {
        1 => "XMC",
        2 => "GD",
        3 => "FM",
        4 => "TT",
        5 => "BY",
        _ => "unknown vendor",
    };
    match bits(w.word3, 27, 3) {
        1 => features.push(format!("Embedded Flash 8MB ({flash_vendor})")),
        2 => features.push(format!("Embedded Flash 4MB ({flash_vendor})")),
        _ => {}
    }
    let psram_vendor = match bits(w.word4, 7, 2) {
        1 => "AP_3v3",
        2 => "AP_1v8",
        _ => "unknown vendor",
    };
    let psram_cap = (bits(w.word5, 19, 1) << 2) | bits(w.word4, 3, 2);
    let psram_size = match psram_cap {
        1 => Some("8MB"),
        2 => Some("2MB"),
        3 => Some("16MB"),
        4 => Some("4MB"),
        _ => None,
    };
    if let Some(size) = psram_size {
        features.push(format!("Embedded PSRAM {size} ({psram_vendor})"));
    }
    let mac1 = (w.mac1 & 0xFFFF).to_be_bytes();
    let mac0 = w.mac0.to_be_bytes();
    ChipInfo {
        description: format!("{package} (revision {revision})"),
        package,
        revision,
        features,
        crystal_mhz: 40,
        mac: [mac1[2], mac1[3], mac0[0], mac0[1], mac0[2], mac0[3]],
        octal_flash: bits(w.rd_repeat3, 9, 1) == 1,
    }
}

/// The JEDEC ID read from the flash chip (RDID, 0x9F).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashId {
    /// The 24 bits as read (first byte in bits 7:0).
    pub raw: u32,
    /// Manufacturer byte (0xC8 GigaDevice, 0xEF Winbond, 0x20 XMC, …).
    pub manufacturer: u8,
    /// Device id: memory type in the high byte, capacity in the low byte.
    pub device: u16,
    /// Size in bytes implied by the capacity byte, when it is a known code.
    pub size: Option<u32>,
}

impl FlashId {
    /// Decode the 24 bits RDID returned.
    pub fn from_raw(raw: u32) -> Self {
        let raw = raw & 0x00FF_FFFF;
        let [manufacturer, memory_type, capacity, _] = raw.to_le_bytes();
        FlashId {
            raw,
            manufacturer,
            device: u16::from_be_bytes([memory_type, capacity]),
            size: flash_size_from_id(raw),
        }
    }

    /// The implied size as a header flash size, when there is one.
    pub fn flash_size(&self) -> Option<FlashSize> {
        self.size.and_then(|s| FlashSize::from_bytes(u64::from(s)))
    }

    /// True when the answer looks like no flash chip at all (lines stuck high or low).
    pub fn looks_absent(&self) -> bool {
        matches!(self.raw, 0xFF_FFFF | 0x00_0000 | 0xFF_FF3F)
    }
}

/// The flash size a JEDEC ID implies (the capacity byte; Adesto encodes it differently).
pub fn flash_size_from_id(raw: u32) -> Option<u32> {
    const K: u32 = 1024;
    const M: u32 = 1024 * 1024;
    if raw & 0xFF == 0x1F {
        return match (raw >> 8) & 0x1F {
            0x04 => Some(512 * K),
            0x05 => Some(M),
            0x06 => Some(2 * M),
            0x07 => Some(4 * M),
            0x08 => Some(8 * M),
            0x09 => Some(16 * M),
            _ => None,
        };
    }
    match (raw >> 16) & 0xFF {
        0x12 | 0x32 => Some(256 * K),
        0x13 | 0x33 => Some(512 * K),
        0x14 | 0x34 => Some(M),
        0x15 | 0x35 => Some(2 * M),
        0x16 | 0x36 => Some(4 * M),
        0x17 | 0x37 => Some(8 * M),
        0x18 | 0x38 => Some(16 * M),
        0x19 | 0x39 => Some(32 * M),
        0x1A | 0x20 | 0x3A => Some(64 * M),
        0x1B | 0x21 => Some(128 * M),
        0x1C | 0x22 => Some(256 * M),
        _ => None,
    }
}

/// GET_SECURITY_INFO, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityInfo {
    /// Flag word (bit 0 secure boot, bit 2 secure download mode, …).
    pub flags: u32,
    /// SPI_BOOT_CRYPT_CNT (odd number of set bits = flash encryption on).
    pub flash_crypt_cnt: u8,
    /// Key purposes of the eFuse key blocks.
    pub key_purposes: [u8; 7],
    /// Chip id (9 on the ESP32-S3); absent in the older 12-byte format.
    pub chip_id: Option<u32>,
    /// ROM API version; absent in the older 12-byte format.
    pub api_version: Option<u32>,
}

/// Names of the security flag bits, lowest first.
pub const SECURITY_FLAG_NAMES: [&str; 11] = [
    "SECURE_BOOT_EN",
    "SECURE_BOOT_AGGRESSIVE_REVOKE",
    "SECURE_DOWNLOAD_ENABLE",
    "SECURE_BOOT_KEY_REVOKE0",
    "SECURE_BOOT_KEY_REVOKE1",
    "SECURE_BOOT_KEY_REVOKE2",
    "SOFT_DIS_JTAG",
    "HARD_DIS_JTAG",
    "DIS_USB",
    "DIS_DOWNLOAD_DCACHE",
    "DIS_DOWNLOAD_ICACHE",
];

impl SecurityInfo {
    /// Payload length of the S3 format.
    pub const LEN: usize = 20;
    /// Payload length of the older (ESP32-S2) format.
    pub const SHORT_LEN: usize = 12;

    /// Decode a 20-byte (or the older 12-byte) payload; `None` for any other length.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        if payload.len() != Self::LEN && payload.len() != Self::SHORT_LEN {
            return None;
        }
        let word = |at: usize| {
            payload
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let mut key_purposes = [0u8; 7];
        key_purposes.copy_from_slice(payload.get(5..12)?);
        Some(SecurityInfo {
            flags: word(0)?,
            flash_crypt_cnt: *payload.get(4)?,
            key_purposes,
            chip_id: word(12),
            api_version: word(16),
        })
    }

    /// Secure boot is enabled.
    pub fn secure_boot(&self) -> bool {
        self.flags & 1 != 0
    }

    /// The ROM is in Secure Download Mode.
    pub fn secure_download_mode(&self) -> bool {
        self.flags & (1 << 2) != 0
    }

    /// Flash encryption is enabled (odd number of bits set in the crypt counter).
    pub fn flash_encryption(&self) -> bool {
        self.flash_crypt_cnt.count_ones() % 2 == 1
    }

    /// Names of the flags that are set.
    pub fn flag_names(&self) -> Vec<&'static str> {
        SECURITY_FLAG_NAMES
            .iter()
            .enumerate()
            .filter(|(bit, _)| self.flags & (1 << bit) != 0)
            .map(|(_, name)| *name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::test_hex as hex;

    #[test]
    fn chip_info_from_efuse_words() {
        let check = |w: EfuseWords, description: &str, features: &[&str], mac: &str| {
            let info = decode_chip_info(&w);
            assert_eq!(info.description, description);
            let extra: Vec<&str> = info.features.iter().skip(4).map(String::as_str).collect();
            assert_eq!(extra, features);
            assert_eq!(info.mac_string(), mac);
            assert_eq!(info.crystal_mhz, 40);
        };
        // The emulator's default eFuses (rom-transcripts README): word3 = 0x000C0000 → v0.3.
        check(
            EfuseWords {
                word3: 0x000C_0000,
                ..Default::default()
            },
            "ESP32-S3 (QFN56) (revision v0.3)",
            &[],
            "00:00:00:00:00:00",
        );
        // MAC d8:3b:da:6f:fe:b0, v0.2, PSRAM cap 1 with vendor AP_3v3 (esptool#1079's chip).
        check(
            EfuseWords {
                mac0: 0xda6f_feb0,
                mac1: 0x1234_d83b,
                word3: 2 << 18,
                word4: (1 << 3) | (1 << 7),
                ..Default::default()
            },
            "ESP32-S3 (QFN56) (revision v0.2)",
            &["Embedded PSRAM 8MB (AP_3v3)"],
            "d8:3b:da:6f:fe:b0",
        );
        // PICO package, v1.1 (minor high bit set: minor 8|1 = 9? no: hi bit → 8), embedded flash.
        check(
            EfuseWords {
                word3: (1 << 21) | (1 << 18) | (2 << 27),
                word4: 2,
                word5: (1 << 24) | (1 << 19),
                ..Default::default()
            },
            "ESP32-S3-PICO-1 (LGA56) (revision v1.1)",
            &[
                "Embedded Flash 4MB (GD)",
                "Embedded PSRAM 4MB (unknown vendor)",
            ],
            "00:00:00:00:00:00",
        );
        check(
            EfuseWords {
                word3: (1 << 18) | (1 << 25),
                word5: 1 << 23,
                ..Default::default()
            },
            "ESP32-S3 (QFN56) (revision v0.9)",
            &[],
            "00:00:00:00:00:00",
        );
    }

    #[test]
    fn eco0_workaround_reports_v0_0() {
        // Raw major 1 would say v1.0, but block version 1.1 with minor 0 means an eco0 chip.
        let w = EfuseWords {
            word3: 1 << 24,
            word5: 1 << 24,
            blk2_word4: 1,
            ..Default::default()
        };
        assert_eq!(decode_revision(&w), ChipRevision { major: 0, minor: 0 });
        let not_eco0 = EfuseWords { blk2_word4: 0, ..w };
        assert_eq!(
            decode_revision(&not_eco0),
            ChipRevision { major: 1, minor: 0 }
        );
        assert_eq!(ChipRevision { major: 1, minor: 2 }.full(), 102);
    }

    #[test]
    fn flash_id_and_implied_size() {
        let check = |raw: u32, manufacturer: u8, device: u16, size: Option<u32>| {
            let id = FlashId::from_raw(raw);
            assert_eq!(
                (id.manufacturer, id.device, id.size),
                (manufacturer, device, size),
                "{raw:06x}"
            );
        };
        // QEMU's gd25q64: bytes c8 40 17.
        check(0x17_40C8, 0xC8, 0x4017, Some(8 << 20));
        check(0x18_40EF, 0xEF, 0x4018, Some(16 << 20));
        check(0x16_4020, 0x20, 0x4016, Some(4 << 20));
        check(0x39_8020, 0x20, 0x8039, Some(32 << 20));
        check(0x01_481F, 0x1F, 0x4801, Some(8 << 20));
        check(0x42_4242, 0x42, 0x4242, None);
        assert!(FlashId::from_raw(0xFF_FFFF).looks_absent());
        assert_eq!(
            FlashId::from_raw(0x17_40C8).flash_size(),
            Some(FlashSize::S8Mb)
        );
    }

    #[test]
    fn security_info_from_the_real_rom_payload() {
        // rom-transcripts README: `00000000 00 000000000000 0c 09000000 00000000`.
        let info = SecurityInfo::parse(&hex(
            "00 00 00 00 00 00 00 00 00 00 00 0c 09 00 00 00 00 00 00 00",
        ))
        .expect("20 bytes");
        assert_eq!(info.chip_id, Some(9));
        assert_eq!(info.key_purposes, [0, 0, 0, 0, 0, 0, 0x0C]);
        assert!(!info.secure_boot() && !info.secure_download_mode() && !info.flash_encryption());
        let sdm =
            SecurityInfo::parse(&hex("05 00 00 00 07 00 00 00 00 00 00 00")).expect("12 bytes");
        assert_eq!(sdm.chip_id, None);
        assert!(sdm.secure_boot() && sdm.secure_download_mode() && sdm.flash_encryption());
        assert_eq!(
            sdm.flag_names(),
            ["SECURE_BOOT_EN", "SECURE_DOWNLOAD_ENABLE"]
        );
        assert_eq!(SecurityInfo::parse(&[0; 16]), None);
    }
}
