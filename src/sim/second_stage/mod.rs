//! What the ESP-IDF second-stage bootloader of the virtual chip prints and decides once the ROM
//! has jumped to it, and the first lines the ESP-IDF startup code of the chosen app prints.
//!
//! [`boot`] reads the flash as the real bootloader does: the bootloader's own header at 0x0
//! (SPI mode, speed and flash size), the partition table (0xAA50 entries, the 0xEBEB MD5 entry,
//! every partition inside the flash), the otadata sectors when the table has an `ota` data
//! partition (highest valid sequence number, CRC as the ROM's `crc32_le`), then the app image of
//! the chosen partition (magic, chip id, chip revision range, segment count and lengths, loaded
//! segments not over the running bootloader's own RAM, the eFuse block revision range of its app
//! descriptor (ESP-IDF v5.1.7, v5.2.3, v5.3.2 and later: an app without a descriptor is judged by
//! whatever bytes stand there, and usually refused), length within the partition, checksum,
//! appended SHA-256), falling back through the other app partitions in ESP-IDF's order.
//! Failures are reported with ESP-IDF's own wording and end in [`Outcome::Failed`]: the real
//! bootloader then calls `bootloader_reset()`, a software system reset, so the chip should boot
//! again (`rst:0x3 (RTC_SW_SYS_RST)`).
//!
//! It prints only what the firmware on the flash can print: a line is written only when the
//! format text of that line is inside the bootloader (or app) image, so a bootloader built with
//! the warning log level (MicroPython's) prints no info lines, the tag of the app information
//! block (`cpu_start` before ESP-IDF v5.3, `app_init` after) follows the app, and ANSI colours are
//! used when the image's format strings carry them. MicroPython's default app log level is ERROR
//! (its `sdkconfig.base`), so its startup lines are not printed; an app that is not ESP-IDF
//! (esp-hal) prints nothing here at all. What the app prints afterwards belongs to
//! [`super::app_console`].
//!
//! Timestamps are milliseconds since reset, as ESP-IDF prints them: they start at the
//! `started_at` the caller gives and advance by the time each line takes on the 115200-baud
//! console and by the time the bootloader needs to read and hash each segment.
//!
//! Not modelled: secure boot and flash encryption, anti-rollback, the bootloader's stack and
//! bss (only its loaded segments are protected), otadata writes (`Set actual ota_seq`), the
//! startup lines between `Chip rev` and `main_task` (heap, flash chip, sleep), and anything an
//! app prints from its own code.
//!
//! Pure: bytes in, text out; no I/O, no clocks. The images are parsed with this folder's own
//! code, never `crate::image`'s decoder, so that the simulator checks what the host's image
//! writer produced instead of sharing its mistakes (its unit tests build images with
//! `sim::test_image`, not the host's writer, for the same reason).
//!
//! This file holds the public API and the sequence ([`boot`]); the steps live beside it:
//! `log_line.rs` (log line format, timestamps, which texts an image holds), `header.rs` (image
//! header and memory map), `bootloader.rs` (the bootloader's own image), `partition_table.rs`,
//! `boot_order.rs` (otadata and the order partitions are tried), `app_image.rs` (the checks of an
//! app image) and `app_start.rs` (what the started app is and prints).

mod app_image;
mod app_start;
mod boot_order;
mod bootloader;
mod header;
mod log_line;
mod partition_table;
#[cfg(test)]
mod tests;

use std::time::Duration;

use app_image::{AppDescChecks, Loader};
use boot_order::{load_boot_image, select_boot_partition};
use bootloader::BootloaderImage;
use header::{flash_size_bytes, spi_mode, spi_speed};
use log_line::{Log, Text};
use partition_table::load_partition_table;

/// Where ESP-IDF's bootloader looks for the partition table unless built otherwise.
pub const DEFAULT_PARTITION_TABLE_OFFSET: u32 = 0x8000;

/// What [`boot`] starts from.
#[derive(Debug, Clone, Copy)]
pub struct BootContext<'a> {
    /// The whole flash, from address 0.
    pub flash: &'a [u8],
    /// The chip id the chip reports (9 for the ESP32-S3); app headers must carry it.
    pub chip_id: u32,
    /// The chip revision (major, minor) read from eFuse.
    pub chip_revision: (u8, u8),
    /// The eFuse block revision (major, minor).
    pub efuse_block_revision: (u8, u8),
    /// Where the partition table is (the bootloader's build setting; 0x8000 by default).
    pub partition_table_offset: u32,
    /// Time since reset when the ROM jumped to the bootloader: the first timestamp.
    pub started_at: Duration,
}

impl<'a> BootContext<'a> {
    /// An ESP32-S3 (chip id 9) revision v0.2, eFuse block revision v1.1, partition table at
    /// 0x8000, the bootloader entered 27 ms after reset (what real boards show).
    pub fn esp32s3(flash: &'a [u8]) -> Self {
        BootContext {
            flash,
            chip_id: 9,
            chip_revision: (0, 2),
            efuse_block_revision: (1, 1),
            partition_table_offset: DEFAULT_PARTITION_TABLE_OFFSET,
            started_at: Duration::from_millis(27),
        }
    }
}

/// The console text of a second-stage boot and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondStageBoot {
    /// What UART0 shows, CRLF line ends.
    pub text: String,
    /// Whether an app was started.
    pub outcome: Outcome,
    /// Time since reset when the text was complete (app_main called, or the reset requested).
    pub finished_at: Duration,
}

/// How the second stage ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This app was loaded and started.
    App(Box<AppInfo>),
    /// No app could be started; the real bootloader now resets the chip by software
    /// (`rst:0x3 (RTC_SW_SYS_RST)`), so it boots again and fails again.
    Failed,
}

