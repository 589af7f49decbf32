//! Fuzz target: any bytes given to the ELF converter give an error or an image that parses with a
//! valid checksum and digest and keeps flash segments on congruent file offsets; never a panic.

#![no_main]

use cargo_esp32s3::image::app::{AppImageOptions, elf_to_app_image};
use cargo_esp32s3::image::format::{is_flash_mapped, parse_image};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(image) = elf_to_app_image(data, &AppImageOptions::default()) else {
        return;
    };
    let parsed = parse_image(&image.bytes).expect("our own image parses");
    assert!(parsed.checksum_ok());
    assert_eq!(parsed.digest_ok(), Some(true));
    for seg in parsed.segments.iter().filter(|s| is_flash_mapped(s.addr)) {
        assert_eq!(seg.data_offset % 0x10000, seg.addr as usize % 0x10000);
    }
});
