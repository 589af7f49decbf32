//! [`Esp32s3`]: the whole simulated chip as a pure state machine. Inputs are received bytes,
//! the control lines, the host's line speed and the passing of time; the output is the byte
//! stream UART0 sends.
//!
//! It ties the hardware ([`Hw`]) to whatever program the CPU runs: the ROM download loader, the
//! stub, the second-stage bootloader ([`second_stage`]) and the app's scripted console
//! ([`AppConsole`], after what [`SimConfig::app_output`] says the app prints) after a flash
//! boot, a failed flash boot, or nothing (held in reset, crashed,
//! or after `user code done`). Resets print the ROM banner and boot by the strapping pins. It knows nothing of transports, threads or clocks: time passes only when the caller says
//! so ([`Esp32s3::advance`]).
//!
//! Pins. Over a UART bridge ([`Link::Uart`]) DTR/RTS go through the two-transistor auto-reset
//! circuit (facts §7, §16): EN is low while RTS is asserted and DTR released, IO0 is low while
//! DTR is asserted and RTS released; both asserted or both released leave both high. EN going
//! low resets the chip at once. When EN rises, the strapping latch samples IO0 for
//! [`STRAP_WINDOW`] (150 ms): IO0 low at any moment in that window selects download mode (and
//! the ROM starts at that moment); if IO0 stays high the whole window, the chip boots from flash
//! when the window closes. Silicon samples a few milliseconds after EN rises (the board's RC
//! delay); the window is wider because the simulator also stands behind network bridges:
//! esptool's classic reset over RFC 2217 passes through (DTR 1, RTS 1) for 50 ms or more (pyserial
//! polls every 50 ms for each SET_CONTROL acknowledgement) before RTS drops and IO0 goes low, and
//! on a loaded host that can stretch well past 50 ms; it must still end in download mode.
//!
//! Over the chip's USB-Serial/JTAG controller ([`Link::UsbSerialJtag`]) the host's "lines" are
//! bits in the controller (ESP32-S3 TRM, USB Serial/JTAG; esptool's `USBJTAGSerialReset`): RTS
//! asserted with DTR released holds the CPU in a core reset, which ends with
//! `rst:0x15 (USB_UART_CHIP_RESET)` when that state is left; DTR asserted with RTS released
//! requests download mode for the next core reset (both released, outside a reset, withdraws the
//! request). A core reset does not sample GPIO0 again: a chip powered on with the BOOT button
//! held ([`SimConfig::boot_button_at_power_on`]) stays in download mode through it, and only an
//! RTC watchdog reset (which samples the pins again) boots it from flash.
//!
//! Time. A failed flash boot repeats its `invalid header: 0x...` line as fast as the ROM's
//! 115200-baud console sends it ([`ROM_CONSOLE_BYTES_PER_SEC`], one line per ~2.4 ms, as the lines
//! cut mid-way by the watchdog in real logs show) until the TG0 flash-boot watchdog resets the
//! chip after [`FLASH_BOOT_WATCHDOG`], with `rst:0x7 (TG0WDT_SYS_RST)` and `Saved PC:`; the
//! loop then starts again. The RTC watchdog (armed by register writes, esptool's watchdog reset)
//! resets the chip when its stage-0 timeout has passed, not at once. When the second stage finds
//! no app to start, it resets the chip by software (`rst:0x3 (RTC_SW_SYS_RST)`) at the time its
//! log says it gave up, and the boot starts over. The second stage's text is sent at once when
//! the ROM jumps to it (its own timestamps say when each line would have appeared).

use std::time::Duration;

use super::app_console::AppConsole;
use super::boot::{self, BootMode, PC_HEADER_LOOP, PC_ROM_IDLE, ResetCause, SpiBootOutcome};
use super::bus::Hw;
use super::efuse::Efuse;
use super::faults::{self, FaultCounts, FaultLine, Inbound, Replug};
use super::flash::Flash;
use super::pace::{Pace, Runner, Timeline, Wire};
use super::rom::{self, Action, RomLoader};
use super::second_stage::{self, BootContext, Outcome};
use super::stub::StubLoader;
use super::{KNOWN_STUB_ENTRIES, Link, SimConfig, SimError, StartIn};

/// How long after EN rises the strapping latch still takes IO0 low as "download mode": three
/// times pyserial's 50 ms acknowledgement poll, so that a reset sequence played over RFC 2217 on
/// a busy machine still lands (module docs).
pub const STRAP_WINDOW: Duration = Duration::from_millis(150);

/// The ROM console's pace: 115200 baud, 8N1, is 11520 bytes a second.
pub const ROM_CONSOLE_BYTES_PER_SEC: u64 = 11_520;

/// How long a failed flash boot lasts before the TG0 flash-boot watchdog resets the chip. Not
/// measured on silicon: stage 0 of the timer-group watchdog holds for 26,000,000 of its clock
/// cycles out of reset, which at the 40 MHz crystal clock the ROM runs from is 0.65 s; real logs
/// show a few hundred lines between the banners, which fits.
pub const FLASH_BOOT_WATCHDOG: Duration = Duration::from_millis(650);

