//! Partition tables: the CSV that users write, the binary that ESP-IDF's bootloader reads at
//! 0x8000, the conversions between them, and the checks that catch a broken layout before it is
//! flashed (overlaps, alignment, sizes against the flash, names, otadata size).
//!
//! The binary layout follows ESP-IDF's `gen_esp32part.py` byte for byte (facts §12): 32-byte
//! entries starting `AA 50`, an MD5 entry `EB EB` + 14×`FF` + MD5 of the entries, then `FF` up to
//! 0xC00. This module works on text and bytes only; it knows nothing of files (callers add the
//! file name to errors with [`PartitionError::in_file`]).
//!
//! This file holds the types, the default table and the choice of the app partition;
//! `csv.rs` reads and writes the CSV, `binary.rs` the binary form, `validate.rs` checks a layout,
//! and `error.rs` is the catalogue of messages.

mod binary;
mod csv;
mod error;
mod validate;

pub use error::PartitionError;

/// Flash offset of the partition table unless configured otherwise.
pub const DEFAULT_TABLE_OFFSET: u32 = 0x8000;
/// Flash offset of the 2nd-stage bootloader on the ESP32-S3 (where the ROM loads it from).
pub const BOOTLOADER_OFFSET: u32 = 0x0;
/// Flash space reserved for the table (one sector).
pub const TABLE_SECTOR_SIZE: u32 = 0x1000;
/// Bytes of the table area that may hold entries; the rest of the sector is not read.
pub const MAX_TABLE_LEN: usize = 0xC00;
/// Size of one binary entry.
pub const ENTRY_LEN: usize = 32;
/// Most partitions a table may hold (the MD5 entry takes one more slot).
pub const MAX_PARTITIONS: usize = MAX_TABLE_LEN / ENTRY_LEN - 1;
/// First two bytes of a partition entry.
pub const ENTRY_MAGIC: [u8; 2] = [0xAA, 0x50];
/// First two bytes of the MD5 entry.
pub const MD5_MAGIC: [u8; 2] = [0xEB, 0xEB];
/// Longest partition name (the 16-byte field keeps a terminating NUL).
pub const MAX_NAME_LEN: usize = 15;
/// App partitions start on a 64 KiB boundary (the MMU page).
pub const APP_ALIGN: u32 = 0x10000;
/// Every other partition starts on a 4 KiB boundary (the erase sector).
pub const DATA_ALIGN: u32 = 0x1000;
/// The one size an otadata partition may have (two sectors).
pub const OTADATA_SIZE: u32 = 0x2000;

/// The partition type byte, with names for the types ESP-IDF defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionType {
    /// Code the bootloader can boot (0x00).
    App,
    /// Anything else the firmware reads (0x01).
    Data,
    /// The 2nd-stage bootloader region (0x02).
    Bootloader,
    /// The partition table itself (0x03).
    PartitionTable,
    /// A custom type (0x40..=0xFE by convention).
    Other(u8),
}

/// App subtypes by name (facts §12). `ota_0`..`ota_15` are handled separately.
const APP_SUBTYPES: &[(&str, u8)] = &[
    ("factory", 0x00),
    ("test", 0x20),
    ("tee_0", 0x30),
    ("tee_1", 0x31),
];
/// Data subtypes by name.
const DATA_SUBTYPES: &[(&str, u8)] = &[
    ("ota", 0x00),
    ("phy", 0x01),
    ("nvs", 0x02),
    ("coredump", 0x03),
    ("nvs_keys", 0x04),
    ("efuse", 0x05),
    ("undefined", 0x06),
    ("esphttpd", 0x80),
    ("fat", 0x81),
    ("spiffs", 0x82),
    ("littlefs", 0x83),
    ("tee_ota", 0x90),
];
/// Bootloader subtypes.
const BOOTLOADER_SUBTYPES: &[(&str, u8)] = &[("primary", 0x00), ("ota", 0x01), ("recovery", 0x02)];
/// Partition-table subtypes.
const TABLE_SUBTYPES: &[(&str, u8)] = &[("primary", 0x00), ("ota", 0x01)];

