//! What the ESP-IDF second-stage bootloader of the virtual chip prints and decides once the ROM
//! has jumped to it, and the first lines the ESP-IDF startup code of the chosen app prints.
//!
//! [`boot`] reads the flash as the real bootloader does: the bootloader's own header at 0x0
//! (SPI mode, speed and flash size), the partition table (0xAA50 entries, the 0xEBEB MD5 entry,
//! every partition inside the flash), the otadata sectors when the table has an `ota` data
//! partition (highest valid sequence number, CRC as the ROM's `crc32_le`), then the app image of
//! the chosen partition (magic, chip id, chip revision range, segment count and lengths, loaded
//! segments not over the running bootloader's own RAM, length within the partition, checksum,
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
const TEXT_NEEDLES: [&[u8]; 17] = [
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
    b"Project name:",
    b"App version:",
    b"Compile time:",
    b"Started on CPU",
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
    /// Left out of builds with CONFIG_APP_EXCLUDE_PROJECT_NAME_VAR (MicroPython).
    ProjectName = 13,
    /// Left out of builds with CONFIG_APP_EXCLUDE_PROJECT_VER_VAR (MicroPython).
    AppVersion = 14,
    /// Present with CONFIG_APP_COMPILE_TIME_DATE.
    CompileTime = 15,
    StartedOnCpu = 16,
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
    /// The RAM its segments occupy while it runs: an app segment loaded over it is refused.
    ram: Vec<(u32, u32)>,
    strings: Texts,
    idf_version: Option<String>,
    compile_time: Option<String>,
}

