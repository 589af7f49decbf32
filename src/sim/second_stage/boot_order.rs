//! Which app partition the second stage tries first and in what order the others follow: the
//! two otadata sectors (highest valid sequence number, CRC as the ROM's `crc32_le`), the factory
//! app, the OTA slots below and above the chosen one, then the test app
//! (`bootloader_utility_get_selected_boot_partition` and `bootloader_utility_load_boot_image`).
//! Checking and starting each candidate belongs to `app_image.rs` and `app_start.rs`.

use super::app_image::{Loader, load_app};
use super::app_start::start_app;
use super::log_line::{Level, Log};
use super::partition_table::BootTable;
use super::{Flash, Outcome, le_u32};

/// Index of the factory partition in ESP-IDF's boot order (OTA slots are 0..).
const FACTORY_INDEX: i32 = -1;

/// One of the two otadata sectors (`esp_ota_select_entry_t`).
#[derive(Debug, Clone, Copy)]
struct OtaSelect {
    seq: u32,
    state: u32,
    crc: u32,
}

/// OTA image states that make an entry unusable.
const OTA_STATE_INVALID: u32 = 3;
const OTA_STATE_ABORTED: u32 = 4;

impl OtaSelect {
    fn read(flash: &Flash<'_>, addr: u32) -> Option<Self> {
        let b = flash.get(addr, 32)?;
        Some(OtaSelect {
            seq: le_u32(b, 0),
            state: le_u32(b, 24),
            crc: le_u32(b, 28),
        })
    }

    /// Erased, or marked unusable.
    fn is_empty_or_invalid(self) -> bool {
        self.seq == u32::MAX || self.state == OTA_STATE_INVALID || self.state == OTA_STATE_ABORTED
    }

    /// Written, with a matching CRC, and not marked unusable.
    fn is_valid(self) -> bool {
        !self.is_empty_or_invalid() && self.crc == crc32_le(u32::MAX, &self.seq.to_le_bytes())
    }
}

/// The ROM's `crc32_le` (zlib's CRC-32: reflected 0xEDB88320, value inverted on entry and exit),
/// which otadata entries are checked with.
pub(super) fn crc32_le(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &byte in data {
        c ^= u32::from(byte);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// `bootloader_utility_get_selected_boot_partition`: the index to try first.
pub(super) fn select_boot_partition(flash: &Flash<'_>, table: &BootTable, log: &mut Log) -> i32 {
    let Some((ota_offset, _)) = table.otadata else {
        return FACTORY_INDEX;
    };
    let entries = [
        OtaSelect::read(flash, ota_offset),
        OtaSelect::read(flash, ota_offset.saturating_add(0x1000)),
    ];
    let all_empty = entries
        .iter()
        .all(|e| e.is_none_or(|e| e.is_empty_or_invalid()));
    if all_empty || table.ota_app_count == 0 {
        if table.factory.is_some() {
            log.info("boot", "Defaulting to factory image");
            return FACTORY_INDEX;
        }
        log.info("boot", "No factory image, trying OTA 0");
        return 0;
    }
    let best = entries
        .iter()
        .flatten()
        .filter(|e| e.is_valid())
        .map(|e| e.seq)
        .max();
    match best {
        // Unsigned arithmetic as in ESP-IDF: sequence 0 wraps.
        Some(seq) => i32::try_from(seq.wrapping_sub(1) % table.ota_app_count).unwrap_or(0),
        None => {
            if table.factory.is_some() {
                log.error(
                    "boot",
                    "ota data partition invalid, falling back to factory",
                );
            } else {
                log.error(
                    "boot",
                    "ota data partition invalid and no factory, will try all partitions",
                );
            }
            FACTORY_INDEX
        }
    }
}

fn partition_at(table: &BootTable, index: i32) -> Option<(u32, u32)> {
    if index == FACTORY_INDEX {
        return table.factory;
    }
    let slot = usize::try_from(index).ok()?;
    if u32::try_from(index).ok()? >= table.ota_app_count {
        return None;
    }
    table.ota.get(slot).copied().flatten()
}

/// `bootloader_utility_load_boot_image`: the chosen partition, then the ones before it down to
/// factory, then the ones after it, then the test app.
pub(super) fn load_boot_image(
    loader: &Loader<'_>,
    table: &BootTable,
    start_index: i32,
    log: &mut Log,
) -> Outcome {
    let count = i32::try_from(table.ota_app_count).unwrap_or(0);
    let order = (FACTORY_INDEX..=start_index)
        .rev()
        .chain(start_index.saturating_add(1)..count);
    for index in order {
        let Some((offset, size)) = partition_at(table, index) else {
            continue;
        };
        if let Some(app) = load_app(loader, offset, size, log) {
            return start_app(loader, app, log);
        }
        if index == FACTORY_INDEX {
            log.error("boot", "Factory app partition is not bootable");
        } else {
            log.error(
                "boot",
                &format!("OTA app partition slot {index} is not bootable"),
            );
        }
    }
    if let Some((offset, size)) = table.test {
        if let Some(app) = load_app(loader, offset, size, log) {
            log.line(
                Level::Warn,
                "boot",
                "Falling back to test app as only bootable partition",
            );
            return start_app(loader, app, log);
        }
    }
    log.error("boot", "No bootable app partitions in the partition table");
    Outcome::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otadata_crc_is_the_rom_crc32_le() {
        // esp_rom_crc32_le(UINT32_MAX, seq) as otatool computes it: Python's
        // zlib.crc32(struct.pack("<I", 1), 0xFFFFFFFF) == 0x4743989a.
        assert_eq!(crc32_le(u32::MAX, &1u32.to_le_bytes()), 0x4743_989A);
        // And the plain CRC-32 check value.
        assert_eq!(crc32_le(0, b"123456789"), 0xCBF4_3926);
    }
}
