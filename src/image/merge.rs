//! Merged flash images: place the bootloader, the partition table and the app at their flash
//! offsets in one file (gaps filled with 0xFF, the erased state of flash), patch the bootloader
//! header with the flash mode/size/frequency, and split such a file back into its parts.
//!
//! The semantics follow esptool's `merge-bin` (facts §11) and its flash-parameter patch (§9). This
//! module works on bytes only; callers read and write the files and report the outcomes.

use super::error::ImageError;
use super::format::{ESP32S3_CHIP_ID, FlashParams, chip_name, parse_image, sha256};
use super::info::{BinKind, inspect_at};
use super::partition::{DEFAULT_TABLE_OFFSET, PartitionTable};
pub use super::region::{Region, RegionKind};

/// What [`patch_flash_params`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchOutcome {
    /// Every setting was "keep": the image was not looked at.
    Kept,
    /// The bytes are not a valid ESP32-S3 image, so nothing was changed (the error says why).
    NotAnImage(ImageError),
    /// Header bytes 2 and 3 were set.
    Patched {
        /// Bytes 2..3 before, big-endian as esptool prints them (`0x0210`).
        before: u16,
        /// Bytes 2..3 after (`0x022f`).
        after: u16,
        /// True when the appended SHA-256 was recomputed.
        digest_updated: bool,
    },
}

/// Set the flash mode, size and frequency in an image header (bytes 2 and 3), keeping what
/// `params` leaves unset, and recompute the appended SHA-256 when the image has one.
///
/// Like esptool, this only touches bytes that parse as a valid ESP32-S3 image (right chip,
/// checksum and digest correct); anything else is left alone and reported as
/// [`PatchOutcome::NotAnImage`]. Bytes after the digest are kept, so this works on the start of a
/// merged image too.
pub fn patch_flash_params(
    image: &mut [u8],
    params: &FlashParams,
) -> Result<PatchOutcome, ImageError> {
    if params.is_keep() {
        return Ok(PatchOutcome::Kept);
    }
    let parsed = match parse_image(image) {
        Ok(p) => p,
        Err(e) => return Ok(PatchOutcome::NotAnImage(e)),
    };
    let chip_id = parsed.header.chip_id;
    if chip_id != ESP32S3_CHIP_ID {
        return Ok(PatchOutcome::NotAnImage(ImageError::WrongChip {
            chip_id,
            chip: chip_name(chip_id),
        }));
    }
    if !parsed.checksum_ok() {
        return Ok(PatchOutcome::NotAnImage(ImageError::ChecksumMismatch {
            stored: parsed.stored_checksum,
            computed: parsed.computed_checksum,
        }));
    }
    if parsed.digest_ok() == Some(false) {
        return Ok(PatchOutcome::NotAnImage(ImageError::DigestMismatch));
    }
    let before = u16::from_be_bytes([image[2], image[3]]);
    let (mut mode, mut size_freq) = (image[2], image[3]);
    params.apply(&mut mode, &mut size_freq);
    image[2] = mode;
    image[3] = size_freq;
    let after = u16::from_be_bytes([mode, size_freq]);
    let mut digest_updated = false;
    if parsed.stored_digest.is_some() {
        let digest = sha256(&image[..parsed.data_len]);
        let available = image.len();
        let slot = image
            .get_mut(parsed.data_len..parsed.data_len + 32)
            .ok_or_else(|| ImageError::Truncated {
                what: "appended SHA-256".into(),
                needed: parsed.data_len + 32,
                available,
            })?;
        slot.copy_from_slice(&digest);
        digest_updated = true;
    }
    Ok(PatchOutcome::Patched {
        before,
        after,
        digest_updated,
    })
}

/// Lay regions out in one file starting at flash offset 0. See [`merge_regions_from`].
pub fn merge_regions(regions: &[Region], pad_to: Option<u32>) -> Result<Vec<u8>, ImageError> {
    merge_regions_from(regions, 0, pad_to)
}