impl PartitionType {
    /// The type for a type byte.
    pub fn from_code(code: u8) -> Self {
        match code {
            0x00 => PartitionType::App,
            0x01 => PartitionType::Data,
            0x02 => PartitionType::Bootloader,
            0x03 => PartitionType::PartitionTable,
            other => PartitionType::Other(other),
        }
    }

    /// The type byte.
    pub fn code(self) -> u8 {
        match self {
            PartitionType::App => 0x00,
            PartitionType::Data => 0x01,
            PartitionType::Bootloader => 0x02,
            PartitionType::PartitionTable => 0x03,
            PartitionType::Other(c) => c,
        }
    }

    /// The CSV name, or `None` for custom types (written as numbers).
    pub fn name(self) -> Option<&'static str> {
        match self {
            PartitionType::App => Some("app"),
            PartitionType::Data => Some("data"),
            PartitionType::Bootloader => Some("bootloader"),
            PartitionType::PartitionTable => Some("partition_table"),
            PartitionType::Other(_) => None,
        }
    }

    /// The type for a CSV name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            PartitionType::App,
            PartitionType::Data,
            PartitionType::Bootloader,
            PartitionType::PartitionTable,
        ]
        .into_iter()
        .find(|t| t.name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    /// Start alignment ESP-IDF requires for partitions of this type.
    pub fn alignment(self) -> u32 {
        match self {
            PartitionType::App => APP_ALIGN,
            _ => DATA_ALIGN,
        }
    }

    fn named_subtypes(self) -> &'static [(&'static str, u8)] {
        match self {
            PartitionType::App => APP_SUBTYPES,
            PartitionType::Data => DATA_SUBTYPES,
            PartitionType::Bootloader => BOOTLOADER_SUBTYPES,
            PartitionType::PartitionTable => TABLE_SUBTYPES,
            PartitionType::Other(_) => &[],
        }
    }

    /// The name of a subtype of this type, if it has one (`ota_3` for app 0x13).
    pub fn subtype_name(self, subtype: u8) -> Option<String> {
        if self == PartitionType::App && (0x10..=0x1F).contains(&subtype) {
            return Some(format!("ota_{}", subtype - 0x10));
        }
        self.named_subtypes()
            .iter()
            .find(|(_, c)| *c == subtype)
            .map(|(n, _)| (*n).to_string())
    }

    /// The subtype byte for a name (case-insensitive).
    pub fn subtype_from_name(self, name: &str) -> Option<u8> {
        let lower = name.to_ascii_lowercase();
        if self == PartitionType::App {
            if let Some(n) = lower.strip_prefix("ota_") {
                if let Ok(n) = n.parse::<u8>() {
                    // `then`, not `then_some`: 0x10 + 255 must not even be computed.
                    return (n < 16).then(|| 0x10 + n);
                }
            }
        }
        self.named_subtypes()
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|(_, c)| *c)
    }

    /// Every subtype name this type accepts, for error messages.
    pub fn accepted_subtypes(self) -> String {
        let mut names: Vec<String> = self
            .named_subtypes()
            .iter()
            .map(|(n, _)| (*n).to_string())
            .collect();
        if self == PartitionType::App {
            names.insert(1, "ota_0..ota_15".into());
        }
        if names.is_empty() {
            "a number (0x00..0xFE)".into()
        } else {
            names.join(", ") + " or a number"
        }
    }
}

/// One partition: the fields of a binary entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Name (at most 15 bytes).
    pub name: String,
    /// Type byte (see [`PartitionType`]).
    pub ty: u8,
    /// Subtype byte.
    pub subtype: u8,
    /// Flash offset.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// Flag bit 0: encrypted with flash encryption.
    pub encrypted: bool,
    /// Flag bit 1: read-only.
    pub readonly: bool,
}

impl Partition {
    /// The decoded type.
    pub fn partition_type(&self) -> PartitionType {
        PartitionType::from_code(self.ty)
    }

