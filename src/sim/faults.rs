//! Faults on the virtual chip's line, in its loaders and in its flash, as a real USB-UART bridge,
//! USB cable, ROM or NOR flash produces them: [`Faults`] says which and how often
//! (`sim://?fault-seed=7&drop=1e-5&flip=1e-5&late=0.01&reset-at=300K`, the same options on
//! `cargo esp32s3 sim --faults`), and `FaultLine` applies them to the chip's byte streams.
//! Everything is drawn from one seeded generator, so a run is repeated exactly by its seed.
//!
//! What each fault is, and where it happens:
//! - `drop`, `flip` (per byte, both directions): a byte lost (a UART overrun or framing error
//!   the bridge discards) or one of its bits inverted (line noise).
//! - `dup` (per reply): the chip's reply arrives twice, as a reply to a command the host sent
//!   again does.
//! - `truncate` (per reply): a reply's tail is lost up to its closing delimiter.
//! - `noise` (per reply): junk bytes on the line before a reply (a glitch when a cable is touched).
//! - `late` (per reply), `late-by` (how long, 4 s unless set): the line stalls before a reply, a
//!   bridge or a loaded host holding the bytes back; everything behind it waits, since a serial
//!   line never reorders. Past the host's timeout, the reply arrives as the answer to nothing.
//! - `error` (per command): the loader takes a command as garbled and answers it with a failure
//!   status instead of acting on it (ROM `01 07` for a data packet, `01 05` for any other; a
//!   stub's `C1`/`C0`).
//! - `reset-at` (bytes received): the RTC watchdog resets the chip mid-transfer (as it does over
//!   USB-Serial/JTAG when nobody disabled it): the ROM prints its banner and boots from flash.
//! - `unplug-at` (bytes received), `replug` (`same`, `other`, `never`), `replug-after` (2 s unless
//!   set): the USB cable is pulled; the chip loses power and its port disappears, and after the
//!   time given the device comes back, powered on, under the same name or another (the chip's
//!   own USB port keeps its serial number, the MAC; a bridge's has none, so under another name
//!   it cannot be recognised).
//! - `program-fail` (per program operation), `bad-sector` (a sector address): the flash leaves a
//!   bit unprogrammed; the loader reads back what it programmed and answers with its flash-write
//!   failure. A bad sector fails every time, a rate now and then.
//!
//! It names nothing of the crate but `crate::sim` and `crate::protocol::slip`.

use std::collections::VecDeque;
use std::time::Duration;

use crate::protocol::slip;

/// Which faults, how often, from which seed. The default is a perfect line.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// The generator's seed (`fault-seed=N`).
    pub seed: u64,
    /// Probability that a byte is lost, each direction (`drop=RATE`).
    pub drop: f64,
    /// Probability that a byte has one bit inverted, each direction (`flip=RATE`).
    pub flip: f64,
    /// Probability that a reply is sent twice (`dup=RATE`).
    pub dup: f64,
    /// Probability that a reply loses its tail (`truncate=RATE`).
    pub truncate: f64,
    /// Probability of junk bytes before a reply (`noise=RATE`).
    pub noise: f64,
    /// Probability that the line stalls before a reply (`late=RATE`).
    pub late: f64,
    /// How long a stall lasts (`late-by=DURATION`).
    pub late_by: Duration,
    /// Probability that a command is answered with a failure status, not acted on
    /// (`error=RATE`).
    pub error: f64,
    /// The RTC watchdog resets the chip once this many bytes arrived (`reset-at=BYTES`).
    pub reset_at: Option<u64>,
    /// The cable is pulled once this many bytes arrived (`unplug-at=BYTES`).
    pub unplug_at: Option<u64>,
    /// Where the device comes back (`replug=same|other|never`).
    pub replug: Replug,
    /// How long the device is away (`replug-after=DURATION`).
    pub replug_after: Duration,
    /// Probability that a flash program operation leaves a bit unprogrammed
    /// (`program-fail=RATE`).
    pub program_fail: f64,
    /// Sectors (their addresses) that never program right (`bad-sector=OFFSET`, several
    /// joined with `+`).
    pub bad_sectors: Vec<u32>,
}

/// Where an unplugged device comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Replug {
    /// Under the same name.
    #[default]
    Same,
    /// Under another name (the USB serial number is what stays).
    Other,
    /// Not at all.
    Never,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            seed: 1,
            drop: 0.0,
            flip: 0.0,
            dup: 0.0,
            truncate: 0.0,
            noise: 0.0,
            late: 0.0,
            late_by: Duration::from_secs(4),
            error: 0.0,
            reset_at: None,
            unplug_at: None,
            replug: Replug::Same,
            replug_after: Duration::from_secs(2),
            program_fail: 0.0,
            bad_sectors: Vec::new(),
        }
    }
}

