//! One connection to the ESP32-S3 ROM loader (or a flasher stub): reset, sync, chip detection,
//! command/response with timeouts, registers, eFuse-derived chip information, the flash ID and
//! security information, baud rate changes, stub upload and the reset after the operation.
//!
//! Generic over [`Transport`]; it never prints (progress leaves as [`Event`] values) and knows
//! nothing of flash layouts or images (that is `crate::flasher`).

use std::time::Duration;

use crate::image::FlashSize;
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

/// Chip revision, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChipRevision {
    /// Major revision.
    pub major: u8,
    /// Minor revision.
    pub minor: u8,
}

impl ChipRevision {
    /// The revision as one number, `major*100 + minor` (image headers use this form).
    pub fn full(self) -> u16 {
        u16::from(self.major) * 100 + u16::from(self.minor)
    }
}

impl std::fmt::Display for ChipRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

/// What the eFuses say about the chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipInfo {
    /// `ESP32-S3 (QFN56) (revision v0.2)`.
    pub description: String,
    /// Package name, `ESP32-S3 (QFN56)`.
    pub package: String,
    /// Chip revision (eco0 workaround applied).
    pub revision: ChipRevision,
    /// Features, e.g. `Wi-Fi`, `BT 5 (LE)`, `Dual Core + LP Core`, `240MHz`,
    /// `Embedded PSRAM 8MB (AP_3v3)`.
    pub features: Vec<String>,
    /// Crystal frequency in MHz (always 40 on the S3).
    pub crystal_mhz: u32,
    /// Factory MAC address.
    pub mac: [u8; 6],
    /// True when the eFuses say the flash is octal.
    pub octal_flash: bool,
}

impl ChipInfo {
    /// The MAC as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// The JEDEC ID read from the flash chip (RDID, 0x9F).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashId {
    /// The 24 bits as read (first byte in bits 7:0).
    pub raw: u32,
    /// Manufacturer byte (0xC8 GigaDevice, 0xEF Winbond, 0x20 XMC, …).
    pub manufacturer: u8,
    /// Device id: memory type in the high byte, capacity in the low byte.
    pub device: u16,
    /// Size in bytes implied by the capacity byte, when it is a known code.
    pub size: Option<u32>,
}

impl FlashId {
    /// The implied size as a header flash size, when there is one.
    pub fn flash_size(&self) -> Option<FlashSize> {
        self.size.and_then(|s| FlashSize::from_bytes(u64::from(s)))
    }
}

/// GET_SECURITY_INFO, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityInfo {
    /// Flag word (bit 0 secure boot, bit 2 secure download mode, …).
    pub flags: u32,
    /// SPI_BOOT_CRYPT_CNT (odd number of set bits = flash encryption on).
    pub flash_crypt_cnt: u8,
    /// Key purposes of the eFuse key blocks.
    pub key_purposes: [u8; 7],
    /// Chip id (9 on the ESP32-S3).
    pub chip_id: Option<u32>,
    /// ROM API version.
    pub api_version: Option<u32>,
}

impl SecurityInfo {
    /// Secure boot is enabled.
    pub fn secure_boot(&self) -> bool {
        self.flags & 1 != 0
    }
    /// The ROM is in Secure Download Mode.
    pub fn secure_download_mode(&self) -> bool {
        self.flags & (1 << 2) != 0
    }
    /// Flash encryption is enabled (odd number of bits set in the crypt counter).
    pub fn flash_encryption(&self) -> bool {
        self.flash_crypt_cnt.count_ones() % 2 == 1
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
