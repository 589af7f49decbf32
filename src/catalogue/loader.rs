//! `ES09xx`: the codes of [`LoaderError`] (the chip's ROM loader or the flasher stub: sync,
//! commands, replies). It must not know how the loader talks to the chip.

use std::time::Duration;

use super::transport;
use crate::loader::{LoaderError, ResetAttempt};
use crate::protocol::command::Opcode;
use crate::protocol::errors::DeviceError;

catalogue! {
    /// The code of a loader error.
    pub(super) fn code(&LoaderError);
    /// `ES09xx`: the loader.
    pub(super) const ENTRIES;
    wrappers {
        LoaderError::Transport(e) => transport::code(e),
    }
    LoaderError::NoSerialData { .. } => ES0901 {
        example: LoaderError::NoSerialData { port: "/dev/ttyUSB0".into() },
        cause: "Nothing at all came back: the chip is not in download mode and prints nothing, the port is not the board's, or the cable carries power only.",
        fix: "Hold BOOT while pressing RESET, then run again; check the port with `cargo esp32s3 list-ports`.",
    },
    LoaderError::WrongBootMode { .. } => ES0902 {
        example: LoaderError::WrongBootMode {
            port: "/dev/ttyUSB0".into(),
            boot: 0x8,
            reset: ResetAttempt::Played,
        },
        cause: "The chip's boot banner shows it started from flash, not in download mode: the auto-reset circuit did not pull GPIO0 low (no DTR/RTS wiring, a slow capacitor, or a port without modem lines).",
        fix: "Hold BOOT and press RESET; for unusual reset wiring set `reset-sequence` (see the README's Resets section).",
    },
    LoaderError::NoSyncReply { .. } => ES0903 {
        example: LoaderError::NoSyncReply { port: "/dev/ttyUSB0".into() },
        cause: "The chip says it waits for download, but does not answer SYNC: the host's TX line does not reach the chip's RX (wiring, a broken adapter).",
        fix: "Check the TX/RX wiring and the USB-UART adapter.",
    },
    LoaderError::NoValidReply { .. } => ES0904 {
        example: LoaderError::NoValidReply { port: "/dev/ttyUSB0".into(), bytes: 312 },
        cause: "Bytes arrived but no SYNC reply: the chip runs its firmware (which prints), or the line speed or wiring is wrong.",
        fix: "Put the chip into download mode (hold BOOT, press RESET) and check that the port is the board's.",
    },
    LoaderError::Crashed { .. } => ES0905 {
        example: LoaderError::Crashed {
            port: "/dev/ttyUSB0".into(),
            line: "Guru Meditation Error: Core  0 panic'ed (LoadProhibited)".into(),
        },
        cause: "The chip printed a crash report instead of answering: the firmware runs and crashes, and the reset into download mode did not happen.",
        fix: "Reset or power-cycle the board with BOOT held, then run again.",
    },
    LoaderError::ChipReset { .. } => ES0916 {
        example: LoaderError::ChipReset {
            port: "/dev/ttyACM0".into(),
            line: "rst:0x10 (RTCWDT_RTC_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)".into(),
        },
        cause: "The chip restarted while the tool talked to it: a watchdog (the RTC watchdog over USB-Serial/JTAG), a brown-out when the flash draws current, or a loose cable. The tool reconnects and resumes by itself a few times; this error means it kept happening.",
        fix: "Use a short data cable and a powered port or hub, then run the same command again: what is verified is skipped.",
    },
    LoaderError::WrongChip { .. } => ES0906 {
        example: LoaderError::WrongChip { chip: "ESP32-C3".into() },
        cause: "Another chip of the ESP family answered: the port belongs to another board.",
        fix: "Choose the ESP32-S3's port; use espflash for other chips.",
    },
    LoaderError::UnknownChip { .. } => ES0907 {
        example: LoaderError::UnknownChip {
            port: "/dev/ttyUSB0".into(),
            detail: "chip id 77".into(),
        },
        cause: "The chip identified itself with an id this tool does not know: a chip other than the ESP32-S3, or a garbled reply.",
        fix: "Check that the board is an ESP32-S3, and run again.",
    },
    LoaderError::Command { .. } => ES0908 {
        example: LoaderError::Command {
            command: Opcode::FlashDeflData,
            error: DeviceError::Stub(0xC100),
        },
        cause: "The chip answered a command with a failure status (the table of status codes is at the end of this page): a block damaged on the line (checksum errors), a flash chip that failed to program, or a command the loader refuses.",
        fix: "Run again, with a lower --baud for checksum errors; for flash write or SPI failures check the flash chip's power supply.",
    },
    LoaderError::Unsupported { .. } => ES0909 {
        example: LoaderError::Unsupported { command: Opcode::ReadFlashSlow, secure_download: true },
        cause: "The loader does not support the command: Secure Download Mode allows only a few commands, and the ROM lacks some the stub has.",
        fix: "Use the commands the mode allows (in Secure Download Mode: write and erase, no reads); for other modes, run with the flasher stub.",
    },
    LoaderError::Timeout { .. } => ES0910 {
        example: LoaderError::Timeout {
            command: Opcode::FlashDeflData,
            port: "/dev/ttyUSB0".into(),
            timeout: Duration::from_secs(3),
        },
        cause: "No reply in time: the chip reset (brown-out, a watchdog), the connection lost bytes at a high baud rate, or a long erase took longer than expected.",
        fix: "Run again with a lower --baud (460800 or 115200), and check the cable and the power supply.",
    },
    LoaderError::BadReply { .. } => ES0911 {
        example: LoaderError::BadReply {
            command: Opcode::GetSecurityInfo,
            detail: "4 payload bytes".into(),
        },
        cause: "A reply arrived that cannot be right: bytes lost or changed on the line.",
        fix: "Reset the board and run again, with a lower --baud if it persists.",
    },
    LoaderError::StubFailed { .. } => ES0912 {
        example: LoaderError::StubFailed { detail: "unexpected response [01, 05, 00, 00]".into() },
        cause: "The flasher stub was uploaded but did not start: a stub file for another chip or version, or a chip that reset during the upload.",
        fix: "Run again without --stub (the ROM loader is used), or with another stub file.",
    },
    LoaderError::InvalidStub { .. } => ES0913 {
        example: LoaderError::InvalidStub {
            detail: "not JSON (expected value at line 1 column 1)".into(),
        },
        cause: "The stub file cannot be used: not esptool's JSON format, or missing its text or entry point.",
        fix: "Use an esptool stub JSON for the ESP32-S3 (`stub_flasher_32s3.json`).",
    },
    LoaderError::SpiTimeout { .. } => ES0914 {
        example: LoaderError::SpiTimeout { command: 0x9f },
        cause: "An SPI flash command through the chip's registers did not finish: the flash chip is missing, not attached, or not powered (a module with external flash on other pins).",
        fix: "Check the module's flash; run again after a reset.",
    },
    LoaderError::NotSupported(_) => ES0915 {
        example: LoaderError::NotSupported(
            "soft reset is not supported while the flasher stub runs; use --after hard-reset".into(),
        ),
        cause: "The loader cannot do what was asked in its current state; the message says what to use instead.",
        fix: "Do what the message says (another --after, or without the stub).",
    },
}
