//! The eFuse read registers (0x60007000–0x60007FFF) as a host reads them: MAC, package, chip
//! revision, PSRAM and flash capabilities and block version, packed into the words and bit
//! fields of §4 of the facts, and the security fuses the identity sets (SPI_BOOT_CRYPT_CNT,
//! SECURE_BOOT_EN; all zero on a stock chip).
//!
//! It only encodes an [`Identity`]; it knows nothing of the bus or the loader.

use std::collections::BTreeMap;

use super::Identity;

/// First address of the eFuse controller.
pub const BASE: u32 = 0x6000_7000;
/// One past the last address of the eFuse controller.
pub const END: u32 = 0x6000_8000;

const BLOCK1_WORD0: u32 = 0x6000_7044;
const BLOCK1_WORD1: u32 = 0x6000_7048;
const BLOCK1_WORD3: u32 = 0x6000_7050;
const BLOCK1_WORD4: u32 = 0x6000_7054;
const BLOCK1_WORD5: u32 = 0x6000_7058;
const BLOCK2_WORD4: u32 = 0x6000_706C;
/// EFUSE_RD_REPEAT_DATA1: SPI_BOOT_CRYPT_CNT in bits 20:18.
const REPEAT_DATA1: u32 = 0x6000_7034;
/// EFUSE_RD_REPEAT_DATA2: SECURE_BOOT_EN in bit 20.
const REPEAT_DATA2: u32 = 0x6000_7038;

/// The eFuse read words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Efuse {
    words: BTreeMap<u32, u32>,
    security: super::Security,
}

impl Efuse {
    /// Encode an identity.
    pub fn new(id: &Identity) -> Self {
        let m = id.mac;
        let mut words = BTreeMap::new();
        words.insert(BLOCK1_WORD0, u32::from_be_bytes([m[2], m[3], m[4], m[5]]));
        words.insert(BLOCK1_WORD1, u32::from(u16::from_be_bytes([m[0], m[1]])));
        let minor_lo = u32::from(id.revision_minor & 0x7);
        let minor_hi = u32::from((id.revision_minor >> 3) & 0x1);
        let (blk_major, blk_minor) = id.block_version;
        words.insert(
            BLOCK1_WORD3,
            (u32::from(id.package & 0x7) << 21)
                | (minor_lo << 18)
                | (u32::from(blk_minor & 0x7) << 24)
                | (u32::from(id.flash_cap & 0x7) << 27),
        );
        words.insert(
            BLOCK1_WORD4,
            // Flash vendor 0 (none embedded); PSRAM capacity low bits and vendor.
            (u32::from(id.psram_cap & 0x3) << 3) | (u32::from(id.psram_vendor & 0x3) << 7),
        );
        words.insert(
            BLOCK1_WORD5,
            (u32::from((id.psram_cap >> 2) & 0x1) << 19)
                | (minor_hi << 23)
                | (u32::from(id.revision_major & 0x3) << 24),
        );
        words.insert(BLOCK2_WORD4, u32::from(blk_major & 0x3));
        words.insert(REPEAT_DATA1, u32::from(id.security.flash_encryption) << 18);
        words.insert(REPEAT_DATA2, u32::from(id.security.secure_boot) << 20);
        words.retain(|_, v| *v != 0);
        Efuse {
            words,
            security: id.security,
        }
    }

    /// The security features the fuses enable.
    pub fn security(&self) -> super::Security {
        self.security
    }

    /// Read a word; `None` outside the eFuse controller.
    pub fn read(&self, addr: u32) -> Option<u32> {
        (BASE..END)
            .contains(&addr)
            .then(|| self.words.get(&addr).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimConfig;

    #[test]
    fn qemu_reference_matches_the_emulator() {
        let e = Efuse::new(&SimConfig::qemu_reference().identity);
        // The emulator's eFuse image: only 0x60007050 = 0x000C0000 (revision v0.3).
        assert_eq!(e.read(0x6000_7050), Some(0x000C_0000));
        for addr in (0x6000_7030..0x6000_7070)
            .step_by(4)
            .filter(|a| *a != 0x6000_7050)
        {
            assert_eq!(e.read(addr), Some(0), "{addr:#x}");
        }
    }

    #[test]
    fn default_identity_decodes_as_documented() {
        let e = Efuse::new(&SimConfig::default().identity);
        let mac0 = e.read(BLOCK1_WORD0).unwrap();
        let mac1 = e.read(BLOCK1_WORD1).unwrap();
        let mut mac = Vec::from(&((u64::from(mac1) << 32) | u64::from(mac0)).to_be_bytes()[2..]);
        assert_eq!(mac, vec![0x7C, 0xDF, 0xA1, 0x00, 0x00, 0x01]);
        mac.clear();
        let w3 = e.read(BLOCK1_WORD3).unwrap();
        let w4 = e.read(BLOCK1_WORD4).unwrap();
        let w5 = e.read(BLOCK1_WORD5).unwrap();
        assert_eq!((w3 >> 21) & 7, 0, "package QFN56");
        let minor = (((w5 >> 23) & 1) << 3) | ((w3 >> 18) & 7);
        assert_eq!(((w5 >> 24) & 3, minor), (0, 2), "revision v0.2");
        let psram_cap = (((w5 >> 19) & 1) << 2) | ((w4 >> 3) & 3);
        assert_eq!((psram_cap, (w4 >> 7) & 3), (1, 1), "8MB AP_3v3");
        assert_eq!(e.read(0x1234), None);
    }
}
