//! The monitor in a terminal: raw mode, keys to the chip (Ctrl+R resets, Ctrl+] exits), the
//! chip's bytes on the screen as they arrive.

use std::sync::mpsc;

use cargo_esp32s3::monitor::{Control, MonitorError, MonitorEvent, WatchEnd, WatchOptions};
use cargo_esp32s3::transport::Transport;

use super::keys::{EXIT_KEY, RESET_KEY, key_bytes};
use super::output::{Output, show_hint};
use super::{Plan, reset_into_firmware, terminal};

/// Interactive: keys to the chip (Ctrl+R resets, Ctrl+] exits), bytes to the screen at once.
pub fn watch_interactive<T: Transport + ?Sized>(
    transport: &mut T,
    options: &WatchOptions,
    plan: &Plan,
    output: &mut Output,
) -> Result<WatchEnd, MonitorError> {
    // Dropped on every way out of this function: the reader thread is stopped and joined.
    let keys = terminal::KeyReader::spawn();
    // Windows reports AltGr as Ctrl+Alt; there the character is what the layout typed.
    let altgr_is_ctrl_alt = cfg!(windows);
    cargo_esp32s3::monitor::watch_with_input(
        transport,
        options,
        &mut |t| {
            loop {
                let key = match keys.try_recv() {
                    Ok(terminal::KeyInput::Key(key)) => key,
                    Ok(terminal::KeyInput::Failed(e)) => return Err(MonitorError::Input(e)),
                    Err(mpsc::TryRecvError::Empty | mpsc::TryRecvError::Disconnected) => break,
                };
                match key_bytes(&key, plan.eol, altgr_is_ctrl_alt).as_slice() {
                    [] => {}
                    [EXIT_KEY] => return Ok(Control::Stop),
                    [RESET_KEY] => {
                        if reset_into_firmware(t, plan.hard_reset.as_ref()).is_err() {
                            eprint!(
                                "\r\n--- this port has no reset line; press the board's RESET button ---\r\n"
                            );
                        }
                    }
                    bytes => t.write_all(bytes)?,
                }
            }
            Ok(Control::Continue)
        },
        &mut |event| {
            match event {
                MonitorEvent::Received(bytes) => output.raw(bytes),
                MonitorEvent::Line(line) => output.line(line),
                MonitorEvent::Hint(hint) => show_hint(hint, true),
                MonitorEvent::Address { addr, location } => {
                    output.extra(&format!("--- 0x{addr:08x}: {location}"))
                }
            }
            output.control()
        },
    )
}
