//! Fuzz target: a prebuilt file as `flash FILE` and `image-info` take it: identified and checked
//! (`inspect_at`), placed (`flash_regions_for_bin`), parsed as an image, and its flash parameters
//! patched. Properties: no panic; placed regions are the file at an offset inside 32-bit flash;
//! a patched image still parses with a valid checksum and digest.

#![no_main]

use cargo_esp32s3::image::format::parse_image;
use cargo_esp32s3::image::info::{flash_regions_for_bin, inspect_at};
use cargo_esp32s3::image::merge::{PatchOutcome, patch_flash_params};
use cargo_esp32s3::image::{FlashFreq, FlashMode, FlashParams, FlashSize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for table_offset in [0x8000, 0x9000] {
        if let Ok(info) = inspect_at(data, table_offset) {
            assert_eq!(info.file_len, data.len());
            for placement in &info.placements {
                assert!(placement.file_offset <= data.len());
            }
        }
        if let Ok(regions) = flash_regions_for_bin(data, table_offset) {
            for region in &regions {
                assert_eq!(region.data, data);
                assert!(region.end() <= 1 << 32);
            }
        }
    }
    if let Ok(image) = parse_image(data) {
        assert!(image.data_len <= data.len());
    }
    let mut copy = data.to_vec();
    let params = FlashParams {
        mode: Some(FlashMode::Dio),
        size: Some(FlashSize::S8Mb),
        freq: Some(FlashFreq::F80m),
    };
    if let Ok(PatchOutcome::Patched { .. }) = patch_flash_params(&mut copy, &params) {
        let parsed = parse_image(&copy).expect("a patched image parses");
        assert!(parsed.checksum_ok());
        assert_ne!(
            parsed.digest_ok(),
            Some(false),
            "the patch left a stale digest"
        );
        assert_eq!(copy.len(), data.len());
    }
});