impl BootloaderImage {
    fn read(flash: &Flash<'_>) -> Self {
        let header = flash.get(0, HEADER_LEN).and_then(Header::parse);
        // The ROM already checked this image; its extent is what its segments cover.
        let mut end = HEADER_LEN;
        let mut ram = Vec::new();
        if let Some(h) = header {
            for _ in 0..h.segment_count.min(MAX_SEGMENTS) {
                let (Some(addr), Some(len)) =
                    (flash.u32_at(end), flash.u32_at(end.saturating_add(4)))
                else {
                    break;
                };
                let len = len.min(SIXTEEN_MB);
                if is_loaded(addr) {
                    ram.push((addr, addr.saturating_add(len)));
                }
                end = end.saturating_add(8).saturating_add(len);
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
            ram,
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
    let loader = Loader {
        ctx,
        flash,
        bootloader_ram: &bootloader.ram,
    };
    load_boot_image(&loader, &table, start_index, log)
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
        // Unsigned arithmetic as in ESP-IDF: sequence 0 wraps.
        Some(seq) => i32::try_from(seq.wrapping_sub(1) % table.ota_app_count).unwrap_or(0),
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
    loader: &Loader<'_>,
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
        if let Some(app) = load_app(loader, offset, size, log) {
            return start_app(loader, app, log);
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
        if let Some(app) = load_app(loader, offset, size, log) {
            log.line(
                Level::Warn,
                "boot",
                "Falling back to test app as only bootable partition",
            );
            return start_app(loader, app, log);
        }
    }
    log.error("boot", "No bootable app partitions in the partition table");
    Outcome::Failed
}

/// What loading an app needs besides the log.
struct Loader<'a> {
    ctx: &'a BootContext<'a>,
    flash: &'a Flash<'a>,
    bootloader_ram: &'a [(u32, u32)],
}

/// A checked app image.
struct LoadedApp {
    partition_offset: u32,
    header: Header,
    segments: Vec<Segment>,
}

/// `esp_image_load` of the image in the partition at `offset`: header, chip, segments, length,
/// checksum, appended hash. `None` after printing why.
fn load_app(loader: &Loader<'_>, offset: u32, size: u32, log: &mut Log) -> Option<LoadedApp> {
    let (ctx, flash) = (loader.ctx, loader.flash);
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
        if action == "load" && len > 0 {
            if let Some(reason) = overlaps_bootloader(addr, len, loader.bootloader_ram) {
                log.error(
                    "esp_image",
                    &format!(
                        "Segment {index} 0x{addr:08x}-0x{:08x} invalid: {reason}",
                        addr.saturating_add(len)
                    ),
                );
                return None;
            }
        }
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

/// Start of the internal SRAM shared by the data bus (0x3FC8_8000) and the instruction bus
/// (0x4037_8000): the same byte has both addresses.
const DIRAM_DRAM_LOW: u32 = 0x3FC8_8000;
const DIRAM_IRAM_LOW: u32 = 0x4037_8000;
const DIRAM_LEN: u32 = 0x7_8000;

/// Offset into the shared SRAM, whichever bus the address uses.
fn sram_offset(addr: u32) -> Option<u32> {
    [DIRAM_DRAM_LOW, DIRAM_IRAM_LOW]
        .into_iter()
        .find_map(|low| addr.checked_sub(low).filter(|&o| o < DIRAM_LEN))
}

/// Why loading `len` bytes at `addr` would overwrite the running bootloader, if it would:
/// ESP-IDF refuses segments over the bootloader's data ("overlaps bootloader data") and over its
/// loader code ("overlaps loader IRAM"), seen through either bus.
fn overlaps_bootloader(addr: u32, len: u32, bootloader_ram: &[(u32, u32)]) -> Option<&'static str> {
    let start = sram_offset(addr)?;
    let end = start.saturating_add(len);
    bootloader_ram.iter().find_map(|&(b_start, b_end)| {
        let b_off = sram_offset(b_start)?;
        let b_off_end = b_off.saturating_add(b_end - b_start);
        (start < b_off_end && b_off < end).then_some(if b_start < DIRAM_IRAM_LOW {
            "overlaps bootloader data"
        } else {
            "overlaps loader IRAM"
        })
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
fn start_app(loader: &Loader<'_>, app: LoadedApp, log: &mut Log) -> Outcome {
    let (ctx, flash) = (loader.ctx, loader.flash);
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
        if texts.has(Text::ProjectName) {
            log.info(tag, &format!("Project name:     {}", info.project));
        }
        if texts.has(Text::AppVersion) {
            log.info(tag, &format!("App version:      {}", info.version));
        }
        if texts.has(Text::CompileTime) {
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
    if texts.has(Text::StartedOnCpu) {
        log.info("main_task", "Started on CPU0");
    }
    if texts.has(Text::CallingAppMain) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::{ImageHeader, Segment as ImageSegment, encode_image};

    /// Format texts an ESP-IDF v5.4 bootloader holds (the ones this model looks for).
    const BOOTLOADER_TEXTS: &[&str] = &[
        "I (%lu) %s: ESP-IDF %s 2nd stage bootloader",
        "I (%lu) %s: compile time %s",
        "I (%lu) %s: Multicore bootloader",
        "I (%lu) %s: chip revision: v%d.%d",
        "I (%lu) %s: efuse block revision: v%d.%d",
        "I (%lu) %s: Boot SPI Speed : %s",
        "I (%lu) %s: Enabling RNG early entropy source...",
    ];

    /// Format texts of an ESP-IDF v5.4 app (tags `app_init` and `efuse_init`).
    const APP_TEXTS: &[&str] = &[
        "I (%lu) %s: Multicore app",
        "I (%lu) %s: Pro cpu start user code",
        "app_init",
        "I (%lu) %s: Application information:",
        "I (%lu) %s: Project name:     %s",
        "I (%lu) %s: App version:      %s",
        "I (%lu) %s: Compile time:     %s %s",
        "efuse_init",
        "I (%lu) %s: Started on CPU%d",
        "I (%lu) %s: Calling app_main()",
    ];

    fn padded(mut bytes: Vec<u8>) -> Vec<u8> {
        while bytes.len() % 4 != 0 {
            bytes.push(0);
        }
        bytes
    }

    fn field(text: &str, len: usize) -> Vec<u8> {
        let mut f = text.as_bytes().to_vec();
        f.resize(len, 0);
        f
    }

    fn strings(texts: &[&str]) -> Vec<u8> {
        texts.iter().flat_map(|t| t.bytes().chain([0, 0])).collect()
    }

    /// A bootloader image: a DRAM segment with the descriptor and the format texts, an IRAM
    /// segment, DIO 80 MHz 4 MB.
    fn bootloader(texts: &[&str]) -> Vec<u8> {
        let mut dram = vec![BOOTLOADER_DESC_MAGIC, 0, 0, 0];
        dram.extend_from_slice(&1u32.to_le_bytes());
        dram.extend(field("v5.4.1", 32));
        dram.extend(field("Apr 24 2025 15:55:11", 24));
        dram.extend([0; 16]);
        dram.extend(strings(texts));
        let header = ImageHeader {
            entry: 0x403c_8928,
            flash_size_freq: 0x2F,
            ..ImageHeader::default()
        };
        let segments = [
            ImageSegment {
                addr: 0x3fce_2810,
                data: padded(dram),
            },
            ImageSegment {
                addr: 0x403c_8700,
                data: vec![0x36, 0x41, 0, 0],
            },
        ];
        encode_image(&header, &segments).unwrap_or_default()
    }

    /// An app image whose first (DROM) segment starts with an app descriptor.
    fn app(project: &str, texts: &[&str], header: ImageHeader) -> Vec<u8> {
        let mut drom = APP_DESC_MAGIC.to_le_bytes().to_vec();
        drom.extend([0; 12]);
        drom.extend(field("1.2.3", 32));
        drom.extend(field(project, 32));
        drom.extend(field("12:34:56", 16));
        drom.extend(field("Jan  2 2025", 16));
        drom.extend(field("v5.4.1", 32));
        drom.extend((0..32).map(|i| i as u8 * 7));
        drom.extend([0; 0x50]);
        drom.extend(strings(texts));
        let segments = [
            ImageSegment {
                addr: 0x3c02_0020,
                data: padded(drom),
            },
            ImageSegment {
                addr: 0x4037_4000,
                data: vec![0x36, 0x41, 0, 0, 0, 0, 0, 0],
            },
        ];
        encode_image(&header, &segments).unwrap_or_default()
    }

    fn s3_app(project: &str) -> Vec<u8> {
        let header = ImageHeader {
            entry: 0x4037_5378,
            max_rev_full: 99,
            ..ImageHeader::default()
        };
        app(project, APP_TEXTS, header)
    }

    /// A partition table of `(label, type, subtype, offset, size)` rows with its MD5 entry.
    fn table(rows: &[(&str, u8, u8, u32, u32)]) -> Vec<u8> {
        let mut t = Vec::new();
        for (label, kind, subtype, offset, size) in rows {
            t.extend([0xAA, 0x50, *kind, *subtype]);
            t.extend(offset.to_le_bytes());
            t.extend(size.to_le_bytes());
            t.extend(field(label, 16));
            t.extend([0; 4]);
        }
        let digest = Md5::digest(&t);
        t.extend([0xEB, 0xEB]);
        t.extend([0xFF; 14]);
        t.extend(digest);
        t.resize(PARTITION_TABLE_LEN as usize, 0xFF);
        t
    }

    fn factory_table() -> Vec<u8> {
        table(&[
            ("nvs", 1, 2, 0x9000, 0x6000),
            ("phy_init", 1, 1, 0xF000, 0x1000),
            ("factory", 0, 0, 0x10000, 0x100000),
        ])
    }

    fn ota_table(with_factory: bool) -> Vec<u8> {
        let mut rows = vec![
            ("nvs", 1, 2, 0x9000, 0x4000),
            ("otadata", 1, 0, 0xD000, 0x2000),
            ("phy_init", 1, 1, 0xF000, 0x1000),
        ];
        if with_factory {
            rows.push(("factory", 0, 0, 0x10000, 0x100000));
        }
        rows.push(("ota_0", 0, 0x10, 0x110000, 0x100000));
        rows.push(("ota_1", 0, 0x11, 0x210000, 0x100000));
        table(&rows)
    }

    /// An otadata entry with sequence number `seq` (CRC as ESP-IDF writes it).
    fn ota_entry(seq: u32) -> Vec<u8> {
        let mut e = seq.to_le_bytes().to_vec();
        e.extend([0xFF; 20]);
        e.extend(2u32.to_le_bytes()); // ESP_OTA_IMG_VALID
        e.extend(crc32_le(u32::MAX, &seq.to_le_bytes()).to_le_bytes());
        e
    }

    fn flash(parts: &[(u32, &[u8])]) -> Vec<u8> {
        let mut f = vec![0xFF; 4 * 1024 * 1024];
        for (offset, bytes) in parts {
            let start = *offset as usize;
            f[start..start + bytes.len()].copy_from_slice(bytes);
        }
        f
    }

    fn good_flash() -> Vec<u8> {
        flash(&[
            (0, &bootloader(BOOTLOADER_TEXTS)),
            (0x8000, &factory_table()),
            (0x10000, &s3_app("blinky")),
        ])
    }

    /// Lines without their timestamp: `I tag: text`.
    fn untimed(text: &str) -> Vec<String> {
        text.split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| match (l.get(1..3), l.find(") ")) {
                (Some(" ("), Some(close)) => format!("{} {}", &l[..1], &l[close + 2..]),
                _ => l.to_owned(),
            })
            .collect()
    }

    fn run_on(flash: &[u8]) -> SecondStageBoot {
        boot(&BootContext::esp32s3(flash))
    }

    /// The boot of `flash` ends with `tail` (untimed lines) and starts the app at `app_at`.
    fn check(name: &str, flash: &[u8], tail: &[&str], app_at: Option<u32>) {
        let result = run_on(flash);
        let lines = untimed(&result.text);
        let got: Vec<&str> = lines
            .iter()
            .skip(lines.len().saturating_sub(tail.len()))
            .map(String::as_str)
            .collect();
        assert_eq!(got, tail, "{name}:\n{}", result.text);
        let started = match result.outcome {
            Outcome::App(app) => Some(app.partition_offset),
            Outcome::Failed => None,
        };
        assert_eq!(started, app_at, "{name}:\n{}", result.text);
    }

    #[test]
    fn a_good_layout_prints_the_esp_idf_boot_log() {
        let result = run_on(&good_flash());
        let want = [
            "I boot: ESP-IDF v5.4.1 2nd stage bootloader",
            "I boot: compile time Apr 24 2025 15:55:11",
            "I boot: Multicore bootloader",
            "I boot: chip revision: v0.2",
            "I boot: efuse block revision: v1.1",
            "I boot.esp32s3: Boot SPI Speed : 80MHz",
            "I boot.esp32s3: SPI Mode       : DIO",
            "I boot.esp32s3: SPI Flash Size : 4MB",
            "I boot: Enabling RNG early entropy source...",
            "I boot: Partition Table:",
            "I boot: ## Label            Usage          Type ST Offset   Length",
            "I boot:  0 nvs              WiFi data        01 02 00009000 00006000",
            "I boot:  1 phy_init         RF data          01 01 0000f000 00001000",
            "I boot:  2 factory          factory app      00 00 00010000 00100000",
            "I boot: End of partition table",
            "I esp_image: segment 0: paddr=00010020 vaddr=3c020020 size=00224h (   548) map",
            "I esp_image: segment 1: paddr=0001024c vaddr=40374000 size=00008h (     8) load",
            "I boot: Loaded app from partition at offset 0x10000",
            "I boot: Disabling RNG early entropy source...",
            "I cpu_start: Multicore app",
            "I cpu_start: Pro cpu start user code",
            "I app_init: Application information:",
            "I app_init: Project name:     blinky",
            "I app_init: App version:      1.2.3",
            "I app_init: Compile time:     Jan  2 2025 12:34:56",
            "I app_init: ELF file SHA256:  00070e151c232a31...",
            "I app_init: ESP-IDF:          v5.4.1",
            "I efuse_init: Min chip rev:     v0.0",
            "I efuse_init: Max chip rev:     v0.99 ",
            "I efuse_init: Chip rev:         v0.2",
            "I main_task: Started on CPU0",
            "I main_task: Calling app_main()",
        ];
        assert_eq!(untimed(&result.text), want, "{}", result.text);
        assert!(result.text.starts_with("I (27) boot: ESP-IDF v5.4.1"));
        assert!(
            !result.text.contains('\x1b'),
            "no colours in these format texts"
        );
        let Outcome::App(app) = result.outcome else {
            panic!("no app: {}", result.text)
        };
        assert_eq!(app.project, "blinky");
        assert_eq!(app.version, "1.2.3");
        assert_eq!(app.idf_version, "v5.4.1");
        assert_eq!(app.kind, AppKind::EspIdf);
        assert_eq!(app.entry, 0x4037_5378);
    }

    #[test]
    fn timestamps_grow_with_the_console_and_the_verified_bytes() {
        let result = run_on(&good_flash());
        let stamps: Vec<u64> = result
            .text
            .split("\r\n")
            .filter_map(|l| l.get(3..)?.split(')').next()?.parse().ok())
            .collect();
        assert_eq!(stamps.first(), Some(&27));
        assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
        // About 5 ms per 60-character line at 115200 baud.
        let last = stamps.last().copied().unwrap_or(0);
        assert!((150..400).contains(&last), "{stamps:?}");
        assert!(result.finished_at.as_millis() >= u128::from(last));
        let later = boot(&BootContext {
            started_at: Duration::from_millis(100),
            ..BootContext::esp32s3(&good_flash())
        });
        assert!(later.text.starts_with("I (100) boot:"));
    }

    #[test]
    fn failures_are_reported_as_esp_idf_does_and_end_in_a_reboot() {
        let bl = bootloader(BOOTLOADER_TEXTS);
        let good_table = factory_table();
        let good_app = s3_app("blinky");
        let not_bootable = [
            "E boot: Factory app partition is not bootable",
            "E boot: No bootable app partitions in the partition table",
        ];

        check(
            "blank partition table",
            &flash(&[(0, &bl)]),
            &[
                "I boot: End of partition table",
                "E boot: No bootable app partitions in the partition table",
            ],
            None,
        );

        let mut bad_md5 = good_table.clone();
        bad_md5[0x20 + 12] = b'P'; // a label byte, covered by the MD5
        check(
            "wrong MD5",
            &flash(&[(0, &bl), (0x8000, &bad_md5)]),
            &[
                "E flash_parts: Incorrect MD5 checksum",
                "E boot: Failed to verify partition table",
                "E boot: load partition table error!",
            ],
            None,
        );

        let mut bad_magic = good_table.clone();
        bad_magic[0x20] = 0x12;
        bad_magic[0x21] = 0x34;
        check(
            "bad entry magic",
            &flash(&[(0, &bl), (0x8000, &bad_magic)]),
            &[
                "E flash_parts: partition 1 invalid magic number 0x3412",
                "E boot: Failed to verify partition table",
                "E boot: load partition table error!",
            ],
            None,
        );

        let too_big = table(&[("factory", 0, 0, 0x10000, 0x400000)]);
        check(
            "partition past the flash size in the bootloader header",
            &flash(&[(0, &bl), (0x8000, &too_big)]),
            &[
                "E flash_parts: partition 0 invalid - offset 0x10000 size 0x400000 exceeds flash chip size 0x400000",
                "E boot: Failed to verify partition table",
                "E boot: load partition table error!",
            ],
            None,
        );

        let mut full = Vec::new();
        for i in 0..96u32 {
            full.extend([0xAA, 0x50, 1, 0x81]);
            full.extend((0x9000 + i * 0x1000).to_le_bytes());
            full.extend(0x1000u32.to_le_bytes());
            full.extend(field("x", 20));
        }
        check(
            "no end entry",
            &flash(&[(0, &bl), (0x8000, &full)]),
            &[
                "E flash_parts: partition table has no terminating entry, not valid",
                "E boot: Failed to verify partition table",
                "E boot: load partition table error!",
            ],
            None,
        );

        let mut tail =
            vec!["E esp_image: image at 0x10000 has invalid magic byte (nothing flashed here?)"];
        tail.extend(not_bootable);
        check(
            "nothing at the app offset",
            &flash(&[(0, &bl), (0x8000, &good_table)]),
            &tail,
            None,
        );

        let c3 = app(
            "blinky",
            APP_TEXTS,
            ImageHeader {
                chip_id: 5,
                ..ImageHeader::default()
            },
        );
        let mut tail = vec!["E boot_comm: mismatch chip ID, expected 9, found 5"];
        tail.extend(not_bootable);
        check(
            "app for another chip",
            &flash(&[(0, &bl), (0x8000, &good_table), (0x10000, &c3)]),
            &tail,
            None,
        );

        let new_rev = app(
            "blinky",
            APP_TEXTS,
            ImageHeader {
                min_rev_full: 3,
                ..ImageHeader::default()
            },
        );
        let mut tail = vec!["E boot_comm: Image requires chip rev >= v0.3, but chip is v0.2"];
        tail.extend(not_bootable);
        check(
            "app for a newer chip revision",
            &flash(&[(0, &bl), (0x8000, &good_table), (0x10000, &new_rev)]),
            &tail,
            None,
        );

        let mut corrupt = good_app.clone();
        corrupt[0x40] ^= 0xFF; // descriptor data: checksum and digest both break
        let result = run_on(&flash(&[
            (0, &bl),
            (0x8000, &good_table),
            (0x10000, &corrupt),
        ]));
        let lines = untimed(&result.text);
        let failure = lines
            .get(lines.len().saturating_sub(3))
            .cloned()
            .unwrap_or_default();
        assert!(
            failure.starts_with("E esp_image: Checksum failed. Calculated 0x")
                && failure.contains(" read 0x"),
            "{}",
            result.text
        );
        assert_eq!(result.outcome, Outcome::Failed);

        let mut bad_digest = good_app.clone();
        let last = bad_digest.len() - 1;
        bad_digest[last] ^= 1;
        let mut tail = vec![
            "I esp_image: segment 1: paddr=0001024c vaddr=40374000 size=00008h (     8) load",
            "E esp_image: Image hash failed - image is corrupt",
        ];
        tail.extend(not_bootable);
        check(
            "wrong appended SHA-256",
            &flash(&[(0, &bl), (0x8000, &good_table), (0x10000, &bad_digest)]),
            &tail,
            None,
        );

        let mut odd_segment = good_app.clone();
        odd_segment[24 + 4] = 0x25; // segment 0 length no longer a multiple of 4
        let mut tail = vec!["E esp_image: invalid segment length 0x225"];
        tail.extend(not_bootable);
        check(
            "unaligned segment length",
            &flash(&[(0, &bl), (0x8000, &good_table), (0x10000, &odd_segment)]),
            &tail,
            None,
        );

        let result = run_on(&flash(&[(0, &bl), (0x8000, &good_table), (0x10000, &bl)]));
        let lines = untimed(&result.text);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("E esp_image: Segment 0 0x3fce2810-0x")
                    && l.ends_with(" invalid: overlaps bootloader data")),
            "bootloader image in the app partition: {}",
            result.text
        );
        assert_eq!(result.outcome, Outcome::Failed);

        let small = table(&[("factory", 0, 0, 0x10000, 0x100)]);
        let len = good_app.len();
        let fits = format!("E esp_image: Image length {len} doesn't fit in partition length 256");
        let mut tail = vec![fits.as_str()];
        tail.extend(not_bootable);
        check(
            "app larger than its partition",
            &flash(&[(0, &bl), (0x8000, &small), (0x10000, &good_app)]),
            &tail,
            None,
        );
    }

    #[test]
    fn otadata_chooses_the_app() {
        let bl = bootloader(BOOTLOADER_TEXTS);
        let app0 = s3_app("slot0");
        let app1 = s3_app("slot1");
        let factory = s3_app("factory");
        let with_factory = ota_table(true);
        let no_factory = ota_table(false);
        let apps = |t: &[u8], ota: &[(u32, Vec<u8>)]| {
            let mut parts: Vec<(u32, Vec<u8>)> = vec![
                (0, bl.clone()),
                (0x8000, t.to_vec()),
                (0x10000, factory.clone()),
                (0x110000, app0.clone()),
                (0x210000, app1.clone()),
            ];
            parts.extend(ota.iter().cloned());
            parts
        };
        let run = |parts: Vec<(u32, Vec<u8>)>| {
            let refs: Vec<(u32, &[u8])> = parts.iter().map(|(o, b)| (*o, b.as_slice())).collect();
            flash(&refs)
        };

        // Erased otadata: the factory app, or OTA 0 without one.
        check(
            "erased otadata, factory present",
            &run(apps(&with_factory, &[])),
            &["I main_task: Calling app_main()"],
            Some(0x10000),
        );
        let result = run_on(&run(apps(&with_factory, &[])));
        assert!(untimed(&result.text).contains(&"I boot: Defaulting to factory image".to_owned()));
        let result = run_on(&run(apps(&no_factory, &[])));
        assert!(
            untimed(&result.text).contains(&"I boot: No factory image, trying OTA 0".to_owned())
        );
        assert!(matches!(result.outcome, Outcome::App(a) if a.partition_offset == 0x110000));

        // The higher valid sequence number wins: seq 2 -> slot (2-1) % 2 = 1.
        check(
            "otadata selects ota_1",
            &run(apps(
                &with_factory,
                &[(0xD000, ota_entry(1)), (0xE000, ota_entry(2))],
            )),
            &["I main_task: Calling app_main()"],
            Some(0x210000),
        );
        check(
            "otadata selects ota_0",
            &run(apps(&with_factory, &[(0xD000, ota_entry(3))])),
            &["I main_task: Calling app_main()"],
            Some(0x110000),
        );

        // A CRC that does not match.
        let mut bad = ota_entry(2);
        bad[28] ^= 1;
        let result = run_on(&run(apps(&with_factory, &[(0xD000, bad.clone())])));
        assert!(
            untimed(&result.text).contains(
                &"E boot: ota data partition invalid, falling back to factory".to_owned()
            ),
            "{}",
            result.text
        );
        assert!(matches!(result.outcome, Outcome::App(a) if a.partition_offset == 0x10000));
        let result = run_on(&run(apps(&no_factory, &[(0xD000, bad)])));
        assert!(
            untimed(&result.text).contains(
                &"E boot: ota data partition invalid and no factory, will try all partitions"
                    .to_owned()
            ),
            "{}",
            result.text
        );
        assert!(matches!(result.outcome, Outcome::App(a) if a.partition_offset == 0x110000));

        // The selected slot is broken: the ones below it are tried next.
        let mut parts = apps(&with_factory, &[(0xD000, ota_entry(2))]);
        parts.push((0x210000, vec![0xFF; 64]));
        let result = run_on(&run(parts));
        let lines = untimed(&result.text);
        assert!(
            lines.contains(&"E boot: OTA app partition slot 1 is not bootable".to_owned()),
            "{}",
            result.text
        );
        assert!(
            matches!(result.outcome, Outcome::App(a) if a.partition_offset == 0x110000 && a.project == "slot0")
        );
    }

    #[test]
    fn a_quiet_bootloader_prints_only_errors_and_colours_follow_the_image() {
        // No info texts inside (a WARN-level build): the bootloader is silent on success (the
        // app's own startup lines still come), errors are still shown.
        let quiet = bootloader(&["E (%lu) %s: some error text"]);
        let result = run_on(&flash(&[
            (0, &quiet),
            (0x8000, &factory_table()),
            (0x10000, &s3_app("x")),
        ]));
        assert!(
            result
                .text
                .starts_with("I (27) cpu_start: Multicore app\r\n"),
            "{}",
            result.text
        );
        assert!(!result.text.contains(" boot:"), "{}", result.text);
        assert!(matches!(result.outcome, Outcome::App(_)));
        check(
            "quiet bootloader, no app",
            &flash(&[(0, &quiet), (0x8000, &factory_table())]),
            &[
                "E esp_image: image at 0x10000 has invalid magic byte (nothing flashed here?)",
                "E boot: Factory app partition is not bootable",
                "E boot: No bootable app partitions in the partition table",
            ],
            None,
        );

        let coloured: Vec<String> = BOOTLOADER_TEXTS
            .iter()
            .map(|t| format!("\x1b[0;32m{t}\x1b[0m"))
            .collect();
        let coloured: Vec<&str> = coloured.iter().map(String::as_str).collect();
        let result = run_on(&flash(&[
            (0, &bootloader(&coloured)),
            (0x8000, &factory_table()),
        ]));
        assert!(
            result.text.starts_with(
                "\x1b[0;32mI (27) boot: ESP-IDF v5.4.1 2nd stage bootloader\x1b[0m\r\n"
            ),
            "{}",
            result.text
        );
        let last_line = result.text.trim_end().rsplit("\r\n").next().unwrap_or("");
        assert!(last_line.starts_with("\x1b[0;31mE ("), "{}", result.text);
        assert!(
            last_line.ends_with(" boot: No bootable app partitions in the partition table\x1b[0m"),
            "{}",
            result.text
        );
    }

    #[test]
    fn apps_are_told_apart_by_their_contents() {
        let bl = bootloader(BOOTLOADER_TEXTS);
        let table = factory_table();
        let kind_of =
            |image: &[u8]| match run_on(&flash(&[(0, &bl), (0x8000, &table), (0x10000, image)]))
                .outcome
            {
                Outcome::App(a) => Some(a.kind),
                Outcome::Failed => None,
            };
        let header = || ImageHeader {
            max_rev_full: 99,
            ..ImageHeader::default()
        };
        assert_eq!(kind_of(&s3_app("idf")), Some(AppKind::EspIdf));
        assert_eq!(
            kind_of(&app("hal", &["panic text"], header())),
            Some(AppKind::Other)
        );
        let mp_texts = [
            "MicroPython v9.9.9 on 2030-01-01",
            "; Test board with ESP32S3",
            "Type \"help()\" for more information.\r\n",
            "Welcome to MicroPython on the ESP32!\n\nLine two\n",
            "I (%lu) %s: Calling app_main()",
        ];
        let Some(AppKind::MicroPython(mp)) = kind_of(&app("", &mp_texts, header())) else {
            panic!("not MicroPython")
        };
        assert_eq!(
            mp.banner,
            "MicroPython v9.9.9 on 2030-01-01; Test board with ESP32S3"
        );
        assert_eq!(
            mp.hint.as_deref(),
            Some("Type \"help()\" for more information.")
        );
        assert_eq!(
            mp.help.as_deref(),
            Some("Welcome to MicroPython on the ESP32!\n\nLine two\n")
        );
        // MicroPython's app log level is ERROR: its startup lines are not printed.
        let result = run_on(&flash(&[
            (0, &bl),
            (0x8000, &table),
            (0x10000, &app("", &mp_texts, header())),
        ]));
        assert_eq!(
            untimed(&result.text).last().map(String::as_str),
            Some("I boot: Disabling RNG early entropy source..."),
            "{}",
            result.text
        );
    }

    #[test]
    fn segments_over_the_running_bootloader_are_refused_through_either_bus() {
        let bootloader_ram = [(0x3FCE_2810, 0x3FCE_3810), (0x403C_8700, 0x403C_9700)];
        for (addr, len, want) in [
            (0x3FCE_2000, 0x810, None),
            (0x3FCE_2000, 0x814, Some("overlaps bootloader data")),
            (0x3FCE_3000, 0x10, Some("overlaps bootloader data")),
            (0x3FCE_3810, 0x10, None),
            // The same SRAM through the instruction bus.
            (0x403D_2810, 4, Some("overlaps bootloader data")),
            (0x403C_9000, 4, Some("overlaps loader IRAM")),
            // The loader code seen through the data bus.
            (0x3FCD_8700, 8, Some("overlaps loader IRAM")),
            (0x3FC9_1200, 0x2704, None),
            (0x4037_4000, 0x3B0C, None),
        ] {
            assert_eq!(
                overlaps_bootloader(addr, len, &bootloader_ram),
                want,
                "{addr:#x}+{len:#x}"
            );
        }
    }

    #[test]
    fn otadata_crc_is_the_rom_crc32_le() {
        // esp_rom_crc32_le(UINT32_MAX, seq) as otatool computes it: Python's
        // zlib.crc32(struct.pack("<I", 1), 0xFFFFFFFF) == 0x4743989a.
        assert_eq!(crc32_le(u32::MAX, &1u32.to_le_bytes()), 0x4743_989A);
        // And the plain CRC-32 check value.
        assert_eq!(crc32_le(0, b"123456789"), 0xCBF4_3926);
    }
}
