//! Command packets (host → chip): opcodes, payload layouts and the data checksum.
//!
//! A packet is `00 op len16 checksum32 data` (little-endian). The checksum (seed 0xEF, XOR of the
//! bytes) covers only the block carried by the `*_DATA` commands; every other command sends 0.
//! This module builds packets; SLIP framing is `slip.rs`'s job and sending is the loader's.

/// Seed of the data checksum.
pub const CHECKSUM_SEED: u8 = 0xEF;

/// The word the SYNC payload starts with (and the value the ROM echoes).
pub const SYNC_MAGIC: u32 = 0x2012_0707;

/// FLASH_END word that makes the ROM leave the loader and run the firmware.
pub const END_ROM_RUN_USER_CODE: u32 = 1;
/// FLASH_END / FLASH_DEFL_END word that keeps a stub in the loader.
pub const END_STUB_STAY: u32 = 1;

/// A command the ROM loader or a stub understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// Erase and prepare a plain write.
    FlashBegin = 0x02,
    /// One block of a plain write.
    FlashData = 0x03,
    /// Finish a plain write (and optionally run the user code).
    FlashEnd = 0x04,
    /// Prepare a RAM upload.
    MemBegin = 0x05,
    /// Finish a RAM upload and jump to the entry point.
    MemEnd = 0x06,
    /// One block of a RAM upload.
    MemData = 0x07,
    /// Autobaud and handshake.
    Sync = 0x08,
    /// Write a register.
    WriteReg = 0x09,
    /// Read a register.
    ReadReg = 0x0A,
    /// Tell the loader the flash geometry.
    SpiSetParams = 0x0B,
    /// Attach the SPI flash.
    SpiAttach = 0x0D,
    /// Read 64 bytes of flash (ROM only).
    ReadFlashSlow = 0x0E,
    /// Change the line speed.
    ChangeBaudrate = 0x0F,
    /// Erase and prepare a compressed write.
    FlashDeflBegin = 0x10,
    /// One block of a compressed write.
    FlashDeflData = 0x11,
    /// Finish a compressed write.
    FlashDeflEnd = 0x12,
    /// MD5 of a flash range.
    SpiFlashMd5 = 0x13,
    /// Security flags, crypt counter, key purposes, chip id.
    GetSecurityInfo = 0x14,
    /// Erase the whole flash (stub only).
    EraseFlash = 0xD0,
    /// Erase a 4 KiB-aligned range (stub only).
    EraseRegion = 0xD1,
    /// Stream flash contents (stub only).
    ReadFlash = 0xD2,
}

impl Opcode {
    /// Every opcode.
    pub const ALL: [Opcode; 21] = [
        Opcode::FlashBegin,
        Opcode::FlashData,
        Opcode::FlashEnd,
        Opcode::MemBegin,
        Opcode::MemEnd,
        Opcode::MemData,
        Opcode::Sync,
        Opcode::WriteReg,
        Opcode::ReadReg,
        Opcode::SpiSetParams,
        Opcode::SpiAttach,
        Opcode::ReadFlashSlow,
        Opcode::ChangeBaudrate,
        Opcode::FlashDeflBegin,
        Opcode::FlashDeflData,
        Opcode::FlashDeflEnd,
        Opcode::SpiFlashMd5,
        Opcode::GetSecurityInfo,
        Opcode::EraseFlash,
        Opcode::EraseRegion,
        Opcode::ReadFlash,
    ];

    /// The opcode byte.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The command's name as the documentation spells it, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Opcode::FlashBegin => "FLASH_BEGIN",
            Opcode::FlashData => "FLASH_DATA",
            Opcode::FlashEnd => "FLASH_END",
            Opcode::MemBegin => "MEM_BEGIN",
            Opcode::MemEnd => "MEM_END",
            Opcode::MemData => "MEM_DATA",
            Opcode::Sync => "SYNC",
            Opcode::WriteReg => "WRITE_REG",
            Opcode::ReadReg => "READ_REG",
            Opcode::SpiSetParams => "SPI_SET_PARAMS",
            Opcode::SpiAttach => "SPI_ATTACH",
            Opcode::ReadFlashSlow => "READ_FLASH_SLOW",
            Opcode::ChangeBaudrate => "CHANGE_BAUDRATE",
            Opcode::FlashDeflBegin => "FLASH_DEFL_BEGIN",
            Opcode::FlashDeflData => "FLASH_DEFL_DATA",
            Opcode::FlashDeflEnd => "FLASH_DEFL_END",
            Opcode::SpiFlashMd5 => "SPI_FLASH_MD5",
            Opcode::GetSecurityInfo => "GET_SECURITY_INFO",
            Opcode::EraseFlash => "ERASE_FLASH",
            Opcode::EraseRegion => "ERASE_REGION",
            Opcode::ReadFlash => "READ_FLASH",
        }
    }
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (0x{:02x})", self.name(), self.code())
    }
}

