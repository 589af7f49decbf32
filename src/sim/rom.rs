//! The ESP32-S3 mask ROM's UART download loader (`esp32s3-20210327`), byte for byte as the
//! real ROM answers in `testdata/rom-transcripts` (§18 of the facts).
//!
//! The ROM's quirks are modelled as the state that causes them rather than as special cases:
//! - one persistent request buffer: each frame overwrites it from offset 0, so a short packet
//!   reuses the previous packet's later bytes; the length field is ignored and the payload
//!   length is what arrived; a frame longer than the buffer gets `01 05`;
//! - one shared reply buffer: payloads are written from offset 0, the status and error bytes
//!   right after, and the two bytes after those are never written (stale);
//! - a persistent `value` (changed only by SYNC and READ_REG) and a persistent error byte that
//!   some successes clear and others keep;
//! - unsupported opcodes re-send the previous reply header with `01 05`, as often as that reply
//!   was sent (8 after SYNC);
//! - a data packet's sequence number is consumed once its header checks pass, even when the
//!   checksum then fails.
//!
//! It parses packets with its own code (never the host's encoder) and talks to the hardware
//! only through [`Hw`]; the chip decides what resets and jumps mean.

use flate2::Decompress;

use super::block;
use super::boot::ResetCause;
use super::bus::{Fault, Hw};
use crate::protocol::slip;

/// Largest frame the ROM's receive buffer holds: command header, data-packet header and a
/// 0x1800-byte block.
const RX_CAPACITY: usize = 8 + 16 + MAX_BLOCK as usize;
/// Largest block FLASH_BEGIN, FLASH_DEFL_BEGIN and MEM_BEGIN accept.
const MAX_BLOCK: u32 = 0x1800;
/// The shared reply buffer (64-byte READ_FLASH_SLOW payload plus status and stale bytes).
const REPLY_CAPACITY: usize = 128;
/// Flash size the ROM assumes until SPI_SET_PARAMS.
const DEFAULT_FLASH_SIZE: u32 = 2 * 1024 * 1024;
/// Replies the ROM sends for one SYNC.
const SYNC_REPLIES: usize = 8;

/// ROM error codes (second status byte).
mod err {
    pub const BAD_FORMAT: u8 = 0x05;
    pub const RESULT_WRONG: u8 = 0x06;
    pub const CHECKSUM: u8 = 0x07;
    pub const FLASH_WRITE: u8 = 0x08;
    pub const FLASH_READ: u8 = 0x09;
    pub const READ_LENGTH: u8 = 0x0A;
    pub const DEFLATE: u8 = 0x0B;
}

/// What a success does to the persistent error byte.
#[derive(Clone, Copy)]
enum Success {
    /// Set it to 0.
    Clear,
    /// Leave the previous failure's code in place.
    Keep,
}

/// Something the chip must do after a packet (beyond the reply already queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Reset the chip.
    Reset(ResetCause),
    /// Leave the loader for "user code" (prints `user code done`, then nothing answers).
    ExitLoader,
    /// Jump to code loaded in RAM.
    Jump(u32),
    /// The CPU faulted (Guru Meditation).
    Crash(Fault, Access),
    /// Switch UART0 to a new baud rate.
    Baud(u32),
}

/// The kind of access that faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A load.
    Load,
    /// A store.
    Store,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rx {
    Idle,
    Frame,
    Escape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    Plain,
    Deflate,
}

struct FlashWrite {
    kind: WriteKind,
    addr: u32,
    next_seq: u32,
    block_size: u32,
    inflater: Box<Decompress>,
    inflate_failed: bool,
}

struct MemWrite {
    addr: u32,
    next_seq: u32,
    block_size: u32,
}

/// What Secure Download Mode leaves of the ROM loader (§2): FLASH_BEGIN/DATA/END, SYNC,
/// SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE and GET_SECURITY_INFO. Anything else gets the
/// "invalid message" reply, as an unknown command does.
const SECURE_DOWNLOAD_OPS: [u8; 8] = [0x02, 0x03, 0x04, 0x08, 0x0B, 0x0D, 0x0F, 0x14];