    /// First byte after the partition (saturating, so a broken entry cannot overflow).
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.size)
    }

    /// True for app partitions.
    pub fn is_app(&self) -> bool {
        self.partition_type() == PartitionType::App
    }

    /// The type as written in CSV (`app`, or `0x40` for custom types).
    pub fn type_name(&self) -> String {
        self.partition_type()
            .name()
            .map(str::to_string)
            .unwrap_or_else(|| format!("0x{:02x}", self.ty))
    }

    /// The subtype as written in CSV (`factory`, `ota_0`, or a number).
    pub fn subtype_name(&self) -> String {
        self.partition_type()
            .subtype_name(self.subtype)
            .unwrap_or_else(|| format!("0x{:02x}", self.subtype))
    }

    /// The flags as written in CSV (`encrypted:readonly`, or empty).
    pub fn flags_text(&self) -> String {
        let mut flags = Vec::new();
        if self.encrypted {
            flags.push("encrypted");
        }
        if self.readonly {
            flags.push("readonly");
        }
        flags.join(":")
    }
}

/// A partition table: the partitions in table order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionTable {
    /// The partitions, in the order the table lists them.
    pub partitions: Vec<Partition>,
}

/// `value` rounded up to a multiple of `align` (an `align` of 0 counts as 1).
fn align_up(value: u64, align: u32) -> u64 {
    let a = u64::from(align.max(1));
    value.div_ceil(a) * a
}

/// Flash offset of the `factory` partition in [`PartitionTable::default_for`]'s layout: after the
/// table sector, nvs (24 KiB) and phy_init (4 KiB), rounded up to the 64 KiB MMU page (0x10000
/// for the default table offset). Saturates at `u32::MAX` for absurd table offsets.
pub fn default_factory_offset(table_offset: u32) -> u32 {
    let after = u64::from(table_offset) + u64::from(TABLE_SECTOR_SIZE) + 0x6000 + 0x1000;
    u32::try_from(align_up(after, APP_ALIGN)).unwrap_or(u32::MAX)
}

