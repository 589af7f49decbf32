//! What the monitor's keys mean: the bytes a key sends to the chip (as a VT100-style terminal
//! sends them), and the monitor's own keys: the exit key (Ctrl+] unless `monitor-exit-key` or
//! `--exit-key` say otherwise; Ctrl+C too with `--ctrl-c-exits`), Ctrl+R (reset) and the menu
//! key Ctrl+T, after which F rebuilds and flashes, H shows the keys, X exits and Ctrl+T sends
//! itself to the chip. No terminal handling here (that is `terminal.rs`) and nothing of the chip.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use cargo_esp32s3::config::ControlKey;

use super::Eol;

/// The key that resets the chip (Ctrl+R).
pub const RESET_KEY: u8 = 0x12;
/// The menu key (Ctrl+T): the next key is a command for the monitor.
pub const MENU_KEY: u8 = 0x14;
/// Ctrl+C.
const CTRL_C: u8 = 0x03;

/// The keys, as `monitor --help` lists them (with the default exit key).
pub const KEYS_HELP_TEXT: &str = "Keys (interactive):
  Ctrl+]          exit (another key: monitor-exit-key in [package.metadata.esp32s3], or --exit-key)
  Ctrl+R          reset the chip
  Ctrl+T F        rebuild with the same cargo arguments, flash what changed, reset, go on watching
  Ctrl+T H        show the keys
  Ctrl+T X        exit
  Ctrl+T Ctrl+T   send Ctrl+T to the chip
  Ctrl+C          goes to the chip (with --ctrl-c-exits: exit)
  every other key goes to the chip, Enter as --eol";

/// The monitor's own keys for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMap {
    /// The key that exits.
    pub exit: ControlKey,
    /// Ctrl+C exits too (`--ctrl-c-exits`) instead of going to the chip.
    pub ctrl_c_exits: bool,
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap {
            exit: ControlKey::DEFAULT_EXIT,
            ctrl_c_exits: false,
        }
    }
}

impl KeyMap {
    /// Refuse an exit key the monitor already uses for something else.
    pub fn check(&self) -> Result<(), String> {
        let taken = match self.exit.byte() {
            RESET_KEY => Some("resets the chip"),
            MENU_KEY => Some("starts the monitor's key commands (Ctrl+T F, Ctrl+T H)"),
            _ => None,
        };
        match taken {
            Some(what) => Err(format!(
                "the exit key {} already {what} in the monitor; choose another, such as ctrl+] (the default), ctrl+x or ctrl+q",
                self.exit
            )),
            None => Ok(()),
        }
    }

    /// The keys in one line, for the monitor's first line.
    pub fn summary(&self) -> String {
        let others = if self.ctrl_c_exits {
            "every other key goes to the chip"
        } else {
            "every other key (Ctrl+C included) goes to the chip"
        };
        let exit = if self.ctrl_c_exits && self.exit.byte() != CTRL_C {
            format!("{} or Ctrl+C exits", self.exit)
        } else {
            format!("{} exits", self.exit)
        };
        format!("Ctrl+R resets the chip, {exit}; {others}; Ctrl+T H shows all keys")
    }

    /// The keys, one per line, for Ctrl+T H.
    pub fn help(&self) -> Vec<String> {
        let ctrl_c = if self.ctrl_c_exits {
            "exit"
        } else {
            "goes to the chip"
        };
        vec![
            format!("{:<15} exit", self.exit.to_string()),
            format!("{:<15} reset the chip", "Ctrl+R"),
            format!(
                "{:<15} rebuild with the same cargo arguments, flash what changed, reset, go on watching",
                "Ctrl+T F"
            ),
            format!("{:<15} show the keys", "Ctrl+T H"),
            format!("{:<15} exit", "Ctrl+T X"),
            format!("{:<15} send Ctrl+T to the chip", "Ctrl+T Ctrl+T"),
            format!("{:<15} {ctrl_c}", "Ctrl+C"),
            "every other key goes to the chip".to_string(),
        ]
    }
}

/// What a key press asks of the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes to the chip.
    Send(Vec<u8>),
    /// End the monitor.
    Exit,
    /// Reset the chip.
    Reset,
    /// Rebuild, flash what changed, reset.
    Rebuild,
    /// Show the keys.
    Help,
    /// Nothing (the menu key, waiting for its command; a key that sends nothing).
    Nothing,
    /// A key after the menu key that is no command.
    UnknownCommand,
}

/// Keys in, actions out: the menu key's state between two presses.
#[derive(Debug, Clone, Default)]
pub struct KeyState {
    map: KeyMap,
    menu: bool,
}

impl KeyState {
    /// No key pressed yet.
    pub fn new(map: KeyMap) -> Self {
        KeyState { map, menu: false }
    }

