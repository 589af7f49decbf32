//! Merged offset-0 images against esptool's `merge-bin` outputs and a real MicroPython release
//! (golden tier, needs the shared testdata), plus synthetic checks that run anywhere.

use std::path::Path;

use cargo_esp32s3::image::format::{FlashFreq, FlashMode, FlashParams, FlashSize, parse_image};
use cargo_esp32s3::image::merge::{
    Offset0Inputs, Region, RegionKind, merge_regions, merge_regions_from, offset0_regions,
    split_offset0_image,
};
use cargo_esp32s3::image::partition::PartitionTable;

#[path = "support/testdata.rs"]
mod support_testdata;
use support_testdata::{read, testdata};

/// One esptool merge-bin run: flash settings, padding, and the expected file.
fn check_offset0(dir: &Path, flash: FlashParams, pad_to: Option<u32>, expected: &str) {
    let bootloader = read(dir, "esptool/inputs/bootloader_esp32s3.bin");
    let table = PartitionTable::from_binary(&read(dir, "esptool/inputs/single_factory_no_ota.bin"))
        .unwrap();
    let app = read(dir, "esptool/expected/app-dio-80m-4MB.v5.6.0.bin");
    let regions = offset0_regions(&Offset0Inputs {
        bootloader: &bootloader,
        table: &table,
        table_offset: 0x8000,
        app: &app,
        app_partition: None,
        flash,
        flash_size: None,
    })
    .unwrap();
    let merged = merge_regions(&regions, pad_to).unwrap();
    let want = read(dir, &format!("esptool/expected/{expected}"));
    assert_eq!(merged.len(), want.len(), "{expected}: length");
    if let Some(at) = merged.iter().zip(&want).position(|(a, b)| a != b) {
        panic!("{expected}: first difference at 0x{at:x}");
    }
}

#[test]
fn reproduces_esptool_merge_bin() {
    let Some(dir) = testdata() else { return };
    check_offset0(&dir, FlashParams::default(), None, "merged-keep.v5.6.0.bin");
    check_offset0(
        &dir,
        FlashParams {
            mode: Some(FlashMode::Dio),
            size: Some(FlashSize::S4Mb),
            freq: Some(FlashFreq::F80m),
        },
        None,
        "merged-dio-80m-4MB.v5.6.0.bin",
    );
    check_offset0(
        &dir,
        FlashParams {
            mode: Some(FlashMode::Qio),
            size: Some(FlashSize::S8Mb),
            freq: None,
        },
        Some(1 << 20),
        "merged-qio-8MB-pad1MB.v5.6.0.bin",
    );
}

#[test]
fn reproduces_merge_from_a_start_offset() {
    let Some(dir) = testdata() else { return };
    let regions = [
        Region {
            offset: 0x8000,
            data: read(&dir, "esptool/inputs/single_factory_no_ota.bin"),
            kind: RegionKind::PartitionTable,
            label: "partition table".into(),
        },
        Region {
            offset: 0x10000,
            data: read(&dir, "esptool/expected/app-dio-80m-4MB.v5.6.0.bin"),
            kind: RegionKind::App,
            label: "app".into(),
        },
    ];
    let merged = merge_regions_from(&regions, 0x8000, None).unwrap();
    assert!(merged == read(&dir, "esptool/expected/merged-from-0x8000.v5.6.0.bin"));
}

#[test]
fn micropython_splits_and_merges_back_byte_for_byte() {
    let Some(dir) = testdata() else { return };
    let file = read(
        &dir,
        "firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin",
    );
    let parts = split_offset0_image(&file).unwrap();
    let layout: Vec<(RegionKind, u32, usize)> = parts
        .iter()
        .map(|r| (r.kind, r.offset, r.data.len()))
        .collect();
    assert_eq!(
        layout,
        [
            (RegionKind::Bootloader, 0, 0x4A80),
            (RegionKind::PartitionTable, 0x8000, 0xC00),
            (RegionKind::App, 0x10000, 0x197B20),
        ]
    );
    assert!(merge_regions(&parts, None).unwrap() == file);
    // Rebuilding through offset0_regions (the path `save-image --merge` takes) also gives it back.
    let table = PartitionTable::from_binary(&parts[1].data).unwrap();
    let regions = offset0_regions(&Offset0Inputs {
        bootloader: &parts[0].data,
        table: &table,
        table_offset: 0x8000,
        app: &parts[2].data,
        app_partition: None,
        flash: FlashParams::default(),
        flash_size: Some(4 << 20),
    })
    .unwrap();
    assert!(merge_regions(&regions, None).unwrap() == file);
}

#[test]
fn patched_bootloader_stays_valid_in_real_files() {
    let Some(dir) = testdata() else { return };
    let merged = read(&dir, "esptool/expected/merged-dio-80m-4MB.v5.6.0.bin");
    let bl = parse_image(&merged).unwrap();
    assert_eq!((merged[2], merged[3]), (0x02, 0x2F));
    assert_eq!(bl.digest_ok(), Some(true));
}

#[test]
fn bad_input_never_panics() {
    let mut seed = 0x9E37_79B9u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for len in [0usize, 1, 24, 100, 0x9000, 0x10010] {
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        assert!(split_offset0_image(&bytes).is_err());
        if let Some(b) = bytes.first_mut() {
            *b = 0xE9;
        }
        let _ = split_offset0_image(&bytes);
        let table = PartitionTable::default_for_flash(4 << 20);
        let _ = offset0_regions(&Offset0Inputs {
            bootloader: &bytes,
            table: &table,
            table_offset: 0x8000,
            app: &bytes,
            app_partition: Some("nope"),
            flash: FlashParams::default(),
            flash_size: None,
        });
    }
}
