//! The monitor in a terminal: raw mode and a key reader for the session, keys to the chip, and
//! the monitor's own keys (`keys.rs`): exit, reset, and the Ctrl+T commands. Raw mode is let go
//! while a rebuild runs (cargo and the progress bars need a normal terminal) and taken again
//! afterwards.

use std::sync::mpsc;

use cargo_esp32s3::monitor::MonitorError;
use cargo_esp32s3::reset::ResetSequence;
use cargo_esp32s3::transport::Transport;

use super::keys::{Action, KeyMap, KeyState, key_bytes};
use super::output::Output;
use super::{Eol, Request, reset_into_firmware, terminal};

/// The terminal while the monitor runs in it.
pub struct Terminal {
    raw: Option<terminal::RawMode>,
    keys: Option<terminal::KeyReader>,
    state: KeyState,
    map: KeyMap,
    eol: Eol,
    hard_reset: Option<ResetSequence>,
    /// Windows reports AltGr as Ctrl+Alt; there the character is what the layout typed.
    altgr_is_ctrl_alt: bool,
}

impl Terminal {
    /// Raw mode on, keys read from now on.
    pub fn enter(
        map: KeyMap,
        eol: Eol,
        hard_reset: Option<ResetSequence>,
    ) -> Result<Self, MonitorError> {
        let mut terminal = Terminal {
            raw: None,
            keys: None,
            state: KeyState::new(map),
            map,
            eol,
            hard_reset,
            altgr_is_ctrl_alt: cfg!(windows),
        };
        terminal.resume()?;
        Ok(terminal)
    }

    /// Give the terminal back for a while (a rebuild): the key reader stops, raw mode ends.
    pub fn suspend(&mut self) {
        self.keys = None;
        self.raw = None;
    }

    /// Take the terminal again after [`Terminal::suspend`].
    pub fn resume(&mut self) -> Result<(), MonitorError> {
        if self.raw.is_none() {
            self.raw = Some(terminal::RawMode::enter().map_err(|e| {
                MonitorError::Input(format!("cannot switch the terminal to raw mode: {e}"))
            })?);
        }
        if self.keys.is_none() {
            self.keys = Some(terminal::KeyReader::spawn());
        }
        self.state = KeyState::new(self.map);
        Ok(())
    }

    /// Handle the keys pressed since the last call: send them to the chip (when the port is
    /// there), reset it, show the keys; what the session must do comes back as a request.
    pub fn poll(
        &mut self,
        mut transport: Option<&mut dyn Transport>,
        output: &mut Output,
    ) -> Result<Option<Request>, MonitorError> {
        let Some(keys) = &self.keys else {
            return Ok(None);
        };
        loop {
            let key = match keys.try_recv() {
                Ok(terminal::KeyInput::Key(key)) => key,
                Ok(terminal::KeyInput::Failed(e)) => return Err(MonitorError::Input(e)),
                Err(mpsc::TryRecvError::Empty | mpsc::TryRecvError::Disconnected) => {
                    return Ok(None);
                }
            };
            let bytes = key_bytes(&key, self.eol, self.altgr_is_ctrl_alt);
            match self.state.action(bytes) {
                Action::Nothing => {}
                Action::Exit => return Ok(Some(Request::Exit)),
                Action::Rebuild => return Ok(Some(Request::Rebuild)),
                Action::Help => output.notice_lines(&self.map.help()),
                Action::UnknownCommand => {
                    output.notice("Ctrl+T then F rebuilds and flashes, H shows the keys, X exits")
                }
                Action::Reset => match transport.as_deref_mut() {
                    Some(t) => {
                        if reset_into_firmware(t, self.hard_reset.as_ref()).is_err() {
                            output.notice(
                                "this port has no reset line; press the board's RESET button",
                            );
                        }
                    }
                    None => output.notice("the port is away; nothing to reset"),
                },
                Action::Send(bytes) => {
                    if let Some(t) = transport.as_deref_mut() {
                        t.write_all(&bytes)?;
                    }
                }
            }
        }
    }
}
