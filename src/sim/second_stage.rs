//! What the ESP-IDF second-stage bootloader of the virtual chip prints and decides once the ROM
//! has jumped to it, and the first lines the ESP-IDF startup code of the chosen app prints.
//!
//! [`boot`] reads the flash as the real bootloader does: the bootloader's own header at 0x0
//! (SPI mode, speed and flash size), the partition table (0xAA50 entries, the 0xEBEB MD5 entry),
//! the otadata sectors when the table has an `ota` data partition, then the app image of the
//! chosen partition (magic, chip id, chip revision range, segment lengths, checksum, appended
//! SHA-256). Failures are reported with ESP-IDF's own wording and end in [`Outcome::Failed`]:
//! the real bootloader then calls `bootloader_reset()`, a software system reset, so the chip
//! should boot again (`rst:0x3 (RTC_SW_SYS_RST)`).
//!
//! It prints only what the firmware on the flash can print: a line is written only when the
//! format text of that line is inside the bootloader (or app) image, so a bootloader built with
//! the warning log level (MicroPython's) prints no info lines, the tag of the app information
//! block (`cpu_start` before ESP-IDF v5.3, `app_init` after) follows the app, and ANSI colours are
//! used when the image's format strings carry them. MicroPython's default app log level is ERROR
//! (its `sdkconfig.base`), so its startup lines are not printed; an app that is not ESP-IDF
//! (esp-hal) prints nothing here at all. What the app prints afterwards belongs to
//! `app_console`.
//!
//! Timestamps are milliseconds since reset, as ESP-IDF prints them: they start at the
//! `started_at` the caller gives and advance by the time each line takes on the 115200-baud
//! console and by the time the bootloader needs to read and hash each segment.
//!
//! Pure: bytes in, text out; no I/O, no clocks. The images are parsed with this file's own code,
//! never `crate::image`'s decoder, so that the simulator checks what the host's image writer
//! produced instead of sharing its mistakes.

use std::sync::OnceLock;
use std::time::Duration;

use md5::{Digest as _, Md5};
use regex::bytes::Regex;
use sha2::Sha256;

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

/// Console speed of the ESP-IDF log (CONFIG_ESP_CONSOLE_UART_BAUDRATE's default).
const CONSOLE_BAUD: u64 = 115_200;
/// How fast the bootloader reads and hashes an image from flash (from the timestamps of real
/// S3 boot logs: about 5.5 MB/s).
const VERIFY_BYTES_PER_MS: u64 = 5_500;
/// First byte of an image.
const IMAGE_MAGIC: u8 = 0xE9;
/// Image header length (common and extended parts).
const HEADER_LEN: u32 = 24;
/// Most segments an image may have.
const MAX_SEGMENTS: u8 = 16;
/// Segment lengths must stay below this.
const SIXTEEN_MB: u32 = 0x100_0000;
/// `esp_app_desc_t` magic.
const APP_DESC_MAGIC: u32 = 0xABCD_5432;
/// `esp_bootloader_desc_t` magic byte.
const BOOTLOADER_DESC_MAGIC: u8 = 0x50;
/// Partition entry magic (`AA 50`).
const PARTITION_MAGIC: u16 = 0x50AA;
/// MD5 entry magic (`EB EB`).
const MD5_MAGIC: u16 = 0xEBEB;
/// Room for entries in the partition table sector.
const PARTITION_TABLE_LEN: u32 = 0xC00;
/// One partition entry.
const ENTRY_LEN: usize = 32;

/// Index of the factory partition in ESP-IDF's boot order (OTA slots are 0..).
const FACTORY_INDEX: i32 = -1;

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

/// Which log texts an image holds (each one decides whether a line can be printed).
#[derive(Debug, Clone, Copy, Default)]
struct Texts {
    mask: u32,
}

/// The texts looked for; the bit of each is its index, named by [`Text`].
const TEXT_NEEDLES: [&[u8]; 13] = [
    b"2nd stage bootloader",
    b"Multicore bootloader",
    b"chip revision: v",
    b"efuse block revision: v",
    b"Boot SPI Speed",
    b"Enabling RNG early",
    b"Multicore app",
    b"Pro cpu start user code",
    b"Application information",
    b"app_init\0",
    b"efuse_init\0",
    b"Calling app_main()",
    b"\x1b[0;32mI (",
];

