//! The virtual ESP32-S3: a chip model that stands in for hardware in every test.
//!
//! [`Esp32s3`] is a pure state machine: bytes from the host go in through
//! [`Esp32s3::receive`], bytes for the host come out of [`Esp32s3::take_output`], and the
//! control lines (through the auto-reset circuit or the USB-Serial/JTAG controller, see
//! [`Link`]), the host's line speed and the passing of time ([`Esp32s3::advance`]) are further
//! inputs. It owns the SPI flash ([`flash`]), the eFuse words ([`efuse`]), the SPI1 user-command
//! engine ([`spi`]), the memory map, the ROM download loader (`rom`, byte-exact against the real
//! ROM's transcripts), the stub flasher personality (`stub`), and after a flash boot ESP-IDF's
//! second stage ([`second_stage`]) and the app's scripted console ([`app_console`]), and the
//! faults a real line, cable, ROM or flash produces, when asked for ([`faults`]). It knows
//! nothing of how bytes reach it: `transport::sim` feeds it in-process, [`pty`] serves it on a
//! pseudo-terminal, [`rfc2217`] over RFC 2217. It never sleeps, reads no clock and never prints:
//! answers come at once when input arrives, and what takes time (the strapping latch after EN
//! rises, boot loops, watchdogs) waits for whoever serves the chip to say how much time went by.
//!
//! The simulator parses command packets with its own code, written from the protocol facts, and
//! never uses the host's command encoder, so a bug cannot hide by being made on both sides.

pub mod app_console;
mod block;
mod boot;
mod bus;
mod chip;
pub mod efuse;
pub mod faults;
pub mod flash;
pub mod pace;
// Pseudo-terminals are Unix-only; Windows serves the chip over RFC 2217 (or `sim://`).
#[cfg(unix)]
pub mod pty;
pub mod rfc2217;
mod rom;
pub mod second_stage;
pub mod spi;
mod stub;
#[cfg(test)]
mod test_image;

use std::path::PathBuf;

pub use boot::ResetCause;
pub use chip::{
    Esp32s3, FLASH_BOOT_WATCHDOG, Personality, ROM_CONSOLE_BYTES_PER_SEC, STRAP_WINDOW, UsbPort,
};
pub use faults::{FaultCounts, Faults, Replug};
pub use pace::Pace;

/// Stub entry points of the flasher stubs that esptool and espflash upload (§8 of the facts):
/// a MEM_END that jumps to one of these, after the code was uploaded, starts the stub personality.
pub const KNOWN_STUB_ENTRIES: [u32; 4] = [0x4037_95A8, 0x4037_8C94, 0x4037_8A80, 0x4037_AFA4];

/// Which chip the simulator claims to be (chip id and magic register). Only the ESP32-S3 is
/// modelled; the others exist so that a host's "wrong chip" refusal can be tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChipKind {
    /// ESP32-S3 (chip id 9, magic 0x9).
    Esp32s3,
    /// ESP32-C3 (chip id 5).
    Esp32c3,
    /// ESP32-C6 (chip id 13).
    Esp32c6,
    /// ESP32-H2 (chip id 16).
    Esp32h2,
    /// ESP32-C2 (chip id 12).
    Esp32c2,
    /// ESP32-S2 (chip id 2).
    Esp32s2,
}

impl ChipKind {
    /// Every kind, for messages.
    pub const ALL: [ChipKind; 6] = [
        ChipKind::Esp32s3,
        ChipKind::Esp32c3,
        ChipKind::Esp32c6,
        ChipKind::Esp32h2,
        ChipKind::Esp32c2,
        ChipKind::Esp32s2,
    ];

    /// Lower-case name as used in URLs (`esp32s3`).
    pub fn name(self) -> &'static str {
        match self {
            ChipKind::Esp32s3 => "esp32s3",
            ChipKind::Esp32c3 => "esp32c3",
            ChipKind::Esp32c6 => "esp32c6",
            ChipKind::Esp32h2 => "esp32h2",
            ChipKind::Esp32c2 => "esp32c2",
            ChipKind::Esp32s2 => "esp32s2",
        }
    }

    /// Parse a lower-case name (`esp32c3`, also `esp32-c3`).
    pub fn parse(name: &str) -> Option<Self> {
        let canonical = name.to_ascii_lowercase().replace(['-', '_'], "");
        Self::ALL.into_iter().find(|k| k.name() == canonical)
    }

    /// The chip id reported by GET_SECURITY_INFO and written in image headers.
    pub fn chip_id(self) -> u32 {
        match self {
            ChipKind::Esp32s3 => 9,
            ChipKind::Esp32c3 => 5,
            ChipKind::Esp32c6 => 13,
            ChipKind::Esp32h2 => 16,
            ChipKind::Esp32c2 => 12,
            ChipKind::Esp32s2 => 2,
        }
    }

    /// The value of the chip-detect magic register 0x40001000.
    pub fn magic(self) -> u32 {
        match self {
            ChipKind::Esp32s3 => 0x0000_0009,
            ChipKind::Esp32c3 => 0x6921_506F,
            ChipKind::Esp32c6 => 0x2CE0_806F,
            ChipKind::Esp32h2 => 0xD7B7_3E80,
            ChipKind::Esp32c2 => 0x6F51_306F,
            ChipKind::Esp32s2 => 0x0000_07C6,
        }
    }
}

