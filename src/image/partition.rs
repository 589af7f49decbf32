//! Partition tables: the CSV that users write, the binary that ESP-IDF's bootloader reads at
//! 0x8000, the conversions between them, and the checks that catch a broken layout before it is
//! flashed (overlaps, alignment, sizes against the flash, names, otadata size).
//!
//! The binary layout follows ESP-IDF's `gen_esp32part.py` byte for byte (facts §12): 32-byte
//! entries starting `AA 50`, an MD5 entry `EB EB` + 14×`FF` + MD5 of the entries, then `FF` up to
//! 0xC00. This module works on text and bytes only; it knows nothing of files (callers add the
//! file name to CSV errors with [`PartitionError::in_file`]).

use md5::{Digest, Md5};

use crate::units::{human_size, parse_number};

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

const FLAG_ENCRYPTED: u32 = 1 << 0;
const FLAG_READONLY: u32 = 1 << 1;

/// A partition table problem, with the line or entry and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// A problem on one line of a CSV table.
    #[error("{}line {line}: {message}", file.as_deref().map(|f| format!("{f} ")).unwrap_or_default())]
    Csv {
        /// The CSV file, when the caller knows it.
        file: Option<String>,
        /// 1-based line number.
        line: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// A problem in a binary table.
    #[error("partition table entry {index} (byte 0x{offset:x}): {message}")]
    Binary {
        /// 0-based entry index.
        index: usize,
        /// Byte offset of the entry in the table.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// No app partition by that name (or none at all).
    #[error("{0}")]
    NoApp(String),
    /// Any other problem with the table as a whole, already phrased for the user.
    #[error("{0}")]
    Invalid(String),
}

impl PartitionError {
    /// Name the file a CSV error came from, so the message reads `partitions.csv line 4: ...`.
    pub fn in_file(self, file: impl Into<String>) -> Self {
        match self {
            PartitionError::Csv { line, message, .. } => PartitionError::Csv {
                file: Some(file.into()),
                line,
                message,
            },
            PartitionError::Invalid(m) => PartitionError::Invalid(format!("{}: {m}", file.into())),
            other => other,
        }
    }
}

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
                    return (n < 16).then_some(0x10 + n);
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

    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut e = [0u8; ENTRY_LEN];
        e[0..2].copy_from_slice(&ENTRY_MAGIC);
        e[2] = self.ty;
        e[3] = self.subtype;
        e[4..8].copy_from_slice(&self.offset.to_le_bytes());
        e[8..12].copy_from_slice(&self.size.to_le_bytes());
        let name = self.name.as_bytes();
        let n = name.len().min(16);
        e[12..12 + n].copy_from_slice(&name[..n]);
        let flags = if self.encrypted { FLAG_ENCRYPTED } else { 0 }
            | if self.readonly { FLAG_READONLY } else { 0 };
        e[28..32].copy_from_slice(&flags.to_le_bytes());
        e
    }
}

/// A partition table: the partitions in table order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionTable {
    /// The partitions, in the order the table lists them.
    pub partitions: Vec<Partition>,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = bytes.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    u32::from_le_bytes(b)
}

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

/// Format a size for CSV: `1M`, `24K`, or hex.
fn csv_size(bytes: u32) -> String {
    if bytes != 0 && bytes % 0x10_0000 == 0 {
        format!("{}M", bytes / 0x10_0000)
    } else if bytes != 0 && bytes % 0x400 == 0 {
        format!("{}K", bytes / 0x400)
    } else {
        format!("0x{bytes:x}")
    }
}

impl PartitionTable {
    /// Parse a CSV table with the table at the default offset 0x8000.
    ///
    /// Empty offsets are filled after the previous partition (app partitions aligned to 64 KiB,
    /// others to 4 KiB), starting right after the table sector. The primary `bootloader` and
    /// `partition_table` entries of ESP-IDF 5.5+ tables go where they must be (0x0 and the table
    /// offset); other subtypes of those types need an explicit offset. Every structural check that can
    /// point at a line is done here; flash size and "has an app" are [`validate`](Self::validate)'s.
    pub fn from_csv(text: &str) -> Result<Self, PartitionError> {
        Self::from_csv_at(text, DEFAULT_TABLE_OFFSET)
    }

