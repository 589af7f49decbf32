//! ESP-IDF's log lines as the virtual second stage prints them: `I (ms) tag: message` with or
//! without ANSI colours, timestamps advanced by the 115200-baud console and by the flash reads,
//! and which of the firmware's format texts an image holds ([`Texts`]), since a line is printed
//! only when its format text is in the image. Knows nothing of partitions or images.

use std::sync::OnceLock;
use std::time::Duration;

use regex::bytes::Regex;

/// Console speed of the ESP-IDF log (CONFIG_ESP_CONSOLE_UART_BAUDRATE's default).
const CONSOLE_BAUD: u64 = 115_200;
/// How fast the bootloader reads and hashes an image from flash (from the timestamps of real
/// S3 boot logs: about 5.5 MB/s).
const VERIFY_BYTES_PER_MS: u64 = 5_500;

/// Which log texts an image holds (each one decides whether a line can be printed).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Texts {
    mask: u32,
}

/// The texts looked for; the bit of each is its index, named by [`Text`].
const TEXT_NEEDLES: [&[u8]; 19] = [
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
    b"Image requires efuse blk rev",
    b"too short for app description",
];

/// A text of [`TEXT_NEEDLES`], by index.
#[derive(Debug, Clone, Copy)]
pub(super) enum Text {
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
    /// ESP-IDF v5.1.7, v5.2.3, v5.3.2 and later read an app's eFuse block revision range from its
    /// app descriptor.
    EfuseBlkRevCheck = 17,
    /// The newest ESP-IDF refuses an app whose first segment cannot hold an app descriptor.
    AppDescLengthCheck = 18,
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
    pub(super) fn scan(bytes: &[u8]) -> Self {
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

    pub(super) fn has(self, text: Text) -> bool {
        self.mask & (1 << text as u32) != 0
    }

    pub(super) fn merge(&mut self, other: Texts) {
        self.mask |= other.mask;
    }
}

/// Log severity.
#[derive(Debug, Clone, Copy)]
pub(super) enum Level {
    Error,
    Warn,
    Info,
}

/// The console text with ESP-IDF's log line format and the clock it advances.
pub(super) struct Log {
    pub(super) text: String,
    pub(super) now_us: u64,
    pub(super) colors: bool,
    pub(super) info: bool,
}

impl Log {
    pub(super) fn new(started_at: Duration, bootloader: &Texts) -> Self {
        Log {
            text: String::new(),
            now_us: u64::try_from(started_at.as_micros()).unwrap_or(u64::MAX),
            colors: bootloader.has(Text::Colors),
            info: bootloader.has(Text::SecondStage),
        }
    }

    /// One log line; info lines only when the running firmware prints them.
    pub(super) fn line(&mut self, level: Level, tag: &str, message: &str) {
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

    pub(super) fn info(&mut self, tag: &str, message: &str) {
        self.line(Level::Info, tag, message);
    }

    pub(super) fn error(&mut self, tag: &str, message: &str) {
        self.line(Level::Error, tag, message);
    }

    /// Early logging blocks until the UART took the line: 10 bits per byte.
    pub(super) fn wait_for_uart(&mut self, bytes: usize) {
        let bits = u64::try_from(bytes).unwrap_or(u64::MAX).saturating_mul(10);
        self.now_us = self
            .now_us
            .saturating_add(bits.saturating_mul(1_000_000) / CONSOLE_BAUD);
    }

    /// Reading and hashing `bytes` of flash.
    pub(super) fn verify(&mut self, bytes: u32) {
        self.now_us = self
            .now_us
            .saturating_add(u64::from(bytes) * 1000 / VERIFY_BYTES_PER_MS);
    }
}
