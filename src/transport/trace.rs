//! A protocol trace (`--trace FILE`): [`TraceTransport`] wraps any [`Transport`] and writes one
//! line per event to a file, with the time since the trace started: every packet both ways,
//! decoded (command and fields, reply and status, with the error's meaning) and raw, the console
//! text the chip printed, and the DTR/RTS changes, speed changes and pauses of resets. A user
//! attaches the file to a bug report; a maintainer reads what was said on the wire.
//!
//! ```text
//! # cargo-esp32s3 protocol trace of /dev/ttyUSB0, started 2025-09-11 14:03:27 UTC
//! [    0.000021] lines DTR=released RTS=asserted
//! [    0.101180] chip→host console "ESP-ROM:esp32s3-20210327\r\n..."
//! [    0.160200] host→chip SYNC 36 pattern bytes | 00 08 24 00 00 00 00 00 07 07 12 20 55 55 …
//! [    0.161020] chip→host SYNC value=0x20120707 status=ok | 01 08 04 00 07 07 12 20 00 00 00 00
//! ```
//!
//! It only watches: bytes pass through unchanged, and a trace file that cannot be written is
//! given up on (the operation goes on). It decodes with `protocol::describe` and knows nothing of
//! the loader or the commands that use it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::{Transport, TransportError};
use crate::protocol::describe::{describe_from_chip, describe_to_chip, printable, raw_hex};
use crate::protocol::response::{Reply, Responder};
use crate::protocol::slip::{self, Item};

/// Raw bytes shown per packet; longer packets (data blocks) are cut, saying how much was left.
const RAW_LIMIT: usize = 48;

/// A transport that writes a protocol trace of everything that passes through it.
pub struct TraceTransport<T: Transport> {
    inner: T,
    out: Option<Box<dyn Write + Send>>,
    path: Option<PathBuf>,
    started: Instant,
    to_chip: slip::Decoder,
    from_chip: slip::Decoder,
    responder: Responder,
}

impl<T: Transport> std::fmt::Debug for TraceTransport<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceTransport")
            .field("port", &self.inner.describe())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> TraceTransport<T> {
    /// Trace `inner` into `out` (any writer: a file, a buffer in a test).
    pub fn new(inner: T, out: impl Write + Send + 'static) -> Self {
        let mut trace = TraceTransport {
            inner,
            out: Some(Box::new(out)),
            path: None,
            started: Instant::now(),
            to_chip: slip::Decoder::lenient(),
            from_chip: slip::Decoder::new(),
            responder: Responder::Rom,
        };
        let since_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let header = format!(
            "# cargo-esp32s3 protocol trace of {}, started {} UTC; times are seconds since then",
            trace.inner.describe(),
            crate::units::utc_date_time(since_epoch)
        );
        trace.write_line(&header);
        trace
    }

    /// Trace `inner` into the file at `path` (created, or truncated when it exists).
    pub fn to_file(inner: T, path: &Path) -> crate::Result<Self> {
        let file =
            std::fs::File::create(path).map_err(|e| crate::Error::file("create", path, e))?;
        let mut trace = Self::new(inner, std::io::BufWriter::new(file));
        trace.path = Some(path.to_path_buf());
        Ok(trace)
    }

    /// The file the trace goes to, when it is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The traced transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The traced transport, mutable.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    fn write_line(&mut self, text: &str) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        // A trace that cannot be written must not break the operation it watches.
        if writeln!(out, "{text}").is_err() {
            self.out = None;
        }
    }

    fn event(&mut self, text: &str) {
        let at = self.started.elapsed().as_secs_f64();
        self.write_line(&format!("[{at:12.6}] {text}"));
    }

    fn log_items_to_chip(&mut self) {
        while let Some(item) = self.to_chip.next_item() {
            match item {
                Item::Frame(frame) => {
                    let text = format!(
                        "host→chip {} | {}",
                        describe_to_chip(&frame),
                        raw_hex(&frame, RAW_LIMIT)
                    );
                    self.event(&text);
                }
                Item::Noise(bytes) => {
                    let text = format!("host→chip text \"{}\"", printable(&bytes));
                    self.event(&text);
                }
                Item::Dropped(reason) => self.event(&format!("host→chip bad frame ({reason:?})")),
            }
        }
    }

    fn log_items_from_chip(&mut self) {
        while let Some(item) = self.from_chip.next_item() {
            match item {
                Item::Frame(frame) => {
                    if frame == b"OHAI" {
                        self.responder = Responder::Stub;
                    }
                    // A stub answers SYNC with value 0, the ROM with the SYNC magic.
                    if let Some(reply) = Reply::parse(&frame) {
                        if reply.opcode == crate::protocol::command::Opcode::Sync.code() {
                            self.responder = if reply.value == 0 {
                                Responder::Stub
                            } else {
                                Responder::Rom
                            };
                        }
                    }
                    let text = format!(
                        "chip→host {} | {}",
                        describe_from_chip(&frame, self.responder),
                        raw_hex(&frame, RAW_LIMIT)
                    );
                    self.event(&text);
                }
                Item::Noise(bytes) => {
                    let text = format!("chip→host console \"{}\"", printable(&bytes));
                    self.event(&text);
                }
                Item::Dropped(reason) => self.event(&format!("chip→host bad frame ({reason:?})")),
            }
        }
    }

    fn flush_out(&mut self) {
        if let Some(out) = self.out.as_mut() {
            if out.flush().is_err() {
                self.out = None;
            }
        }
    }
}