/// A text of [`TEXT_NEEDLES`], by index.
#[derive(Debug, Clone, Copy)]
enum Text {
    /// The bootloader banner: the bootloader prints info lines.
    SecondStage = 0,
    MulticoreBootloader = 1,
    ChipRevision = 2,
    EfuseBlockRevision = 3,
    SpiSpeed = 4,
    EnablingRng = 5,
    MulticoreApp = 6,
    ProCpuStart = 7,
    AppInformation = 8,
    /// ESP-IDF v5.3+ prints the app information under this tag.
    AppInitTag = 9,
    /// ESP-IDF v5.2+ prints the chip revision lines under this tag.
    EfuseInitTag = 10,
    CallingAppMain = 11,
    /// The format strings carry ANSI colours.
    Colors = 12,
}

fn needle_regex() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        let alternation: Vec<String> = TEXT_NEEDLES
            .iter()
            .map(|n| regex::escape(&String::from_utf8_lossy(n)))
            .collect();
        Regex::new(&format!("(?-u){}", alternation.join("|"))).ok()
    })
    .as_ref()
}

impl Texts {
    fn scan(bytes: &[u8]) -> Self {
        let mut mask = 0;
        let Some(re) = needle_regex() else {
            return Texts { mask };
        };
        for found in re.find_iter(bytes) {
            if let Some(i) = TEXT_NEEDLES.iter().position(|n| *n == found.as_bytes()) {
                mask |= 1 << i;
            }
        }
        Texts { mask }
    }

    fn has(self, text: Text) -> bool {
        self.mask & (1 << text as u32) != 0
    }

    fn merge(&mut self, other: Texts) {
        self.mask |= other.mask;
    }
}

/// Log severity.
#[derive(Debug, Clone, Copy)]
enum Level {
    Error,
    Warn,
    Info,
}

/// The console text with ESP-IDF's log line format and the clock it advances.
struct Log {
    text: String,
    now_us: u64,
    colors: bool,
    info: bool,
}

impl Log {
    fn new(started_at: Duration, bootloader: &Texts) -> Self {
        Log {
            text: String::new(),
            now_us: u64::try_from(started_at.as_micros()).unwrap_or(u64::MAX),
            colors: bootloader.has(Text::Colors),
            info: bootloader.has(Text::SecondStage),
        }
    }

    /// One log line; info lines only when the running firmware prints them.
    fn line(&mut self, level: Level, tag: &str, message: &str) {
        if matches!(level, Level::Info) && !self.info {
            return;
        }
        let (letter, color) = match level {
            Level::Error => ('E', "0;31"),
            Level::Warn => ('W', "0;33"),
            Level::Info => ('I', "0;32"),
        };
        let ms = self.now_us / 1000;
        let line = if self.colors {
            format!("\x1b[{color}m{letter} ({ms}) {tag}: {message}\x1b[0m\r\n")
        } else {
            format!("{letter} ({ms}) {tag}: {message}\r\n")
        };
        self.text.push_str(&line);
        self.wait_for_uart(line.len());
    }

    fn info(&mut self, tag: &str, message: &str) {
        self.line(Level::Info, tag, message);
    }

    fn error(&mut self, tag: &str, message: &str) {
        self.line(Level::Error, tag, message);
    }

    /// Early logging blocks until the UART took the line: 10 bits per byte.
    fn wait_for_uart(&mut self, bytes: usize) {
        let bits = u64::try_from(bytes).unwrap_or(u64::MAX).saturating_mul(10);
        self.now_us = self
            .now_us
            .saturating_add(bits.saturating_mul(1_000_000) / CONSOLE_BAUD);
    }

    /// Reading and hashing `bytes` of flash.
    fn verify(&mut self, bytes: u32) {
        self.now_us = self
            .now_us
            .saturating_add(u64::from(bytes) * 1000 / VERIFY_BYTES_PER_MS);
    }
}

