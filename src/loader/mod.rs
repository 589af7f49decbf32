//! One connection to the ESP32-S3 ROM loader (or a flasher stub): reset, sync, chip detection,
//! command/response with timeouts, registers, eFuse-derived chip information, the flash ID and
//! security information, baud rate changes, stub upload, programs run from RAM (`ram.rs`) and
//! the reset after the operation.
//!
//! Generic over [`Transport`]; it never prints (progress leaves as [`Event`] values) and knows
//! nothing of flash layouts or images (that is `crate::flasher`).

use std::time::{Duration, Instant};

use crate::image::format::{ESP32S3_CHIP_ID, chip_name};
use crate::protocol::chip::{self, EfuseWords};
use crate::protocol::command::{self, Command, Opcode};
use crate::protocol::console as boot_text;
use crate::protocol::response::{Reply, ReplyError, Responder};
use crate::protocol::{slip, timeouts};
use crate::reset::{self, After, Before, ResetSequence, rtc};
use crate::transport::{Transport, TransportError};

pub use crate::event::Event;
pub use crate::protocol::chip::{ChipInfo, ChipRevision, FlashId, SecurityInfo};
pub use error::{LoaderError, ResetAttempt};
pub use stub::StubImage;

mod error;
mod pipeline;
mod ram;
mod stub;
#[cfg(test)]
mod tests;

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