fn line(asserted: bool) -> &'static str {
    if asserted { "asserted" } else { "released" }
}

impl<T: Transport> Transport for TraceTransport<T> {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        let result = self.inner.read(buf, deadline);
        match &result {
            Ok(n) => {
                if let Some(bytes) = buf.get(..*n) {
                    self.from_chip.push(bytes);
                    self.log_items_from_chip();
                }
            }
            Err(e) => self.event(&format!("read failed: {e}")),
        }
        result
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.to_chip.push(bytes);
        self.log_items_to_chip();
        let result = self.inner.write_all(bytes);
        if let Err(e) = &result {
            self.event(&format!("write failed: {e}"));
        }
        result
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        self.flush_out();
        self.inner.flush()
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.event("clear input");
        self.from_chip.reset();
        self.inner.clear_input()
    }

    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.event(&format!("lines DTR={}", line(asserted)));
        self.responder = Responder::Rom;
        self.inner.set_dtr(asserted)
    }

    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.event(&format!("lines RTS={}", line(asserted)));
        self.responder = Responder::Rom;
        self.inner.set_rts(asserted)
    }

    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.event(&format!("lines DTR={} RTS={}", line(dtr), line(rts)));
        self.responder = Responder::Rom;
        self.inner.set_dtr_rts(dtr, rts)
    }

    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        self.event(&format!("host speed {baud} baud"));
        self.inner.set_baud(baud)
    }

    fn baud(&self) -> u32 {
        self.inner.baud()
    }

    fn can_change_baud(&self) -> bool {
        self.inner.can_change_baud()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn time(&self) -> super::LinkTime {
        self.inner.time()
    }
    fn ports_now(&mut self) -> Option<Vec<super::serial::PortInfo>> {
        self.inner.ports_now()
    }
    fn reopen(&mut self, path: &str) -> Result<(), super::TransportError> {
        self.inner.reopen(path)
    }

    fn usb_ids(&self) -> Option<(u16, u16)> {
        self.inner.usb_ids()
    }

    fn pause(&mut self, duration: Duration) {
        self.event(&format!("pause {} ms", duration.as_millis()));
        self.inner.pause(duration);
    }
}

impl<T: Transport> Drop for TraceTransport<T> {
    fn drop(&mut self) {
        self.event("end of trace");
        self.flush_out();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::Command;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_sync_on_the_virtual_chip_is_traced_both_ways() {
        let chip = super::super::sim::SimTransport::open("sim://").unwrap();
        let sink = Shared::default();
        let mut traced = TraceTransport::new(chip, sink.clone());
        traced
            .write_all(&slip::encode(&Command::sync().encode()))
            .unwrap();
        let mut buf = [0u8; 4096];
        while traced
            .read(&mut buf, Instant::now() + Duration::from_millis(10))
            .unwrap()
            > 0
        {}
        drop(traced);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.starts_with("# cargo-esp32s3 protocol trace of sim://"),
            "{text}"
        );
        assert!(
            text.contains("host→chip SYNC 36 pattern bytes | 00 08 24 00"),
            "{text}"
        );
        assert!(
            text.contains("chip→host SYNC value=0x20120707 status=ok | 01 08 04 00"),
            "{text}"
        );
        assert!(
            text.contains("chip→host console \"ESP-ROM:esp32s3"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("end of trace"), "{text}");
    }
}