    /// Parse a CSV table that will be written at `table_offset`.
    pub fn from_csv_at(text: &str, table_offset: u32) -> Result<Self, PartitionError> {
        let mut partitions = Vec::new();
        let mut lines = Vec::new();
        let mut next_free = u64::from(table_offset) + u64::from(TABLE_SECTOR_SIZE);
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let err = |message: String| PartitionError::Csv {
                file: None,
                line: line_no,
                message,
            };
            // `#` starts a comment anywhere on the line; names cannot contain it.
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() < 5 {
                return Err(err(format!(
                    "expected `Name, Type, SubType, Offset, Size[, Flags]` but found {} field(s) in `{line}`",
                    fields.len()
                )));
            }
            if fields.len() > 6 && fields[6..].iter().any(|f| !f.is_empty()) {
                return Err(err(format!(
                    "too many fields in `{line}`: a partition has Name, Type, SubType, Offset, Size and Flags"
                )));
            }
            let name = fields[0];
            if name.is_empty() {
                return Err(err(
                    "the partition name is empty; give every partition a name of at most 15 bytes"
                        .into(),
                ));
            }
            if name.len() > MAX_NAME_LEN {
                return Err(err(format!(
                    "partition name `{name}` is {} bytes long; the limit is {MAX_NAME_LEN}",
                    name.len()
                )));
            }
            let ty = parse_type(fields[1]).map_err(err)?;
            let subtype = parse_subtype(ty, fields[2]).map_err(err)?;
            let size = parse_number(fields[4]).ok_or_else(|| {
                err(if fields[4].is_empty() {
                    format!("`{name}` has no size; give one such as 0x1000, 4096, 64K or 1M")
                } else {
                    format!(
                        "size `{}` is not a number (use 0x1000, 4096, 64K or 1M)",
                        fields[4]
                    )
                })
            })?;
            let reserved = matches!(
                ty,
                PartitionType::Bootloader | PartitionType::PartitionTable
            );
            let offset = if fields[3].is_empty() {
                // ESP-IDF 5.5+ lists the bootloader and the table themselves; the primary ones can
                // only be where the ROM and the bootloader look for them.
                match (ty, subtype) {
                    (PartitionType::Bootloader, 0x00) => BOOTLOADER_OFFSET,
                    (PartitionType::PartitionTable, 0x00) => table_offset,
                    _ if reserved => {
                        return Err(err(format!(
                            "`{name}` is a {} partition of subtype {} and has no fixed place; give its offset",
                            fields[1], fields[2]
                        )));
                    }
                    _ => {
                        let aligned = align_up(next_free, ty.alignment());
                        u32::try_from(aligned).map_err(|_| {
                            err(format!(
                                "no room left for `{name}`: the previous partitions end at 0x{next_free:x}; shrink them or give `{name}` an offset"
                            ))
                        })?
                    }
                }
            } else {
                parse_number(fields[3]).ok_or_else(|| {
                    err(format!(
                        "offset `{}` is not a number (use 0x10000 or leave it empty to place it after the previous partition)",
                        fields[3]
                    ))
                })?
            };
            let (mut encrypted, mut readonly) = (false, false);
            if let Some(flags) = fields.get(5) {
                for flag in flags.split(':').map(str::trim).filter(|f| !f.is_empty()) {
                    match flag.to_ascii_lowercase().as_str() {
                        "encrypted" => encrypted = true,
                        "readonly" => readonly = true,
                        _ => {
                            return Err(err(format!(
                                "unknown flag `{flag}`; accepted flags: encrypted, readonly (separate with `:`)"
                            )));
                        }
                    }
                }
            }
            let partition = Partition {
                name: name.to_string(),
                ty: ty.code(),
                subtype,
                offset,
                size,
                encrypted,
                readonly,
            };
            // The bootloader and table entries describe space before the partitions; they do not
            // move where the next partition without an offset goes.
            if !reserved {
                next_free = partition.end();
            }
            partitions.push(partition);
            lines.push(line_no);
        }
        if partitions.is_empty() {
            return Err(PartitionError::Invalid(
                "the CSV holds no partitions; each line needs `Name, Type, SubType, Offset, Size[, Flags]`".into(),
            ));
        }
        let table = PartitionTable { partitions };
        table
            .check(None, table_offset, false)
            .map_err(|(index, message)| match index.and_then(|i| lines.get(i)) {
                Some(&line) => PartitionError::Csv {
                    file: None,
                    line,
                    message,
                },
                None => PartitionError::Invalid(message),
            })?;
        Ok(table)
    }

    /// Parse a binary table: entries until a blank (all 0xFF) entry or the end of the data; an MD5
    /// entry is checked against the entries before it. Old tables without an MD5 entry or padding
    /// (like the 96-byte `partitions_singleapp.bin`) are accepted.
    pub fn from_binary(bytes: &[u8]) -> Result<Self, PartitionError> {
        if bytes.is_empty() {
            return Err(PartitionError::Invalid(
                "the partition table is empty (0 bytes); pass a CSV or a binary table of at least one 32-byte entry".into(),
            ));
        }
        let mut partitions = Vec::new();
        let mut md5 = Md5::new();
        let area = &bytes[..bytes.len().min(MAX_TABLE_LEN)];
        let mut chunks = area.chunks(ENTRY_LEN).enumerate();
        for (index, entry) in chunks.by_ref() {
            let offset = index * ENTRY_LEN;
            let err = |message: String| PartitionError::Binary {
                index,
                offset,
                message,
            };
            if entry.len() < ENTRY_LEN {
                return Err(err(format!(
                    "the table is truncated: the entry has only {} of {ENTRY_LEN} bytes; re-copy the file or regenerate it from its CSV",
                    entry.len()
                )));
            }
            if entry.iter().all(|&b| b == 0xFF) {
                return Ok(PartitionTable { partitions });
            }
            if entry[..2] == MD5_MAGIC {
                let digest: [u8; 16] = md5.clone().finalize().into();
                if entry[16..32] != digest {
                    return Err(err(format!(
                        "the MD5 entry does not match the entries before it (stored {}, computed {}); the table is corrupt, regenerate it from its CSV",
                        hex(&entry[16..32]),
                        hex(&digest)
                    )));
                }
                continue;
            }
            if entry[..2] != ENTRY_MAGIC {
                return Err(err(format!(
                    "expected the entry magic AA 50 but found {:02X} {:02X}; this is not a partition table or it is corrupt",
                    entry[0], entry[1]
                )));
            }
            let name_field = &entry[12..28];
            let name_len = name_field.iter().position(|&b| b == 0).unwrap_or(16);
            let name = std::str::from_utf8(&name_field[..name_len])
                .map_err(|_| {
                    err("the partition name is not valid UTF-8; the table is corrupt, regenerate it from its CSV".into())
                })?
                .to_string();
            let flags = u32_at(entry, 28);
            md5.update(entry);
            partitions.push(Partition {
                name,
                ty: entry[2],
                subtype: entry[3],
                offset: u32_at(entry, 4),
                size: u32_at(entry, 8),
                encrypted: flags & FLAG_ENCRYPTED != 0,
                readonly: flags & FLAG_READONLY != 0,
            });
        }
        Ok(PartitionTable { partitions })
    }

    /// Parse either form: binary if the bytes start with the entry magic `AA 50`, else CSV text.
    pub fn parse(bytes: &[u8]) -> Result<Self, PartitionError> {
        if bytes.starts_with(&ENTRY_MAGIC) {
            return Self::from_binary(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            PartitionError::Invalid(format!(
                "not a partition table: it does not start with AA 50 and is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ))
        })?;
        Self::from_csv(text)
    }

    /// The binary table: entries, the MD5 entry, and 0xFF up to 0xC00 bytes.
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_TABLE_LEN);
        let mut md5 = Md5::new();
        for p in &self.partitions {
            let entry = p.encode();
            md5.update(entry);
            out.extend_from_slice(&entry);
        }
        out.extend_from_slice(&MD5_MAGIC);
        out.extend_from_slice(&[0xFF; 14]);
        out.extend_from_slice(&md5.finalize());
        if out.len() < MAX_TABLE_LEN {
            out.resize(MAX_TABLE_LEN, 0xFF);
        }
        out
    }

    /// The table as CSV in ESP-IDF's column order, with aligned columns.
    pub fn to_csv(&self) -> String {
        let rows: Vec<[String; 6]> = self
            .partitions
            .iter()
            .map(|p| {
                [
                    format!("{},", p.name),
                    format!("{},", p.type_name()),
                    format!("{},", p.subtype_name()),
                    format!("0x{:x},", p.offset),
                    format!("{},", csv_size(p.size)),
                    p.flags_text(),
                ]
            })
            .collect();
        let header = ["# Name,", "Type,", "SubType,", "Offset,", "Size,", "Flags"];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        let mut out = String::from("# ESP-IDF Partition Table\n");
        let mut push_row = |cells: &[&str]| {
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 < cells.len() {
                    line.push_str(&format!("{cell:<w$} ", w = widths[i]));
                } else {
                    line.push_str(cell);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        };
        push_row(&header);
        for row in &rows {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            push_row(&cells);
        }
        out
    }

    /// Check the whole table: names, alignment, overlaps (with each other and with the table),
    /// otadata size, sizes against the flash, and that an app partition exists.
    pub fn validate(
        &self,
        flash_size: Option<u32>,
        table_offset: u32,
    ) -> Result<(), PartitionError> {
        self.check(flash_size, table_offset, true)
            .map_err(|(_, message)| PartitionError::Invalid(message))
    }

    /// The checks; errors carry the index of the partition at fault (for CSV line numbers).
    fn check(
        &self,
        flash_size: Option<u32>,
        table_offset: u32,
        need_app: bool,
    ) -> Result<(), (Option<usize>, String)> {
        if self.partitions.len() > MAX_PARTITIONS {
            return Err((
                None,
                format!(
                    "the table has {} partitions; at most {MAX_PARTITIONS} fit in the 0xC00-byte table: merge or remove some",
                    self.partitions.len()
                ),
            ));
        }
        let table_end = u64::from(table_offset) + u64::from(TABLE_SECTOR_SIZE);
        for (i, p) in self.partitions.iter().enumerate() {
            let at = |m: String| (Some(i), m);
            if p.name.is_empty() {
                return Err(at("a partition has an empty name".into()));
            }
            if p.name.len() > MAX_NAME_LEN {
                return Err(at(format!(
                    "partition name `{}` is {} bytes long; the limit is {MAX_NAME_LEN}",
                    p.name,
                    p.name.len()
                )));
            }
            if let Some(first) = self.partitions[..i].iter().position(|q| q.name == p.name) {
                return Err(at(format!(
                    "partition name `{}` is used twice (entries {} and {}); names must be unique",
                    p.name,
                    first + 1,
                    i + 1
                )));
            }
            if p.size == 0 {
                return Err(at(format!(
                    "partition `{}` has size 0; give it a size such as 4K",
                    p.name
                )));
            }
            let ty = p.partition_type();
            let align = ty.alignment();
            if p.offset % align != 0 {
                return Err(at(format!(
                    "partition `{}` starts at 0x{:x}, which is not a multiple of 0x{align:x} ({} partitions must be aligned to {}); use 0x{:x}",
                    p.name,
                    p.offset,
                    p.type_name(),
                    human_size(u64::from(align)),
                    align_up(u64::from(p.offset), align)
                )));
            }
            if ty == PartitionType::App && p.size % DATA_ALIGN != 0 {
                return Err(at(format!(
                    "app partition `{}` has size 0x{:x}, which is not a multiple of 0x1000; use 0x{:x}",
                    p.name,
                    p.size,
                    align_up(u64::from(p.size), DATA_ALIGN)
                )));
            }
            if ty == PartitionType::Data && p.subtype == 0x00 && p.size != OTADATA_SIZE {
                return Err(at(format!(
                    "otadata partition `{}` has size 0x{:x}; it must be exactly 0x2000 (two sectors)",
                    p.name, p.size
                )));
            }
            if ty == PartitionType::Data && p.subtype == 0x02 && p.size < 0x3000 && !p.readonly {
                return Err(at(format!(
                    "NVS partition `{}` is 0x{:x} bytes; NVS needs at least 0x3000 unless it is flagged `readonly`",
                    p.name, p.size
                )));
            }
            let in_reserved = matches!(
                ty,
                PartitionType::Bootloader | PartitionType::PartitionTable
            );
            if !in_reserved && u64::from(p.offset) < table_end {
                return Err(at(format!(
                    "partition `{}` at 0x{:x}..0x{:x} overlaps the bootloader or the partition table (0x{table_offset:x}..0x{table_end:x}); start it at 0x{:x} or later",
                    p.name,
                    p.offset,
                    p.end(),
                    align_up(table_end, align)
                )));
            }
            if let Some(flash) = flash_size {
                if p.end() > u64::from(flash) {
                    return Err(at(format!(
                        "partition `{}` ends at 0x{:x}, beyond the {} flash (0x{flash:x}); shrink it or set a larger flash size",
                        p.name,
                        p.end(),
                        human_size(u64::from(flash))
                    )));
                }
            }
        }
        let mut order: Vec<usize> = (0..self.partitions.len()).collect();
        order.sort_by_key(|&i| self.partitions[i].offset);
        for pair in order.windows(2) {
            let (a, b) = (&self.partitions[pair[0]], &self.partitions[pair[1]]);
            if u64::from(b.offset) < a.end() {
                let later = pair[0].max(pair[1]);
                return Err((
                    Some(later),
                    format!(
                        "partition `{}` (0x{:x}..0x{:x}) overlaps partition `{}` (0x{:x}..0x{:x}); start `{}` at 0x{:x} or later, or shrink `{}`",
                        b.name,
                        b.offset,
                        b.end(),
                        a.name,
                        a.offset,
                        a.end(),
                        b.name,
                        align_up(a.end(), b.partition_type().alignment()),
                        a.name
                    ),
                ));
            }
        }
        if need_app && !self.partitions.iter().any(Partition::is_app) {
            return Err((
                None,
                "the partition table has no app partition; add one such as `factory, app, factory, 0x10000, 1M`".into(),
            ));
        }
        Ok(())
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
        let list = || {
            let names: Vec<&str> = apps().map(|p| p.name.as_str()).collect();
            if names.is_empty() {
                "the table has no app partition".to_string()
            } else {
                format!("app partitions: {}", names.join(", "))
            }
        };
        if let Some(name) = name {
            return match self.find(name) {
                Some(p) if p.is_app() => Ok(p),
                Some(p) => Err(PartitionError::NoApp(format!(
                    "partition `{name}` is a {} partition, not an app partition; {}",
                    p.type_name(),
                    list()
                ))),
                None => Err(PartitionError::NoApp(format!(
                    "no partition named `{name}`; {}",
                    list()
                ))),
            };
        }
        apps()
            .find(|p| p.subtype == 0x00)
            .or_else(|| apps().find(|p| p.subtype == 0x10))
            .ok_or_else(|| {
                PartitionError::NoApp(format!(
                    "no factory or ota_0 partition to put the app in ({}); name one with --target-app-partition",
                    list()
                ))
            })
    }

    /// The partition with this name.
    pub fn find(&self, name: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.name == name)
    }
}

