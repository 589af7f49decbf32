//! The partition-table error: one variant per problem, each carrying the values at fault, and
//! its one-line message (what is wrong, then what to do) in the `#[error]` attribute, so this
//! enum is the catalogue of every partition-table message.
//!
//! The problems themselves are found by `csv.rs`, `binary.rs` and `validate.rs`; where they were
//! found (a CSV line, a binary entry, a file) is added by the wrapping variants [`Csv`],
//! [`Binary`] and [`InFile`]. Nothing here reads files.
//!
//! [`Csv`]: PartitionError::Csv
//! [`Binary`]: PartitionError::Binary
//! [`InFile`]: PartitionError::InFile

use std::ops::Range;

use super::{DATA_ALIGN, MAX_NAME_LEN, MAX_PARTITIONS, PartitionType, align_up};
use crate::units::human_size;

/// A partition table problem, with the values at fault and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    // --- Where the problem was found --------------------------------------------------------
    /// A problem on one line of a CSV table.
    #[error("{}line {line}: {source}", file.as_deref().map(|f| format!("{f} ")).unwrap_or_default())]
    Csv {
        /// The CSV file, when the caller knows it.
        file: Option<String>,
        /// 1-based line number.
        line: usize,
        /// What is wrong on that line.
        #[source]
        source: Box<PartitionError>,
    },
    /// A problem in one entry of a binary table.
    #[error("partition table entry {index} (byte 0x{offset:x}): {source}")]
    Binary {
        /// 0-based entry index.
        index: usize,
        /// Byte offset of the entry in the table.
        offset: usize,
        /// What is wrong with the entry.
        #[source]
        source: Box<PartitionError>,
    },
    /// A problem with the table in a file (added by [`PartitionError::in_file`]).
    #[error("{file}: {source}")]
    InFile {
        /// The file, as the user should see it.
        file: String,
        /// The problem.
        #[source]
        source: Box<PartitionError>,
    },

    // --- CSV text ---------------------------------------------------------------------------
    /// A CSV line with fewer than five fields.
    #[error(
        "expected `Name, Type, SubType, Offset, Size[, Flags]` but found {found} field(s) in `{text}`"
    )]
    TooFewFields {
        /// Fields found.
        found: usize,
        /// The line, without its comment.
        text: String,
    },
    /// A CSV line with non-empty fields after the flags.
    #[error(
        "too many fields in `{text}`: a partition has Name, Type, SubType, Offset, Size and Flags"
    )]
    TooManyFields {
        /// The line, without its comment.
        text: String,
    },
    /// A type that is neither a known name nor a number.
    #[error(
        "unknown partition type `{text}`; accepted: app, data, bootloader, partition_table or a number (0x40..0xFE for custom types)"
    )]
    UnknownType {
        /// The type as written.
        text: String,
    },
    /// An app partition without a subtype.
    #[error("an app partition needs a subtype (factory, ota_0..ota_15, test)")]
    AppNeedsSubtype,
    /// A subtype that its type does not name and that is not a number.
    #[error(
        "unknown subtype `{text}` for type {}; accepted: {}",
        type_text(*ty),
        ty.accepted_subtypes()
    )]
    UnknownSubtype {
        /// The subtype as written.
        text: String,
        /// The partition's type.
        ty: PartitionType,
    },
    /// An empty size field.
    #[error("`{name}` has no size; give one such as 0x1000, 4096, 64K or 1M")]
    MissingSize {
        /// The partition.
        name: String,
    },
    /// A size that is not a number.
    #[error("size `{text}` is not a number (use 0x1000, 4096, 64K or 1M)")]
    BadSize {
        /// The size as written.
        text: String,
    },
    /// An offset that is not a number.
    #[error(
        "offset `{text}` is not a number (use 0x10000 or leave it empty to place it after the previous partition)"
    )]
    BadOffset {
        /// The offset as written.
        text: String,
    },
    /// A bootloader or partition-table entry other than the primary one, without an offset.
    #[error(
        "`{name}` is a {ty} partition of subtype {subtype} and has no fixed place; give its offset"
    )]
    NoFixedPlace {
        /// The partition.
        name: String,
        /// Its type as written.
        ty: String,
        /// Its subtype as written.
        subtype: String,
    },
    /// A partition without an offset that would start beyond 4 GiB.
    #[error(
        "no room left for `{name}`: the previous partitions end at 0x{next_free:x}; shrink them or give `{name}` an offset"
    )]
    NoRoom {
        /// The partition.
        name: String,
        /// Where the previous partitions end.
        next_free: u64,
    },
    /// A flag other than `encrypted` and `readonly`.
    #[error("unknown flag `{flag}`; accepted flags: encrypted, readonly (separate with `:`)")]
    UnknownFlag {
        /// The flag as written.
        flag: String,
    },
    /// A CSV without a single partition line.
    #[error(
        "the CSV holds no partitions; each line needs `Name, Type, SubType, Offset, Size[, Flags]`"
    )]
    NoPartitions,

    // --- Binary tables ----------------------------------------------------------------------
    /// A binary table of zero bytes.
    #[error(
        "the partition table is empty (0 bytes); pass a CSV or a binary table of at least one 32-byte entry"
    )]
    EmptyTable,
    /// The last entry of a binary table is cut short.
    #[error(
        "the table is truncated: the entry has only {len} of {needed} bytes; re-copy the file or regenerate it from its CSV"
    )]
    EntryTruncated {
        /// Bytes present.
        len: usize,
        /// Bytes an entry has.
        needed: usize,
    },
    /// The MD5 entry disagrees with the entries before it.
    #[error(
        "the MD5 entry does not match the entries before it (stored {}, computed {}); the table is corrupt, regenerate it from its CSV",
        hex(stored),
        hex(computed)
    )]
    Md5Mismatch {
        /// MD5 stored in the table.
        stored: [u8; 16],
        /// MD5 of the entries.
        computed: [u8; 16],
    },
    /// An entry that starts with neither the entry magic nor the MD5 magic.
    #[error(
        "expected the entry magic AA 50 but found {:02X} {:02X}; this is not a partition table or it is corrupt",
        found[0],
        found[1]
    )]
    BadEntryMagic {
        /// The entry's first two bytes.
        found: [u8; 2],
    },
    /// A name field that is not UTF-8.
    #[error(
        "the partition name is not valid UTF-8; the table is corrupt, regenerate it from its CSV"
    )]
    NameNotUtf8,
    /// Bytes that are neither a binary table nor text.
    #[error(
        "not a partition table: it does not start with AA 50 and is not UTF-8 text (invalid byte at offset {invalid_byte_at})"
    )]
    NotATable {
        /// Offset of the first byte that is not UTF-8.
        invalid_byte_at: usize,
    },

    // --- The layout (CSV and binary alike) --------------------------------------------------
    /// More partitions than fit in the table area.
    #[error(
        "the table has {count} partitions; at most {MAX_PARTITIONS} fit in the 0xC00-byte table: merge or remove some"
    )]
    TooManyPartitions {
        /// Partitions in the table.
        count: usize,
    },
    /// A partition without a name.
    #[error("the partition name is empty; give every partition a name of at most 15 bytes")]
    EmptyName,
    /// A name longer than the 16-byte field allows.
    #[error("partition name `{name}` is {len} bytes long; the limit is {MAX_NAME_LEN}")]
    NameTooLong {
        /// The name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A name with a control character (a NUL would cut it short in the binary table).
    #[error("partition name {name:?} holds a control character; use printable characters only")]
    NameControlChar {
        /// The name.
        name: String,
    },
    /// Two partitions with the same name.
    #[error(
        "partition name `{name}` is used twice (entries {first} and {second}); names must be unique"
    )]
    DuplicateName {
        /// The name.
        name: String,
        /// 1-based entry of the first use.
        first: usize,
        /// 1-based entry of the second use.
        second: usize,
    },
    /// A partition of size 0.
    #[error("partition `{name}` has size 0; give it a size such as 4K")]
    ZeroSize {
        /// The partition.
        name: String,
    },
    /// A partition that does not start on its type's alignment.
    #[error(
        "partition `{name}` starts at 0x{offset:x}, which is not a multiple of 0x{align:x} ({ty} partitions must be aligned to {}); use 0x{:x}",
        human_size(u64::from(*align)),
        align_up(u64::from(*offset), *align)
    )]
    Misaligned {
        /// The partition.
        name: String,
        /// Its offset.
        offset: u32,
        /// Its type as written in CSV (`app`, `0x40`).
        ty: String,
        /// The alignment its type needs.
        align: u32,
    },
    /// An app partition whose size is not a whole number of sectors.
    #[error(
        "app partition `{name}` has size 0x{size:x}, which is not a multiple of 0x1000; use 0x{:x}",
        align_up(u64::from(*size), DATA_ALIGN)
    )]
    AppSizeUnaligned {
        /// The partition.
        name: String,
        /// Its size.
        size: u32,
    },
    /// An otadata partition of another size than two sectors.
    #[error(
        "otadata partition `{name}` has size 0x{size:x}; it must be exactly 0x2000 (two sectors)"
    )]
    OtadataSize {
        /// The partition.
        name: String,
        /// Its size.
        size: u32,
    },
    /// A writable NVS partition below the 3 sectors NVS needs.
    #[error(
        "NVS partition `{name}` is 0x{size:x} bytes; NVS needs at least 0x3000 unless it is flagged `readonly`"
    )]
    NvsTooSmall {
        /// The partition.
        name: String,
        /// Its size.
        size: u32,
    },
    /// A partition inside the space of the bootloader and the table.
    #[error(
        "partition `{name}` at 0x{:x}..0x{:x} overlaps the bootloader or the partition table (0x{:x}..0x{:x}); start it at 0x{suggested:x} or later",
        range.start,
        range.end,
        reserved.start,
        reserved.end
    )]
    OverlapsTable {
        /// The partition.
        name: String,
        /// Its flash range.
        range: Range<u64>,
        /// The partition table's sector.
        reserved: Range<u64>,
        /// The first aligned offset after the table.
        suggested: u64,
    },
    /// A partition that ends beyond the flash.
    #[error(
        "partition `{name}` ends at 0x{end:x}, beyond the {} flash (0x{flash_size:x}); shrink it or set a larger flash size",
        human_size(u64::from(*flash_size))
    )]
    BeyondFlash {
        /// The partition.
        name: String,
        /// Its end offset.
        end: u64,
        /// The flash size.
        flash_size: u32,
    },
    /// Two partitions that share flash.
    #[error(
        "partition `{name}` (0x{:x}..0x{:x}) overlaps partition `{other}` (0x{:x}..0x{:x}); start `{name}` at 0x{suggested:x} or later, or shrink `{other}`",
        range.start,
        range.end,
        other_range.start,
        other_range.end
    )]
    Overlap {
        /// The partition that starts later.
        name: String,
        /// Its flash range.
        range: Range<u64>,
        /// The partition it overlaps.
        other: String,
        /// That one's flash range.
        other_range: Range<u64>,
        /// The first offset after `other` that suits `name`'s alignment.
        suggested: u64,
    },
    /// A table with no app partition at all.
    #[error(
        "the partition table has no app partition; add one such as `factory, app, factory, 0x10000, 1M`"
    )]
    NoAppPartition,

    // --- Choosing the app partition ---------------------------------------------------------
    /// The partition named for the app is not an app partition.
    #[error(
        "partition `{name}` is a {ty} partition, not an app partition; {}",
        app_list(apps)
    )]
    NotAnApp {
        /// The partition named.
        name: String,
        /// Its type as written in CSV.
        ty: String,
        /// The table's app partitions.
        apps: Vec<String>,
    },
    /// No partition has the name given for the app.
    #[error("no partition named `{name}`; {}", app_list(apps))]
    NoSuchPartition {
        /// The name given.
        name: String,
        /// The table's app partitions.
        apps: Vec<String>,
    },
    /// No partition was named and the table has neither `factory` nor `ota_0`.
    #[error(
        "no factory or ota_0 partition to put the app in ({}); name one with --target-app-partition",
        app_list(apps)
    )]
    NoDefaultApp {
        /// The table's app partitions.
        apps: Vec<String>,
    },

    // --- Command-line values about tables ---------------------------------------------------
    /// A `--partition-table-offset` that is not a number.
    #[error("partition table offset `{text}` is not a number (use 0x8000)")]
    BadTableOffset {
        /// The offset as written.
        text: String,
    },
    /// A `--flash-size` that is not a flash size.
    #[error("flash size `{text}` is not one of 1MB, 2MB, 4MB, 8MB, 16MB, 32MB, 64MB, 128MB")]
    BadFlashSize {
        /// The size as written.
        text: String,
    },
    /// A binary table would be written to a terminal.
    #[error("not writing a binary table to the terminal; give -o FILE or redirect stdout")]
    BinaryToTerminal,
}

