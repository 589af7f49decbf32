//! The SPI NOR flash chip of the simulated board: erase sets 4 KiB sectors to 0xFF, programming
//! can only clear bits (as on a real NOR chip, so writing over data that was not erased is
//! visible), addresses beyond the chip wrap around as the address lines do.
//!
//! Optionally backed by a file: loaded at creation, dirty sectors written back by
//! [`Flash::persist`] and on drop. It knows nothing of the loader that drives it.

use std::collections::BTreeSet;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::SimError;
use super::faults::{FlashFaults, ProgramFailure};
use super::pace::Work;

/// Erase granularity.
pub const SECTOR: u32 = 0x1000;
/// The block-erase command's size.
pub const BLOCK: u32 = 0x1_0000;

/// A NOR flash chip.
#[derive(Debug)]
pub struct Flash {
    data: Vec<u8>,
    file: Option<PathBuf>,
    dirty: BTreeSet<u32>,
    /// Erases, programs, reads and hashes since the last [`Flash::take_work`] (what the paced
    /// chip charges time for).
    work: Work,
    /// Program operations that fail (`sim::Faults`), when any do.
    faults: Option<FlashFaults>,
}

impl Flash {
    /// An erased flash of `size` bytes.
    pub fn new(size: u32) -> Result<Self, SimError> {
        if !size.is_power_of_two() || !(0x4_0000..=0x800_0000).contains(&size) {
            return Err(SimError::FlashSize(u64::from(size)));
        }
        Ok(Flash {
            data: vec![0xFF; size as usize],
            file: None,
            dirty: BTreeSet::new(),
            work: Work::default(),
            faults: None,
        })
    }

