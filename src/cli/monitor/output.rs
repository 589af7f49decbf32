//! Where the monitor's output goes: stdout (CR LF in a raw terminal, timestamps), the `--log`
//! file, hints on stderr. It knows nothing of ports or keys.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use cargo_esp32s3::monitor::Control;

/// Where lines and notes go, with optional timestamps and log file.
pub struct Output {
    pub started: Instant,
    pub timestamps: bool,
    pub log: Option<std::fs::File>,
    pub log_path: Option<PathBuf>,
    pub interactive: bool,
    /// The next byte shown starts a line (for timestamps in the raw byte stream).
    pub at_line_start: bool,
    /// Writing to stdout failed (its reader is gone).
    pub stdout_closed: bool,
    /// The terminal is raw: each LF shown goes out as CR LF, as the terminal itself did before.
    pub crlf: bool,
    pub failed: Option<cargo_esp32s3::Error>,
}

impl Output {
    fn stamp(&self) -> String {
        if self.timestamps {
            format!("[{:>9.3}] ", self.started.elapsed().as_secs_f64())
        } else {
            String::new()
        }
    }

    /// Show raw bytes as they arrive (interactive), a timestamp before each line's first byte.
    pub fn raw(&mut self, bytes: &[u8]) {
        let mut shown = Vec::with_capacity(bytes.len());
        if !self.timestamps {
            shown.extend_from_slice(bytes);
        } else {
            for &byte in bytes {
                let ends_line = byte == b'\n' || byte == b'\r';
                if self.at_line_start && !ends_line {
                    shown.extend_from_slice(self.stamp().as_bytes());
                }
                self.at_line_start = ends_line;
                shown.push(byte);
            }
        }
        self.show(&shown);
    }

    pub fn line(&mut self, line: &str) {
        let stamped = format!("{}{line}", self.stamp());
        if !self.interactive {
            self.show(format!("{stamped}\n").as_bytes());
        }
        self.log_line(&stamped);
    }

    /// A line of our own (decoded address), shown and logged.
    pub fn extra(&mut self, text: &str) {
        self.show(format!("{text}\n").as_bytes());
        self.log_line(text);
    }

    /// Write to stdout; a reader that went away (`| head`) ends the monitor.
    fn show(&mut self, bytes: &[u8]) {
        let crlf;
        let bytes = if self.crlf {
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

/// Print a hint on stderr; `raw`: the terminal is raw, so the line ends with CR LF.
pub fn show_hint(hint: &str, raw: bool) {
    let end = if raw { "\r\n" } else { "\n" };
    eprint!("{}{end}", console::style(hint).yellow().for_stderr());
}

/// Replace each `newline` byte by `eol`.
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
}