/// A flash boot that failed: the ROM repeats a line (or nothing) until the watchdog strikes.
#[derive(Debug)]
struct BootLoop {
    /// What the ROM prints again and again (empty: it prints nothing more).
    line: Vec<u8>,
    /// Time since the boot started.
    elapsed: Duration,
    /// Bytes of the repeated line sent so far.
    sent: u64,
}

/// What the CPU is running.
#[derive(Debug)]
enum Cpu {
    /// EN is held low (or the USB controller holds a core reset).
    InReset,
    /// EN rose; the strapping latch still samples IO0 (time since EN rose).
    Strapping(Duration),
    /// The ROM's UART download loader.
    Rom(Box<RomLoader>),
    /// The flasher stub.
    Stub(Box<StubLoader>),
    /// An app started by the second stage, or code the ROM loader started from RAM: its
    /// console answers what arrives.
    App(Box<AppConsole>),
    /// The second stage found nothing to start; it resets the chip when `left` has passed.
    BootloaderGivingUp(Duration),
    /// A flash boot that failed, waiting for the flash-boot watchdog.
    BootLoop(BootLoop),
    /// Halted: crashed, left the loader. Only a reset helps.
    Halted,
}

/// What the chip is running, as tests and tools see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    /// Held in reset by EN.
    InReset,
    /// EN was released and the strapping pins are still being sampled: the ROM has not started.
    Booting,
    /// The ROM download loader.
    RomLoader,
    /// The flasher stub.
    Stub,
    /// An application or code started from RAM (its console echoes, at most).
    Running,
    /// Crashed, stopped, or stuck in a failed flash boot; needs a reset (a failed flash boot
    /// gets one from its watchdog).
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
    /// The host's lines (true = asserted).
    rts: bool,
    dtr: bool,
    /// Something outside the reset circuit holds GPIO0 low (see [`StartIn::Download`]) until
    /// the host first drives the lines.
    io0_held: bool,
    /// GPIO0 was low when the strapping pins were last sampled (what a core reset keeps).
    io0_latched_low: bool,
    /// The USB-Serial/JTAG controller was asked for download mode at the next core reset.
    usb_download_request: bool,
    /// Where the CPU was when the current reset began (for the `Saved PC` line).
    saved_pc: Option<u32>,
    host_baud: Option<u32>,
    /// UART0's rate once fixed by CHANGE_BAUDRATE; `None` while the ROM auto-detects it.
    uart_baud: Option<u32>,
    resets: u32,
    /// Where the ROM loader jumped with MEM_END into code loaded to RAM (not a stub), since the
    /// last reset.
    ram_entry: Option<u32>,
    /// Time-stamped input and output when the chip is paced ([`SimConfig::pace`]).
    timeline: Option<Timeline>,
    /// Bytes that crossed the line above the adapter's limit ([`SimConfig::max_baud`]).
    over_limit: u64,
    /// The faults on the line and in the loaders ([`SimConfig::faults`]), when there are any.
    faults: Option<FaultLine>,
    /// The USB port the chip sits behind, as the host sees it (an unplug takes it away).
    usb: UsbPort,
    /// While unplugged: how long until the device comes back (`None`: never).
    away: Option<Option<Duration>>,
}

/// The port the chip sits behind, as the host sees it: whether it is there, which time it came
/// (each unplug makes the host's open handle stale), and whether it came back under another
/// name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsbPort {
    /// The device is plugged in.
    pub present: bool,
    /// Bumped at every unplug: a handle opened before is dead.
    pub generation: u32,
    /// The device came back under another name than the one it had at first.
    pub renamed: bool,
}

