//! The scripted UART console of the app the virtual chip runs after the second stage
//! ([`super::second_stage`]) started it.
//!
//! The simulator does not execute app code, so this is a small script, honest about its limits:
//! - a MicroPython image (told apart by the banner text inside it) gets MicroPython's REPL as
//!   far as it needs no Python: the banner and `>>> ` prompt at start, line editing with echo,
//!   `help()` answered with the welcome text taken from the image itself, Ctrl-C (abandon the
//!   line), Ctrl-B and Ctrl-D on an empty line (banner again; Ctrl-D after `MPY: soft reboot`).
//!   Any other line is not run: the console says so in one line marked as the virtual chip's
//!   and prompts again;
//! - every other app, and a program the ROM loader started from RAM, echoes what it receives,
//!   with the same line editing, and prints nothing of its own (what it would print is not
//!   known, so nothing is invented).
//!
//! Line editing: CR or LF ends a line (CR LF counts once), backspace (0x08 or 0x7F) removes the
//! last character and erases it on the terminal with `\b \b`.
//!
//! Pure: bytes in, bytes out; no I/O, no clocks, knows nothing of how bytes reach the chip.

use super::second_stage::{AppInfo, AppKind, MicroPython};

/// What MicroPython's REPL prints for a line the virtual chip cannot run.
pub const NOT_EXECUTED: &str =
    "[virtual chip: Python is not executed here; only help() is scripted]";

/// The console of the running app.
#[derive(Debug, Clone)]
pub struct AppConsole {
    repl: Option<MicroPython>,
    line: Vec<u8>,
    /// The previous byte was a CR, so an LF right after it does not end another line.
    after_cr: bool,
}

const CTRL_B: u8 = 0x02;
const CTRL_C: u8 = 0x03;
const CTRL_D: u8 = 0x04;
const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7F;
const PROMPT: &str = ">>> ";

impl AppConsole {
    /// The console of `app` and what it prints when it starts (MicroPython's banner and
    /// prompt; nothing for other apps).
    pub fn start(app: &AppInfo) -> (AppConsole, String) {
        let repl = match &app.kind {
            AppKind::MicroPython(mp) => Some(mp.clone()),
            AppKind::EspIdf | AppKind::Other => None,
        };
        let console = AppConsole {
            repl,
            line: Vec::new(),
            after_cr: false,
        };
        let first = console.banner();
        (console, first)
    }

    /// The console of a program the ROM loader started from RAM (MEM_END): it echoes, as an app
    /// that is not MicroPython does, and prints nothing of its own (the simulator does not run
    /// the code, so what it would print is not known).
    pub fn echo() -> AppConsole {
        AppConsole {
            repl: None,
            line: Vec::new(),
            after_cr: false,
        }
    }

    /// Whether this console is MicroPython's REPL.
    pub fn is_micropython(&self) -> bool {
        self.repl.is_some()
    }

