//! The descriptors an image carries about itself: ESP-IDF's `esp_app_desc_t` (256 bytes at the
//! start of an app's first DROM segment, also linked into esp-hal apps) and
//! `esp_bootloader_desc_t` (80 bytes at the start of an ESP-IDF 5.x bootloader's first DRAM
//! segment), and how to read them from bytes.
//!
//! Used by `elf.rs` (the descriptor section of an ELF), `app.rs` (where the ELF's SHA-256 goes)
//! and `info.rs` (what a prebuilt image says about itself). It only parses bytes; it knows
//! nothing of ELF sections, image layout or files.

use super::format::{APP_DESC_MAGIC, BOOTLOADER_DESC_MAGIC, HEADER_LEN, SEGMENT_HEADER_LEN};

/// Length of `esp_app_desc_t`.
pub const APP_DESC_LEN: usize = 256;
/// Length of `esp_bootloader_desc_t`.
pub const BOOTLOADER_DESC_LEN: usize = 80;
/// Offset of `app_elf_sha256` inside `esp_app_desc_t`.
pub const APP_DESC_ELF_SHA_OFFSET: u32 = 0x90;

/// The `esp_app_desc_t` of an app (texts up to their first NUL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDescriptor {
    /// Anti-rollback secure version.
    pub secure_version: u32,
    /// App version string.
    pub version: String,
    /// Project name.
    pub project_name: String,
    /// Build time.
    pub time: String,
    /// Build date.
    pub date: String,
    /// ESP-IDF version (or what the build put there).
    pub idf_ver: String,
    /// SHA-256 of the ELF the image was made from (zero when not recorded).
    pub app_elf_sha256: [u8; 32],
    /// Minimum eFuse block revision, major*100+minor.
    pub min_efuse_blk_rev_full: u16,
    /// Maximum eFuse block revision, major*100+minor.
    pub max_efuse_blk_rev_full: u16,
    /// log2 of the MMU page size (0 when not recorded).
    pub mmu_page_size_log2: u8,
}

impl AppDescriptor {
    /// MMU page size in bytes, when recorded.
    pub fn mmu_page_size(&self) -> Option<u32> {
        (1..32)
            .contains(&self.mmu_page_size_log2)
            .then(|| 1u32 << self.mmu_page_size_log2)
    }
}

/// The `esp_bootloader_desc_t` of a bootloader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootloaderDescriptor {
    /// Bootloader version number.
    pub version: u32,
    /// ESP-IDF version.
    pub idf_ver: String,
    /// Build date and time.
    pub date_time: String,
}

/// `esp_app_desc_t` from its 256 bytes; `None` without the magic or with fewer bytes.
pub fn parse_app_desc(d: &[u8]) -> Option<AppDescriptor> {
    if le_u32(d, 0) != APP_DESC_MAGIC || d.len() < APP_DESC_LEN {
        return None;
    }
    let mut sha = [0u8; 32];
    let sha_at = APP_DESC_ELF_SHA_OFFSET as usize;
    sha.copy_from_slice(&d[sha_at..sha_at + 32]);
    Some(AppDescriptor {
        secure_version: le_u32(d, 4),
        version: text(&d[16..48]),
        project_name: text(&d[48..80]),
        time: text(&d[80..96]),
        date: text(&d[96..112]),
        idf_ver: text(&d[112..144]),
        app_elf_sha256: sha,
        min_efuse_blk_rev_full: le_u16(d, 176),
        max_efuse_blk_rev_full: le_u16(d, 178),
        mmu_page_size_log2: d[180],
    })
}

/// The `esp_app_desc_t` of an app image: the first 256 bytes of its first segment's data, which
/// is where the ESP-IDF bootloader reads it (v5.2.3 and later take the eFuse block revision range
/// from there, descriptor or not). `None` when the magic is not there.
pub fn app_desc_of_image(image: &[u8]) -> Option<AppDescriptor> {
    let start = HEADER_LEN + SEGMENT_HEADER_LEN;
    parse_app_desc(image.get(start..start + APP_DESC_LEN)?)
}

/// `esp_bootloader_desc_t` from its 80 bytes; the one-byte magic alone is weak, so the version
/// text must look like one (`v5.4.2`).
pub fn parse_bootloader_desc(d: &[u8]) -> Option<BootloaderDescriptor> {
    if d.first() != Some(&BOOTLOADER_DESC_MAGIC) || d.len() < BOOTLOADER_DESC_LEN {
        return None;
    }
    let idf_ver = text(&d[8..40]);
    let looks_like_version = idf_ver.starts_with('v')
        && idf_ver.len() > 1
        && idf_ver.bytes().all(|b| b.is_ascii_graphic());
    looks_like_version.then(|| BootloaderDescriptor {
        version: le_u32(d, 4),
        idf_ver,
        date_time: text(&d[40..64]),
    })
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_descriptor_fields() {
        let mut d = vec![0u8; APP_DESC_LEN];
        d[..4].copy_from_slice(&APP_DESC_MAGIC.to_le_bytes());
        d[16..21].copy_from_slice(b"1.2.3");
        d[48..53].copy_from_slice(b"blink");
        d[0x90] = 0xAB;
        d[180] = 16;
        let desc = parse_app_desc(&d).unwrap();
        assert_eq!(
            (desc.version.as_str(), desc.project_name.as_str()),
            ("1.2.3", "blink")
        );
        assert_eq!(desc.app_elf_sha256[0], 0xAB);
        assert_eq!(desc.mmu_page_size(), Some(0x10000));
        assert!(parse_app_desc(&d[..255]).is_none());
        d[0] ^= 1;
        assert!(parse_app_desc(&d).is_none());
    }

    #[test]
    fn the_descriptor_of_an_image_is_its_first_segments_start() {
        let mut image = vec![0u8; 0x20 + APP_DESC_LEN];
        assert!(app_desc_of_image(&image).is_none());
        image[0x20..0x24].copy_from_slice(&APP_DESC_MAGIC.to_le_bytes());
        assert!(app_desc_of_image(&image).is_some());
        assert!(app_desc_of_image(&image[..0x100]).is_none());
    }

    #[test]
    fn bootloader_descriptor_needs_a_version_text() {
        let mut d = vec![0u8; BOOTLOADER_DESC_LEN];
        d[0] = BOOTLOADER_DESC_MAGIC;
        assert!(parse_bootloader_desc(&d).is_none());
        d[8..14].copy_from_slice(b"v5.4.2");
        assert_eq!(parse_bootloader_desc(&d).unwrap().idf_ver, "v5.4.2");
    }
}