    /// A flash of `size` bytes backed by `path`: its contents are loaded when the file exists
    /// (a shorter file leaves the rest erased); the file is (re)written by [`Flash::persist`].
    pub fn with_file(size: u32, path: &Path) -> Result<Self, SimError> {
        let mut flash = Flash::new(size)?;
        match std::fs::read(path) {
            Ok(bytes) => {
                if bytes.len() as u64 > u64::from(size) {
                    return Err(SimError::FlashFileTooLarge {
                        path: path.to_path_buf(),
                        len: bytes.len() as u64,
                        size,
                    });
                }
                flash.data[..bytes.len()].copy_from_slice(&bytes);
                // A shorter file is extended on the next persist.
                if (bytes.len() as u64) < u64::from(size) {
                    flash
                        .dirty
                        .extend((bytes.len() as u32 / SECTOR)..(size / SECTOR));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                flash.dirty.extend(0..size / SECTOR);
            }
            Err(source) => {
                return Err(SimError::FlashFile {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        flash.file = Some(path.to_path_buf());
        flash.persist()?;
        Ok(flash)
    }

    /// Size in bytes.
    pub fn size(&self) -> u32 {
        self.data.len() as u32
    }

    /// The whole contents.
    pub fn contents(&self) -> &[u8] {
        &self.data
    }

    /// The backing file, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    fn index(&self, addr: u32) -> usize {
        // The chip ignores address bits above its size (size is a power of two).
        (addr & (self.size() - 1)) as usize
    }

    /// Read `buf.len()` bytes from `addr` (wrapping at the end of the chip).
    pub fn read(&self, addr: u32, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.data[self.index(addr.wrapping_add(i as u32))];
        }
    }

    /// [`Flash::read`] by a loader command, counted as flash work.
    pub fn read_counted(&mut self, addr: u32, buf: &mut [u8]) {
        self.read(addr, buf);
        self.work.read += buf.len() as u64;
    }

    /// The erases, programs, reads and hashes since the last call (and start counting afresh).
    pub fn take_work(&mut self) -> Work {
        std::mem::take(&mut self.work)
    }

    /// MD5 of `len` bytes from `addr` (wrapping at the end of the chip), read in pieces so a
    /// client asking for a huge range cannot make the simulator allocate it. Counted as work.
    pub fn md5(&mut self, addr: u32, len: u32) -> [u8; 16] {
        self.work.hashed += u64::from(len);
        self.md5_of(addr, len)
    }

    fn md5_of(&self, addr: u32, len: u32) -> [u8; 16] {
        use md5::{Digest, Md5};
        let mut hasher = Md5::new();
        let mut chunk = vec![0u8; 0x10000];
        let mut done: u32 = 0;
        while done < len {
            let n = (len - done).min(chunk.len() as u32) as usize;
            self.read(addr.wrapping_add(done), &mut chunk[..n]);
            hasher.update(&chunk[..n]);
            done += n as u32;
        }
        hasher.finalize().into()
    }

    /// Read `len` bytes from `addr`.
    pub fn read_vec(&self, addr: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.read(addr, &mut v);
        v
    }

    /// Erase the sector that holds `addr` (the sector-erase command).
    pub fn erase_sector(&mut self, addr: u32) {
        self.clear_sector(addr);
        self.work.sectors_erased += 1;
    }

    /// Erase the 64 KiB block that holds `addr` (the block-erase command).
    pub fn erase_block(&mut self, addr: u32) {
        let first = addr & !(BLOCK - 1);
        for s in 0..BLOCK / SECTOR {
            self.clear_sector(first.wrapping_add(s * SECTOR));
        }
        self.work.blocks_erased += 1;
    }

    fn clear_sector(&mut self, addr: u32) {
        let start = self.index(addr) & !(SECTOR as usize - 1);
        self.data[start..start + SECTOR as usize].fill(0xFF);
        self.dirty.insert(start as u32 / SECTOR);
    }

    /// Erase every sector that `[addr, addr + len)` touches, as the loaders' erase-area routine
    /// does: sector by sector up to a 64 KiB boundary, then whole blocks while a whole block is
    /// left, then sectors again.
    pub fn erase_range(&mut self, addr: u32, len: u32) {
        if len == 0 {
            return;
        }
        let first = addr / SECTOR;
        let last = (u64::from(addr) + u64::from(len)).div_ceil(u64::from(SECTOR));
        let count = (last - u64::from(first)).min(u64::from(self.size() / SECTOR)) as u32;
        let per_block = BLOCK / SECTOR;
        let mut s = 0;
        while s < count {
            let sector = first + s;
            if sector % per_block == 0 && count - s >= per_block {
                self.erase_block(sector.wrapping_mul(SECTOR));
                s += per_block;
            } else {
                self.erase_sector(sector.wrapping_mul(SECTOR));
                s += 1;
            }
        }
    }

    /// Erase the whole chip (the chip-erase command).
    pub fn erase_all(&mut self) {
        self.data.fill(0xFF);
        self.dirty.extend(0..self.size() / SECTOR);
        self.work.chip_erased_bytes += u64::from(self.size());
    }

    /// Program `bytes` at `addr`: each bit can only go from 1 to 0. Returns true when the result
    /// reads back as `bytes` (false when the target was not erased).
    pub fn program(&mut self, addr: u32, bytes: &[u8]) -> bool {
        self.work.programmed += bytes.len() as u64;
        // A fault leaves bytes unprogrammed, or one bit at 1 (`sim::Faults::program_fail`,
        // `bad_sectors`).
        let failure = self.faults.as_mut().and_then(|f| f.failure(addr, bytes));
        let mut ok = true;
        for (i, &b) in bytes.iter().enumerate() {
            let at = self.index(addr.wrapping_add(i as u32));
            match &failure {
                Some(ProgramFailure::Unprogrammed(range)) if range.contains(&i) => {}
                Some(ProgramFailure::StuckBit(byte, bit)) if *byte == i => {
                    let old = self.data[at];
                    self.data[at] = (old & b) | (old & bit);
                }
                _ => self.data[at] &= b,
            }
            ok &= self.data[at] == b;
            self.dirty.insert(at as u32 / SECTOR);
        }
        ok
    }

    /// Set the faults programming meets (none by default).
    pub fn set_faults(&mut self, faults: Option<FlashFaults>) {
        self.faults = faults;
    }

    /// Program operations a fault made fail so far.
    pub fn program_failures(&self) -> u64 {
        self.faults.as_ref().map_or(0, |f| f.failures)
    }

    /// Overwrite bytes directly, as a programmer with erase would (test set-up).
    pub fn load(&mut self, addr: u32, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let at = self.index(addr.wrapping_add(i as u32));
            self.data[at] = b;
            self.dirty.insert(at as u32 / SECTOR);
        }
    }

    /// True when sectors changed since the last [`Flash::persist`].
    pub fn is_dirty(&self) -> bool {
        self.file.is_some() && !self.dirty.is_empty()
    }

    /// Write the changed sectors back to the backing file (no-op without one).
    pub fn persist(&mut self) -> Result<(), SimError> {
        let Some(path) = self.file.clone() else {
            self.dirty.clear();
            return Ok(());
        };
        if self.dirty.is_empty() {
            return Ok(());
        }
        let err = |action, source| SimError::FlashFile {
            action,
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| err("open", e))?;
        file.set_len(u64::from(self.size()))
            .map_err(|e| err("resize", e))?;
        for &sector in &self.dirty {
            let start = (sector * SECTOR) as usize;
            file.seek(SeekFrom::Start(start as u64))
                .map_err(|e| err("seek in", e))?;
            file.write_all(&self.data[start..start + SECTOR as usize])
                .map_err(|e| err("write", e))?;
        }
        file.flush().map_err(|e| err("write", e))?;
        self.dirty.clear();
        Ok(())
    }
}

impl Drop for Flash {
    fn drop(&mut self) {
        // Best effort: a failure here has nobody to report to; `persist` reports it when called.
        let _ = self.persist();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_only_clears_bits() {
        let mut f = Flash::new(0x40000).unwrap();
        assert!(f.program(0x10, &[0xF0]));
        assert!(!f.program(0x10, &[0x0F]));
        assert_eq!(f.read_vec(0x10, 1), vec![0x00]);
        f.erase_range(0x10, 1);
        assert_eq!(f.read_vec(0x0, 0x1000), vec![0xFF; 0x1000]);
    }

    #[test]
    fn sizes_must_be_powers_of_two() {
        assert!(Flash::new(3 << 20).is_err());
        assert!(Flash::new(0x1000).is_err());
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        {
            let mut f = Flash::with_file(0x40000, &path).unwrap();
            f.program(0x1234, b"hello");
        }
        let f = Flash::with_file(0x40000, &path).unwrap();
        assert_eq!(f.read_vec(0x1234, 5), b"hello");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0x40000);
    }
}
