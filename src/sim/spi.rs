//! The SPI1 (MSPI) user-command engine at 0x60002000, through which a host runs raw flash
//! commands with READ_REG/WRITE_REG (§5 of the facts): RDID, RDSFDP, status register reads and
//! writes, write enable, reset and the XMC wake-up sequence, and plain reads.
//!
//! It models the register block and a GigaDevice-style flash identity derived from the flash
//! size; it knows nothing of the serial protocol.

use super::flash::Flash;

/// First address of the SPI1 register block.
pub const BASE: u32 = 0x6000_2000;
/// One past the last address of the SPI1 register block.
pub const END: u32 = 0x6000_3000;

const CMD: u32 = 0x00;
const ADDR: u32 = 0x04;
const USR: u32 = 0x18;
const USR1: u32 = 0x1C;
const USR2: u32 = 0x20;
const MOSI_DLEN: u32 = 0x24;
const MISO_DLEN: u32 = 0x28;
const W0: u32 = 0x58;
const W_COUNT: u32 = 16;

const CMD_USR: u32 = 1 << 18;
const USR_ADDR: u32 = 1 << 30;
const USR_MISO: u32 = 1 << 28;
const USR_MOSI: u32 = 1 << 27;

/// GigaDevice manufacturer id (the gd25q64 of the reference emulator).
pub const MANUFACTURER_GD: u8 = 0xC8;
/// GD25Q memory type byte.
const MEMORY_TYPE: u8 = 0x40;

/// The JEDEC id bytes (manufacturer, memory type, capacity = log2(size)) of a flash of `size`.
pub fn jedec_id(size: u32) -> [u8; 3] {
    [MANUFACTURER_GD, MEMORY_TYPE, size.trailing_zeros() as u8]
}

/// The SPI1 register block and the flash's status registers.
#[derive(Debug, Clone, Default)]
pub struct Spi1 {
    regs: std::collections::BTreeMap<u32, u32>,
    status: [u8; 3],
    write_enabled: bool,
}

impl Spi1 {
    /// Read a register (offset from [`BASE`]).
    pub fn read(&self, offset: u32) -> u32 {
        self.regs.get(&offset).copied().unwrap_or(0)
    }

    /// Write a register; writing `CMD` with the USR bit runs the programmed command at once
    /// (so the bit reads back clear: the command completed).
    pub fn write(&mut self, offset: u32, value: u32, flash: &mut Flash) {
        if offset == CMD && value & CMD_USR != 0 {
            self.regs.insert(CMD, value & !CMD_USR);
            self.execute(flash);
        } else {
            self.regs.insert(offset, value);
        }
    }

    fn execute(&mut self, flash: &mut Flash) {
        let usr = self.read(USR);
        let command = (self.read(USR2) & 0xFFFF) as u8;
        let addr = (usr & USR_ADDR != 0).then(|| self.read(ADDR));
        let miso_bytes = if usr & USR_MISO != 0 {
            ((self.read(MISO_DLEN) & 0x3FF) as usize + 1).div_ceil(8)
        } else {
            0
        };
        let mosi: Vec<u8> = if usr & USR_MOSI != 0 {
            let n = ((self.read(MOSI_DLEN) & 0x3FF) as usize + 1).div_ceil(8);
            (0..W_COUNT)
                .flat_map(|i| self.read(W0 + 4 * i).to_le_bytes())
                .take(n)
                .collect()
        } else {
            Vec::new()
        };
        let _dummy = self.read(USR1);
        let reply = self.run_command(command, addr, &mosi, miso_bytes, flash);
        if miso_bytes > 0 {
            let mut bytes = reply;
            bytes.resize((W_COUNT * 4) as usize, 0);
            for i in 0..W_COUNT {
                let at = (i * 4) as usize;
                let word =
                    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
                self.regs.insert(W0 + 4 * i, word);
            }
        }
    }