impl Faults {
    /// True when nothing is ever injected.
    pub fn is_none(&self) -> bool {
        let quiet = Faults {
            seed: self.seed,
            late_by: self.late_by,
            replug: self.replug,
            replug_after: self.replug_after,
            ..Faults::default()
        };
        *self == quiet
    }

    /// True when a fault happens on the line or in the loaders (not only in the flash).
    fn on_line(&self) -> bool {
        self.drop > 0.0
            || self.flip > 0.0
            || self.dup > 0.0
            || self.truncate > 0.0
            || self.noise > 0.0
            || self.late > 0.0
            || self.error > 0.0
            || self.reset_at.is_some()
            || self.unplug_at.is_some()
    }
}

/// How many faults of each kind were injected (the soak reports them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Bytes dropped.
    pub dropped: u64,
    /// Bytes with a bit flipped.
    pub flipped: u64,
    /// Replies sent twice.
    pub duplicated: u64,
    /// Replies cut short.
    pub truncated: u64,
    /// Bursts of noise.
    pub noise: u64,
    /// Stalls before a reply.
    pub late: u64,
    /// Commands answered with a failure status.
    pub errors: u64,
    /// Watchdog resets injected.
    pub resets: u64,
    /// Unplugs.
    pub unplugs: u64,
    /// Program operations that left a bit unprogrammed.
    pub program_failures: u64,
}

/// A small deterministic generator (SplitMix64): the same seed, the same faults.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed`, one stream per `stream` (line, flash).
    pub fn new(seed: u64, stream: u64) -> Self {
        Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F))
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64) < p * (1u64 << 53) as f64
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// What the chip does with a stretch of received bytes, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// Bytes for whatever the CPU runs.
    Bytes(Vec<u8>),
    /// A command frame (opcode) the loader takes as garbled: answer it with a failure.
    Reject(u8),
    /// The RTC watchdog strikes now.
    Reset,
    /// The cable is pulled now.
    Unplug,
}

/// Where the receive side is in the host's SLIP stream (to tell commands apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RxFrame {
    /// Between frames.
    Idle,
    /// Right after an opening delimiter.
    Opened,
    /// Inside a frame passed on.
    Passing,
    /// Inside a frame being swallowed (`seen` content bytes so far, the opcode once known).
    Rejecting { seen: u32, op: u8 },
}

/// The faults in action on one chip: the generator, the one-shot triggers, the frame tracking
/// of commands and the stall of the outgoing line.
#[derive(Debug)]
pub(crate) struct FaultLine {
    cfg: Faults,
    rng: Rng,
    /// Bytes that reached the chip so far (for the one-shot triggers).
    received: u64,
    reset_done: bool,
    unplug_done: bool,
    rx: RxFrame,
    /// The chip's time as its server moved it.
    now: Duration,
    /// Output held back by a stall, and when the stall ends.
    held: VecDeque<u8>,
    stall_until: Duration,
    /// What was injected.
    pub counts: FaultCounts,
}

impl FaultLine {
    /// The faults of `cfg`, or `None` when the line is perfect (the flash's own faults are set
    /// up apart, see [`FaultLine::flash_faults`]).
    pub fn new(cfg: &Faults) -> Option<Self> {
        cfg.on_line().then(|| FaultLine {
            rng: Rng::new(cfg.seed, 1),
            cfg: cfg.clone(),
            received: 0,
            reset_done: false,
            unplug_done: false,
            rx: RxFrame::Idle,
            now: Duration::ZERO,
            held: VecDeque::new(),
            stall_until: Duration::ZERO,
            counts: FaultCounts::default(),
        })
    }

    /// The flash's faults for `cfg`, when it has any.
    pub fn flash_faults(cfg: &Faults) -> Option<FlashFaults> {
        (cfg.program_fail > 0.0 || !cfg.bad_sectors.is_empty()).then(|| FlashFaults {
            rate: cfg.program_fail,
            bad_sectors: cfg.bad_sectors.iter().map(|s| s & !0xFFF).collect(),
            rng: Rng::new(cfg.seed, 2),
            failures: 0,
        })
    }

    /// Time passed for the chip.
    pub fn advance(&mut self, elapsed: Duration) {
        self.now += elapsed;
    }