impl PartitionTable {
    /// Parse either form: binary if the bytes start with the entry magic `AA 50`, else CSV text.
    pub fn parse(bytes: &[u8]) -> Result<Self, PartitionError> {
        if bytes.starts_with(&ENTRY_MAGIC) {
            return Self::from_binary(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|e| PartitionError::NotATable {
            invalid_byte_at: e.valid_up_to(),
        })?;
        Self::from_csv(text)
    }

    /// The default single-app layout for a flash size with the table at 0x8000: `nvs` at 0x9000
    /// (24 KiB), `phy_init` at 0xF000 (4 KiB) and `factory` from 0x10000 to the end of the flash.
    pub fn default_for_flash(flash_size: u32) -> Self {
        Self::default_for(flash_size, DEFAULT_TABLE_OFFSET)
    }

    /// The default single-app layout for a table at `table_offset`: `nvs` (24 KiB) and
    /// `phy_init` (4 KiB) right after the table sector, `factory` from the next 64 KiB boundary
    /// to the end of the flash. Offsets that would pass 4 GiB saturate, so `validate` reports them.
    pub fn default_for(flash_size: u32, table_offset: u32) -> Self {
        let nvs = u64::from(table_offset) + u64::from(TABLE_SECTOR_SIZE);
        let phy_init = nvs + 0x6000;
        let factory = u64::from(default_factory_offset(table_offset));
        let part = |name: &str, ty: PartitionType, subtype: u8, offset: u64, size: u64| Partition {
            name: name.into(),
            ty: ty.code(),
            subtype,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            size: u32::try_from(size).unwrap_or(u32::MAX),
            encrypted: false,
            readonly: false,
        };
        PartitionTable {
            partitions: vec![
                part("nvs", PartitionType::Data, 0x02, nvs, 0x6000),
                part("phy_init", PartitionType::Data, 0x01, phy_init, 0x1000),
                part(
                    "factory",
                    PartitionType::App,
                    0x00,
                    factory,
                    u64::from(flash_size).saturating_sub(factory),
                ),
            ],
        }
    }

    /// The partition an app goes into: the named one, else `factory`, else `ota_0`.
    pub fn app_partition(&self, name: Option<&str>) -> Result<&Partition, PartitionError> {
        let apps = || self.partitions.iter().filter(|p| p.is_app());
        let names = || apps().map(|p| p.name.clone()).collect::<Vec<String>>();
        if let Some(name) = name {
            return match self.find(name) {
                Some(p) if p.is_app() => Ok(p),
                Some(p) => Err(PartitionError::NotAnApp {
                    name: name.to_string(),
                    ty: p.type_name(),
                    apps: names(),
                }),
                None => Err(PartitionError::NoSuchPartition {
                    name: name.to_string(),
                    apps: names(),
                }),
            };
        }
        apps()
            .find(|p| p.subtype == 0x00)
            .or_else(|| apps().find(|p| p.subtype == 0x10))
            .ok_or_else(|| PartitionError::NoDefaultApp { apps: names() })
    }

    /// The partition with this name.
    pub fn find(&self, name: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table with a factory app and two OTA slots (shared with the CSV tests).
    pub(super) const TWO_OTA: &str = "# Name, Type, SubType, Offset, Size, Flags\n\
        nvs,      data, nvs,     0x9000,  0x4000,\n\
        otadata,  data, ota,     0xd000,  0x2000,\n\
        phy_init, data, phy,     0xf000,  0x1000,\n\
        factory,  app,  factory, 0x10000,  1M,\n\
        ota_0,    app,  ota_0,   0x110000, 1M,\n\
        ota_1,    app,  ota_1,   0x210000, 1M,\n";

    /// Found by the `partition_csv` fuzz target: `ota_255` overflowed the subtype byte
    /// (0x10 + 255) instead of being refused like any number past `ota_15`.
    #[test]
    fn ota_subtype_numbers_past_15_are_refused_not_overflowed() {
        for name in ["ota_16", "ota_240", "ota_255"] {
            assert_eq!(PartitionType::App.subtype_from_name(name), None, "{name}");
        }
        assert_eq!(PartitionType::App.subtype_from_name("OTA_15"), Some(0x1F));
        let e = PartitionTable::from_csv("t1, app,ota_255,,").unwrap_err();
        assert!(e.to_string().contains("ota_255"), "{e}");
    }

    #[test]
    fn default_table_follows_a_moved_table() {
        let moved = PartitionTable::default_for(8 << 20, 0xA000);
        let layout: Vec<(u32, u32)> = moved
            .partitions
            .iter()
            .map(|p| (p.offset, p.size))
            .collect();
        assert_eq!(
            layout,
            [
                (0xB000, 0x6000),
                (0x11000, 0x1000),
                (0x20000, (8 << 20) - 0x20000)
            ]
        );
        moved.validate(Some(8 << 20), 0xA000).unwrap();
        assert_eq!(
            PartitionTable::default_for(4 << 20, DEFAULT_TABLE_OFFSET),
            PartitionTable::from_csv(
                "nvs,data,nvs,0x9000,0x6000\nphy_init,data,phy,0xf000,0x1000\nfactory,app,factory,0x10000,0x3F0000"
            )
            .unwrap()
        );
        let absurd = PartitionTable::default_for(16 << 20, 0xFFFF_F000);
        assert!(absurd.validate(Some(16 << 20), 0xFFFF_F000).is_err());
    }

    #[test]
    fn app_partition_choice() {
        let t = PartitionTable::from_csv(TWO_OTA).unwrap();
        assert_eq!(t.app_partition(None).unwrap().name, "factory");
        assert_eq!(t.app_partition(Some("ota_1")).unwrap().offset, 0x210000);
        assert!(t.app_partition(Some("nvs")).is_err());
        assert!(
            t.app_partition(Some("nope"))
                .unwrap_err()
                .to_string()
                .contains("factory, ota_0, ota_1")
        );
        let ota_only =
            PartitionTable::from_csv("otadata,data,ota,0xd000,0x2000\nota_0,app,ota_0,0x10000,1M")
                .unwrap();
        assert_eq!(ota_only.app_partition(None).unwrap().name, "ota_0");
    }
}
