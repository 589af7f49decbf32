//! Plan and write flash: compression, skip-unchanged, verification, erase and read-back, on top
//! of a [`Loader`].
//!
//! It refuses what cannot work (an image for another chip, a revision out of range, data past the
//! end of the flash, plaintext on an encrypted chip) before touching the flash, and erases nothing
//! outside the regions: the bytes sharing a 4 KiB sector with a region are written back as they
//! were. It never prints: progress leaves as [`Event`] values.

use std::io::Write as _;
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};

use crate::image::format::{self, ESP32S3_CHIP_ID, IMAGE_MAGIC};
use crate::image::{FlashParams, FlashSize};
use crate::loader::{ChipRevision, Loader, LoaderError, ROM_MAX_BLOCK, len_u32};
use crate::protocol::command::{self, Command, Opcode};
use crate::protocol::timeouts;
use crate::transport::Transport;

pub use crate::loader::Event;

/// A failure flashing, erasing, reading or verifying.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// Talking to the loader failed.
    #[error(transparent)]
    Loader(#[from] LoaderError),
    /// Two regions overlap.
    #[error(
        "{first} (0x{first_offset:x}..0x{first_end:x}) overlaps {second} at 0x{second_offset:x}; fix the offsets"
    )]
    Overlap {
        /// Label of the first region.
        first: String,
        /// Its offset.
        first_offset: u32,
        /// Its end.
        first_end: u64,
        /// Label of the second region.
        second: String,
        /// Its offset.
        second_offset: u32,
    },
    /// A region runs past the end of the flash.
    #[error(
        "{label} (0x{len:x} bytes at 0x{offset:x}) will not fit in {flash_size} bytes of flash; use a smaller image or check --flash-size"
    )]
    DoesNotFit {
        /// Region label.
        label: String,
        /// Offset.
        offset: u64,
        /// Length.
        len: u64,
        /// Flash size in bytes.
        flash_size: u32,
    },
    /// An image built for another chip.
    #[error("{label} is an image for the {chip}, not the ESP32-S3; build it for the ESP32-S3")]
    WrongChipImage {
        /// Region label.
        label: String,
        /// The chip the image header names.
        chip: String,
    },
    /// The image does not support this chip's revision.
    #[error(
        "{label} requires chip revision {required} (this chip is revision {chip}); use --force to flash anyway"
    )]
    RevisionOutOfRange {
        /// Region label.
        label: String,
        /// The supported range, in words.
        required: String,
        /// This chip's revision.
        chip: ChipRevision,
    },
    /// Plaintext on a chip with flash encryption.
    #[error(
        "flash encryption is enabled on this chip: refusing to write {label} as plaintext, which the chip would decrypt into garbage"
    )]
    EncryptionEnabled {
        /// Region label.
        label: String,
    },
    /// Erasing is refused on a secured chip.
    #[error(
        "erasing is refused: secure boot or flash encryption is enabled on this chip, and erasing would leave it unbootable"
    )]
    SecurityActive,
    /// Erase bounds not on 4 KiB sectors.
    #[error("erase {what} 0x{value:x} is not a multiple of 4 KiB (0x1000); round it to a sector")]
    Unaligned {
        /// "offset" or "size".
        what: &'static str,
        /// The value.
        value: u32,
    },
    /// A range past the end of the flash.
    #[error(
        "0x{size:x} bytes at 0x{offset:x} run past the end of the {flash_size}-byte flash; check the offset and size"
    )]
    OutOfRange {
        /// Offset.
        offset: u32,
        /// Size.
        size: u32,
        /// Flash size in bytes.
        flash_size: u32,
    },
    /// The flash does not hold what was written.
    #[error(
        "verification failed for {label}: the flash MD5 of 0x{len:x} bytes at 0x{offset:x} is {actual}, the data's is {expected}; flash again, and try a lower --baud if it persists"
    )]
    Md5Mismatch {
        /// Region label.
        label: String,
        /// Offset.
        offset: u32,
        /// Length.
        len: u32,
        /// MD5 of the data (hex).
        expected: String,
        /// MD5 of the flash (hex).
        actual: String,
    },
    /// The region reads back erased after writing.
    #[error(
        "write failed, the region is empty: {label} (0x{len:x} bytes at 0x{offset:x}) reads back as erased flash; check the flash chip and its power supply"
    )]
    WrittenEmpty {
        /// Region label.
        label: String,
        /// Offset.
        offset: u32,
        /// Length.
        len: u32,
    },
    /// Writing a region failed even after sending it again.
    #[error("writing {label} at 0x{offset:x} failed after {attempts} attempt{}: {source}", if *attempts == 1 { "" } else { "s" })]
    WriteFailed {
        /// Region label.
        label: String,
        /// Offset.
        offset: u32,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: LoaderError,
    },
    /// Data read back does not match the chip's MD5 or length.
    #[error(
        "reading 0x{size:x} bytes at 0x{offset:x} returned corrupt data ({detail}); read again, and try a lower --baud if it persists"
    )]
    ReadCorrupt {
        /// Offset.
        offset: u32,
        /// Size.
        size: u32,
        /// What did not match.
        detail: String,
    },
}

