//! `esp_image_load` of an app partition: magic, chip id, chip revision range, segment count and
//! lengths, loaded segments not over the running bootloader's own RAM (through either bus),
//! image length within the partition, checksum and appended SHA-256, each failure logged with
//! ESP-IDF's wording. Parsed with this folder's own code, never `crate::image`'s.

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
}

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