/// One segment of an image: where its data is in flash, where it goes, how long it is.
#[derive(Debug, Clone, Copy)]
struct Segment {
    data_at: u32,
    addr: u32,
    len: u32,
}

/// The header fields the second stage reads (facts §10).
#[derive(Debug, Clone, Copy)]
struct Header {
    segment_count: u8,
    flash_mode: u8,
    flash_size_freq: u8,
    entry: u32,
    chip_id: u16,
    min_rev_full: u16,
    max_rev_full: u16,
    hash_appended: bool,
}

impl Header {
    fn parse(bytes: &[u8]) -> Option<Self> {
        (bytes.len() >= HEADER_LEN as usize).then(|| Header {
            segment_count: bytes[1],
            flash_mode: bytes[2],
            flash_size_freq: bytes[3],
            entry: le_u32(bytes, 4),
            chip_id: le_u16(bytes, 12),
            min_rev_full: le_u16(bytes, 15),
            max_rev_full: le_u16(bytes, 17),
            hash_appended: bytes[23] == 1,
        })
    }
}

/// The bootloader image at 0x0 as far as the second stage itself uses it.
struct BootloaderImage {
    header: Option<Header>,
    strings: Texts,
    idf_version: Option<String>,
    compile_time: Option<String>,
}

impl BootloaderImage {
    fn read(flash: &Flash<'_>) -> Self {
        let header = flash.get(0, HEADER_LEN).and_then(Header::parse);
        // The ROM already checked this image; its extent is what its segments cover.
        let mut end = HEADER_LEN;
        if let Some(h) = header {
            for _ in 0..h.segment_count.min(MAX_SEGMENTS) {
                let Some(len) = flash.u32_at(end.saturating_add(4)) else {
                    break;
                };
                end = end.saturating_add(8).saturating_add(len.min(SIXTEEN_MB));
            }
        }
        let end = usize::try_from(end)
            .unwrap_or(usize::MAX)
            .min(flash.0.len());
        let bytes = flash.0.get(..end).unwrap_or(&[]);
        let descriptor = (bytes.get(0x20) == Some(&BOOTLOADER_DESC_MAGIC))
            .then(|| (c_string(bytes, 0x28, 32), c_string(bytes, 0x48, 24)));
        let (idf_version, descriptor_time) = match descriptor {
            Some((v, t)) => (Some(v), Some(t)),
            None => (version_before_banner(bytes), None),
        };
        BootloaderImage {
            header,
            strings: Texts::scan(bytes),
            idf_version,
            compile_time: compile_time(bytes, descriptor_time),
        }
    }
}

/// Older bootloaders (no descriptor) keep the version string just before the banner format.
fn version_before_banner(bytes: &[u8]) -> Option<String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| {
            Regex::new(r"(?-u)(v[0-9][\x20-\x7E]{0,30})\x00+(?:\x1b\[0;32m)?I \(%lu\) %s: ESP-IDF %s 2nd stage bootloader").ok()
        })
        .as_ref()?;
    let caps = re.captures(bytes)?;
    Some(String::from_utf8_lossy(caps.get(1)?.as_bytes()).into_owned())
}

/// The `compile time` line's text: written into the format by older bootloaders, taken from
/// the descriptor by newer ones, absent from the newest.
fn compile_time(bytes: &[u8], descriptor_time: Option<String>) -> Option<String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| Regex::new(r"(?-u)I \(%lu\) %s: compile time ([\x20-\x7E]*)").ok())
        .as_ref()?;
    let caps = re.captures(bytes)?;
    let literal = String::from_utf8_lossy(caps.get(1)?.as_bytes()).into_owned();
    let literal = literal
        .strip_suffix("\x1b[0m")
        .unwrap_or(&literal)
        .to_owned();
    if literal == "%s" {
        descriptor_time
    } else {
        Some(literal)
    }
}

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
    load_boot_image(ctx, flash, &table, start_index, log)
}

/// The header's flash size in bytes (S3 size nibble: 1 MB << n).
fn flash_size_bytes(size_freq: u8) -> u32 {
    match size_freq >> 4 {
        n @ 0..=7 => (1024 * 1024) << n,
        _ => 2 * 1024 * 1024,
    }
}

