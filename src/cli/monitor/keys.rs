//! What the monitor's keys mean: the bytes a key sends to the chip (as a VT100-style terminal
//! sends them), and the monitor's own keys (reset, exit). No terminal handling here (that is
//! `terminal.rs`) and nothing of the chip.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::Eol;

/// The key that ends an interactive monitor (Ctrl+]).
pub const EXIT_KEY: u8 = 0x1d;
/// The key that resets the chip (Ctrl+R).
pub const RESET_KEY: u8 = 0x12;
/// The keys, as printed at start and in `--help`.
pub const KEYS_HELP: &str =
    "Ctrl+R resets the chip, Ctrl+] exits; every other key (Ctrl+C included) goes to the chip";

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
