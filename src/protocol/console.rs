//! Reading the ROM's console text that arrives around a reset, to explain a failed connection:
//! which boot mode the chip reported (`boot:0x8 (SPI_FAST_FLASH_BOOT)`), whether it is
//! `waiting for download`, whether the bytes show a crash (`Guru Meditation Error`,
//! `Fatal exception`), and whether the chip restarted (`rst:0x…`).
//!
//! Plain byte scanning, no regular expressions; text is treated as bytes because noise is not
//! UTF-8. Facts: `esp32s3-facts.md` §3 and §13.

/// What the boot banner says about the boot mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootMode {
    /// The strapping value after `boot:0x`.
    pub value: u32,
    /// True when the banner says the chip is in download mode (`DOWNLOAD(USB/UART0)`,
    /// `waiting for download`, `wait uart0 download`).
    pub waiting_for_download: bool,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Find the last `boot:0x..` in `text` and whether the banner after it says download mode.
pub fn boot_mode(text: &[u8]) -> Option<BootMode> {
    const TAG: &[u8] = b"boot:0x";
    let mut last = None;
    let mut from = 0;
    while let Some(at) = text.get(from..).and_then(|t| find(t, TAG)) {
        let digits_at = from + at + TAG.len();
        let digits: Vec<u8> = text[digits_at..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .take(8)
            .copied()
            .collect();
        if let Some(value) = std::str::from_utf8(&digits)
            .ok()
            .and_then(|d| u32::from_str_radix(d, 16).ok())
        {
            last = Some((digits_at, value));
        }
        from = digits_at;
    }
    let (at, value) = last?;
    // The mode name and the prompt follow within a line or two: `boot:0x0 (DOWNLOAD(USB/UART0))`
    // then `waiting for download`, or with the UART-only strap `boot:0x7 (UART0_BOOT)` then
    // `wait uart0 download` (real ROM, rom-transcripts).
    let window: Vec<u8> = text[at..]
        .iter()
        .take(120)
        .map(u8::to_ascii_lowercase)
        .collect();
    Some(BootMode {
        value,
        waiting_for_download: find(&window, b"download").is_some(),
    })
}

/// The crash line in `text`, if the chip printed one (`Guru Meditation Error: Core 0 panic'ed
/// (LoadProhibited)...` or `Fatal exception (N): ...`), trimmed to that line.
pub fn crash_line(text: &[u8]) -> Option<String> {
    let at = [&b"Guru Meditation Error"[..], b"Fatal exception"]
        .iter()
        .filter_map(|needle| find(text, needle))
        .min()?;
    let line: Vec<u8> = text[at..]
        .iter()
        .take_while(|&&b| b != b'\r' && b != b'\n')
        .take(200)
        .copied()
        .collect();
    Some(String::from_utf8_lossy(&line).trim().to_string())
}

/// The ROM's reset line in `text`, if the chip printed one (`rst:0x10 (RTCWDT_RTC_RST),boot:0x8
/// (SPI_FAST_FLASH_BOOT)`), trimmed to that line: the chip restarted.
pub fn reset_line(text: &[u8]) -> Option<String> {
    // At the start of a line, as the ROM prints it (not inside other text).
    let at = (0..text.len()).find(|&i| {
        text[i..].starts_with(b"rst:0x") && (i == 0 || matches!(text[i - 1], b'\n' | b'\r'))
    })?;
    let line: Vec<u8> = text[at..]
        .iter()
        .take_while(|&&b| b != b'\r' && b != b'\n')
        .take(120)
        .copied()
        .collect();
    Some(String::from_utf8_lossy(&line).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_lines() {
        let text = b"\x00junk\r\nESP-ROM:esp32s3-20210327\r\nrst:0x10 (RTCWDT_RTC_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n";
        assert_eq!(
            reset_line(text).as_deref(),
            Some("rst:0x10 (RTCWDT_RTC_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)")
        );
        assert_eq!(reset_line(b"first:0x"), None);
    }

    #[test]
    fn boot_banners() {
        let check = |text: &[u8], expected: Option<(u32, bool)>| {
            assert_eq!(
                boot_mode(text).map(|b| (b.value, b.waiting_for_download)),
                expected,
                "{}",
                String::from_utf8_lossy(text)
            );
        };
        check(
            b"ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
            Some((0, true)),
        );
        check(
            b"rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nSPIWP:0xee\r\n",
            Some((8, false)),
        );
        check(b"\xff\x00rst:0x7 (TG0WDT_SYS_RST),boot:0x2b (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff", Some((0x2b, false)));
        // The last banner counts: a reset into download mode after an SPI boot.
        check(
            b"boot:0x8 (SPI_FAST_FLASH_BOOT)\r\ninvalid header\r\nboot:0x3 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
            Some((3, true)),
        );
        check(
            b"rst:0x1 (POWERON),boot:0x7 (UART0_BOOT)\r\nwait uart0 download\r\n",
            Some((7, true)),
        );
        check(b"boot:0x", None);
        check(b"hello", None);
    }

    #[test]
    fn crashes_are_found_in_noise() {
        assert_eq!(
            crash_line(b"\x00\xffGuru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.\r\nCore  0 register dump:"),
            Some("Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.".into())
        );
        assert_eq!(
            crash_line(b"Fatal exception (28): LoadProhibited\n"),
            Some("Fatal exception (28): LoadProhibited".into())
        );
        assert_eq!(crash_line(b"waiting for download\r\n"), None);
    }
}
