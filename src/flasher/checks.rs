//! What is refused before the flash is touched (regions that overlap or do not fit, a configured
//! flash size larger than the chip's, images for another chip or revision, plaintext on a chip
//! with flash encryption or secure boot) and the flash parameters written into a bootloader at
//! 0x0 (the chip's detected size among them, unless the size is kept).

use super::{Event, FlashError, Flasher, Region};
use crate::image::FlashSize;
use crate::image::format::{self, ESP32S3_CHIP_ID};
use crate::image::merge::{PatchOutcome, patch_flash_params};
use crate::loader::{ChipRevision, LoaderError};
use crate::transport::Transport;

impl<T: Transport> Flasher<T> {
    /// Refuse what cannot work before touching the flash and patch the bootloader. Regions keep
    /// their exact offsets and lengths: [`Flasher::widen`] makes them whole sectors and words.
    pub(super) fn check_regions(
        &mut self,
        plan: &mut [Region],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), FlashError> {
        let security = self.loader.security_info().ok();
        if let (Some(configured), Some(detected)) =
            (self.opts.flash_size.map(|s| s.bytes()), self.detected_size)
        {
            if configured > detected && !self.opts.force {
                return Err(FlashError::LargerThanChip {
                    configured,
                    detected,
                });
            }
        }
        let mut revision: Option<ChipRevision> = None;
        for region in plan.iter_mut() {
            let offset = u64::from(region.offset);
            let len = region.data.len() as u64;
            if offset + len > u64::from(self.flash_size) {
                return Err(FlashError::DoesNotFit {
                    label: region.label.clone(),
                    offset,
                    len,
                    flash_size: self.flash_size,
                });
            }
            if !self.opts.force {
                if security.is_some_and(|s| s.flash_encryption()) {
                    return Err(FlashError::EncryptionEnabled {
                        label: region.label.clone(),
                    });
                }
                if security.is_some_and(|s| s.secure_boot()) {
                    return Err(FlashError::SecureBootEnabled {
                        label: region.label.clone(),
                    });
                }
            }
            let Ok(image) = format::parse_image(&region.data) else {
                continue;
            };
            let header = image.header;
            if header.chip_id != ESP32S3_CHIP_ID {
                let chip = format::chip_name(header.chip_id)
                    .map_or_else(|| format!("chip id {}", header.chip_id), String::from);
                return Err(FlashError::WrongChipImage {
                    label: region.label.clone(),
                    chip,
                });
            }
            if !self.opts.force {
                let chip = match revision {
                    Some(r) => Some(r),
                    None => match self.loader.chip_info() {
                        Ok(info) => {
                            revision = Some(info.revision);
                            revision
                        }
                        Err(LoaderError::Unsupported { .. }) => {
                            on_event(Event::Warning(
                                "the chip revision cannot be read in Secure Download Mode; not checking the image's revision range".into(),
                            ));
                            None
                        }
                        Err(e) => return Err(e.into()),
                    },
                };
                if let Some(chip) = chip {
                    check_revision(&region.label, &header, chip)?;
                }
            }
        }
        for pair in plan.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let a_end = u64::from(a.offset) + a.data.len() as u64;
            if a_end > u64::from(b.offset) {
                return Err(FlashError::Overlap {
                    first: a.label.clone(),
                    first_offset: a.offset,
                    first_end: a_end,
                    second: b.label.clone(),
                    second_offset: b.offset,
                });
            }
        }
        if let Some(boot) = plan.iter_mut().find(|r| r.offset == 0) {
            let secured = security.is_some_and(|s| s.secure_boot() || s.secure_download_mode());
            self.patch_bootloader(boot, secured, on_event);
        }
        Ok(())
    }

    /// The bytes [`Flasher::write_regions`] writes for `region`: a bootloader at 0x0 with the
    /// flash parameters (and, unless kept, the chip's detected size) patched in, unless secure
    /// boot or Secure Download Mode is on; any other region as it is. For comparing a chip with
    /// what flashing would write.
    pub fn as_written(&mut self, region: &Region) -> Vec<u8> {
        let mut region = region.clone();
        if region.offset == 0 {
            let secured = self
                .loader
                .security_info()
                .is_ok_and(|s| s.secure_boot() || s.secure_download_mode());
            self.patch_bootloader(&mut region, secured, &mut |_| {});
        }
        region.data
    }

    /// Write the flash parameters into the bootloader at 0x0 (§9), through the one patch the
    /// image module has ([`patch_flash_params`]: only a valid ESP32-S3 image, checksum and
    /// digest included, is changed, and its appended SHA-256 is recomputed), never on a secured
    /// chip (its bootloader's signature covers the header).
    fn patch_bootloader(
        &self,
        region: &mut Region,
        secured: bool,
        on_event: &mut dyn FnMut(Event),
    ) {
        let mut params = self.opts.flash_params;
        if params.size.is_none() && self.opts.bootloader_size_from_chip {
            // The chip's size where the header names another (a merged image made for 4 MB on
            // a 16 MB board): the bootloader and the app then see all of the flash.
            let header_size = format::ImageHeader::decode(&region.data)
                .ok()
                .and_then(|h| h.size());
            params.size = self
                .detected_size
                .and_then(|bytes| FlashSize::from_bytes(u64::from(bytes)))
                .filter(|size| Some(*size) != header_size);
        }
        if params.is_keep() {
            return;
        }
        if secured {
            on_event(Event::Warning(
                "security features are enabled, so the flash parameters of the bootloader are not changed".into(),
            ));
            return;
        }
        match patch_flash_params(&mut region.data, &params) {
            Ok(PatchOutcome::Patched {
                after,
                digest_updated,
                ..
            }) => on_event(Event::BootloaderPatched {
                params: after,
                digest_updated,
            }),
            Ok(PatchOutcome::NotAnImage(reason)) => on_event(Event::Warning(format!(
                "{} at 0x0 is not a valid ESP32-S3 image ({reason}); flash parameters not changed",
                region.label
            ))),
            Ok(PatchOutcome::Kept) | Err(_) => {}
        }
    }
}

