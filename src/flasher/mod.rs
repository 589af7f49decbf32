//! Plan and write flash: compression, skip-unchanged, verification, erase and read-back, on top
//! of a [`Loader`].
//!
//! It refuses what cannot work (an image for another chip, a revision out of range, data past the
//! end of the flash, plaintext on an encrypted chip) before touching the flash, and erases nothing
//! outside the regions: the bytes sharing a 4 KiB sector with a region are written back as they
//! were. It never prints: progress leaves as [`Event`] values.

use std::time::Duration;

use md5::{Digest as _, Md5};

use crate::image::{FlashParams, FlashSize};
use crate::loader::{Loader, LoaderError, ROM_MAX_BLOCK};
use crate::protocol::command::{Command, Opcode};
use crate::protocol::timeouts;
use crate::transport::Transport;

pub use crate::event::Event;
/// The one region type: bytes, their flash offset, what they are and a label for messages.
pub use crate::image::merge::{Region, RegionKind};
pub use error::FlashError;
pub(crate) use error::interrupted_summary;

mod checks;
mod chunks;
mod error;
mod read;
mod write;

/// How to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashOptions {
    /// Do not write a region whose MD5 in flash already matches.
    pub skip_unchanged: bool,
    /// Check each written region with SPI_FLASH_MD5.
    pub verify: bool,
    /// Override what can sensibly be overridden: an image's chip revision range, a configured
    /// flash size larger than the chip's, plaintext writes and erases on a chip with flash
    /// encryption or secure boot.
    pub force: bool,
    /// The flash size to use; `None` detects it from the flash ID.
    pub flash_size: Option<FlashSize>,
    /// Flash mode/frequency/size patched into a bootloader written at 0x0.
    pub flash_params: FlashParams,
    /// When `flash_params` keeps the size: write the detected size into a bootloader at 0x0
    /// anyway (the `detect` choice), so the bootloader and the app see the flash the chip has.
    pub bootloader_size_from_chip: bool,
}

