//! The monitor without a terminal (stdin is not one, or `--non-interactive`): stdin is forwarded
//! to the chip until it ends (held back while the chip boots, `InputGate`), complete lines are
//! printed.

use std::io::Read as _;
use std::sync::mpsc;
use std::time::Instant;

use cargo_esp32s3::monitor::{
    Control, InputGate, MonitorError, MonitorEvent, WatchEnd, WatchOptions,
};
use cargo_esp32s3::transport::Transport;

use super::Plan;
use super::output::{Output, show_hint, translate_newlines};

/// What the input thread delivers.
enum Input {
    Bytes(Vec<u8>),
    End,
    Failed(String),
}

/// Read stdin on a thread (a blocking read cannot be polled portably) and hand the bytes over.
fn spawn_stdin_reader() -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        loop {
            let message = match stdin.read(&mut buf) {
                Ok(0) => Input::End,
                Ok(n) => Input::Bytes(buf.get(..n).unwrap_or_default().to_vec()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Input::Failed(e.to_string()),
            };
            let last = !matches!(message, Input::Bytes(_));
            if tx.send(message).is_err() || last {
                return;
            }
        }
    });
    rx
}

/// Non-interactive: forward stdin until it ends, print complete lines.
pub fn watch_lines<T: Transport + ?Sized>(
    transport: &mut T,
    options: &WatchOptions,
    plan: &Plan,
    output: &mut Output,
) -> Result<WatchEnd, MonitorError> {
    let input = spawn_stdin_reader();
    let mut input_open = true;
    let eol = plan.eol.bytes();
    // Lines piped in before the firmware reads its UART would be lost: held until it settles.
    let gate = std::cell::RefCell::new(InputGate::new(Instant::now()));
    let mut held: Vec<u8> = Vec::new();
    cargo_esp32s3::monitor::watch_with_input(
        transport,
        options,
        &mut |t| {
            while input_open {
                match input.try_recv() {
                    Ok(Input::Bytes(bytes)) => {
                        held.extend_from_slice(&translate_newlines(&bytes, b'\n', eol))
                    }
                    Ok(Input::End) | Err(mpsc::TryRecvError::Disconnected) => input_open = false,
                    Ok(Input::Failed(e)) => return Err(MonitorError::Input(e)),
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            if !held.is_empty() && gate.borrow_mut().is_open(Instant::now()) {
                t.write_all(&held)?;
                held.clear();
            }
            Ok(Control::Continue)
        },
        &mut |event| {
            match event {
                MonitorEvent::Received(_) => gate.borrow_mut().output(Instant::now()),
                MonitorEvent::Line(line) => output.line(line),
                MonitorEvent::Hint(hint) => show_hint(hint, false),
                MonitorEvent::Address { addr, location } => {
                    output.extra(&format!("--- 0x{addr:08x}: {location}"))
                }
            }
            output.control()
        },
    )
}
