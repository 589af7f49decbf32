//! The flasher stub personality (§8 of the facts), entered when MEM_END jumps to a known stub
//! entry: two status bytes (`00 00`, or a big-endian code such as `C1 00`), `value` 0 except for
//! READ_REG, blocks up to 0x4000 bytes, 16- or 20-byte BEGIN payloads, erase as it writes, exact
//! uncompressed size in FLASH_DEFL_BEGIN, raw 16-byte MD5, ERASE_FLASH, ERASE_REGION and the
//! acknowledged READ_FLASH stream.
//!
//! Parses packets with its own code; talks to the hardware only through [`Hw`].

use std::collections::BTreeSet;

use flate2::Decompress;
use md5::{Digest, Md5};

use super::block;
use super::boot::ResetCause;
use super::bus::Hw;
use super::flash::{BLOCK, SECTOR};
use super::rom::{Access, Action};
use crate::protocol::slip;

/// Largest data block the stub accepts.
const MAX_BLOCK: u32 = 0x4000;

/// Stub response codes (sent big-endian as the two status bytes).
mod code {
    pub const BAD_DATA_LEN: u16 = 0xC000;
    pub const BAD_CHECKSUM: u16 = 0xC100;
    pub const BAD_BLOCKSIZE: u16 = 0xC200;
    pub const FAILED_SPI_OP: u16 = 0xC400;
    pub const NOT_IN_FLASH_MODE: u16 = 0xC600;
    pub const INFLATE: u16 = 0xC700;
    pub const NOT_ENOUGH_DATA: u16 = 0xC800;
    pub const TOO_MUCH_DATA: u16 = 0xC900;
    pub const NOT_IMPLEMENTED: u16 = 0xFF00;
}

struct FlashWrite {
    deflate: bool,
    /// Where the write session started (its sectors are erased as it goes).
    start: u32,
    addr: u32,
    end: u32,
    inflater: Box<Decompress>,
    erased: BTreeSet<u32>,
}

struct ReadStream {
    next: u32,
    end: u32,
    packet: u32,
    in_flight_max: u32,
    sent: u32,
    acked: u32,
    md5: Md5,
}

/// The stub's state.
pub(crate) struct StubLoader {
    decoder: slip::Decoder,
    flash_size: u32,
    flash: Option<FlashWrite>,
    mem: Option<(u32, u32)>,
    read: Option<ReadStream>,
}

impl std::fmt::Debug for StubLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubLoader")
            .field("flash_size", &self.flash_size)
            .finish_non_exhaustive()
    }
}

fn word(data: &[u8], index: usize) -> u32 {
    let b = |i: usize| data.get(index * 4 + i).copied().unwrap_or(0);
    u32::from_le_bytes([b(0), b(1), b(2), b(3)])
}

impl StubLoader {
    /// A stub that just started: sends `OHAI` and inherits the ROM's flash size.
    pub(crate) fn start(flash_size: u32, out: &mut Vec<u8>) -> Self {
        slip::encode_into(b"OHAI", out);
        StubLoader {
            decoder: slip::Decoder::lenient(),
            flash_size,
            flash: None,
            mem: None,
            read: None,
        }
    }

    /// Take bytes from the UART; stops after each handled packet (so that a paced chip can
    /// charge its time before the next one). Returns the bytes consumed, what the chip must do,
    /// and whether a packet was handled.
    pub(crate) fn receive(
        &mut self,
        bytes: &[u8],
        hw: &mut Hw,
        out: &mut Vec<u8>,
    ) -> (usize, Option<Action>, bool) {
        for (i, &b) in bytes.iter().enumerate() {
            self.decoder.push(&[b]);
            // One byte completes at most one frame.
            while let Some(item) = self.decoder.next_item() {
                if let slip::Item::Frame(frame) = item {
                    let action = self.handle(&frame, hw, out);
                    return (i + 1, action, true);
                }
            }
        }
        (bytes.len(), None, false)
    }

    fn reply(op: u8, value: u32, payload: &[u8], code: u16, out: &mut Vec<u8>) {
        let mut packet = vec![0x01, op];
        packet.extend_from_slice(&((payload.len() + 2) as u16).to_le_bytes());
        packet.extend_from_slice(&value.to_le_bytes());
        packet.extend_from_slice(payload);
        packet.extend_from_slice(&code.to_be_bytes());
        slip::encode_into(&packet, out);
    }