/// The ROM loader's state.
pub(crate) struct RomLoader {
    req: Box<[u8; RX_CAPACITY]>,
    rx: Rx,
    rx_len: usize,
    rx_overflow: bool,
    reply: [u8; REPLY_CAPACITY],
    value: u32,
    error: u8,
    last_op: u8,
    last_count: usize,
    flash_size: u32,
    flash: Option<FlashWrite>,
    mem: Option<MemWrite>,
}

impl std::fmt::Debug for RomLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RomLoader")
            .field("value", &self.value)
            .field("error", &self.error)
            .field("flash_size", &self.flash_size)
            .finish_non_exhaustive()
    }
}

fn word(buf: &[u8], at: usize) -> u32 {
    let b = |i: usize| buf.get(at + i).copied().unwrap_or(0);
    u32::from_le_bytes([b(0), b(1), b(2), b(3)])
}

impl RomLoader {
    /// The loader as the ROM starts it after a reset.
    pub(crate) fn new() -> Self {
        RomLoader {
            req: Box::new([0; RX_CAPACITY]),
            rx: Rx::Idle,
            rx_len: 0,
            rx_overflow: false,
            reply: [0; REPLY_CAPACITY],
            value: 0,
            error: 0,
            last_op: 0,
            last_count: 1,
            flash_size: DEFAULT_FLASH_SIZE,
            flash: None,
            mem: None,
        }
    }

    /// Take bytes from the UART. Stops right after each handled packet (so that a paced chip
    /// can charge its time before the next one); returns how many bytes were consumed, what the
    /// chip must do, and whether a packet was handled.
    pub(crate) fn receive(
        &mut self,
        bytes: &[u8],
        hw: &mut Hw,
        out: &mut Vec<u8>,
    ) -> (usize, Option<Action>, bool) {
        for (i, &b) in bytes.iter().enumerate() {
            if let Some(len) = self.rx_byte(b) {
                let action = self.handle(len, hw, out);
                return (i + 1, action, true);
            }
        }
        (bytes.len(), None, false)
    }

    /// SLIP receive into the persistent buffer. Returns the frame length when a frame ends.
    fn rx_byte(&mut self, b: u8) -> Option<usize> {
        match self.rx {
            // Bytes outside a frame are ignored; only C0 opens one.
            Rx::Idle => {
                if b == slip::END {
                    self.rx = Rx::Frame;
                    self.rx_len = 0;
                    self.rx_overflow = false;
                }
                None
            }
            Rx::Frame => match b {
                // C0 C0: a repeated delimiter, not an empty frame.
                slip::END if self.rx_len == 0 && !self.rx_overflow => None,
                slip::END => {
                    self.rx = Rx::Idle;
                    Some(self.rx_len)
                }
                slip::ESC => {
                    self.rx = Rx::Escape;
                    None
                }
                _ => {
                    self.store(b);
                    None
                }
            },
            Rx::Escape => {
                self.rx = Rx::Frame;
                // DB DC → C0, DB DD → DB, DB xx → xx (the ROM does not reject bad escapes).
                let decoded = match b {
                    slip::ESC_END => slip::END,
                    slip::ESC_ESC => slip::ESC,
                    other => other,
                };
                self.store(decoded);
                None
            }
        }
    }

    fn store(&mut self, b: u8) {
        if self.rx_len < RX_CAPACITY {
            self.req[self.rx_len] = b;
            self.rx_len += 1;
        } else {
            self.rx_overflow = true;
        }
    }

    fn w(&self, at: usize) -> u32 {
        word(&self.req[..], at)
    }

    /// Queue a reply: `payload_len` bytes of the reply buffer, then status, error and the two
    /// stale bytes; sent `count` times.
    fn reply(
        &mut self,
        op: u8,
        payload_len: usize,
        result: Result<Success, u8>,
        count: usize,
        out: &mut Vec<u8>,
    ) {
        let status = match result {
            Ok(Success::Clear) => {
                self.error = 0;
                0
            }
            Ok(Success::Keep) => 0,
            Err(code) => {
                self.error = code;
                1
            }
        };
        self.reply[payload_len] = status;
        self.reply[payload_len + 1] = self.error;
        let body_len = payload_len + 4;
        let mut packet = Vec::with_capacity(8 + body_len);
        packet.extend_from_slice(&[0x01, op]);
        packet.extend_from_slice(&(body_len as u16).to_le_bytes());
        packet.extend_from_slice(&self.value.to_le_bytes());
        packet.extend_from_slice(&self.reply[..body_len]);
        for _ in 0..count {
            slip::encode_into(&packet, out);
        }
        self.last_op = op;
        self.last_count = count;
    }

