//! The library's one progress and notice type: [`Event`]. The loader, the flasher, the plan and
//! the board report what they do as these values, through the callback each call takes; the
//! command line renders them. Nothing here decides or prints anything.

use std::path::PathBuf;
use std::time::Duration;

/// Progress and notices from the loader and the flasher; the CLI renders these.
///
/// Offsets and lengths are flash byte addresses and byte counts.
///
/// Not `#[non_exhaustive]` on purpose: the command line's renderer matches every variant, so a
/// new event cannot be added without deciding how it is shown. Scripts match what they need and
/// end with `_ => {}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A connection attempt starts (1-based; `max_attempts` 0 means "forever").
    Connecting {
        /// This attempt, from 1.
        attempt: u32,
        /// How many attempts in all (0 = until it works).
        max_attempts: u32,
        /// Name of the reset sequence played before this attempt.
        reset: String,
    },
    /// The loader answered SYNC and the chip is an ESP32-S3 (sent after the chip check, so
    /// never for another chip).
    Connected {
        /// The port, as the transport describes it.
        port: String,
        /// True when a stub was already running (SYNC value 0).
        stub_already_running: bool,
    },
    /// The line speed was changed with CHANGE_BAUDRATE.
    ChangedBaud {
        /// New speed.
        baud: u32,
    },
    /// The baud ladder settled: the line proved it carries data at `baud` (a round trip that
    /// checks data, not only a SYNC).
    BaudSettled {
        /// The rate now in use.
        baud: u32,
        /// True when the climb started at the rate remembered for this port.
        from_memory: bool,
    },
    /// A rung of the baud ladder failed (its proof, or a block written at it): the chip is
    /// reset and connected again at 115200, and the next rung down is tried.
    RungFailed {
        /// The rate that failed.
        baud: u32,
        /// What went wrong.
        reason: String,
    },
    /// An esptool flasher stub was found (`stub = "auto"`) and is used.
    StubFound {
        /// The stub's JSON file.
        path: std::path::PathBuf,
    },
    /// The stub is being uploaded to RAM.
    StubUploading,
    /// The stub said `OHAI` and now answers commands.
    StubRunning,
    /// The flash was attached and its size settled.
    FlashAttached {
        /// Size in bytes that the loader was told.
        size: u32,
        /// True when the size came from the flash ID, false when it was given.
        detected: bool,
    },
    /// The flash parameters of the bootloader at 0x0 were changed before writing.
    BootloaderPatched {
        /// Header bytes 2..3 as a big-endian number (esptool prints `0x022f`).
        params: u16,
        /// True when the appended SHA-256 was recomputed.
        digest_updated: bool,
    },
    /// Writing a region starts.
    RegionStarted {
        /// Flash offset.
        offset: u32,
        /// Uncompressed length.
        len: u32,
        /// Length after compression.
        compressed_len: u32,
        /// What the region is ("bootloader", "app", a file name).
        label: String,
    },
    /// Part of a region was sent.
    RegionProgress {
        /// Flash offset of the region.
        offset: u32,
        /// Compressed bytes sent so far.
        written: u32,
        /// Compressed bytes in all.
        total: u32,
    },
    /// A region was not written because the flash already holds the same bytes.
    RegionSkipped {
        /// Flash offset.
        offset: u32,
        /// Length.
        len: u32,
        /// Label of the region.
        label: String,
    },
    /// A region was written (not yet verified).
    RegionWritten {
        /// Flash offset.
        offset: u32,
        /// Uncompressed length.
        len: u32,
        /// Compressed length (of what was sent).
        compressed_len: u32,
        /// Time from the BEGIN command to the last block's reply.
        elapsed: Duration,
        /// Bytes of the region that the flash already held, found chunk by chunk with the chip's
        /// MD5 and not sent again (0 when the whole region was sent).
        unchanged: u32,
        /// True when the chip was the simulator answering at once: `elapsed` is then no
        /// transfer time, and a rate computed from it means nothing.
        unpaced: bool,
    },
    /// A region was compared with the flash chunk by chunk (the chip's MD5 of each chunk)
    /// because its MD5 as a whole differed or was not asked for: only the chunks that differ
    /// are written.
    ChunksCompared {
        /// Flash offset of the region.
        offset: u32,
        /// Its length.
        len: u32,
        /// Chunks compared (the rest, when comparing stopped early, are written unseen).
        compared: u32,
        /// Chunks in all.
        chunks: u32,
        /// Chunks the flash already held.
        same: u32,
    },
    /// The MD5 of the flash matched the region.
    Verified {
        /// Flash offset.
        offset: u32,
        /// Length.
        len: u32,
    },
    /// A write that met trouble on the line (or was resumed) checks every region once more
    /// with the chip's MD5 before it reports success.
    Rechecking {
        /// How many regions.
        regions: u32,
    },
    /// A write failed in a way a new start can cure (the line lost step, the chip restarted,
    /// the port came back): the tool got back in step with the chip, or connected again, and
    /// goes on with the regions not yet verified.
    Resuming {
        /// What went wrong.
        reason: String,
        /// True when the chip was reset and connected again (not only brought back in step).
        reconnected: bool,
        /// Regions of the job already verified (skipped from now on), of `total`.
        verified: u32,
        /// Regions in the job.
        total: u32,
    },
    /// The board's port disappeared mid-operation (a USB cable pulled, a device that
    /// re-enumerated); the tool waits for it to come back.
    PortGone {
        /// The port, as it was opened.
        port: String,
        /// How long the tool waits at most.
        wait: std::time::Duration,
    },
    /// A data block failed and the region is being sent again.
    Retrying {
        /// Flash offset of the region.
        offset: u32,
        /// The retry number, from 1.
        attempt: u32,
        /// What went wrong.
        reason: String,
    },
    /// Erasing starts.
    EraseStarted {
        /// Flash offset.
        offset: u32,
        /// Length.
        len: u32,
    },
    /// Erasing finished.
    EraseDone {
        /// Flash offset.
        offset: u32,
        /// Length.
        len: u32,
        /// How long it took.
        elapsed: Duration,
    },
    /// Part of a read finished.
    ReadProgress {
        /// Flash offset of the read.
        offset: u32,
        /// Bytes read so far.
        read: u32,
        /// Bytes in all.
        total: u32,
    },
    /// How full the app partition is that the app goes into.
    AppPartitionFill {
        /// The partition's name.
        partition: String,
        /// Bytes of app image.
        used: u64,
        /// The partition's size.
        size: u64,
    },
    /// The partition table being written puts the app somewhere else than the chip's current
    /// table does: the bootloader will boot the new place, and what sat at the old one stays.
    TableMovesApp {
        /// The app partition in the table on the chip.
        chip_partition: String,
        /// Its offset.
        chip_offset: u32,
        /// The app partition in the table being written.
        new_partition: String,
        /// Its offset.
        new_offset: u32,
    },
    /// An app written alone goes where the chip's own partition table says, not where it was
    /// planned.
    AppMovedByChipTable {
        /// The partition table the plan used, when the user chose one (`None`: the default
        /// table or the default offset of a prebuilt app image).
        planned_by: Option<String>,
        /// The partition it was planned for.
        planned_partition: String,
        /// The offset it was planned for.
        planned_offset: u32,
        /// The app partition in the chip's table.
        partition: String,
        /// Where the app goes.
        offset: u32,
    },
    /// Only the app is written, into a partition of the chip's own table.
    AppAlone {
        /// Where.
        offset: u32,
        /// The app partition in the chip's table.
        partition: String,
        /// Why only the app.
        why: AppAloneWhy,
    },
    /// A partition, found in the chip's own table, is about to be erased.
    ErasingPartition {
        /// Its name.
        name: String,
        /// Its offset.
        offset: u32,
        /// Its size.
        size: u32,
    },
    /// A copy of the ESP32-S3 bootloader on the chip was kept (in the user's cache directory)
    /// before it is erased or replaced.
    BootloaderKept {
        /// The kept bootloader's id.
        id: String,
        /// Where its image is.
        path: PathBuf,
        /// The ESP-IDF version found in it.
        idf_version: Option<String>,
        /// False when the same bootloader was kept before (nothing new was written).
        new: bool,
        /// What is about to happen to it on the chip.
        before: KeptBefore,
    },
    /// The chip has no bootloader and none is configured: the newest kept one is written with
    /// the app and a partition table.
    UsingKeptBootloader {
        /// The kept bootloader's id.
        id: String,
        /// Where its image is.
        path: PathBuf,
        /// The ESP-IDF version found in it.
        idf_version: Option<String>,
        /// Where it came from, in words.
        origin: String,
    },
    /// Part of a program was loaded into RAM (MEM_BEGIN, MEM_DATA).
    RamLoaded {
        /// Load address.
        addr: u32,
        /// Bytes loaded.
        len: u32,
    },
    /// The program loaded into RAM was started (MEM_END); the flash was not touched.
    RamStarted {
        /// The entry point it was started at.
        entry: u32,
    },
    /// Something the user should know that does not stop the operation.
    Warning(String),
}

/// Why a bootloader was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptBefore {
    /// The flash it is on is about to be erased.
    Erase,
    /// Another bootloader is about to be written over it.
    Replace,
}

/// Why only an app is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppAloneWhy {
    /// An ELF was flashed and no second-stage bootloader is configured, so no layout can be made.
    NoBootloaderConfigured,
    /// A prebuilt bare app image was flashed.
    AppImageFile,
}