    /// What the key that sends `bytes` (see [`key_bytes`]) asks for.
    pub fn action(&mut self, bytes: Vec<u8>) -> Action {
        if bytes.is_empty() {
            return Action::Nothing;
        }
        if std::mem::take(&mut self.menu) {
            return match bytes.as_slice() {
                [b'f' | b'F' | 0x06] => Action::Rebuild,
                [b'h' | b'H' | b'?' | 0x08] => Action::Help,
                [b'x' | b'X' | b'q' | b'Q' | 0x18 | 0x11] => Action::Exit,
                [b'r' | b'R' | RESET_KEY] => Action::Reset,
                [MENU_KEY | b't' | b'T'] => Action::Send(vec![MENU_KEY]),
                _ => Action::UnknownCommand,
            };
        }
        match bytes.as_slice() {
            [byte] if *byte == self.map.exit.byte() => Action::Exit,
            [CTRL_C] if self.map.ctrl_c_exits => Action::Exit,
            [RESET_KEY] => Action::Reset,
            [MENU_KEY] => {
                self.menu = true;
                Action::Nothing
            }
            _ => Action::Send(bytes),
        }
    }
}

/// The bytes a key sends to the chip, as a VT100-style terminal sends them: text as UTF-8, Enter
/// as `eol`, Backspace as DEL (0x7f, what xterm sends and MicroPython and ESP-IDF's line editor
/// erase with; Ctrl+H still sends 0x08), Ctrl+letter as its control byte, Alt+key with an ESC
/// before it, and the arrows, Home, End, Insert, Delete, Page Up/Down as their escape sequences.
/// Nothing for a key release, a lone modifier or a function key. With `altgr_is_ctrl_alt`
/// (Windows), Ctrl+Alt+character is the character AltGr typed.
pub fn key_bytes(key: &KeyEvent, eol: Eol, altgr_is_ctrl_alt: bool) -> Vec<u8> {
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let altgr = altgr_is_ctrl_alt && ctrl && alt;
    let sequence: &[u8] = match key.code {
        KeyCode::Char(c) => {
            let mut bytes = Vec::with_capacity(5);
            if alt && !altgr {
                bytes.push(0x1b);
            }
            match control_byte(c).filter(|_| ctrl && !altgr) {
                Some(byte) => bytes.push(byte),
                None => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
            return bytes;
        }
        KeyCode::Backspace if alt => b"\x1b\x7f",
        KeyCode::Backspace => b"\x7f",
        KeyCode::Enter => eol.bytes(),
        KeyCode::Tab => b"\t",
        KeyCode::BackTab => b"\x1b[Z",
        KeyCode::Esc => b"\x1b",
        KeyCode::Up => b"\x1b[A",
        KeyCode::Down => b"\x1b[B",
        KeyCode::Right => b"\x1b[C",
        KeyCode::Left => b"\x1b[D",
        KeyCode::Home => b"\x1b[H",
        KeyCode::End => b"\x1b[F",
        KeyCode::Insert => b"\x1b[2~",
        KeyCode::Delete => b"\x1b[3~",
        KeyCode::PageUp => b"\x1b[5~",
        KeyCode::PageDown => b"\x1b[6~",
        _ => b"",
    };
    sequence.to_vec()
}

/// The control byte Ctrl+`c` stands for, as xterm sends it: a letter's (Ctrl+R is 0x12), the
/// punctuation ones (Ctrl+] is 0x1d) and their digit aliases (Ctrl+5 is 0x1d too, which is how a
/// Unix terminal's 0x1d comes back from crossterm). `None` when Ctrl+`c` has no control byte.
pub fn control_byte(c: char) -> Option<u8> {
    let byte = u8::try_from(c).ok()?;
    match byte {
        b'a'..=b'z' => Some(byte - b'a' + 1),
        b'A'..=b'Z' => Some(byte - b'A' + 1),
        b'@' | b' ' | b'2' => Some(0x00),
        b'[' | b'3' => Some(0x1b),
        b'\\' | b'4' => Some(0x1c),
        b']' | b'5' => Some(0x1d),
        b'^' | b'6' => Some(0x1e),
        b'_' | b'7' | b'/' => Some(0x1f),
        b'?' | b'8' => Some(0x7f),
        0x00..=0x1f => Some(byte),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default exit key's byte (Ctrl+]).
    const EXIT_KEY: u8 = 0x1d;

    #[test]
    fn key_actions() {
        let mut keys = KeyState::new(KeyMap::default());
        let mut press = |bytes: &[u8]| keys.action(bytes.to_vec());
        assert_eq!(press(&[EXIT_KEY]), Action::Exit);
        assert_eq!(press(&[RESET_KEY]), Action::Reset);
        assert_eq!(press(b"\x03"), Action::Send(b"\x03".to_vec()));
        assert_eq!(press(b"ab"), Action::Send(b"ab".to_vec()));
        assert_eq!(press(b""), Action::Nothing);
        for (command, action) in [
            (&b"f"[..], Action::Rebuild),
            (b"F", Action::Rebuild),
            (b"h", Action::Help),
            (b"?", Action::Help),
            (b"x", Action::Exit),
            (b"r", Action::Reset),
            (&[MENU_KEY][..], Action::Send(vec![MENU_KEY])),
            (b"z", Action::UnknownCommand),
        ] {
            assert_eq!(press(&[MENU_KEY]), Action::Nothing);
            assert_eq!(press(command), action, "Ctrl+T {command:?}");
        }
        // After a command the keys are ordinary again.
        assert_eq!(press(b"f"), Action::Send(b"f".to_vec()));

        let exit_x = KeyMap {
            exit: ControlKey::parse("ctrl+x").expect("key"),
            ctrl_c_exits: true,
        };
        let mut keys = KeyState::new(exit_x);
        assert_eq!(keys.action(vec![0x18]), Action::Exit);
        assert_eq!(keys.action(vec![0x03]), Action::Exit);
        assert_eq!(keys.action(vec![EXIT_KEY]), Action::Send(vec![EXIT_KEY]));
        assert_eq!(
            exit_x.summary(),
            "Ctrl+R resets the chip, Ctrl+X or Ctrl+C exits; every other key goes to the chip; Ctrl+T H shows all keys"
        );
        assert!(
            KeyMap::default()
                .summary()
                .starts_with("Ctrl+R resets the chip, Ctrl+] exits; every other key (Ctrl+C included) goes to the chip")
        );
        for taken in ["ctrl+r", "ctrl+t"] {
            let map = KeyMap {
                exit: ControlKey::parse(taken).expect("key"),
                ctrl_c_exits: false,
            };
            assert!(map.check().is_err(), "{taken}");
        }
        assert_eq!(KeyMap::default().check(), Ok(()));
    }

    /// Keys as crossterm reports them (on Unix parsed from the bytes the terminal sent, on
    /// Windows from the console's key records) become the bytes the chip expects.
    #[test]
    fn keys_become_the_bytes_a_terminal_sends() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        let alt = KeyModifiers::ALT;
        let check = |event: KeyEvent, eol: Eol, expected: &[u8]| {
            assert_eq!(key_bytes(&event, eol, false), expected, "{event:?}");
        };
        check(key(KeyCode::Char('a'), none), Eol::Cr, b"a");
        check(key(KeyCode::Char('A'), KeyModifiers::SHIFT), Eol::Cr, b"A");
        check(key(KeyCode::Char('é'), none), Eol::Cr, "é".as_bytes());
        check(key(KeyCode::Enter, none), Eol::Cr, b"\r");
        check(key(KeyCode::Enter, none), Eol::Lf, b"\n");
        check(key(KeyCode::Enter, none), Eol::Crlf, b"\r\n");
        check(key(KeyCode::Backspace, none), Eol::Cr, b"\x7f");
        check(key(KeyCode::Char('h'), ctrl), Eol::Cr, b"\x08");
        check(key(KeyCode::Tab, none), Eol::Cr, b"\t");
        check(key(KeyCode::Esc, none), Eol::Cr, b"\x1b");
        check(key(KeyCode::Up, none), Eol::Cr, b"\x1b[A");
        check(key(KeyCode::Down, none), Eol::Cr, b"\x1b[B");
        check(key(KeyCode::Right, none), Eol::Cr, b"\x1b[C");
        check(key(KeyCode::Left, none), Eol::Cr, b"\x1b[D");
        check(key(KeyCode::Home, none), Eol::Cr, b"\x1b[H");
        check(key(KeyCode::End, none), Eol::Cr, b"\x1b[F");
        check(key(KeyCode::Delete, none), Eol::Cr, b"\x1b[3~");
        check(key(KeyCode::F(5), none), Eol::Cr, b"");
        // The monitor's own keys, from a Unix terminal (0x1d comes back as Ctrl+5) and from a
        // Windows console (Ctrl+] as typed, Ctrl+Shift+R with an upper-case letter).
        check(key(KeyCode::Char('r'), ctrl), Eol::Cr, &[RESET_KEY]);
        check(
            key(KeyCode::Char('R'), ctrl | KeyModifiers::SHIFT),
            Eol::Cr,
            &[RESET_KEY],
        );
        check(key(KeyCode::Char('5'), ctrl), Eol::Cr, &[EXIT_KEY]);
        check(key(KeyCode::Char(']'), ctrl), Eol::Cr, &[EXIT_KEY]);
        check(key(KeyCode::Char('c'), ctrl), Eol::Cr, b"\x03");
        check(key(KeyCode::Char(' '), ctrl), Eol::Cr, b"\x00");
        check(key(KeyCode::Char('x'), alt), Eol::Cr, b"\x1bx");
        check(key(KeyCode::Char('x'), ctrl | alt), Eol::Cr, b"\x1b\x18");
        // A release sends nothing (Windows reports both).
        let release = KeyEvent::new_with_kind(KeyCode::Char('a'), none, KeyEventKind::Release);
        check(release, Eol::Cr, b"");
        // Windows' AltGr (Ctrl+Alt) types the character itself.
        let altgr = key(KeyCode::Char('@'), ctrl | alt);
        assert_eq!(key_bytes(&altgr, Eol::Cr, true), b"@");
        assert_eq!(key_bytes(&altgr, Eol::Cr, false), b"\x1b\x00");
    }
}