/// The app that was started, as its image describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    /// Flash offset of the partition it was loaded from.
    pub partition_offset: u32,
    /// Entry point from the image header.
    pub entry: u32,
    /// Whether the first segment starts with an `esp_app_desc_t` (magic 0xABCD5432); the
    /// string fields below are empty when not.
    pub has_descriptor: bool,
    /// `project_name` of the app descriptor (empty when the build excluded it).
    pub project: String,
    /// `version` of the app descriptor (empty when the build excluded it).
    pub version: String,
    /// `idf_ver` of the app descriptor.
    pub idf_version: String,
    /// `date` of the app descriptor (`Jun 20 2024`).
    pub compile_date: String,
    /// `time` of the app descriptor (`11:03:36`).
    pub compile_time: String,
    /// `app_elf_sha256` of the app descriptor.
    pub elf_sha256: [u8; 32],
    /// What kind of firmware it is.
    pub kind: AppKind,
}

/// What kind of firmware an app image holds, told from its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppKind {
    /// An ESP-IDF application (its image holds ESP-IDF's startup texts).
    EspIdf,
    /// MicroPython (an ESP-IDF application whose image holds the MicroPython banner).
    MicroPython(MicroPython),
    /// Anything else (esp-hal and other bare-metal apps): nothing is known of what it prints.
    Other,
}

/// The texts of a MicroPython image's REPL, as found in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicroPython {
    /// The banner line without its line end
    /// (`MicroPython v1.26.1 on 2025-09-11; Generic ESP32S3 module with ESP32S3`).
    pub banner: String,
    /// The line after the banner (`Type "help()" for more information.`), when found.
    pub hint: Option<String>,
    /// The text `help()` prints, with the image's LF line ends, when found.
    pub help: Option<String>,
}

/// Run the second-stage bootloader over `ctx.flash`.
pub fn boot(ctx: &BootContext<'_>) -> SecondStageBoot {
    let flash = Flash(ctx.flash);
    let bootloader = BootloaderImage::read(&flash);
    let mut log = Log::new(ctx.started_at, &bootloader.strings);
    let outcome = run(ctx, &flash, &bootloader, &mut log);
    SecondStageBoot {
        finished_at: Duration::from_micros(log.now_us),
        text: log.text,
        outcome,
    }
}

/// The bootloader's sequence after its own image was read: its banner lines, the partition
/// table, the partition to try first, then the boot order until an app starts or none is left.
fn run(
    ctx: &BootContext<'_>,
    flash: &Flash<'_>,
    bootloader: &BootloaderImage,
    log: &mut Log,
) -> Outcome {
    let texts = bootloader.strings;
    if let Some(version) = &bootloader.idf_version {
        log.info("boot", &format!("ESP-IDF {version} 2nd stage bootloader"));
    }
    if let Some(time) = &bootloader.compile_time {
        log.info("boot", &format!("compile time {time}"));
    }
    if texts.has(Text::MulticoreBootloader) {
        log.info("boot", "Multicore bootloader");
    }
    if texts.has(Text::ChipRevision) {
        let (major, minor) = ctx.chip_revision;
        log.info("boot", &format!("chip revision: v{major}.{minor}"));
    }
    if texts.has(Text::EfuseBlockRevision) {
        let (major, minor) = ctx.efuse_block_revision;
        log.info("boot", &format!("efuse block revision: v{major}.{minor}"));
    }
    let chip_size = bootloader
        .header
        .map_or(2 * 1024 * 1024, |h| flash_size_bytes(h.flash_size_freq));
    if let (Some(h), true) = (bootloader.header, texts.has(Text::SpiSpeed)) {
        log.info(
            "boot.esp32s3",
            &format!("Boot SPI Speed : {}", spi_speed(h.flash_size_freq)),
        );
        log.info(
            "boot.esp32s3",
            &format!("SPI Mode       : {}", spi_mode(h.flash_mode)),
        );
        log.info(
            "boot.esp32s3",
            &format!("SPI Flash Size : {}MB", chip_size / (1024 * 1024)),
        );
    }
    if texts.has(Text::EnablingRng) {
        log.info("boot", "Enabling RNG early entropy source...");
    }

    let Some(table) = load_partition_table(ctx, flash, chip_size, log) else {
        log.error("boot", "load partition table error!");
        return Outcome::Failed;
    };
    let start_index = select_boot_partition(flash, &table, log);
    // A bootloader that is not ESP-IDF's (a test's stand-in) checks what the newest one does.
    let stand_in = bootloader.idf_version.is_none();
    let loader = Loader {
        ctx,
        flash,
        bootloader_ram: &bootloader.ram,
        app_desc_checks: AppDescChecks {
            efuse_blk_rev: stand_in || texts.has(Text::EfuseBlkRevCheck),
            segment0_len: stand_in || texts.has(Text::AppDescLengthCheck),
        },
    };
    load_boot_image(&loader, &table, start_index, log)
}

/// The flash, read with bounds checks.
struct Flash<'a>(&'a [u8]);

impl<'a> Flash<'a> {
    fn get(&self, addr: u32, len: u32) -> Option<&'a [u8]> {
        let start = usize::try_from(addr).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.0.get(start..end)
    }

    fn u32_at(&self, addr: u32) -> Option<u32> {
        let b = self.get(addr, 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn le_u16(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at + 2) {
        Some(b) => u16::from_le_bytes([b[0], b[1]]),
        None => 0,
    }
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// A NUL-terminated string field of at most `len` bytes at `at`.
fn c_string(bytes: &[u8], at: usize, len: usize) -> String {
    let field = bytes.get(at..at + len).unwrap_or(&[]);
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or(&[])).into_owned()
}
