//! Numbers and byte counts as people type and read them: the one parser for offsets and sizes
//! (command-line flags, configuration values, partition table CSV, `sim://` options) and the one formatter for sizes
//! in messages, so that `0x10000`, `64K` and `65536` mean the same everywhere and every message
//! says "64 KiB" the same way. Also the one formatter of UTC dates and times (kept bootloaders,
//! protocol traces), so no date crate is needed.
//!
//! Pure text in, values out: no I/O (the caller reads the clock), and nothing about flash, images
//! or the command line.

/// Parse an offset or size as typed: decimal or `0x` hexadecimal, `_` separators allowed (as in
/// Rust and TOML literals), with an optional `K` (×1024) or `M` (×1024×1024) suffix in either
/// case. `None` when the text is not such a number or the value does not fit in 32 bits.
pub fn parse_number(text: &str) -> Option<u32> {
    let text = text.trim().replace('_', "");
    let (digits, multiplier) = match text.chars().last()? {
        // The suffixes are ASCII, so cutting one byte off stays on a character boundary.
        'k' | 'K' => (text.get(..text.len() - 1)?, 1024u64),
        'm' | 'M' => (text.get(..text.len() - 1)?, 1024 * 1024),
        _ => (text.as_str(), 1),
    };
    let digits = digits.trim();
    let value = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<u64>().ok()?,
    };
    u32::try_from(value.checked_mul(multiplier)?).ok()
}

/// Parse a size as typed for a flash chip or a buffer: whatever [`parse_number`] reads, and the
/// same with its suffix spelled as a unit, `KB`/`KiB` or `MB`/`MiB` in any case (`8MB`, `16MiB`,
/// `256KB`, `4M`, `0x800000`); every `K` is 1024 and every `M` 1024×1024, as flash sizes are
/// counted. As a `u64`, the type [`human_size`] takes. `None` as for [`parse_number`].
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let upper = text.to_ascii_uppercase();
    let number = match ["KIB", "MIB", "KB", "MB"]
        .iter()
        .find(|unit| upper.ends_with(*unit))
    {
        // Keep the `K` or `M` for parse_number; the units are ASCII, so the cut is a boundary.
        Some(unit) => text.get(..text.len() - unit.len() + 1)?,
        None => text,
    };
    parse_number(number).map(u64::from)
}

/// A byte count as people read it: `999 bytes`, `64 KiB`, `1.5 KiB`, `4 MiB`, `1.5 MiB`.
///
/// Exact multiples are shown as whole numbers, anything else with one decimal, so a size in an
/// error message is never rounded to a value that would have been accepted.
pub fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    // A KiB count that one decimal would round up to 1024.0 reads better as 1.0 MiB.
    let (unit, name) = match bytes {
        b if b >= MIB || b * 10 + KIB / 2 >= 10 * MIB => (MIB, "MiB"),
        b if b >= KIB => (KIB, "KiB"),
        _ => return format!("{bytes} bytes"),
    };
    if bytes % unit == 0 {
        format!("{} {name}", bytes / unit)
    } else {
        format!("{:.1} {name}", bytes as f64 / unit as f64)
    }
}

/// A UTC date and time as `2025-09-11 14:03:27` from seconds since the Unix epoch (the
/// proleptic Gregorian calendar, as `date -u` prints it).
pub fn utc_date_time(unix_secs: u64) -> String {
    let (year, month, day) = civil_from_days(unix_secs / 86_400);
    let secs = unix_secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The UTC date `2025-09-11` from seconds since the Unix epoch.
pub fn utc_date(unix_secs: u64) -> String {
    let (year, month, day) = civil_from_days(unix_secs / 86_400);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Year, month and day of the `days`-th day after 1970-01-01 (Howard Hinnant's algorithm for
/// days since the epoch in the proleptic Gregorian calendar, on unsigned numbers).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so that leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_date_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc_date_time(1_757_599_407), "2025-09-11 14:03:27");
        assert_eq!(utc_date(4_107_542_400), "2100-03-01");
    }

    #[test]
    fn numbers_parse() {
        for (text, expected) in [
            ("4096", Some(4096)),
            ("16", Some(16)),
            ("0x1000", Some(0x1000)),
            ("0X10_000", Some(0x10000)),
            (" 0x9000 ", Some(0x9000)),
            ("4K", Some(4096)),
            ("4k", Some(4096)),
            ("0x10k", Some(0x4000)),
            ("1M", Some(0x10_0000)),
            ("2m", Some(0x20_0000)),
            ("4095M", Some(4095 << 20)),
            ("4096M", None),
            ("5000M", None),
            ("0x4000000000", None),
            ("0xFFFFFFFF", Some(u32::MAX)),
            ("", None),
            ("k", None),
            ("M", None),
            ("0x", None),
            ("ten", None),
            ("-1", None),
            ("1.5M", None),
            ("é", None),
        ] {
            assert_eq!(parse_number(text), expected, "{text:?}");
        }
    }

    #[test]
    fn sizes_parse() {
        for (text, want) in [
            ("8MB", Some(8 << 20)),
            ("16M", Some(16 << 20)),
            ("4MiB", Some(4 << 20)),
            ("4mib", Some(4 << 20)),
            ("256KB", Some(256 << 10)),
            ("256kib", Some(256 << 10)),
            ("0x800000", Some(8 << 20)),
            ("0X800000", Some(8 << 20)),
            ("1048576", Some(1 << 20)),
            (" 8 MB ", Some(8 << 20)),
            ("0xFB", Some(0xFB)),
            ("8B", None),
            ("MB", None),
            ("8192MB", None),
            ("lots", None),
        ] {
            assert_eq!(parse_size(text), want, "{text}");
        }
    }

    const MIB_MINUS_ONE: u64 = (1 << 20) - 1;

    #[test]
    fn sizes_read_well() {
        for (bytes, expected) in [
            (0, "0 bytes"),
            (1023, "1023 bytes"),
            (1024, "1 KiB"),
            (1536, "1.5 KiB"),
            (831_488, "812 KiB"),
            (0x6000, "24 KiB"),
            (3 * 1024 * 1024, "3 MiB"),
            (1024 * 1024 + 512 * 1024, "1.5 MiB"),
            (32 << 20, "32 MiB"),
            (MIB_MINUS_ONE, "1.0 MiB"),
            (1023 * 1024 + 1, "1023.0 KiB"),
        ] {
            assert_eq!(human_size(bytes), expected, "{bytes}");
        }
    }
}
