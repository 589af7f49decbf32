//! Where the monitor's output goes: stdout (timestamps, colours by log level, `--log-level` and
//! `--filter`), the `--log` file (what was shown, plain), hints and the monitor's own notices on
//! stderr. It knows nothing of ports or keys.
//!
//! In a terminal the chip's bytes would best appear as they arrive (prompts, typed echo), but a
//! line can only be coloured or hidden once it is known what it is. So with colours or a filter
//! a line is held until it ends and then shown (coloured, or not at all); a line that stops
//! half-way (a prompt, the echo of what is being typed) is shown as it is once the chip has
//! been quiet for [`QUIET`], and the rest of it follows as it comes. Without colours and filters
//! (`NO_COLOR`) every byte is shown at once, as a plain terminal would. Colour codes the
//! firmware sent itself are left as they are.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cargo_esp32s3::monitor::defmt::DefmtLine;
use cargo_esp32s3::monitor::levels::{self, Level, LineFilter, LogLine};
use cargo_esp32s3::monitor::{Control, strip_ansi};

/// How long the chip must be quiet before a held, unfinished line is shown.
pub const QUIET: Duration = Duration::from_millis(30);

/// Where lines and notes go.
pub struct Output {
    started: Instant,
    timestamps: bool,
    log: Option<std::fs::File>,
    log_path: Option<PathBuf>,
    /// Interactive (a raw terminal): the chip's bytes are shown as they come, each LF as CR LF.
    raw_terminal: bool,
    /// The terminal is given back for a while (a rebuild): it is not raw now.
    suspended: bool,
    colors: bool,
    filter: LineFilter,
    /// Interactive with nothing to colour or hide: bytes go to the screen at once.
    immediate: bool,
    /// The current line's bytes, held until it ends (or the chip goes quiet).
    pending: Vec<u8>,
    /// Part of the current line is on the screen already; the rest follows as it comes.
    partial_shown: bool,
    /// The screen's cursor is at the start of a line.
    at_line_start: bool,
    /// The last line ended with a CR: an LF right after it belongs to that ending.
    after_cr: bool,
    last_received: Instant,
    /// The last line was hidden, so what follows it (decoded addresses) is hidden too.
    hidden: bool,
    /// Writing to stdout failed (its reader is gone).
    stdout_closed: bool,
    /// Writing the log file failed (reported when the monitor ends).
    pub failed: Option<cargo_esp32s3::Error>,
    /// The boot-failure hints shown, in order: repeated when the monitor ends, because a boot
    /// loop scrolls them away long before the user looks.
    hints: Vec<String>,
}

