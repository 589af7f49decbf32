//! The automatic baud ladder (`baud = "auto"`, the default): which rates to try, how a rate
//! proves that it carries data, and the per-port memory of the rate that worked, so the climb is
//! paid once.
//!
//! After connecting at 115200 (the rate the ROM detects from SYNC) and attaching the flash, the
//! board asks the chip for the fastest rung ([`RUNGS`], or the one remembered for the port) and
//! proves it with a round trip that checks data, not only a SYNC: the chip's MD5 of the first
//! flash sector and (on the ROM) 64 bytes read from it must be what they were at 115200, and the
//! chip-detect register must read its magic. A rung that fails is left by resetting the chip and
//! connecting again at 115200; the next rung down is tried. A block that fails later at the new
//! rate does the same, and the write goes on with what is not verified yet. The orchestration
//! (connecting again) is [`crate::Board`]'s; this module decides and checks.
//!
//! Where the baud means nothing the ladder is not climbed: the chip's own USB-Serial/JTAG port
//! (USB moves bytes at its own speed) and `socket://` (the bridge's serial side has a fixed
//! speed).

use std::path::{Path, PathBuf};

use crate::flasher::{FlashError, Flasher};
use crate::loader::ROM_BAUD;
use crate::protocol::chip::CHIP_DETECT_MAGIC_REG;
use crate::transport::Transport;
use crate::transport::usb::ESPRESSIF_VID;

/// The rungs, fastest first: rates common USB-UART bridges (CP210x, CH34x, FTDI) generate
/// exactly from their clocks. Below the last one the connection rate (115200) stays.
pub const RUNGS: [u32; 4] = [2_000_000, 1_500_000, 921_600, 460_800];

/// The flash range whose MD5 a rung must reproduce.
const PROBE_LEN: u32 = 0x1000;
/// The bytes a rung must read back on the ROM.
const PROBE_READ: u32 = 64;
/// What the chip-detect register reads on an ESP32-S3.
const CHIP_MAGIC: u32 = 0x9;

/// True when a ladder means something on this link: not over the chip's own USB (the speed is
/// nominal there) and not where the speed cannot be changed (`socket://`).
pub fn applies(usb_ids: Option<(u16, u16)>, can_change_baud: bool) -> bool {
    can_change_baud && !matches!(usb_ids, Some((ESPRESSIF_VID, _)))
}

/// The rungs to try, fastest first: all of them, or those at or below a remembered rate, or
/// (after a failure at `failed`) those below it. [`ROM_BAUD`] ends the list: staying at the
/// connection rate always works.
pub fn rungs(remembered: Option<u32>, failed: Option<u32>) -> Vec<u32> {
    let ceiling = match (remembered, failed) {
        (_, Some(failed)) => failed.saturating_sub(1),
        (Some(remembered), None) => remembered,
        (None, None) => u32::MAX,
    };
    let mut out: Vec<u32> = RUNGS.into_iter().filter(|r| *r <= ceiling).collect();
    out.push(ROM_BAUD);
    out
}

/// What a rung must reproduce: the chip's answers at the connection rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    md5: [u8; 16],
    first_bytes: Option<Vec<u8>>,
}

/// Take the reference at the current (safe) rate.
pub fn reference<T: Transport>(flasher: &mut Flasher<T>) -> Result<Reference, FlashError> {
    let md5 = flasher.md5(0, PROBE_LEN)?;
    let first_bytes = if flasher.loader().is_stub() {
        None
    } else {
        Some(flasher.read_flash(0, PROBE_READ, &mut |_| {})?)
    };
    Ok(Reference { md5, first_bytes })
}

/// Why a rung did not prove itself.
#[derive(Debug)]
pub enum RungFailure {
    /// A command failed: a timeout, a garbled reply, a refusal, or a device that went away.
    Failed(FlashError),
    /// The chip answered, but with different data than at 115200 (what differed).
    Different(String),
}

/// True when `error` says the device itself is gone (a pulled cable).
pub fn device_gone(error: &FlashError) -> bool {
    matches!(
        error,
        FlashError::Loader(crate::loader::LoaderError::Transport(
            crate::transport::TransportError::Disconnected { .. }
        ))
    )
}

impl std::fmt::Display for RungFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RungFailure::Failed(e) => e.fmt(f),
            RungFailure::Different(what) => f.write_str(what),
        }
    }
}

impl<E: Into<FlashError>> From<E> for RungFailure {
    fn from(error: E) -> Self {
        RungFailure::Failed(error.into())
    }
}

