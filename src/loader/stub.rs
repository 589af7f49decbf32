//! Flasher stubs: reading one from esptool's JSON format ([`StubImage`]) and running it on the
//! chip (MEM_BEGIN/MEM_DATA/MEM_END, then waiting for its `OHAI`). This project ships no stub; a
//! user's own file is loaded. Nothing here knows where the file came from.

use std::time::Instant;

use super::{Event, Loader, LoaderError, ROM_MAX_BLOCK, len_u32};
use crate::protocol::command::{Command, Opcode};
use crate::protocol::response::Responder;
use crate::protocol::timeouts;
use crate::reset;
use crate::transport::Transport;

/// MEM_DATA block size over the chip's USB-OTG (§3).
const USB_OTG_MEM_BLOCK: u32 = 0x800;

/// A flasher stub: code and data loaded to RAM with MEM_BEGIN/MEM_DATA, started with MEM_END.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubImage {
    /// Code bytes.
    pub text: Vec<u8>,
    /// Load address of the code.
    pub text_start: u32,
    /// Data bytes.
    pub data: Vec<u8>,
    /// Load address of the data.
    pub data_start: u32,
    /// Entry point.
    pub entry: u32,
}

impl StubImage {
    /// Read a stub from esptool's JSON format (`entry`, `text_start`, `text` in base64,
    /// `data_start`, `data` in base64).
    pub fn from_esptool_json(json: &str) -> Result<Self, LoaderError> {
        use base64::Engine as _;
        let invalid = |detail: String| LoaderError::InvalidStub { detail };
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| invalid(format!("not JSON ({e})")))?;
        let number = |key: &str| -> Result<u32, LoaderError> {
            value
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid(format!("`{key}` is missing or not a 32-bit number")))
        };
        let bytes = |key: &str| -> Result<Vec<u8>, LoaderError> {
            let Some(text) = value.get(key) else {
                return Ok(Vec::new());
            };
            let text = text
                .as_str()
                .ok_or_else(|| invalid(format!("`{key}` is not a base64 string")))?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| invalid(format!("`{key}` is not valid base64 ({e})")))
        };
        let text = bytes("text")?;
        if text.is_empty() {
            return Err(invalid("`text` is missing or empty".into()));
        }
        let data = bytes("data")?;
        Ok(StubImage {
            text,
            text_start: number("text_start")?,
            data_start: if data.is_empty() {
                0
            } else {
                number("data_start")?
            },
            data,
            entry: number("entry")?,
        })
    }
}

/// Tries of the stub's upload on a troubled line.
const UPLOAD_TRIES: u32 = 3;
/// Frames that are not `OHAI` let pass while waiting for it (noise that formed a frame).
const MAX_STRAYS_BEFORE_OHAI: u32 = 4;

impl<T: Transport> Loader<T> {
    /// Upload `stub` to RAM, start it and wait for its `OHAI`.
    pub fn run_stub(
        &mut self,
        stub: &StubImage,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), LoaderError> {
        on_event(Event::StubUploading);
        let block = match self.usb_ids {
            Some((reset::ESPRESSIF_VID, pid)) if pid != reset::USB_JTAG_SERIAL_PID => {
                USB_OTG_MEM_BLOCK
            }
            _ => ROM_MAX_BLOCK,
        };
        // Uploading changes only RAM the stub is about to fill anyway: an upload that lost a
        // reply or had a block garbled starts again from MEM_BEGIN, once back in step.
        let mut tries = 1;
        loop {
            match self.upload(stub, block) {
                Err(
                    e @ (LoaderError::Timeout { .. }
                    | LoaderError::BadReply { .. }
                    | LoaderError::Command { .. }),
                ) if tries < UPLOAD_TRIES => {
                    tries += 1;
                    self.resends += 1;
                    if self.resync().is_err() {
                        return Err(e);
                    }
                }
                other => break other?,
            }
        }
        // The ROM may jump before its MEM_END reply is out; a missing reply is not an error.
        match self.command(&Command::mem_end(stub.entry), 0, timeouts::MEM_END) {
            Ok(_) | Err(LoaderError::Timeout { .. }) => {}
            Err(e) => return Err(e),
        }
        let deadline = Instant::now() + timeouts::DEFAULT;
        let mut strays = 0;
        loop {
            match self.next_raw_frame(deadline)? {
                Some(frame) if frame == b"OHAI" => break,
                // A late MEM_END reply.
                Some(frame) if frame.get(..2) == Some(&[0x01, Opcode::MemEnd.code()][..]) => {}
                // Line noise that happened to form a frame.
                Some(_) if strays < MAX_STRAYS_BEFORE_OHAI => {
                    strays += 1;
                    self.anomalies += 1;
                }
                Some(frame) => {
                    return Err(LoaderError::StubFailed {
                        detail: format!(
                            "unexpected response {:02x?}",
                            &frame[..frame.len().min(16)]
                        ),
                    });
                }
                None => {
                    return Err(LoaderError::StubFailed {
                        detail: "there was no response after MEM_END".into(),
                    });
                }
            }
        }
        self.responder = Responder::Stub;
        self.answered = [false; 256];
        on_event(Event::StubRunning);
        Ok(())
    }

    /// MEM_BEGIN and MEM_DATA for the stub's text and data segments, in `block`-byte blocks.
    fn upload(&mut self, stub: &StubImage, block: u32) -> Result<(), LoaderError> {
        for (addr, bytes) in [(stub.text_start, &stub.text), (stub.data_start, &stub.data)] {
            if bytes.is_empty() {
                continue;
            }
            let size = len_u32(bytes.len());
            let blocks = size.div_ceil(block);
            self.command(
                &Command::mem_begin(size, blocks, block, addr),
                0,
                timeouts::DEFAULT,
            )?;
            for (seq, chunk) in (0u32..).zip(bytes.chunks(block as usize)) {
                self.command(&Command::mem_data(seq, chunk), 0, timeouts::DEFAULT)?;
            }
        }
        Ok(())
    }
}