impl Output {
    /// Output for a session: `raw_terminal` when the terminal is raw (interactive); `colors`
    /// when stdout shows them; the `--log` file opened for appending.
    pub fn new(
        timestamps: bool,
        log_path: Option<PathBuf>,
        raw_terminal: bool,
        colors: bool,
        filter: LineFilter,
    ) -> super::super::Result<Output> {
        let log = match &log_path {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| cargo_esp32s3::Error::file("open", path.clone(), e))?,
            ),
            None => None,
        };
        let now = Instant::now();
        Ok(Output {
            started: now,
            timestamps,
            log,
            log_path,
            raw_terminal,
            suspended: false,
            colors,
            immediate: raw_terminal && !colors && filter.is_empty(),
            filter,
            pending: Vec::new(),
            partial_shown: false,
            at_line_start: true,
            after_cr: false,
            last_received: now,
            hidden: false,
            stdout_closed: false,
            failed: None,
            hints: Vec::new(),
        })
    }

    /// The terminal is not raw (`true`) while a rebuild has it, then raw again (`false`).
    pub fn suspend(&mut self, suspended: bool) {
        self.suspended = suspended;
    }

    /// What ends a line of ours on stderr: CR LF in a raw terminal.
    fn line_end(&self) -> &'static str {
        if self.raw_terminal && !self.suspended {
            "\r\n"
        } else {
            "\n"
        }
    }

    fn stamp(&self) -> String {
        if self.timestamps {
            format!("[{:>9.3}] ", self.started.elapsed().as_secs_f64())
        } else {
            String::new()
        }
    }

    /// Bytes from the chip, as they arrived (text only, cut after each line ending).
    pub fn received(&mut self, bytes: &[u8]) {
        if !self.raw_terminal {
            return;
        }
        self.last_received = Instant::now();
        if self.immediate || self.partial_shown {
            self.raw(bytes);
            return;
        }
        let mut bytes = bytes;
        if self.pending.is_empty() && std::mem::take(&mut self.after_cr) {
            bytes = bytes.strip_prefix(b"\n").unwrap_or(bytes);
        }
        self.pending.extend_from_slice(bytes);
    }

    /// The chip has been quiet since the last read: show a held, unfinished line (a prompt).
    pub fn idle(&mut self, now: Instant) {
        if self.pending.is_empty()
            || self.partial_shown
            || now.saturating_duration_since(self.last_received) < QUIET
        {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        self.partial_shown = true;
        self.raw(&pending);
    }

    /// Show bytes as they are, a timestamp before each line's first byte.
    fn raw(&mut self, bytes: &[u8]) {
        let mut shown = Vec::with_capacity(bytes.len());
        for &byte in bytes {
            let ends_line = byte == b'\n' || byte == b'\r';
            if self.at_line_start && !ends_line && self.timestamps {
                shown.extend_from_slice(self.stamp().as_bytes());
            }
            self.at_line_start = ends_line;
            shown.push(byte);
        }
        self.show(&shown);
    }

    /// A complete line from the chip (without its ending).
    pub fn line(&mut self, line: &str) {
        let visible = strip_ansi(line);
        let classified = levels::classify(&visible);
        let keep = self.filter.keeps(classified);
        // One stamp for the screen and the log: taken twice, the two could differ by a
        // millisecond (a flaky test showed it).
        let stamp = self.stamp();
        let stamped = format!("{stamp}{line}");
        if self.raw_terminal && (self.immediate || self.partial_shown) {
            // On the screen already, ending included.
            self.partial_shown = false;
            self.pending.clear();
            self.hidden = false;
            self.log_line(&stamped);
            return;
        }
        if self.raw_terminal {
            self.after_cr = self.pending.last() == Some(&b'\r');
            self.pending.clear();
        }
        self.hidden = !keep;
        if keep {
            let shown = format!(
                "{stamp}{}\n",
                self.colorize(classified.map(|l| l.level), line)
            );
            self.show(shown.as_bytes());
            self.at_line_start = true;
            self.log_line(&stamped);
        }
    }

    /// A decoded defmt frame.
    pub fn defmt(&mut self, line: &DefmtLine) {
        let tag = line.location.as_ref().map(|l| l.module.as_str());
        let classified = line.level.map(|level| LogLine { level, tag });
        self.hidden = !self.filter.keeps(classified);
        if self.hidden {
            return;
        }
        self.start_line();
        let stamp = self.stamp();
        let stamped = format!("{stamp}{}", line.text);
        let shown = format!("{stamp}{}\n", self.colorize(line.level, &line.text));
        self.show(shown.as_bytes());
        self.at_line_start = true;
        self.log_line(&stamped);
    }

    /// A line of our own about the chip's last line (a decoded address): shown and logged,
    /// unless that line was hidden.
    pub fn extra(&mut self, text: &str) {
        if self.hidden {
            return;
        }
        self.start_line();
        self.show(format!("{text}\n").as_bytes());
        self.at_line_start = true;
        self.log_line(text);
    }

    /// A hint on stderr, on a line of its own (and said again when the monitor ends).
    pub fn hint(&mut self, hint: &str) {
        if cargo_esp32s3::monitor::is_boot_hint(hint) && !self.hints.iter().any(|h| h == hint) {
            self.hints.push(hint.to_string());
        }
        self.start_line();
        let end = self.line_end();
        eprint!("{}{end}", console::style(hint).yellow().for_stderr());
    }

    /// The session is over (the terminal is no longer raw): end an unfinished line of the
    /// chip's, so the shell's prompt starts on a fresh line, and say the hints again.
    pub fn end_session(&mut self) {
        self.raw_terminal = false;
        if !self.at_line_start {
            self.show(b"\n");
            self.at_line_start = true;
        }
        for hint in std::mem::take(&mut self.hints) {
            eprintln!("{}", console::style(hint).yellow().for_stderr());
        }
    }

    /// The monitor's own notice (`--- ... ---`) on stderr, on a line of its own.
    pub fn notice(&mut self, text: &str) {
        self.start_line();
        let end = self.line_end();
        eprint!("--- {text} ---{end}");
    }

    /// Lines of our own on stderr (the key help), each on a line of its own.
    pub fn notice_lines(&mut self, lines: &[String]) {
        self.start_line();
        let end = self.line_end();
        for line in lines {
            eprint!("    {line}{end}");
        }
    }

    /// Make sure the screen's cursor is at the start of a line: a shown, unfinished line of
    /// the chip's is ended first.
    fn start_line(&mut self) {
        if !self.at_line_start && self.raw_terminal {
            self.show(b"\n");
            self.at_line_start = true;
        }
    }

    /// `text` in its level's colour, unless colours are off, the level unknown, or the
    /// firmware coloured it itself.
    fn colorize(&self, level: Option<Level>, text: &str) -> String {
        let Some(level) = level.filter(|_| self.colors && !text.contains('\u{1b}')) else {
            return text.to_string();
        };
        let style = console::Style::new().force_styling(true);
        let style = match level {
            Level::Error => style.red(),
            Level::Warn => style.yellow(),
            Level::Info => style.green(),
            Level::Debug => style.cyan(),
            Level::Trace => style.dim(),
        };
        style.apply_to(text).to_string()
    }

    /// Write to stdout; a reader that went away (`| head`) ends the monitor.
    fn show(&mut self, bytes: &[u8]) {
        let crlf;
        let bytes = if self.raw_terminal && !self.suspended {
            crlf = translate_newlines(bytes, b'\n', b"\r\n");
            &crlf
        } else {
            bytes
        };
        let mut out = std::io::stdout().lock();
        if out.write_all(bytes).and_then(|()| out.flush()).is_err() {
            self.stdout_closed = true;
        }
    }

    /// What the watch should do after an event.
    pub fn control(&self) -> Control {
        if self.stdout_closed {
            Control::Stop
        } else {
            Control::Continue
        }
    }

    fn log_line(&mut self, text: &str) {
        if let (Some(file), Some(path)) = (&mut self.log, &self.log_path) {
            if let Err(e) = writeln!(file, "{text}") {
                if self.failed.is_none() {
                    self.failed = Some(cargo_esp32s3::Error::file("write", path.clone(), e));
                }
                self.log = None;
            }
        }
    }
}