    fn handle(&mut self, frame: &[u8], hw: &mut Hw, out: &mut Vec<u8>) -> Option<Action> {
        if let Some(stream) = self.read.as_mut() {
            // While streaming READ_FLASH, frames are the host's 4-byte acknowledgements.
            if frame.len() == 4 {
                stream.acked = word(frame, 0);
                self.pump_read(hw, out);
                return None;
            }
            self.read = None;
        }
        if frame.len() < 8 || frame[0] != 0x00 {
            return None;
        }
        let op = frame[1];
        let data = &frame[8..];
        let checksum_field = word(frame, 1);
        let ok = 0u16;
        match op {
            0x08 => {
                for _ in 0..8 {
                    Self::reply(op, 0, &[], ok, out);
                }
            }
            0x0A => match hw.read_word(word(data, 0)) {
                Ok(v) => Self::reply(op, v, &[], ok, out),
                Err(fault) => return Some(Action::Crash(fault, Access::Load)),
            },
            0x09 => {
                if data.len() % 16 != 0 {
                    Self::reply(op, 0, &[], code::BAD_DATA_LEN, out);
                    return None;
                }
                for e in data.chunks_exact(16) {
                    let (addr, value, mask) = (word(e, 0), word(e, 1), word(e, 2));
                    let result = hw
                        .read_word(addr)
                        .and_then(|old| hw.write_word(addr, (old & !mask) | (value & mask)));
                    if let Err(fault) = result {
                        return Some(Action::Crash(fault, Access::Store));
                    }
                }
                Self::reply(op, 0, &[], ok, out);
            }
            0x0D => Self::reply(op, 0, &[], ok, out),
            0x0B => {
                let code = if data.len() == 24 {
                    self.flash_size = word(data, 1);
                    ok
                } else {
                    code::BAD_DATA_LEN
                };
                Self::reply(op, 0, &[], code, out);
            }
            0x0F => {
                Self::reply(op, 0, &[], ok, out);
                return Some(Action::Baud(word(data, 0)));
            }
            0x02 | 0x10 => {
                let code = self.flash_begin(op == 0x10, data);
                Self::reply(op, 0, &[], code, out);
            }
            0x03 | 0x11 => {
                // The stub acknowledges a data block as soon as it has it and writes it while
                // the next one arrives.
                hw.reply_first();
                let code = self.flash_data(op == 0x11, data, checksum_field, hw);
                Self::reply(op, 0, &[], code, out);
            }
            0x04 | 0x12 => {
                // One END per BEGIN: without a write in progress the stub is not in flash mode.
                let code = match self.flash.take() {
                    None => code::NOT_IN_FLASH_MODE,
                    Some(w) if w.deflate && w.addr < w.end => code::NOT_ENOUGH_DATA,
                    Some(_) => ok,
                };
                Self::reply(op, 0, &[], code, out);
                if word(data, 0) == 0 {
                    return Some(Action::Reset(ResetCause::RtcSwSys));
                }
            }
            0x05 => {
                let code = if data.len() != 16 {
                    code::BAD_DATA_LEN
                } else {
                    self.mem = Some((word(data, 3), word(data, 2)));
                    ok
                };
                Self::reply(op, 0, &[], code, out);
            }
            0x07 => {
                let code = match self.mem {
                    None => code::NOT_IN_FLASH_MODE,
                    Some((addr, block_size)) => {
                        let size = word(data, 0) as usize;
                        match data.get(16..16 + size) {
                            Some(_) if size as u32 > block_size => code::BAD_BLOCKSIZE,
                            Some(payload) if block::checksum(payload) != checksum_field => {
                                code::BAD_CHECKSUM
                            }
                            Some(payload) => {
                                hw.store_bytes(addr, payload);
                                self.mem = Some((addr.wrapping_add(size as u32), block_size));
                                ok
                            }
                            None => code::BAD_DATA_LEN,
                        }
                    }
                };
                Self::reply(op, 0, &[], code, out);
            }
            0x06 => {
                Self::reply(op, 0, &[], ok, out);
                if word(data, 0) == 0 {
                    return Some(Action::Jump(word(data, 1)));
                }
            }
            0x13 => {
                let (addr, size) = (word(data, 0), word(data, 1));
                if u64::from(addr) + u64::from(size) > u64::from(self.flash_size) {
                    Self::reply(op, 0, &[], code::BAD_DATA_LEN, out);
                } else {
                    let digest = hw.flash.md5(addr, size);
                    Self::reply(op, 0, &digest, ok, out);
                }
            }
            0x14 => {
                let mut info = [0u8; 20];
                info[..5].copy_from_slice(&hw.efuse.security().info_head());
                info[11] = 0x0C;
                info[12..16].copy_from_slice(&hw.chip.chip_id().to_le_bytes());
                Self::reply(op, 0, &info, ok, out);
            }
            0xD0 => {
                hw.flash.erase_all();
                Self::reply(op, 0, &[], ok, out);
            }
            0xD1 => {
                let (addr, size) = (word(data, 0), word(data, 1));
                let code = if data.len() < 8 || addr % SECTOR != 0 || size % SECTOR != 0 {
                    code::BAD_DATA_LEN
                } else if u64::from(addr) + u64::from(size) > u64::from(self.flash_size) {
                    code::FAILED_SPI_OP
                } else {
                    hw.flash.erase_range(addr, size);
                    ok
                };
                Self::reply(op, 0, &[], code, out);
            }
            0xD2 => {
                let (addr, len, packet, in_flight) =
                    (word(data, 0), word(data, 1), word(data, 2), word(data, 3));
                if data.len() < 16
                    || packet == 0
                    || u64::from(addr) + u64::from(len) > u64::from(self.flash_size)
                {
                    Self::reply(op, 0, &[], code::BAD_DATA_LEN, out);
                    return None;
                }
                Self::reply(op, 0, &[], ok, out);
                self.read = Some(ReadStream {
                    next: addr,
                    end: addr + len,
                    packet,
                    in_flight_max: in_flight.max(1),
                    sent: 0,
                    acked: 0,
                    md5: Md5::new(),
                });
                self.pump_read(hw, out);
            }
            _ => Self::reply(op, 0, &[], code::NOT_IMPLEMENTED, out),
        }
        None
    }

