//! What time the paced virtual chip charges, and where: [`Pace`], every parameter in one place
//! with its source, and the bookkeeping that turns a handled command into time ([`Work`],
//! [`Pace::work_time`]) and bytes into wire time ([`Pace::byte_time`]).
//!
//! Pacing is off unless asked for (`sim://?pace=real`, `sim --pty --pace real`), so tests stay
//! fast; the chip model applies it in `chip.rs` (time-stamped input and output, a CPU that is
//! busy while it erases, programs, inflates and hashes). The chip still has no clock: it charges
//! time against the virtual time its server moves ([`super::Esp32s3::advance`]).
//!
//! Where the time goes, as on silicon:
//! - the line: 10 bit-times per byte in each direction at the current baud (8N1), both
//!   directions at once; a USB-UART bridge adds its USB turnaround each way; the chip's own
//!   USB-Serial/JTAG port moves bytes at USB full-speed bulk rates instead;
//! - the ROM loader: erases the whole region at FLASH_BEGIN/FLASH_DEFL_BEGIN before answering,
//!   inflates and programs each block before acknowledging it, hashes at its own (slow) speed,
//!   and while it is busy only its 128-byte UART FIFO takes what arrives (the rest is lost);
//! - a flasher stub: acknowledges a data block first and then erases (64 KiB blocks where it
//!   can) and programs it while the next block arrives (its receive is interrupt driven into
//!   two block buffers), and hashes and inflates at 240 MHz.
//!
//! Calibration: the only real-hardware figures there are come from the MicroPython guide this
//! project grew from (esptool 4.8.1 with its stub at 460800 baud): `Wrote 1659056 bytes
//! (1086018 compressed) at 0x00000000 in 28.0 seconds` and `Chip erase completed successfully
//! in 19.6s`. The chip erase sets [`Pace::chip_erase_per_mib`]; the write sets
//! [`Pace::bridge_turnaround`], the one parameter no datasheet gives (see its documentation for
//! the numbers). Everything else is a datasheet typical value or a stated estimate.

use std::collections::VecDeque;
use std::time::Duration;

/// Every time the paced chip charges. [`Pace::real`] is the calibrated model; the fields are
/// public so a test can build a chip with other numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pace {
    /// Bit-times per byte on the UART: 8N1 is a start bit, 8 data bits and a stop bit.
    pub uart_bits_per_byte: u32,
    /// What a USB-UART bridge adds to every change of direction: the time from the last byte of
    /// a reply leaving the chip's TX pin to the host having it, plus the time from the host's
    /// write to the first byte on the chip's RX pin. Charged once per direction change (half on
    /// each side).
    ///
    /// No datasheet gives it: USB full speed polls every 1 ms frame, CP210x bridges answer
    /// within a frame or two, FTDI bridges wait up to their 16 ms latency timer, and the host's
    /// driver and the serial library add their own.
    ///
    /// Calibration: esptool 4.8.1 with its stub at 460800 baud waits for one acknowledgement per
    /// 16 KiB block, and the guide's 28.0 s for 1086018 compressed bytes is 23.8 s of wire (10
    /// bit-times a byte plus SLIP escapes and headers) and about 4 s more over 67 blocks. At that
    /// speed the stub's erase and program work hides behind the wire (it needs ~125 ms per block
    /// of ~24 KiB against ~355 ms of wire), so what is left is turnaround and the host's own
    /// time. Charged: 16 ms, an FTDI-class bridge's default latency timer, the slow end of what
    /// bridges do. With it, esptool 4.8.1 run for real against `sim --pty --pace real` reports
    /// 26.6 s for its 1137236 compressed bytes, 25.4 s scaled to the guide's 1086018: 9.3 %
    /// under the guide, inside the ±10 % asked. A least-squares fit would put ~50 ms here,
    /// more than any bridge's latency: the rest is the guide machine's host (USB stack, Python),
    /// which a chip-side model should not charge to every client.
    pub bridge_turnaround: Duration,
    /// Bytes per second through the chip's own USB-Serial/JTAG port (`usb=jtag`), each way.
    /// USB full-speed bulk moves at most 19 64-byte packets per 1 ms frame (1.2 MB/s); the
    /// peripheral's 64-byte endpoint buffers and the loader's polling leave less. An estimate.
    pub usb_bytes_per_sec: u64,
    /// The USB-Serial/JTAG turnaround: one 1 ms USB frame each way (the host polls the IN
    /// endpoint once per frame). From the USB 2.0 full-speed frame time.
    pub usb_turnaround: Duration,
    /// Bytes the UART's receive FIFO holds while the ROM is busy (ESP32-S3 TRM, UART: 128-byte
    /// RX FIFO); what arrives beyond it is lost. The stub receives under interrupt into two
    /// block buffers and loses nothing.
    pub uart_fifo: u32,
    /// Erasing one 4 KiB sector. Datasheet typical tSE of 64 Mbit SPI NOR (W25Q64JV: 45 ms;
    /// GD25Q64C: 50 ms).
    pub sector_erase: Duration,
    /// Erasing one 64 KiB block. Datasheet typical tBE (W25Q64JV: 150 ms).
    pub block_erase: Duration,
    /// Erasing the whole chip, per MiB of flash. Calibrated on the guide's `Chip erase completed
    /// successfully in 19.6s` (an 8 MiB part, the stub's ERASE_FLASH): 19.55 s for 8 MiB, which
    /// is the datasheet's typical tCE of a W25Q64JV (20 s) within 2 %.
    pub chip_erase_per_mib: Duration,
    /// Programming one 256-byte page (pro rata for less). Datasheet typical tPP is 0.4 ms
    /// (W25Q64JV) to 0.6 ms (GD25Q64C); the ROM's write routine programs 32 bytes per command,
    /// each with its own write-enable and busy polling, which 0.7 ms per page allows for. An
    /// estimate within the datasheet range.
    pub page_program: Duration,
    /// Reading flash: 40 MHz SPI clock in DIO mode is 10 MB/s on the bus.
    pub flash_read_bytes_per_sec: u64,
    /// The ROM's SPI_FLASH_MD5: it reads and hashes with the CPU at its 40 MHz boot clock. An
    /// estimate (esptool allows 8 s per MB; the emulator that recorded the ROM transcripts took
    /// 0.9 s per MiB).
    pub rom_md5_bytes_per_sec: u64,
    /// The ROM inflating FLASH_DEFL_DATA (bytes out per second, 40 MHz CPU). An estimate.
    pub rom_inflate_bytes_per_sec: u64,
    /// Fixed cost of one command in the ROM (parse, dispatch, reply). An estimate.
    pub rom_command: Duration,
    /// A stub's SPI_FLASH_MD5 (the stub raises the CPU to 240 MHz). An estimate.
    pub stub_md5_bytes_per_sec: u64,
    /// A stub inflating FLASH_DEFL_DATA (bytes out per second, 240 MHz CPU). An estimate.
    pub stub_inflate_bytes_per_sec: u64,
    /// Fixed cost of one command in a stub. An estimate.
    pub stub_command: Duration,
}

