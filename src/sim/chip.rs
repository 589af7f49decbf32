//! [`Esp32s3`]: the whole simulated chip as a pure state machine. Inputs are received bytes,
//! the control lines and the host's line speed; the output is the byte stream UART0 sends.
//!
//! It ties the hardware ([`Hw`]) to whatever program the CPU runs: the ROM download loader, the
//! stub, an application (silent for now), or nothing (held in reset, crashed, or after `user
//! code done`). Resets print the ROM banner and boot by the strapping pins. It knows nothing of
//! transports, threads or clocks.

use super::boot::{self, BootMode, ResetCause, SpiBootOutcome};
use super::bus::Hw;
use super::efuse::Efuse;
use super::flash::Flash;
use super::rom::{self, Action, RomLoader};
use super::stub::StubLoader;
use super::{KNOWN_STUB_ENTRIES, SimConfig, SimError, StartIn};

/// What the CPU is running.
#[derive(Debug)]
enum Cpu {
    /// EN is held low.
    InReset,
    /// The ROM's UART download loader.
    Rom(Box<RomLoader>),
    /// The flasher stub.
    Stub(Box<StubLoader>),
    /// Code that does not talk on UART0 (an app, uploaded RAM code); input is ignored.
    Running,
    /// Halted: crashed, left the loader, or the boot failed. Only a reset helps.
    Halted,
}

/// What the chip is running, as tests and tools see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    /// Held in reset by EN.
    InReset,
    /// The ROM download loader.
    RomLoader,
    /// The flasher stub.
    Stub,
    /// An application or RAM code that does not answer.
    Running,
    /// Crashed or stopped; needs a reset.
    Halted,
}

/// The simulated ESP32-S3.
#[derive(Debug)]
pub struct Esp32s3 {
    hw: Hw,
    cpu: Cpu,
    out: Vec<u8>,
    /// Bytes sent before the last baud switch: they left at the old rate, which the host was
    /// in step with, so the new rate must not garble them.
    sent_before_switch: Vec<u8>,
    config: SimConfig,
    rts: bool,
    dtr: bool,
    host_baud: Option<u32>,
    /// UART0's rate once fixed by CHANGE_BAUDRATE; `None` while the ROM auto-detects it.
    uart_baud: Option<u32>,
    resets: u32,
}