    /// The answer to an opcode the ROM does not know: the previous reply's header with `01 05`.
    fn unsupported(&mut self, out: &mut Vec<u8>) {
        self.error = err::BAD_FORMAT;
        self.reply[0] = 1;
        self.reply[1] = err::BAD_FORMAT;
        let mut packet = vec![0x01, self.last_op, 4, 0];
        packet.extend_from_slice(&self.value.to_le_bytes());
        packet.extend_from_slice(&self.reply[..4]);
        for _ in 0..self.last_count {
            slip::encode_into(&packet, out);
        }
    }

    fn handle(&mut self, len: usize, hw: &mut Hw, out: &mut Vec<u8>) -> Option<Action> {
        let op = self.req[1];
        if self.rx_overflow {
            self.reply(op, 0, Err(err::BAD_FORMAT), 1, out);
            return None;
        }
        if self.req[0] != 0x00 {
            self.unsupported(out);
            return None;
        }
        let data_len = len.saturating_sub(8);
        if hw.efuse.security().secure_download && !SECURE_DOWNLOAD_OPS.contains(&op) {
            self.unsupported(out);
            return None;
        }
        match op {
            0x08 => {
                // SYNC: the payload is not checked; its first word becomes `value`.
                self.value = self.w(8);
                self.reply(op, 0, Ok(Success::Clear), SYNC_REPLIES, out);
            }
            0x0A => match hw.read_word(self.w(8)) {
                Ok(v) => {
                    self.value = v;
                    self.reply(op, 0, Ok(Success::Clear), 1, out);
                }
                Err(fault) => return Some(Action::Crash(fault, Access::Load)),
            },
            0x09 => {
                for entry in 0..data_len / 16 {
                    let at = 8 + entry * 16;
                    let (addr, value, mask) = (self.w(at), self.w(at + 4), self.w(at + 8));
                    let result = if mask == u32::MAX {
                        hw.write_word(addr, value)
                    } else {
                        hw.read_word(addr)
                            .and_then(|old| hw.write_word(addr, (old & !mask) | (value & mask)))
                    };
                    if let Err(fault) = result {
                        return Some(Action::Crash(fault, Access::Store));
                    }
                }
                self.reply(op, 0, Ok(Success::Clear), 1, out);
            }
            0x0D => self.reply(op, 0, Ok(Success::Clear), 1, out),
            0x0B => {
                let result = if data_len == 24 {
                    self.flash_size = self.w(12);
                    Ok(Success::Keep)
                } else {
                    Err(err::BAD_FORMAT)
                };
                self.reply(op, 0, result, 1, out);
            }
            0x02 | 0x10 => {
                let kind = if op == 0x02 {
                    WriteKind::Plain
                } else {
                    WriteKind::Deflate
                };
                let result = self.flash_begin(kind, data_len, hw);
                self.reply(op, 0, result, 1, out);
            }
            0x03 | 0x11 => {
                let result = self.flash_data(op, data_len, hw);
                self.reply(op, 0, result, 1, out);
            }
            0x04 | 0x12 => {
                let reboot = self.w(8) == 0;
                let active = self.flash.take().is_some();
                let result = if active {
                    Ok(Success::Clear)
                } else {
                    Err(err::RESULT_WRONG)
                };
                self.reply(op, 0, result, 1, out);
                return match (op, active, reboot) {
                    (_, true, true) => {
                        // Observed: after this reply the ROM emits one more C0 before the
                        // reset banner, so the banner arrives inside an open frame.
                        out.push(slip::END);
                        Some(Action::Reset(ResetCause::RtcSwSys))
                    }
                    // FLASH_END leaves the loader unless it reboots, also when it failed.
                    (0x04, _, _) => Some(Action::ExitLoader),
                    _ => None,
                };
            }
            0x05 => {
                let result = if data_len != 16 || self.w(16) > MAX_BLOCK {
                    Err(err::BAD_FORMAT)
                } else {
                    self.mem = Some(MemWrite {
                        addr: self.w(20),
                        next_seq: 0,
                        block_size: self.w(16),
                    });
                    Ok(Success::Keep)
                };
                self.reply(op, 0, result, 1, out);
            }
            0x07 => {
                let result = self.mem_data(data_len, hw);
                self.reply(op, 0, result, 1, out);
            }
            0x06 => {
                let (no_jump, entry) = (self.w(8), self.w(12));
                self.reply(op, 0, Ok(Success::Keep), 1, out);
                if no_jump == 0 {
                    return Some(Action::Jump(entry));
                }
            }
            0x0E => {
                let (offset, length) = (self.w(8), self.w(12));
                let result = if length > 64 {
                    Err(err::READ_LENGTH)
                } else if u64::from(offset) + u64::from(length) > u64::from(self.flash_size) {
                    Err(err::FLASH_READ)
                } else {
                    // Only whole words are read; the rest of the 64 bytes is stale.
                    let n = length.div_ceil(4) as usize * 4;
                    hw.flash.read_counted(offset, &mut self.reply[..n]);
                    Ok(Success::Clear)
                };
                self.reply(op, 64, result, 1, out);
            }
            0x13 => {
                let (addr, size) = (self.w(8), self.w(12));
                let result = if u64::from(addr) + u64::from(size) > u64::from(self.flash_size) {
                    Err(err::FLASH_READ)
                } else {
                    let digest = hw.flash.md5(addr, size);
                    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                    self.reply[..32].copy_from_slice(hex.as_bytes());
                    Ok(Success::Clear)
                };
                self.reply(op, 32, result, 1, out);
            }
            0x0F => {
                let baud = self.w(8);
                self.reply(op, 0, Ok(Success::Clear), 1, out);
                return Some(Action::Baud(baud));
            }
            0x14 => {
                let mut info = [0u8; 20];
                // flags (4), flash_crypt_cnt (1), key purposes (7; the ROM reports 0x0C in the
                // last one on every eFuse image tried), chip id (4), API version (4).
                info[..5].copy_from_slice(&hw.efuse.security().info_head());
                info[11] = 0x0C;
                info[12..16].copy_from_slice(&hw.chip.chip_id().to_le_bytes());
                self.reply[..20].copy_from_slice(&info);
                self.reply(op, 20, Ok(Success::Keep), 1, out);
            }
            0x15 => {
                // Undocumented: an 8-byte payload is accepted, nothing observable happens.
                let result = if data_len == 8 {
                    Ok(Success::Clear)
                } else {
                    Err(err::BAD_FORMAT)
                };
                self.reply(op, 0, result, 1, out);
            }
            _ => self.unsupported(out),
        }
        None
    }