    /// Bytes from the host on their way in: bytes lost and bits flipped, commands to reject
    /// taken out, and where a one-shot trigger strikes. `loader` says whether a loader runs
    /// (only its commands are rejected).
    pub fn inbound(&mut self, bytes: &[u8], loader: bool) -> Vec<Inbound> {
        let mut pieces = Vec::new();
        let mut pass = Vec::new();
        for &byte in bytes {
            let Some(byte) = self.through(byte) else {
                continue;
            };
            self.received += 1;
            if loader {
                match self.track(byte) {
                    Track::Pass => pass.push(byte),
                    Track::Swallow => {}
                    Track::Rejected(op) => {
                        pieces.push(Inbound::Bytes(std::mem::take(&mut pass)));
                        pieces.push(Inbound::Reject(op));
                    }
                }
            } else {
                pass.push(byte);
            }
            if !self.reset_done && self.cfg.reset_at.is_some_and(|at| self.received >= at) {
                self.reset_done = true;
                self.counts.resets += 1;
                self.rx = RxFrame::Idle;
                pieces.push(Inbound::Bytes(std::mem::take(&mut pass)));
                pieces.push(Inbound::Reset);
            }
            if !self.unplug_done && self.cfg.unplug_at.is_some_and(|at| self.received >= at) {
                self.unplug_done = true;
                self.counts.unplugs += 1;
                self.rx = RxFrame::Idle;
                pieces.push(Inbound::Bytes(std::mem::take(&mut pass)));
                pieces.push(Inbound::Unplug);
                // Nothing more arrives: the port is gone.
                return pieces;
            }
        }
        pieces.push(Inbound::Bytes(pass));
        pieces.retain(|p| !matches!(p, Inbound::Bytes(b) if b.is_empty()));
        pieces
    }

    /// One byte across the line: lost, flipped or as sent.
    fn through(&mut self, byte: u8) -> Option<u8> {
        if self.rng.chance(self.cfg.drop) {
            self.counts.dropped += 1;
            return None;
        }
        if self.rng.chance(self.cfg.flip) {
            self.counts.flipped += 1;
            return Some(byte ^ (1 << self.rng.below(8)));
        }
        Some(byte)
    }

    /// Follow the host's frames; decide at each frame's first byte whether the loader will
    /// take it as garbled.
    fn track(&mut self, byte: u8) -> Track {
        match self.rx {
            RxFrame::Idle | RxFrame::Passing if byte == slip::END => {
                self.rx = RxFrame::Opened;
                Track::Pass
            }
            RxFrame::Idle | RxFrame::Passing => Track::Pass,
            RxFrame::Opened if byte == slip::END => Track::Pass,
            RxFrame::Opened => {
                if self.rng.chance(self.cfg.error) {
                    self.rx = RxFrame::Rejecting { seen: 1, op: 0 };
                    Track::Swallow
                } else {
                    self.rx = RxFrame::Passing;
                    Track::Pass
                }
            }
            RxFrame::Rejecting { op, .. } if byte == slip::END => {
                self.rx = RxFrame::Idle;
                self.counts.errors += 1;
                Track::Rejected(op)
            }
            RxFrame::Rejecting { seen, op } => {
                // The opcode is the second byte of a command (after the direction byte).
                let op = if seen == 1 { byte } else { op };
                self.rx = RxFrame::Rejecting { seen: seen + 1, op };
                Track::Swallow
            }
        }
    }

    /// A reply the loader just produced, as it leaves: sent twice, cut short, after noise, or
    /// after a stall (which holds back everything behind it). Returns the bytes and the stall
    /// to charge (zero when none).
    pub fn reply(&mut self, reply: Vec<u8>) -> (Vec<u8>, Duration) {
        if reply.is_empty() {
            return (reply, Duration::ZERO);
        }
        let mut out = Vec::with_capacity(reply.len() + 16);
        if self.rng.chance(self.cfg.noise) {
            self.counts.noise += 1;
            let len = 1 + self.rng.below(24);
            out.extend((0..len).map(|_| self.rng.next() as u8));
        }
        let mut reply = reply;
        if self.rng.chance(self.cfg.truncate) && reply.len() > 2 {
            self.counts.truncated += 1;
            // Keep the opening delimiter and some bytes, then the closing one.
            let keep = 1 + self.rng.below(reply.len() as u64 - 2) as usize;
            reply.truncate(keep);
            reply.push(slip::END);
        }
        out.extend_from_slice(&reply);
        if self.rng.chance(self.cfg.dup) {
            self.counts.duplicated += 1;
            out.extend_from_slice(&reply);
        }
        let stall = if self.rng.chance(self.cfg.late) {
            self.counts.late += 1;
            self.cfg.late_by
        } else {
            Duration::ZERO
        };
        (out, stall)
    }