/// The revision rule of §9: legacy `min_rev` (major only) when the full fields are unset,
/// else `min_rev_full <= rev <= max_rev_full`.
fn check_revision(
    label: &str,
    header: &format::ImageHeader,
    chip: ChipRevision,
) -> Result<(), FlashError> {
    let legacy = header.max_rev_full == 0
        || (header.max_rev_full == 0xFFFF && header.min_rev_full == 0 && header.min_rev != 0);
    let fail = |required: String| FlashError::RevisionOutOfRange {
        label: label.to_string(),
        required,
        chip,
    };
    if legacy {
        if chip.major < header.min_rev {
            return Err(fail(format!("v{}.0 or higher", header.min_rev)));
        }
        return Ok(());
    }
    let rev = chip.full();
    let show = |full: u16| format!("v{}.{}", full / 100, full % 100);
    if rev < header.min_rev_full {
        return Err(fail(format!("{} or higher", show(header.min_rev_full))));
    }
    if header.max_rev_full != 0xFFFF && rev > header.max_rev_full {
        return Err(fail(format!(
            "{} to {}",
            show(header.min_rev_full),
            show(header.max_rev_full)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_rule_follows_the_header_fields() {
        let rev = |major, minor| ChipRevision { major, minor };
        let header = |min_rev, min_rev_full, max_rev_full| format::ImageHeader {
            min_rev,
            min_rev_full,
            max_rev_full,
            ..format::ImageHeader::default()
        };
        let check = |h: format::ImageHeader, chip: ChipRevision, expected: Option<&str>| {
            let got = check_revision("app", &h, chip).err().map(|e| e.to_string());
            match (got, expected) {
                (None, None) => {}
                (Some(msg), Some(part)) => assert!(msg.contains(part), "{msg}"),
                (got, want) => panic!("{h:?} on {chip}: got {got:?}, want {want:?}"),
            }
        };
        check(header(0, 0, 0xFFFF), rev(0, 2), None);
        check(header(0, 2, 99), rev(0, 2), None);
        check(
            header(0, 3, 99),
            rev(0, 2),
            Some("requires chip revision v0.3 or higher (this chip is revision v0.2)"),
        );
        check(
            header(0, 0, 1),
            rev(0, 2),
            Some("requires chip revision v0.0 to v0.1"),
        );
        check(header(0, 0, 199), rev(1, 0), None);
        // Legacy: max_rev_full 0, or only the old min_rev set.
        check(
            header(1, 0, 0),
            rev(0, 2),
            Some("requires chip revision v1.0 or higher"),
        );
        check(header(1, 0, 0xFFFF), rev(1, 0), None);
        check(header(0, 0, 0), rev(0, 2), None);
    }
}
