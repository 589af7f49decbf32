//! Log levels and tags in the lines firmware prints, and the filter `--log-level` / `--filter`
//! make of them. Recognised:
//!
//! - ESP-IDF's log lines, `E (123) tag: text` with `E`, `W`, `I`, `D` or `V`, the stamp in
//!   milliseconds or as system time (`I (12:34:56.789) wifi: ...`); esp-idf-svc's logger writes
//!   the same, with the Rust module path as the tag (`I (312) my_app::net: up`);
//! - the `log` crate's records as esp-println prints them, `ERROR - text` and
//!   `WARN (1234) - text` (no tag: esp-println does not print the module), and the bracketed
//!   `[INFO ] text` / `[ERROR] text` many loggers use;
//! - defmt's levels, which the defmt decoder hands over as values ([`Level`]).
//!
//! Classification works on the visible text (colour codes removed by the caller, see
//! [`super::strip_ansi`]). Pure: no I/O, no terminal, no colours; the command line decides how a
//! level looks.

use std::fmt;

/// How severe a log line is. Ordered from the least to the most severe, so
/// `level >= Level::Warn` keeps warnings and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// ESP-IDF's `V` (verbose), `log`'s and defmt's `TRACE`.
    Trace,
    /// `D`, `DEBUG`.
    Debug,
    /// `I`, `INFO`.
    Info,
    /// `W`, `WARN`.
    Warn,
    /// `E`, `ERROR`.
    Error,
}

impl Level {
    /// Every level, least severe first.
    pub const ALL: [Level; 5] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
    ];

    /// The accepted spellings, for messages.
    pub const ACCEPTED: &'static str =
        "error, warn, info, debug or trace (verbose and the letters E, W, I, D, V also work)";

    /// The level a user names: `error`, `warn` (`warning`), `info`, `debug`, `trace`
    /// (`verbose`), or ESP-IDF's letters `E`, `W`, `I`, `D`, `V`; case-insensitive.
    pub fn parse(text: &str) -> Option<Level> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" | "e" => Some(Level::Error),
            "warn" | "warning" | "w" => Some(Level::Warn),
            "info" | "i" => Some(Level::Info),
            "debug" | "d" => Some(Level::Debug),
            "trace" | "verbose" | "v" => Some(Level::Trace),
            _ => None,
        }
    }

    /// The name as the `log` crate prints it: `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    /// ESP-IDF's letter for the level.
    fn from_idf_letter(letter: char) -> Option<Level> {
        match letter {
            'E' => Some(Level::Error),
            'W' => Some(Level::Warn),
            'I' => Some(Level::Info),
            'D' => Some(Level::Debug),
            'V' => Some(Level::Trace),
            _ => None,
        }
    }

    fn from_name(name: &str) -> Option<Level> {
        match name {
            "ERROR" => Some(Level::Error),
            "WARN" => Some(Level::Warn),
            "INFO" => Some(Level::Info),
            "DEBUG" => Some(Level::Debug),
            "TRACE" => Some(Level::Trace),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a log line says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// Its level.
    pub level: Level,
    /// Its tag (ESP-IDF) or module path (esp-idf-svc, defmt), when the line names one.
    pub tag: Option<&'a str>,
}

/// The level and tag of a log line, or `None` for a line that is not one (the ROM's banner, a
/// panic, a plain `println!`). `line` is the visible text (colour codes removed).
pub fn classify(line: &str) -> Option<LogLine<'_>> {
    idf_line(line)
        .or_else(|| log_crate_line(line))
        .or_else(|| bracketed_line(line))
}

/// `E (123) tag: text`, `I (12:34:56.789) tag: text`.
fn idf_line(line: &str) -> Option<LogLine<'_>> {
    let mut chars = line.chars();
    let level = Level::from_idf_letter(chars.next()?)?;
    let rest = line.get(1..)?.strip_prefix(" (")?;
    let close = rest.find(") ")?;
    let stamp = rest.get(..close)?;
    if stamp.is_empty()
        || !stamp
            .chars()
            .all(|c| c.is_ascii_digit() || c == ':' || c == '.')
    {
        return None;
    }
    let after = rest.get(close + 2..)?;
    let end = after
        .find(": ")
        .or_else(|| after.strip_suffix(':').map(str::len))?;
    let tag = after.get(..end)?;
    if tag.is_empty() || tag.starts_with(' ') {
        return None;
    }
    Some(LogLine {
        level,
        tag: Some(tag),
    })
}

/// `ERROR - text`, `WARN (1234) - text` (esp-println's `log` output).
fn log_crate_line(line: &str) -> Option<LogLine<'_>> {
    let name_end = line.find(' ')?;
    let level = Level::from_name(line.get(..name_end)?)?;
    let mut rest = line.get(name_end + 1..)?;
    if let Some(stamped) = rest.strip_prefix('(') {
        let close = stamped.find(") ")?;
        if !stamped.get(..close)?.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        rest = stamped.get(close + 2..)?;
    }
    (rest.starts_with("- ") || rest == "-").then_some(LogLine { level, tag: None })
}

