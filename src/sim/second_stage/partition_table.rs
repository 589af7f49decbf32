//! The partition table as ESP-IDF's bootloader reads and prints it: 0xAA50 entries up to the
//! 0xFF end entry, the 0xEBEB MD5 entry checked against the entries before it, every partition
//! inside the flash, then the `Partition Table:` listing and the partitions the boot order
//! needs ([`BootTable`]). Parsed with this folder's own code, never `crate::image`'s.

use md5::{Digest as _, Md5};

use super::log_line::Log;
use super::{BootContext, Flash, c_string, le_u16, le_u32};

/// Partition entry magic (`AA 50`).
const PARTITION_MAGIC: u16 = 0x50AA;
/// MD5 entry magic (`EB EB`).
const MD5_MAGIC: u16 = 0xEBEB;
/// Room for entries in the partition table sector.
pub(super) const PARTITION_TABLE_LEN: u32 = 0xC00;
/// One partition entry.
const ENTRY_LEN: usize = 32;

/// One row of the partition table.
#[derive(Debug, Clone)]
struct Partition {
    kind: u8,
    subtype: u8,
    offset: u32,
    size: u32,
    label: String,
}

/// The partitions the bootloader cares about.
#[derive(Debug, Default)]
pub(super) struct BootTable {
    pub(super) factory: Option<(u32, u32)>,
    pub(super) test: Option<(u32, u32)>,
    pub(super) ota: [Option<(u32, u32)>; 16],
    pub(super) ota_app_count: u32,
    pub(super) otadata: Option<(u32, u32)>,
}

pub(super) fn load_partition_table(
    ctx: &BootContext<'_>,
    flash: &Flash<'_>,
    chip_size: u32,
    log: &mut Log,
) -> Option<BootTable> {
    let Some(bytes) = flash.get(ctx.partition_table_offset, PARTITION_TABLE_LEN) else {
        log.error(
            "boot",
            &format!(
                "bootloader_mmap(0x{:x}, 0x{:x}) failed",
                ctx.partition_table_offset, PARTITION_TABLE_LEN
            ),
        );
        return None;
    };
    let Some(partitions) = verify_partition_table(bytes, chip_size, log) else {
        log.error("boot", "Failed to verify partition table");
        return None;
    };
    log.info("boot", "Partition Table:");
    log.info(
        "boot",
        "## Label            Usage          Type ST Offset   Length",
    );
    let mut table = BootTable::default();
    for (index, p) in partitions.iter().enumerate() {
        let place = Some((p.offset, p.size));
        let usage = match (p.kind, p.subtype) {
            (0x00, 0x00) => {
                table.factory = place;
                "factory app"
            }
            (0x00, 0x20) => {
                table.test = place;
                "test app"
            }
            (0x00, sub @ 0x10..=0x1F) => {
                if let Some(slot) = table.ota.get_mut(usize::from(sub & 0x0F)) {
                    *slot = place;
                }
                table.ota_app_count += 1;
                "OTA app"
            }
            (0x00, _) => "Unknown app",
            (0x01, 0x00) => {
                table.otadata = place;
                "OTA data"
            }
            (0x01, 0x01) => "RF data",
            (0x01, 0x02) => "WiFi data",
            (0x01, 0x04) => "NVS keys",
            (0x01, 0x05) => "efuse",
            (0x01, _) => "Unknown data",
            _ => "unknown",
        };
        log.info(
            "boot",
            &format!(
                "{index:2} {:<16} {usage:<16} {:02x} {:02x} {:08x} {:08x}",
                p.label, p.kind, p.subtype, p.offset, p.size
            ),
        );
    }
    log.info("boot", "End of partition table");
    Some(table)
}

/// ESP-IDF's `esp_partition_table_verify`: entries until the 0xFF end entry, the MD5 entry
/// checked against the entries before it, every partition inside the flash.
fn verify_partition_table(bytes: &[u8], chip_size: u32, log: &mut Log) -> Option<Vec<Partition>> {
    let mut partitions = Vec::new();
    let mut md5_seen = false;
    for (index, entry) in bytes.chunks_exact(ENTRY_LEN).enumerate() {
        let magic = le_u16(entry, 0);
        if magic == PARTITION_MAGIC {
            let p = Partition {
                kind: entry[2],
                subtype: entry[3],
                offset: le_u32(entry, 4),
                size: le_u32(entry, 8),
                label: c_string(entry, 12, 16),
            };
            if p.offset > chip_size
                || u64::from(p.offset) + u64::from(p.size) > u64::from(chip_size)
            {
                log.error(
                    "flash_parts",
                    &format!(
                        "partition {index} invalid - offset 0x{:x} size 0x{:x} exceeds flash chip size 0x{chip_size:x}",
                        p.offset, p.size
                    ),
                );
                return None;
            }
            partitions.push(p);
        } else if magic == MD5_MAGIC {
            if md5_seen {
                log.error("flash_parts", "Only one MD5 checksum is allowed");
                return None;
            }
            md5_seen = true;
            let covered = bytes.get(..index * ENTRY_LEN).unwrap_or(&[]);
            let digest = Md5::digest(covered);
            if entry.get(16..32) != Some(digest.as_slice()) {
                log.error("flash_parts", "Incorrect MD5 checksum");
                return None;
            }
        } else if magic == 0xFFFF && entry[2] == 0xFF && entry[3] == 0xFF {
            return Some(partitions);
        } else {
            log.error(
                "flash_parts",
                &format!("partition {index} invalid magic number 0x{magic:x}"),
            );
            return None;
        }
    }
    log.error(
        "flash_parts",
        "partition table has no terminating entry, not valid",
    );
    None
}