impl Pace {
    /// The calibrated model (see the field documentation for each value and its source).
    pub fn real() -> Self {
        Pace {
            uart_bits_per_byte: 10,
            bridge_turnaround: Duration::from_millis(16),
            usb_bytes_per_sec: 1_000_000,
            usb_turnaround: Duration::from_millis(2),
            uart_fifo: 128,
            sector_erase: Duration::from_millis(45),
            block_erase: Duration::from_millis(150),
            chip_erase_per_mib: Duration::from_micros(2_443_750),
            page_program: Duration::from_micros(700),
            flash_read_bytes_per_sec: 10_000_000,
            rom_md5_bytes_per_sec: 1_500_000,
            rom_inflate_bytes_per_sec: 2_000_000,
            rom_command: Duration::from_micros(30),
            stub_md5_bytes_per_sec: 8_000_000,
            stub_inflate_bytes_per_sec: 20_000_000,
            stub_command: Duration::from_micros(10),
        }
    }

    /// Time for one byte on a UART at `baud` (10 bit-times at 8N1).
    pub fn byte_time(&self, baud: u32) -> Duration {
        per_unit(u64::from(self.uart_bits_per_byte), u64::from(baud.max(1)))
    }

    /// Time for one byte through the USB-Serial/JTAG port.
    pub fn usb_byte_time(&self) -> Duration {
        per_unit(1, self.usb_bytes_per_sec.max(1))
    }

    /// What the work of one handled command costs the CPU that did it.
    pub fn work_time(&self, work: &Work, by: Runner) -> Duration {
        let (md5_rate, inflate_rate, command) = match by {
            Runner::Rom => (
                self.rom_md5_bytes_per_sec,
                self.rom_inflate_bytes_per_sec,
                self.rom_command,
            ),
            Runner::Stub => (
                self.stub_md5_bytes_per_sec,
                self.stub_inflate_bytes_per_sec,
                self.stub_command,
            ),
        };
        let mut total = command;
        total += self.sector_erase * work.sectors_erased;
        total += self.block_erase * work.blocks_erased;
        total += scale(self.chip_erase_per_mib, work.chip_erased_bytes, 1 << 20);
        total += scale(self.page_program, work.programmed, 256);
        total += per_bytes(work.read, self.flash_read_bytes_per_sec);
        total += per_bytes(work.hashed, md5_rate);
        total += per_bytes(work.inflated, inflate_rate);
        total
    }
}