impl Default for FlashOptions {
    fn default() -> Self {
        FlashOptions {
            skip_unchanged: true,
            verify: true,
            force: false,
            flash_size: None,
            flash_params: FlashParams::default(),
            bootloader_size_from_chip: false,
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
    /// Regions written without an MD5 check of the flash: verification was off, or the chip is
    /// in Secure Download Mode, whose ROM computes no MD5 (each block is still checked by the
    /// ROM's checksum).
    pub unverified: u32,
    /// Total time.
    pub elapsed: Duration,
}

/// A loader with the flash attached and its size known.
pub struct Flasher<T: Transport> {
    loader: Loader<T>,
    opts: FlashOptions,
    flash_size: u32,
    /// Flash ranges written and verified (or found unchanged) by this flasher.
    verified: Vec<(u64, u64)>,
    /// Ranges verified by an earlier connection ([`Flasher::assume_verified`]): writes skip
    /// them without asking the chip.
    assumed: Vec<(u64, u64)>,
    /// The flash size came from the chip's own ID (not a setting): addresses cannot wrap around
    /// inside a region that fits, so a chunked write need not hash its unchanged chunks again.
    size_detected: bool,
    /// The size the flash ID names, when it names one (not in Secure Download Mode).
    detected_size: Option<u32>,
    cancel: Cancel,
    /// Transfers sent again after a failed block, and regions checked again at the end of a
    /// troubled write, in this flasher's life (see [`Flasher::retries`]).
    retries: u64,
    /// Halvings of the data block size since the flasher was made: a line that keeps losing
    /// or garbling whole blocks gets smaller ones (see `write.rs`, `transfer`).
    block_halvings: u32,
}

/// A flag that stops a running write after the current block (set from another thread: a
/// Ctrl+C handler, a GUI button). The library never installs a signal handler; the caller
/// decides what sets it. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// A flag not yet set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the write to stop after its current block.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// True once [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Clear the flag (before the next job on the same board).
    pub fn reset(&self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Flash sector: the erase granularity.
/// Flash sector: the erase granularity.
pub const SECTOR: u32 = 0x1000;
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
        let (size, size_detected, detected_size) = attach(&mut loader, &opts, on_event)?;
        Ok(Flasher {
            loader,
            opts,
            flash_size: size,
            verified: Vec::new(),
            assumed: Vec::new(),
            size_detected,
            detected_size,
            cancel: Cancel::new(),
            retries: 0,
            block_halvings: 0,
        })
    }

    /// The flag that stops a write after its current block (see [`Cancel`]).
    pub fn cancel_handle(&self) -> Cancel {
        self.cancel.clone()
    }

    /// The flash size the chip's flash ID names, when it names one.
    pub fn detected_size(&self) -> Option<u32> {
        self.detected_size
    }

    /// Attach the flash again after the loader connected again ([`Loader::reconnect`]): what
    /// [`Flasher::new`] does, keeping what was verified.
    pub fn reattach(&mut self, on_event: &mut dyn FnMut(Event)) -> Result<(), FlashError> {
        (self.flash_size, self.size_detected, self.detected_size) =
            attach(&mut self.loader, &self.opts, on_event)?;
        Ok(())
    }
}

/// SPI_ATTACH (ROM only), the flash size and SPI_SET_PARAMS. Returns the size in use, whether
/// it is the chip's own (detected from its flash ID, not a setting or a fallback), and the size
/// the flash ID names when it names one (read even with a configured size, to refuse a size
/// larger than the chip).
fn attach<T: Transport>(
    loader: &mut Loader<T>,
    opts: &FlashOptions,
    on_event: &mut dyn FnMut(Event),
) -> Result<(u32, bool, Option<u32>), FlashError> {
    if !loader.is_stub() {
        loader.command(&Command::spi_attach(), 0, timeouts::DEFAULT)?;
    }
    let (mut size, detected, detected_size) = match opts.flash_size {
        Some(size) => (size.bytes(), false, chip_flash_size(loader)),
        None => {
            let (size, known) = detect_flash_size(loader, on_event)?;
            (size, true, known.then_some(size))
        }
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
    Ok((size, detected && detected_size.is_some(), detected_size))
}

impl<T: Transport> Flasher<T> {
    /// Erase the whole flash. A stub has ERASE_FLASH; the ROM has no erase command, so a
    /// FLASH_BEGIN over the whole flash (which erases before answering) does it.
    pub fn erase_all(&mut self, on_event: &mut dyn FnMut(Event)) -> Result<(), FlashError> {
        self.refuse_erase_if_secured()?;
        let size = self.flash_size;
        self.forget_verified(0, u64::from(size));
        on_event(Event::EraseStarted {
            offset: 0,
            len: size,
        });
        let started = self.loader.now();
        if self.loader.is_stub() {
            self.loader
                .command(&Command::erase_flash(), 0, timeouts::CHIP_ERASE)?;
        } else {
            self.rom_erase(0, size)?;
        }
        on_event(Event::EraseDone {
            offset: 0,
            len: size,
            elapsed: self.loader.now().saturating_duration_since(started),
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
        self.forget_verified(u64::from(offset), u64::from(offset) + u64::from(size));
        on_event(Event::EraseStarted { offset, len: size });
        let started = self.loader.now();
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
            elapsed: self.loader.now().saturating_duration_since(started),
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
        if self.opts.force {
            return Ok(());
        }
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
        Ok(decode_md5(&answer.payload, stub)?)
    }

    /// Flash ranges this flasher wrote and verified, or found unchanged, so far.
    pub fn verified_ranges(&self) -> &[(u64, u64)] {
        &self.verified
    }

    /// Take ranges as verified by an earlier connection to the same chip (a write resumed after
    /// a failure): writes skip them without asking the chip. Erasing forgets them.
    pub fn assume_verified(&mut self, ranges: &[(u64, u64)]) {
        self.assumed.extend_from_slice(ranges);
        self.verified.extend_from_slice(ranges);
    }

    /// How many transfers were sent again after a failed block, commands sent again after a
    /// lost or garbled reply, and regions found changed by the final check, in this flasher's
    /// life.
    pub fn retries(&self) -> u64 {
        self.retries + self.loader.resends()
    }

    /// Forget what is known verified in `[start, end)` (it is being erased).
    fn forget_verified(&mut self, start: u64, end: u64) {
        let outside = |(s, e): &(u64, u64)| *e <= start || end <= *s;
        self.verified.retain(outside);
        self.assumed.retain(outside);
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

/// A flash address or length known to fit (it lies inside the checked flash size).
fn to_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The size the flash ID names, or `None` when it names none or cannot be read (Secure
/// Download Mode). Never fails: it only serves a check.
fn chip_flash_size<T: Transport>(loader: &mut Loader<T>) -> Option<u32> {
    loader.flash_id().ok().and_then(|id| id.size)
}

/// Detect the flash size from the JEDEC ID, falling back to 4 MB with a warning. The flag says
/// whether the ID named the size (false for the fallback).
fn detect_flash_size<T: Transport>(
    loader: &mut Loader<T>,
    on_event: &mut dyn FnMut(Event),
) -> Result<(u32, bool), FlashError> {
    let id = match loader.flash_id() {
        Ok(id) => id,
        Err(LoaderError::Unsupported { .. }) => {
            on_event(Event::Warning(format!(
                "the flash size cannot be detected in Secure Download Mode; assuming {} (set --flash-size)",
                FALLBACK_FLASH_SIZE.name()
            )));
            return Ok((FALLBACK_FLASH_SIZE.bytes(), false));
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
        Some(size) => Ok((size, true)),
        None => {
            on_event(Event::Warning(format!(
                "unknown flash size code in flash ID 0x{:06x}; assuming {} (set --flash-size)",
                id.raw,
                FALLBACK_FLASH_SIZE.name()
            )));
            Ok((FALLBACK_FLASH_SIZE.bytes(), false))
        }
    }
}

/// An SPI_FLASH_MD5 payload as 16 bytes: a stub sends them raw, the ROM as 32 lowercase hex
/// characters.
fn decode_md5(payload: &[u8], stub: bool) -> Result<[u8; 16], LoaderError> {
    let bad = |detail: String| LoaderError::BadReply {
        command: Opcode::SpiFlashMd5,
        detail,
    };
    let mut out = [0u8; 16];
    if stub {
        let raw = payload
            .get(..16)
            .ok_or_else(|| bad(format!("{} MD5 bytes", payload.len())))?;
        out.copy_from_slice(raw);
    } else {
        for (byte, pair) in out.iter_mut().zip(payload.chunks(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| bad("MD5 is not text".into()))?;
            *byte = u8::from_str_radix(text, 16)
                .map_err(|_| bad(format!("MD5 holds {text:?}, not hex")))?;
        }
    }
    Ok(out)
}

fn md5_of(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
