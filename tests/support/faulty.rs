//! A fault-injecting [`Transport`] wrapper for the loader and flasher tests: it decodes the
//! chip's SLIP frames so a test can drop or alter replies, adds noise before the first reply,
//! goes silent, or makes the device vanish after some writes.

use std::collections::VecDeque;
use std::time::Instant;

use cargo_esp32s3::protocol::slip;
use cargo_esp32s3::transport::{Transport, TransportError};

/// What to do with one reply frame: keep it (possibly changed) or drop it.
pub type Tamper = Box<dyn FnMut(&mut Vec<u8>) -> bool + Send>;

/// The wrapper.
pub struct Faulty<T: Transport> {
    pub inner: T,
    decoder: slip::Decoder,
    out: VecDeque<u8>,
    /// Applied to every frame from the chip; return false to drop it.
    pub tamper: Option<Tamper>,
    /// Bytes delivered before the first frame.
    pub noise_before_first_reply: Option<Vec<u8>>,
    /// Never deliver anything.
    pub silent: bool,
    /// Fail with `Disconnected` once this many writes went through.
    pub vanish_after_writes: Option<usize>,
    pub writes: usize,
}

impl<T: Transport> Faulty<T> {
    pub fn new(inner: T) -> Self {
        Faulty {
            inner,
            decoder: slip::Decoder::new(),
            out: VecDeque::new(),
            tamper: None,
            noise_before_first_reply: None,
            silent: false,
            vanish_after_writes: None,
            writes: 0,
        }
    }

    fn gone(&self) -> TransportError {
        TransportError::Disconnected {
            port: "faulty".into(),
            detail: "device unplugged".into(),
        }
    }
}

/// Parse a reply frame header: (opcode, payload+status).
pub fn reply_parts(frame: &[u8]) -> Option<(u8, &[u8])> {
    (frame.len() >= 8 && frame[0] == 1).then(|| (frame[1], &frame[8..]))
}

impl<T: Transport> Transport for Faulty<T> {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        if self.vanish_after_writes.is_some_and(|n| self.writes >= n) {
            return Err(self.gone());
        }
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.inner.read(&mut chunk, deadline)?;
            if self.silent {
                if n == 0 {
                    return Ok(0);
                }
                continue;
            }
            self.decoder.push(&chunk[..n]);
            while let Some(item) = self.decoder.next_item() {
                match item {
                    slip::Item::Frame(mut frame) => {
                        if let Some(noise) = self.noise_before_first_reply.take() {
                            self.out.extend(noise);
                        }
                        let keep = self.tamper.as_mut().is_none_or(|t| t(&mut frame));
                        if keep {
                            self.out.extend(slip::encode(&frame));
                        }
                    }
                    slip::Item::Noise(text) => self.out.extend(text),
                    slip::Item::Dropped(_) => {}
                }
            }
            if !self.out.is_empty() || n == 0 {
                break;
            }
        }
        let n = buf.len().min(self.out.len());
        for (slot, b) in buf.iter_mut().zip(self.out.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        if self.vanish_after_writes.is_some_and(|n| self.writes >= n) {
            return Err(self.gone());
        }
        self.writes += 1;
        self.inner.write_all(bytes)
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.inner.flush()
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.out.clear();
        self.decoder.reset();
        self.inner.clear_input()
    }
    fn set_dtr(&mut self, on: bool) -> Result<(), TransportError> {
        self.inner.set_dtr(on)
    }
    fn set_rts(&mut self, on: bool) -> Result<(), TransportError> {
        self.inner.set_rts(on)
    }
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.inner.set_dtr_rts(dtr, rts)
    }
    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        self.inner.set_baud(baud)
    }
    fn baud(&self) -> u32 {
        self.inner.baud()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn time(&self) -> cargo_esp32s3::transport::LinkTime {
        self.inner.time()
    }
    fn usb_ids(&self) -> Option<(u16, u16)> {
        self.inner.usb_ids()
    }
}