    fn run_command(
        &mut self,
        command: u8,
        addr: Option<u32>,
        mosi: &[u8],
        miso_bytes: usize,
        flash: &mut Flash,
    ) -> Vec<u8> {
        let take = |bytes: Vec<u8>| bytes.into_iter().cycle().take(miso_bytes).collect();
        match command {
            0x9F => take(jedec_id(flash.size()).to_vec()),
            0x5A => {
                let table = sfdp(flash.size());
                let start = addr.unwrap_or(0) as usize;
                (0..miso_bytes)
                    .map(|i| table.get(start + i).copied().unwrap_or(0xFF))
                    .collect()
            }
            0x05 => take(vec![self.status[0] | u8::from(self.write_enabled) << 1]),
            0x35 => take(vec![self.status[1]]),
            0x15 => take(vec![self.status[2]]),
            0x01 | 0x31 | 0x11 => {
                let reg = match command {
                    0x01 => 0,
                    0x31 => 1,
                    _ => 2,
                };
                if self.write_enabled {
                    for (i, b) in mosi.iter().enumerate() {
                        if let Some(slot) = self.status.get_mut(reg + i) {
                            // Bit 0 (busy) and bit 1 (WEL) are read-only.
                            *slot = if reg + i == 0 { b & !0x03 } else { *b };
                        }
                    }
                }
                self.write_enabled = false;
                Vec::new()
            }
            0x06 | 0x50 => {
                self.write_enabled = true;
                Vec::new()
            }
            0x04 => {
                self.write_enabled = false;
                Vec::new()
            }
            0x03 => flash.read_vec(addr.unwrap_or(0), miso_bytes),
            // Reset-enable/reset, deep power-down/release, XMC wake-up: no state to change.
            _ => vec![0; miso_bytes],
        }
    }
}

/// A minimal SFDP table: signature, a JEDEC basic parameter header and the density dword.
fn sfdp(size: u32) -> Vec<u8> {
    let mut t = vec![0xFF; 0x100];
    t[0..8].copy_from_slice(&[b'S', b'F', b'D', b'P', 0x06, 0x01, 0x01, 0xFF]);
    // Parameter header 0: JEDEC basic flash parameters, 16 dwords at 0x30.
    t[8..16].copy_from_slice(&[0x00, 0x06, 0x01, 0x10, 0x30, 0x00, 0x00, 0xFF]);
    // Parameter header 1: vendor table (id = manufacturer), 3 dwords at 0x90.
    t[16..24].copy_from_slice(&[MANUFACTURER_GD, 0x00, 0x01, 0x03, 0x90, 0x00, 0x00, 0xFF]);
    let bits = u64::from(size) * 8 - 1;
    t[0x34..0x38].copy_from_slice(&(bits as u32).to_le_bytes());
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spi: &mut Spi1, flash: &mut Flash, cmd: u8, addr: Option<u32>, read_bits: u32) -> u32 {
        let mut usr = 1 << 31;
        if addr.is_some() {
            usr |= USR_ADDR;
        }
        if read_bits > 0 {
            usr |= USR_MISO;
            spi.write(MISO_DLEN, read_bits - 1, flash);
        }
        spi.write(USR, usr, flash);
        spi.write(USR2, (7 << 28) | u32::from(cmd), flash);
        if let Some(a) = addr {
            spi.write(ADDR, a, flash);
        }
        spi.write(W0, 0, flash);
        spi.write(CMD, CMD_USR, flash);
        assert_eq!(spi.read(CMD) & CMD_USR, 0, "command completes at once");
        spi.read(W0)
    }

    #[test]
    fn rdid_encodes_the_size() {
        for (size, id) in [
            (8 << 20, 0x17_40C8),
            (16 << 20, 0x18_40C8),
            (4 << 20, 0x16_40C8),
        ] {
            let mut flash = Flash::new(size).unwrap();
            let mut spi = Spi1::default();
            assert_eq!(run(&mut spi, &mut flash, 0x9F, None, 24), id);
        }
    }

    #[test]
    fn sfdp_signature() {
        let mut flash = Flash::new(8 << 20).unwrap();
        let mut spi = Spi1::default();
        assert_eq!(run(&mut spi, &mut flash, 0x5A, Some(0), 32), 0x5044_4653);
        assert_eq!(
            run(&mut spi, &mut flash, 0x5A, Some(0x10), 8),
            u32::from(MANUFACTURER_GD)
        );
    }
}
