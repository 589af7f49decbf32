//! `ES06xx`: the codes of [`PartitionError`] (CSV and binary partition tables and their layout).
//! It must not know how tables are parsed: its examples are values.

use crate::image::partition::{PartitionError, PartitionType};

catalogue! {
    /// The code of a partition table error.
    pub(super) fn code(&PartitionError);
    /// `ES06xx`: partition tables.
    pub(super) const ENTRIES;
    wrappers {
        PartitionError::Csv { source, .. }
        | PartitionError::Binary { source, .. }
        | PartitionError::InFile { source, .. } => code(source),
    }
    PartitionError::TooFewFields { .. } => ES0601 {
        example: PartitionError::TooFewFields { found: 4, text: "nvs, data, nvs, 0x9000".into() },
        cause: "A CSV line has fewer than the five fields Name, Type, SubType, Offset, Size: a missing comma or a missing size.",
        fix: "Write every field; an empty offset (`nvs, data, nvs, , 0x6000`) places the partition after the previous one.",
    },
    PartitionError::TooManyFields { .. } => ES0602 {
        example: PartitionError::TooManyFields {
            text: "nvs, data, nvs, 0x9000, 0x6000, , extra".into(),
        },
        cause: "A CSV line has fields after the flags: an extra comma, or a comment without `#`.",
        fix: "Remove the extra fields; start comments with `#`.",
    },
    PartitionError::UnknownType { .. } => ES0603 {
        example: PartitionError::UnknownType { text: "application".into() },
        cause: "The type is neither a known name nor a number.",
        fix: "Use app, data, bootloader, partition_table, or a number (0x40..0xFE for custom types).",
    },
    PartitionError::AppNeedsSubtype => ES0604 {
        example: PartitionError::AppNeedsSubtype,
        cause: "An app partition's subtype field is empty.",
        fix: "Give it factory, ota_0..ota_15 or test.",
    },
    PartitionError::UnknownSubtype { .. } => ES0605 {
        example: PartitionError::UnknownSubtype { text: "ota".into(), ty: PartitionType::App },
        cause: "The subtype is not one its type knows, nor a number: often `ota` for `ota_0`, or a data subtype on an app partition.",
        fix: "Use one of the subtypes the message lists, or a number.",
    },
    PartitionError::MissingSize { .. } => ES0606 {
        example: PartitionError::MissingSize { name: "storage".into() },
        cause: "A partition's size field is empty.",
        fix: "Give a size such as 0x1000, 4096, 64K or 1M.",
    },
    PartitionError::BadSize { .. } => ES0607 {
        example: PartitionError::BadSize { text: "1MB".into() },
        cause: "The size is not a number this tool reads: a unit it does not know, or a typo.",
        fix: "Write it as 0x1000, 4096, 64K or 1M.",
    },
    PartitionError::BadOffset { .. } => ES0608 {
        example: PartitionError::BadOffset { text: "9000".into() },
        cause: "The offset is not a number: often hexadecimal without `0x`.",
        fix: "Write it as 0x9000, or leave it empty to place the partition after the previous one.",
    },
    PartitionError::NoFixedPlace { .. } => ES0609 {
        example: PartitionError::NoFixedPlace {
            name: "bootloader2".into(),
            ty: "bootloader".into(),
            subtype: "ota".into(),
        },
        cause: "A bootloader or partition-table entry other than the primary one has no offset, and such entries have no default place.",
        fix: "Give its offset.",
    },
    PartitionError::NoRoom { .. } => ES0610 {
        example: PartitionError::NoRoom { name: "storage".into(), next_free: 0xffff_f000 },
        cause: "A partition without an offset would start beyond 4 GiB: a huge size on an earlier line.",
        fix: "Check the earlier sizes, or give the partition an offset.",
    },
    PartitionError::UnknownFlag { .. } => ES0611 {
        example: PartitionError::UnknownFlag { flag: "secure".into() },
        cause: "The flags field holds something other than `encrypted` and `readonly`.",
        fix: "Use encrypted and readonly only, separated with `:`.",
    },
    PartitionError::NoPartitions => ES0612 {
        example: PartitionError::NoPartitions,
        cause: "The CSV holds only comments and blank lines: the wrong file, or an empty one.",
        fix: "Write one line per partition, `Name, Type, SubType, Offset, Size[, Flags]`.",
    },
    PartitionError::EmptyTable => ES0613 {
        example: PartitionError::EmptyTable,
        cause: "The table file has no bytes.",
        fix: "Pass a CSV, or a binary table of at least one 32-byte entry.",
    },
    PartitionError::EntryTruncated { .. } => ES0614 {
        example: PartitionError::EntryTruncated { len: 12, needed: 32 },
        cause: "The binary table ends in the middle of an entry: the file was cut short.",
        fix: "Copy the file again, or regenerate it from its CSV (`cargo esp32s3 partition-table t.csv --to-binary -o t.bin`).",
    },
    PartitionError::Md5Mismatch { .. } => ES0615 {
        example: PartitionError::Md5Mismatch { stored: [0x11; 16], computed: [0x22; 16] },
        cause: "The MD5 entry does not match the entries before it: the table was edited by hand or damaged.",
        fix: "Regenerate the table from its CSV.",
    },
    PartitionError::BadEntryMagic { .. } => ES0616 {
        example: PartitionError::BadEntryMagic { found: [0xe9, 0x03] },
        cause: "An entry does not start with AA 50: the file is not a partition table (an image, say), or it is damaged.",
        fix: "Pass the partition table itself (`partition-table.bin`, or the CSV).",
    },
    PartitionError::NameNotUtf8 => ES0617 {
        example: PartitionError::NameNotUtf8,
        cause: "A partition's name field is not UTF-8: the table is damaged.",
        fix: "Regenerate the table from its CSV.",
    },
    PartitionError::NotATable { .. } => ES0618 {
        example: PartitionError::NotATable { invalid_byte_at: 3 },
        cause: "The file is neither a binary table (it does not start with AA 50) nor CSV text: an image or another binary file.",
        fix: "Pass the partition table's CSV or its binary form.",
    },
    PartitionError::TooManyPartitions { .. } => ES0619 {
        example: PartitionError::TooManyPartitions { count: 96 },
        cause: "More partitions than the 0xC00-byte table holds.",
        fix: "Merge or remove partitions.",
    },
    PartitionError::EmptyName => ES0620 {
        example: PartitionError::EmptyName,
        cause: "A partition has no name.",
        fix: "Give every partition a name of at most 15 bytes.",
    },
    PartitionError::NameTooLong { .. } => ES0621 {
        example: PartitionError::NameTooLong { name: "configuration_data".into(), len: 18 },
        cause: "A name is longer than the table's 16-byte field holds with its terminating zero.",
        fix: "Shorten it to 15 bytes at most.",
    },
    PartitionError::NameControlChar { .. } => ES0622 {
        example: PartitionError::NameControlChar { name: "nvs\t".into() },
        cause: "A name holds a control character (a tab, a NUL), which would cut it short in the binary table.",
        fix: "Use printable characters only.",
    },
    PartitionError::DuplicateName { .. } => ES0623 {
        example: PartitionError::DuplicateName { name: "nvs".into(), first: 1, second: 4 },
        cause: "Two partitions have the same name, so a lookup by name would find the first only.",
        fix: "Rename one of them.",
    },
    PartitionError::ZeroSize { .. } => ES0624 {
        example: PartitionError::ZeroSize { name: "storage".into() },
        cause: "A partition has size 0.",
        fix: "Give it a size such as 4K, or remove it.",
    },
    PartitionError::Misaligned { .. } => ES0625 {
        example: PartitionError::Misaligned {
            name: "factory".into(),
            offset: 0x11000,
            ty: "app".into(),
            align: 0x10000,
        },
        cause: "A partition does not start on its type's alignment: app partitions on 64 KiB, others on 4 KiB.",
        fix: "Use the offset the message suggests, or leave the offset empty so it is placed aligned.",
    },
    PartitionError::AppSizeUnaligned { .. } => ES0626 {
        example: PartitionError::AppSizeUnaligned { name: "factory".into(), size: 0x10_0800 },
        cause: "An app partition's size is not a whole number of 4 KiB sectors.",
        fix: "Round the size up to a multiple of 0x1000 (the message gives it).",
    },
    PartitionError::OtadataSize { .. } => ES0627 {
        example: PartitionError::OtadataSize { name: "otadata".into(), size: 0x1000 },
        cause: "An otadata partition is not exactly two sectors, which the bootloader requires.",
        fix: "Make it 0x2000 bytes.",
    },
    PartitionError::NvsTooSmall { .. } => ES0628 {
        example: PartitionError::NvsTooSmall { name: "nvs".into(), size: 0x2000 },
        cause: "A writable NVS partition is smaller than the 3 sectors NVS needs to work.",
        fix: "Make it at least 0x3000 bytes, or flag it `readonly`.",
    },
    PartitionError::OverlapsTable { .. } => ES0629 {
        example: PartitionError::OverlapsTable {
            name: "nvs".into(),
            range: 0x8000..0xe000,
            reserved: 0x8000..0x9000,
            suggested: 0x9000,
        },
        cause: "A partition lies over the bootloader or the partition table itself: a table written for another table offset.",
        fix: "Start it after the table (the message gives the offset), or move the table with --partition-table-offset.",
    },
    PartitionError::BeyondFlash { .. } => ES0630 {
        example: PartitionError::BeyondFlash {
            name: "storage".into(),
            end: 0x80_0000,
            flash_size: 0x40_0000,
        },
        cause: "A partition ends past the end of the flash: a table written for a larger flash, or a flash size set too small.",
        fix: "Shrink the partition, or set the chip's real flash size (`flash-size`, or `detect`).",
    },
    PartitionError::Overlap { .. } => ES0631 {
        example: PartitionError::Overlap {
            name: "storage".into(),
            range: 0x10_0000..0x20_0000,
            other: "factory".into(),
            other_range: 0x1_0000..0x11_0000,
            suggested: 0x11_0000,
        },
        cause: "Two partitions share flash: a partition grown without moving the next one.",
        fix: "Start the later one where the message says, or shrink the earlier one.",
    },
    PartitionError::NoAppPartition => ES0632 {
        example: PartitionError::NoAppPartition,
        cause: "The table has no app partition, so the bootloader has nothing to boot.",
        fix: "Add one, such as `factory, app, factory, 0x10000, 1M`.",
    },
    PartitionError::NotAnApp { .. } => ES0633 {
        example: PartitionError::NotAnApp {
            name: "nvs".into(),
            ty: "data".into(),
            apps: vec!["factory".into()],
        },
        cause: "The partition named for the app (`target-app-partition`) is not an app partition.",
        fix: "Name one of the app partitions the message lists.",
    },
    PartitionError::NoSuchPartition { .. } => ES0634 {
        example: PartitionError::NoSuchPartition {
            name: "ota_2".into(),
            apps: vec!["ota_0".into(), "ota_1".into()],
        },
        cause: "No partition has the name given for the app: a typo, or a table other than the one meant.",
        fix: "Name one of the app partitions the message lists.",
    },
    PartitionError::NoDefaultApp { .. } => ES0635 {
        example: PartitionError::NoDefaultApp { apps: vec!["app_a".into(), "app_b".into()] },
        cause: "No app partition was named and the table has neither `factory` nor `ota_0`, where the app goes by default.",
        fix: "Name one with --target-app-partition (or `target-app-partition` in the settings).",
    },
    PartitionError::BadTableOffset { .. } => ES0636 {
        example: PartitionError::BadTableOffset { text: "8000".into() },
        cause: "The partition table offset is not a number: often hexadecimal without `0x`.",
        fix: "Write it as 0x8000.",
    },
    PartitionError::BadFlashSize { .. } => ES0637 {
        example: PartitionError::BadFlashSize { text: "3MB".into() },
        cause: "The flash size is not one a flash chip has.",
        fix: "Use 1MB, 2MB, 4MB, 8MB, 16MB, 32MB, 64MB or 128MB.",
    },
    PartitionError::BinaryToTerminal => ES0638 {
        example: PartitionError::BinaryToTerminal,
        cause: "`partition-table --to-binary` would write bytes to the terminal.",
        fix: "Give -o FILE, or redirect stdout to a file.",
    },
}
