//! The library's one executor for a connected chip: open a port (a serial port, a network port,
//! or `sim://` for the virtual ESP32-S3), connect the ROM loader, attach the flash, then flash a
//! [`Plan`], erase (all, a region, a partition by name), read, reset and monitor. Progress leaves
//! as [`Event`] values through the callback each call takes; nothing here prints, chooses a port
//! on its own or reads the environment.
//!
//! Besides writing, it compares a plan with the chip ([`Board::verify`]), runs a program from RAM
//! ([`Board::run_from_ram`]), reads and writes memory words, and, given a
//! [`BootloaderStore`] ([`Board::keep_bootloaders`]), keeps the chip's bootloader before erasing
//! or replacing it and gives a blank chip the newest kept one. [`Board::open_on`] takes a port
//! opened already, such as one wrapped in a protocol trace.
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

use std::borrow::Cow;
use std::time::Duration;

use crate::baud::{self, BaudMemory};
use crate::bootloader_store::{
    BootloaderStore, Kept, Origin, StoreError, find_on_machine, read_from_chip,
};
use crate::config::Settings;
use crate::error::shown_path;
use crate::event::KeptBefore;
use crate::flasher::{Cancel, FlashOptions, Flasher, Region, WriteSummary};
use crate::image::partition::{MAX_TABLE_LEN, Partition, PartitionTable};
use crate::image::{FlashParams, FlashSize};
use crate::loader::{
    ChipInfo, ConnectOptions, FlashId, Loader, LoaderError, ROM_BAUD, ResetDone, SecurityInfo,
    StubImage,
};
use crate::monitor::reconnect::PortIdentity;
use crate::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions};
use crate::plan::{AppInput, ChipLacks, DEFAULT_FLASH_SIZE, Plan, PlanError, RamImage};
use crate::reset::After;
use crate::transport::{AnyTransport, TransportError};

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
    /// An address the ESP32-S3 does not map (the ROM would crash reading it), or not a word.
    #[error(
        "0x{addr:08x} is {why}; read-mem and write-mem take word-aligned addresses of the ESP32-S3's ROM, SRAM, RTC memory or peripheral registers (0x60000000..0x600D1000)"
    )]
    BadAddress {
        /// The address.
        addr: u32,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The board's port disappeared during a write and did not come back in time.
    #[error(
        "the board on {port} disappeared during the write and did not come back within {waited_secs} s; {}; plug it in again and run the same command to finish the job (what is verified is skipped)",
        crate::flasher::interrupted_summary(verified, unverified)
    )]
    PortGone {
        /// The port as it was opened (and its USB serial number, when it has one).
        port: String,
        /// How long the tool waited.
        waited_secs: u64,
        /// Regions verified on the chip, as `label (0x… bytes at 0x…)`.
        verified: Vec<String>,
        /// Regions not written or not verified.
        unverified: Vec<String>,
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
    /// Where bootloaders are kept before they are erased or replaced, and found for blank chips.
    bootloaders: Option<BootloaderStore>,
    /// The port as opened (the key of the baud memory).
    url: String,
    /// The rate the baud ladder settled on, when it was climbed (`baud = "auto"` on a link
    /// where the speed means something).
    rung: Option<u32>,
    /// How long a write waits for a port that disappeared to come back.
    replug_wait: Duration,
}

/// How long a write waits for a port that disappeared (a USB cable pulled and put back, a
/// device that re-enumerated) before it gives up: long enough for a person to plug the cable
/// in again.
pub const REPLUG_WAIT: Duration = Duration::from_secs(20);

/// Recoveries in a row that verified nothing new before a write's failure stands.
const STALLED_RECOVERIES: u32 = 3;

/// Recoveries in one write at most.
const MAX_RECOVERIES: u32 = 16;

/// How often the ports are looked at while a write waits for its port to come back.
const REPLUG_SCAN: Duration = Duration::from_millis(200);