/// `[INFO ] text`, `[ERROR] text`.
fn bracketed_line(line: &str) -> Option<LogLine<'_>> {
    let inner = line.strip_prefix('[')?;
    let close = inner.find(']')?;
    let level = Level::from_name(inner.get(..close)?.trim_end())?;
    Some(LogLine { level, tag: None })
}

/// Which lines to show: `--log-level` and `--filter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineFilter {
    /// Hide log lines less severe than this.
    pub min_level: Option<Level>,
    /// Keep only log lines with one of these tags (or a module path below one of them, so
    /// `my_app` keeps `my_app::net`); empty keeps every tag.
    pub tags: Vec<String>,
}

impl LineFilter {
    /// True when the filter hides nothing.
    pub fn is_empty(&self) -> bool {
        self.min_level.is_none() && self.tags.is_empty()
    }

    /// Whether a line with this level and tag is shown. Lines that are no log line (`None`:
    /// the ROM's and the bootloader's text, panics, prompts) are always shown, and so are log
    /// lines without a tag under `--filter` (esp-println's `log` lines name no module): hiding
    /// what cannot be told apart would hide panics and boot failures.
    pub fn keeps(&self, line: Option<LogLine<'_>>) -> bool {
        let Some(line) = line else {
            return true;
        };
        if self.min_level.is_some_and(|min| line.level < min) {
            return false;
        }
        match line.tag {
            Some(tag) if !self.tags.is_empty() => self.tags.iter().any(|wanted| {
                tag == wanted
                    || tag
                        .strip_prefix(wanted.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            }),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: Option<(Level, Option<&str>)>) {
        let got = classify(line).map(|l| (l.level, l.tag));
        assert_eq!(got, expected, "{line:?}");
    }

    #[test]
    fn esp_idf_lines() {
        check(
            "E (123) wifi: connect failed",
            Some((Level::Error, Some("wifi"))),
        );
        check("W (5) boot: x", Some((Level::Warn, Some("boot"))));
        check(
            "I (312) main: ready: 1.2.3.4",
            Some((Level::Info, Some("main"))),
        );
        check(
            "D (1) spi_flash: a",
            Some((Level::Debug, Some("spi_flash"))),
        );
        check("V (9) tcp: a", Some((Level::Trace, Some("tcp"))));
        check("I (12:34:56.789) app: a", Some((Level::Info, Some("app"))));
        check(
            "I (312) my_app::net: up",
            Some((Level::Info, Some("my_app::net"))),
        );
        check("I (29) boot:", Some((Level::Info, Some("boot"))));
        // Not log lines.
        check("I think: yes", None);
        check("X (12) tag: x", None);
        check("E (abc) tag: x", None);
        check("E (12) no colon", None);
        check("rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)", None);
        check("ESP-ROM:esp32s3-20210327", None);
        check("", None);
    }

    #[test]
    fn log_crate_lines() {
        check("ERROR - disk full", Some((Level::Error, None)));
        check("WARN - low", Some((Level::Warn, None)));
        check("INFO (1234) - hello", Some((Level::Info, None)));
        check("DEBUG - x", Some((Level::Debug, None)));
        check("TRACE - x", Some((Level::Trace, None)));
        check("[INFO ] hello", Some((Level::Info, None)));
        check("[ERROR] oops", Some((Level::Error, None)));
        check("INFO: hello", None);
        check("INFORMATION - x", None);
        check("INFO (abc) - x", None);
        check("[NOTE] x", None);
    }

    #[test]
    fn level_names() {
        for (text, level) in [
            ("error", Level::Error),
            ("WARN", Level::Warn),
            ("warning", Level::Warn),
            ("Info", Level::Info),
            ("d", Level::Debug),
            ("verbose", Level::Trace),
            ("V", Level::Trace),
        ] {
            assert_eq!(Level::parse(text), Some(level), "{text}");
        }
        assert_eq!(Level::parse("loud"), None);
        assert!(Level::Error > Level::Warn && Level::Debug > Level::Trace);
        assert_eq!(Level::Warn.to_string(), "WARN");
    }

    #[test]
    fn filter_by_level_and_tag() {
        let line = |level, tag| Some(LogLine { level, tag });
        let warn = LineFilter {
            min_level: Some(Level::Warn),
            tags: Vec::new(),
        };
        assert!(warn.keeps(line(Level::Error, Some("a"))));
        assert!(warn.keeps(line(Level::Warn, None)));
        assert!(!warn.keeps(line(Level::Info, Some("a"))));
        assert!(!warn.keeps(line(Level::Trace, None)));
        assert!(warn.keeps(None), "non-log lines stay");

        let app = LineFilter {
            min_level: None,
            tags: vec!["my_app".into(), "wifi".into()],
        };
        assert!(app.keeps(line(Level::Debug, Some("my_app"))));
        assert!(app.keeps(line(Level::Debug, Some("my_app::net"))));
        assert!(app.keeps(line(Level::Info, Some("wifi"))));
        assert!(!app.keeps(line(Level::Info, Some("my_app2"))));
        assert!(!app.keeps(line(Level::Info, Some("boot"))));
        assert!(app.keeps(line(Level::Info, None)), "no tag to tell");
        assert!(app.keeps(None));
        assert!(LineFilter::default().is_empty() && !app.is_empty());
    }
}