/// How the chip is running when the simulator is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartIn {
    /// Already in the ROM download loader; the banner is in the output. Over a UART link GPIO0
    /// stays held low (as by a jumper or a held BOOT button) until the host first drives DTR or
    /// RTS, so a host without modem lines (a pty) finds the chip in download mode after any
    /// reset; over USB-Serial/JTAG the chip is as after the host's USB reset into download mode.
    Download,
    /// Booted from SPI flash (as if powered on with IO0 high).
    SpiBoot,
}

/// How the host's DTR/RTS lines reach the chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Link {
    /// A USB-UART bridge with the usual two-transistor auto-reset circuit: EN is low while RTS
    /// is asserted and DTR released, IO0 is low while DTR is asserted and RTS released.
    #[default]
    Uart,
    /// The chip's own USB-Serial/JTAG controller (USB 303a:1001): RTS asserted with DTR
    /// released holds the CPU in a core reset; DTR asserted with RTS released asks for download
    /// mode at the next core reset. The strapping pins are not sampled again by such a reset.
    UsbSerialJtag,
}

/// The package/PSRAM/revision identity that the eFuse words encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Factory MAC address (BLOCK1 words 0–1).
    pub mac: [u8; 6],
    /// Chip revision major.
    pub revision_major: u8,
    /// Chip revision minor (0–15).
    pub revision_minor: u8,
    /// Package version (0 = QFN56, 1 = PICO-1 LGA56).
    pub package: u8,
    /// Embedded PSRAM capacity code (0 none, 1 8 MB, 2 2 MB, 3 16 MB, 4 4 MB).
    pub psram_cap: u8,
    /// PSRAM vendor code (1 AP_3v3, 2 AP_1v8).
    pub psram_vendor: u8,
    /// Embedded flash capacity code (0 none, 1 8 MB, 2 4 MB).
    pub flash_cap: u8,
    /// eFuse block version (major, minor).
    pub block_version: (u8, u8),
    /// The security eFuses (all off on a stock chip).
    pub security: Security,
}

/// The security features burnt into the eFuses: what GET_SECURITY_INFO reports and, for Secure
/// Download Mode, which commands the ROM loader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Security {
    /// SECURE_BOOT_EN.
    pub secure_boot: bool,
    /// SPI_BOOT_CRYPT_CNT odd: flash encryption on.
    pub flash_encryption: bool,
    /// ENABLE_SECURITY_DOWNLOAD: the ROM loader answers only the commands Secure Download Mode
    /// allows (SYNC, SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE, FLASH_BEGIN/DATA/END and
    /// GET_SECURITY_INFO) and runs no stub.
    pub secure_download: bool,
}

impl Security {
    /// GET_SECURITY_INFO's first 5 bytes: the flags word (bit 0 secure boot, bit 2 Secure
    /// Download Mode) and SPI_BOOT_CRYPT_CNT.
    pub fn info_head(self) -> [u8; 5] {
        let flags = u32::from(self.secure_boot) | (u32::from(self.secure_download) << 2);
        let [a, b, c, d] = flags.to_le_bytes();
        [a, b, c, d, u8::from(self.flash_encryption)]
    }
}