    fn flash_begin(
        &mut self,
        kind: WriteKind,
        data_len: usize,
        hw: &mut Hw,
    ) -> Result<Success, u8> {
        if data_len != 20 {
            return Err(err::BAD_FORMAT);
        }
        let (size, block_size, offset) = (self.w(8), self.w(16), self.w(20));
        if block_size > MAX_BLOCK {
            return Err(err::BAD_FORMAT);
        }
        if offset % 0x1000 != 0 || u64::from(offset) + u64::from(size) > u64::from(self.flash_size)
        {
            return Err(err::RESULT_WRONG);
        }
        // The ROM erases the whole region up front.
        hw.flash.erase_range(offset, size);
        self.flash = Some(FlashWrite {
            kind,
            addr: offset,
            next_seq: 0,
            block_size,
            inflater: Box::new(Decompress::new(true)),
            inflate_failed: false,
        });
        Ok(Success::Keep)
    }

    /// The checks every data packet passes before its sequence number is consumed. Returns the
    /// payload size.
    fn data_header(&self, data_len: usize, block_size: u32, next_seq: u32) -> Result<usize, u8> {
        if data_len < 16 {
            return Err(err::BAD_FORMAT);
        }
        let (size, seq) = (self.w(8), self.w(12));
        if size as usize > data_len - 16 || size > block_size || seq != next_seq {
            return Err(err::BAD_FORMAT);
        }
        Ok(size as usize)
    }