/// Who did the work: the two personalities run at different CPU clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The ROM loader (40 MHz).
    Rom,
    /// A flasher stub (240 MHz).
    Stub,
}

/// What one command made the hardware do, counted where it happens (the flash counts erases,
/// programs and reads; the loaders count hashing and inflating) and taken after each command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Work {
    /// 4 KiB sectors erased one by one.
    pub sectors_erased: u32,
    /// 64 KiB blocks erased with the block-erase command.
    pub blocks_erased: u32,
    /// Bytes erased with the chip-erase command.
    pub chip_erased_bytes: u64,
    /// Bytes programmed.
    pub programmed: u64,
    /// Bytes read from flash (not counting hashing).
    pub read: u64,
    /// Bytes hashed by SPI_FLASH_MD5 (reading included).
    pub hashed: u64,
    /// Bytes produced by inflating.
    pub inflated: u64,
    /// The loader answered before doing the work (a stub's data blocks): the reply leaves at
    /// once and the CPU stays busy afterwards.
    pub reply_first: bool,
}

impl Work {
    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == Work::default()
    }
}

/// The paced chip's byte channel in time: when each received byte arrives and is taken by the
/// CPU (the ROM's FIFO overflowing while it is busy), when the CPU is free again, and when each
/// piece of output reaches the host. Input is handled as soon as it is received, at the virtual
/// time it would be handled on silicon; output waits in [`Timeline`] until the chip's time
/// reaches the moment the host would have it.
#[derive(Debug)]
pub(crate) struct Timeline {
    /// The chip's time: how far its server has moved it.
    pub now: Duration,
    /// When the host-to-chip wire has carried everything queued on it.
    rx_free: Duration,
    /// When the chip-to-host wire has carried everything queued on it.
    tx_free: Duration,
    /// When the CPU has finished the last command's work.
    cpu_free: Duration,
    /// When each byte now waiting in the receive FIFO will be taken by the CPU.
    fifo: VecDeque<Duration>,
    /// Output on its way to the host, in order.
    out: VecDeque<Piece>,
    /// What crossed the link and kept the CPU busy so far.
    pub stats: PaceStats,
}

/// What a paced chip's link carried and its CPU did, for a benchmark's "ratio to the wire
/// limit".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaceStats {
    /// Bytes the host sent.
    pub to_chip_bytes: u64,
    /// Bytes the chip sent.
    pub to_host_bytes: u64,
    /// Their time on the wire, at the rates they were sent at.
    pub to_chip_wire: Duration,
    /// The chip's bytes' time on the wire.
    pub to_host_wire: Duration,
    /// Time the CPU spent on commands (erasing, programming, hashing, inflating).
    pub busy: Duration,
}

/// Output that reaches the host at `ready`, sent at `baud` (a host at another speed hears
/// garbage).
#[derive(Debug)]
pub(crate) struct Piece {
    /// When the host has it.
    pub ready: Duration,
    /// The UART speed it was sent at (0 over USB, where speed means nothing).
    pub baud: u32,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// How bytes cross one direction of the link.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wire {
    /// One byte's time on the wire.
    pub byte_time: Duration,
    /// Added once on the way (half the bridge's turnaround).
    pub latency: Duration,
    /// The speed, for telling a host at another speed (0 over USB).
    pub baud: u32,
}

/// Output is released to the host in pieces of at most this many bytes (a USB packet).
const PIECE: usize = 64;

impl Timeline {
    /// A link at rest at time zero.
    pub fn new() -> Self {
        Timeline {
            now: Duration::ZERO,
            rx_free: Duration::ZERO,
            tx_free: Duration::ZERO,
            cpu_free: Duration::ZERO,
            fifo: VecDeque::new(),
            out: VecDeque::new(),
            stats: PaceStats::default(),
        }
    }

    /// Put `len` bytes the host writes now on the wire; returns when the first byte's last bit
    /// arrives less one byte time, so byte `i` arrives at `start + (i + 1) × byte_time`.
    pub fn send_to_chip(&mut self, len: usize, wire: Wire) -> Duration {
        let start = (self.now + wire.latency).max(self.rx_free);
        let time = wire.byte_time * u32::try_from(len).unwrap_or(u32::MAX);
        self.rx_free = start + time;
        self.stats.to_chip_bytes += len as u64;
        self.stats.to_chip_wire += time;
        start
    }