/// Everything that configures a simulated chip.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Flash chip size in bytes (a power of two between 256 KiB and 128 MiB).
    pub flash_size: u32,
    /// Persist the flash contents to this file: loaded at start when it exists, written back
    /// when flushed and when the chip is dropped.
    pub flash_file: Option<PathBuf>,
    /// eFuse identity.
    pub identity: Identity,
    /// Which chip to claim (only for testing a host's refusal of the wrong chip).
    pub chip: ChipKind,
    /// Initial state.
    pub start_in: StartIn,
    /// GPIO strapping value latched when booting with IO0 low (the real board's 0x00 by default;
    /// the emulator used for the transcripts strapped 0x07).
    pub download_strap: u8,
    /// GPIO strapping value latched when booting with IO0 high.
    pub spi_strap: u8,
    /// Further MEM_END entry points that start the stub personality (for tests with synthetic
    /// stubs), besides [`KNOWN_STUB_ENTRIES`].
    pub extra_stub_entries: Vec<u32>,
    /// How DTR/RTS reach the chip (`sim://?usb=jtag` for the USB-Serial/JTAG controller).
    pub link: Link,
    /// The BOOT button holds GPIO0 low while the chip powers on and is released right after
    /// (`sim://?boot=button`): the chip starts in download mode, whatever `start_in` says, and
    /// stays there through resets that do not sample the strapping pins again (a
    /// USB-Serial/JTAG core reset); an EN pulse or the RTC watchdog boots from flash.
    pub boot_button_at_power_on: bool,
    /// What the app prints after it starts, byte for byte, after each boot into the app
    /// (`sim://?console=FILE`): a stand-in for the output of firmware the simulator cannot run,
    /// such as log lines or defmt frames. The scripted console (echo, MicroPython's REPL) goes
    /// on after it.
    pub app_output: Option<Vec<u8>>,
    /// Charge real time for the line, the flash and the CPU ([`Pace::real`], `sim://?pace=real`);
    /// `None` (the default) answers at once, so tests stay fast.
    pub pace: Option<Pace>,
    /// The USB-UART adapter's limit (`sim://?max-baud=921600`): above this speed the line
    /// corrupts bytes in both directions, as a cheap bridge does. `None`: no limit.
    pub max_baud: Option<u32>,
    /// How many bytes cross the line above [`SimConfig::max_baud`] before the corruption starts
    /// (`sim://?corrupt-after=64K`): 0 corrupts at once; more models a link that works at first
    /// and fails mid-transfer.
    pub corrupt_after: u64,
    /// Faults on the line, in the loaders and in the flash ([`Faults`]; `sim://?drop=1e-5`
    /// and the other fault options): none by default.
    pub faults: Faults,
}

/// The default MAC: Espressif's OUI 7c:df:a1 with a fixed device part.
pub const DEFAULT_MAC: [u8; 6] = [0x7C, 0xDF, 0xA1, 0x00, 0x00, 0x01];

impl Default for SimConfig {
    /// An ESP32-S3 (QFN56) revision v0.2 with embedded 8 MB PSRAM (AP_3v3), 8 MiB of erased
    /// flash, a fixed Espressif MAC, in download mode.
    fn default() -> Self {
        SimConfig {
            flash_size: 8 * 1024 * 1024,
            flash_file: None,
            identity: Identity {
                mac: DEFAULT_MAC,
                revision_major: 0,
                revision_minor: 2,
                package: 0,
                psram_cap: 1,
                psram_vendor: 1,
                flash_cap: 0,
                block_version: (1, 1),
                security: Security::default(),
            },
            chip: ChipKind::Esp32s3,
            start_in: StartIn::Download,
            download_strap: 0x00,
            spi_strap: 0x08,
            extra_stub_entries: Vec::new(),
            link: Link::Uart,
            boot_button_at_power_on: false,
            app_output: None,
            pace: None,
            max_baud: None,
            corrupt_after: 0,
            faults: Faults::default(),
        }
    }
}

impl SimConfig {
    /// The configuration of the emulator that recorded `testdata/rom-transcripts`: 8 MiB erased
    /// flash, ESP-IDF's default QEMU eFuse image (revision v0.3, MAC 0, nothing else), strap 0x07.
    pub fn qemu_reference() -> Self {
        SimConfig {
            identity: Identity {
                mac: [0; 6],
                revision_major: 0,
                revision_minor: 3,
                package: 0,
                psram_cap: 0,
                psram_vendor: 0,
                flash_cap: 0,
                block_version: (0, 0),
                security: Security::default(),
            },
            download_strap: 0x07,
            ..SimConfig::default()
        }
    }
}

/// A simulator setup problem.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The flash size is not supported.
    #[error(
        "flash size {0:#x} is not supported; use a power of two from 256KB to 128MB (e.g. 4MB, 8MB, 16MB)"
    )]
    FlashSize(u64),
    /// The flash file could not be read or written.
    #[error("cannot {action} flash file {}: {source}", path.display())]
    FlashFile {
        /// What was tried.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The pseudo-terminal could not be set up.
    #[error("cannot {action} a pseudo-terminal: {source}")]
    Pty {
        /// What was tried.
        action: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The simulator's TCP server could not be set up or failed.
    #[error("cannot {action} the simulator's TCP server: {source}")]
    Socket {
        /// What was tried.
        action: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The flash file is larger than the flash.
    #[error(
        "flash file {} holds {len} bytes, more than the {size}-byte flash; pass a larger flash size",
        path.display()
    )]
    FlashFileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The flash size.
        size: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chip_names_parse() {
        assert_eq!(ChipKind::parse("esp32-c3"), Some(ChipKind::Esp32c3));
        assert_eq!(ChipKind::parse("ESP32S3"), Some(ChipKind::Esp32s3));
        assert_eq!(ChipKind::parse("esp8266"), None);
    }
}