/// Lay regions out in one file whose first byte is flash offset `start`: sorted by offset, gaps
/// filled with 0xFF, and, with `pad_to` (a flash size), 0xFF up to that flash offset.
///
/// Overlapping regions, a region below `start` and content beyond `pad_to` are errors.
pub fn merge_regions_from(
    regions: &[Region],
    start: u32,
    pad_to: Option<u32>,
) -> Result<Vec<u8>, ImageError> {
    let mut sorted: Vec<&Region> = regions.iter().collect();
    sorted.sort_by_key(|r| r.offset);
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if u64::from(b.offset) < a.end() {
            return Err(ImageError::RegionsOverlap {
                first: a.label.clone(),
                first_range: u64::from(a.offset)..a.end(),
                second: b.label.clone(),
                second_range: u64::from(b.offset)..b.end(),
            });
        }
    }
    if let Some(first) = sorted.first() {
        if first.offset < start {
            return Err(ImageError::RegionBelowStart {
                region: first.label.clone(),
                offset: first.offset,
                start,
            });
        }
    }
    let end = sorted.last().map(|r| r.end()).unwrap_or(u64::from(start));
    if let Some(pad) = pad_to {
        if end > u64::from(pad) {
            let last = sorted.last().map(|r| r.label.as_str()).unwrap_or("data");
            return Err(ImageError::BeyondPadSize {
                region: last.to_string(),
                end,
                pad,
            });
        }
    }
    let total_end = pad_to.map(u64::from).unwrap_or(end).max(end);
    let len = total_end - u64::from(start);
    let len = usize::try_from(len).map_err(|_| ImageError::MergedTooLarge { len })?;
    let mut out = vec![0xFFu8; len];
    for r in sorted {
        let at = (r.offset - start) as usize;
        out[at..at + r.data.len()].copy_from_slice(&r.data);
    }
    Ok(out)
}

/// What goes into an offset-0 image.
#[derive(Debug, Clone)]
pub struct Offset0Inputs<'a> {
    /// The 2nd-stage bootloader image (placed at 0x0, header patched with `flash`).
    pub bootloader: &'a [u8],
    /// The partition table.
    pub table: &'a PartitionTable,
    /// Where the table goes (0x8000 unless configured).
    pub table_offset: u32,
    /// The app image.
    pub app: &'a [u8],
    /// The app partition to use; `None` = factory, else ota_0.
    pub app_partition: Option<&'a str>,
    /// Flash settings for the bootloader header (unset = keep).
    pub flash: FlashParams,
    /// The flash size in bytes, when known (else taken from `flash.size`).
    pub flash_size: Option<u32>,
}

/// The regions of an offset-0 image: bootloader at 0x0 (flash settings patched), table at
/// `table_offset`, app at the start of its app partition.
pub fn offset0_regions(inputs: &Offset0Inputs) -> Result<Vec<Region>, ImageError> {
    let flash_size = inputs.flash_size.or(inputs.flash.size.map(|s| s.bytes()));
    let invalid_bootloader = |e: ImageError| ImageError::InvalidBootloader {
        source: Box::new(e),
    };

    let bootloader = parse_image(inputs.bootloader).map_err(invalid_bootloader)?;
    let chip_id = bootloader.header.chip_id;
    if chip_id != ESP32S3_CHIP_ID {
        return Err(invalid_bootloader(ImageError::WrongChip {
            chip_id,
            chip: chip_name(chip_id),
        }));
    }
    let mut bootloader_bytes = inputs.bootloader.to_vec();
    if let PatchOutcome::NotAnImage(reason) =
        patch_flash_params(&mut bootloader_bytes, &inputs.flash)?
    {
        return Err(ImageError::BootloaderFlashParams {
            source: Box::new(reason),
        });
    }
    if bootloader_bytes.len() as u64 > u64::from(inputs.table_offset) {
        return Err(ImageError::BootloaderTooBig {
            len: bootloader_bytes.len(),
            table_offset: inputs.table_offset,
        });
    }

    inputs.table.validate(flash_size, inputs.table_offset)?;
    let partition = inputs.table.app_partition(inputs.app_partition)?;
    let app_len = inputs.app.len() as u64;
    if app_len > u64::from(partition.size) {
        return Err(ImageError::AppTooBig {
            app: app_len,
            partition: partition.name.clone(),
            partition_size: partition.size,
        });
    }
    // No separate check against the flash size: `validate` keeps every partition inside the
    // flash, and the app fits its partition.

    Ok(vec![
        Region {
            offset: 0,
            data: bootloader_bytes,
            kind: RegionKind::Bootloader,
            label: "bootloader".into(),
        },
        Region {
            offset: inputs.table_offset,
            data: inputs.table.to_binary(),
            kind: RegionKind::PartitionTable,
            label: "partition table".into(),
        },
        Region {
            offset: partition.offset,
            data: inputs.app.to_vec(),
            kind: RegionKind::App,
            label: format!("app ({})", partition.name),
        },
    ])
}

