//! Golden tests: real ELFs from `testdata/firmware` turned into app images must equal the images
//! that ESP-IDF (esptool) and espflash made from them, byte for byte. Skipped, with a printed
//! line, when the test data is not present.

use std::collections::BTreeMap;

use cargo_esp32s3::image::app::{AppImageOptions, elf_to_app_image};
use cargo_esp32s3::image::format::{self, parse_image};
use cargo_esp32s3::image::{FlashFreq, FlashMode, FlashParams, FlashSize};

#[path = "support/testdata.rs"]
mod support_testdata;
use support_testdata::{read, testdata};

fn idf_options() -> AppImageOptions {
    AppImageOptions {
        flash: FlashParams {
            mode: Some(FlashMode::Dio),
            size: Some(FlashSize::S16Mb),
            freq: Some(FlashFreq::F80m),
        },
        min_rev_full: 0,
        max_rev_full: 99,
        append_digest: true,
    }
}

/// Compare two images and, when they differ, say where, segment by segment.
fn assert_same_image(ours: &[u8], golden: &[u8], what: &str) {
    if ours == golden {
        return;
    }
    let describe = |bytes: &[u8]| match parse_image(bytes) {
        Ok(p) => p
            .segments
            .iter()
            .map(|s| format!("0x{:x}:0x{:08x}+0x{:x}", s.header_offset, s.addr, s.len))
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => e.to_string(),
    };
    let first_diff = ours.iter().zip(golden).position(|(a, b)| a != b);
    panic!(
        "{what}: image differs (ours {} bytes, golden {} bytes, first difference at {first_diff:x?})\nours:   {}\ngolden: {}",
        ours.len(),
        golden.len(),
        describe(ours),
        describe(golden)
    );
}

#[test]
fn esp_idf_hello_world_matches_idf_build() {
    let Some(dir) = testdata() else { return };
    let elf = read(&dir, "firmware/esp-idf-hello_world-esp32s3/hello_world.elf");
    let golden = read(&dir, "firmware/esp-idf-hello_world-esp32s3/hello_world.bin");
    let info = cargo_esp32s3::image::elf::read_elf(&elf).unwrap();
    let desc = info.app_desc.expect("hello_world has an app descriptor");
    assert_eq!(
        (desc.section.as_str(), desc.addr, desc.magic_ok),
        (".flash.appdesc", 0x3C02_0020, true)
    );
    assert_eq!(
        (
            desc.project_name.as_str(),
            desc.version.as_str(),
            desc.idf_ver.as_str()
        ),
        ("hello_world", "1", "v5.1.4")
    );
    assert_eq!(info.entry, 0x4037_5378);
    let image = elf_to_app_image(&elf, &idf_options()).unwrap();
    assert!(image.app_desc_patched);
    assert_eq!(&image.bytes[0xB0..0xD0], &format::sha256(&elf));
    assert_same_image(&image.bytes, &golden, "hello_world.elf");
}

#[test]
fn esp_idf_bootloader_matches_idf_build() {
    let Some(dir) = testdata() else { return };
    let elf = read(&dir, "firmware/esp-idf-hello_world-esp32s3/bootloader.elf");
    let golden = read(&dir, "firmware/esp-idf-hello_world-esp32s3/bootloader.bin");
    let image = elf_to_app_image(&elf, &idf_options()).unwrap();
    assert!(!image.app_desc_patched);
    assert_same_image(&image.bytes, &golden, "bootloader.elf");
}

#[test]
fn esp_hal_app_matches_espflash() {
    let Some(dir) = testdata() else { return };
    let elf = read(&dir, "firmware/espflash/esp32s3-esp-hal.elf");
    let golden = read(&dir, "espflash-expected/esp32s3-esp-hal.app.bin");
    let image = elf_to_app_image(&elf, &AppImageOptions::default()).unwrap();
    assert!(
        !image.app_desc_patched,
        "espflash leaves .rodata_desc as linked"
    );
    assert_eq!(image.entry, 0x4037_88F0);
    assert_same_image(&image.bytes, &golden, "esp32s3-esp-hal.elf");
    assert_eq!(loaded_memory(&image.bytes), loaded_memory(&golden));
}

#[test]
fn espflash_hello_world_output_matches_too() {
    let Some(dir) = testdata() else { return };
    let elf = read(&dir, "firmware/esp-idf-hello_world-esp32s3/hello_world.elf");
    let golden = read(&dir, "espflash-expected/hello_world.app.dio-80m-16mb.bin");
    let image = elf_to_app_image(&elf, &idf_options()).unwrap();
    assert_same_image(&image.bytes, &golden, "hello_world.elf (espflash)");
}

#[test]
fn mask_rom_elf_is_refused_with_a_clear_message() {
    let Some(dir) = testdata() else { return };
    let elf = read(&dir, "firmware/espflash/esp32s3_rev0_rom.elf");
    let msg = elf_to_app_image(&elf, &AppImageOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("mask ROM"), "{msg}");
    assert!(msg.contains("not an application"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

/// Address → byte for every loaded segment (padding at address 0 ignored), and the entry point.
fn loaded_memory(image: &[u8]) -> (u32, BTreeMap<u32, u8>) {
    let parsed = parse_image(image).unwrap();
    assert!(parsed.checksum_ok());
    assert_eq!(parsed.digest_ok(), Some(true));
    let mut memory = BTreeMap::new();
    for seg in parsed.segments.iter().filter(|s| s.addr != 0) {
        let data = &image[seg.data_offset..seg.data_offset + seg.len as usize];
        for (i, &b) in data.iter().enumerate() {
            assert!(memory.insert(seg.addr + i as u32, b).is_none());
        }
    }
    (parsed.header.entry, memory)
}

#[test]
fn esptool_table_order_rejects_the_esp_hal_elf_like_esptool_does() {
    use cargo_esp32s3::image::app::{SectionMerge, elf_to_app_image_with};
    let Some(dir) = testdata() else { return };
    let elf = read(&dir, "firmware/espflash/esp32s3-esp-hal.elf");
    let msg = elf_to_app_image_with(&elf, &AppImageOptions::default(), SectionMerge::TableOrder)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("0x3c000020") && msg.contains("0x3c000120"),
        "{msg}"
    );
    // Address order is what espflash does, and what Auto picks for this ELF.
    let by_address = elf_to_app_image_with(
        &elf,
        &AppImageOptions::default(),
        SectionMerge::AddressOrder,
    )
    .unwrap();
    let golden = read(&dir, "espflash-expected/esp32s3-esp-hal.app.bin");
    assert_same_image(
        &by_address.bytes,
        &golden,
        "esp32s3-esp-hal.elf (address order)",
    );
}
