//! What the first-stage ROM prints on UART0 after a reset (§13 of the facts and the transcripts):
//! the banner with the reset cause and strapping value, then either the download prompt or the
//! SPI boot of the image at flash offset 0 (`SPIWP`, `mode`, one `load:` line per segment,
//! `entry`), or the `invalid header` / checksum / chip-id failure text.
//!
//! The ROM only boots what it can load into internal RAM: an image whose segments go elsewhere
//! (an application image, which maps its code from flash, written at 0x0 by mistake) is refused
//! like a blank sector, with the repeated `invalid header: 0x<first word>` line. Whatever sits at
//! 0x1000 (where the ESP32, not the ESP32-S3, keeps its bootloader) is never looked at. How
//! often the line repeats and when the watchdog ends the loop is the chip's business
//! (`chip.rs`); this file only says which line.
//!
//! Pure text from state; knows nothing of ports or packets. It reads the image header with its
//! own code (never `crate::image`'s decoder, and its tests build images with `sim::test_image`),
//! so that the simulator checks what the host's image writer produced instead of sharing its
//! mistakes.

use sha2::{Digest as _, Sha256};

use super::flash::Flash;

/// First byte of an image.
const IMAGE_MAGIC: u8 = 0xE9;
/// Length of the image header (common and extended parts).
const HEADER_LEN: usize = 24;
/// Most segments the ROM loads.
const MAX_SEGMENTS: usize = 16;
/// Seed of the image checksum.
const CHECKSUM_SEED: u8 = 0xEF;

/// The header fields the ROM's SPI boot reads (facts §10).
struct BootHeader {
    segment_count: u8,
    flash_mode: u8,
    flash_size_freq: u8,
    entry: u32,
    wp_pin: u8,
    chip_id: u16,
    hash_appended: bool,
}

impl BootHeader {
    /// `None` unless the 24 bytes start with the image magic.
    fn parse(head: &[u8]) -> Option<Self> {
        let head: &[u8; HEADER_LEN] = head.get(..HEADER_LEN)?.try_into().ok()?;
        (head[0] == IMAGE_MAGIC).then(|| BootHeader {
            segment_count: head[1],
            flash_mode: head[2],
            flash_size_freq: head[3],
            entry: u32::from_le_bytes([head[4], head[5], head[6], head[7]]),
            wp_pin: head[8],
            chip_id: u16::from_le_bytes([head[12], head[13]]),
            hash_appended: head[23] == 1,
        })
    }
}

/// Why the chip (re)started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCause {
    /// Power-on or EN pin.
    PowerOn,
    /// Software system reset (the loader's FLASH_END reboot).
    RtcSwSys,
    /// Timer group 0 watchdog (the invalid-header boot loop on silicon).
    Tg0Wdt,
    /// RTC watchdog (esptool's watchdog-reset).
    RtcWdt,
    /// Core reset requested by the host through the USB-Serial/JTAG controller (RTS).
    UsbUartChip,
}

impl ResetCause {
    fn code_and_name(self) -> (u32, &'static str) {
        match self {
            ResetCause::PowerOn => (0x1, "POWERON"),
            ResetCause::RtcSwSys => (0x3, "RTC_SW_SYS_RST"),
            ResetCause::Tg0Wdt => (0x7, "TG0WDT_SYS_RST"),
            ResetCause::RtcWdt => (0x10, "RTCWDT_RTC_RST"),
            ResetCause::UsbUartChip => (0x15, "USB_UART_CHIP_RESET"),
        }
    }
}

/// What a strapping value selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMode {
    /// Download mode, with the prompt line the ROM prints.
    Download(&'static str),
    /// Boot from SPI flash.
    Spi,
}

