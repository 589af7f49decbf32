//! The library's one executor for a connected chip: open a port (a serial port, a network port,
//! or `sim://` for the virtual ESP32-S3), connect the ROM loader, attach the flash, then flash a
//! [`Plan`], erase (all, a region, a partition by name), read, reset and monitor. Progress leaves
//! as [`Event`] values through the callback each call takes; nothing here prints, chooses a port
//! on its own or reads the environment.
//!
//! It is the only place that turns [`Settings`] into the loader's connect options and the
//! flasher's flash options (`force` and `erase-all` included), so a script connects and writes
//! exactly as `cargo esp32s3` does. What goes where is the plan's business ([`crate::plan`]).
//!
//! ```
//! # fn main() -> cargo_esp32s3::Result<()> {
//! use cargo_esp32s3::{Board, config::Settings};
//!
//! // The virtual chip: every test and example can run without hardware.
//! let mut board = Board::open("sim://", &Settings::default())?;
//! assert_eq!(board.flash_size(), 8 << 20);
//! board.erase_region(0x10000, 0x1000, |_| {})?;
//! assert_eq!(board.read_flash(0x10000, 16, |_| {})?, vec![0xFF; 16]);
//! # Ok(())
//! # }
//! ```

use crate::baud::{self, BaudMemory};
use crate::config::Settings;
use crate::error::shown_path;
use crate::flasher::{FlashOptions, Flasher, Region, WriteSummary};
use crate::image::partition::{MAX_TABLE_LEN, Partition, PartitionTable};
use crate::image::{FlashParams, FlashSize};
use crate::loader::{
    ChipInfo, ConnectOptions, FlashId, Loader, LoaderError, ROM_BAUD, ResetDone, SecurityInfo,
    StubImage,
};
use crate::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions};
use crate::plan::{DEFAULT_FLASH_SIZE, Plan};
use crate::reset::After;
use crate::transport::AnyTransport;

pub use crate::event::Event;

/// Why a board refused an operation before touching the flash.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The flash at the table offset does not parse as a partition table.
    #[error(
        "no readable partition table at 0x{offset:x} on the chip ({problem}); erase with --region OFFSET SIZE instead, or set --partition-table-offset"
    )]
    UnreadableTable {
        /// The table offset.
        offset: u32,
        /// What is wrong with it.
        problem: String,
    },
    /// The flash at the table offset is erased.
    #[error(
        "there is no partition table at 0x{offset:x} on the chip (the flash there is erased); erase with --region OFFSET SIZE instead"
    )]
    NoTable {
        /// The table offset.
        offset: u32,
    },
    /// The chip's table has no partition by that name.
    #[error("the partition table on the chip has no partition {name:?}; it has {}", names.join(", "))]
    NoSuchPartition {
        /// The name asked for.
        name: String,
        /// The names there are.
        names: Vec<String>,
    },
}

/// One chip, connected, with its flash attached.
pub struct Board {
    flasher: Flasher<AnyTransport>,
    settings: Settings,
    /// The port as opened (the key of the baud memory).
    url: String,
    /// The rate the baud ladder settled on, when it was climbed (`baud = "auto"` on a link
    /// where the speed means something).
    rung: Option<u32>,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board")
            .field("flash_size", &self.flasher.flash_size())
            .finish_non_exhaustive()
    }
}

impl Board {
    /// Open `url` (any port the command line accepts: `/dev/ttyUSB0`, `COM3`,
    /// `socket://host:port`, `rfc2217://host:port`, `sim://`, `sim://?flash=chip.bin`), reset
    /// the chip into its loader (over a port with modem lines), connect, switch to the
    /// configured baud and attach the flash. `settings` gives the reset, baud, attempts, stub and
    /// flash options (its `port` is not used).
    pub fn open(url: &str, settings: &Settings) -> crate::Result<Board> {
        Self::open_with(url, settings, |_| {})
    }

