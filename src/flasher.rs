//! Plan and write flash: compression, skip-unchanged, verification, erase and read-back, on top
//! of a [`Loader`].
//!
//! It refuses what cannot work (an image for another chip, a revision out of range, data past the
//! end of the flash, plaintext on an encrypted chip) before touching the flash. It never prints:
//! progress leaves as [`Event`] values.

use std::time::Duration;

use crate::image::{FlashParams, FlashSize};
use crate::loader::{Loader, LoaderError};
use crate::transport::Transport;

pub use crate::loader::Event;

/// A failure flashing, erasing, reading or verifying.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// Talking to the loader failed.
    #[error(transparent)]
    Loader(#[from] LoaderError),
    /// Placeholder until the flasher is written.
    #[error("{0}")]
    Other(String),
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

impl<T: Transport> Flasher<T> {
    /// Attach the flash (SPI_ATTACH), settle its size (given or detected) and tell the loader
    /// (SPI_SET_PARAMS).
    pub fn new(
        loader: Loader<T>,
        opts: FlashOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Self, FlashError> {
        let _ = (loader, opts, on_event);
        todo!()
    }

    /// Write regions: check them all first, then for each one skip it if unchanged, write it
    /// compressed and verify it.
    pub fn write_regions(
        &mut self,
        regions: &[Region],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<WriteSummary, FlashError> {
        let _ = (regions, on_event, &self.opts);
        todo!()
    }

    /// Erase the whole flash.
    pub fn erase_all(&mut self, on_event: &mut dyn FnMut(Event)) -> Result<(), FlashError> {
        let _ = on_event;
        todo!()
    }

    /// Erase `size` bytes at `offset` (both multiples of 4 KiB).
    pub fn erase_region(
        &mut self,
        offset: u32,
        size: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), FlashError> {
        let _ = (offset, size, on_event);
        todo!()
    }

    /// Read `size` bytes at `offset`, checked against the flash's MD5.
    pub fn read_flash(
        &mut self,
        offset: u32,
        size: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<u8>, FlashError> {
        let _ = (offset, size, on_event);
        todo!()
    }

    /// MD5 of `size` bytes of flash at `offset`, computed by the chip.
    pub fn md5(&mut self, offset: u32, size: u32) -> Result<[u8; 16], FlashError> {
        let _ = (offset, size);
        todo!()
    }

    /// Flash size in bytes.
    pub fn flash_size(&self) -> u32 {
        self.flash_size
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