/// How a write that failed is resumed ([`Board::write_regions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// The line lost step (a reply late, garbled or lost, a block refused, data that came back
    /// different): get back in step with SYNC on the same connection.
    Resync,
    /// The chip restarted or crashed: reset it into its loader and connect again.
    Reconnect,
    /// The port disappeared: wait for it, open it again and connect.
    Replug,
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
        let transport = crate::transport::open(url, ROM_BAUD)?;
        Self::open_on(transport, settings, on_progress)
    }

    /// [`Board::open_with`] on a port opened already: a transport wrapped first, such as a
    /// protocol trace ([`crate::transport::trace::TraceTransport`]), or the monitor's port, to
    /// flash again without letting go of it (a [`crate::transport::shared::SharedTransport`]
    /// gives it back). The port is switched to the ROM loader's speed ([`ROM_BAUD`]) first,
    /// then the chip is reset into its loader as the settings say, and connected.
    pub fn open_on(
        transport: AnyTransport,
        settings: &Settings,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<Board> {
        let mut on_progress = on_progress;
        let mut transport = transport;
        if transport.baud() != ROM_BAUD {
            transport.set_baud(ROM_BAUD)?;
        }
        // The port's name keys the rate the baud ladder remembers.
        let url = transport.describe();
        let loader = Loader::connect(transport, &connect_options(settings)?, &mut on_progress)?;
        // Secure Download Mode has no MD5 or read to prove a rung with: it stays at 115200.
        let climb = settings.auto_baud
            && !loader.secure_download_mode()
            && baud::applies(loader.usb_ids(), loader.can_change_baud());
        let flasher = Flasher::new(loader, flash_options(settings), &mut on_progress)?;
        let mut board = Board {
            flasher,
            settings: settings.clone(),
            bootloaders: None,
            url,
            rung: None,
            replug_wait: REPLUG_WAIT,
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
                .map_err(baud::RungFailure::from);
            match changed.and_then(|()| baud::prove(&mut self.flasher, &reference)) {
                Ok(()) => {
                    settled = rung;
                    break;
                }
                // A device that went away: no lower rung can help, and connecting again would
                // only fail with a vaguer error.
                Err(baud::RungFailure::Failed(e)) if baud::device_gone(&e) => {
                    return Err(e.into());
                }
                Err(failure) => {
                    on_progress(Event::RungFailed {
                        baud: rung,
                        reason: failure.to_string(),
                    });
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

    /// Keep bootloaders in `store` (or stop keeping them with `None`, the default): before this
    /// board's ESP32-S3 bootloader is erased ([`Board::erase_all`], `erase-all`, a region from
    /// 0x0) or replaced by a different one ([`Board::flash`]), a copy goes there, and a chip
    /// with no bootloader gets the newest kept one when the plan has none
    /// ([`Event::UsingKeptBootloader`]).
    pub fn keep_bootloaders(&mut self, store: Option<BootloaderStore>) {
        self.bootloaders = store;
    }

    /// Where this board keeps bootloaders, if it does.
    pub fn bootloader_store(&self) -> Option<&BootloaderStore> {
        self.bootloaders.as_ref()
    }

    /// The flash size in bytes (configured, or detected from the flash ID).
    pub fn flash_size(&self) -> u32 {
        self.flasher.flash_size()
    }

    /// The flag that stops [`Board::flash`] (and [`Board::write_regions`]) after the current
    /// block, with [`FlashError::Interrupted`](crate::flasher::FlashError::Interrupted) saying
    /// which regions are verified. Set it from another thread, such as a Ctrl+C handler the
    /// caller installs (the library installs none). Clones share the flag.
    pub fn cancel_handle(&self) -> Cancel {
        self.flasher.cancel_handle()
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
        plan.check_at_apps_on_chip(&mut self.flasher, &mut on_progress)?;
        let (plan, regions) = match plan.regions_for_chip(&mut self.flasher, &mut on_progress) {
            Ok(regions) => (plan, regions),
            // A kept bootloader completes an app written alone; `--at` files are written as
            // given, so their refusal stands.
            Err(crate::Error::Plan(PlanError::CannotBootApp {
                reason: reason @ ChipLacks::NoBootloader { .. },
                app,
            })) if self.bootloaders.is_some() && app != AppInput::AtPair => {
                let with = self.with_kept_bootloader(&plan, reason, app, &mut on_progress)?;
                let regions = with.regions_for_chip(&mut self.flasher, &mut on_progress)?;
                (Cow::Owned(with), regions)
            }
            Err(e) => return Err(e),
        };
        let erase = plan.partitions_to_erase(&regions, &mut self.flasher, &mut on_progress)?;
        if self.settings.erase_all {
            self.keep_chip_bootloader(KeptBefore::Erase, &mut on_progress)?;
            self.flasher.erase_all(&mut on_progress)?;
        } else if let Some(boot) = regions.iter().find(|r| r.offset == 0) {
            self.keep_if_replaced(&boot.data, &mut on_progress)?;
        }
        self.erase_listed(&erase, &mut on_progress)?;
        self.write_with_fallback(&regions, &mut on_progress)
    }

    /// Write regions, and when the write fails in a way a new start can cure, go on with what
    /// is not verified yet (never restarting what is, never reporting success without the
    /// chip's MD5): at a ladder rung above 115200, reconnect one rung lower; when the line lost
    /// step, get back in step; when the chip restarted, connect again; when the port
    /// disappeared, wait for it ([`Board::set_replug_wait`]) at its path or under another with
    /// the same USB serial number, open it and connect again. A failure that keeps coming back
    /// without more being verified stands.
    fn write_with_fallback(
        &mut self,
        regions: &[Region],
        on_progress: &mut dyn FnMut(Event),
    ) -> crate::Result<WriteSummary> {
        let started = self.flasher.loader().now();
        // Who the device is, asked while it is there: afterwards it may be gone.
        let identity = self.device_identity();
        let (mut recoveries, mut stalled) = (0u32, 0u32);
        let mut verified_before = covered(self.flasher.verified_ranges());
        loop {
            let error = match self.flasher.write_regions(regions, on_progress) {
                Ok(mut summary) => {
                    summary.elapsed = self
                        .flasher
                        .loader()
                        .now()
                        .saturating_duration_since(started);
                    return Ok(summary);
                }
                Err(error) => error,
            };
            if self.fall_back(&error, on_progress)? {
                continue;
            }
            let Some(recovery) = recovery_for(&error) else {
                return Err(error.into());
            };
            let verified_now = covered(self.flasher.verified_ranges());
            stalled = if verified_now > verified_before {
                0
            } else {
                stalled + 1
            };
            verified_before = verified_now;
            recoveries += 1;
            if stalled > STALLED_RECOVERIES || recoveries > MAX_RECOVERIES {
                return Err(error.into());
            }
            self.recover(recovery, error, identity.as_ref(), regions, on_progress)?;
        }
    }

    /// Erase each of `partitions`, saying which before each.
    fn erase_listed(
        &mut self,
        partitions: &[Partition],
        on_progress: &mut dyn FnMut(Event),
    ) -> crate::Result<()> {
        for partition in partitions {
            on_progress(Event::ErasingPartition {
                name: partition.name.clone(),
                offset: partition.offset,
                size: partition.size,
            });
            self.flasher
                .erase_region(partition.offset, partition.size, on_progress)?;
        }
        Ok(())
    }

    /// Bring the connection back as `recovery` says (escalating when that fails), take what was
    /// verified as done, and say so. The error is the write's own when the chip cannot be
    /// reached again, or [`BoardError::PortGone`] when its port did not come back in time.
    fn recover(
        &mut self,
        recovery: Recovery,
        error: crate::flasher::FlashError,
        identity: Option<&PortIdentity>,
        regions: &[Region],
        on_progress: &mut dyn FnMut(Event),
    ) -> crate::Result<()> {
        let verified = self.flasher.verified_ranges().to_vec();
        let mut recovery = recovery;
        let mut reason = error.to_string();
        if recovery == Recovery::Resync {
            match self.flasher.loader().resync() {
                Ok(()) => {}
                Err(LoaderError::Transport(TransportError::Disconnected { .. })) => {
                    recovery = Recovery::Replug;
                }
                Err(_) => recovery = Recovery::Reconnect,
            }
        }
        if recovery == Recovery::Replug {
            let Some(identity) = identity else {
                return Err(error.into());
            };
            match self.wait_for_port(identity, on_progress) {
                Some(path) => {
                    reason = if path == identity.path {
                        format!("the board on {path} disappeared and came back")
                    } else {
                        format!(
                            "the board on {} disappeared and came back as {path}",
                            identity.path
                        )
                    };
                }
                None => {
                    let (verified, unverified) = region_names(regions, &verified);
                    return Err(BoardError::PortGone {
                        port: identity.describe(),
                        waited_secs: self.replug_wait.as_secs(),
                        verified,
                        unverified,
                    }
                    .into());
                }
            }
        }
        let reconnected = recovery != Recovery::Resync;
        if reconnected {
            let mut options = connect_options(&self.settings)?;
            if self.settings.auto_baud {
                options.baud = 0;
            }
            if self
                .flasher
                .loader()
                .reconnect(&options, on_progress)
                .is_err()
            {
                // A chip that cannot be reached again leaves the write's own failure.
                return Err(error.into());
            }
            self.flasher.reattach(on_progress)?;
            if let Some(rung) = self.rung.filter(|r| *r > ROM_BAUD) {
                self.flasher.loader().change_baud(rung, on_progress)?;
            }
        }
        self.flasher.assume_verified(&verified);
        let done = region_names(regions, &verified).0.len();
        on_progress(Event::Resuming {
            reason,
            reconnected,
            verified: crate::loader::len_u32(done),
            total: crate::loader::len_u32(regions.iter().filter(|r| !r.data.is_empty()).count()),
        });
        Ok(())
    }

    /// Who this board's device is (its path, and its USB ids and serial number when the port
    /// list knows them), to find it again if it disappears; `None` for a port that is no
    /// device (a network port).
    fn device_identity(&mut self) -> Option<PortIdentity> {
        let transport = self.flasher.loader().transport_mut();
        let path = transport.describe();
        let ports = transport.ports_now()?;
        let resolved = std::fs::canonicalize(&path)
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        Some(PortIdentity::of(&path, resolved.as_deref(), &ports))
    }

    /// Wait (at most [`Board::set_replug_wait`], on the link's clock) until the device is back
    /// at its path or under another with its USB serial number, and open it there. `None` when
    /// it did not come back in time.
    fn wait_for_port(
        &mut self,
        identity: &PortIdentity,
        on_progress: &mut dyn FnMut(Event),
    ) -> Option<String> {
        on_progress(Event::PortGone {
            port: identity.describe(),
            wait: self.replug_wait,
        });
        let mut waited = Duration::ZERO;
        loop {
            let transport = self.flasher.loader().transport_mut();
            if let Some(ports) = transport.ports_now() {
                let exists = ports.iter().any(|p| p.name == identity.path)
                    || (crate::transport::url::scheme(&identity.path).is_none()
                        && std::path::Path::new(&identity.path).exists());
                if let Some(path) = identity.find_in(&ports, exists) {
                    // A device the OS still sets up is tried again at the next look.
                    if transport.reopen(&path).is_ok() {
                        return Some(path);
                    }
                }
            }
            if waited >= self.replug_wait {
                return None;
            }
            transport.pause(REPLUG_SCAN);
            waited += REPLUG_SCAN;
        }
    }

    /// How long a write waits for a port that disappeared to come back ([`REPLUG_WAIT`] unless
    /// set).
    pub fn set_replug_wait(&mut self, wait: Duration) {
        self.replug_wait = wait;
    }

    /// The plan with the newest kept bootloader, for a chip with none, or the error that lists
    /// every way to get one.
    fn with_kept_bootloader(
        &self,
        plan: &Plan,
        reason: ChipLacks,
        app: AppInput,
        on_progress: &mut dyn FnMut(Event),
    ) -> crate::Result<Plan> {
        let Some(store) = &self.bootloaders else {
            return Err(PlanError::CannotBootApp { reason, app }.into());
        };
        let Some(kept) = store.newest()? else {
            let found = find_on_machine(store.search_roots());
            return Err(PlanError::NoBootloaderKept { reason, app, found }.into());
        };
        let bytes = store.read(&kept)?;
        on_progress(Event::UsingKeptBootloader {
            id: kept.id.clone(),
            path: kept.path.clone(),
            idf_version: kept.idf_version.clone(),
            origin: kept.origin_text(),
        });
        plan.with_bootloader(&kept.path, bytes)
    }

    /// The chip's ESP32-S3 bootloader (the exact image at 0x0), or why there is none.
    pub fn read_bootloader(
        &mut self,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<Result<Vec<u8>, String>> {
        let mut on_progress = on_progress;
        read_from_chip(&mut self.flasher, &mut on_progress)
    }

    /// Keep the chip's bootloader in `store` (`bootloader save`), with the chip's MAC.
    pub fn save_bootloader(
        &mut self,
        store: &BootloaderStore,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<Kept> {
        let mut on_progress = on_progress;
        let port = self.flasher.loader().port().to_string();
        let bytes = match read_from_chip(&mut self.flasher, &mut on_progress)? {
            Ok(bytes) => bytes,
            Err(problem) => return Err(StoreError::NothingOnChip { port, problem }.into()),
        };
        let mac = self.flasher.loader().chip_info()?.mac_string();
        store.keep(&bytes, Some(mac), Origin::Saved { port })
    }

    /// Before the bootloader at 0x0 is erased: keep a copy when it is a valid ESP32-S3 one (and
    /// the board keeps bootloaders). A copy that cannot be stored is a warning, not a failure:
    /// the user asked for the erase.
    fn keep_chip_bootloader(
        &mut self,
        before: KeptBefore,
        on_progress: &mut dyn FnMut(Event),
    ) -> crate::Result<()> {
        let Some(store) = self.bootloaders.clone() else {
            return Ok(());
        };
        if self.flasher.loader().secure_download_mode() {
            return Ok(());
        }
        let Ok(bytes) = read_from_chip(&mut self.flasher, on_progress)? else {
            return Ok(());
        };
        let port = self.flasher.loader().port().to_string();
        let mac = self
            .flasher
            .loader()
            .chip_info()
            .ok()
            .map(|c| c.mac_string());
        let origin = match before {
            KeptBefore::Erase => Origin::Erased { port },
            KeptBefore::Replace => Origin::Replaced { port },
        };
        match store.keep(&bytes, mac, origin) {
            Ok(kept) => on_progress(Event::BootloaderKept {
                id: kept.bootloader.id.clone(),
                path: kept.bootloader.path.clone(),
                idf_version: kept.bootloader.idf_version.clone(),
                new: kept.new,
                before,
            }),
            Err(e) => on_progress(Event::Warning(format!(
                "the chip's bootloader could not be kept ({e}); going on"
            ))),
        }
        Ok(())
    }

    /// Before `new` is written at 0x0: keep the chip's bootloader when it is a different one.
    /// One SPI_FLASH_MD5 tells "the same" cheaply (as written, or with this board's flash
    /// parameters patched in, as the flasher writes it); only a different one is read.
    fn keep_if_replaced(
        &mut self,
        new: &[u8],
        on_progress: &mut dyn FnMut(Event),
    ) -> crate::Result<()> {
        if self.bootloaders.is_none() || self.flasher.loader().secure_download_mode() {
            return Ok(());
        }
        let len = crate::image::format::parse_image(new)
            .map(|p| p.total_len())
            .unwrap_or(new.len())
            .min(new.len());
        let Some(new) = new.get(..len) else {
            return Ok(());
        };
        let mut patched = new.to_vec();
        let _ = crate::image::merge::patch_flash_params(
            &mut patched,
            &self.flasher.options().flash_params,
        );
        let words = len.next_multiple_of(4);
        let padded = |bytes: &[u8]| {
            let mut out = bytes.to_vec();
            out.resize(words, 0xFF);
            md5_of(&out)
        };
        let on_chip = self.flasher.md5(0, crate::loader::len_u32(words))?;
        if on_chip == padded(new) || on_chip == padded(&patched) {
            return Ok(());
        }
        self.keep_chip_bootloader(KeptBefore::Replace, on_progress)
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

    /// Erase the whole flash (keeping a copy of its bootloader first, see
    /// [`Board::keep_bootloaders`]).
    pub fn erase_all(&mut self, on_progress: impl FnMut(Event)) -> crate::Result<()> {
        let mut on_progress = on_progress;
        self.keep_chip_bootloader(KeptBefore::Erase, &mut on_progress)?;
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
        if offset == 0 && size > 0 {
            self.keep_chip_bootloader(KeptBefore::Erase, &mut on_progress)?;
        }
        Ok(self.flasher.erase_region(offset, size, &mut on_progress)?)
    }

    /// Erase the partition called `name` in the partition table on the chip (at the settings'
    /// `partition-table-offset`), and say which it was.
    pub fn erase_partition(
        &mut self,
        name: &str,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<Partition> {
        let mut erased = self.erase_partitions(&[name.to_string()], on_progress)?;
        // One partition per name, or an error: the pop always finds it.
        erased.pop().ok_or_else(|| {
            BoardError::NoSuchPartition {
                name: name.to_string(),
                names: Vec::new(),
            }
            .into()
        })
    }

    /// Erase the partitions called `names` in the partition table on the chip, after checking
    /// that every one is there (so a typo in the last name erases nothing), and say which.
    pub fn erase_partitions(
        &mut self,
        names: &[String],
        on_progress: impl FnMut(Event),
    ) -> crate::Result<Vec<Partition>> {
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
        let mut chosen = Vec::new();
        for name in names {
            let Some(partition) = table.find(name).cloned() else {
                return Err(BoardError::NoSuchPartition {
                    name: name.to_string(),
                    names: table.partitions.iter().map(|p| p.name.clone()).collect(),
                }
                .into());
            };
            chosen.push(partition);
        }
        self.erase_listed(&chosen, &mut on_progress)?;
        Ok(chosen)
    }

    /// Compare what [`Board::flash`] would write for `plan` with what the chip holds, region by
    /// region, writing nothing: one SPI_FLASH_MD5 per region, and for a region that differs a
    /// bisection with more MD5s down to the first differing 4 KiB. The bootloader at 0x0 is
    /// compared as it would be written (with the flash parameters and the detected size patched
    /// in, [`Flasher::as_written`]).
    pub fn verify(
        &mut self,
        plan: &Plan,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<VerifyReport> {
        let mut on_progress = on_progress;
        let detected = FlashSize::from_bytes(u64::from(self.flasher.flash_size()));
        let size = self
            .settings
            .flash_size
            .or(detected)
            .unwrap_or(DEFAULT_FLASH_SIZE);
        let plan = plan.for_flash_size(size)?;
        // Where an app alone would go is worth saying; that it is "written" is not.
        let regions = plan.regions_for_chip(&mut self.flasher, &mut |event| {
            if !matches!(
                event,
                Event::AppAlone { .. }
                    | Event::AppPartitionFill { .. }
                    | Event::TableMovesApp { .. }
            ) {
                on_progress(event);
            }
        })?;
        let mut checks = Vec::new();
        for region in regions {
            // Patched as flashing patches it (flash parameters, the detected size).
            let data = self.flasher.as_written(&region);
            let first_difference = self.first_difference(region.offset, &data)?;
            checks.push(RegionCheck {
                label: region.label.clone(),
                offset: region.offset,
                len: crate::loader::len_u32(data.len()),
                first_difference,
            });
        }
        Ok(VerifyReport { regions: checks })
    }

    /// `None` when the flash at `offset` holds `data`, else where the first 4 KiB (or less) that
    /// differs starts. Partly covered words count as 0xFF, as the flasher writes them.
    fn first_difference(&mut self, offset: u32, data: &[u8]) -> crate::Result<Option<u32>> {
        let start = u64::from(offset);
        let end = start + data.len() as u64;
        let word_start = start - start % 4;
        let word_end = end.next_multiple_of(4);
        let mut expected = vec![0xFF; (word_end - word_start) as usize];
        let at = (start - word_start) as usize;
        expected[at..at + data.len()].copy_from_slice(data);
        let base = crate::loader::len_u32(word_start as usize);
        let md5_at = |board: &mut Board, lo: usize, hi: usize| -> crate::Result<bool> {
            let chip = board.flasher.md5(
                base + crate::loader::len_u32(lo),
                crate::loader::len_u32(hi - lo),
            )?;
            Ok(chip == md5_of(&expected[lo..hi]))
        };
        if md5_at(self, 0, expected.len())? {
            return Ok(None);
        }
        let (mut lo, mut hi) = (0usize, expected.len());
        while hi - lo > SECTOR {
            let mid = lo + ((hi - lo) / 2).next_multiple_of(SECTOR);
            if mid >= hi {
                break;
            }
            if md5_at(self, lo, mid)? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(Some(base + crate::loader::len_u32(lo)))
    }

    /// MD5 of `size` bytes of flash at `offset`, computed by the chip (`checksum-md5`).
    pub fn md5(&mut self, offset: u32, size: u32) -> crate::Result<[u8; 16]> {
        Ok(self.flasher.md5(offset, size)?)
    }

    /// Read a 32-bit word of the chip's memory map with READ_REG. Only addresses the ESP32-S3
    /// maps are read ([`is_mapped`]): the ROM crashes on any other.
    pub fn read_memory(&mut self, addr: u32) -> crate::Result<u32> {
        check_address(addr)?;
        Ok(self.flasher.loader().read_reg(addr)?)
    }

    /// Write `value` to a 32-bit word of the memory map with WRITE_REG, only the bits set in
    /// `mask` (`*addr = (*addr & !mask) | (value & mask)`).
    pub fn write_memory(&mut self, addr: u32, value: u32, mask: u32) -> crate::Result<()> {
        check_address(addr)?;
        Ok(self.flasher.loader().write_reg(addr, value, mask)?)
    }

    /// Load `image` into RAM and start it, leaving the flash untouched (`flash --ram`). The
    /// chip then runs the program: the loader no longer answers, so the board is only good for
    /// [`Board::monitor`] or [`Board::into_transport`] afterwards.
    pub fn run_from_ram(
        &mut self,
        image: &RamImage,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<()> {
        let mut on_progress = on_progress;
        let segments: Vec<(u32, &[u8])> = image
            .segments
            .iter()
            .map(|s| (s.addr, s.data.as_slice()))
            .collect();
        Ok(self
            .flasher
            .loader()
            .run_from_ram(&segments, image.entry, &mut on_progress)?)
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
        // A device that disappeared, restarted or crashed is no sign of too fast a line: that
        // is for the write's own recovery (wait for the port, connect again).
        FlashError::WriteFailed { source, .. } => !matches!(
            source,
            LoaderError::Transport(TransportError::Disconnected { .. })
                | LoaderError::ChipReset { .. }
                | LoaderError::Crashed { .. }
        ),
        FlashError::Md5Mismatch { .. } | FlashError::ReadCorrupt { .. } => true,
        FlashError::Loader(e) => matches!(
            e,
            LoaderError::Timeout { .. }
                | LoaderError::BadReply { .. }
                | LoaderError::Command { .. }
        ),
        _ => false,
    }
}

/// How a write that failed with `error` can go on, if it can.
fn recovery_for(error: &crate::flasher::FlashError) -> Option<Recovery> {
    use crate::flasher::FlashError;
    match error {
        // The region kept failing on a connection that answered (its transfer was sent again
        // already): that stands. A chip that stopped answering is connected again.
        FlashError::WriteFailed { source, .. } => match recovery_for_loader(source)? {
            Recovery::Resync if matches!(source, LoaderError::Command { .. }) => None,
            Recovery::Resync => Some(Recovery::Reconnect),
            other => Some(other),
        },
        FlashError::Md5Mismatch { .. }
        | FlashError::WrittenEmpty { .. }
        | FlashError::ReadCorrupt { .. } => Some(Recovery::Resync),
        FlashError::Loader(e) => recovery_for_loader(e),
        _ => None,
    }
}

fn recovery_for_loader(error: &LoaderError) -> Option<Recovery> {
    match error {
        LoaderError::Timeout { .. }
        | LoaderError::BadReply { .. }
        | LoaderError::Command { .. } => Some(Recovery::Resync),
        LoaderError::ChipReset { .. } | LoaderError::Crashed { .. } => Some(Recovery::Reconnect),
        LoaderError::Transport(TransportError::Disconnected { .. }) => Some(Recovery::Replug),
        _ => None,
    }
}

/// How many bytes `ranges` cover (overlaps counted once is not needed: progress only has to
/// grow when something new was verified).
fn covered(ranges: &[(u64, u64)]) -> u64 {
    ranges.iter().map(|(s, e)| e.saturating_sub(*s)).sum()
}

/// The regions of a job, told apart by whether `verified` covers them, as
/// `label (0x… bytes at 0x…)`.
fn region_names(regions: &[Region], verified: &[(u64, u64)]) -> (Vec<String>, Vec<String>) {
    let mut done = Vec::new();
    let mut not = Vec::new();
    for region in regions.iter().filter(|r| !r.data.is_empty()) {
        let start = u64::from(region.offset);
        let end = start + region.data.len() as u64;
        let name = format!(
            "{} (0x{:x} bytes at 0x{:x})",
            region.label,
            region.data.len(),
            region.offset
        );
        if verified.iter().any(|(s, e)| *s <= start && end <= *e) {
            done.push(name);
        } else {
            not.push(name);
        }
    }
    (done, not)
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
        // An unset (or `detect`) size: the bootloader gets the chip's; `keep` leaves it.
        bootloader_size_from_chip: settings.flash_size.is_none() && !settings.keep_flash_size,
    }
}

/// MD5 of `data`, as the chip's SPI_FLASH_MD5 computes it.
fn md5_of(data: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(data).into()
}

/// Flash sectors: the unit a difference is narrowed down to.
const SECTOR: usize = 0x1000;

/// What [`Board::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Every region the plan would write, in flash order.
    pub regions: Vec<RegionCheck>,
}

impl VerifyReport {
    /// True when the chip holds every region.
    pub fn matches(&self) -> bool {
        self.regions.iter().all(|r| r.first_difference.is_none())
    }

    /// The first region that differs.
    pub fn first_mismatch(&self) -> Option<&RegionCheck> {
        self.regions.iter().find(|r| r.first_difference.is_some())
    }
}

/// One region compared with the chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionCheck {
    /// What the region is.
    pub label: String,
    /// Its flash offset.
    pub offset: u32,
    /// Its length.
    pub len: u32,
    /// `None` when the chip holds it, else where the first differing stretch (at most 4 KiB)
    /// starts.
    pub first_difference: Option<u32>,
}

/// True when `addr` lies in memory the ESP32-S3 maps for READ_REG/WRITE_REG: the mask ROM,
/// internal SRAM (IRAM and DRAM views), RTC fast and slow memory, and the peripheral registers.
pub fn is_mapped(addr: u32) -> bool {
    matches!(
        addr,
        0x4000_0000..0x4006_0000
            | 0x3FF0_0000..0x3FF2_0000
            | 0x4037_0000..0x403E_0000
            | 0x3FC8_8000..0x3FD0_0000
            | 0x6000_0000..0x600D_1000
            | 0x600F_E000..0x6010_0000
            | 0x5000_0000..0x5000_2000
    )
}

/// Refuse an address [`Board::read_memory`] and [`Board::write_memory`] would refuse, before
/// any chip is touched: not a multiple of 4, or not mapped on the ESP32-S3.
pub fn check_address(addr: u32) -> Result<(), BoardError> {
    if addr % 4 != 0 {
        return Err(BoardError::BadAddress {
            addr,
            why: "not a multiple of 4",
        });
    }
    if !is_mapped(addr) {
        return Err(BoardError::BadAddress {
            addr,
            why: "not mapped on the ESP32-S3 (the ROM would crash reading it)",
        });
    }
    Ok(())
}