    /// [`Board::open`], reporting the connection attempts and the flash attach as events.
    pub fn open_with(
        url: &str,
        settings: &Settings,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<Board> {
        let mut on_progress = on_progress;
        let transport = crate::transport::open(url, ROM_BAUD)?;
        let loader = Loader::connect(transport, &connect_options(settings)?, &mut on_progress)?;
        let climb = settings.auto_baud && baud::applies(loader.usb_ids(), loader.can_change_baud());
        let flasher = Flasher::new(loader, flash_options(settings), &mut on_progress)?;
        let mut board = Board {
            flasher,
            settings: settings.clone(),
            url: url.to_string(),
            rung: None,
        };
        if climb {
            board.climb(None, &mut on_progress)?;
        }
        Ok(board)
    }

    /// The baud ladder: from the rate remembered for this port (or the top rung), or from below
    /// `failed`, ask the chip for each rung and keep the first whose data round trip proves it
    /// ([`baud::prove`]); a rung that fails is left by connecting again at 115200. The rate that
    /// worked is remembered for the port ([`Settings::baud_memory`]).
    fn climb(
        &mut self,
        failed: Option<u32>,
        on_progress: &mut dyn FnMut(Event),
    ) -> crate::Result<()> {
        let memory = self.settings.baud_memory.as_ref().map(BaudMemory::new);
        let remembered = match (&memory, failed) {
            (Some(memory), None) => memory.recall(&self.url),
            _ => None,
        };
        let mut reference = baud::reference(&mut self.flasher)?;
        let mut settled = ROM_BAUD;
        for rung in baud::rungs(remembered, failed) {
            if rung == ROM_BAUD {
                break;
            }
            let changed = self
                .flasher
                .loader()
                .change_baud(rung, on_progress)
                .map_err(|e| e.to_string());
            match changed.and_then(|()| baud::prove(&mut self.flasher, &reference)) {
                Ok(()) => {
                    settled = rung;
                    break;
                }
                Err(reason) => {
                    on_progress(Event::RungFailed { baud: rung, reason });
                    self.reconnect(on_progress)?;
                    reference = baud::reference(&mut self.flasher)?;
                }
            }
        }
        self.rung = Some(settled);
        on_progress(Event::BaudSettled {
            baud: settled,
            from_memory: remembered == Some(settled),
        });
        if let Some(memory) = memory {
            if let Err(e) = memory.remember(&self.url, settled) {
                on_progress(Event::Warning(e.to_string()));
            }
        }
        Ok(())
    }

    /// Reset the chip and connect again at 115200 (the connect settings without their baud
    /// change), attaching the flash again; what was verified stays known.
    fn reconnect(&mut self, on_progress: &mut dyn FnMut(Event)) -> crate::Result<()> {
        let mut options = connect_options(&self.settings)?;
        options.baud = 0;
        self.flasher.loader().reconnect(&options, on_progress)?;
        self.flasher.reattach(on_progress)?;
        Ok(())
    }

    /// After a write failed at a ladder rung above 115200: reconnect, take what was verified as
    /// done, and climb from the rung below. `Ok(false)` when there is no rung to fall back to
    /// (the failure stands).
    fn fall_back(
        &mut self,
        error: &crate::flasher::FlashError,
        on_progress: &mut dyn FnMut(Event),
    ) -> crate::Result<bool> {
        let Some(rung) = self.rung.filter(|r| *r > ROM_BAUD) else {
            return Ok(false);
        };
        if !line_failure(error) {
            return Ok(false);
        }
        on_progress(Event::RungFailed {
            baud: rung,
            reason: error.to_string(),
        });
        let verified = self.flasher.verified_ranges().to_vec();
        // A chip that cannot be reached again (it stopped answering altogether) leaves the
        // write's own failure as the one to report.
        if self.reconnect(on_progress).is_err() {
            return Ok(false);
        }
        self.flasher.assume_verified(&verified);
        self.climb(Some(rung), on_progress)?;
        Ok(true)
    }

    /// The flash size in bytes (configured, or detected from the flash ID).
    pub fn flash_size(&self) -> u32 {
        self.flasher.flash_size()
    }

    /// Chip revision, features, crystal and MAC address.
    pub fn chip_info(&mut self) -> crate::Result<ChipInfo> {
        Ok(self.flasher.loader().chip_info()?)
    }

    /// The flash chip's JEDEC ID and the size it encodes.
    pub fn flash_id(&mut self) -> crate::Result<FlashId> {
        Ok(self.flasher.loader().flash_id()?)
    }

    /// Secure boot, flash encryption and download-mode state.
    pub fn security_info(&mut self) -> crate::Result<SecurityInfo> {
        Ok(self.flasher.loader().security_info()?)
    }

    /// Write a plan: its choices are checked first ([`Plan::check_choices`]); a plan whose
    /// flash size was not configured is laid out again for this chip's flash
    /// ([`Plan::for_flash_size`], from the bytes it holds); an app written alone goes into the
    /// app partition the chip's own table names, and only onto a chip that can boot it
    /// ([`Plan::regions_for_chip`]); with `erase-all` the whole flash is erased first. Regions
    /// the flash already holds are skipped (unless the settings say otherwise), the rest is
    /// written compressed and verified with the chip's MD5.
    pub fn flash(
        &mut self,
        plan: &Plan,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<WriteSummary> {
        let mut on_progress = on_progress;
        plan.check_choices(&self.settings)?;
        let detected = FlashSize::from_bytes(u64::from(self.flasher.flash_size()));
        let size = self
            .settings
            .flash_size
            .or(detected)
            .unwrap_or(DEFAULT_FLASH_SIZE);
        let plan = plan.for_flash_size(size)?;
        let regions = plan.regions_for_chip(&mut self.flasher, &mut on_progress)?;
        if self.settings.erase_all {
            self.flasher.erase_all(&mut on_progress)?;
        }
        self.write_with_fallback(&regions, &mut on_progress)
    }

    /// Write regions; when a block fails at a ladder rung, reconnect one rung lower and go on
    /// with what is not verified yet (never restarting what is, never reporting success
    /// without the MD5).
    fn write_with_fallback(
        &mut self,
        regions: &[Region],
        on_progress: &mut dyn FnMut(Event),
    ) -> crate::Result<WriteSummary> {
        let started = self.flasher.loader().now();
        loop {
            match self.flasher.write_regions(regions, on_progress) {
                Ok(mut summary) => {
                    summary.elapsed = self
                        .flasher
                        .loader()
                        .now()
                        .saturating_duration_since(started);
                    return Ok(summary);
                }
                Err(error) => {
                    if !self.fall_back(&error, on_progress)? {
                        return Err(error.into());
                    }
                }
            }
        }
    }

    /// Write raw regions exactly where they say, with no boot check (for data partitions, or a
    /// layout assembled by hand).
    pub fn write_regions(
        &mut self,
        regions: &[Region],
        on_progress: impl FnMut(Event),
    ) -> crate::Result<WriteSummary> {
        let mut on_progress = on_progress;
        self.write_with_fallback(regions, &mut on_progress)
    }

    /// The line speed in use: the rate the baud ladder settled on, `None` when it was not
    /// climbed (a fixed `baud`, or a link where the speed means nothing).
    pub fn ladder_baud(&self) -> Option<u32> {
        self.rung
    }

    /// Erase the whole flash.
    pub fn erase_all(&mut self, on_progress: impl FnMut(Event)) -> crate::Result<()> {
        let mut on_progress = on_progress;
        Ok(self.flasher.erase_all(&mut on_progress)?)
    }

    /// Erase `size` bytes at `offset` (both multiples of 4 KiB).
    pub fn erase_region(
        &mut self,
        offset: u32,
        size: u32,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<()> {
        let mut on_progress = on_progress;
        Ok(self.flasher.erase_region(offset, size, &mut on_progress)?)
    }

    /// Erase the partition called `name` in the partition table on the chip (at the settings'
    /// `partition-table-offset`), and say which it was.
    pub fn erase_partition(
        &mut self,
        name: &str,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<Partition> {
        let mut on_progress = on_progress;
        let offset = self.settings.partition_table_offset;
        let bytes = self
            .flasher
            .read_flash(offset, MAX_TABLE_LEN as u32, &mut on_progress)?;
        let table =
            PartitionTable::from_binary(&bytes).map_err(|e| BoardError::UnreadableTable {
                offset,
                problem: e.to_string(),
            })?;
        if table.partitions.is_empty() {
            return Err(BoardError::NoTable { offset }.into());
        }
        let Some(partition) = table.find(name).cloned() else {
            return Err(BoardError::NoSuchPartition {
                name: name.to_string(),
                names: table.partitions.iter().map(|p| p.name.clone()).collect(),
            }
            .into());
        };
        on_progress(Event::ErasingPartition {
            name: partition.name.clone(),
            offset: partition.offset,
            size: partition.size,
        });
        self.flasher
            .erase_region(partition.offset, partition.size, &mut on_progress)?;
        Ok(partition)
    }

    /// Read `size` bytes of flash at `offset`, checked against the chip's MD5.
    pub fn read_flash(
        &mut self,
        offset: u32,
        size: u32,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<Vec<u8>> {
        let mut on_progress = on_progress;
        Ok(self.flasher.read_flash(offset, size, &mut on_progress)?)
    }

    /// Leave the loader as `after` says (a hard reset runs the firmware) and report how the
    /// chip was actually reset. The port stays open (for [`Board::into_transport`]).
    pub fn reset(&mut self, after: After) -> crate::Result<ResetDone> {
        let done = self.flasher.loader().reset_after(after)?;
        self.flasher.loader().transport_mut().flush()?;
        Ok(done)
    }

    /// Restart the chip into its firmware as `after` says, with the host switched to the
    /// settings' `monitor-baud` just before the chip restarts, so the boot log that follows is
    /// readable by [`Board::monitor`]. Flashing afterwards needs a new [`Board::open`].
    pub fn reset_into_monitor(&mut self, after: After) -> crate::Result<ResetDone> {
        let baud = self.settings.monitor_baud;
        let done = self.flasher.loader().reset_into_monitor(after, baud)?;
        self.flasher.loader().transport_mut().flush()?;
        Ok(done)
    }

    /// Watch the chip's console (at the settings' `monitor-baud`) until a stop condition in
    /// `options` holds (a line matching `until`, the `timeout`, or `on_event` returning
    /// [`Control::Stop`]) or the port closes. Lines, hints for known boot failures and decoded
    /// code addresses arrive as [`MonitorEvent`]s; see [`crate::monitor::watch`].
    ///
    /// ```
    /// # fn main() -> cargo_esp32s3::Result<()> {
    /// use std::time::Duration;
    /// use cargo_esp32s3::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions};
    /// use cargo_esp32s3::{Board, config::Settings, reset::After};
    ///
    /// // A blank virtual chip: the ROM finds no bootloader and says so.
    /// let mut board = Board::open("sim://", &Settings::default())?;
    /// board.reset_into_monitor(After::HardReset)?;
    /// let options = WatchOptions {
    ///     until: Some(regex::Regex::new("invalid header").unwrap()),
    ///     timeout: Some(Duration::from_secs(10)),
    ///     hints: true,
    ///     ..WatchOptions::default()
    /// };
    /// let mut lines = Vec::new();
    /// let end = board.monitor(&options, |event| {
    ///     if let MonitorEvent::Line(line) = event {
    ///         lines.push(line.to_string());
    ///     }
    ///     Control::Continue
    /// })?;
    /// assert!(matches!(end, WatchEnd::Matched { .. }));
    /// assert!(lines.iter().any(|l| l.starts_with("ESP-ROM:esp32s3")));
    /// # Ok(())
    /// # }
    /// ```
    pub fn monitor(
        &mut self,
        options: &WatchOptions,
        on_event: impl FnMut(MonitorEvent<'_>) -> Control,
    ) -> crate::Result<WatchEnd> {
        let mut on_event = on_event;
        let baud = self.settings.monitor_baud;
        let transport = self.flasher.loader().transport_mut();
        if transport.baud() != baud {
            transport.set_baud(baud)?;
        }
        Ok(crate::monitor::watch(transport, options, &mut on_event)?)
    }

    /// The settings the board was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The flasher underneath, for what this facade does not cover.
    pub fn flasher(&mut self) -> &mut Flasher<AnyTransport> {
        &mut self.flasher
    }

    /// Give the open port back (to watch the console after a reset).
    pub fn into_transport(self) -> AnyTransport {
        self.flasher.into_loader().into_transport()
    }
}

/// Failures a faster line can cause: a block that kept failing, a lost or garbled reply, a
/// checksum the chip refused, data that came back different.
fn line_failure(error: &crate::flasher::FlashError) -> bool {
    use crate::flasher::FlashError;
    match error {
        FlashError::WriteFailed { .. }
        | FlashError::Md5Mismatch { .. }
        | FlashError::ReadCorrupt { .. } => true,
        FlashError::Loader(e) => matches!(
            e,
            LoaderError::Timeout { .. }
                | LoaderError::BadReply { .. }
                | LoaderError::Command { .. }
        ),
        _ => false,
    }
}

/// Connect options from the settings: reset before, attempts, baud, custom reset sequences, and
/// the stub (its file is read here; a bad one is named in the error). With `baud = "auto"` no
/// baud change is asked for: the ladder climbs once the flash is attached.
fn connect_options(settings: &Settings) -> crate::Result<ConnectOptions> {
    let stub = match &settings.stub {
        Some(path) => {
            let bytes = crate::error::read_file(path)?;
            let text = String::from_utf8_lossy(&bytes);
            let stub = StubImage::from_esptool_json(&text).map_err(|e| match e {
                LoaderError::InvalidStub { detail } => LoaderError::InvalidStub {
                    detail: format!("{}: {detail}", shown_path(path)),
                },
                other => other,
            })?;
            Some(stub)
        }
        None => None,
    };
    Ok(ConnectOptions {
        before: settings.before,
        attempts: settings.connect_attempts,
        baud: if settings.auto_baud { 0 } else { settings.baud },
        stub,
        reset_sequence: settings.reset_sequence.clone(),
        hard_reset_sequence: settings.hard_reset_sequence.clone(),
    })
}

/// Flash options from the settings: skip-unchanged, verify, force, the flash size and the flash
/// parameters written into a bootloader at 0x0.
fn flash_options(settings: &Settings) -> FlashOptions {
    FlashOptions {
        skip_unchanged: settings.skip_unchanged,
        verify: settings.verify,
        force: settings.force,
        flash_size: settings.flash_size,
        flash_params: FlashParams {
            mode: settings.flash_mode,
            size: settings.flash_size,
            freq: settings.flash_freq,
        },
    }
}
