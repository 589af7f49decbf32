//! Partition tables as CSV, in ESP-IDF's format: reading (with offsets filled in and every
//! problem pinned to its line) and writing (aligned columns). Text in, text out.

use super::{
    BOOTLOADER_OFFSET, DEFAULT_TABLE_OFFSET, MAX_NAME_LEN, Partition, PartitionError,
    PartitionTable, PartitionType, TABLE_SECTOR_SIZE, align_up,
};
use crate::units::parse_number;

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
            let err = |problem: PartitionError| PartitionError::Csv {
                file: None,
                line: line_no,
                source: Box::new(problem),
            };
            // `#` starts a comment anywhere on the line; names cannot contain it.
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() < 5 {
                return Err(err(PartitionError::TooFewFields {
                    found: fields.len(),
                    text: line.to_string(),
                }));
            }
            if fields.len() > 6 && fields[6..].iter().any(|f| !f.is_empty()) {
                return Err(err(PartitionError::TooManyFields {
                    text: line.to_string(),
                }));
            }
            let name = fields[0];
            if name.is_empty() {
                return Err(err(PartitionError::EmptyName));
            }
            if name.chars().any(char::is_control) {
                return Err(err(PartitionError::NameControlChar {
                    name: name.to_string(),
                }));
            }
            if name.len() > MAX_NAME_LEN {
                return Err(err(PartitionError::NameTooLong {
                    name: name.to_string(),
                    len: name.len(),
                }));
            }
            let ty = parse_type(fields[1]).map_err(err)?;
            let subtype = parse_subtype(ty, fields[2]).map_err(err)?;
            let size = parse_number(fields[4]).ok_or_else(|| {
                err(if fields[4].is_empty() {
                    PartitionError::MissingSize {
                        name: name.to_string(),
                    }
                } else {
                    PartitionError::BadSize {
                        text: fields[4].to_string(),
                    }
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
                        return Err(err(PartitionError::NoFixedPlace {
                            name: name.to_string(),
                            ty: fields[1].to_string(),
                            subtype: fields[2].to_string(),
                        }));
                    }
                    _ => {
                        let aligned = align_up(next_free, ty.alignment());
                        u32::try_from(aligned).map_err(|_| {
                            err(PartitionError::NoRoom {
                                name: name.to_string(),
                                next_free,
                            })
                        })?
                    }
                }
            } else {
                parse_number(fields[3]).ok_or_else(|| {
                    err(PartitionError::BadOffset {
                        text: fields[3].to_string(),
                    })
                })?
            };
            let (mut encrypted, mut readonly) = (false, false);
            if let Some(flags) = fields.get(5) {
                for flag in flags.split(':').map(str::trim).filter(|f| !f.is_empty()) {
                    match flag.to_ascii_lowercase().as_str() {
                        "encrypted" => encrypted = true,
                        "readonly" => readonly = true,
                        _ => {
                            return Err(err(PartitionError::UnknownFlag {
                                flag: flag.to_string(),
                            }));
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
            return Err(PartitionError::NoPartitions);
        }
        let table = PartitionTable { partitions };
        table
            .check(None, table_offset, false)
            .map_err(|(index, problem)| match index.and_then(|i| lines.get(i)) {
                Some(&line) => PartitionError::Csv {
                    file: None,
                    line,
                    source: Box::new(problem),
                },
                None => problem,
            })?;
        Ok(table)
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

fn parse_type(text: &str) -> Result<PartitionType, PartitionError> {
    if let Some(t) = PartitionType::from_name(text) {
        return Ok(t);
    }
    match parse_number(text).and_then(|v| u8::try_from(v).ok()) {
        Some(v) if !text.is_empty() && text.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
            Ok(PartitionType::from_code(v))
        }
        _ => Err(PartitionError::UnknownType {
            text: text.to_string(),
        }),
    }
}

fn parse_subtype(ty: PartitionType, text: &str) -> Result<u8, PartitionError> {
    if text.is_empty() {
        return match ty {
            PartitionType::App => Err(PartitionError::AppNeedsSubtype),
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
    Err(PartitionError::UnknownSubtype {
        text: text.to_string(),
        ty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::partition::MAX_TABLE_LEN;
    use crate::image::partition::tests::TWO_OTA;

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

    /// Found by the `partition_csv` fuzz target: a NUL in a name was accepted, and the binary
    /// table (which ends a name at its first NUL) gave back a different name.
    #[test]
    fn csv_name_with_a_control_character_is_refused() {
        for name in ["G\0x", "a\u{b}b", "tab\there"] {
            let csv = format!("{name},data,nvs,0x9000,0x6000\nfactory,app,factory,,1M");
            let e = PartitionTable::from_csv(&csv).unwrap_err();
            assert!(
                matches!(&e, PartitionError::Csv { line: 1, source, .. }
                    if matches!(**source, PartitionError::NameControlChar { .. })),
                "{e}"
            );
            assert!(e.to_string().contains("control character"), "{e}");
        }
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
        assert!(matches!(
            e.problem(),
            PartitionError::TooFewFields { found: 2, .. }
        ));
    }
}