    /// Hold the outgoing line from now for `stall` (an unpaced chip; a paced one charges it as
    /// time before the reply leaves).
    pub fn stall(&mut self, stall: Duration) {
        if !stall.is_zero() {
            self.stall_until = self.stall_until.max(self.now + stall);
        }
    }

    /// Output on its way to the host (an unpaced chip): bytes lost and flipped, and what a
    /// stall holds back kept until it ends. Returns what the host has now.
    pub fn outbound(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        let passed = self.bytes_out(bytes);
        self.held.extend(passed);
        if self.stalled() {
            return Vec::new();
        }
        self.held.drain(..).collect()
    }

    /// Bytes lost and flipped on the way out (a paced chip's output, whose stalls are time).
    pub fn bytes_out(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        if self.cfg.drop == 0.0 && self.cfg.flip == 0.0 {
            return bytes;
        }
        bytes.into_iter().filter_map(|b| self.through(b)).collect()
    }

    /// True while a stall holds the line.
    pub fn stalled(&self) -> bool {
        self.now < self.stall_until
    }

    /// True when held output will reach the host once the stall ends.
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// How long until the stall ends (`None` when the line is not stalled).
    pub fn stall_left(&self) -> Option<Duration> {
        self.stalled().then(|| self.stall_until - self.now)
    }

    /// The cable was pulled or the chip reset: what was on its way is lost.
    pub fn lose_output(&mut self) {
        self.held.clear();
        self.stall_until = self.now;
        self.rx = RxFrame::Idle;
    }

    /// The stall's length for a replug (how long the device stays away), `None` for never.
    pub fn replug_after(&self) -> Option<Duration> {
        (self.cfg.replug != Replug::Never).then_some(self.cfg.replug_after)
    }

    /// Where the device comes back.
    pub fn replug(&self) -> Replug {
        self.cfg.replug
    }
}

/// What [`FaultLine::track`] decided for one byte.
enum Track {
    Pass,
    Swallow,
    Rejected(u8),
}

/// The failure reply a loader sends for a command it takes as garbled: the ROM's `01 07`
/// (checksum) for a data packet and `01 05` (bad format) for any other, with its two further
/// status bytes; a stub's `C1 00` (checksum) or `C0 00` (bad data length).
pub(crate) fn rejection(op: u8, stub: bool) -> Vec<u8> {
    let data_packet = matches!(op, 0x03 | 0x07 | 0x11);
    let status: &[u8] = match (stub, data_packet) {
        (false, true) => &[0x01, 0x07, 0x00, 0x00],
        (false, false) => &[0x01, 0x05, 0x00, 0x00],
        (true, true) => &[0xC1, 0x00],
        (true, false) => &[0xC0, 0x00],
    };
    let mut packet = vec![0x01, op];
    packet.extend_from_slice(&(status.len() as u16).to_le_bytes());
    packet.extend_from_slice(&[0; 4]);
    packet.extend_from_slice(status);
    slip::encode(&packet)
}

/// The flash's faults: program operations that leave a bit unprogrammed.
#[derive(Debug, Clone)]
pub struct FlashFaults {
    rate: f64,
    bad_sectors: Vec<u32>,
    rng: Rng,
    /// Program operations that failed.
    pub failures: u64,
}

impl FlashFaults {
    /// For a program of `bytes` at `addr`: which bytes keep their old bits (a range of the
    /// operation, for a bad sector: none of it programs) or which byte keeps one bit that
    /// should have gone to 0 (now and then), when this operation fails.
    pub fn failure(&mut self, addr: u32, bytes: &[u8]) -> Option<ProgramFailure> {
        let len = bytes.len();
        if len == 0 {
            return None;
        }
        let end = u64::from(addr) + len as u64;
        let bad = self
            .bad_sectors
            .iter()
            .find(|s| u64::from(**s) + 0x1000 > u64::from(addr) && u64::from(**s) < end)
            .copied();
        if let Some(sector) = bad {
            self.failures += 1;
            let first = sector.saturating_sub(addr) as usize;
            let last = ((u64::from(sector) + 0x1000).min(end) - u64::from(addr)) as usize;
            return Some(ProgramFailure::Unprogrammed(first..last));
        }
        if !self.rng.chance(self.rate) {
            return None;
        }
        // A bit that should go to 0 and stays 1.
        let start = self.rng.below(len as u64) as usize;
        let at = (start..len)
            .chain(0..start)
            .find(|&i| bytes.get(i).is_some_and(|b| *b != 0xFF))?;
        let byte = bytes.get(at).copied().unwrap_or(0);
        self.failures += 1;
        // Its lowest 0 bit.
        Some(ProgramFailure::StuckBit(at, !byte & byte.wrapping_add(1)))
    }
}