impl Esp32s3 {
    /// Build a chip from a configuration (loading the flash file when one is set).
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        let flash = match &config.flash_file {
            Some(path) => Flash::with_file(config.flash_size, path)?,
            None => Flash::new(config.flash_size)?,
        };
        let efuse = Efuse::new(&config.identity);
        let hw = Hw::new(flash, efuse, config.chip);
        let mut chip = Esp32s3 {
            hw,
            cpu: Cpu::InReset,
            out: Vec::new(),
            sent_before_switch: Vec::new(),
            rts: false,
            dtr: config.start_in == StartIn::Download,
            host_baud: None,
            uart_baud: None,
            resets: 0,
            config,
        };
        chip.boot(
            ResetCause::PowerOn,
            chip.config.start_in == StartIn::Download,
        );
        Ok(chip)
    }

    /// Feed bytes the host sent.
    pub fn receive(&mut self, bytes: &[u8]) {
        if !self.uart_in_sync() {
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let (used, action) = match &mut self.cpu {
                Cpu::Rom(loader) => loader.receive(rest, &mut self.hw, &mut self.out),
                Cpu::Stub(stub) => stub.receive(rest, &mut self.hw, &mut self.out),
                Cpu::InReset | Cpu::Running | Cpu::Halted => return,
            };
            rest = rest.get(used..).unwrap_or_default();
            if let Some(action) = action {
                self.act(action);
            }
            if let Some(cause) = self.hw.pending_reset.take() {
                self.reset(cause);
            }
        }
    }

    /// Take everything the chip sent since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        if !self.uart_in_sync() {
            // At a mismatched rate the host cannot decode anything the chip sends.
            self.out.clear();
        }
        let mut sent = std::mem::take(&mut self.sent_before_switch);
        sent.append(&mut self.out);
        sent
    }

    /// True when output is waiting.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || !self.sent_before_switch.is_empty()
    }

    /// Set the control lines as a USB-UART drives them (true = asserted = low). RTS asserted
    /// holds EN low; releasing EN boots, in download mode when DTR holds IO0 low.
    pub fn set_lines(&mut self, dtr_asserted: bool, rts_asserted: bool) {
        let was_in_reset = self.rts;
        self.dtr = dtr_asserted;
        self.rts = rts_asserted;
        if rts_asserted && !was_in_reset {
            self.cpu = Cpu::InReset;
        } else if !rts_asserted && was_in_reset {
            self.resets += 1;
            self.boot(ResetCause::PowerOn, dtr_asserted);
        }
    }

    /// The host changed its line speed.
    pub fn set_baud(&mut self, baud: u32) {
        self.host_baud = Some(baud);
    }

    /// What the CPU runs now.
    pub fn personality(&self) -> Personality {
        match self.cpu {
            Cpu::InReset => Personality::InReset,
            Cpu::Rom(_) => Personality::RomLoader,
            Cpu::Stub(_) => Personality::Stub,
            Cpu::Running => Personality::Running,
            Cpu::Halted => Personality::Halted,
        }
    }

    /// The flash chip.
    pub fn flash(&self) -> &Flash {
        &self.hw.flash
    }

    /// The flash chip, for setting up contents in tests.
    pub fn flash_mut(&mut self) -> &mut Flash {
        &mut self.hw.flash
    }

    /// Write changed flash sectors to the flash file, if one is configured.
    pub fn persist(&mut self) -> Result<(), SimError> {
        self.hw.flash.persist()
    }

    /// The configuration the chip was built from.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// How many times the chip was reset after power-on (EN, watchdog or software).
    pub fn resets(&self) -> u32 {
        self.resets
    }

    /// Read a word from the memory map as the CPU would (`None` for a bus fault).
    pub fn read_word(&self, addr: u32) -> Option<u32> {
        self.hw.read_word(addr).ok()
    }

    /// Read memory bytes as a debugger would (SRAM; anything else reads as zero).
    pub fn read_memory(&self, addr: u32, buf: &mut [u8]) {
        self.hw.read_bytes(addr, buf);
    }

    /// Let `elapsed` of the chip's time pass (timers, watchdog boot loops, console output that
    /// comes on its own). The chip has no clock of its own: whoever serves it says how much time
    /// went by (the in-process transport on `pause`, a server from its wall clock).
    pub fn advance(&mut self, elapsed: std::time::Duration) {
        // Nothing in the model depends on time yet.
        let _ = elapsed;
    }

    /// Reset the chip (as the reset button would): boots by the current IO0 line.
    pub fn reset(&mut self, cause: ResetCause) {
        self.resets += 1;
        let download = self.dtr || (cause != ResetCause::PowerOn && self.hw.force_download());
        self.boot(cause, download);
    }

    fn uart_in_sync(&self) -> bool {
        match (self.uart_baud, self.host_baud) {
            (Some(0), _) => false,
            (Some(chip), Some(host)) => chip == host,
            _ => true,
        }
    }

    fn boot(&mut self, cause: ResetCause, io0_low: bool) {
        self.hw.reset(cause);
        self.uart_baud = None;
        let strap = if io0_low {
            self.config.download_strap
        } else {
            self.config.spi_strap
        };
        self.hw.strap = strap;
        self.out
            .extend_from_slice(boot::banner(cause, strap).as_bytes());
        match boot::boot_mode(strap).1 {
            BootMode::Download(prompt) => {
                self.out.extend_from_slice(prompt.as_bytes());
                self.out.extend_from_slice(b"\r\n");
                self.cpu = Cpu::Rom(Box::new(RomLoader::new()));
            }
            BootMode::Spi => {
                let (text, outcome) = boot::spi_boot(&self.hw.flash, self.hw.chip.chip_id());
                self.out.extend_from_slice(text.as_bytes());
                self.cpu = match outcome {
                    SpiBootOutcome::Jumped(_) => Cpu::Running,
                    SpiBootOutcome::Failed => Cpu::Halted,
                };
            }
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Reset(cause) => self.reset(cause),
            Action::ExitLoader => {
                self.out.extend_from_slice(b"user code done\r\n");
                self.cpu = Cpu::Halted;
            }
            Action::Jump(entry) => {
                let is_stub = KNOWN_STUB_ENTRIES.contains(&entry)
                    || self.config.extra_stub_entries.contains(&entry);
                self.cpu = if is_stub && self.hw.sram_loaded(entry) {
                    let flash_size = match &self.cpu {
                        Cpu::Rom(rom) => rom.flash_size(),
                        _ => self.config.flash_size,
                    };
                    Cpu::Stub(Box::new(StubLoader::start(flash_size, &mut self.out)))
                } else {
                    Cpu::Running
                };
            }
            Action::Crash(fault, access) => {
                self.out
                    .extend_from_slice(rom::guru_meditation(fault, access).as_bytes());
                self.cpu = Cpu::Halted;
            }
            Action::Baud(0) => {
                // A zero rate stops the UART before the reply leaves: the real ROM answers
                // nothing and stays silent (rom-transcripts, scenario change-baud).
                self.out.clear();
                self.uart_baud = Some(0);
            }
            Action::Baud(baud) => {
                // The reply to CHANGE_BAUDRATE went out at the old rate, before the switch.
                self.sent_before_switch.append(&mut self.out);
                self.uart_baud = Some(baud);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SLIP-framed ROM command with a zero checksum.
    fn command(op: u8, data: &[u8]) -> Vec<u8> {
        let mut packet = vec![0xC0, 0x00, op];
        packet.extend_from_slice(&(data.len() as u16).to_le_bytes());
        packet.extend_from_slice(&[0; 4]);
        packet.extend_from_slice(data);
        packet.push(0xC0);
        packet
    }

    fn change_baudrate(baud: u32) -> Vec<u8> {
        let mut data = baud.to_le_bytes().to_vec();
        data.extend_from_slice(&[0; 4]);
        command(0x0F, &data)
    }

    #[test]
    fn the_reply_to_a_baud_change_arrives_at_the_old_rate() {
        let mut chip = Esp32s3::new(SimConfig::default()).unwrap();
        chip.take_output();
        chip.set_baud(115_200);
        let mut host_baud = 115_200;
        for baud in [460_800, 921_600, 115_200] {
            chip.receive(&change_baudrate(baud));
            let reply = chip.take_output();
            assert_eq!(
                reply.get(..3),
                Some(&[0xC0, 0x01, 0x0F][..]),
                "reply to the change from {host_baud} to {baud}"
            );
            host_baud = baud;
            chip.set_baud(host_baud);
        }
        // A host that does not follow hears nothing after the switch.
        chip.receive(&change_baudrate(460_800));
        assert!(chip.take_output().starts_with(&[0xC0, 0x01, 0x0F]));
        chip.receive(&command(0x0A, &0x4000_1000u32.to_le_bytes()));
        assert!(chip.take_output().is_empty());
    }
}