/// The ROM's name for a strapping value and the mode it selects (bit 3 = GPIO0 high).
pub fn boot_mode(strap: u8) -> (&'static str, BootMode) {
    if strap & 0x08 != 0 {
        return ("SPI_FAST_FLASH_BOOT", BootMode::Spi);
    }
    match strap & 0x07 {
        0..=3 => (
            "DOWNLOAD(USB/UART0)",
            BootMode::Download("waiting for download"),
        ),
        7 => ("UART0_BOOT", BootMode::Download("wait uart0 download")),
        _ => ("SPI_FLASH_BOOT", BootMode::Spi),
    }
}

/// Where the CPU was when a watchdog or the USB controller reset it, as real logs show it:
/// the ROM's header-read loop (blank flash, TG0 watchdog) ...
pub const PC_HEADER_LOOP: u32 = 0x4004_8836;
/// ... and the ROM's `ets_delay_us`, where the download loader idles between bytes.
pub const PC_ROM_IDLE: u32 = 0x4004_1a76;

/// The banner lines (ROM version, build date, reset cause and strap, and for a reset that
/// interrupted a running CPU the `Saved PC` line), CRLF-terminated.
pub fn banner(cause: ResetCause, strap: u8, saved_pc: Option<u32>) -> String {
    let (code, name) = cause.code_and_name();
    let (mode_name, _) = boot_mode(strap);
    let mut s = format!(
        "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:{code:#x} ({name}),boot:{strap:#x} ({mode_name})\r\n"
    );
    if let Some(pc) = saved_pc {
        s.push_str(&format!("Saved PC:{pc:#010x}\r\n"));
    }
    s
}

/// How an SPI boot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpiBootOutcome {
    /// The image loaded and the ROM jumped to its entry.
    Jumped(u32),
    /// The ROM printed why it gave up (checksum, chip id) and stopped; on silicon the flash-boot
    /// watchdog resets it.
    Failed,
    /// Nothing bootable at 0x0: the ROM prints this line (`invalid header: 0x...`) again and
    /// again until the flash-boot watchdog resets it.
    InvalidHeader(String),
}

/// True when `addr..addr+len` lies in memory the ROM can load a segment into: internal SRAM
/// through its data or instruction window, or RTC fast/slow memory.
fn loadable(addr: u32, len: u32) -> bool {
    let end = u64::from(addr) + u64::from(len);
    [
        (0x3FC8_8000u64, 0x3FD0_0000u64),
        (0x4037_0000, 0x403E_0000),
        (0x600F_E000, 0x6010_0000),
        (0x5000_0000, 0x5000_2000),
    ]
    .iter()
    .any(|&(lo, hi)| u64::from(addr) >= lo && end <= hi)
}

