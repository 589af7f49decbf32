//! One connection to the ESP32-S3 ROM loader (or a flasher stub): reset, sync, chip detection,
//! command/response with timeouts, registers, eFuse-derived chip information, the flash ID and
//! security information, baud rate changes, stub upload and the reset after the operation.
//!
//! Generic over [`Transport`]; it never prints (progress leaves as [`Event`] values) and knows
//! nothing of flash layouts or images (that is `crate::flasher`).

use std::time::{Duration, Instant};

use crate::image::format::{ESP32S3_CHIP_ID, chip_name};
use crate::protocol::chip::{self, EfuseWords};
use crate::protocol::command::{self, Command, Opcode};
use crate::protocol::console as boot_text;
use crate::protocol::errors::DeviceError;
use crate::protocol::response::{Reply, ReplyError, Responder};
use crate::protocol::{slip, timeouts};
use crate::reset::{self, After, Before, ResetSequence, rtc};
use crate::transport::{Transport, TransportError};

pub use crate::protocol::chip::{ChipInfo, ChipRevision, FlashId, SecurityInfo};

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
        reset: String,
    },
    /// The loader answered SYNC and the chip is an ESP32-S3 (sent after the chip check, so
    /// never for another chip).
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
    /// Something the user should know that does not stop the operation.
    Warning(String),
}

/// How [`Loader::reset_after`] actually left the chip, which may differ from what was asked
/// (a port without modem lines cannot pulse EN, so the RTC watchdog resets the chip instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetDone {
    /// EN was pulsed through RTS.
    HardResetRts,
    /// The RTC watchdog reset the chip.
    Watchdog,
    /// The ROM loader was asked to run the user code (soft reset).
    RanUserCode,
    /// The chip was left in the loader.
    StayedInLoader,
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
    /// A custom reset into download mode (the `reset-sequence` setting), used instead of the
    /// automatic choice with `Before::DefaultReset`.
    pub reset_sequence: Option<ResetSequence>,
    /// A custom hard reset (the `hard-reset-sequence` setting), used by `After::HardReset`.
    pub hard_reset_sequence: Option<ResetSequence>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            before: Before::DefaultReset,
            attempts: 7,
            baud: crate::config::DEFAULT_BAUD,
            stub: None,
            reset_sequence: None,
            hard_reset_sequence: None,
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
        use base64::Engine as _;
        let invalid = |detail: String| LoaderError::InvalidStub { detail };
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| invalid(format!("not JSON ({e})")))?;
        let number = |key: &str| -> Result<u32, LoaderError> {
            value
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid(format!("`{key}` is missing or not a 32-bit number")))
        };
        let bytes = |key: &str| -> Result<Vec<u8>, LoaderError> {
            let Some(text) = value.get(key) else {
                return Ok(Vec::new());
            };
            let text = text
                .as_str()
                .ok_or_else(|| invalid(format!("`{key}` is not a base64 string")))?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| invalid(format!("`{key}` is not valid base64 ({e})")))
        };
        let text = bytes("text")?;
        if text.is_empty() {
            return Err(invalid("`text` is missing or empty".into()));
        }
        let data = bytes("data")?;
        Ok(StubImage {
            text,
            text_start: number("text_start")?,
            data_start: if data.is_empty() {
                0
            } else {
                number("data_start")?
            },
            data,
            entry: number("entry")?,
        })
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

/// Where the SPI1 (flash) controller's registers are, and the offsets used (§5).
mod spi1 {
    pub const BASE: u32 = 0x6000_2000;
    pub const CMD: u32 = BASE;
    pub const USR: u32 = BASE + 0x18;
    pub const USR2: u32 = BASE + 0x20;
    pub const MISO_DLEN: u32 = BASE + 0x28;
    pub const W0: u32 = BASE + 0x58;
    pub const CMD_USR: u32 = 1 << 18;
    pub const USR_COMMAND: u32 = 1 << 31;
    pub const USR_MISO: u32 = 1 << 28;
}

/// Largest data block the S3 ROM accepts for MEM_DATA/FLASH_DATA/FLASH_DEFL_DATA (§18).
pub const ROM_MAX_BLOCK: u32 = 0x1800;
/// MEM_DATA block size over the chip's USB-OTG (§3).
const USB_OTG_MEM_BLOCK: u32 = 0x800;
/// SYNC tries per connection attempt.
const SYNC_TRIES: u32 = 5;
/// Pause between SYNC tries.
const SYNC_PAUSE: Duration = Duration::from_millis(50);
/// How long to read for bytes that have already arrived (the OS hands them over at once).
const ALREADY_ARRIVED: Duration = Duration::from_millis(5);
/// How long to listen for the boot banner after a reset.
const BANNER_WINDOW: Duration = Duration::from_millis(50);
/// Most console bytes kept for diagnosis per connection attempt.
const CONSOLE_KEEP: usize = 8 * 1024;
/// Non-matching frames accepted while waiting for one reply before giving up.
const MAX_STRAY_FRAMES: u32 = 100;

/// Magic values at 0x40001000 of other chips, for a precise refusal when GET_SECURITY_INFO is
/// not available.
const OTHER_CHIP_MAGICS: &[(u32, &str)] = &[
    (0x00F0_1D83, "ESP32"),
    (0x0000_07C6, "ESP32-S2"),
    (0xFFF0_C101, "ESP8266"),
    (0x6921_506F, "ESP32-C3"),
    (0x1B31_506F, "ESP32-C3"),
    (0x4881_606F, "ESP32-C3"),
    (0x4361_606F, "ESP32-C3"),
    (0x6F51_306F, "ESP32-C2"),
    (0x7C41_A06F, "ESP32-C2"),
    (0x2CE0_806F, "ESP32-C6"),
    (0xD7B7_3E80, "ESP32-H2"),
];

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