    /// Send READ_FLASH packets while fewer than the allowed number are unacknowledged; once
    /// everything is acknowledged, send the MD5 of the whole range.
    fn pump_read(&mut self, hw: &mut Hw, out: &mut Vec<u8>) {
        let Some(s) = self.read.as_mut() else {
            return;
        };
        while s.next < s.end
            && s.sent.saturating_sub(s.acked) < s.in_flight_max.saturating_mul(s.packet)
        {
            let n = s.packet.min(s.end - s.next);
            let mut chunk = vec![0; n as usize];
            hw.flash.read_counted(s.next, &mut chunk);
            s.md5.update(&chunk);
            slip::encode_into(&chunk, out);
            s.next += n;
            s.sent += n;
        }
        if s.next >= s.end && s.acked >= s.sent {
            let digest = std::mem::take(&mut s.md5).finalize();
            slip::encode_into(&digest, out);
            self.read = None;
        }
    }

    fn flash_begin(&mut self, deflate: bool, data: &[u8]) -> u16 {
        if data.len() != 16 && data.len() != 20 {
            return code::BAD_DATA_LEN;
        }
        let (size, block, offset) = (word(data, 0), word(data, 2), word(data, 3));
        if block > MAX_BLOCK {
            return code::BAD_BLOCKSIZE;
        }
        if u64::from(offset) + u64::from(size) > u64::from(self.flash_size) {
            return code::BAD_DATA_LEN;
        }
        self.flash = Some(FlashWrite {
            deflate,
            start: offset,
            addr: offset,
            end: offset + size,
            inflater: Box::new(Decompress::new(true)),
            erased: BTreeSet::new(),
        });
        0
    }

    fn flash_data(&mut self, deflate: bool, data: &[u8], checksum_field: u32, hw: &mut Hw) -> u16 {
        let flash_size = self.flash_size;
        let Some(w) = self.flash.as_mut().filter(|w| w.deflate == deflate) else {
            return code::NOT_IN_FLASH_MODE;
        };
        let size = word(data, 0) as usize;
        let Some(payload) = data.get(16..16 + size) else {
            return code::BAD_DATA_LEN;
        };
        if size as u32 > MAX_BLOCK {
            return code::BAD_BLOCKSIZE;
        }
        if block::checksum(payload) != checksum_field {
            return code::BAD_CHECKSUM;
        }
        let bytes = if deflate {
            match block::inflate(&mut w.inflater, payload) {
                Ok(bytes) => {
                    hw.note_inflated(bytes.len());
                    bytes
                }
                Err(_) => return code::INFLATE,
            }
        } else {
            payload.to_vec()
        };
        let end = u64::from(w.addr) + bytes.len() as u64;
        if deflate && end > u64::from(w.end.max(w.addr)) {
            return code::TOO_MUCH_DATA;
        }
        if end > u64::from(flash_size) {
            return code::FAILED_SPI_OP;
        }
        // Erase each sector the first time this write session touches it: a whole 64 KiB
        // block with one command where the block starts on a boundary and lies inside the
        // session, else the sector alone.
        if !bytes.is_empty() {
            let first = w.addr / SECTOR;
            let last = (w.addr + bytes.len() as u32 - 1) / SECTOR;
            let (session_first, session_end) = (w.start / SECTOR, w.end.div_ceil(SECTOR));
            let per_block = BLOCK / SECTOR;
            for sector in first..=last {
                if w.erased.contains(&sector) {
                    continue;
                }
                let whole_block = sector % per_block == 0
                    && sector >= session_first
                    && sector + per_block <= session_end
                    && (sector..sector + per_block).all(|s| !w.erased.contains(&s));
                if whole_block {
                    hw.flash.erase_block(sector * SECTOR);
                    w.erased.extend(sector..sector + per_block);
                } else {
                    hw.flash.erase_sector(sector * SECTOR);
                    w.erased.insert(sector);
                }
            }
        }
        if !hw.flash.program(w.addr, &bytes) {
            return code::FAILED_SPI_OP;
        }
        w.addr += bytes.len() as u32;
        0
    }
}