impl PartitionError {
    /// Name the file the table came from: a CSV error reads `partitions.csv line 4: ...`, any
    /// other `partitions.csv: ...`. Naming the file twice does nothing.
    pub fn in_file(self, file: impl Into<String>) -> Self {
        match self {
            PartitionError::Csv { line, source, .. } => PartitionError::Csv {
                file: Some(file.into()),
                line,
                source,
            },
            PartitionError::InFile { .. } => self,
            other => PartitionError::InFile {
                file: file.into(),
                source: Box::new(other),
            },
        }
    }

    /// The problem itself, without where it was found (a CSV line, an entry, a file).
    pub fn problem(&self) -> &PartitionError {
        match self {
            PartitionError::Csv { source, .. }
            | PartitionError::Binary { source, .. }
            | PartitionError::InFile { source, .. } => source.problem(),
            other => other,
        }
    }
}

/// A type as CSV writes it: its name, or its number for custom types.
fn type_text(ty: PartitionType) -> String {
    ty.name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("0x{:02x}", ty.code()))
}

/// "app partitions: factory, ota_0", or that there are none.
fn app_list(apps: &[String]) -> String {
    if apps.is_empty() {
        "the table has no app partition".to_string()
    } else {
        format!("app partitions: {}", apps.join(", "))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