/// Replace each `newline` byte by `eol` (a lone LF in a raw terminal, a bare CR that was
/// already there stays).
pub fn translate_newlines(bytes: &[u8], newline: u8, eol: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &byte in bytes {
        if byte == newline {
            out.extend_from_slice(eol);
        } else {
            out.push(byte);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_become_eol() {
        assert_eq!(translate_newlines(b"help()\n", b'\n', b"\r"), b"help()\r");
        assert_eq!(translate_newlines(b"a\nb\n", b'\n', b"\r\n"), b"a\r\nb\r\n");
        assert_eq!(translate_newlines(b"\x03", b'\n', b"\r"), b"\x03");
    }

    #[test]
    fn lines_are_coloured_by_level_unless_coloured_already() {
        let output = Output::new(false, None, false, true, LineFilter::default()).expect("output");
        assert_eq!(
            output.colorize(Some(Level::Error), "E (1) a: b"),
            "\u{1b}[31mE (1) a: b\u{1b}[0m"
        );
        assert_eq!(
            output.colorize(Some(Level::Warn), "WARN - x"),
            "\u{1b}[33mWARN - x\u{1b}[0m"
        );
        let sent = "\u{1b}[0;32mI (5) app: ready\u{1b}[0m";
        assert_eq!(output.colorize(Some(Level::Info), sent), sent);
        assert_eq!(output.colorize(None, "plain"), "plain");
        let plain = Output::new(false, None, false, false, LineFilter::default()).expect("output");
        assert_eq!(
            plain.colorize(Some(Level::Error), "E (1) a: b"),
            "E (1) a: b"
        );
    }
}
