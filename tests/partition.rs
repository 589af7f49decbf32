//! Partition tables against ESP-IDF's own binaries (golden tier, needs the shared testdata) and
//! the templates shipped in `templates/`.

use cargo_esp32s3::image::partition::{PartitionTable, PartitionType};

#[path = "support/testdata.rs"]
mod support_testdata;
use support_testdata::{read, testdata};

#[test]
fn csv_gives_the_esp_idf_binary_byte_for_byte() {
    let Some(dir) = testdata() else { return };
    for name in ["single_factory_no_ota", "factory_app_two_ota"] {
        let csv = String::from_utf8(read(&dir, &format!("esptool/inputs/{name}.csv"))).unwrap();
        let expected = read(&dir, &format!("esptool/inputs/{name}.bin"));
        let table = PartitionTable::from_csv(&csv).unwrap();
        assert_eq!(table.to_binary(), expected, "{name}: CSV → binary");
        // binary → CSV → binary
        let parsed = PartitionTable::from_binary(&expected).unwrap();
        assert_eq!(parsed, table, "{name}: binary → table");
        let again = PartitionTable::from_csv(&parsed.to_csv()).unwrap();
        assert_eq!(again.to_binary(), expected, "{name}: binary → CSV → binary");
        table.validate(Some(4 << 20), 0x8000).unwrap();
    }
}

#[test]
fn real_tables_parse() {
    let Some(dir) = testdata() else { return };
    let hello = PartitionTable::parse(&read(
        &dir,
        "firmware/esp-idf-hello_world-esp32s3/partition-table.bin",
    ))
    .unwrap();
    let summary: Vec<(&str, u32, u32)> = hello
        .partitions
        .iter()
        .map(|p| (p.name.as_str(), p.offset, p.size))
        .collect();
    assert_eq!(
        summary,
        [
            ("nvs", 0x9000, 0x6000),
            ("phy_init", 0xF000, 0x1000),
            ("factory", 0x10000, 0x100000)
        ]
    );
    // The 2016 table: three entries, no MD5 entry, no padding.
    let legacy =
        PartitionTable::parse(&read(&dir, "esptool/inputs/partitions_singleapp.bin")).unwrap();
    let names: Vec<&str> = legacy.partitions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["factory", "rfdata", "wifidata"]);
    assert_eq!(legacy.partitions[1].partition_type(), PartitionType::Data);
    assert_eq!(legacy.partitions[2].subtype, 0x02);
    // espflash's CSV: factory of 4M at 0x10000 runs past a 4 MB flash.
    let csv = String::from_utf8(read(&dir, "esptool/inputs/espflash-partitions.csv")).unwrap();
    let t = PartitionTable::from_csv(&csv).unwrap();
    assert!(t.validate(Some(8 << 20), 0x8000).is_ok());
    let e = t.validate(Some(4 << 20), 0x8000).unwrap_err().to_string();
    assert!(
        e.contains("factory") && e.contains("beyond the 4 MiB flash"),
        "{e}"
    );
}

#[test]
fn single_app_template_is_the_generated_default() {
    let text = include_str!("../templates/partitions-single-app.csv");
    let template = PartitionTable::from_csv(text).unwrap();
    assert_eq!(template, PartitionTable::default_for_flash(4 << 20));
    template.validate(Some(4 << 20), 0x8000).unwrap();
    for mb in [2u32, 4, 8, 16] {
        let t = PartitionTable::default_for_flash(mb << 20);
        t.validate(Some(mb << 20), 0x8000).unwrap();
        assert_eq!(PartitionTable::from_csv(&t.to_csv()).unwrap(), t);
        assert_eq!(t.app_partition(None).unwrap().end(), u64::from(mb << 20));
    }
}

#[test]
fn two_ota_template_is_valid() {
    let t = PartitionTable::from_csv(include_str!("../templates/partitions-two-ota.csv")).unwrap();
    t.validate(Some(4 << 20), 0x8000).unwrap();
    assert_eq!(t.app_partition(None).unwrap().name, "ota_0");
}

#[test]
fn bad_input_is_an_error_never_a_panic() {
    let mut seed = 0x1234_5678u32;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let good = PartitionTable::default_for_flash(4 << 20).to_binary();
    for len in [0usize, 1, 2, 31, 32, 64, 100, 0xC00, 0x1000] {
        let random: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = PartitionTable::parse(&random);
        let mut table_like = random.clone();
        if table_like.len() >= 2 {
            table_like[..2].copy_from_slice(&[0xAA, 0x50]);
        }
        let _ = PartitionTable::from_binary(&table_like);
        if len <= good.len() {
            let _ = PartitionTable::from_binary(&good[..len]);
        }
    }
    for csv in [
        "",
        ",,,,,",
        "a,b",
        "x,app,factory,0x10000,99999999999",
        "x,data,nvs,0xffffffff,0x1000",
        "x,data,nvs,,0xffffffff\ny,data,nvs,,0x1000",
        "\u{0}\u{1}",
        "é,données,nvs,1,1",
    ] {
        let _ = PartitionTable::from_csv(csv);
    }
    assert!(PartitionTable::parse(b"").is_err());
}