/// The data checksum: 0xEF XOR every byte, as a u32.
pub fn checksum(data: &[u8]) -> u32 {
    u32::from(data.iter().fold(CHECKSUM_SEED, |acc, b| acc ^ b))
}

/// One command, ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// What to do.
    pub opcode: Opcode,
    /// The payload.
    pub data: Vec<u8>,
    /// The checksum field (0 except for data blocks).
    pub checksum: u32,
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl Command {
    fn plain(opcode: Opcode, data: Vec<u8>) -> Self {
        Command {
            opcode,
            data,
            checksum: 0,
        }
    }

    /// A data block: `len, seq, 0, 0` then the block, with the checksum over the block.
    fn block(opcode: Opcode, seq: u32, block: &[u8]) -> Self {
        // A block longer than u32::MAX cannot be built from a slice that fits in memory on the
        // targets we support; saturating keeps the encoder total instead of panicking.
        let len = u32::try_from(block.len()).unwrap_or(u32::MAX);
        let mut data = words(&[len, seq, 0, 0]);
        data.extend_from_slice(block);
        Command {
            opcode,
            data,
            checksum: checksum(block),
        }
    }

    /// The packet bytes, before SLIP framing. A payload longer than 0xFFFF bytes cannot be
    /// expressed; its length field is clamped (callers keep blocks far below that).
    pub fn encode(&self) -> Vec<u8> {
        let len = u16::try_from(self.data.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(8 + self.data.len());
        out.push(0x00);
        out.push(self.opcode.code());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.checksum.to_le_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// SYNC: `07 07 12 20` and 32 × `55` (the 0x55 pattern lets the ROM measure the baud rate).
    pub fn sync() -> Self {
        let mut data = SYNC_MAGIC.to_le_bytes().to_vec();
        data.extend_from_slice(&[0x55; 32]);
        Self::plain(Opcode::Sync, data)
    }

    /// READ_REG.
    pub fn read_reg(addr: u32) -> Self {
        Self::plain(Opcode::ReadReg, words(&[addr]))
    }

    /// WRITE_REG of one register: new = (old & !mask) | (value & mask), then wait `delay_us`.
    pub fn write_reg(addr: u32, value: u32, mask: u32, delay_us: u32) -> Self {
        Self::plain(Opcode::WriteReg, words(&[addr, value, mask, delay_us]))
    }

    /// FLASH_BEGIN. The S3 ROM needs all 5 words (the 5th is "encrypted"); the stub accepts them.
    pub fn flash_begin(erase_size: u32, blocks: u32, block_size: u32, offset: u32) -> Self {
        Self::plain(
            Opcode::FlashBegin,
            words(&[erase_size, blocks, block_size, offset, 0]),
        )
    }

    /// FLASH_DATA block `seq`.
    pub fn flash_data(seq: u32, block: &[u8]) -> Self {
        Self::block(Opcode::FlashData, seq, block)
    }

    /// FLASH_END with its one word, which the two loaders read differently: the ROM runs the
    /// user code on 1 and stays on 0 (§18); a stub stays on 1 and reboots on 0. See
    /// [`END_ROM_RUN_USER_CODE`] and [`END_STUB_STAY`].
    pub fn flash_end(word: u32) -> Self {
        Self::plain(Opcode::FlashEnd, words(&[word]))
    }

    /// FLASH_DEFL_BEGIN: `size` is the uncompressed size (ROM: rounded up to whole blocks).
    pub fn flash_defl_begin(size: u32, blocks: u32, block_size: u32, offset: u32) -> Self {
        Self::plain(
            Opcode::FlashDeflBegin,
            words(&[size, blocks, block_size, offset, 0]),
        )
    }

    /// FLASH_DEFL_DATA block `seq` (a slice of one zlib stream).
    pub fn flash_defl_data(seq: u32, block: &[u8]) -> Self {
        Self::block(Opcode::FlashDeflData, seq, block)
    }

    /// FLASH_DEFL_END (see [`Command::flash_end`] for the word).
    pub fn flash_defl_end(word: u32) -> Self {
        Self::plain(Opcode::FlashDeflEnd, words(&[word]))
    }

    /// MEM_BEGIN.
    pub fn mem_begin(size: u32, blocks: u32, block_size: u32, addr: u32) -> Self {
        Self::plain(Opcode::MemBegin, words(&[size, blocks, block_size, addr]))
    }

    /// MEM_DATA block `seq`.
    pub fn mem_data(seq: u32, block: &[u8]) -> Self {
        Self::block(Opcode::MemData, seq, block)
    }

    /// MEM_END: jump to `entry` (or stay, when `entry` is 0).
    pub fn mem_end(entry: u32) -> Self {
        Self::plain(Opcode::MemEnd, words(&[u32::from(entry == 0), entry]))
    }

    /// SPI_SET_PARAMS: id 0, total size, 64 KiB block, 4 KiB sector, 256 B page, status mask.
    pub fn spi_set_params(total_size: u32) -> Self {
        Self::plain(
            Opcode::SpiSetParams,
            words(&[0, total_size, 0x1_0000, 0x1000, 0x100, 0xFFFF]),
        )
    }

    /// SPI_ATTACH with the default pins, as the ROM takes it: the pin word and `is_legacy` = 0.
    /// (A stub attaches the flash itself and is not sent this.)
    pub fn spi_attach() -> Self {
        Self::plain(Opcode::SpiAttach, words(&[0, 0]))
    }

    /// CHANGE_BAUDRATE: the ROM wants old = 0, a stub the current host speed.
    pub fn change_baudrate(new: u32, old: u32) -> Self {
        Self::plain(Opcode::ChangeBaudrate, words(&[new, old]))
    }

    /// SPI_FLASH_MD5 of `size` bytes at `addr`.
    pub fn spi_flash_md5(addr: u32, size: u32) -> Self {
        Self::plain(Opcode::SpiFlashMd5, words(&[addr, size, 0, 0]))
    }

    /// GET_SECURITY_INFO.
    pub fn get_security_info() -> Self {
        Self::plain(Opcode::GetSecurityInfo, Vec::new())
    }

    /// READ_FLASH_SLOW (ROM): up to 64 bytes at `addr`.
    pub fn read_flash_slow(addr: u32, len: u32) -> Self {
        Self::plain(Opcode::ReadFlashSlow, words(&[addr, len]))
    }

    /// ERASE_FLASH (stub).
    pub fn erase_flash() -> Self {
        Self::plain(Opcode::EraseFlash, Vec::new())
    }

    /// ERASE_REGION (stub).
    pub fn erase_region(offset: u32, size: u32) -> Self {
        Self::plain(Opcode::EraseRegion, words(&[offset, size]))
    }

    /// READ_FLASH (stub): stream `len` bytes at `offset` in packets of `packet_size`.
    pub fn read_flash(offset: u32, len: u32, packet_size: u32, max_in_flight: u32) -> Self {
        Self::plain(
            Opcode::ReadFlash,
            words(&[offset, len, packet_size, max_in_flight]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::test_hex as hex;

    #[test]
    fn sync_frame_matches_the_wire_capture_byte_for_byte() {
        // esp32s3-facts.md §3: `c0 00 08 24 00 00 00 00 00 07 07 12 20 55×32 c0`.
        let mut expected = hex("c0 00 08 24 00 00 00 00 00 07 07 12 20");
        expected.extend([0x55; 32]);
        expected.push(0xc0);
        assert_eq!(
            crate::protocol::slip::encode(&Command::sync().encode()),
            expected
        );
        assert_eq!(expected.len(), 46);
    }

    #[test]
    fn packets_have_the_documented_layout() {
        let check = |cmd: Command, expected: &str| assert_eq!(cmd.encode(), hex(expected));
        check(
            Command::read_reg(0x4000_1000),
            "00 0a 04 00 00 00 00 00 00 10 00 40",
        );
        check(
            Command::write_reg(0x6000_80b0, 0x50d8_3aa1, 0xffff_ffff, 0),
            "00 09 10 00 00 00 00 00 b0 80 00 60 a1 3a d8 50 ff ff ff ff 00 00 00 00",
        );
        check(
            Command::flash_defl_begin(0x1800, 1, 0x1800, 0x10000),
            "00 10 14 00 00 00 00 00 00 18 00 00 01 00 00 00 00 18 00 00 00 00 01 00 00 00 00 00",
        );
        check(
            Command::spi_attach(),
            "00 0d 08 00 00 00 00 00 00 00 00 00 00 00 00 00",
        );
        check(Command::get_security_info(), "00 14 00 00 00 00 00 00");
        check(
            Command::change_baudrate(921_600, 0),
            "00 0f 08 00 00 00 00 00 00 10 0e 00 00 00 00 00",
        );
        check(
            Command::flash_end(END_ROM_RUN_USER_CODE),
            "00 04 04 00 00 00 00 00 01 00 00 00",
        );
        check(
            Command::mem_end(0x4037_95a8),
            "00 06 08 00 00 00 00 00 00 00 00 00 a8 95 37 40",
        );
    }

    #[test]
    fn data_blocks_carry_a_header_and_a_checksum_over_the_block_only() {
        let cmd = Command::flash_data(3, &[0x01, 0x02, 0xff]);
        // 0xEF ^ 0x01 ^ 0x02 ^ 0xFF = 0x13.
        assert_eq!(
            cmd.encode(),
            hex("00 03 13 00 13 00 00 00 03 00 00 00 03 00 00 00 00 00 00 00 00 00 00 00 01 02 ff")
        );
        assert_eq!(checksum(&[]), 0xEF);
    }
}