/// Bytes to put at a flash offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Flash offset.
    pub offset: u32,
    /// Contents.
    pub data: Vec<u8>,
    /// What it is, for messages ("bootloader", "partition table", "app", a file name).
    pub label: String,
}

/// How to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashOptions {
    /// Do not write a region whose MD5 in flash already matches.
    pub skip_unchanged: bool,
    /// Check each written region with SPI_FLASH_MD5.
    pub verify: bool,
    /// Flash even when the image's chip revision range excludes this chip.
    pub force: bool,
    /// The flash size to use; `None` detects it from the flash ID.
    pub flash_size: Option<FlashSize>,
    /// Flash mode/frequency/size patched into a bootloader written at 0x0.
    pub flash_params: FlashParams,
}

impl Default for FlashOptions {
    fn default() -> Self {
        FlashOptions {
            skip_unchanged: true,
            verify: true,
            force: false,
            flash_size: None,
            flash_params: FlashParams::default(),
        }
    }
}

/// What [`Flasher::write_regions`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteSummary {
    /// Regions written.
    pub written: u32,
    /// Regions skipped because the flash already held them.
    pub skipped: u32,
    /// Uncompressed bytes written.
    pub bytes: u64,
    /// Compressed bytes sent.
    pub compressed_bytes: u64,
    /// Total time.
    pub elapsed: Duration,
}

/// A loader with the flash attached and its size known.
pub struct Flasher<T: Transport> {
    loader: Loader<T>,
    opts: FlashOptions,
    flash_size: u32,
}

/// Flash sector: the erase granularity.
pub const SECTOR: u32 = 0x1000;
/// Data block for compressed writes to a stub (its own buffer size).
const STUB_BLOCK: u32 = 0x4000;
/// READ_FLASH_SLOW returns at most this many bytes per command.
const ROM_READ_CHUNK: u32 = 64;
/// READ_FLASH (stub) packet size and packets in flight.
const STUB_READ_PACKET: u32 = 0x1000;
const STUB_READ_IN_FLIGHT: u32 = 64;
/// Tries per region (the first write plus retries).
const WRITE_ATTEMPTS: u32 = 3;
/// The largest flash the ROM can address (24-bit addresses).
const ROM_MAX_FLASH: u32 = 16 << 20;
/// Used when the size cannot be detected.
const FALLBACK_FLASH_SIZE: FlashSize = FlashSize::S4Mb;