/// Split an offset-0 image (table at 0x8000) into its parts. See [`split_offset0_image_at`].
pub fn split_offset0_image(bytes: &[u8]) -> Result<Vec<Region>, ImageError> {
    split_offset0_image_at(bytes, DEFAULT_TABLE_OFFSET)
}

/// Split an offset-0 image into the parts [`inspect_at`] finds: the
/// bootloader (its image length), the table (`[table_offset, table_offset + 0xC00)`) and every
/// app image at the start of an app partition (its image length; erased partitions are skipped).
/// Merging the parts with [`merge_regions`] gives back the file when the gaps are 0xFF.
pub fn split_offset0_image_at(bytes: &[u8], table_offset: u32) -> Result<Vec<Region>, ImageError> {
    let info = inspect_at(bytes, table_offset)?;
    if info.kind != BinKind::MergedImage || info.write_at != Some(0) {
        return Err(ImageError::NotOffset0Image { table_offset });
    }
    info.placements
        .iter()
        .map(|part| {
            let end = part.file_offset.saturating_add(part.len);
            let data = bytes
                .get(part.file_offset..end)
                .ok_or_else(|| ImageError::Truncated {
                    what: format!("merged image's {}", part.label),
                    needed: end,
                    available: bytes.len(),
                })?;
            Ok(Region {
                offset: part.flash_offset,
                data: data.to_vec(),
                kind: part.kind,
                label: part.label.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::{
        FlashFreq, FlashMode, FlashSize, ImageHeader, Segment, encode_image,
    };

    fn image(addr: u32, len: usize, hash: u8) -> Vec<u8> {
        let header = ImageHeader {
            hash_appended: hash,
            ..Default::default()
        };
        encode_image(
            &header,
            &[Segment {
                addr,
                data: vec![0x5A; len],
            }],
        )
        .unwrap()
    }

    #[test]
    fn patch_sets_bytes_and_recomputes_digest() {
        let mut img = image(0x3FC8_8000, 64, 1);
        img.extend_from_slice(&[1, 2, 3]);
        let params = FlashParams {
            mode: Some(FlashMode::Qio),
            size: Some(FlashSize::S16Mb),
            freq: Some(FlashFreq::F80m),
        };
        let out = patch_flash_params(&mut img, &params).unwrap();
        assert_eq!(
            out,
            PatchOutcome::Patched {
                before: 0x0220,
                after: 0x004F,
                digest_updated: true
            }
        );
        let parsed = parse_image(&img).unwrap();
        assert_eq!(parsed.digest_ok(), Some(true));
        assert!(img.ends_with(&[1, 2, 3]));
        assert_eq!(
            patch_flash_params(&mut img, &FlashParams::default()).unwrap(),
            PatchOutcome::Kept
        );
        let mut not_image = vec![0xFFu8; 64];
        assert!(matches!(
            patch_flash_params(&mut not_image, &params).unwrap(),
            PatchOutcome::NotAnImage(_)
        ));
        assert_eq!(not_image, vec![0xFF; 64]);
    }

    #[test]
    fn merge_fills_gaps_and_rejects_overlaps() {
        let r = |offset, data: Vec<u8>, label: &str| Region {
            offset,
            data,
            kind: RegionKind::Data,
            label: label.into(),
        };
        let out = merge_regions(&[r(4, vec![1, 2], "b"), r(0, vec![9], "a")], Some(8)).unwrap();
        assert_eq!(out, [9, 0xFF, 0xFF, 0xFF, 1, 2, 0xFF, 0xFF]);
        let e =
            merge_regions(&[r(0, vec![0; 8], "first"), r(4, vec![1], "second")], None).unwrap_err();
        assert!(
            e.to_string()
                .contains("first at 0x0..0x8 overlaps second at 0x4..0x5"),
            "{e}"
        );
        assert!(merge_regions(&[r(0, vec![0; 8], "x")], Some(4)).is_err());
        assert_eq!(
            merge_regions_from(&[r(0x10, vec![7], "x")], 0x8, None)
                .unwrap()
                .len(),
            9
        );
        assert!(merge_regions_from(&[r(0x4, vec![7], "x")], 0x8, None).is_err());
    }

    #[test]
    fn offset0_checks_sizes() {
        let bl = image(0x3FCD_0000, 64, 1);
        let table = PartitionTable::from_csv(
            "nvs,data,nvs,0x9000,0x6000\nfactory,app,factory,0x10000,0x1000",
        )
        .unwrap();
        let big_app = image(0x3C00_0020, 0x2000, 1);
        let inputs = Offset0Inputs {
            bootloader: &bl,
            table: &table,
            table_offset: 0x8000,
            app: &big_app,
            app_partition: None,
            flash: FlashParams::default(),
            flash_size: Some(4 << 20),
        };
        let e = offset0_regions(&inputs).unwrap_err().to_string();
        assert!(
            e.contains("partition `factory` holds only 4 KiB") && e.contains("% full"),
            "{e}"
        );
        let small_app = image(0x3C00_0020, 0x100, 1);
        let regions = offset0_regions(&Offset0Inputs {
            app: &small_app,
            ..inputs.clone()
        })
        .unwrap();
        assert_eq!(
            regions.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [0, 0x8000, 0x10000]
        );
        let merged = merge_regions(&regions, None).unwrap();
        let split = split_offset0_image(&merged).unwrap();
        assert_eq!(merge_regions(&split, None).unwrap(), merged);
        let huge_bl = image(0x3FCD_0000, 0x9000, 1);
        let e = offset0_regions(&Offset0Inputs {
            bootloader: &huge_bl,
            app: &small_app,
            ..inputs.clone()
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("runs past the partition table"),
            "{e}"
        );
        let mut c3 = bl.clone();
        c3[12] = 5;
        let e = offset0_regions(&Offset0Inputs {
            bootloader: &c3,
            app: &small_app,
            ..inputs
        })
        .unwrap_err();
        assert!(e.to_string().contains("ESP32-C3 (chip id 5)"), "{e}");
    }

    #[test]
    fn offset0_beyond_16mb_and_with_a_moved_table() {
        let bl = image(0x3FCD_0000, 64, 1);
        let app = image(0x3C00_0020, 0x100, 1);
        // A 32 MiB flash with the app partition above 16 MiB; the table moved to 0xA000.
        let table = PartitionTable::from_csv_at(
            "nvs,data,nvs,,0x6000\nbig,data,fat,0x20000,0x1000000\nfactory,app,factory,0x1020000,1M",
            0xA000,
        )
        .unwrap();
        assert_eq!(table.partitions[0].offset, 0xB000);
        let inputs = Offset0Inputs {
            bootloader: &bl,
            table: &table,
            table_offset: 0xA000,
            app: &app,
            app_partition: None,
            flash: FlashParams {
                size: Some(FlashSize::S32Mb),
                ..FlashParams::default()
            },
            flash_size: None,
        };
        let regions = offset0_regions(&inputs).unwrap();
        assert_eq!(
            regions.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [0, 0xA000, 0x102_0000]
        );
        assert_eq!(regions[0].data[3] >> 4, FlashSize::S32Mb.code());
        let merged = merge_regions(&regions, Some(32 << 20)).unwrap();
        assert_eq!(merged.len(), 32 << 20);
        let split = split_offset0_image_at(&merged, 0xA000).unwrap();
        assert_eq!(split.len(), 3);
        assert_eq!(split[2].offset, 0x102_0000);
        assert!(split_offset0_image(&merged).is_err());
        // The same table does not fit a 16 MiB flash.
        let e = offset0_regions(&Offset0Inputs {
            flash_size: Some(16 << 20),
            ..inputs
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("beyond the 16 MiB flash"), "{e}");
    }
}