/// Check the current rate against `reference`: `Ok(())`, or what went wrong (a timeout, a
/// garbled reply, different data).
pub fn prove<T: Transport>(
    flasher: &mut Flasher<T>,
    reference: &Reference,
) -> Result<(), RungFailure> {
    let magic = flasher.loader().read_reg(CHIP_DETECT_MAGIC_REG)?;
    if magic != CHIP_MAGIC {
        return Err(RungFailure::Different(format!(
            "the chip-detect register read 0x{magic:x} instead of 0x{CHIP_MAGIC:x}"
        )));
    }
    let md5 = flasher.md5(0, PROBE_LEN)?;
    if md5 != reference.md5 {
        return Err(RungFailure::Different(
            "the flash's MD5 came back different".into(),
        ));
    }
    if let Some(expected) = &reference.first_bytes {
        let read = flasher.read_flash(0, PROBE_READ, &mut |_| {})?;
        if &read != expected {
            return Err(RungFailure::Different(
                "the flash read back different".into(),
            ));
        }
    }
    Ok(())
}

/// The rate that worked per port, kept in a small text file (one `BAUD<TAB>PORT` line per port),
/// so the next run starts there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaudMemory {
    path: PathBuf,
}

/// The memory file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot remember the line speed in {}: {source}; delete the file or check its folder's permissions", path.display())]
pub struct MemoryError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub source: std::io::Error,
}

impl BaudMemory {
    /// The memory kept in `path` (created when first written).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        BaudMemory { path: path.into() }
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rate remembered for `port` (a missing or unreadable file remembers nothing).
    pub fn recall(&self, port: &str) -> Option<u32> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        parse(&text)
            .into_iter()
            .find(|(p, _)| p == port)
            .map(|(_, b)| b)
    }

    /// Remember `baud` for `port` (replacing what was there for it).
    pub fn remember(&self, port: &str, baud: u32) -> Result<(), MemoryError> {
        let error = |source| MemoryError {
            path: self.path.clone(),
            source,
        };
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let mut entries = parse(&text);
        entries.retain(|(p, _)| p != port);
        entries.push((port.to_owned(), baud));
        let mut out = String::from("# line speeds cargo-esp32s3 proved per port (BAUD<TAB>PORT)\n");
        for (p, b) in entries {
            out.push_str(&format!("{b}\t{p}\n"));
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(error)?;
        }
        // Write a sibling and rename it over, so a reader never sees half a file.
        let temp = self.path.with_extension("tmp");
        std::fs::write(&temp, out).map_err(error)?;
        std::fs::rename(&temp, &self.path).map_err(error)
    }
}

/// `(port, baud)` pairs of a memory file; lines that do not parse are skipped.
fn parse(text: &str) -> Vec<(String, u32)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (baud, port) = line.split_once('\t')?;
            Some((port.to_owned(), baud.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_start_at_the_top_at_the_memory_or_below_a_failure() {
        assert_eq!(
            rungs(None, None),
            [2_000_000, 1_500_000, 921_600, 460_800, 115_200]
        );
        assert_eq!(rungs(Some(921_600), None), [921_600, 460_800, 115_200]);
        assert_eq!(
            rungs(Some(921_600), Some(1_500_000)),
            [921_600, 460_800, 115_200]
        );
        assert_eq!(rungs(None, Some(460_800)), [115_200]);
    }

    #[test]
    fn only_a_real_speed_is_climbed() {
        assert!(applies(None, true));
        assert!(applies(Some((0x10C4, 0xEA60)), true));
        assert!(!applies(Some((0x303A, 0x1001)), true));
        assert!(!applies(None, false));
    }

    #[test]
    fn the_memory_keeps_one_rate_per_port() {
        let dir = tempfile::tempdir().unwrap();
        let memory = BaudMemory::new(dir.path().join("cache/baud-rates"));
        assert_eq!(memory.recall("/dev/ttyUSB0"), None);
        memory.remember("/dev/ttyUSB0", 2_000_000).unwrap();
        memory.remember("sim://?max-baud=921600", 921_600).unwrap();
        memory.remember("/dev/ttyUSB0", 1_500_000).unwrap();
        assert_eq!(memory.recall("/dev/ttyUSB0"), Some(1_500_000));
        assert_eq!(memory.recall("sim://?max-baud=921600"), Some(921_600));
        assert_eq!(memory.recall("/dev/ttyUSB1"), None);
        let text = std::fs::read_to_string(memory.path()).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