impl Esp32s3 {
    /// Build a chip from a configuration (loading the flash file when one is set) and power it
    /// on.
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        let mut flash = match &config.flash_file {
            Some(path) => Flash::with_file(config.flash_size, path)?,
            None => Flash::new(config.flash_size)?,
        };
        flash.set_faults(FaultLine::flash_faults(&config.faults));
        let efuse = Efuse::new(&config.identity);
        let hw = Hw::new(flash, efuse, config.chip);
        let button = config.boot_button_at_power_on;
        let start_download = button || config.start_in == StartIn::Download;
        let mut chip = Esp32s3 {
            hw,
            cpu: Cpu::InReset,
            out: Vec::new(),
            sent_before_switch: Vec::new(),
            rts: false,
            dtr: false,
            io0_held: config.link == Link::Uart && start_download && !button,
            io0_latched_low: false,
            usb_download_request: false,
            saved_pc: None,
            host_baud: None,
            uart_baud: None,
            resets: 0,
            ram_entry: None,
            timeline: config.pace.as_ref().map(|_| Timeline::new()),
            over_limit: 0,
            faults: FaultLine::new(&config.faults),
            usb: UsbPort {
                present: true,
                ..UsbPort::default()
            },
            away: None,
            config,
        };
        if chip.config.link == Link::UsbSerialJtag && start_download && !button {
            // As the host's USB reset into download mode leaves it: GPIO0 was high at power-on.
            chip.boot(ResetCause::UsbUartChip, true, Some(PC_ROM_IDLE));
        } else {
            chip.io0_latched_low = start_download;
            chip.boot(ResetCause::PowerOn, start_download, None);
        }
        chip.flush_paced();
        Ok(chip)
    }

    /// Feed bytes the host sent. A paced chip takes them as they would arrive over the wire
    /// from now on and answers when its work is done (see [`Esp32s3::take_output`]).
    pub fn receive(&mut self, bytes: &[u8]) {
        if self.away.is_some() {
            // Nobody is at the other end of the cable.
            return;
        }
        if self.timeline.is_some() {
            self.receive_paced(bytes);
            return;
        }
        if !self.uart_in_sync() {
            return;
        }
        let mut bytes = bytes.to_vec();
        if self.line_corrupts() {
            self.corrupt(&mut bytes);
        }
        let loader = self.runs_loader();
        let pieces = match self.faults.as_mut() {
            Some(line) => line.inbound(&bytes, loader),
            None => vec![Inbound::Bytes(bytes)],
        };
        for piece in pieces {
            match piece {
                Inbound::Bytes(bytes) => self.receive_bytes(&bytes),
                Inbound::Reject(op) => {
                    if self.runs_loader() {
                        let stub = matches!(self.cpu, Cpu::Stub(_));
                        self.out.extend(faults::rejection(op, stub));
                    }
                }
                Inbound::Reset => self.reset(ResetCause::RtcWdt),
                Inbound::Unplug => self.unplug(),
            }
        }
    }

    /// [`Esp32s3::receive`] once the faults had their say: bytes for the loader or the app,
    /// each reply shaped by the faults as it leaves.
    fn receive_bytes(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let before = self.out.len();
            let (used, action, handled) = match &mut self.cpu {
                Cpu::Rom(loader) => loader.receive(rest, &mut self.hw, &mut self.out),
                Cpu::Stub(stub) => stub.receive(rest, &mut self.hw, &mut self.out),
                Cpu::App(console) => {
                    self.out.extend_from_slice(&console.input(rest));
                    return;
                }
                Cpu::InReset
                | Cpu::Strapping(_)
                | Cpu::BootloaderGivingUp(_)
                | Cpu::BootLoop(_)
                | Cpu::Halted => return,
            };
            if handled {
                if let Some(line) = self.faults.as_mut() {
                    let reply = self.out.split_off(before.min(self.out.len()));
                    let (reply, stall) = line.reply(reply);
                    line.stall(stall);
                    self.out.extend(reply);
                }
            }
            rest = rest.get(used..).unwrap_or_default();
            if let Some(action) = action {
                self.act(action);
            }
        }
    }

    /// True when the ROM loader or a stub takes commands.
    fn runs_loader(&self) -> bool {
        matches!(self.cpu, Cpu::Rom(_) | Cpu::Stub(_))
    }

    /// The USB cable is pulled: the chip loses power, what was on its way is lost, and the
    /// port disappears until the device comes back ([`super::Faults::replug_after`]).
    fn unplug(&mut self) {
        self.saved_pc = None;
        self.cpu = Cpu::InReset;
        self.out.clear();
        self.sent_before_switch.clear();
        if let Some(timeline) = self.timeline.as_mut() {
            timeline.lose_output();
        }
        let back_after = match self.faults.as_mut() {
            Some(line) => {
                line.lose_output();
                line.replug_after()
            }
            None => None,
        };
        self.usb.present = false;
        self.usb.generation += 1;
        self.away = Some(back_after);
    }

    /// The device is plugged in again: its port is back (under the name the faults say) and
    /// the chip powers on with the host's lines released, so it boots from flash.
    fn replug(&mut self) {
        self.away = None;
        self.usb.present = true;
        if self
            .faults
            .as_ref()
            .is_some_and(|f| f.replug() == Replug::Other)
        {
            self.usb.renamed = true;
        }
        self.dtr = false;
        self.rts = false;
        self.io0_held = false;
        self.io0_latched_low = self.config.boot_button_at_power_on;
        self.resets += 1;
        self.boot(ResetCause::PowerOn, self.io0_latched_low, None);
    }

    /// The port the chip sits behind, as the host sees it.
    pub fn usb_port(&self) -> UsbPort {
        self.usb
    }

    /// What the faults injected so far (all zero without faults; program failures counted by
    /// the flash).
    pub fn fault_counts(&self) -> FaultCounts {
        let mut counts = self.faults.as_ref().map(|f| f.counts).unwrap_or_default();
        counts.program_failures = self.hw.flash.program_failures();
        counts
    }

    /// Take everything the chip sent since the last call (on a paced chip: what has reached the
    /// host by now).
    pub fn take_output(&mut self) -> Vec<u8> {
        if self.timeline.is_some() {
            return self.take_paced();
        }
        if !self.uart_in_sync() {
            // At a mismatched rate the host cannot decode anything the chip sends.
            self.out.clear();
        }
        let mut sent = std::mem::take(&mut self.sent_before_switch);
        sent.append(&mut self.out);
        if self.line_corrupts() {
            self.corrupt(&mut sent);
        }
        match self.faults.as_mut() {
            Some(line) => line.outbound(sent),
            None => sent,
        }
    }

    /// True when output is waiting (on a paced chip: output that has reached the host).
    pub fn has_output(&self) -> bool {
        match &self.timeline {
            Some(timeline) => timeline.has_ready(),
            None => {
                let fresh = !self.out.is_empty() || !self.sent_before_switch.is_empty();
                match &self.faults {
                    Some(line) => (fresh || line.holding()) && !line.stalled(),
                    None => fresh,
                }
            }
        }
    }

    /// True when the chip charges time for the line, the flash and the CPU.
    pub fn is_paced(&self) -> bool {
        self.timeline.is_some()
    }

    /// What the paced link carried and the CPU did since power-on (`None` unpaced).
    pub fn pace_stats(&self) -> Option<super::pace::PaceStats> {
        self.timeline.as_ref().map(|t| t.stats)
    }

    /// How long until output reaches the host: zero when some is waiting, `None` when nothing
    /// is on its way (the chip may still print on its own later, see [`Esp32s3::advance`]).
    pub fn next_output_in(&self) -> Option<Duration> {
        match &self.timeline {
            Some(timeline) => timeline.next_ready_in(),
            None => {
                let stall = self.faults.as_ref().and_then(FaultLine::stall_left);
                let waiting = !self.out.is_empty()
                    || !self.sent_before_switch.is_empty()
                    || self.faults.as_ref().is_some_and(FaultLine::holding);
                match stall {
                    Some(left) if waiting => Some(left),
                    _ => self.has_output().then_some(Duration::ZERO),
                }
            }
        }
    }

    /// Let time pass until output reaches the host or `max` has passed; returns how much time
    /// passed. Without pacing, output is there at once or comes from the chip's own timers.
    pub fn advance_until_output(&mut self, max: Duration) -> Duration {
        // Without anything scheduled the chip's own timers may still print; look in steps.
        const LOOK: Duration = Duration::from_millis(5);
        let mut passed = Duration::ZERO;
        while passed < max && !self.has_output() {
            let left = max - passed;
            let step = self.next_output_in().unwrap_or(LOOK).min(left);
            let step = if step.is_zero() { left.min(LOOK) } else { step };
            self.advance(step);
            passed += step;
        }
        passed
    }

    /// Set the control lines as the host drives them (true = asserted). What they do depends on
    /// the link (module docs): EN and IO0 through the auto-reset circuit, or the USB-Serial/JTAG
    /// controller's reset and download request.
    pub fn set_lines(&mut self, dtr_asserted: bool, rts_asserted: bool) {
        if self.away.is_some() {
            return;
        }
        let was_in_usb_reset = self.dtr_rts_hold_reset();
        let en_was_low = self.en_low();
        self.dtr = dtr_asserted;
        self.rts = rts_asserted;
        match self.config.link {
            Link::Uart => {
                // The host now drives IO0 through the circuit.
                self.io0_held = false;
                let en_low = self.en_low();
                if en_low && !en_was_low {
                    self.hold_in_reset();
                    // EN low is a power-on reset of the whole chip, RTC domain included.
                    self.hw.reset(ResetCause::PowerOn);
                } else if !en_low && en_was_low {
                    self.resets += 1;
                    self.cpu = Cpu::Strapping(Duration::ZERO);
                }
                if matches!(self.cpu, Cpu::Strapping(_)) && self.io0_low_now() {
                    // The latch saw IO0 low inside the window: download mode.
                    self.io0_latched_low = true;
                    self.boot(ResetCause::PowerOn, true, None);
                }
            }
            Link::UsbSerialJtag => {
                let hold = self.dtr_rts_hold_reset();
                if hold && !was_in_usb_reset {
                    self.hold_in_reset();
                } else if !hold && was_in_usb_reset {
                    self.resets += 1;
                    let download = self.usb_download_request
                        || self.io0_latched_low
                        || self.hw.force_download();
                    self.usb_download_request = false;
                    let pc = self.saved_pc.take();
                    self.boot(ResetCause::UsbUartChip, download, pc);
                } else if dtr_asserted && !rts_asserted {
                    self.usb_download_request = true;
                } else if !dtr_asserted && !rts_asserted {
                    self.usb_download_request = false;
                }
            }
        }
        self.flush_paced();
    }

    /// The host changed its line speed.
    pub fn set_baud(&mut self, baud: u32) {
        self.host_baud = Some(baud);
    }

    /// What the CPU runs now.
    pub fn personality(&self) -> Personality {
        match self.cpu {
            Cpu::InReset => Personality::InReset,
            Cpu::Strapping(_) => Personality::Booting,
            Cpu::Rom(_) => Personality::RomLoader,
            Cpu::Stub(_) => Personality::Stub,
            Cpu::App(_) | Cpu::BootloaderGivingUp(_) => Personality::Running,
            Cpu::BootLoop(_) | Cpu::Halted => Personality::Halted,
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

    /// How many times the chip was reset after power-on (EN, watchdog, USB or software).
    pub fn resets(&self) -> u32 {
        self.resets
    }

    /// Read a word from the memory map as the CPU would (`None` for a bus fault).
    pub fn read_word(&self, addr: u32) -> Option<u32> {
        self.hw.read_word(addr).ok()
    }

    /// The entry point the ROM loader jumped to with MEM_END to start code loaded into RAM (not
    /// a flasher stub), since the last reset: what `flash --ram` started.
    pub fn ram_entry(&self) -> Option<u32> {
        self.ram_entry
    }

    /// Read memory bytes as a debugger would (SRAM; anything else reads as zero).
    pub fn read_memory(&self, addr: u32, buf: &mut [u8]) {
        self.hw.read_bytes(addr, buf);
    }

    /// Let `elapsed` of the chip's time pass: the strapping window after EN rose closes, a failed
    /// flash boot prints its line and is reset by its watchdog, the RTC watchdog strikes. The
    /// chip has no clock of its own: whoever serves it says how much time went by (the
    /// in-process transport on `pause` and on reads that wait, a server from its wall clock).
    pub fn advance(&mut self, elapsed: Duration) {
        if let Some(line) = self.faults.as_mut() {
            line.advance(elapsed);
        }
        let mut elapsed = elapsed;
        if let Some(away) = self.away {
            // Unpowered: only the time until the device comes back passes here.
            let gone = away.map_or(elapsed, |left| left.min(elapsed));
            if let Some(timeline) = &mut self.timeline {
                timeline.now += gone;
            }
            match away {
                Some(left) if elapsed >= left => {
                    elapsed -= left;
                    self.replug();
                    self.flush_paced();
                }
                Some(left) => {
                    self.away = Some(Some(left - elapsed));
                    return;
                }
                None => return,
            }
        }
        let mut left = elapsed;
        loop {
            // Move to the next event (or the end), then handle it.
            let local = match &self.cpu {
                Cpu::Strapping(since) => Some(STRAP_WINDOW.saturating_sub(*since)),
                Cpu::BootLoop(l) => Some(FLASH_BOOT_WATCHDOG.saturating_sub(l.elapsed)),
                Cpu::BootloaderGivingUp(left) => Some(*left),
                _ => None,
            };
            let mut step = left;
            if let Some(t) = local {
                step = step.min(t);
            }
            if let Some(t) = self.hw.rtc_watchdog_left() {
                step = step.min(t);
            }
            let rtc_fired = self.hw.advance(step).is_some();
            if let Some(timeline) = &mut self.timeline {
                timeline.now += step;
            }
            match &mut self.cpu {
                Cpu::Strapping(since) => *since += step,
                Cpu::BootLoop(l) => {
                    l.elapsed += step;
                    emit_paced(l, &mut self.out);
                }
                Cpu::BootloaderGivingUp(left) => *left = left.saturating_sub(step),
                _ => {}
            }
            left -= step;
            if rtc_fired {
                self.reset(ResetCause::RtcWdt);
            } else if matches!(&self.cpu, Cpu::Strapping(since) if *since >= STRAP_WINDOW) {
                // IO0 stayed high through the window: boot from flash.
                self.io0_latched_low = false;
                self.boot(ResetCause::PowerOn, false, None);
            } else if matches!(&self.cpu, Cpu::BootLoop(l) if l.elapsed >= FLASH_BOOT_WATCHDOG) {
                self.reset(ResetCause::Tg0Wdt);
            } else if matches!(self.cpu, Cpu::BootloaderGivingUp(left) if left.is_zero()) {
                // ESP-IDF's bootloader_reset(): a software system reset.
                self.reset(ResetCause::RtcSwSys);
            } else if left.is_zero() {
                self.flush_paced();
                return;
            }
            self.flush_paced();
        }
    }

    /// Reset the chip as a watchdog or software reset does: the strapping pins are sampled
    /// again (IO0 as the lines or the held button set it now) and FORCE_DOWNLOAD_BOOT is
    /// honoured; a USB-Serial/JTAG core reset keeps the latched pins instead.
    pub fn reset(&mut self, cause: ResetCause) {
        self.resets += 1;
        let pc = match cause {
            ResetCause::Tg0Wdt | ResetCause::UsbUartChip => Some(self.pc_now()),
            ResetCause::PowerOn | ResetCause::RtcSwSys | ResetCause::RtcWdt => None,
        };
        let download = match cause {
            ResetCause::UsbUartChip => {
                let request = std::mem::take(&mut self.usb_download_request);
                request || self.io0_latched_low || self.hw.force_download()
            }
            ResetCause::PowerOn => {
                self.io0_latched_low = self.io0_low_now();
                self.io0_latched_low
            }
            _ => {
                self.io0_latched_low = self.io0_low_now();
                self.io0_latched_low || self.hw.force_download()
            }
        };
        self.boot(cause, download, pc);
        self.flush_paced();
    }

    /// The paced model of [`Esp32s3::receive`]: each byte arrives one byte-time after the one
    /// before, is taken by the CPU when it is free (the ROM loses what overflows its FIFO while
    /// it is busy), and each handled packet keeps the CPU busy for its work; its reply leaves
    /// before the work (a stub's data block) or after it.
    fn receive_paced(&mut self, bytes: &[u8]) {
        let Some(pace) = self.config.pace.clone() else {
            return;
        };
        let to_chip = self.wire_to_chip(&pace);
        let Some(timeline) = self.timeline.as_mut() else {
            return;
        };
        let start = timeline.send_to_chip(bytes.len(), to_chip);
        if !self.uart_in_sync() {
            // At a mismatched rate the chip decodes nothing; the wire was busy all the same.
            return;
        }
        let mut bytes = bytes.to_vec();
        if self.line_corrupts() {
            self.corrupt(&mut bytes);
        }
        // Whatever happened before (a boot reading the flash) is not this command's work.
        self.hw.take_work();
        let loader = self.runs_loader();
        let pieces = match self.faults.as_mut() {
            Some(line) => line.inbound(&bytes, loader),
            None => vec![Inbound::Bytes(bytes)],
        };
        let mut index = 0u32;
        for piece in pieces {
            match piece {
                Inbound::Bytes(bytes) => {
                    for byte in bytes {
                        index += 1;
                        self.paced_byte(&pace, start + to_chip.byte_time * index, byte);
                    }
                }
                Inbound::Reject(op) => {
                    if self.runs_loader() {
                        let stub = matches!(self.cpu, Cpu::Stub(_));
                        let wire = self.wire_to_host(&pace);
                        let at = start + to_chip.byte_time * index;
                        if let Some(timeline) = self.timeline.as_mut() {
                            timeline.emit(at, faults::rejection(op, stub), wire);
                        }
                    }
                }
                Inbound::Reset => self.reset(ResetCause::RtcWdt),
                Inbound::Unplug => self.unplug(),
            }
        }
    }

    /// One byte arriving at a paced chip at `arrival`: taken by the CPU when it is free (or lost
    /// to a full FIFO), and a packet it completes handled, its reply charged and shaped by the
    /// faults.
    fn paced_byte(&mut self, pace: &Pace, arrival: Duration, byte: u8) {
        let (fifo, runner) = match self.cpu {
            Cpu::Rom(_) => (Some(pace.uart_fifo), Runner::Rom),
            Cpu::Stub(_) => (None, Runner::Stub),
            Cpu::App(_) => (None, Runner::Stub),
            _ => return,
        };
        let Some(timeline) = self.timeline.as_mut() else {
            return;
        };
        let Some(taken) = timeline.admit(arrival, fifo) else {
            return;
        };
        let (action, handled) = match &mut self.cpu {
            Cpu::Rom(loader) => {
                let (_, action, handled) = loader.receive(&[byte], &mut self.hw, &mut self.out);
                (action, handled)
            }
            Cpu::Stub(stub) => {
                let (_, action, handled) = stub.receive(&[byte], &mut self.hw, &mut self.out);
                (action, handled)
            }
            Cpu::App(console) => {
                let echo = console.input(&[byte]);
                let wire = self.wire_to_host(pace);
                if let Some(timeline) = self.timeline.as_mut() {
                    timeline.emit(taken, echo, wire);
                }
                return;
            }
            _ => return,
        };
        if !handled {
            return;
        }
        let work = self.hw.take_work();
        let busy = pace.work_time(&work, runner);
        let mut reply = std::mem::take(&mut self.out);
        if action == Some(Action::Baud(0)) {
            // A zero rate stops the UART before the reply leaves.
            reply.clear();
        }
        let mut taken = taken;
        if let Some(line) = self.faults.as_mut() {
            // A stall before the reply: the chip's answer and everything after it come later.
            let (shaped, stall) = line.reply(reply);
            reply = shaped;
            taken += stall;
        }
        let wire = self.wire_to_host(pace);
        let Some(timeline) = self.timeline.as_mut() else {
            return;
        };
        let done = timeline.handled(taken, busy, work.reply_first, reply, wire, pace.uart_fifo);
        if let Some(action) = action {
            self.act(action);
            // What the action printed (a banner, `OHAI`) follows the reply.
            let wire = self.wire_to_host(pace);
            let out = std::mem::take(&mut self.out);
            if let Some(timeline) = self.timeline.as_mut() {
                timeline.emit(done, out, wire);
            }
        }
    }

    /// Move what the chip printed into the paced output, leaving now.
    fn flush_paced(&mut self) {
        let Some(pace) = self.config.pace.clone() else {
            return;
        };
        if self.out.is_empty() && self.sent_before_switch.is_empty() {
            return;
        }
        let wire = self.wire_to_host(&pace);
        let mut bytes = std::mem::take(&mut self.sent_before_switch);
        bytes.append(&mut self.out);
        if let Some(timeline) = self.timeline.as_mut() {
            let now = timeline.now;
            timeline.emit(now, bytes, wire);
        }
    }

    /// The paced output that has reached the host: what was sent at another speed than the
    /// host's is garbage to it and is dropped, and above the adapter's limit bytes are
    /// corrupted.
    fn take_paced(&mut self) -> Vec<u8> {
        let host = self.host_baud;
        let pieces = self
            .timeline
            .as_mut()
            .map(Timeline::take_ready)
            .unwrap_or_default();
        let mut bytes = Vec::new();
        for piece in pieces {
            let garbled = piece.baud != 0 && host.is_some_and(|h| h != piece.baud);
            if !garbled {
                bytes.extend_from_slice(&piece.bytes);
            }
        }
        if self.line_corrupts() {
            self.corrupt(&mut bytes);
        }
        match self.faults.as_mut() {
            Some(line) => line.bytes_out(bytes),
            None => bytes,
        }
    }

    /// How the host's bytes reach the chip: at the host's speed over a UART bridge (after half
    /// its turnaround), at USB speed over USB-Serial/JTAG.
    fn wire_to_chip(&self, pace: &Pace) -> Wire {
        match self.config.link {
            Link::Uart => {
                let baud = self.host_baud.unwrap_or(115_200);
                Wire {
                    byte_time: pace.byte_time(baud),
                    latency: pace.bridge_turnaround / 2,
                    baud,
                }
            }
            Link::UsbSerialJtag => Wire {
                byte_time: pace.usb_byte_time(),
                latency: pace.usb_turnaround / 2,
                baud: 0,
            },
        }
    }

    /// How the chip's bytes reach the host: at UART0's speed (the host's while the ROM
    /// auto-detects it), or at USB speed.
    fn wire_to_host(&self, pace: &Pace) -> Wire {
        match self.config.link {
            Link::Uart => {
                let baud = self
                    .uart_baud
                    .filter(|b| *b != 0)
                    .or(self.host_baud)
                    .unwrap_or(115_200);
                Wire {
                    byte_time: pace.byte_time(baud),
                    latency: pace.bridge_turnaround / 2,
                    baud,
                }
            }
            Link::UsbSerialJtag => Wire {
                byte_time: pace.usb_byte_time(),
                latency: pace.usb_turnaround / 2,
                baud: 0,
            },
        }
    }

    /// True when the line runs above the adapter's limit (a UART only: over USB the speed
    /// means nothing).
    fn line_corrupts(&self) -> bool {
        let Some(limit) = self.config.max_baud else {
            return false;
        };
        self.config.link == Link::Uart && self.host_baud.unwrap_or(115_200) > limit
    }

    /// Garble bytes as an adapter pushed past its limit does: once
    /// [`SimConfig::corrupt_after`] bytes have passed above the limit, one bit of every eighth
    /// byte flips.
    fn corrupt(&mut self, bytes: &mut [u8]) {
        for byte in bytes {
            if self.over_limit >= self.config.corrupt_after && self.over_limit % 8 == 0 {
                *byte ^= 0x10;
            }
            self.over_limit += 1;
        }
    }

    /// IO0 as the pin is driven now (low = true).
    fn io0_low_now(&self) -> bool {
        match self.config.link {
            Link::Uart => self.io0_held || (self.dtr && !self.rts),
            // The host's lines do not reach the pin; the BOOT button was let go after power-on.
            Link::UsbSerialJtag => false,
        }
    }

    /// EN as the auto-reset circuit drives it (low = true).
    fn en_low(&self) -> bool {
        self.config.link == Link::Uart && self.rts && !self.dtr
    }

    /// The USB-Serial/JTAG controller holds a core reset.
    fn dtr_rts_hold_reset(&self) -> bool {
        self.config.link == Link::UsbSerialJtag && self.rts && !self.dtr
    }

    /// Where the CPU is, for the `Saved PC` line of a reset that interrupts it.
    fn pc_now(&self) -> u32 {
        match self.cpu {
            Cpu::BootLoop(_) => PC_HEADER_LOOP,
            _ => PC_ROM_IDLE,
        }
    }

    fn hold_in_reset(&mut self) {
        self.saved_pc = Some(self.pc_now());
        self.cpu = Cpu::InReset;
    }

    fn uart_in_sync(&self) -> bool {
        match (self.uart_baud, self.host_baud) {
            (Some(0), _) => false,
            (Some(chip), Some(host)) => chip == host,
            _ => true,
        }
    }

    fn boot(&mut self, cause: ResetCause, download: bool, saved_pc: Option<u32>) {
        self.hw.reset(cause);
        self.uart_baud = None;
        self.ram_entry = None;
        let strap = if download {
            self.config.download_strap
        } else {
            self.config.spi_strap
        };
        self.hw.strap = strap;
        self.out
            .extend_from_slice(boot::banner(cause, strap, saved_pc).as_bytes());
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
                    SpiBootOutcome::Jumped(_) => self.run_second_stage(),
                    SpiBootOutcome::Failed => Cpu::BootLoop(BootLoop {
                        line: Vec::new(),
                        elapsed: Duration::ZERO,
                        sent: 0,
                    }),
                    SpiBootOutcome::InvalidHeader(line) => Cpu::BootLoop(BootLoop {
                        line: line.into_bytes(),
                        elapsed: Duration::ZERO,
                        sent: 0,
                    }),
                };
            }
        }
    }

    /// The ROM jumped to the bootloader at 0x0: run ESP-IDF's second stage over the flash and
    /// start the app it chose (or give up and reset, as the real one does).
    fn run_second_stage(&mut self) -> Cpu {
        let identity = &self.config.identity;
        let ctx = BootContext {
            chip_id: self.hw.chip.chip_id(),
            chip_revision: (identity.revision_major, identity.revision_minor),
            efuse_block_revision: identity.block_version,
            ..BootContext::esp32s3(self.hw.flash.contents())
        };
        let boot = second_stage::boot(&ctx);
        self.out.extend_from_slice(boot.text.as_bytes());
        match boot.outcome {
            Outcome::App(app) => {
                let (console, first) = AppConsole::start(&app);
                self.out.extend_from_slice(first.as_bytes());
                if let Some(output) = &self.config.app_output {
                    self.out.extend_from_slice(output);
                }
                Cpu::App(Box::new(console))
            }
            // The reset comes when the log says the bootloader gave up. Its timestamps count
            // from the reset, and no time has passed since then here (the ROM's and the
            // bootloader's text were sent at once), so the whole span is still to come.
            Outcome::Failed => {
                Cpu::BootloaderGivingUp(boot.finished_at.max(Duration::from_millis(1)))
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
                    // A stub sets the flash size itself when it starts, whatever the ROM had
                    // (esp-flasher-stub reads the flash ID; the legacy stub assumes its largest
                    // size), so esptool's `erase-region` above 2 MiB works without a
                    // SPI_SET_PARAMS first: the flash the chip has.
                    let flash_size = self.config.flash_size;
                    Cpu::Stub(Box::new(StubLoader::start(flash_size, &mut self.out)))
                } else if self.hw.sram_loaded(entry) {
                    // The code runs; its console is the echo every app without a script gets.
                    self.ram_entry = Some(entry);
                    Cpu::App(Box::new(AppConsole::echo()))
                } else {
                    // Nothing was loaded there: the CPU runs into erased memory and stops.
                    Cpu::Halted
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

/// Send the part of a boot loop's repeated line that the console had time for by `l.elapsed`.
fn emit_paced(l: &mut BootLoop, out: &mut Vec<u8>) {
    if l.line.is_empty() {
        return;
    }
    let due = l.elapsed.as_nanos() * u128::from(ROM_CONSOLE_BYTES_PER_SEC) / 1_000_000_000;
    let due = u64::try_from(due).unwrap_or(u64::MAX);
    let len = l.line.len() as u64;
    while l.sent < due {
        let at = (l.sent % len) as usize;
        let chunk = l.line.get(at..).unwrap_or_default();
        let take = chunk
            .len()
            .min(usize::try_from(due - l.sent).unwrap_or(usize::MAX));
        out.extend_from_slice(chunk.get(..take).unwrap_or_default());
        l.sent += take as u64;
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
    fn a_paced_chip_answers_after_the_wire_time_and_only_a_host_in_step_hears_it() {
        let config = SimConfig {
            pace: Some(Pace::real()),
            ..SimConfig::default()
        };
        let mut chip = Esp32s3::new(config).unwrap();
        chip.advance(Duration::from_millis(100));
        chip.take_output();
        chip.set_baud(115_200);
        let request = command(0x0A, &0x4000_1000u32.to_le_bytes());
        chip.receive(&request);
        assert!(
            !chip.has_output(),
            "nothing before the bytes crossed the wire"
        );
        let waited = chip.advance_until_output(Duration::from_secs(1));
        // The request's bytes, the reply's (14 with SLIP) at 10 bit-times each, and the
        // bridge's turnaround.
        let pace = Pace::real();
        let floor = pace.byte_time(115_200) * (request.len() as u32 + 14) + pace.bridge_turnaround;
        assert!(waited >= floor, "{waited:?} < {floor:?}");
        assert!(waited < floor + Duration::from_millis(5), "{waited:?}");
        assert!(chip.take_output().starts_with(&[0xC0, 0x01, 0x0A]));
        // After CHANGE_BAUDRATE a host that does not switch its own port hears garbage
        // (nothing), once the reply (at the old rate) is in.
        chip.receive(&change_baudrate(460_800));
        chip.advance(Duration::from_secs(1));
        assert!(chip.take_output().starts_with(&[0xC0, 0x01, 0x0F]));
        chip.receive(&request);
        chip.advance(Duration::from_secs(1));
        assert!(chip.take_output().is_empty());
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