fn parse_type(text: &str) -> Result<PartitionType, String> {
    if let Some(t) = PartitionType::from_name(text) {
        return Ok(t);
    }
    match parse_number(text).and_then(|v| u8::try_from(v).ok()) {
        Some(v) if !text.is_empty() && text.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
            Ok(PartitionType::from_code(v))
        }
        _ => Err(format!(
            "unknown partition type `{text}`; accepted: app, data, bootloader, partition_table or a number (0x40..0xFE for custom types)"
        )),
    }
}

fn parse_subtype(ty: PartitionType, text: &str) -> Result<u8, String> {
    if text.is_empty() {
        return match ty {
            PartitionType::App => {
                Err("an app partition needs a subtype (factory, ota_0..ota_15, test)".into())
            }
            // ESP-IDF treats an empty data subtype as `undefined`.
            _ => Ok(0x06),
        };
    }
    if let Some(code) = ty.subtype_from_name(text) {
        return Ok(code);
    }
    if text.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        if let Some(v) = parse_number(text).and_then(|v| u8::try_from(v).ok()) {
            return Ok(v);
        }
    }
    let ty_name = ty
        .name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("0x{:02x}", ty.code()));
    Err(format!(
        "unknown subtype `{text}` for type {ty_name}; accepted: {}",
        ty.accepted_subtypes()
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_OTA: &str = "# Name, Type, SubType, Offset, Size, Flags\n\
        nvs,      data, nvs,     0x9000,  0x4000,\n\
        otadata,  data, ota,     0xd000,  0x2000,\n\
        phy_init, data, phy,     0xf000,  0x1000,\n\
        factory,  app,  factory, 0x10000,  1M,\n\
        ota_0,    app,  ota_0,   0x110000, 1M,\n\
        ota_1,    app,  ota_1,   0x210000, 1M,\n";

    #[test]
    fn csv_binary_round_trip() {
        let t = PartitionTable::from_csv(TWO_OTA).unwrap();
        assert_eq!(t.partitions.len(), 6);
        let bin = t.to_binary();
        assert_eq!(bin.len(), MAX_TABLE_LEN);
        let back = PartitionTable::from_binary(&bin).unwrap();
        assert_eq!(back, t);
        assert_eq!(PartitionTable::from_csv(&t.to_csv()).unwrap(), t);
        assert_eq!(PartitionTable::parse(&bin).unwrap(), t);
        assert_eq!(PartitionTable::parse(TWO_OTA.as_bytes()).unwrap(), t);
    }

    #[test]
    fn empty_offsets_are_filled_and_aligned() {
        let t = PartitionTable::from_csv(
            "nvs,data,nvs,,0x6000\nphy_init,data,phy,,4K\nfactory,app,factory,,1M\nstore,data,spiffs,,100K",
        )
        .unwrap();
        let offsets: Vec<u32> = t.partitions.iter().map(|p| p.offset).collect();
        assert_eq!(offsets, [0x9000, 0xF000, 0x10000, 0x110000]);
        assert_eq!(t.partitions[3].size, 100 * 1024);
    }

    #[test]
    fn bootloader_and_table_entries_are_placed_where_they_must_be() {
        let t = PartitionTable::from_csv_at(
            "bootloader,bootloader,primary,,0xA000\n\
             table,partition_table,primary,,0x1000\n\
             nvs,data,nvs,,0x6000\n\
             factory,app,factory,,1M",
            0xA000,
        )
        .unwrap();
        let layout: Vec<(u32, u32)> = t.partitions.iter().map(|p| (p.offset, p.size)).collect();
        assert_eq!(
            layout,
            [
                (0, 0xA000),
                (0xA000, 0x1000),
                (0xB000, 0x6000),
                (0x20000, 1 << 20)
            ]
        );
        t.validate(Some(4 << 20), 0xA000).unwrap();
        let e = PartitionTable::from_csv("recovery,bootloader,recovery,,0x8000")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("line 1: `recovery` is a bootloader partition"),
            "{e}"
        );
        assert!(e.ends_with("give its offset"), "{e}");
    }

    #[test]
    fn csv_errors_name_the_line() {
        let cases: &[(&str, &str)] = &[
            (
                "nvs,data,nvs,0x9000,0x6000\nfactory,app,bogus,0x10000,1M",
                "line 2: unknown subtype `bogus`",
            ),
            (
                "\n\nfoo,flurb,nvs,0x9000,0x6000",
                "line 3: unknown partition type `flurb`",
            ),
            (
                "a_very_long_partition_name,data,nvs,0x9000,0x6000",
                "line 1: partition name",
            ),
            (
                "nvs,data,nvs,0x9000,0x6000\nnvs,data,nvs,0xf000,0x1000",
                "line 2: partition name `nvs` is used twice",
            ),
            (
                "nvs,data,nvs,0x9000,0x6000\nx,data,phy,0xa000,0x1000",
                "line 2: partition `x` (0xa000..0xb000) overlaps partition `nvs`",
            ),
            (
                "factory,app,factory,0x11000,1M",
                "line 1: partition `factory` starts at 0x11000",
            ),
            (
                "otadata,data,ota,0x9000,0x1000",
                "line 1: otadata partition",
            ),
            (
                "nvs,data,nvs,0x8000,0x3000",
                "line 1: partition `nvs` at 0x8000..0xb000 overlaps",
            ),
            ("nvs,data,nvs,0x9000", "line 1: expected `Name, Type"),
            ("nvs,data,nvs,0x9000,lots", "line 1: size `lots`"),
            ("nvs,data,nvs,0x9000,", "line 1: `nvs` has no size"),
            (
                "nvs,data,nvs,0x9000,0x6000,shiny",
                "line 1: unknown flag `shiny`",
            ),
            (
                "factory,app,,0x10000,1M",
                "line 1: an app partition needs a subtype",
            ),
        ];
        for (csv, want) in cases {
            let e = PartitionTable::from_csv(csv).unwrap_err().to_string();
            assert!(e.starts_with(want), "{csv:?}: got `{e}`, want `{want}`");
        }
        let e = PartitionTable::from_csv("x,data,nvs,0x9000,0x6000\n,")
            .unwrap_err()
            .in_file("partitions.csv");
        assert!(e.to_string().starts_with("partitions.csv line 2:"), "{e}");
    }

    #[test]
    fn validate_checks_flash_size_and_app() {
        let t = PartitionTable::default_for_flash(4 << 20);
        t.validate(Some(4 << 20), 0x8000).unwrap();
        let e = t.validate(Some(2 << 20), 0x8000).unwrap_err().to_string();
        assert!(e.contains("beyond the 2 MiB flash"), "{e}");
        let no_app = PartitionTable::from_csv("nvs,data,nvs,0x9000,0x6000").unwrap();
        assert!(
            no_app
                .validate(None, 0x8000)
                .unwrap_err()
                .to_string()
                .contains("no app partition")
        );
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

    #[test]
    fn binary_errors_do_not_panic() {
        let good = PartitionTable::default_for_flash(4 << 20).to_binary();
        for cut in [1, 5, 31, 33, 70] {
            assert!(
                PartitionTable::from_binary(&good[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut bad_md5 = good.clone();
        bad_md5[0x70] ^= 1;
        assert!(
            PartitionTable::from_binary(&bad_md5)
                .unwrap_err()
                .to_string()
                .contains("MD5")
        );
        assert!(PartitionTable::from_binary(&[]).is_err());
        assert!(PartitionTable::parse(&[0xC3, 0x28, 0x00]).is_err());
    }
}
