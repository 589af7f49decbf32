//! Fuzz target: partition tables in ESP-IDF's CSV format. Properties: no panic; a table that
//! parses survives CSV → binary → table and table → CSV → table unchanged, and its binary form
//! fits the table sector.

#![no_main]

use cargo_esp32s3::image::partition::{MAX_TABLE_LEN, PartitionTable};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(table) = PartitionTable::from_csv_at(text, 0x8000) else {
        return;
    };
    let binary = table.to_binary();
    assert!(binary.len() <= MAX_TABLE_LEN, "{} bytes", binary.len());
    let from_binary = PartitionTable::from_binary(&binary).expect("our own binary parses");
    assert_eq!(from_binary, table, "CSV → binary → table changed it");
    let csv = table.to_csv();
    let from_csv = PartitionTable::from_csv_at(&csv, 0x8000).expect("our own CSV parses");
    assert_eq!(from_csv, table, "table → CSV → table changed it:\n{csv}");
    let _ = table.validate(Some(4 << 20), 0x8000);
    let _ = table.app_partition(None);
});