    /// A byte arriving at `arrival`: when the CPU takes it, or `None` when it is lost because
    /// the CPU was busy and `fifo` bytes were already waiting (`None` = no limit).
    pub fn admit(&mut self, arrival: Duration, fifo: Option<u32>) -> Option<Duration> {
        while self.fifo.front().is_some_and(|taken| *taken <= arrival) {
            self.fifo.pop_front();
        }
        let taken = arrival.max(self.cpu_free);
        if taken > arrival {
            if fifo.is_some_and(|cap| self.fifo.len() >= cap as usize) {
                return None;
            }
            self.fifo.push_back(taken);
        }
        Some(taken)
    }

    /// A command taken at `at` kept the CPU busy for `work`; its reply (`reply`) leaves before
    /// the work when `reply_first`, else after it. The CPU also waits while a reply longer than
    /// the TX FIFO drains. Returns when the work ends.
    pub fn handled(
        &mut self,
        at: Duration,
        work: Duration,
        reply_first: bool,
        reply: Vec<u8>,
        wire: Wire,
        tx_fifo: u32,
    ) -> Duration {
        let done = at + work;
        self.stats.busy += work;
        let reply_at = if reply_first { at } else { done };
        let sent = self.emit(reply_at, reply, wire);
        let fifo_time = wire.byte_time * tx_fifo;
        self.cpu_free = done.max(sent.saturating_sub(fifo_time));
        done
    }

    /// Queue output that starts leaving at `at` (or when the wire is free). Returns when its
    /// last byte has left.
    pub fn emit(&mut self, at: Duration, bytes: Vec<u8>, wire: Wire) -> Duration {
        if bytes.is_empty() {
            return at;
        }
        let mut start = at.max(self.tx_free);
        self.stats.to_host_bytes += bytes.len() as u64;
        self.stats.to_host_wire += wire.byte_time * bytes.len() as u32;
        for piece in bytes.chunks(PIECE) {
            start += wire.byte_time * piece.len() as u32;
            self.out.push_back(Piece {
                ready: start + wire.latency,
                baud: wire.baud,
                bytes: piece.to_vec(),
            });
        }
        self.tx_free = start;
        start
    }

    /// The power went: output still on its way is lost.
    pub fn lose_output(&mut self) {
        self.out.clear();
        self.tx_free = self.now;
    }

    /// The output the host has by now.
    pub fn take_ready(&mut self) -> Vec<Piece> {
        let mut ready = Vec::new();
        while self.out.front().is_some_and(|p| p.ready <= self.now) {
            ready.extend(self.out.pop_front());
        }
        ready
    }

    /// True when output has reached the host.
    pub fn has_ready(&self) -> bool {
        self.out.front().is_some_and(|p| p.ready <= self.now)
    }

    /// How long until the next output reaches the host (`None`: nothing is on its way).
    pub fn next_ready_in(&self) -> Option<Duration> {
        self.out.front().map(|p| p.ready.saturating_sub(self.now))
    }
}

/// `units` units at `per` each… as `per × numerator / denominator` without overflow.
fn per_unit(numerator: u64, denominator: u64) -> Duration {
    let nanos = u128::from(numerator) * 1_000_000_000 / u128::from(denominator);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// `base × amount / unit`.
fn scale(base: Duration, amount: u64, unit: u64) -> Duration {
    let nanos = base.as_nanos() * u128::from(amount) / u128::from(unit.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// `bytes` at `rate` bytes per second.
fn per_bytes(bytes: u64, rate: u64) -> Duration {
    if bytes == 0 {
        return Duration::ZERO;
    }
    per_unit(bytes, rate.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_is_ten_bit_times() {
        let pace = Pace::real();
        assert_eq!(pace.byte_time(115_200), Duration::from_nanos(86_805));
        assert_eq!(pace.byte_time(460_800), Duration::from_nanos(21_701));
        assert_eq!(pace.byte_time(1_000_000), Duration::from_micros(10));
    }

    #[test]
    fn work_adds_up_by_runner() {
        let pace = Pace::real();
        let erase_and_write = Work {
            blocks_erased: 1,
            sectors_erased: 2,
            programmed: 512,
            ..Work::default()
        };
        // 150 + 2 × 45 ms of erase, two pages at 0.7 ms, and the ROM's command overhead.
        assert_eq!(
            pace.work_time(&erase_and_write, Runner::Rom),
            Duration::from_micros(150_000 + 90_000 + 1_400 + 30)
        );
        let hash = Work {
            hashed: 1_500_000,
            ..Work::default()
        };
        assert_eq!(
            pace.work_time(&hash, Runner::Rom),
            Duration::from_micros(1_000_030)
        );
        assert_eq!(
            pace.work_time(&hash, Runner::Stub),
            Duration::from_micros(187_500 + 10)
        );
        let chip = Work {
            chip_erased_bytes: 8 << 20,
            ..Work::default()
        };
        assert_eq!(
            pace.work_time(&chip, Runner::Stub),
            Duration::from_millis(19_550) + Duration::from_micros(10)
        );
    }
}
