//! `esp_image_load` of an app partition: magic, chip id, chip revision range, segment count and
//! lengths, loaded segments not over the running bootloader's own RAM (through either bus), the
//! eFuse block revision range read from where the app descriptor must be (the first segment's
//! data), image length within the partition, checksum and appended SHA-256, each failure logged
//! with ESP-IDF's wording. Parsed with this folder's own code, never `crate::image`'s.

use sha2::{Digest as _, Sha256};

use super::header::{
    HEADER_LEN, Header, IMAGE_MAGIC, MAX_SEGMENTS, SIXTEEN_MB, Segment, is_loaded, is_mapped,
};
use super::log_line::Log;
use super::{BootContext, Flash, le_u32};

/// What loading an app needs besides the log.
pub(super) struct Loader<'a> {
    pub(super) ctx: &'a BootContext<'a>,
    pub(super) flash: &'a Flash<'a>,
    pub(super) bootloader_ram: &'a [(u32, u32)],
    pub(super) app_desc_checks: AppDescChecks,
}

/// Which checks of the app descriptor the running bootloader makes (newer ESP-IDF makes more).
#[derive(Debug, Clone, Copy)]
pub(super) struct AppDescChecks {
    /// `bootloader_common_check_efuse_blk_validity` on the descriptor's
    /// `min_efuse_blk_rev_full`/`max_efuse_blk_rev_full` (ESP-IDF v5.1.7, v5.2.3, v5.3.2 and on).
    pub(super) efuse_blk_rev: bool,
    /// The first segment must be long enough to hold the 256-byte descriptor (ESP-IDF master
    /// since June 2026).
    pub(super) segment0_len: bool,
}

/// `esp_app_desc_t`'s length and where its eFuse block revision range lies in it.
const APP_DESC_LEN: u32 = 256;
const MIN_EFUSE_BLK_REV_AT: u32 = 0xB0;
const MAX_EFUSE_BLK_REV_AT: u32 = 0xB2;

/// A checked app image.
pub(super) struct LoadedApp {
    pub(super) partition_offset: u32,
    pub(super) header: Header,
    pub(super) segments: Vec<Segment>,
}

/// `esp_image_load` of the image in the partition at `offset`: header, chip, segments, length,
/// checksum, appended hash. `None` after printing why.
pub(super) fn load_app(
    loader: &Loader<'_>,
    offset: u32,
    size: u32,
    log: &mut Log,
) -> Option<LoadedApp> {
    let (ctx, flash) = (loader.ctx, loader.flash);
    let Some(header) = flash.get(offset, HEADER_LEN).and_then(Header::parse) else {
        log.error(
            "esp_image",
            &format!("bootloader_flash_read failed at 0x{offset:08x}"),
        );
        return None;
    };
    if flash.get(offset, 1) != Some(&[IMAGE_MAGIC][..]) {
        log.error(
            "esp_image",
            &format!("image at 0x{offset:x} has invalid magic byte (nothing flashed here?)"),
        );
        return None;
    }
    if u32::from(header.chip_id) != ctx.chip_id {
        log.error(
            "boot_comm",
            &format!(
                "mismatch chip ID, expected {}, found {}",
                ctx.chip_id, header.chip_id
            ),
        );
        return None;
    }
    let (major, minor) = ctx.chip_revision;
    let revision = u16::from(major) * 100 + u16::from(minor);
    if revision < header.min_rev_full {
        log.error(
            "boot_comm",
            &format!(
                "Image requires chip rev >= v{}.{}, but chip is v{major}.{minor}",
                header.min_rev_full / 100,
                header.min_rev_full % 100
            ),
        );
        return None;
    }
    if revision > header.max_rev_full {
        log.error(
            "boot_comm",
            &format!(
                "Image requires chip rev <= v{}.{}, but chip is v{major}.{minor}",
                header.max_rev_full / 100,
                header.max_rev_full % 100
            ),
        );
        return None;
    }
    if header.segment_count > MAX_SEGMENTS {
        log.error(
            "esp_image",
            &format!(
                "image at 0x{offset:x} segment count {} exceeds max {MAX_SEGMENTS}",
                header.segment_count
            ),
        );
        return None;
    }

    let mut checksum: u8 = 0xEF;
    let mut next = offset.checked_add(HEADER_LEN)?;
    let mut segments = Vec::new();
    for index in 0..header.segment_count {
        let Some(seg_header) = flash.get(next, 8) else {
            log.error(
                "esp_image",
                &format!("bootloader_flash_read failed at 0x{next:08x}"),
            );
            return None;
        };
        let addr = le_u32(seg_header, 0);
        let len = le_u32(seg_header, 4);
        let data_at = next + 8;
        if len & 3 != 0 || len >= SIXTEEN_MB {
            log.error("esp_image", &format!("invalid segment length 0x{len:x}"));
            return None;
        }
        if index == 0 && loader.app_desc_checks.segment0_len && len < APP_DESC_LEN {
            log.error(
                "esp_image",
                &format!("Segment 0: length 0x{len:x} is too short for app description"),
            );
            return None;
        }
        let action = if is_mapped(addr) {
            "map"
        } else if is_loaded(addr) {
            "load"
        } else {
            ""
        };
        log.info(
            "esp_image",
            &format!("segment {index}: paddr={data_at:08x} vaddr={addr:08x} size={len:05x}h ({len:6}) {action}"),
        );
        if action == "load" && len > 0 {
            if let Some(reason) = overlaps_bootloader(addr, len, loader.bootloader_ram) {
                log.error(
                    "esp_image",
                    &format!(
                        "Segment {index} 0x{addr:08x}-0x{:08x} invalid: {reason}",
                        addr.saturating_add(len)
                    ),
                );
                return None;
            }
        }
        let Some(data) = flash.get(data_at, len) else {
            log.error(
                "esp_image",
                &format!("bootloader_mmap(0x{data_at:x}, 0x{len:x}) failed"),
            );
            return None;
        };
        if index == 0
            && loader.app_desc_checks.efuse_blk_rev
            && !efuse_blk_rev_ok(loader, data_at, log)
        {
            return None;
        }
        checksum = data.iter().fold(checksum, |c, b| c ^ b);
        log.verify(len);
        segments.push(Segment { data_at, addr, len });
        next = data_at.checked_add(len)?;
    }
    // The checksum byte ends the image on a 16-byte boundary; the digest follows it.
    let unpadded = next - offset;
    let padded = (unpadded + 1 + 15) & !15;
    let image_len = padded + if header.hash_appended { 32 } else { 0 };
    if image_len > size {
        log.error(
            "esp_image",
            &format!("Image length {image_len} doesn't fit in partition length {size}"),
        );
        return None;
    }
    let stored = flash
        .get(offset + padded - 1, 1)
        .and_then(|b| b.first().copied());
    if stored != Some(checksum) {
        log.error(
            "esp_image",
            &format!(
                "Checksum failed. Calculated 0x{checksum:x} read 0x{:x}",
                stored.unwrap_or(0xFF)
            ),
        );
        return None;
    }
    if header.hash_appended {
        let image = flash.get(offset, padded)?;
        let expected = flash.get(offset + padded, 32);
        if expected != Some(Sha256::digest(image).as_slice()) {
            log.error("esp_image", "Image hash failed - image is corrupt");
            return None;
        }
    }
    Some(LoadedApp {
        partition_offset: offset,
        header,
        segments,
    })
}