fn spi_speed(size_freq: u8) -> &'static str {
    match size_freq & 0x0F {
        0x0 => "40MHz",
        0x1 => "26.7MHz",
        0x2 => "20MHz",
        0xF => "80MHz",
        _ => "20MHz",
    }
}

fn spi_mode(mode: u8) -> &'static str {
    match mode {
        0 => "QIO",
        1 => "QOUT",
        2 => "DIO",
        3 => "DOUT",
        4 => "FAST READ",
        _ => "SLOW READ",
    }
}

/// One row of the partition table.
#[derive(Debug, Clone)]
struct Partition {
    kind: u8,
    subtype: u8,
    offset: u32,
    size: u32,
    label: String,
}

/// The partitions the bootloader cares about.
#[derive(Debug, Default)]
struct BootTable {
    factory: Option<(u32, u32)>,
    test: Option<(u32, u32)>,
    ota: [Option<(u32, u32)>; 16],
    ota_app_count: u32,
    otadata: Option<(u32, u32)>,
}

fn load_partition_table(
    ctx: &BootContext<'_>,
    flash: &Flash<'_>,
    chip_size: u32,
    log: &mut Log,
) -> Option<BootTable> {
    let Some(bytes) = flash.get(ctx.partition_table_offset, PARTITION_TABLE_LEN) else {
        log.error(
            "boot",
            &format!(
                "bootloader_mmap(0x{:x}, 0x{:x}) failed",
                ctx.partition_table_offset, PARTITION_TABLE_LEN
            ),
        );
        return None;
    };
    let Some(partitions) = verify_partition_table(bytes, chip_size, log) else {
        log.error("boot", "Failed to verify partition table");
        return None;
    };
    log.info("boot", "Partition Table:");
    log.info(
        "boot",
        "## Label            Usage          Type ST Offset   Length",
    );
    let mut table = BootTable::default();
    for (index, p) in partitions.iter().enumerate() {
        let place = Some((p.offset, p.size));
        let usage = match (p.kind, p.subtype) {
            (0x00, 0x00) => {
                table.factory = place;
                "factory app"
            }
            (0x00, 0x20) => {
                table.test = place;
                "test app"
            }
            (0x00, sub @ 0x10..=0x1F) => {
                if let Some(slot) = table.ota.get_mut(usize::from(sub & 0x0F)) {
                    *slot = place;
                }
                table.ota_app_count += 1;
                "OTA app"
            }
            (0x00, _) => "Unknown app",
            (0x01, 0x00) => {
                table.otadata = place;
                "OTA data"
            }
            (0x01, 0x01) => "RF data",
            (0x01, 0x02) => "WiFi data",
            (0x01, 0x04) => "NVS keys",
            (0x01, 0x05) => "efuse",
            (0x01, _) => "Unknown data",
            _ => "unknown",
        };
        log.info(
            "boot",
            &format!(
                "{index:2} {:<16} {usage:<16} {:02x} {:02x} {:08x} {:08x}",
                p.label, p.kind, p.subtype, p.offset, p.size
            ),
        );
    }
    log.info("boot", "End of partition table");
    Some(table)
}

/// ESP-IDF's `esp_partition_table_verify`: entries until the 0xFF end entry, the MD5 entry
/// checked against the entries before it, every partition inside the flash.
fn verify_partition_table(bytes: &[u8], chip_size: u32, log: &mut Log) -> Option<Vec<Partition>> {
    let mut partitions = Vec::new();
    let mut md5_seen = false;
    for (index, entry) in bytes.chunks_exact(ENTRY_LEN).enumerate() {
        let magic = le_u16(entry, 0);
        if magic == PARTITION_MAGIC {
            let p = Partition {
                kind: entry[2],
                subtype: entry[3],
                offset: le_u32(entry, 4),
                size: le_u32(entry, 8),
                label: c_string(entry, 12, 16),
            };
            if p.offset > chip_size
                || u64::from(p.offset) + u64::from(p.size) > u64::from(chip_size)
            {
                log.error(
                    "flash_parts",
                    &format!(
                        "partition {index} invalid - offset 0x{:x} size 0x{:x} exceeds flash chip size 0x{chip_size:x}",
                        p.offset, p.size
                    ),
                );
                return None;
            }
            partitions.push(p);
        } else if magic == MD5_MAGIC {
            if md5_seen {
                log.error("flash_parts", "Only one MD5 checksum is allowed");
                return None;
            }
            md5_seen = true;
            let covered = bytes.get(..index * ENTRY_LEN).unwrap_or(&[]);
            let digest = Md5::digest(covered);
            if entry.get(16..32) != Some(digest.as_slice()) {
                log.error("flash_parts", "Incorrect MD5 checksum");
                return None;
            }
        } else if magic == 0xFFFF && entry[2] == 0xFF && entry[3] == 0xFF {
            return Some(partitions);
        } else {
            log.error(
                "flash_parts",
                &format!("partition {index} invalid magic number 0x{magic:x}"),
            );
            return None;
        }
    }
    log.error(
        "flash_parts",
        "partition table has no terminating entry, not valid",
    );
    None
}