/// One connection to the ROM loader or a stub.
pub struct Loader<T: Transport> {
    transport: T,
    decoder: slip::Decoder,
    responder: Responder,
    port: String,
    usb_ids: Option<(u16, u16)>,
    security: Option<SecurityInfo>,
    /// Console text seen since the last check, bounded; searched for crash reports.
    console: Vec<u8>,
    /// Console bytes seen during the current connection attempt (for the failure message).
    noise_bytes: usize,
    /// True once SYNC succeeded.
    connected: bool,
    /// The custom hard reset, if one is configured.
    hard_reset_sequence: Option<ResetSequence>,
    /// What the last connection attempt did to the reset lines (for the failure message).
    reset_attempt: ResetAttempt,
}

/// A reply accepted for a command: the header value and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The header's value word (meaningful for READ_REG and SYNC only; stale otherwise).
    pub value: u32,
    /// The payload before the status bytes.
    pub payload: Vec<u8>,
}

impl<T: Transport> Loader<T> {
    /// Reset (per `opts.before`), sync, check that the chip is an ESP32-S3, upload the stub
    /// when asked and change the baud rate.
    ///
    /// Each attempt plays the next reset sequence for `opts.before` and tries SYNC 5 times; when
    /// every attempt fails the error says why, from what the chip printed: nothing at all, a boot
    /// banner without download mode, a crash, or noise.
    pub fn connect(
        transport: T,
        opts: &ConnectOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Self, LoaderError> {
        let port = transport.describe();
        let usb_ids = transport.usb_ids();
        let mut loader = Loader {
            transport,
            decoder: slip::Decoder::new(),
            responder: Responder::Rom,
            port,
            usb_ids,
            security: None,
            console: Vec::new(),
            noise_bytes: 0,
            connected: false,
            hard_reset_sequence: opts.hard_reset_sequence.clone(),
            reset_attempt: ResetAttempt::NotAsked,
        };
        let stub_running = if opts.before == Before::NoResetNoSync {
            // The caller says a stub already runs: no reset and no SYNC.
            true
        } else {
            loader.connect_attempts(opts, on_event)?
        };
        loader.connected = true;
        loader.console.clear();
        if stub_running {
            loader.responder = Responder::Stub;
        }
        // Announced only once the chip is known to be an ESP32-S3: "Connected on …" followed by
        // "this is an ESP32-C3" would contradict itself.
        loader.check_chip()?;
        on_event(Event::Connected {
            port: loader.port.clone(),
            stub_already_running: stub_running,
        });
        let sdm = loader.secure_download_mode();
        if !stub_running
            && !sdm
            && loader.usb_ids == Some((reset::ESPRESSIF_VID, reset::USB_JTAG_SERIAL_PID))
        {
            // Over USB-Serial/JTAG the RTC watchdog keeps running and resets the chip mid-flash.
            loader.disable_watchdogs()?;
        }
        if let Some(stub) = &opts.stub {
            if sdm {
                on_event(Event::Warning(
                    "the chip is in Secure Download Mode, which cannot run a stub; using the ROM loader".into(),
                ));
            } else if !loader.is_stub() {
                loader.run_stub(stub, on_event)?;
            }
        }
        // A bridge that cannot change its serial speed (socket://) keeps the speed it runs at.
        if opts.baud != 0
            && opts.baud != loader.transport.baud()
            && loader.transport.can_change_baud()
        {
            loader.change_baud(opts.baud, on_event)?;
        }
        Ok(loader)
    }

    /// The attempts loop. Returns whether the SYNC replies came from a stub (value 0).
    fn connect_attempts(
        &mut self,
        opts: &ConnectOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<bool, LoaderError> {
        // Both lines at once needs TIOCMSET on a local port; over RFC 2217 each line change is
        // its own acknowledged request, so there (as esptool does) only the classic sequences.
        let both_lines_at_once = cfg!(unix) && !self.port.starts_with("rfc2217://");
        let sequences = reset::connect_sequences(
            opts.before,
            self.usb_ids,
            both_lines_at_once,
            opts.reset_sequence.as_ref(),
        );
        // Set once playing a sequence showed that the port has no modem lines (a pty, a raw TCP
        // bridge): later attempts only sync, and say so instead of naming a reset not done.
        let mut no_lines = false;
        let mut attempt: u32 = 0;
        loop {
            let sequence = if no_lines {
                ResetSequence {
                    name: "no reset (the port has no DTR/RTS lines)".into(),
                    steps: (&[] as &[reset::Step]).into(),
                }
            } else {
                reset::sequence_for_attempt(&sequences, attempt)
            };
            on_event(Event::Connecting {
                attempt: attempt + 1,
                max_attempts: opts.attempts,
                reset: sequence.name.to_string(),
            });
            self.decoder.reset();
            if !sequence.steps.is_empty() {
                // A reset makes the chip print a fresh banner: judge this attempt by it alone.
                // (Without a reset, text from earlier attempts is all there is to go on.)
                self.console.clear();
                self.noise_bytes = 0;
                self.transport.clear_input()?;
                self.reset_attempt = ResetAttempt::NoLines;
                match reset::play(&mut self.transport, &sequence.steps) {
                    Ok(()) => self.reset_attempt = ResetAttempt::Played,
                    Err(e @ TransportError::Disconnected { .. }) => return Err(e.into()),
                    Err(e) => {
                        // Ports without modem lines (ptys, some network bridges): sync anyway.
                        no_lines = true;
                        on_event(Event::Warning(format!(
                            "the chip was not reset: setting DTR/RTS is not supported on {} ({e})",
                            self.port
                        )));
                    }
                }
                self.listen(Instant::now() + BANNER_WINDOW)?;
            }
            let mut result = None;
            for _ in 0..SYNC_TRIES {
                match self.sync() {
                    Ok(stub) => {
                        result = Some(stub);
                        break;
                    }
                    Err(LoaderError::Timeout { .. }) => self.transport.pause(SYNC_PAUSE),
                    Err(e) => return Err(e),
                }
            }
            if let Some(stub) = result {
                self.console.clear();
                return Ok(stub);
            }
            attempt = attempt.saturating_add(1);
            if opts.attempts != 0 && attempt >= opts.attempts {
                return Err(self.explain_failed_attempt());
            }
        }
    }

    /// Why the last attempt failed, from the console bytes it saw.
    fn explain_failed_attempt(&self) -> LoaderError {
        let port = self.port.clone();
        if let Some(line) = boot_text::crash_line(&self.console) {
            return LoaderError::Crashed { port, line };
        }
        match boot_text::boot_mode(&self.console) {
            Some(mode) if !mode.waiting_for_download => LoaderError::WrongBootMode {
                port,
                boot: mode.value,
                reset: self.reset_attempt,
            },
            Some(_) => LoaderError::NoSyncReply { port },
            None if self.noise_bytes > 0 => LoaderError::NoValidReply {
                port,
                bytes: self.noise_bytes,
            },
            None => LoaderError::NoSerialData { port },
        }
    }

    /// Read until `deadline`, keeping console text and dropping frames.
    fn listen(&mut self, deadline: Instant) -> Result<(), LoaderError> {
        while let Some(item) = self.next_item(deadline)? {
            let _ = item;
        }
        Ok(())
    }

    /// One SYNC: drain input, send, take the first reply within 0.1 s, then collect the other
    /// seven (they arrive within milliseconds). Returns true when the replies came from a stub.
    fn sync(&mut self) -> Result<bool, LoaderError> {
        // Drain what is waiting into the console buffer rather than dropping it, so a banner or a
        // crash report printed since the reset still explains a failure.
        self.listen(Instant::now() + ALREADY_ARRIVED)?;
        self.decoder.reset();
        let sync = Command::sync();
        self.send(&sync)?;
        let first = self.wait_reply(Opcode::Sync, timeouts::SYNC)?;
        if first.data.first() != Some(&0) {
            return Err(LoaderError::BadReply {
                command: Opcode::Sync,
                detail: format!("status bytes {:02x?}", first.data),
            });
        }
        let mut values_all_zero = first.value == 0;
        // The other seven: wait briefly; missing ones do no harm because later waits skip
        // frames whose opcode does not match.
        let deadline = Instant::now() + timeouts::SYNC;
        for _ in 0..7 {
            match self.next_frame(deadline)? {
                Some(reply) if reply.opcode == Opcode::Sync.code() => {
                    values_all_zero &= reply.value == 0;
                }
                Some(_) => {}
                None => break,
            }
        }
        Ok(values_all_zero)
    }

    /// GET_SECURITY_INFO for the chip id, with READ_REG of the magic register as the fallback.
    fn check_chip(&mut self) -> Result<(), LoaderError> {
        let chip_id = match self.security_info() {
            Ok(info) => info.chip_id,
            Err(LoaderError::Unsupported { .. } | LoaderError::Command { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(id) = chip_id {
            if id == u32::from(ESP32S3_CHIP_ID) {
                return Ok(());
            }
            return Err(match u16::try_from(id).ok().and_then(chip_name) {
                Some(name) => LoaderError::WrongChip { chip: name.into() },
                None => LoaderError::UnknownChip {
                    port: self.port.clone(),
                    detail: format!("chip id {id}"),
                },
            });
        }
        let magic = self.read_reg(chip::CHIP_DETECT_MAGIC_REG)?;
        if magic == u32::from(ESP32S3_CHIP_ID) {
            return Ok(());
        }
        Err(match OTHER_CHIP_MAGICS.iter().find(|(m, _)| *m == magic) {
            Some((_, name)) => LoaderError::WrongChip {
                chip: (*name).into(),
            },
            None => LoaderError::UnknownChip {
                port: self.port.clone(),
                detail: format!("magic value 0x{magic:08x}"),
            },
        })
    }

    fn disable_watchdogs(&mut self) -> Result<(), LoaderError> {
        for w in reset::DISABLE_WATCHDOGS {
            self.write_reg(w.addr, w.value, w.mask)?;
        }
        Ok(())
    }

    /// Upload `stub` to RAM, start it and wait for its `OHAI`.
    pub fn run_stub(
        &mut self,
        stub: &StubImage,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), LoaderError> {
        on_event(Event::StubUploading);
        let block = match self.usb_ids {
            Some((reset::ESPRESSIF_VID, pid)) if pid != reset::USB_JTAG_SERIAL_PID => {
                USB_OTG_MEM_BLOCK
            }
            _ => ROM_MAX_BLOCK,
        };
        for (addr, bytes) in [(stub.text_start, &stub.text), (stub.data_start, &stub.data)] {
            if bytes.is_empty() {
                continue;
            }
            let size = len_u32(bytes.len());
            let blocks = size.div_ceil(block);
            self.command(
                &Command::mem_begin(size, blocks, block, addr),
                0,
                timeouts::DEFAULT,
            )?;
            for (seq, chunk) in (0u32..).zip(bytes.chunks(block as usize)) {
                self.command(&Command::mem_data(seq, chunk), 0, timeouts::DEFAULT)?;
            }
        }
        // The ROM may jump before its MEM_END reply is out; a missing reply is not an error.
        match self.command(&Command::mem_end(stub.entry), 0, timeouts::MEM_END) {
            Ok(_) | Err(LoaderError::Timeout { .. }) => {}
            Err(e) => return Err(e),
        }
        let deadline = Instant::now() + timeouts::DEFAULT;
        loop {
            match self.next_raw_frame(deadline)? {
                Some(frame) if frame == b"OHAI" => break,
                // A late MEM_END reply.
                Some(frame) if frame.get(..2) == Some(&[0x01, Opcode::MemEnd.code()][..]) => {}
                Some(frame) => {
                    return Err(LoaderError::StubFailed {
                        detail: format!(
                            "unexpected response {:02x?}",
                            &frame[..frame.len().min(16)]
                        ),
                    });
                }
                None => {
                    return Err(LoaderError::StubFailed {
                        detail: "there was no response after MEM_END".into(),
                    });
                }
            }
        }
        self.responder = Responder::Stub;
        on_event(Event::StubRunning);
        Ok(())
    }

    /// CHANGE_BAUDRATE, then switch the host side. The reply comes at the old speed.
    pub fn change_baud(
        &mut self,
        baud: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), LoaderError> {
        let old = match self.responder {
            Responder::Rom => 0,
            Responder::Stub => self.transport.baud(),
        };
        self.command(&Command::change_baudrate(baud, old), 0, timeouts::DEFAULT)?;
        self.transport.set_baud(baud)?;
        // Let the chip switch too, then drop anything garbled in between.
        self.transport.pause(Duration::from_millis(50));
        self.transport.clear_input()?;
        self.decoder.reset();
        on_event(Event::ChangedBaud { baud });
        Ok(())
    }

    /// Chip description, features, crystal, MAC and revision, decoded from the eFuses.
    pub fn chip_info(&mut self) -> Result<ChipInfo, LoaderError> {
        let mut words = [0u32; 7];
        for (word, addr) in words.iter_mut().zip(EfuseWords::ADDRESSES) {
            *word = self.read_reg(addr)?;
        }
        Ok(chip::decode_chip_info(&EfuseWords::from_words(words)))
    }

    /// The flash chip's JEDEC ID, read through the SPI1 registers (RDID, 0x9F).
    pub fn flash_id(&mut self) -> Result<FlashId, LoaderError> {
        let raw = self.spi_flash_command(0x9F, 24)?;
        Ok(FlashId::from_raw(raw))
    }

    /// Run an SPI flash command that reads `read_bits` (≤ 32) bits, without address, dummy or
    /// data phases, through the SPI1 user-command registers (§5).
    fn spi_flash_command(&mut self, command: u8, read_bits: u32) -> Result<u32, LoaderError> {
        let old_usr = self.read_reg(spi1::USR)?;
        let old_usr2 = self.read_reg(spi1::USR2)?;
        let mut usr = spi1::USR_COMMAND;
        if read_bits > 0 {
            self.write_reg(spi1::MISO_DLEN, read_bits - 1, u32::MAX)?;
            usr |= spi1::USR_MISO;
        }
        self.write_reg(spi1::USR, usr, u32::MAX)?;
        self.write_reg(spi1::USR2, (7 << 28) | u32::from(command), u32::MAX)?;
        self.write_reg(spi1::W0, 0, u32::MAX)?;
        self.write_reg(spi1::CMD, spi1::CMD_USR, u32::MAX)?;
        let mut done = false;
        for _ in 0..10 {
            if self.read_reg(spi1::CMD)? & spi1::CMD_USR == 0 {
                done = true;
                break;
            }
        }
        let result = if done {
            Ok(self.read_reg(spi1::W0)?)
        } else {
            Err(LoaderError::SpiTimeout { command })
        };
        self.write_reg(spi1::USR, old_usr, u32::MAX)?;
        self.write_reg(spi1::USR2, old_usr2, u32::MAX)?;
        result
    }

    /// GET_SECURITY_INFO (cached after the first success).
    pub fn security_info(&mut self) -> Result<SecurityInfo, LoaderError> {
        if let Some(info) = self.security {
            return Ok(info);
        }
        let command = Command::get_security_info();
        let reply = self.exchange(&command, timeouts::DEFAULT)?;
        let status_len = self.responder.status_len();
        // The S3 sends 20 bytes; the older 12-byte layout is accepted too.
        let payload_len = match reply.data.len().checked_sub(status_len) {
            Some(n) if n >= SecurityInfo::LEN => SecurityInfo::LEN,
            _ => SecurityInfo::SHORT_LEN,
        };
        let payload = self.judge(Opcode::GetSecurityInfo, &reply, payload_len)?;
        let info = SecurityInfo::parse(&payload).ok_or_else(|| LoaderError::BadReply {
            command: Opcode::GetSecurityInfo,
            detail: format!("{} payload bytes", payload.len()),
        })?;
        self.security = Some(info);
        Ok(info)
    }

    /// True when GET_SECURITY_INFO said the ROM is in Secure Download Mode.
    pub fn secure_download_mode(&self) -> bool {
        self.security.is_some_and(|s| s.secure_download_mode())
    }

    /// READ_REG. Only read registers that exist: the ROM crashes on unmapped addresses.
    pub fn read_reg(&mut self, addr: u32) -> Result<u32, LoaderError> {
        Ok(self
            .command(&Command::read_reg(addr), 0, timeouts::DEFAULT)?
            .value)
    }

    /// WRITE_REG: `*addr = (*addr & !mask) | (value & mask)`.
    pub fn write_reg(&mut self, addr: u32, value: u32, mask: u32) -> Result<(), LoaderError> {
        self.command(
            &Command::write_reg(addr, value, mask, 0),
            0,
            timeouts::DEFAULT,
        )?;
        Ok(())
    }

    /// True when talking to a stub rather than the ROM.
    pub fn is_stub(&self) -> bool {
        self.responder == Responder::Stub
    }

    /// The port, as the transport describes it.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// The transport (for line control or a custom exchange).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Reset the chip as asked after the operation.
    ///
    /// - `HardReset`: clear FORCE_DOWNLOAD_BOOT (a USB stack may have set it), then pulse EN
    ///   through RTS. Over USB-OTG with download mode strapped by GPIO0 a pulse would land in
    ///   download mode again, so the watchdog is used instead; so it is on a port without
    ///   modem lines (a pty), where esptool only warns that the chip was not reset.
    /// - `SoftReset`: ROM only: FLASH_BEGIN(0, 0) + FLASH_END(run user code).
    /// - `WatchdogReset`: arm the RTC watchdog to reset the whole chip (not in Secure Download
    ///   Mode, where a hard reset is done instead).
    /// - `NoReset`: nothing.
    pub fn reset_after(&mut self, after: After) -> Result<ResetDone, LoaderError> {
        self.reset_after_switching(after, None)
    }

    /// [`reset_after`](Self::reset_after), with the host switched to `monitor_baud` just before
    /// the chip restarts (before the EN pulse; after the last register write of a watchdog reset,
    /// which still goes at the flashing rate), so the boot log that follows is readable. Bytes
    /// left over from flashing are dropped before an EN pulse.
    pub fn reset_into_monitor(
        &mut self,
        after: After,
        monitor_baud: u32,
    ) -> Result<ResetDone, LoaderError> {
        self.reset_after_switching(after, Some(monitor_baud))
    }

    fn switch_host_baud(&mut self, baud: Option<u32>, drop_input: bool) -> Result<(), LoaderError> {
        if let Some(baud) = baud {
            self.transport.set_baud(baud)?;
            if drop_input {
                self.transport.clear_input()?;
            }
        }
        Ok(())
    }

    fn reset_after_switching(
        &mut self,
        after: After,
        switch_to: Option<u32>,
    ) -> Result<ResetDone, LoaderError> {
        let sdm = self.secure_download_mode();
        match after {
            After::NoReset => {
                self.switch_host_baud(switch_to, false)?;
                Ok(ResetDone::StayedInLoader)
            }
            After::HardReset => {
                if !sdm {
                    // Errors ignored: an old stub may not allow the write, and the pulse below
                    // resets anyway.
                    let _ = self.write_reg(rtc::OPTION1, 0, rtc::FORCE_DOWNLOAD_BOOT);
                    if self.uses_espressif_usb() && self.strapped_into_download()? {
                        // The chip's own USB can only do a core reset, which does not resample
                        // GPIO0: the chip would come back in download mode.
                        return self.watchdog_reset(switch_to).map(|()| ResetDone::Watchdog);
                    }
                }
                self.switch_host_baud(switch_to, true)?;
                let sequence =
                    reset::hard_reset_sequence(self.usb_ids, self.hard_reset_sequence.as_ref());
                match reset::play(&mut self.transport, &sequence.steps) {
                    Ok(()) => Ok(ResetDone::HardResetRts),
                    Err(e @ TransportError::Disconnected { .. }) => Err(e.into()),
                    // No modem lines (a pty, a network bridge, a TX/RX-only adapter): the
                    // watchdog resets the chip just the same.
                    Err(_) if !sdm => self.watchdog_reset(switch_to).map(|()| ResetDone::Watchdog),
                    Err(e) => Err(e.into()),
                }
            }
            After::SoftReset => {
                if self.is_stub() {
                    return Err(LoaderError::NotSupported(
                        "soft reset is not supported while the flasher stub runs; use --after hard-reset".into(),
                    ));
                }
                self.command(
                    &Command::flash_begin(0, 0, ROM_MAX_BLOCK, 0),
                    0,
                    timeouts::DEFAULT,
                )?;
                self.command(
                    &Command::flash_end(command::END_ROM_RUN_USER_CODE),
                    0,
                    timeouts::DEFAULT,
                )?;
                self.switch_host_baud(switch_to, false)?;
                Ok(ResetDone::RanUserCode)
            }
            After::WatchdogReset => {
                if sdm {
                    self.switch_host_baud(switch_to, true)?;
                    let sequence =
                        reset::hard_reset_sequence(self.usb_ids, self.hard_reset_sequence.as_ref());
                    reset::play(&mut self.transport, &sequence.steps)?;
                    return Ok(ResetDone::HardResetRts);
                }
                self.watchdog_reset(switch_to).map(|()| ResetDone::Watchdog)
            }
        }
    }

    /// The chip's own USB (USB-Serial/JTAG or USB-OTG), whose "reset" is a core reset.
    fn uses_espressif_usb(&self) -> bool {
        matches!(self.usb_ids, Some((reset::ESPRESSIF_VID, _)))
    }

    /// GPIO0 strapped low and FORCE_DOWNLOAD_BOOT not set: a core reset would stay in download.
    fn strapped_into_download(&mut self) -> Result<bool, LoaderError> {
        let strap = self.read_reg(rtc::GPIO_STRAP)?;
        let option1 = self.read_reg(rtc::OPTION1)?;
        Ok(strap & rtc::STRAP_GPIO0 == 0 && option1 & rtc::FORCE_DOWNLOAD_BOOT == 0)
    }

    /// Arm the RTC watchdog; `switch_to` moves the host to that baud once the last register
    /// write has gone (the boot log that follows comes at the ROM's rate).
    fn watchdog_reset(&mut self, switch_to: Option<u32>) -> Result<(), LoaderError> {
        let count = reset::WATCHDOG_RESET.len();
        for (index, w) in reset::WATCHDOG_RESET.iter().enumerate() {
            match self.write_reg(w.addr, w.value, w.mask) {
                Ok(()) => {}
                // The chip may already be resetting: a lost reply to the last write is expected.
                Err(LoaderError::Timeout { .. })
                | Err(LoaderError::Transport(TransportError::Disconnected { .. }))
                    if index + 1 == count => {}
                Err(e) => return Err(e),
            }
        }
        self.switch_host_baud(switch_to, false)?;
        self.transport.pause(reset::WATCHDOG_SETTLE);
        Ok(())
    }

    /// Give the transport back (for the monitor).
    pub fn into_transport(self) -> T {
        self.transport
    }

    // ---- the command/response core, shared with the flasher -------------------------------

    /// Send a command and return the value and `payload_len` payload bytes of its reply.
    pub(crate) fn command(
        &mut self,
        command: &Command,
        payload_len: usize,
        timeout: Duration,
    ) -> Result<Answer, LoaderError> {
        let reply = self.exchange(command, timeout)?;
        let payload = self.judge(command.opcode, &reply, payload_len)?;
        Ok(Answer {
            value: reply.value,
            payload,
        })
    }

    /// Send a command and wait for the reply with its opcode (status not yet judged).
    fn exchange(&mut self, command: &Command, timeout: Duration) -> Result<Reply, LoaderError> {
        self.send(command)?;
        self.wait_reply(command.opcode, timeout)
    }

    fn judge(
        &self,
        opcode: Opcode,
        reply: &Reply,
        payload_len: usize,
    ) -> Result<Vec<u8>, LoaderError> {
        reply
            .payload(self.responder, payload_len)
            .map(<[u8]>::to_vec)
            .map_err(|e| match e {
                ReplyError::Device(error) => LoaderError::Command {
                    command: opcode,
                    error,
                },
                short @ ReplyError::Short { .. } => LoaderError::BadReply {
                    command: opcode,
                    detail: short.to_string(),
                },
            })
    }

    /// Frame and write one command.
    fn send(&mut self, command: &Command) -> Result<(), LoaderError> {
        self.send_packet(&command.encode())
    }

    /// Frame and write raw packet bytes (the stub's READ_FLASH acknowledgements).
    pub(crate) fn send_packet(&mut self, packet: &[u8]) -> Result<(), LoaderError> {
        self.transport.write_all(&slip::encode(packet))?;
        self.transport.flush()?;
        Ok(())
    }

    /// Wait for the reply to `opcode`, skipping stray frames and console noise.
    fn wait_reply(&mut self, opcode: Opcode, timeout: Duration) -> Result<Reply, LoaderError> {
        let deadline = Instant::now() + timeout;
        let mut strays = 0u32;
        loop {
            let Some(reply) = self.next_frame(deadline)? else {
                return Err(LoaderError::Timeout {
                    command: opcode,
                    port: self.port.clone(),
                    timeout,
                });
            };
            if reply.opcode == opcode.code() {
                return Ok(reply);
            }
            if reply.is_unsupported(opcode) {
                // The ROM may repeat this reply up to 8 times; let them pass so they do not
                // answer the next command.
                self.listen(Instant::now() + Duration::from_millis(50))?;
                self.decoder.reset();
                return Err(LoaderError::Unsupported {
                    command: opcode,
                    secure_download: self.secure_download_mode(),
                });
            }
            strays += 1;
            if strays >= MAX_STRAY_FRAMES {
                return Err(LoaderError::BadReply {
                    command: opcode,
                    detail: format!(
                        "{MAX_STRAY_FRAMES} replies arrived and none matched the request"
                    ),
                });
            }
        }
    }

    /// The next frame that parses as a reply, before `deadline`.
    fn next_frame(&mut self, deadline: Instant) -> Result<Option<Reply>, LoaderError> {
        while let Some(frame) = self.next_raw_frame(deadline)? {
            if let Some(reply) = Reply::parse(&frame) {
                return Ok(Some(reply));
            }
        }
        Ok(None)
    }

    /// The next complete SLIP frame, before `deadline`.
    pub(crate) fn next_raw_frame(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<Vec<u8>>, LoaderError> {
        while let Some(item) = self.next_item(deadline)? {
            if let slip::Item::Frame(frame) = item {
                return Ok(Some(frame));
            }
        }
        Ok(None)
    }

    /// The next decoder item, reading the transport until `deadline`. Console text is kept
    /// (bounded) and checked for a crash report.
    ///
    /// The deadline is checked here too, not only by the transport: a device that never stops
    /// printing (a running firmware's log, a boot loop) always has bytes for the next read, and
    /// would otherwise keep every wait going for ever.
    fn next_item(&mut self, deadline: Instant) -> Result<Option<slip::Item>, LoaderError> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(item) = self.decoder.next_item() {
                if let slip::Item::Noise(text) = &item {
                    self.note_console(text)?;
                }
                return Ok(Some(item));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let n = self.transport.read(&mut buf, deadline)?;
            if n == 0 {
                return Ok(None);
            }
            self.decoder.push(&buf[..n]);
        }
    }

    fn note_console(&mut self, text: &[u8]) -> Result<(), LoaderError> {
        self.noise_bytes = self.noise_bytes.saturating_add(text.len());
        if !self.connected {
            // While connecting, the start matters most (the boot banner): keep the first bytes.
            let room = CONSOLE_KEEP.saturating_sub(self.console.len());
            self.console
                .extend_from_slice(&text[..text.len().min(room)]);
            return Ok(());
        }
        // Once connected the loader prints nothing, so any text is suspect: keep a sliding
        // window and fail at once on a crash report (the loader is gone after one).
        self.console.extend_from_slice(text);
        if self.console.len() > CONSOLE_KEEP {
            let cut = self.console.len() - CONSOLE_KEEP;
            self.console.drain(..cut);
        }
        if let Some(line) = boot_text::crash_line(&self.console) {
            self.console.clear();
            return Err(LoaderError::Crashed {
                port: self.port.clone(),
                line,
            });
        }
        Ok(())
    }

    /// Drop every byte that arrives until the line has been quiet for `quiet`, and reset the
    /// decoder: used before restarting a transfer so a late reply cannot be taken for a new one.
    pub(crate) fn drain(&mut self, quiet: Duration) -> Result<(), LoaderError> {
        let mut buf = [0u8; 4096];
        let give_up = Instant::now() + Duration::from_secs(2);
        loop {
            let n = self.transport.read(&mut buf, Instant::now() + quiet)?;
            if n == 0 || Instant::now() > give_up {
                break;
            }
        }
        self.transport.clear_input()?;
        self.decoder.reset();
        Ok(())
    }
}

/// A length as u32 (saturating; flash and RAM images are far smaller).
pub(crate) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A transport that answers every write with a scripted list of chunks (or nothing), and
    /// records what was written. Enough to drive the failure paths of `connect`.
    struct Scripted {
        /// Bytes delivered after each reset (RTS released).
        after_reset: Vec<u8>,
        /// Bytes delivered after each write, popped in order (an empty list answers nothing).
        replies: VecDeque<Vec<u8>>,
        pending: VecDeque<u8>,
        fail_lines: bool,
        disconnect: bool,
        /// Printed without end, a little at a time, when nothing else is waiting (a running
        /// firmware that logs, or a boot loop).
        chatter: Option<Vec<u8>>,
        writes: Vec<Vec<u8>>,
    }

    impl Scripted {
        fn new() -> Self {
            Scripted {
                after_reset: Vec::new(),
                replies: VecDeque::new(),
                pending: VecDeque::new(),
                fail_lines: false,
                disconnect: false,
                chatter: None,
                writes: Vec::new(),
            }
        }

        /// A pty-like port refuses modem-line changes.
        fn lines_settable(&self) -> Result<(), TransportError> {
            if self.fail_lines {
                return Err(TransportError::Io {
                    port: "scripted".into(),
                    source: std::io::Error::other("not a tty"),
                });
            }
            Ok(())
        }
    }

    impl Transport for Scripted {
        fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
            if self.disconnect {
                return Err(TransportError::Disconnected {
                    port: "scripted".into(),
                    detail: "gone".into(),
                });
            }
            if self.pending.is_empty() {
                if let Some(line) = &self.chatter {
                    // About what a UART at 115200 baud delivers in a millisecond.
                    std::thread::sleep(Duration::from_millis(1));
                    self.pending.extend(line.iter().copied());
                } else {
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    return Ok(0);
                }
            }
            let n = buf.len().min(self.pending.len());
            for (slot, b) in buf.iter_mut().zip(self.pending.drain(..n)) {
                *slot = b;
            }
            Ok(n)
        }
        fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
            self.writes.push(bytes.to_vec());
            if let Some(reply) = self.replies.pop_front() {
                self.pending.extend(reply);
            }
            Ok(())
        }
        fn flush(&mut self) -> Result<(), TransportError> {
            Ok(())
        }
        fn clear_input(&mut self) -> Result<(), TransportError> {
            self.pending.clear();
            Ok(())
        }
        fn set_dtr(&mut self, _: bool) -> Result<(), TransportError> {
            self.lines_settable()
        }
        fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
            self.lines_settable()?;
            if !asserted {
                self.pending.extend(self.after_reset.iter().copied());
            }
            Ok(())
        }
        fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
            self.set_dtr(dtr)?;
            self.set_rts(rts)
        }
        fn set_baud(&mut self, _: u32) -> Result<(), TransportError> {
            Ok(())
        }
        fn baud(&self) -> u32 {
            115_200
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    fn options() -> ConnectOptions {
        ConnectOptions {
            attempts: 1,
            baud: 115_200,
            ..ConnectOptions::default()
        }
    }

    fn connect(t: Scripted) -> (Result<Loader<Scripted>, LoaderError>, Vec<Event>, Duration) {
        let mut events = Vec::new();
        let start = Instant::now();
        let result = Loader::connect(t, &options(), &mut |e| events.push(e));
        (result, events, start.elapsed())
    }

    fn frame(hex: &str) -> Vec<u8> {
        let bytes: Vec<u8> = hex
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex"))
            .collect();
        slip::encode(&bytes)
    }

    #[test]
    fn silence_means_not_in_download_mode_and_fails_quickly() {
        let (result, events, took) = connect(Scripted::new());
        let err = result.err().expect("nothing answers");
        assert!(matches!(err, LoaderError::NoSerialData { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "no serial data received from scripted: the chip is probably not in download mode (hold BOOT while pressing RESET) or this is not the right port"
        );
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert!(matches!(
            events.first(),
            Some(Event::Connecting { attempt: 1, .. })
        ));
    }

    #[test]
    fn console_text_explains_the_failure() {
        let check = |after_reset: &[u8], expected: &str| {
            let mut t = Scripted::new();
            t.after_reset = after_reset.to_vec();
            let (result, _, _) = connect(t);
            let err = result.err().expect("no sync reply");
            assert!(err.to_string().contains(expected), "{err}");
        };
        check(
            b"ESP-ROM:esp32s3-20210327\r\nrst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\n",
            "booted from flash (boot:0x8): the auto-reset did not pull GPIO0 low; hold BOOT and press RESET, or check the DTR/RTS wiring",
        );
        check(
            b"rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
            "download mode detected on scripted, but the chip does not answer SYNC",
        );
        check(
            b"Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.\r\n",
            "crashed: Guru Meditation Error: Core  0 panic'ed (LoadProhibited)",
        );
        check(&[0x55, 0xAA, 0x00, 0x13], "but no valid reply (");
    }

    #[test]
    fn wrong_chip_is_refused_by_name() {
        let mut t = Scripted::new();
        let sync = frame("01 08 04 00 07 07 12 20 00 00 00 00");
        t.replies.push_back(sync.repeat(8));
        // GET_SECURITY_INFO of an ESP32-C3 (chip id 5).
        t.replies.push_back(frame(
            "01 14 18 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 05 00 00 00 00 00 00 00 00 00 00 00",
        ));
        let (result, events, _) = connect(t);
        let err = result.err().expect("not an S3");
        assert_eq!(
            err.to_string(),
            "this is an ESP32-C3, not an ESP32-S3: this tool only flashes the ESP32-S3"
        );
        // `Connected` means "connected to an ESP32-S3": never announced for another chip.
        assert!(
            !events.iter().any(|e| matches!(e, Event::Connected { .. })),
            "{events:?}"
        );
    }

    #[test]
    fn chip_detection_falls_back_to_the_magic_register() {
        let mut t = Scripted::new();
        let sync = frame("01 08 04 00 07 07 12 20 00 00 00 00");
        t.replies.push_back(sync.repeat(8));
        // GET_SECURITY_INFO unsupported: the ROM repeats the previous header with `01 05`.
        t.replies
            .push_back(frame("01 08 04 00 07 07 12 20 01 05 00 00").repeat(8));
        // READ_REG 0x40001000 = ESP32-S2's magic.
        t.replies
            .push_back(frame("01 0a 04 00 c6 07 00 00 00 00 00 00"));
        let (result, _, _) = connect(t);
        let err = result.err().expect("not an S3");
        assert!(err.to_string().starts_with("this is an ESP32-S2"), "{err}");
    }

    #[test]
    fn garbage_before_the_first_reply_is_tolerated() {
        let mut t = Scripted::new();
        let mut first =
            b"\x00\xffrst:0x1 (POWERON),boot:0x0 (DOWNLOAD)\r\nwaiting for download\r\n".to_vec();
        first.extend(frame("01 08 04 00 07 07 12 20 00 00 00 00").repeat(8));
        t.replies.push_back(first);
        t.replies.push_back(frame(
            "01 14 18 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 0c 09 00 00 00 00 00 00 00 00 00 00 00",
        ));
        let (result, events, _) = connect(t);
        let loader = result.expect("connects");
        assert!(!loader.is_stub());
        assert!(events.iter().any(|e| matches!(
            e,
            Event::Connected {
                stub_already_running: false,
                ..
            }
        )));
    }

    #[test]
    fn a_port_without_modem_lines_warns_and_still_syncs() {
        let mut t = Scripted::new();
        t.fail_lines = true;
        let (result, events, _) = connect(t);
        assert!(matches!(result, Err(LoaderError::NoSerialData { .. })));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Warning(w) if w.contains("not reset")))
        );
    }

    /// The simulator behind a port whose modem lines cannot be set, as on a pty.
    struct WithoutLines(crate::transport::sim::SimTransport);

    impl Transport for WithoutLines {
        fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
            self.0.read(buf, deadline)
        }
        fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
            self.0.write_all(bytes)
        }
        fn flush(&mut self) -> Result<(), TransportError> {
            self.0.flush()
        }
        fn clear_input(&mut self) -> Result<(), TransportError> {
            self.0.clear_input()
        }
        fn set_dtr(&mut self, _: bool) -> Result<(), TransportError> {
            Err(TransportError::Io {
                port: "pty".into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "inappropriate ioctl for device",
                ),
            })
        }
        fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
            self.set_dtr(asserted)
        }
        fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
            self.0.set_baud(baud)
        }
        fn baud(&self) -> u32 {
            self.0.baud()
        }
        fn describe(&self) -> String {
            "pty".into()
        }
        fn pause(&mut self, duration: Duration) {
            // The simulator's clock moves (its watchdog counts in it); nobody sleeps.
            self.0.pause(duration)
        }
    }

    #[test]
    fn a_hard_reset_without_modem_lines_uses_the_watchdog() {
        let sim = crate::transport::sim::SimTransport::open("sim://").expect("sim");
        let opts = ConnectOptions {
            before: Before::NoReset,
            attempts: 1,
            baud: 460_800,
            stub: None,
            ..ConnectOptions::default()
        };
        let mut loader = Loader::connect(WithoutLines(sim), &opts, &mut |_| {}).expect("connects");
        loader.reset_after(After::HardReset).expect("reset");
        let chip = loader.into_transport().0.into_chip();
        assert_eq!(chip.resets(), 1);
        assert_eq!(
            chip.personality(),
            crate::sim::Personality::RomLoader,
            "IO0 is still held low, so the chip is back in download mode"
        );
    }

    #[test]
    fn attempts_on_a_port_without_lines_only_sync_and_say_so() {
        // A chip booting from its (blank) flash never answers; the port cannot reset it.
        let sim = crate::transport::sim::SimTransport::open("sim://?mode=spi").expect("sim");
        let opts = ConnectOptions {
            attempts: 3,
            ..ConnectOptions::default()
        };
        let mut events = Vec::new();
        let result = Loader::connect(WithoutLines(sim), &opts, &mut |e| events.push(e));
        let err = result.err().expect("nothing answers");
        assert!(err.to_string().contains("no DTR/RTS lines"), "{err}");
        let resets: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                Event::Connecting { reset, .. } => Some(reset.clone()),
                _ => None,
            })
            .collect();
        let no_lines = "no reset (the port has no DTR/RTS lines)".to_string();
        assert_eq!(
            resets,
            [
                reset::sequence_for_attempt(
                    &reset::connect_sequences(Before::DefaultReset, None, cfg!(unix), None),
                    0
                )
                .name
                .into_owned(),
                no_lines.clone(),
                no_lines
            ]
        );
        let warnings = events
            .iter()
            .filter(|e| matches!(e, Event::Warning(_)))
            .count();
        assert_eq!(warnings, 1, "{events:?}");
    }

    #[test]
    fn a_device_that_never_stops_printing_still_times_out() {
        let mut t = Scripted::new();
        t.chatter = Some(b"I (42) app: still running\r\n".to_vec());
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (result, _, took) = connect(t);
            let _ = done_tx.send((result.err().map(|e| e.to_string()), took));
        });
        let (err, took) = done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("connect returns although the text never stops");
        let err = err.expect("no SYNC reply");
        assert!(err.contains("no valid reply"), "{err}");
        // One attempt: the banner window, then 5 SYNCs of 0.1 s with 50 ms pauses.
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[test]
    fn a_vanished_device_is_reported_at_once() {
        let mut t = Scripted::new();
        t.disconnect = true;
        let (result, _, took) = connect(t);
        let err = result.err().expect("gone");
        assert!(
            matches!(
                err,
                LoaderError::Transport(TransportError::Disconnected { .. })
            ),
            "{err}"
        );
        assert!(took < Duration::from_secs(1));
    }

    #[test]
    fn stub_json_is_read() {
        let json = r#"{"entry": 1077384616, "text": "AQID", "text_start": 1077379072,
                       "data": "BAU=", "data_start": 1070279108, "bss_start": 1070202880}"#;
        let stub = StubImage::from_esptool_json(json).expect("valid");
        assert_eq!(stub.entry, 0x4037_95A8);
        assert_eq!(stub.text, [1, 2, 3]);
        assert_eq!(stub.data, [4, 5]);
        assert_eq!(stub.text_start, 0x4037_8000);
        let bad = |json: &str, expected: &str| {
            let err = StubImage::from_esptool_json(json).expect_err("invalid");
            assert!(err.to_string().contains(expected), "{err}");
        };
        bad("{", "not JSON");
        bad(r#"{"entry": 1, "text": "AQID"}"#, "`text_start` is missing");
        bad(
            r#"{"entry": 1, "text": "!!", "text_start": 0}"#,
            "not valid base64",
        );
        bad(
            r#"{"entry": 1, "text_start": 0}"#,
            "`text` is missing or empty",
        );
    }
}