/// `bootloader_common_check_efuse_blk_validity` on the range the first segment's data holds where
/// `esp_app_desc_t` keeps it (the bootloader reads it whether or not a descriptor is there; 0 and
/// 0xFFFF mean "not set"). Both limits are checked and each failure is logged, as ESP-IDF does.
fn efuse_blk_rev_ok(loader: &Loader<'_>, data_at: u32, log: &mut Log) -> bool {
    let field = |at: u32| {
        loader
            .flash
            .get(data_at.saturating_add(at), 2)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
    };
    let (min, max) = (field(MIN_EFUSE_BLK_REV_AT), field(MAX_EFUSE_BLK_REV_AT));
    let is_set = |rev: u16| rev != 0 && rev != 0xFFFF;
    let (major, minor) = loader.ctx.efuse_block_revision;
    let revision = u16::from(major) * 100 + u16::from(minor);
    let mut ok = true;
    if is_set(min) && revision < min {
        log.error(
            "boot_comm",
            &format!(
                "Image requires efuse blk rev >= v{}.{}, but chip is v{major}.{minor}",
                min / 100,
                min % 100
            ),
        );
        ok = false;
    }
    if is_set(max) && revision > max {
        log.error(
            "boot_comm",
            &format!(
                "Image requires efuse blk rev <= v{}.{}, but chip is v{major}.{minor}",
                max / 100,
                max % 100
            ),
        );
        ok = false;
    }
    ok
}

/// Start of the internal SRAM shared by the data bus (0x3FC8_8000) and the instruction bus
/// (0x4037_8000): the same byte has both addresses.
const DIRAM_DRAM_LOW: u32 = 0x3FC8_8000;
const DIRAM_IRAM_LOW: u32 = 0x4037_8000;
const DIRAM_LEN: u32 = 0x7_8000;

/// Offset into the shared SRAM, whichever bus the address uses.
fn sram_offset(addr: u32) -> Option<u32> {
    [DIRAM_DRAM_LOW, DIRAM_IRAM_LOW]
        .into_iter()
        .find_map(|low| addr.checked_sub(low).filter(|&o| o < DIRAM_LEN))
}

/// Why loading `len` bytes at `addr` would overwrite the running bootloader, if it would:
/// ESP-IDF refuses segments over the bootloader's data ("overlaps bootloader data") and over its
/// loader code ("overlaps loader IRAM"), seen through either bus.
fn overlaps_bootloader(addr: u32, len: u32, bootloader_ram: &[(u32, u32)]) -> Option<&'static str> {
    let start = sram_offset(addr)?;
    let end = start.saturating_add(len);
    bootloader_ram.iter().find_map(|&(b_start, b_end)| {
        let b_off = sram_offset(b_start)?;
        let b_off_end = b_off.saturating_add(b_end - b_start);
        (start < b_off_end && b_off < end).then_some(if b_start < DIRAM_IRAM_LOW {
            "overlaps bootloader data"
        } else {
            "overlaps loader IRAM"
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_over_the_running_bootloader_are_refused_through_either_bus() {
        let bootloader_ram = [(0x3FCE_2810, 0x3FCE_3810), (0x403C_8700, 0x403C_9700)];
        for (addr, len, want) in [
            (0x3FCE_2000, 0x810, None),
            (0x3FCE_2000, 0x814, Some("overlaps bootloader data")),
            (0x3FCE_3000, 0x10, Some("overlaps bootloader data")),
            (0x3FCE_3810, 0x10, None),
            // The same SRAM through the instruction bus.
            (0x403D_2810, 4, Some("overlaps bootloader data")),
            (0x403C_9000, 4, Some("overlaps loader IRAM")),
            // The loader code seen through the data bus.
            (0x3FCD_8700, 8, Some("overlaps loader IRAM")),
            (0x3FC9_1200, 0x2704, None),
            (0x4037_4000, 0x3B0C, None),
        ] {
            assert_eq!(
                overlaps_bootloader(addr, len, &bootloader_ram),
                want,
                "{addr:#x}+{len:#x}"
            );
        }
    }
}