impl<T: Transport> Flasher<T> {
    /// Attach the flash (SPI_ATTACH, ROM only: a stub attaches itself), settle its size (given,
    /// or detected from the flash ID) and tell the loader (SPI_SET_PARAMS).
    pub fn new(
        mut loader: Loader<T>,
        opts: FlashOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Self, FlashError> {
        if !loader.is_stub() {
            loader.command(&Command::spi_attach(), 0, timeouts::DEFAULT)?;
        }
        let (mut size, detected) = match opts.flash_size {
            Some(size) => (size.bytes(), false),
            None => (detect_flash_size(&mut loader, on_event)?, true),
        };
        if !loader.is_stub() && size > ROM_MAX_FLASH {
            on_event(Event::Warning(format!(
                "the ROM loader addresses only the first 16 MB of this {} MB flash; load a stub to reach the rest",
                size >> 20
            )));
            size = ROM_MAX_FLASH;
        }
        loader.command(&Command::spi_set_params(size), 0, timeouts::DEFAULT)?;
        on_event(Event::FlashAttached { size, detected });
        Ok(Flasher {
            loader,
            opts,
            flash_size: size,
        })
    }

    /// Write regions: check them all first (overlaps, flash size, chip and revision of images,
    /// flash encryption), patch the flash parameters into a bootloader at 0x0, then for each
    /// region skip it if the flash already holds it, else write it compressed and verify it.
    ///
    /// Nothing outside the regions is lost. The loaders erase whole 4 KiB sectors, so a region
    /// that starts or ends inside a sector is written widened to its whole sectors, and the
    /// bytes of those sectors outside the region are written back with what they held: read
    /// from the chip, unless one SPI_FLASH_MD5 shows they are all erased (then 0xFF is the same
    /// and costs no read). Regions that share a sector are written together as one transfer,
    /// so one region's widening never puts old flash contents over another region.
    ///
    /// Skipping is decided per region with one SPI_FLASH_MD5 of the region itself (cheap: the
    /// chip hashes ~1 MB/s and only 44 bytes come back), before any widening, so an unchanged
    /// region costs no read of its neighbours. Finer chunks were considered and left out: a
    /// rebuilt app shifts most of its code, so unchanged 64 KiB chunks are rare inside a changed
    /// app, while each chunk costs a round trip and, on the ROM, a separate erase-at-BEGIN; the
    /// win that matters (bootloader and partition table untouched between builds, or flashing
    /// the same image twice) is already had per region. Verification covers the whole widened
    /// transfer, so the kept bytes are checked too.
    pub fn write_regions(
        &mut self,
        regions: &[Region],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<WriteSummary, FlashError> {
        let started = Instant::now();
        let mut plan: Vec<Region> = regions
            .iter()
            .filter(|r| !r.data.is_empty())
            .cloned()
            .collect();
        plan.sort_by_key(|r| r.offset);
        self.check_regions(&mut plan, on_event)?;
        let mut summary = WriteSummary::default();
        for unit in sector_units(&plan) {
            let members = plan.get(unit.members.clone()).unwrap_or_default();
            if self.opts.skip_unchanged && self.all_unchanged(members)? {
                for region in members {
                    on_event(Event::RegionSkipped {
                        offset: region.offset,
                        len: len_u32(region.data.len()),
                        label: region.label.clone(),
                    });
                    summary.skipped += 1;
                }
                continue;
            }
            let data = self.widen(&unit, members)?;
            let shown = Shown::of(members);
            let compressed = self.write_region(&shown, unit.start, &data, on_event)?;
            if self.opts.verify {
                self.verify(unit.start, &data, members, &shown.label, on_event)?;
            }
            for region in members {
                summary.written += 1;
                summary.bytes += region.data.len() as u64;
            }
            summary.compressed_bytes += u64::from(compressed);
        }
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    /// True when the flash already holds every one of `regions`. The MD5 is taken over whole
    /// 4-byte words (what the ROM reads); the few bytes of a partly covered word are taken as
    /// 0xFF, as every ESP flasher pads. Reading them instead would cost a read even when the
    /// region changed; a region with odd bounds next to other data is just written again.
    fn all_unchanged(&mut self, regions: &[Region]) -> Result<bool, FlashError> {
        for region in regions {
            let (start, end) = region_bounds(region);
            let (word_start, word_end) = (start - start % 4, end.next_multiple_of(4));
            let expected = if (word_start, word_end) == (start, end) {
                md5_of(&region.data)
            } else {
                let mut words = vec![0xFF; (word_end - word_start) as usize];
                put(&mut words, (start - word_start) as usize, &region.data);
                md5_of(&words)
            };
            if self.md5(to_u32(word_start), to_u32(word_end - word_start))? != expected {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The bytes of `unit`'s whole sectors: the regions, and around them what the flash holds
    /// (0xFF without a read when the chip's MD5 says that part is erased). Reads and MD5s cover
    /// whole 4-byte words, as the ROM reads them.
    fn widen(&mut self, unit: &SectorUnit, regions: &[Region]) -> Result<Vec<u8>, FlashError> {
        let start = u64::from(unit.start);
        let mut data = vec![0xFF; (unit.end - start) as usize];
        let mut gaps = Vec::new();
        let mut cursor = start;
        for region in regions {
            let (offset, end) = region_bounds(region);
            if offset > cursor {
                gaps.push((cursor, offset));
            }
            put(&mut data, (offset - start) as usize, &region.data);
            cursor = end;
        }
        if cursor < unit.end {
            gaps.push((cursor, unit.end));
        }
        for (gap_start, gap_end) in gaps {
            let (word_start, word_end) = (gap_start - gap_start % 4, gap_end.next_multiple_of(4));
            let len = to_u32(word_end - word_start);
            if self.md5(to_u32(word_start), len)? == md5_of(&vec![0xFF; len as usize]) {
                continue;
            }
            let old = self.read_flash(to_u32(word_start), len, &mut |_| {})?;
            let kept = old
                .get((gap_start - word_start) as usize..(gap_end - word_start) as usize)
                .unwrap_or_default();
            put(&mut data, (gap_start - start) as usize, kept);
        }
        Ok(data)
    }

    /// Refuse what cannot work before touching the flash and patch the bootloader. Regions keep
    /// their exact offsets and lengths: [`Flasher::widen`] makes them whole sectors and words.
    fn check_regions(
        &mut self,
        plan: &mut [Region],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), FlashError> {
        let security = self.loader.security_info().ok();
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
            if security.is_some_and(|s| s.flash_encryption()) {
                return Err(FlashError::EncryptionEnabled {
                    label: region.label.clone(),
                });
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

    /// Write the flash parameters into the bootloader at 0x0 (§9): only for a valid ESP32-S3
    /// image, never on a secured chip, and with the appended SHA-256 recomputed.
    fn patch_bootloader(
        &self,
        region: &mut Region,
        secured: bool,
        on_event: &mut dyn FnMut(Event),
    ) {
        let params = self.opts.flash_params;
        if params.is_keep() {
            return;
        }
        if region.data.first() != Some(&IMAGE_MAGIC) {
            on_event(Event::Warning(format!(
                "{} at 0x0 does not look like an image file; flash parameters not changed",
                region.label
            )));
            return;
        }
        let image = match format::parse_image(&region.data) {
            Ok(image) if image.header.chip_id == ESP32S3_CHIP_ID => image,
            _ => {
                on_event(Event::Warning(format!(
                    "{} at 0x0 is not a valid ESP32-S3 image; flash parameters not changed",
                    region.label
                )));
                return;
            }
        };
        if secured {
            on_event(Event::Warning(
                "security features are enabled, so the flash parameters of the bootloader are not changed".into(),
            ));
            return;
        }
        // parse_image succeeded, so the 24 header bytes are there.
        let (mut mode, mut size_freq) = (region.data[2], region.data[3]);
        params.apply(&mut mode, &mut size_freq);
        region.data[2] = mode;
        region.data[3] = size_freq;
        let mut digest_updated = false;
        if image.header.hash_appended == 1 {
            let end = image.data_len;
            let digest = format::sha256(&region.data[..end]);
            // parse_image checked that the 32 digest bytes are there; bytes after them (a merged
            // image's partition table and app) are kept.
            if let Some(slot) = region.data.get_mut(end..end + 32) {
                slot.copy_from_slice(&digest);
                digest_updated = true;
            }
        }
        on_event(Event::BootloaderPatched {
            params: u16::from_be_bytes([mode, size_freq]),
            digest_updated,
        });
    }

    /// Send one region compressed, restarting it from BEGIN when a block fails.
    ///
    /// Why restart instead of resending the block: after a ROM checksum error (`01 07`) the
    /// sequence number is consumed without the block being written, so resending it gets `01 05`
    /// and the next block would land at the wrong address (§18). After a timeout we cannot tell
    /// a lost request (resend would work) from a lost reply (resend would be a duplicate, `01 05`,
    /// or worse, written twice by a stub). A new BEGIN erases and rewinds both loaders to a known
    /// state, and the drain before it keeps a late reply from answering the new transfer.
    fn write_region(
        &mut self,
        shown: &Shown,
        offset: u32,
        data: &[u8],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<u32, FlashError> {
        let compressed = compress(data);
        let clen = len_u32(compressed.len());
        on_event(Event::RegionStarted {
            offset: shown.offset,
            len: shown.len,
            compressed_len: clen,
            label: shown.label.clone(),
        });
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            match self.send_compressed(offset, data, &compressed, shown.offset, on_event) {
                Ok(()) => {
                    on_event(Event::RegionWritten {
                        offset: shown.offset,
                        len: shown.len,
                        compressed_len: clen,
                        elapsed: started.elapsed(),
                    });
                    return Ok(clen);
                }
                Err(e) if is_retryable(&e) && attempt < WRITE_ATTEMPTS => {
                    self.loader.drain(Duration::from_millis(100))?;
                    // A chip that stopped answering altogether would make each retry wait out
                    // the ROM's erase timeout at BEGIN (40 s per MB): retry only if it answers.
                    if matches!(e, LoaderError::Timeout { .. }) && !self.still_answers() {
                        return Err(FlashError::WriteFailed {
                            label: shown.label.clone(),
                            offset: shown.offset,
                            attempts: attempt,
                            source: e,
                        });
                    }
                    on_event(Event::Retrying {
                        offset: shown.offset,
                        attempt,
                        reason: e.to_string(),
                    });
                    attempt += 1;
                }
                Err(e) if is_retryable(&e) => {
                    return Err(FlashError::WriteFailed {
                        label: shown.label.clone(),
                        offset: shown.offset,
                        attempts: attempt,
                        source: e,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// True unless a quick register read times out (a chip that answers with a refusal, as in
    /// Secure Download Mode, still answers).
    fn still_answers(&mut self) -> bool {
        !matches!(
            self.loader
                .read_reg(crate::protocol::chip::CHIP_DETECT_MAGIC_REG),
            Err(LoaderError::Timeout { .. })
        )
    }

    /// FLASH_DEFL_BEGIN, then the zlib stream in blocks (and, on a stub, FLASH_DEFL_END).
    ///
    /// Block size: the ROM accepts up to 0x1800 (§18) and every block costs a round trip (USB
    /// bridge latency of 1–16 ms plus the ROM's inflate-and-write before it answers), so the
    /// largest block wastes the least: at 460800 baud a 0x1800 block takes ~133 ms on the wire,
    /// against ~22 ms for esptool's 0x400, making the fixed per-block cost 6× smaller relative to
    /// the data. A stub buffers 0x4000.
    ///
    /// BEGIN size: the data is whole sectors already (see [`Flasher::widen`]), which is what both
    /// loaders erase, so nothing past it is erased. (Rounding to a multiple of
    /// the block size, as esptool does, could erase a sector of the next region or run past the
    /// end of the flash, which the ROM refuses with `01 06`; the real ROM accepts sizes that are
    /// not block multiples, e.g. 0x123.)
    fn send_compressed(
        &mut self,
        offset: u32,
        data: &[u8],
        compressed: &[u8],
        shown_offset: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), LoaderError> {
        let stub = self.loader.is_stub();
        let block = if stub { STUB_BLOCK } else { ROM_MAX_BLOCK };
        let len = len_u32(data.len());
        let clen = len_u32(compressed.len());
        let blocks = clen.div_ceil(block);
        let begin_size = if stub {
            len
        } else {
            len.next_multiple_of(SECTOR)
        };
        self.loader.command(
            &Command::flash_defl_begin(begin_size, blocks, block, offset),
            0,
            if stub {
                timeouts::DEFAULT
            } else {
                timeouts::erase_at_begin(begin_size)
            },
        )?;
        // Inflate alongside to know how many flash bytes each block writes: that sets its timeout.
        let mut inflater = flate2::write::ZlibDecoder::new(Vec::new());
        let mut sent = 0u32;
        // What the block before this one writes: a stub acknowledges a block at once and writes
        // it afterwards, so its reply to a block waits for the previous block's write. (Allow
        // for this block's own write too, in case a stub writes before acknowledging.)
        let mut previous = 0u32;
        for (seq, chunk) in (0u32..).zip(compressed.chunks(block as usize)) {
            let _ = inflater.write_all(chunk);
            let _ = inflater.flush();
            let produced = len_u32(inflater.get_ref().len());
            inflater.get_mut().clear();
            let timeout = if stub {
                timeouts::stub_after_write_of(previous.max(produced))
            } else {
                timeouts::write_block(produced)
            };
            self.loader
                .command(&Command::flash_defl_data(seq, chunk), 0, timeout)?;
            previous = produced;
            sent = sent.saturating_add(len_u32(chunk.len()));
            on_event(Event::RegionProgress {
                offset: shown_offset,
                written: sent,
                total: clen,
            });
        }
        if stub {
            // The stub acknowledges blocks before writing them; its FLASH_DEFL_END answers once
            // the last write is done, so the MD5 that follows sees the whole region. Exactly one
            // per BEGIN: a second one gets "not in flash mode". (The ROM writes each block
            // before answering and needs no END; its FLASH_END would even leave the loader.)
            self.loader.command(
                &Command::flash_defl_end(command::END_STUB_STAY),
                0,
                timeouts::stub_after_write_of(previous),
            )?;
        }
        Ok(())
    }

    /// Check the widened transfer with one SPI_FLASH_MD5. On a mismatch, find what is wrong for
    /// the message: one of the regions, or else the bytes kept around them.
    fn verify(
        &mut self,
        offset: u32,
        data: &[u8],
        regions: &[Region],
        label: &str,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), FlashError> {
        let mismatch = match self.check_md5(label, offset, data) {
            Ok(()) => {
                for region in regions {
                    on_event(Event::Verified {
                        offset: region.offset,
                        len: len_u32(region.data.len()),
                    });
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let base = u64::from(offset);
        for region in regions {
            // Whole words around the region, as the ROM hashes them.
            let (start, end) = region_bounds(region);
            let (word_start, word_end) = (start - start % 4, end.next_multiple_of(4));
            let expected = data
                .get((word_start - base) as usize..(word_end - base) as usize)
                .unwrap_or_default();
            self.check_md5(&region.label, to_u32(word_start), expected)?;
        }
        Err(match mismatch {
            FlashError::Md5Mismatch {
                offset,
                len,
                expected,
                actual,
                ..
            } => FlashError::Md5Mismatch {
                label: format!("the bytes kept around {label}"),
                offset,
                len,
                expected,
                actual,
            },
            other => other,
        })
    }

    /// Compare the flash's MD5 of `expected.len()` bytes at `offset` with `expected`'s.
    fn check_md5(&mut self, label: &str, offset: u32, expected: &[u8]) -> Result<(), FlashError> {
        let len = len_u32(expected.len());
        let actual = self.md5(offset, len)?;
        let wanted = md5_of(expected);
        if actual == wanted {
            return Ok(());
        }
        if actual == md5_of(&vec![0xFF; expected.len()]) {
            return Err(FlashError::WrittenEmpty {
                label: label.to_string(),
                offset,
                len,
            });
        }
        Err(FlashError::Md5Mismatch {
            label: label.to_string(),
            offset,
            len,
            expected: hex(&wanted),
            actual: hex(&actual),
        })
    }

    /// Erase the whole flash. A stub has ERASE_FLASH; the ROM has no erase command, so a
    /// FLASH_BEGIN over the whole flash (which erases before answering) does it.
    pub fn erase_all(&mut self, on_event: &mut dyn FnMut(Event)) -> Result<(), FlashError> {
        self.refuse_erase_if_secured()?;
        let size = self.flash_size;
        on_event(Event::EraseStarted {
            offset: 0,
            len: size,
        });
        let started = Instant::now();
        if self.loader.is_stub() {
            self.loader
                .command(&Command::erase_flash(), 0, timeouts::CHIP_ERASE)?;
        } else {
            self.rom_erase(0, size)?;
        }
        on_event(Event::EraseDone {
            offset: 0,
            len: size,
            elapsed: started.elapsed(),
        });
        Ok(())
    }

    /// Erase `size` bytes at `offset` (both multiples of 4 KiB).
    pub fn erase_region(
        &mut self,
        offset: u32,
        size: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), FlashError> {
        self.refuse_erase_if_secured()?;
        if offset % SECTOR != 0 {
            return Err(FlashError::Unaligned {
                what: "offset",
                value: offset,
            });
        }
        if size % SECTOR != 0 {
            return Err(FlashError::Unaligned {
                what: "size",
                value: size,
            });
        }
        self.check_range(offset, size)?;
        on_event(Event::EraseStarted { offset, len: size });
        let started = Instant::now();
        if size > 0 {
            if self.loader.is_stub() {
                self.loader.command(
                    &Command::erase_region(offset, size),
                    0,
                    timeouts::erase_region(size),
                )?;
            } else {
                self.rom_erase(offset, size)?;
            }
        }
        on_event(Event::EraseDone {
            offset,
            len: size,
            elapsed: started.elapsed(),
        });
        Ok(())
    }

    fn rom_erase(&mut self, offset: u32, size: u32) -> Result<(), FlashError> {
        self.loader.command(
            &Command::flash_begin(size, 0, ROM_MAX_BLOCK, offset),
            0,
            timeouts::erase_at_begin(size),
        )?;
        Ok(())
    }

    fn refuse_erase_if_secured(&mut self) -> Result<(), FlashError> {
        match self.loader.security_info() {
            Ok(s) if s.secure_boot() || s.flash_encryption() => Err(FlashError::SecurityActive),
            _ => Ok(()),
        }
    }

    fn check_range(&self, offset: u32, size: u32) -> Result<(), FlashError> {
        if u64::from(offset) + u64::from(size) > u64::from(self.flash_size) {
            return Err(FlashError::OutOfRange {
                offset,
                size,
                flash_size: self.flash_size,
            });
        }
        Ok(())
    }

    /// Read `size` bytes at `offset`, checked against the flash's MD5.
    pub fn read_flash(
        &mut self,
        offset: u32,
        size: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<u8>, FlashError> {
        self.check_range(offset, size)?;
        let data = if self.loader.is_stub() {
            self.read_stub(offset, size, on_event)?
        } else {
            self.read_rom(offset, size, on_event)?
        };
        if len_u32(data.len()) != size {
            return Err(FlashError::ReadCorrupt {
                offset,
                size,
                detail: format!("got 0x{:x} bytes", data.len()),
            });
        }
        let flash_md5 = self.md5(offset, size)?;
        if flash_md5 != md5_of(&data) {
            return Err(FlashError::ReadCorrupt {
                offset,
                size,
                detail: format!(
                    "the data's MD5 is {}, the flash's is {}",
                    hex(&md5_of(&data)),
                    hex(&flash_md5)
                ),
            });
        }
        Ok(data)
    }

    /// READ_FLASH_SLOW, 64 bytes per command.
    fn read_rom(
        &mut self,
        offset: u32,
        size: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<u8>, FlashError> {
        let mut data = Vec::with_capacity(size as usize);
        let mut done = 0u32;
        while done < size {
            let n = (size - done).min(ROM_READ_CHUNK);
            let answer = self.loader.command(
                &Command::read_flash_slow(offset + done, n),
                ROM_READ_CHUNK as usize,
                timeouts::DEFAULT,
            )?;
            // Only the first n bytes are fresh; the rest of the 64 is stale buffer content.
            data.extend_from_slice(&answer.payload[..n as usize]);
            done += n;
            if done % 0x400 == 0 || done == size {
                on_event(Event::ReadProgress {
                    offset,
                    read: done,
                    total: size,
                });
            }
        }
        Ok(data)
    }

    /// READ_FLASH (stub): data packets, each acknowledged with the running total, then the MD5.
    fn read_stub(
        &mut self,
        offset: u32,
        size: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<u8>, FlashError> {
        self.loader.command(
            &Command::read_flash(offset, size, STUB_READ_PACKET, STUB_READ_IN_FLIGHT),
            0,
            timeouts::DEFAULT,
        )?;
        let corrupt = |detail: String| FlashError::ReadCorrupt {
            offset,
            size,
            detail,
        };
        let mut data = Vec::with_capacity(size as usize);
        while data.len() < size as usize {
            let frame = self
                .loader
                .next_raw_frame(Instant::now() + timeouts::DEFAULT)?
                .ok_or_else(|| {
                    corrupt(format!("the data stopped after 0x{:x} bytes", data.len()))
                })?;
            data.extend_from_slice(&frame);
            if data.len() > size as usize {
                return Err(corrupt(format!("0x{:x} bytes arrived", data.len())));
            }
            let total = len_u32(data.len());
            self.loader.send_packet(&total.to_le_bytes())?;
            on_event(Event::ReadProgress {
                offset,
                read: total,
                total: size,
            });
        }
        let digest = self
            .loader
            .next_raw_frame(Instant::now() + timeouts::DEFAULT)?
            .ok_or_else(|| corrupt("no MD5 after the data".into()))?;
        if digest.as_slice() != md5_of(&data).as_slice() {
            return Err(corrupt(format!(
                "the stub's digest {} differs from the data's {}",
                hex(&digest),
                hex(&md5_of(&data))
            )));
        }
        Ok(data)
    }

    /// MD5 of `size` bytes of flash at `offset`, computed by the chip.
    pub fn md5(&mut self, offset: u32, size: u32) -> Result<[u8; 16], FlashError> {
        self.check_range(offset, size)?;
        let stub = self.loader.is_stub();
        let payload_len = if stub { 16 } else { 32 };
        let answer = self.loader.command(
            &Command::spi_flash_md5(offset, size),
            payload_len,
            timeouts::md5(size),
        )?;
        let bad = |detail: String| LoaderError::BadReply {
            command: Opcode::SpiFlashMd5,
            detail,
        };
        let mut out = [0u8; 16];
        if stub {
            out.copy_from_slice(&answer.payload);
        } else {
            // The ROM sends 32 lowercase hex characters.
            for (byte, pair) in out.iter_mut().zip(answer.payload.chunks(2)) {
                let text = std::str::from_utf8(pair).map_err(|_| bad("MD5 is not text".into()))?;
                *byte = u8::from_str_radix(text, 16)
                    .map_err(|_| bad(format!("MD5 holds {text:?}, not hex")))?;
            }
        }
        Ok(out)
    }

    /// Flash size in bytes.
    pub fn flash_size(&self) -> u32 {
        self.flash_size
    }

    /// The options it flashes with (whether it skips unchanged regions and verifies).
    pub fn options(&self) -> &FlashOptions {
        &self.opts
    }

    /// The underlying loader (registers, chip info, reset).
    pub fn loader(&mut self) -> &mut Loader<T> {
        &mut self.loader
    }

    /// Give the loader back.
    pub fn into_loader(self) -> Loader<T> {
        self.loader
    }
}

/// Regions that share a 4 KiB sector, and the whole sectors they cover: written as one transfer.
struct SectorUnit {
    /// First byte of the first sector.
    start: u32,
    /// End of the last sector.
    end: u64,
    /// Indices of the regions in the sorted plan.
    members: std::ops::Range<usize>,
}

/// Group sorted, non-overlapping regions by shared sectors.
fn sector_units(plan: &[Region]) -> Vec<SectorUnit> {
    let mut units: Vec<SectorUnit> = Vec::new();
    for (index, region) in plan.iter().enumerate() {
        let start = region.offset - region.offset % SECTOR;
        let end = region_bounds(region).1.next_multiple_of(u64::from(SECTOR));
        match units.last_mut() {
            Some(unit) if u64::from(start) < unit.end => {
                unit.end = unit.end.max(end);
                unit.members.end = index + 1;
            }
            _ => units.push(SectorUnit {
                start,
                end,
                members: index..index + 1,
            }),
        }
    }
    units
}

/// What events and messages name for a transfer: its region, or the regions sharing its sectors.
struct Shown {
    offset: u32,
    len: u32,
    label: String,
}

impl Shown {
    fn of(regions: &[Region]) -> Shown {
        let offset = regions.first().map_or(0, |r| r.offset);
        let end = regions.last().map_or(0, |r| region_bounds(r).1);
        let labels: Vec<&str> = regions.iter().map(|r| r.label.as_str()).collect();
        Shown {
            offset,
            len: to_u32(end.saturating_sub(u64::from(offset))),
            label: labels.join(" and "),
        }
    }
}

/// A region's first byte and end, as flash addresses.
fn region_bounds(region: &Region) -> (u64, u64) {
    let start = u64::from(region.offset);
    (start, start + region.data.len() as u64)
}

/// A flash address or length known to fit (it lies inside the checked flash size).
fn to_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// Copy `bytes` into `buffer` at `at`, as far as the buffer reaches (callers keep it in bounds).
fn put(buffer: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = buffer.get_mut(at..) {
        let n = slot.len().min(bytes.len());
        slot[..n].copy_from_slice(&bytes[..n]);
    }
}

/// Detect the flash size from the JEDEC ID, falling back to 4 MB with a warning.
fn detect_flash_size<T: Transport>(
    loader: &mut Loader<T>,
    on_event: &mut dyn FnMut(Event),
) -> Result<u32, FlashError> {
    let id = match loader.flash_id() {
        Ok(id) => id,
        Err(LoaderError::Unsupported { .. }) => {
            on_event(Event::Warning(format!(
                "the flash size cannot be detected in Secure Download Mode; assuming {} (set --flash-size)",
                FALLBACK_FLASH_SIZE.name()
            )));
            return Ok(FALLBACK_FLASH_SIZE.bytes());
        }
        Err(e) => return Err(e.into()),
    };
    if id.looks_absent() {
        on_event(Event::Warning(format!(
            "failed to communicate with the flash chip (ID 0x{:06x}); read and write operations will fail",
            id.raw
        )));
    }
    match id.size {
        Some(size) => Ok(size),
        None => {
            on_event(Event::Warning(format!(
                "unknown flash size code in flash ID 0x{:06x}; assuming {} (set --flash-size)",
                id.raw,
                FALLBACK_FLASH_SIZE.name()
            )));
            Ok(FALLBACK_FLASH_SIZE.bytes())
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

/// Failures worth sending the region again for: a status error on a data block (checksum,
/// sequence) or a lost reply. Not transport failures, crashes or refusals at BEGIN (a refused
/// offset, size or block size would be refused again).
fn is_retryable(e: &LoaderError) -> bool {
    match e {
        LoaderError::Command { command, .. } => {
            !matches!(command, Opcode::FlashBegin | Opcode::FlashDeflBegin)
        }
        LoaderError::Timeout { .. } | LoaderError::BadReply { .. } => true,
        _ => false,
    }
}

/// zlib at the best level.
fn compress(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::best(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

fn md5_of(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    #[test]
    fn only_data_block_failures_and_lost_replies_restart_a_region() {
        use crate::protocol::errors::DeviceError;
        let failed = |command| LoaderError::Command {
            command,
            error: DeviceError::Rom(0x07),
        };
        let check = |e: LoaderError, expected: bool| assert_eq!(is_retryable(&e), expected, "{e}");
        check(failed(Opcode::FlashDeflData), true);
        check(failed(Opcode::FlashData), true);
        // A refused BEGIN (offset, size or block size) would be refused again.
        check(failed(Opcode::FlashDeflBegin), false);
        check(failed(Opcode::FlashBegin), false);
        check(
            LoaderError::Timeout {
                command: Opcode::FlashDeflBegin,
                port: "sim://".into(),
                timeout: Duration::from_secs(3),
            },
            true,
        );
        check(
            LoaderError::Crashed {
                port: "sim://".into(),
                line: "Guru Meditation Error".into(),
            },
            false,
        );
    }

    #[test]
    fn compression_round_trips() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let packed = compress(&data);
        assert!(packed.len() < data.len() / 10);
        let mut out = Vec::new();
        let mut d = flate2::read::ZlibDecoder::new(packed.as_slice());
        std::io::Read::read_to_end(&mut d, &mut out).expect("inflates");
        assert_eq!(out, data);
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
    }
}