/// The console text of an SPI boot from `flash` and how it ended.
pub fn spi_boot(flash: &Flash, chip_id: u32) -> (String, SpiBootOutcome) {
    let head = flash.read_vec(0, HEADER_LEN);
    let first_word = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let invalid = || {
        (
            String::new(),
            SpiBootOutcome::InvalidHeader(format!("invalid header: {first_word:#010x}\r\n")),
        )
    };
    let Some(header) = BootHeader::parse(&head) else {
        return invalid();
    };
    // An image the ROM cannot load (segments for flash-mapped memory: an app, not a
    // bootloader) is refused before anything else is printed.
    if !segments_loadable(flash, &header) {
        return invalid();
    }
    let mut out = String::new();
    if u32::from(header.chip_id) != chip_id {
        out.push_str(&format!(
            "Invalid chip id. Expected {chip_id} read {}. Bootloader for wrong chip?\r\nets_main.c 329\r\n",
            header.chip_id
        ));
        return (out, SpiBootOutcome::Failed);
    }
    let mode = match header.flash_mode {
        0 => "QIO",
        1 => "QOUT",
        2 => "DIO",
        3 => "DOUT",
        _ => "FAST_READ",
    };
    let div = match header.flash_size_freq & 0x0F {
        0xF => 1,
        0x1 => 3,
        0x2 => 4,
        _ => 2,
    };
    out.push_str(&format!(
        "SPIWP:{:#x}\r\nmode:{mode}, clock div:{div}\r\n",
        header.wp_pin
    ));
    let mut pos = HEADER_LEN as u32;
    let mut checksum = CHECKSUM_SEED;
    let segments = usize::from(header.segment_count);
    for _ in 0..segments {
        let sh = flash.read_vec(pos, 8);
        let addr = u32::from_le_bytes([sh[0], sh[1], sh[2], sh[3]]);
        let len = u32::from_le_bytes([sh[4], sh[5], sh[6], sh[7]]);
        out.push_str(&format!("load:{addr:#010x},len:{len:#x}\r\n"));
        if u64::from(pos) + 8 + u64::from(len) > u64::from(flash.size()) {
            out.push_str("ets_main.c 329\r\n");
            return (out, SpiBootOutcome::Failed);
        }
        checksum = flash
            .read_vec(pos + 8, len as usize)
            .iter()
            .fold(checksum, |c, b| c ^ b);
        pos = pos.saturating_add(8).saturating_add(len);
    }
    // The checksum byte sits at the last byte of the next 16-byte boundary.
    let checksum_at = (pos | 0xF) as usize;
    let stored = flash.read_vec(checksum_at as u32, 1)[0];
    if stored != checksum {
        out.push_str(&format!(
            "Checksum failure. Calculated {checksum:#04x} stored {stored:#04x}\r\nets_main.c 329\r\n"
        ));
        return (out, SpiBootOutcome::Failed);
    }
    if header.hash_appended {
        let image = flash.read_vec(0, checksum_at + 1);
        let calculated = Sha256::digest(&image);
        let expected = flash.read_vec(checksum_at as u32 + 1, 32);
        if calculated.as_slice() != expected.as_slice() {
            out.push_str(&format!(
                "SHA-256 comparison failed:\r\nCalculated: {}\r\nExpected: {}\r\nAttempting to boot anyway...\r\n",
                hex(&calculated),
                hex(&expected)
            ));
        }
    }
    out.push_str(&format!("entry {:#010x}\r\n", header.entry));
    (out, SpiBootOutcome::Jumped(header.entry))
}

