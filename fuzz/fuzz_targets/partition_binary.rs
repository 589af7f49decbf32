//! Fuzz target: binary partition tables (as read from a file or from the chip at 0x8000).
//! Properties: no panic; a table that parses is written back to a binary that parses to the same
//! table, and it can be checked and shown as CSV.

#![no_main]

use cargo_esp32s3::image::partition::PartitionTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = PartitionTable::from_binary(data) else {
        return;
    };
    let again = PartitionTable::from_binary(&table.to_binary()).expect("our own binary parses");
    assert_eq!(again, table);
    let _ = table.validate(None, 0x8000);
    let _ = table.to_csv();
    let _ = table.app_partition(Some("ota_0"));
});
