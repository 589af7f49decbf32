//! What can go wrong on a connection to the loader, as values: each [`LoaderError`] message is one
//! line naming the port or command at fault and saying what to do. It knows nothing of how the
//! connection is made; `loader` decides which error applies.

use std::time::Duration;

use crate::protocol::command::Opcode;
use crate::protocol::errors::DeviceError;
use crate::transport::TransportError;

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
    /// The boot banner showed a boot mode other than download mode.
    #[error("{}", wrong_boot_mode_text(port, *boot, *reset))]
    WrongBootMode {
        /// Port name.
        port: String,
        /// The `boot:` value of the banner.
        boot: u32,
        /// What the last attempt did to the reset lines.
        reset: ResetAttempt,
    },
    /// The banner said "waiting for download" but SYNC got no answer.
    #[error(
        "download mode detected on {port}, but the chip does not answer SYNC: the serial path from the host to the chip (TX) seems down; check the wiring and the adapter"
    )]
    NoSyncReply {
        /// Port name.
        port: String,
    },
    /// Bytes arrived, but none of them was a SYNC reply.
    #[error(
        "data received from {port} but no valid reply ({bytes} bytes of noise): the chip is not in download mode, or the line speed or wiring is wrong"
    )]
    NoValidReply {
        /// Port name.
        port: String,
        /// How many bytes of noise were seen.
        bytes: usize,
    },
    /// The chip printed a crash report.
    #[error("the chip on {port} crashed: {line}; reset or power-cycle the board and try again")]
    Crashed {
        /// Port name.
        port: String,
        /// The crash line it printed.
        line: String,
    },
    /// The chip restarted in the middle of an operation: its ROM printed a reset line.
    #[error(
        "the chip on {port} restarted in the middle of the operation ({line}); check the USB cable and the power supply, then run the same command again (what is already verified is skipped)"
    )]
    ChipReset {
        /// Port name.
        port: String,
        /// The ROM's reset line (`rst:0x10 (RTCWDT_RTC_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)`).
        line: String,
    },
    /// Another chip of the ESP family answered.
    #[error("this is an {chip}, not an ESP32-S3: this tool only flashes the ESP32-S3")]
    WrongChip {
        /// Its name.
        chip: String,
    },
    /// The chip identified itself with an id or magic value we do not know.
    #[error(
        "the chip on {port} is not an ESP32-S3 ({detail}): this tool only flashes the ESP32-S3"
    )]
    UnknownChip {
        /// Port name.
        port: String,
        /// What it said.
        detail: String,
    },
    /// The chip answered a command with a failure status.
    #[error("{command} failed: {error}")]
    Command {
        /// The command.
        command: Opcode,
        /// What the chip reported.
        error: DeviceError,
    },
    /// The loader does not support the command.
    #[error("{command} is not supported {mode}", mode = if *.secure_download { "in Secure Download Mode" } else { "in the current download mode" })]
    Unsupported {
        /// The command.
        command: Opcode,
        /// True when the chip is in Secure Download Mode.
        secure_download: bool,
    },
    /// No reply in time.
    #[error(
        "timed out after {:.1} s waiting for the reply to {command} from {port}; the chip may have reset or the connection is unreliable (try a lower --baud)",
        timeout.as_secs_f64()
    )]
    Timeout {
        /// The command.
        command: Opcode,
        /// Port name.
        port: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// A reply that cannot be right.
    #[error(
        "bad reply to {command}: {detail}; reset the board and try again, with a lower --baud if it persists"
    )]
    BadReply {
        /// The command.
        command: Opcode,
        /// What is wrong with it.
        detail: String,
    },
    /// The stub did not start.
    #[error("the flasher stub did not start: {detail}; try again without --stub")]
    StubFailed {
        /// What happened.
        detail: String,
    },
    /// The stub file cannot be used.
    #[error("invalid stub file: {detail}; use an esptool stub JSON for the ESP32-S3")]
    InvalidStub {
        /// What is wrong.
        detail: String,
    },
    /// An SPI flash command through the registers did not finish.
    #[error(
        "SPI flash command 0x{command:02x} did not complete in time; the flash chip may be missing or not attached"
    )]
    SpiTimeout {
        /// The SPI command byte.
        command: u8,
    },
    /// An operation this loader cannot do.
    #[error("{0}")]
    NotSupported(String),
}

/// What a connection attempt did to the reset lines, for explaining a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetAttempt {
    /// A reset sequence was played on DTR/RTS.
    Played,
    /// A sequence was wanted, but the port has no modem lines (a pty, a raw TCP bridge).
    NoLines,
    /// No reset was asked for (`--before no-reset`).
    NotAsked,
}

/// The message for a banner that shows no download mode: what the chip did, why, what to do.
fn wrong_boot_mode_text(port: &str, boot: u32, reset: ResetAttempt) -> String {
    // Bit 3 of the strapping value is GPIO0: set means it was high, so the chip booted from flash.
    let what = if boot & 0x08 != 0 || boot & 0x07 == 0x04 {
        format!("the chip on {port} booted from flash (boot:0x{boot:x})")
    } else {
        format!("the chip on {port} started in boot mode 0x{boot:x}, not download mode")
    };
    match reset {
        ResetAttempt::Played => format!(
            "{what}: the auto-reset did not pull GPIO0 low; hold BOOT and press RESET, or check the DTR/RTS wiring (a custom sequence can be set with reset-sequence)"
        ),
        ResetAttempt::NoLines => format!(
            "{what}: this port has no DTR/RTS lines to reset it into download mode; hold BOOT and press RESET"
        ),
        ResetAttempt::NotAsked => format!(
            "{what} and is not in download mode (--before no-reset does not reset it); hold BOOT and press RESET, or let the tool reset it with --before default-reset"
        ),
    }
}