/// True when the segment count is one the ROM accepts and every segment header that lies inside
/// the flash names internal RAM (a segment running off the flash end is reported later, after
/// its `load:` line, as the ROM does).
fn segments_loadable(flash: &Flash, header: &BootHeader) -> bool {
    let count = usize::from(header.segment_count);
    if count > MAX_SEGMENTS {
        return false;
    }
    let mut pos = HEADER_LEN as u64;
    for _ in 0..count {
        if pos + 8 > u64::from(flash.size()) {
            return true;
        }
        let sh = flash.read_vec(pos as u32, 8);
        let addr = u32::from_le_bytes([sh[0], sh[1], sh[2], sh[3]]);
        let len = u32::from_le_bytes([sh[4], sh[5], sh[6], sh[7]]);
        if !loadable(addr, len) {
            return false;
        }
        pos += 8 + u64::from(len);
    }
    true
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::test_image::{self, TestHeader};

    #[test]
    fn banners_match_the_real_rom() {
        assert_eq!(
            banner(ResetCause::PowerOn, 0x07, None),
            "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x1 (POWERON),boot:0x7 (UART0_BOOT)\r\n"
        );
        assert_eq!(
            banner(ResetCause::RtcSwSys, 0x00, None),
            "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x3 (RTC_SW_SYS_RST),boot:0x0 (DOWNLOAD(USB/UART0))\r\n"
        );
        // Both as seen in real logs (facts §13; a board stuck after a USB-Serial/JTAG reset).
        assert_eq!(
            banner(ResetCause::Tg0Wdt, 0x08, Some(PC_HEADER_LOOP)),
            "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x7 (TG0WDT_SYS_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x40048836\r\n"
        );
        assert!(
            banner(ResetCause::UsbUartChip, 0x00, Some(PC_ROM_IDLE)).ends_with(
                "rst:0x15 (USB_UART_CHIP_RESET),boot:0x0 (DOWNLOAD(USB/UART0))\r\nSaved PC:0x40041a76\r\n"
            )
        );
        assert_eq!(boot_mode(0x2b).1, BootMode::Spi);
        assert_eq!(boot_mode(0x04).0, "SPI_FLASH_BOOT");
    }

    #[test]
    fn blank_flash_prints_invalid_header() {
        let flash = Flash::new(0x40000).unwrap();
        let (text, outcome) = spi_boot(&flash, 9);
        assert_eq!(text, "");
        assert_eq!(
            outcome,
            SpiBootOutcome::InvalidHeader("invalid header: 0xffffffff\r\n".into())
        );
    }

    #[test]
    fn images_at_the_wrong_offset_are_invalid_headers() {
        // A bootloader at 0x1000 (the ESP32's offset): 0x0 is still erased.
        let mut flash = Flash::new(0x40000).unwrap();
        flash.load(0x1000, &synthetic_image());
        assert_eq!(
            spi_boot(&flash, 9).1,
            SpiBootOutcome::InvalidHeader("invalid header: 0xffffffff\r\n".into())
        );
        // An application (code mapped from flash at 0x42000000) at 0x0.
        let header = TestHeader {
            entry: 0x4037_5000,
            flash_size_freq: 0x2F,
            ..TestHeader::default()
        };
        let app = test_image::image(&header, &[(0x4200_0020, &[0x36, 0x41, 0, 0])]);
        let first = u32::from_le_bytes([app[0], app[1], app[2], app[3]]);
        let (text, outcome) = spi_boot(&flash_with(&app), 9);
        assert_eq!(text, "");
        assert_eq!(
            outcome,
            SpiBootOutcome::InvalidHeader(format!("invalid header: {first:#010x}\r\n"))
        );
        assert!(format!("{first:#010x}").ends_with("e9"), "{first:#x}");
    }

    fn flash_with(image: &[u8]) -> Flash {
        let mut flash = Flash::new(0x40000).unwrap();
        flash.load(0, image);
        flash
    }

    fn synthetic_image() -> Vec<u8> {
        let header = TestHeader {
            entry: 0x403b_6000,
            flash_size_freq: 0x2F,
            ..TestHeader::default()
        };
        test_image::image(
            &header,
            &[
                (0x3fcd_0000, &[1, 2, 3, 4, 5, 6, 7, 8]),
                (0x403b_6000, &[0x36, 0x41, 0, 0]),
            ],
        )
    }

    #[test]
    fn valid_image_loads_and_jumps() {
        let (text, outcome) = spi_boot(&flash_with(&synthetic_image()), 9);
        assert_eq!(
            text,
            "SPIWP:0xee\r\nmode:DIO, clock div:1\r\nload:0x3fcd0000,len:0x8\r\nload:0x403b6000,len:0x4\r\nentry 0x403b6000\r\n"
        );
        assert_eq!(outcome, SpiBootOutcome::Jumped(0x403b_6000));
    }

    #[test]
    fn broken_images_are_refused_as_the_rom_does() {
        let mut bad_data = synthetic_image();
        bad_data[24 + 8] ^= 0xFF;
        let (text, outcome) = spi_boot(&flash_with(&bad_data), 9);
        assert!(text.contains("Checksum failure. Calculated 0x"), "{text}");
        assert_eq!(outcome, SpiBootOutcome::Failed);

        let mut wrong_digest = synthetic_image();
        let last = wrong_digest.len() - 1;
        wrong_digest[last] ^= 1;
        let (text, outcome) = spi_boot(&flash_with(&wrong_digest), 9);
        assert!(text.contains("SHA-256 comparison failed:"), "{text}");
        assert_eq!(outcome, SpiBootOutcome::Jumped(0x403b_6000));

        let (text, outcome) = spi_boot(&flash_with(&synthetic_image()), 5);
        assert!(
            text.starts_with("Invalid chip id. Expected 5 read 9."),
            "{text}"
        );
        assert_eq!(outcome, SpiBootOutcome::Failed);
    }
}