/// One of the two otadata sectors (`esp_ota_select_entry_t`).
#[derive(Debug, Clone, Copy)]
struct OtaSelect {
    seq: u32,
    state: u32,
    crc: u32,
}

/// OTA image states that make an entry unusable.
const OTA_STATE_INVALID: u32 = 3;
const OTA_STATE_ABORTED: u32 = 4;

impl OtaSelect {
    fn read(flash: &Flash<'_>, addr: u32) -> Option<Self> {
        let b = flash.get(addr, 32)?;
        Some(OtaSelect {
            seq: le_u32(b, 0),
            state: le_u32(b, 24),
            crc: le_u32(b, 28),
        })
    }

    /// Erased, or marked unusable.
    fn is_empty_or_invalid(self) -> bool {
        self.seq == u32::MAX || self.state == OTA_STATE_INVALID || self.state == OTA_STATE_ABORTED
    }

    /// Written, with a matching CRC, and not marked unusable.
    fn is_valid(self) -> bool {
        !self.is_empty_or_invalid() && self.crc == crc32_le(u32::MAX, &self.seq.to_le_bytes())
    }
}

/// The ROM's `crc32_le` (zlib's CRC-32: reflected 0xEDB88320, value inverted on entry and exit),
/// which otadata entries are checked with.
fn crc32_le(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &byte in data {
        c ^= u32::from(byte);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// `bootloader_utility_get_selected_boot_partition`: the index to try first.
fn select_boot_partition(flash: &Flash<'_>, table: &BootTable, log: &mut Log) -> i32 {
    let Some((ota_offset, _)) = table.otadata else {
        return FACTORY_INDEX;
    };
    let entries = [
        OtaSelect::read(flash, ota_offset),
        OtaSelect::read(flash, ota_offset.saturating_add(0x1000)),
    ];
    let all_empty = entries
        .iter()
        .all(|e| e.is_none_or(|e| e.is_empty_or_invalid()));
    if all_empty || table.ota_app_count == 0 {
        if table.factory.is_some() {
            log.info("boot", "Defaulting to factory image");
            return FACTORY_INDEX;
        }
        log.info("boot", "No factory image, trying OTA 0");
        return 0;
    }
    let best = entries
        .iter()
        .flatten()
        .filter(|e| e.is_valid())
        .map(|e| e.seq)
        .max();
    match best {
        Some(seq) => i32::try_from((seq - 1) % table.ota_app_count).unwrap_or(0),
        None => {
            if table.factory.is_some() {
                log.error(
                    "boot",
                    "ota data partition invalid, falling back to factory",
                );
            } else {
                log.error(
                    "boot",
                    "ota data partition invalid and no factory, will try all partitions",
                );
            }
            FACTORY_INDEX
        }
    }
}

fn partition_at(table: &BootTable, index: i32) -> Option<(u32, u32)> {
    if index == FACTORY_INDEX {
        return table.factory;
    }
    let slot = usize::try_from(index).ok()?;
    if u32::try_from(index).ok()? >= table.ota_app_count {
        return None;
    }
    table.ota.get(slot).copied().flatten()
}

/// `bootloader_utility_load_boot_image`: the chosen partition, then the ones before it down to
/// factory, then the ones after it, then the test app.
fn load_boot_image(
    ctx: &BootContext<'_>,
    flash: &Flash<'_>,
    table: &BootTable,
    start_index: i32,
    log: &mut Log,
) -> Outcome {
    let count = i32::try_from(table.ota_app_count).unwrap_or(0);
    let order = (FACTORY_INDEX..=start_index)
        .rev()
        .chain(start_index.saturating_add(1)..count);
    for index in order {
        let Some((offset, size)) = partition_at(table, index) else {
            continue;
        };
        if let Some(app) = load_app(ctx, flash, offset, size, log) {
            return start_app(ctx, flash, app, log);
        }
        if index == FACTORY_INDEX {
            log.error("boot", "Factory app partition is not bootable");
        } else {
            log.error(
                "boot",
                &format!("OTA app partition slot {index} is not bootable"),
            );
        }
    }
    if let Some((offset, size)) = table.test {
        if let Some(app) = load_app(ctx, flash, offset, size, log) {
            log.line(
                Level::Warn,
                "boot",
                "Falling back to test app as only bootable partition",
            );
            return start_app(ctx, flash, app, log);
        }
    }
    log.error("boot", "No bootable app partitions in the partition table");
    Outcome::Failed
}

/// A checked app image.
struct LoadedApp {
    partition_offset: u32,
    header: Header,
    segments: Vec<Segment>,
}

/// `esp_image_load` of the image in the partition at `offset`: header, chip, segments, length,
/// checksum, appended hash. `None` after printing why.
fn load_app(
    ctx: &BootContext<'_>,
    flash: &Flash<'_>,
    offset: u32,
    size: u32,
    log: &mut Log,
) -> Option<LoadedApp> {
    let Some(header) = flash.get(offset, HEADER_LEN).and_then(Header::parse) else {
        log.error(
            "esp_image",
            &format!("bootloader_flash_read failed at 0x{offset:08x}"),
        );
        return None;
    };
    if flash.get(offset, 1) != Some(&[IMAGE_MAGIC][..]) {
        log.error(
            "esp_image",
            &format!("image at 0x{offset:x} has invalid magic byte (nothing flashed here?)"),
        );
        return None;
    }
    if u32::from(header.chip_id) != ctx.chip_id {
        log.error(
            "boot_comm",
            &format!(
                "mismatch chip ID, expected {}, found {}",
                ctx.chip_id, header.chip_id
            ),
        );
        return None;
    }
    let (major, minor) = ctx.chip_revision;
    let revision = u16::from(major) * 100 + u16::from(minor);
    if revision < header.min_rev_full {
        log.error(
            "boot_comm",
            &format!(
                "Image requires chip rev >= v{}.{}, but chip is v{major}.{minor}",
                header.min_rev_full / 100,
                header.min_rev_full % 100
            ),
        );
        return None;
    }
    if revision > header.max_rev_full {
        log.error(
            "boot_comm",
            &format!(
                "Image requires chip rev <= v{}.{}, but chip is v{major}.{minor}",
                header.max_rev_full / 100,
                header.max_rev_full % 100
            ),
        );
        return None;
    }
    if header.segment_count > MAX_SEGMENTS {
        log.error(
            "esp_image",
            &format!(
                "image at 0x{offset:x} segment count {} exceeds max {MAX_SEGMENTS}",
                header.segment_count
            ),
        );
        return None;
    }

    let mut checksum: u8 = 0xEF;
    let mut next = offset.checked_add(HEADER_LEN)?;
    let mut segments = Vec::new();
    for index in 0..header.segment_count {
        let Some(seg_header) = flash.get(next, 8) else {
            log.error(
                "esp_image",
                &format!("bootloader_flash_read failed at 0x{next:08x}"),
            );
            return None;
        };
        let addr = le_u32(seg_header, 0);
        let len = le_u32(seg_header, 4);
        let data_at = next + 8;
        if len & 3 != 0 || len >= SIXTEEN_MB {
            log.error("esp_image", &format!("invalid segment length 0x{len:x}"));
            return None;
        }
        let action = if is_mapped(addr) {
            "map"
        } else if is_loaded(addr) {
            "load"
        } else {
            ""
        };
        log.info(
            "esp_image",
            &format!("segment {index}: paddr={data_at:08x} vaddr={addr:08x} size={len:05x}h ({len:6}) {action}"),
        );
        let Some(data) = flash.get(data_at, len) else {
            log.error(
                "esp_image",
                &format!("bootloader_mmap(0x{data_at:x}, 0x{len:x}) failed"),
            );
            return None;
        };
        checksum = data.iter().fold(checksum, |c, b| c ^ b);
        log.verify(len);
        segments.push(Segment { data_at, addr, len });
        next = data_at.checked_add(len)?;
    }
    // The checksum byte ends the image on a 16-byte boundary; the digest follows it.
    let unpadded = next - offset;
    let padded = (unpadded + 1 + 15) & !15;
    let image_len = padded + if header.hash_appended { 32 } else { 0 };
    if image_len > size {
        log.error(
            "esp_image",
            &format!("Image length {image_len} doesn't fit in partition length {size}"),
        );
        return None;
    }
    let stored = flash
        .get(offset + padded - 1, 1)
        .and_then(|b| b.first().copied());
    if stored != Some(checksum) {
        log.error(
            "esp_image",
            &format!(
                "Checksum failed. Calculated 0x{checksum:x} read 0x{:x}",
                stored.unwrap_or(0xFF)
            ),
        );
        return None;
    }
    if header.hash_appended {
        let image = flash.get(offset, padded)?;
        let expected = flash.get(offset + padded, 32);
        if expected != Some(Sha256::digest(image).as_slice()) {
            log.error("esp_image", "Image hash failed - image is corrupt");
            return None;
        }
    }
    Some(LoadedApp {
        partition_offset: offset,
        header,
        segments,
    })
}

/// Flash-mapped address ranges (IROM and DROM).
fn is_mapped(addr: u32) -> bool {
    (0x4200_0000..0x4400_0000).contains(&addr) || (0x3C00_0000..0x3E00_0000).contains(&addr)
}

/// RAM the bootloader copies segments into (internal SRAM through the data and instruction
/// buses, RTC fast and slow memory).
fn is_loaded(addr: u32) -> bool {
    (0x3FC8_8000..0x3FD0_0000).contains(&addr)
        || (0x4037_0000..0x403E_0000).contains(&addr)
        || (0x600F_E000..0x6010_0000).contains(&addr)
        || (0x5000_0000..0x5000_2000).contains(&addr)
}

/// The bootloader's last lines, then what the ESP-IDF startup code of the app prints up to
/// `app_main`.
fn start_app(ctx: &BootContext<'_>, flash: &Flash<'_>, app: LoadedApp, log: &mut Log) -> Outcome {
    log.info(
        "boot",
        &format!(
            "Loaded app from partition at offset 0x{:x}",
            app.partition_offset
        ),
    );
    log.info("boot", "Disabling RNG early entropy source...");

    // Texts are read from the flash-mapped read-only data, where rodata lives.
    let mut rodata = Texts::default();
    let mut micropython = None;
    let mut descriptor = None;
    for (index, seg) in app.segments.iter().enumerate() {
        if !(0x3C00_0000..0x3E00_0000).contains(&seg.addr) {
            continue;
        }
        let Some(data) = flash.get(seg.data_at, seg.len) else {
            continue;
        };
        if index == 0 && le_u32(data, 0) == APP_DESC_MAGIC {
            descriptor = Some(data);
        }
        rodata.merge(Texts::scan(data));
        if micropython.is_none() {
            micropython = find_micropython(data);
        }
    }
    let is_esp_idf = rodata.has(Text::CallingAppMain) || rodata.has(Text::AppInformation);
    let kind = match micropython {
        Some(mp) => AppKind::MicroPython(mp),
        None if is_esp_idf => AppKind::EspIdf,
        None => AppKind::Other,
    };

    let mut info = AppInfo {
        partition_offset: app.partition_offset,
        entry: app.header.entry,
        has_descriptor: descriptor.is_some(),
        project: String::new(),
        version: String::new(),
        idf_version: String::new(),
        compile_date: String::new(),
        compile_time: String::new(),
        elf_sha256: [0; 32],
        kind,
    };
    if let Some(d) = descriptor {
        info.version = c_string(d, 0x10, 32);
        info.project = c_string(d, 0x30, 32);
        info.compile_time = c_string(d, 0x50, 16);
        info.compile_date = c_string(d, 0x60, 16);
        info.idf_version = c_string(d, 0x70, 32);
        if let Some(sha) = d.get(0x90..0xB0) {
            info.elf_sha256.copy_from_slice(sha);
        }
    }

    // The app's own log: its default level is INFO for ESP-IDF apps, ERROR for MicroPython.
    log.info = matches!(info.kind, AppKind::EspIdf);
    log.colors = rodata.has(Text::Colors);
    if log.info {
        app_startup_lines(&info, &app.header, ctx.chip_revision, rodata, log);
    }
    Outcome::App(Box::new(info))
}

fn app_startup_lines(
    info: &AppInfo,
    header: &Header,
    chip_revision: (u8, u8),
    texts: Texts,
    log: &mut Log,
) {
    if texts.has(Text::MulticoreApp) {
        log.info("cpu_start", "Multicore app");
    }
    if texts.has(Text::ProCpuStart) {
        log.info("cpu_start", "Pro cpu start user code");
    }
    if texts.has(Text::AppInformation) {
        let tag = if texts.has(Text::AppInitTag) {
            "app_init"
        } else {
            "cpu_start"
        };
        log.info(tag, "Application information:");
        if !info.project.is_empty() {
            log.info(tag, &format!("Project name:     {}", info.project));
        }
        if !info.version.is_empty() {
            log.info(tag, &format!("App version:      {}", info.version));
        }
        if !info.compile_date.is_empty() {
            log.info(
                tag,
                &format!(
                    "Compile time:     {} {}",
                    info.compile_date, info.compile_time
                ),
            );
        }
        let sha: String = info
            .elf_sha256
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        log.info(tag, &format!("ELF file SHA256:  {sha}..."));
        log.info(tag, &format!("ESP-IDF:          {}", info.idf_version));
        let rev_tag = if texts.has(Text::EfuseInitTag) {
            "efuse_init"
        } else {
            tag
        };
        log.info(
            rev_tag,
            &format!(
                "Min chip rev:     v{}.{}",
                header.min_rev_full / 100,
                header.min_rev_full % 100
            ),
        );
        log.info(
            rev_tag,
            &format!(
                "Max chip rev:     v{}.{} ",
                header.max_rev_full / 100,
                header.max_rev_full % 100
            ),
        );
        let (major, minor) = chip_revision;
        log.info(rev_tag, &format!("Chip rev:         v{major}.{minor}"));
    }
    if texts.has(Text::CallingAppMain) {
        log.info("main_task", "Started on CPU0");
        log.info("main_task", "Calling app_main()");
    }
}

/// MicroPython's banner (`MicroPython v… on …` then `; <board> with <mcu>`), the line after it
/// and the help text, as they sit in the image's read-only data.
fn find_micropython(data: &[u8]) -> Option<MicroPython> {
    static BANNER: OnceLock<Option<Regex>> = OnceLock::new();
    static HELP: OnceLock<Option<Regex>> = OnceLock::new();
    let banner_re = BANNER
        .get_or_init(|| {
            Regex::new(
                r#"(?-u)\x00(MicroPython v[\x20-\x7E]+ on [\x20-\x7E]+)\x00+(; [\x20-\x7E]+ with [\x20-\x7E]+)\x00+(Type "help\(\)" for more information\.)?"#,
            )
            .ok()
        })
        .as_ref()?;
    let caps = banner_re.captures(data)?;
    let text = |i: usize| {
        caps.get(i)
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
    };
    let banner = format!("{}{}", text(1)?, text(2)?);
    let hint = text(3);
    let help = HELP
        .get_or_init(|| Regex::new(r"(?-u)Welcome to MicroPython[\x09\x0A\x0D\x20-\x7E]*").ok())
        .as_ref()
        .and_then(|re| re.find(data))
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned());
    Some(MicroPython { banner, hint, help })
}
