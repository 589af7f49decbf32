//! The library facade for one connected chip: open a port (a serial port, or `sim://` for the
//! virtual ESP32-S3), connect the ROM loader, attach the flash, then flash, erase, read and
//! reset. Progress leaves as [`Event`] values through the callback each call takes; nothing here
//! prints, chooses a port on its own or reads the environment.
//!
//! It is a thin layer over [`crate::loader`] and [`crate::flasher`], with the one rule the
//! command line also keeps: an image without a bootloader (the app alone) is written only onto a
//! chip that already holds an ESP32-S3 bootloader and a partition table with room for it, into
//! the app partition that table names.
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

use crate::config::Settings;
use crate::flasher::{FlashOptions, Flasher, Region as FlashRegion, WriteSummary};
use crate::image::FlashParams;
use crate::loader::{ChipInfo, ConnectOptions, Loader, LoaderError, ResetDone, StubImage};
use crate::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions};
use crate::project::FlashImage;
use crate::reset::After;
use crate::transport::Transport;

pub use crate::flasher::Event;

/// The transport a [`Board`] talks through: a serial port or the virtual chip.
pub type BoxedTransport = Box<dyn Transport>;

/// Speed the ROM starts at; the loader switches to the configured baud after SYNC.
const ROM_BAUD: u32 = 115_200;

/// Why an image was not written.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The image is the app alone and the chip cannot boot it.
    #[error(
        "{reason}; set `bootloader` in [package.metadata.esp32s3] (or Settings::bootloader) so the bootloader and partition table are written too; nothing was written"
    )]
    CannotBootApp {
        /// What the chip lacks, with the values found.
        reason: String,
    },
}

/// One chip, connected, with its flash attached.
pub struct Board {
    flasher: Flasher<BoxedTransport>,
    settings: Settings,
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
        let options = FlashOptions {
            skip_unchanged: settings.skip_unchanged,
            verify: settings.verify,
            force: false,
            flash_size: settings.flash_size,
            flash_params: FlashParams {
                mode: settings.flash_mode,
                size: settings.flash_size,
                freq: settings.flash_freq,
            },
        };
        let flasher = Flasher::new(loader, options, &mut on_progress)?;
        Ok(Board {
            flasher,
            settings: settings.clone(),
        })
    }

    /// The flash size in bytes (configured, or detected from the flash ID).
    pub fn flash_size(&self) -> u32 {
        self.flasher.flash_size()
    }

    /// Chip revision, features, crystal and MAC address.
    pub fn chip_info(&mut self) -> crate::Result<ChipInfo> {
        Ok(self.flasher.loader().chip_info()?)
    }

    /// Write an image: regions the flash already holds are skipped (unless the settings say
    /// otherwise), the rest is written compressed and verified with the chip's MD5. An image
    /// whose flash size was not configured is first laid out for this chip's flash
    /// ([`FlashImage::for_flash_size`]). An image that is the app alone goes into the app
    /// partition the chip's own partition table names, and only onto a chip that can boot it
    /// (see [`BoardError`]).
    pub fn flash(
        &mut self,
        image: &FlashImage,
        on_progress: impl FnMut(Event),
    ) -> crate::Result<WriteSummary> {
        let mut on_progress = on_progress;
        let image = image.for_flash_size(self.flasher.flash_size())?;
        let regions: Vec<FlashRegion> = if image.is_complete() {
            image
                .regions()
                .iter()
                .map(|r| FlashRegion {
                    offset: r.offset,
                    data: r.data.clone(),
                    label: r.label.clone(),
                })
                .collect()
        } else {
            let app = &image.app().bytes;
            let (offset, name) = self.app_destination(app.len(), &mut on_progress)?;
            vec![FlashRegion {
                offset,
                data: app.clone(),
                label: format!("app ({name})"),
            }]
        };
        Ok(self.flasher.write_regions(&regions, &mut on_progress)?)
    }

    /// Write raw regions exactly where they say, with no boot check (for data partitions, or a
    /// layout assembled by hand).
    pub fn write_regions(
        &mut self,
        regions: &[FlashRegion],
        on_progress: impl FnMut(Event),
    ) -> crate::Result<WriteSummary> {
        let mut on_progress = on_progress;
        Ok(self.flasher.write_regions(regions, &mut on_progress)?)
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
    pub fn flasher(&mut self) -> &mut Flasher<BoxedTransport> {
        &mut self.flasher
    }

    /// Give the open port back (to watch the console after a reset).
    pub fn into_transport(self) -> BoxedTransport {
        self.flasher.into_loader().into_transport()
    }

    /// Where the app alone goes: the app partition that the chip's own partition table names
    /// (the configured `target-app-partition`, else factory, else ota_0), after checking that
    /// the chip holds an ESP32-S3 bootloader at 0x0 and that the partition holds `app_len`
    /// bytes. Otherwise the app alone would only give the `invalid header: 0xffffffff` boot loop.
    fn app_destination(
        &mut self,
        app_len: usize,
        on_progress: &mut dyn FnMut(Event),
    ) -> crate::Result<(u32, String)> {
        let partition = crate::layout::chip_app_partition(
            &mut self.flasher,
            self.settings.partition_table_offset,
            self.settings.target_app_partition.as_deref(),
            app_len,
            on_progress,
        )?
        .map_err(|crate::layout::CannotBootApp(reason)| BoardError::CannotBootApp { reason })?;
        Ok((partition.offset, partition.name))
    }
}

/// Connect options from the settings: reset before, attempts, baud, custom reset sequences, and
/// the stub (its file is read here; a bad one is named in the error). The command line uses
/// this too, so a script connects exactly as `cargo esp32s3` does.
pub fn connect_options(settings: &Settings) -> crate::Result<ConnectOptions> {
    let stub = match &settings.stub {
        Some(path) => {
            let bytes = crate::error::read_file(path)?;
            let text = String::from_utf8_lossy(&bytes);
            let stub = StubImage::from_esptool_json(&text).map_err(|e| match e {
                LoaderError::InvalidStub { detail } => LoaderError::InvalidStub {
                    detail: format!("{}: {detail}", crate::layout::shown_path(path)),
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
        baud: settings.baud,
        stub,
        reset_sequence: settings.reset_sequence.clone(),
        hard_reset_sequence: settings.hard_reset_sequence.clone(),
    })
}