    /// Feed received bytes; returns what the app sends back.
    pub fn input(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &byte in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            match byte {
                b'\n' if after_cr => {}
                b'\r' | b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    let line = std::mem::take(&mut self.line);
                    out.extend_from_slice(self.answer(&line).as_bytes());
                }
                BACKSPACE | DELETE => {
                    if self.line.pop().is_some() {
                        out.extend_from_slice(b"\x08 \x08");
                    }
                }
                CTRL_C if self.repl.is_some() => {
                    self.line.clear();
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(PROMPT.as_bytes());
                }
                CTRL_B | CTRL_D if self.repl.is_some() && self.line.is_empty() => {
                    out.extend_from_slice(b"\r\n");
                    if byte == CTRL_D {
                        out.extend_from_slice(b"MPY: soft reboot\r\n");
                    }
                    out.extend_from_slice(self.banner().as_bytes());
                }
                0x20..=0x7E => {
                    self.line.push(byte);
                    out.push(byte);
                }
                // Other control bytes (escape sequences, raw-REPL Ctrl-A, Ctrl-E paste mode) are
                // not scripted; an echo console passes them through, the REPL ignores them.
                _ => {
                    if self.repl.is_none() {
                        out.push(byte);
                    }
                }
            }
        }
        out
    }

    /// MicroPython's banner, hint and prompt; empty for other apps.
    fn banner(&self) -> String {
        let Some(mp) = &self.repl else {
            return String::new();
        };
        let mut text = format!("{}\r\n", mp.banner);
        if let Some(hint) = &mp.hint {
            text.push_str(hint);
            text.push_str("\r\n");
        }
        text.push_str(PROMPT);
        text
    }

    /// What follows a finished line (after its CR LF echo).
    fn answer(&self, line: &[u8]) -> String {
        let Some(mp) = &self.repl else {
            return String::new();
        };
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        let mut text = String::new();
        if line.is_empty() {
            // An empty line just prompts again.
        } else if line == "help()" {
            match &mp.help {
                // MicroPython's output turns LF into CR LF on the terminal.
                Some(help) => text.push_str(&help.replace('\n', "\r\n")),
                None => {
                    text.push_str(NOT_EXECUTED);
                    text.push_str("\r\n");
                }
            }
        } else {
            text.push_str(NOT_EXECUTED);
            text.push_str("\r\n");
        }
        text.push_str(PROMPT);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(kind: AppKind) -> AppInfo {
        AppInfo {
            partition_offset: 0x10000,
            entry: 0x4037_5378,
            has_descriptor: true,
            project: String::new(),
            version: String::new(),
            idf_version: "v5.4.2".into(),
            compile_date: String::new(),
            compile_time: String::new(),
            elf_sha256: [0; 32],
            kind,
        }
    }

    fn micropython() -> AppInfo {
        app(AppKind::MicroPython(MicroPython {
            banner: "MicroPython v1.26.1 on 2025-09-11; Generic ESP32S3 module with ESP32S3".into(),
            hint: Some("Type \"help()\" for more information.".into()),
            help: Some("Welcome to MicroPython on the ESP32!\n\nFor online docs\n".into()),
        }))
    }

    const BANNER: &str = "MicroPython v1.26.1 on 2025-09-11; Generic ESP32S3 module with ESP32S3\r\nType \"help()\" for more information.\r\n>>> ";

    /// Feed `input` in one piece and byte by byte; both must give `want`.
    fn check(info: &AppInfo, input: &[u8], want: &str) {
        let (mut whole, _) = AppConsole::start(info);
        assert_eq!(
            String::from_utf8_lossy(&whole.input(input)),
            want,
            "input {input:?} in one piece"
        );
        let (mut split, _) = AppConsole::start(info);
        let got: Vec<u8> = input.iter().flat_map(|b| split.input(&[*b])).collect();
        assert_eq!(
            String::from_utf8_lossy(&got),
            want,
            "input {input:?} byte by byte"
        );
    }

    #[test]
    fn micropython_starts_with_its_banner_and_prompt() {
        let (console, first) = AppConsole::start(&micropython());
        assert!(console.is_micropython());
        assert_eq!(first, BANNER);
    }

    #[test]
    fn micropython_repl_is_scripted() {
        let mp = micropython();
        let help = "help()\r\nWelcome to MicroPython on the ESP32!\r\n\r\nFor online docs\r\n>>> ";
        let not_run = format!("x = 1\r\n{NOT_EXECUTED}\r\n>>> ");
        for (input, want) in [
            (&b"help()\r"[..], help.to_owned()),
            (b"help()\n", help.to_owned()),
            (b"help()\r\n", help.to_owned()),
            (
                b"  help()  \r",
                help.replace("help()\r\n", "  help()  \r\n"),
            ),
            (b"helq\x08p()\r", help.replace("help()", "helq\x08 \x08p()")),
            (b"\x08\x7f", String::new()),
            (b"\r", "\r\n>>> ".to_owned()),
            (b"\r\n\r\n", "\r\n>>> \r\n>>> ".to_owned()),
            (b"x = 1\r", not_run),
            (b"abc\x03", "abc\r\n>>> ".to_owned()),
            (b"\x04", format!("\r\nMPY: soft reboot\r\n{BANNER}")),
            (b"\x02", format!("\r\n{BANNER}")),
            (b"a\x04", "a".to_owned()),
            (b"\x1b", String::new()),
        ] {
            check(&mp, input, &want);
        }
    }

    #[test]
    fn other_apps_only_echo() {
        for kind in [AppKind::EspIdf, AppKind::Other] {
            let info = app(kind);
            let (console, first) = AppConsole::start(&info);
            assert!(!console.is_micropython());
            assert_eq!(first, "");
            for (input, want) in [
                (&b"help()\r"[..], "help()\r\n"),
                (b"ab\r\ncd\n", "ab\r\ncd\r\n"),
                (b"ab\x7fc\r", "ab\x08 \x08c\r\n"),
                (b"\x03\x04", "\x03\x04"),
            ] {
                check(&info, input, want);
            }
        }
    }

    #[test]
    fn a_micropython_image_without_help_text_says_it_is_not_scripted() {
        let info = app(AppKind::MicroPython(MicroPython {
            banner: "MicroPython v1.0 on 2020-01-01; Board with ESP32S3".into(),
            hint: None,
            help: None,
        }));
        let (mut console, first) = AppConsole::start(&info);
        assert_eq!(
            first,
            "MicroPython v1.0 on 2020-01-01; Board with ESP32S3\r\n>>> "
        );
        assert_eq!(
            String::from_utf8_lossy(&console.input(b"help()\r")),
            format!("help()\r\n{NOT_EXECUTED}\r\n>>> ")
        );
    }
}