/// The speed the ROM loader starts at (it detects it from the SYNC pattern): every connection
/// opens the port at this speed, and [`ConnectOptions::baud`] is switched to after SYNC.
pub const ROM_BAUD: u32 = 115_200;
/// Largest data block the S3 ROM accepts for MEM_DATA/FLASH_DATA/FLASH_DEFL_DATA (§18).
pub const ROM_MAX_BLOCK: u32 = 0x1800;
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
/// How long [`Loader::resync`] waits for each SYNC reply.
const RESYNC_WAIT: Duration = Duration::from_secs(1);
/// Times a command that can be asked again is sent again after its reply was lost or garbled.
const COMMAND_RETRIES: u32 = 2;
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
    /// Signs of a troubled line since the loader was made: timeouts, garbled or unexpected
    /// replies, failure statuses, console text while connected (see [`Loader::anomalies`]).
    anomalies: u64,
    /// Commands sent again after their reply was lost or garbled ([`Loader::resends`]).
    resends: u64,
    /// Opcodes the chip answered as themselves since the loader was made: a later "invalid
    /// message" status to one of them is a request the line garbled, not a command this mode
    /// lacks.
    answered: [bool; 256],
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
            anomalies: 0,
            resends: 0,
            answered: [false; 256],
        };
        loader.establish(opts, on_event)?;
        Ok(loader)
    }

    /// Connect again on the same port, as [`Loader::connect`] does: the host back at
    /// [`ROM_BAUD`], the reset `opts.before` names, SYNC, the chip check, the stub and the baud
    /// change. Used when a line speed proved unreliable (the chip's UART may be at a rate the
    /// line garbles; the reset brings it back to auto-detection), when the chip restarted, and
    /// when the port was opened again after its device came back ([`Transport::reopen`]).
    pub fn reconnect(
        &mut self,
        opts: &ConnectOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), LoaderError> {
        // The port may have come back under another name (a device that re-enumerated).
        self.port = self.transport.describe();
        self.usb_ids = self.transport.usb_ids();
        self.transport.set_baud(ROM_BAUD)?;
        self.transport.clear_input()?;
        self.decoder.reset();
        self.responder = Responder::Rom;
        self.answered = [false; 256];
        self.security = None;
        self.console.clear();
        self.noise_bytes = 0;
        self.connected = false;
        self.reset_attempt = ResetAttempt::NotAsked;
        self.establish(opts, on_event)
    }

    /// Everything [`Loader::connect`] does once the struct exists.
    fn establish(
        &mut self,
        opts: &ConnectOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), LoaderError> {
        let stub_running = if opts.before == Before::NoResetNoSync {
            // The caller says a stub already runs: no reset and no SYNC.
            true
        } else {
            self.connect_attempts(opts, on_event)?
        };
        self.connected = true;
        self.console.clear();
        if stub_running {
            self.responder = Responder::Stub;
            self.answered = [false; 256];
        }
        // Announced only once the chip is known to be an ESP32-S3: "Connected on …" followed by
        // "this is an ESP32-C3" would contradict itself.
        self.check_chip()?;
        on_event(Event::Connected {
            port: self.port.clone(),
            stub_already_running: stub_running,
        });
        let sdm = self.secure_download_mode();
        if !stub_running
            && !sdm
            && self.usb_ids == Some((reset::ESPRESSIF_VID, reset::USB_JTAG_SERIAL_PID))
        {
            // Over USB-Serial/JTAG the RTC watchdog keeps running and resets the chip mid-flash.
            self.disable_watchdogs()?;
        }
        if let Some(stub) = &opts.stub {
            if sdm {
                on_event(Event::Warning(
                    "the chip is in Secure Download Mode, which cannot run a stub; using the ROM loader".into(),
                ));
            } else if !self.is_stub() {
                self.run_stub(stub, on_event)?;
            }
        }
        // A bridge that cannot change its serial speed (socket://) keeps the speed it runs at.
        if opts.baud != 0 && opts.baud != self.transport.baud() && self.transport.can_change_baud()
        {
            self.change_baud(opts.baud, on_event)?;
        }
        Ok(())
    }

    /// USB vendor and product id of the port, when it is a USB device.
    pub fn usb_ids(&self) -> Option<(u16, u16)> {
        self.usb_ids
    }

    /// Whether the link's speed can be changed at all (not over `socket://`).
    pub fn can_change_baud(&self) -> bool {
        self.transport.can_change_baud()
    }

    /// The attempts loop. Returns whether the SYNC replies came from a stub (value 0).
    fn connect_attempts(
        &mut self,
        opts: &ConnectOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<bool, LoaderError> {
        // Both lines at once needs TIOCMSET on a local port; over RFC 2217 each line change is
        // its own acknowledged request, so there (as esptool does) only the classic sequences.
        let both_lines_at_once =
            cfg!(unix) && crate::transport::url::scheme(&self.port) != Some("rfc2217");
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
                    // No answer, or a failure status: the chip took the SYNC as garbled
                    // (noise, a lost byte), and the next one can pass.
                    Err(LoaderError::Timeout { .. } | LoaderError::BadReply { .. }) => {
                        self.transport.pause(SYNC_PAUSE);
                    }
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
        let mut tries = 0;
        loop {
            match self.security_info_once() {
                Err(e)
                    if tries < COMMAND_RETRIES
                        && self.worth_asking_again(Opcode::GetSecurityInfo, &e) =>
                {
                    tries += 1;
                    self.resends += 1;
                    if self.resync().is_err() {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    /// [`Loader::security_info`], asked once.
    fn security_info_once(&mut self) -> Result<SecurityInfo, LoaderError> {
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
                | Err(LoaderError::ChipReset { .. })
                | Err(LoaderError::Transport(TransportError::Disconnected { .. }))
                    if index + 1 == count => {}
                Err(e) => return Err(e),
            }
        }
        self.switch_host_baud(switch_to, false)?;
        self.transport.pause(reset::WATCHDOG_SETTLE);
        Ok(())
    }

    /// Now, on the link's clock: the wall clock on a real port, the simulator's own clock on
    /// `sim://` (durations the library reports are measured with it).
    pub fn now(&self) -> Instant {
        self.transport.time().now()
    }

    /// True when the link is the in-process simulator answering at once, so that a duration
    /// says nothing about a real board.
    pub fn unpaced_sim(&self) -> bool {
        self.transport.time().unpaced()
    }

    /// Give the transport back (for the monitor).
    pub fn into_transport(self) -> T {
        self.transport
    }

    // ---- the command/response core, shared with the flasher -------------------------------

    /// Send a command and return the value and `payload_len` payload bytes of its reply.
    ///
    /// `timeout` is the chip's time to answer; the time the request and the reply spend on the
    /// line at the current speed is added, so a large block at a low baud rate does not time out
    /// on the wire alone (a 6 KiB block needs 3.2 s at 19200 baud).
    ///
    /// A command that asks and changes nothing but what asking it again changes the same way
    /// (READ_REG, WRITE_REG, SPI_ATTACH, SPI_SET_PARAMS, GET_SECURITY_INFO, SPI_FLASH_MD5) is
    /// sent again, after getting back in step with the chip ([`Loader::resync`]), when its
    /// reply was lost, garbled or a failure status: up to [`COMMAND_RETRIES`] times.
    pub(crate) fn command(
        &mut self,
        command: &Command,
        payload_len: usize,
        timeout: Duration,
    ) -> Result<Answer, LoaderError> {
        let mut tries = 0;
        loop {
            match self.command_once(command, payload_len, timeout) {
                Err(e)
                    if tries < COMMAND_RETRIES && self.worth_asking_again(command.opcode, &e) =>
                {
                    tries += 1;
                    if self.resync().is_err() {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    /// True when `opcode` can be sent again after `error` (see [`Loader::command`]).
    fn worth_asking_again(&self, opcode: Opcode, error: &LoaderError) -> bool {
        let idempotent = matches!(
            opcode,
            Opcode::ReadReg
                | Opcode::WriteReg
                | Opcode::SpiAttach
                | Opcode::SpiSetParams
                | Opcode::GetSecurityInfo
                | Opcode::SpiFlashMd5
        );
        idempotent
            && self.connected
            && matches!(
                error,
                LoaderError::Timeout { .. }
                    | LoaderError::BadReply { .. }
                    | LoaderError::Command { .. }
            )
    }

    /// [`Loader::command`], once.
    fn command_once(
        &mut self,
        command: &Command,
        payload_len: usize,
        timeout: Duration,
    ) -> Result<Answer, LoaderError> {
        let timeout = timeout + self.line_time(wire_len(command) + reply_len(payload_len));
        let reply = self.exchange(command, timeout)?;
        let payload = self
            .judge(command.opcode, &reply, payload_len)
            .inspect_err(|_| {
                self.anomalies += 1;
            })?;
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
                self.anomalies += 1;
                return Err(LoaderError::Timeout {
                    command: opcode,
                    port: self.port.clone(),
                    timeout,
                });
            };
            if reply.opcode == opcode.code() {
                self.answered[usize::from(opcode.code())] = true;
                return Ok(reply);
            }
            if reply.is_unsupported(opcode) {
                // The ROM may repeat this reply up to 8 times; let them pass so they do not
                // answer the next command.
                self.listen(Instant::now() + Duration::from_millis(50))?;
                self.decoder.reset();
                if self.answered[usize::from(opcode.code())] {
                    // The chip carried out this command before: the line garbled the request
                    // (a lost byte moves the opcode), so sending it again can work.
                    self.anomalies += 1;
                    return Err(LoaderError::BadReply {
                        command: opcode,
                        detail: "the chip took the request as garbled (status 01 05)".into(),
                    });
                }
                return Err(LoaderError::Unsupported {
                    command: opcode,
                    secure_download: self.secure_download_mode(),
                });
            }
            strays += 1;
            self.anomalies += 1;
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
            self.anomalies += 1;
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
        // window and fail at once on a crash report or a reset line (the loader is gone after
        // either).
        self.anomalies += 1;
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
        if let Some(line) = boot_text::reset_line(&self.console) {
            self.console.clear();
            return Err(LoaderError::ChipReset {
                port: self.port.clone(),
                line,
            });
        }
        Ok(())
    }

    /// Signs of a troubled line since this loader was made: replies that timed out, were
    /// garbled, answered nothing asked or reported a failure, and console text while connected.
    /// Zero on a clean line; the flasher checks every region once more at the end of a write
    /// that saw any ([`crate::flasher::Flasher::write_regions`]).
    pub fn anomalies(&self) -> u64 {
        self.anomalies
    }

    /// How many commands were sent again after their reply was lost, garbled or a failure
    /// status (see `Loader::command`).
    pub fn resends(&self) -> u64 {
        self.resends
    }

    /// Get back in step with the chip after a lost, late or garbled reply: drop what arrives
    /// until the line is quiet, then send SYNC and take nothing before its reply. A serial line
    /// keeps its order, so a late reply to an earlier command arrives before the SYNC reply and
    /// cannot be taken for the answer to the next command. Tried three times; the error is the
    /// last SYNC's timeout (the chip no longer answers).
    pub(crate) fn resync(&mut self) -> Result<(), LoaderError> {
        let mut last = None;
        for _ in 0..3 {
            self.drain(Duration::from_millis(100))?;
            self.send(&Command::sync())?;
            // SYNC's reply comes at once (0.1 s), but a stalled line may hold it a little.
            let deadline = Instant::now() + RESYNC_WAIT;
            loop {
                match self.next_frame(deadline)? {
                    Some(reply) if reply.opcode == Opcode::Sync.code() => {
                        // The ROM's seven further SYNC replies, and anything garbled.
                        self.listen(Instant::now() + Duration::from_millis(50))?;
                        self.decoder.reset();
                        return Ok(());
                    }
                    Some(_) => self.anomalies += 1,
                    None => break,
                }
            }
            self.anomalies += 1;
            last = Some(LoaderError::Timeout {
                command: Opcode::Sync,
                port: self.port.clone(),
                timeout: RESYNC_WAIT,
            });
        }
        Err(last.unwrap_or(LoaderError::NoSyncReply {
            port: self.port.clone(),
        }))
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

/// The most bytes a command's SLIP frame can take on the line (every byte escaped, and the two
/// delimiters).
pub(crate) fn wire_len(command: &Command) -> usize {
    (8 + command.data.len()) * 2 + 2
}

/// The most bytes a reply with `payload_len` payload bytes can take on the line (header, ROM
/// status bytes, every byte escaped, delimiters).
pub(crate) fn reply_len(payload_len: usize) -> usize {
    (8 + payload_len + 4) * 2 + 2
}

impl<T: Transport> Loader<T> {
    /// How long `bytes` take on the line at the transport's current speed (10 bit-times a byte).
    pub(crate) fn line_time(&self, bytes: usize) -> Duration {
        let baud = u64::from(self.transport.baud().max(1));
        Duration::from_micros((bytes as u64).saturating_mul(10_000_000) / baud)
    }
}

/// A length as u32 (saturating; flash and RAM images are far smaller).
pub(crate) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}
