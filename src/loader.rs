//! One connection to the ESP32-S3 ROM loader (or a flasher stub): reset, sync, chip detection,
//! command/response with timeouts, registers, eFuse-derived chip information, the flash ID and
//! security information, baud rate changes, stub upload and the reset after the operation.
//!
//! Generic over [`Transport`]; it never prints (progress leaves as [`Event`] values) and knows
//! nothing of flash layouts or images (that is `crate::flasher`).

use std::time::Duration;

pub use crate::protocol::chip::{ChipInfo, ChipRevision, FlashId, SecurityInfo};
use crate::reset::{After, Before};
use crate::transport::{Transport, TransportError};

/// Progress and notices from the loader and the flasher; the CLI renders these.
///
/// Offsets and lengths are flash byte addresses and byte counts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection attempt starts (1-based; `max_attempts` 0 means "forever").
    Connecting {
        /// This attempt, from 1.
        attempt: u32,
        /// How many attempts in all (0 = until it works).
        max_attempts: u32,
        /// Name of the reset sequence played before this attempt.
        reset: &'static str,
    },
    /// The loader answered SYNC.
    Connected {
        /// The port, as the transport describes it.
        port: String,
        /// True when a stub was already running (SYNC value 0).
        stub_already_running: bool,
    },
    /// The line speed was changed with CHANGE_BAUDRATE.
    ChangedBaud {
        /// New speed.
        baud: u32,
    },
    /// The stub is being uploaded to RAM.
    StubUploading,
    /// The stub said `OHAI` and now answers commands.
    StubRunning,
    /// The flash was attached and its size settled.
    FlashAttached {
        /// Size in bytes that the loader was told.
        size: u32,
        /// True when the size came from the flash ID, false when it was given.
        detected: bool,
    },
    /// The flash parameters of the bootloader at 0x0 were changed before writing.
    BootloaderPatched {
        /// Header bytes 2..3 as a big-endian number (esptool prints `0x022f`).
        params: u16,
        /// True when the appended SHA-256 was recomputed.
        digest_updated: bool,
    },
    /// Writing a region starts.
    RegionStarted {
        /// Flash offset.
        offset: u32,
        /// Uncompressed length.
        len: u32,
        /// Length after compression.
        compressed_len: u32,
        /// What the region is ("bootloader", "app", a file name).
        label: String,
    },
    /// Part of a region was sent.
    RegionProgress {
        /// Flash offset of the region.
        offset: u32,
        /// Compressed bytes sent so far.
        written: u32,
        /// Compressed bytes in all.
        total: u32,
    },
    /// A region was not written because the flash already holds the same bytes.
    RegionSkipped {
        /// Flash offset.
        offset: u32,
        /// Length.
        len: u32,
        /// Label of the region.
        label: String,
    },
    /// A region was written (not yet verified).
    RegionWritten {
        /// Flash offset.
        offset: u32,
        /// Uncompressed length.
        len: u32,
        /// Compressed length.
        compressed_len: u32,
        /// Time from the BEGIN command to the last block's reply.
        elapsed: Duration,
    },
    /// The MD5 of the flash matched the region.
    Verified {
        /// Flash offset.
        offset: u32,
        /// Length.
        len: u32,
    },
    /// A data block failed and the region is being sent again.
    Retrying {
        /// Flash offset of the region.
        offset: u32,
        /// The retry number, from 1.
        attempt: u32,
        /// What went wrong.
        reason: String,
    },
    /// Erasing starts.
    EraseStarted {
        /// Flash offset.
        offset: u32,
        /// Length.
        len: u32,
    },
    /// Erasing finished.
    EraseDone {
        /// Flash offset.
        offset: u32,
        /// Length.
        len: u32,
        /// How long it took.
        elapsed: Duration,
    },
    /// Part of a read finished.
    ReadProgress {
        /// Flash offset of the read.
        offset: u32,
        /// Bytes read so far.
        read: u32,
        /// Bytes in all.
        total: u32,
    },
    /// The chip was reset after the operation.
    Reset {
        /// What was done.
        after: After,
    },
    /// Something the user should know that does not stop the operation.
    Warning(String),
}

/// How to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// What to do before syncing.
    pub before: Before,
    /// Connection attempts, each with one reset and up to 5 SYNCs (0 = forever).
    pub attempts: u32,
    /// Line speed to switch to after connecting (CHANGE_BAUDRATE), when it differs from the
    /// transport's current speed. The transport should be opened at 115200, which the ROM
    /// detects from the SYNC pattern.
    pub baud: u32,
    /// A flasher stub to upload and run after connecting; `None` keeps talking to the ROM.
    pub stub: Option<StubImage>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            before: Before::DefaultReset,
            attempts: 7,
            baud: crate::config::DEFAULT_BAUD,
            stub: None,
        }
    }
}

/// A flasher stub: code and data loaded to RAM with MEM_BEGIN/MEM_DATA, started with MEM_END.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubImage {
    /// Code bytes.
    pub text: Vec<u8>,
    /// Load address of the code.
    pub text_start: u32,
    /// Data bytes.
    pub data: Vec<u8>,
    /// Load address of the data.
    pub data_start: u32,
    /// Entry point.
    pub entry: u32,
}

impl StubImage {
    /// Read a stub from esptool's JSON format (`entry`, `text_start`, `text` in base64,
    /// `data_start`, `data` in base64).
    pub fn from_esptool_json(json: &str) -> Result<Self, LoaderError> {
        let _ = json;
        todo!()
    }
}

/// A failure talking to the loader.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// The byte channel failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Nothing at all came back.
    #[error(
        "no serial data received from {port}: the chip is probably not in download mode (hold BOOT while pressing RESET) or this is not the right port"
    )]
    NoSerialData {
        /// Port name.
        port: String,
    },
    /// Placeholder until the loader is written.
    #[error("{0}")]
    Other(String),
}

/// One connection to the ROM loader or a stub.
pub struct Loader<T: Transport> {
    transport: T,
    stub: bool,
}

impl<T: Transport> Loader<T> {
    /// Reset (per `opts.before`), sync, check that the chip is an ESP32-S3, change the baud rate
    /// and upload the stub when asked.
    pub fn connect(
        transport: T,
        opts: &ConnectOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Self, LoaderError> {
        let _ = (transport, opts, on_event);
        todo!()
    }

    /// Chip description, features, crystal, MAC and revision, decoded from the eFuses.
    pub fn chip_info(&mut self) -> Result<ChipInfo, LoaderError> {
        todo!()
    }

    /// The flash chip's JEDEC ID, read through the SPI1 registers.
    pub fn flash_id(&mut self) -> Result<FlashId, LoaderError> {
        todo!()
    }

    /// GET_SECURITY_INFO.
    pub fn security_info(&mut self) -> Result<SecurityInfo, LoaderError> {
        todo!()
    }

    /// READ_REG.
    pub fn read_reg(&mut self, addr: u32) -> Result<u32, LoaderError> {
        let _ = addr;
        todo!()
    }

    /// WRITE_REG: `*addr = (*addr & !mask) | (value & mask)`.
    pub fn write_reg(&mut self, addr: u32, value: u32, mask: u32) -> Result<(), LoaderError> {
        let _ = (addr, value, mask);
        todo!()
    }

    /// True when talking to a stub rather than the ROM.
    pub fn is_stub(&self) -> bool {
        self.stub
    }

    /// Reset the chip as asked after the operation.
    pub fn reset_after(&mut self, after: After) -> Result<(), LoaderError> {
        let _ = after;
        todo!()
    }

    /// Give the transport back (for the monitor).
    pub fn into_transport(self) -> T {
        self.transport
    }
}
