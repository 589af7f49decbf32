//! The monitor without a terminal (stdin is not one, or `--non-interactive`): stdin is forwarded
//! to the chip until it ends, newlines as `--eol`, held back while the chip boots
//! (`InputGate`: what a chip receives before its firmware reads the UART is lost).

use std::io::Read as _;
use std::sync::mpsc;
use std::time::Instant;

use cargo_esp32s3::monitor::{InputGate, MonitorError};
use cargo_esp32s3::transport::Transport;

use super::Eol;
use super::output::translate_newlines;

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

/// stdin, forwarded to the chip once it listens.
pub struct Piped {
    input: mpsc::Receiver<Input>,
    open: bool,
    held: Vec<u8>,
    gate: InputGate,
    eol: Eol,
}

impl Piped {
    /// Start reading stdin.
    pub fn spawn(eol: Eol) -> Self {
        Piped {
            input: spawn_stdin_reader(),
            open: true,
            held: Vec::new(),
            gate: InputGate::new(Instant::now()),
            eol,
        }
    }

    /// The chip printed something now (the gate waits for it to settle).
    pub fn output_seen(&mut self) {
        self.gate.output(Instant::now());
    }

    /// Take what stdin delivered; send it when the chip listens and a port is there (while the
    /// port is away it is held).
    pub fn poll(&mut self, transport: Option<&mut dyn Transport>) -> Result<(), MonitorError> {
        while self.open {
            match self.input.try_recv() {
                Ok(Input::Bytes(bytes)) => self.held.extend_from_slice(&translate_newlines(
                    &bytes,
                    b'\n',
                    self.eol.bytes(),
                )),
                Ok(Input::End) | Err(mpsc::TryRecvError::Disconnected) => self.open = false,
                Ok(Input::Failed(e)) => return Err(MonitorError::Input(e)),
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        if let Some(t) = transport {
            if !self.held.is_empty() && self.gate.is_open(Instant::now()) {
                t.write_all(&self.held)?;
                self.held.clear();
            }
        }
        Ok(())
    }
}