    fn flash_data(&mut self, op: u8, data_len: usize, hw: &mut Hw) -> Result<Success, u8> {
        let want = if op == 0x03 {
            WriteKind::Plain
        } else {
            WriteKind::Deflate
        };
        let (block_size, next_seq) = match &self.flash {
            Some(w) if w.kind == want => (w.block_size, w.next_seq),
            _ => (0, 0),
        };
        let size = self.data_header(data_len, block_size, next_seq)?;
        let checksum_field = self.w(4);
        let Some(write) = self.flash.as_mut() else {
            return Err(err::BAD_FORMAT);
        };
        write.next_seq += 1;
        let data = &self.req[24..24 + size];
        if block::checksum(data) != checksum_field {
            return Err(err::CHECKSUM);
        }
        match write.kind {
            WriteKind::Plain => {
                if u64::from(write.addr) + size as u64 > u64::from(self.flash_size)
                    || !hw.flash.program(write.addr, data)
                {
                    return Err(err::FLASH_WRITE);
                }
                write.addr += size as u32;
            }
            WriteKind::Deflate => {
                if write.inflate_failed {
                    return Err(err::DEFLATE);
                }
                let Ok(produced) = block::inflate(&mut write.inflater, data) else {
                    write.inflate_failed = true;
                    return Err(err::DEFLATE);
                };
                hw.note_inflated(produced.len());
                if u64::from(write.addr) + produced.len() as u64 > u64::from(self.flash_size)
                    || !hw.flash.program(write.addr, &produced)
                {
                    return Err(err::FLASH_WRITE);
                }
                write.addr += produced.len() as u32;
            }
        }
        Ok(Success::Keep)
    }

    fn mem_data(&mut self, data_len: usize, hw: &mut Hw) -> Result<Success, u8> {
        let (block_size, next_seq) = self
            .mem
            .as_ref()
            .map_or((0, 0), |m| (m.block_size, m.next_seq));
        let size = self.data_header(data_len, block_size, next_seq)?;
        let checksum_field = self.w(4);
        let Some(mem) = self.mem.as_mut() else {
            return Err(err::BAD_FORMAT);
        };
        mem.next_seq += 1;
        let data = &self.req[24..24 + size];
        if block::checksum(data) != checksum_field {
            return Err(err::CHECKSUM);
        }
        hw.store_bytes(mem.addr, data);
        mem.addr = mem.addr.wrapping_add(size as u32);
        Ok(Success::Keep)
    }
}

/// The panic text the ROM prints when a load or store faults (the register dump observed for a
/// READ_REG of an unmapped address, with the faulting address and cause filled in).
pub(crate) fn guru_meditation(fault: Fault, access: Access) -> String {
    let (addr, cause, name) = match (fault, access) {
        (Fault::Prohibited(a), Access::Load) => (a, 0x1c, "LoadProhibited"),
        (Fault::Prohibited(a), Access::Store) => (a, 0x1d, "StoreProhibited"),
        (Fault::Alignment(a), _) => (a, 0x09, "LoadStoreAlignment"),
    };
    format!(
        "Guru Meditation Error: Core 0 panic'ed ({name})\r\n\
         Core 0 register dump:\r\n\
         PC      : 0x40047ecd  PS      : 0x00060330  A0      : 0x80048404  A1      : 0x3fceb600\r\n\
         A2      : {addr:#010x}  A3      : 0x3fceb690  A4      : 0x3fceb624  A5      : 0x3fceb66c\r\n\
         A6      : 0xffffffff  A7      : 0x00000004  A8      : 0x80047ec8  A9      : 0x3fceb5e0\r\n\
         A10     : 0x0000000c  A11     : 0x00002000  A12     : 0x00000000  A13     : 0x3fcef150\r\n\
         A14     : 0x00000000  A15     : 0x000000c0  SAR     : 0x0000001f  EXCCAUSE: {cause:#010x}\r\n\
         EXCVADDR: {addr:#010x}  LBEG    : 0x400570e8  LEND    : 0x400570f3  LCOUNT  : 0x00000000\r\n\
         \r\n\
         Backtrace: 0x40047ecd:0x3fceb600 0x40048401:0x3fceb620 0x40043619:0x3fceb6d0 0x40043c3d:0x3fceb6f0 0x40034c45:0x3fceb710\r\n\
         \r\n"
    )
}