/// How one program operation fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramFailure {
    /// These bytes of the operation keep what they held (a bad sector).
    Unprogrammed(std::ops::Range<usize>),
    /// This byte of the operation keeps this bit (a mask) at 1.
    StuckBit(usize, u8),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let cfg = Faults {
            seed: 42,
            drop: 0.01,
            flip: 0.01,
            ..Faults::default()
        };
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 200) as u8).collect();
        let run = || {
            let mut line = FaultLine::new(&cfg).expect("faults");
            line.inbound(&data, false)
        };
        assert_eq!(run(), run());
        let Inbound::Bytes(got) = &run()[0] else {
            panic!("bytes");
        };
        assert!(got.len() < data.len() && got.len() > data.len() - 300);
    }

    #[test]
    fn a_rejected_command_is_taken_out_and_named() {
        let cfg = Faults {
            error: 1.0,
            ..Faults::default()
        };
        let mut line = FaultLine::new(&cfg).expect("faults");
        let frame = [0xC0, 0x00, 0x0A, 0x04, 0x00, 0, 0, 0, 0, 1, 2, 3, 4, 0xC0];
        let pieces = line.inbound(&frame, true);
        assert_eq!(
            pieces,
            vec![Inbound::Bytes(vec![0xC0]), Inbound::Reject(0x0A)]
        );
        assert_eq!(
            rejection(0x0A, false),
            vec![
                0xC0, 0x01, 0x0A, 0x04, 0x00, 0, 0, 0, 0, 0x01, 0x05, 0, 0, 0xC0
            ]
        );
    }

    #[test]
    fn triggers_strike_once_at_their_byte() {
        let cfg = Faults {
            reset_at: Some(3),
            unplug_at: Some(5),
            ..Faults::default()
        };
        let mut line = FaultLine::new(&cfg).expect("faults");
        let pieces = line.inbound(&[1, 2, 3, 4, 5, 6, 7], false);
        assert_eq!(
            pieces,
            vec![
                Inbound::Bytes(vec![1, 2, 3]),
                Inbound::Reset,
                Inbound::Bytes(vec![4, 5]),
                Inbound::Unplug
            ]
        );
        assert_eq!(line.inbound(&[8], false), vec![Inbound::Bytes(vec![8])]);
    }

    #[test]
    fn a_stall_holds_everything_behind_it() {
        let cfg = Faults {
            late: 1.0,
            late_by: Duration::from_secs(1),
            ..Faults::default()
        };
        let mut line = FaultLine::new(&cfg).expect("faults");
        let (bytes, stall) = line.reply(vec![0xC0, 1, 0xC0]);
        line.stall(stall);
        assert!(line.outbound(bytes).is_empty());
        assert!(line.outbound(vec![7]).is_empty());
        assert_eq!(line.stall_left(), Some(Duration::from_secs(1)));
        line.advance(Duration::from_secs(1));
        assert_eq!(line.outbound(Vec::new()), vec![0xC0, 1, 0xC0, 7]);
    }

    #[test]
    fn a_bad_sector_fails_every_program_that_touches_it() {
        let cfg = Faults {
            bad_sectors: vec![0x11000],
            ..Faults::default()
        };
        let mut flash = FaultLine::flash_faults(&cfg).expect("flash faults");
        assert_eq!(flash.failure(0x10000, &[0; 0x1000]), None);
        assert_eq!(
            flash.failure(0x10000, &[0; 0x3000]),
            Some(ProgramFailure::Unprogrammed(0x1000..0x2000))
        );
        assert_eq!(
            flash.failure(0x11800, &[0; 0x100]),
            Some(ProgramFailure::Unprogrammed(0..0x100))
        );
        assert!(FaultLine::new(&cfg).is_none());
        let mut sometimes = FaultLine::flash_faults(&Faults {
            program_fail: 1.0,
            ..Faults::default()
        })
        .expect("flash faults");
        assert_eq!(
            sometimes.failure(0, &[0xFF, 0xFF, 0b1010_0000]),
            Some(ProgramFailure::StuckBit(2, 0b0000_0001))
        );
        assert_eq!(sometimes.failure(0, &[0xFF; 4]), None);
    }
}
