//! Unit tests of the connection logic, driven by scripted transports: connect failures and
//! their diagnoses, reply matching, resets after the operation.

use super::*;
use std::collections::VecDeque;

/// A transport that answers every write with a scripted list of chunks (or nothing), and
/// records what was written. Enough to drive the failure paths of `connect`.
struct Scripted {
    /// Bytes delivered after each reset (RTS released).
    after_reset: Vec<u8>,
    /// Bytes delivered after each write, popped in order (an empty list answers nothing).
    replies: VecDeque<Vec<u8>>,
    pending: VecDeque<u8>,
    fail_lines: bool,
    disconnect: bool,
    /// Printed without end, a little at a time, when nothing else is waiting (a running
    /// firmware that logs, or a boot loop).
    chatter: Option<Vec<u8>>,
    writes: Vec<Vec<u8>>,
}

impl Scripted {
    fn new() -> Self {
        Scripted {
            after_reset: Vec::new(),
            replies: VecDeque::new(),
            pending: VecDeque::new(),
            fail_lines: false,
            disconnect: false,
            chatter: None,
            writes: Vec::new(),
        }
    }

    /// A pty-like port refuses modem-line changes.
    fn lines_settable(&self) -> Result<(), TransportError> {
        if self.fail_lines {
            return Err(TransportError::Io {
                port: "scripted".into(),
                source: std::io::Error::other("not a tty"),
            });
        }
        Ok(())
    }
}

impl Transport for Scripted {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        if self.disconnect {
            return Err(TransportError::Disconnected {
                port: "scripted".into(),
                detail: "gone".into(),
            });
        }
        if self.pending.is_empty() {
            if let Some(line) = &self.chatter {
                // About what a UART at 115200 baud delivers in a millisecond.
                std::thread::sleep(Duration::from_millis(1));
                self.pending.extend(line.iter().copied());
            } else {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                return Ok(0);
            }
        }
        let n = buf.len().min(self.pending.len());
        for (slot, b) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.writes.push(bytes.to_vec());
        if let Some(reply) = self.replies.pop_front() {
            self.pending.extend(reply);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        Ok(())
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.pending.clear();
        Ok(())
    }
    fn set_dtr(&mut self, _: bool) -> Result<(), TransportError> {
        self.lines_settable()
    }
    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.lines_settable()?;
        if !asserted {
            self.pending.extend(self.after_reset.iter().copied());
        }
        Ok(())
    }
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.set_dtr(dtr)?;
        self.set_rts(rts)
    }
    fn set_baud(&mut self, _: u32) -> Result<(), TransportError> {
        Ok(())
    }
    fn baud(&self) -> u32 {
        115_200
    }
    fn describe(&self) -> String {
        "scripted".into()
    }
    fn time(&self) -> crate::transport::LinkTime {
        crate::transport::LinkTime::Wall
    }
}

fn options() -> ConnectOptions {
    ConnectOptions {
        attempts: 1,
        baud: 115_200,
        ..ConnectOptions::default()
    }
}

fn connect(t: Scripted) -> (Result<Loader<Scripted>, LoaderError>, Vec<Event>, Duration) {
    let mut events = Vec::new();
    let start = Instant::now();
    let result = Loader::connect(t, &options(), &mut |e| events.push(e));
    (result, events, start.elapsed())
}

fn frame(hex: &str) -> Vec<u8> {
    let bytes: Vec<u8> = hex
        .split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex"))
        .collect();
    slip::encode(&bytes)
}

#[test]
fn silence_means_not_in_download_mode_and_fails_quickly() {
    let (result, events, took) = connect(Scripted::new());
    let err = result.err().expect("nothing answers");
    assert!(matches!(err, LoaderError::NoSerialData { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "no serial data received from scripted: the chip is probably not in download mode (hold BOOT while pressing RESET) or this is not the right port"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(matches!(
        events.first(),
        Some(Event::Connecting { attempt: 1, .. })
    ));
}

#[test]
fn console_text_explains_the_failure() {
    let check = |after_reset: &[u8], expected: &str| {
        let mut t = Scripted::new();
        t.after_reset = after_reset.to_vec();
        let (result, _, _) = connect(t);
        let err = result.err().expect("no sync reply");
        assert!(err.to_string().contains(expected), "{err}");
    };
    check(
        b"ESP-ROM:esp32s3-20210327\r\nrst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\n",
        "booted from flash (boot:0x8): the auto-reset did not pull GPIO0 low; hold BOOT and press RESET, or check the DTR/RTS wiring",
    );
    check(
        b"rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
        "download mode detected on scripted, but the chip does not answer SYNC",
    );
    check(
        b"Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.\r\n",
        "crashed: Guru Meditation Error: Core  0 panic'ed (LoadProhibited)",
    );
    check(&[0x55, 0xAA, 0x00, 0x13], "but no valid reply (");
}

#[test]
fn wrong_chip_is_refused_by_name() {
    let mut t = Scripted::new();
    let sync = frame("01 08 04 00 07 07 12 20 00 00 00 00");
    t.replies.push_back(sync.repeat(8));
    // GET_SECURITY_INFO of an ESP32-C3 (chip id 5).
    t.replies.push_back(frame(
        "01 14 18 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 05 00 00 00 00 00 00 00 00 00 00 00",
    ));
    let (result, events, _) = connect(t);
    let err = result.err().expect("not an S3");
    assert_eq!(
        err.to_string(),
        "this is an ESP32-C3, not an ESP32-S3: this tool only flashes the ESP32-S3"
    );
    // `Connected` means "connected to an ESP32-S3": never announced for another chip.
    assert!(
        !events.iter().any(|e| matches!(e, Event::Connected { .. })),
        "{events:?}"
    );
}

#[test]
fn chip_detection_falls_back_to_the_magic_register() {
    let mut t = Scripted::new();
    let sync = frame("01 08 04 00 07 07 12 20 00 00 00 00");
    t.replies.push_back(sync.repeat(8));
    // GET_SECURITY_INFO unsupported: the ROM repeats the previous header with `01 05`.
    t.replies
        .push_back(frame("01 08 04 00 07 07 12 20 01 05 00 00").repeat(8));
    // READ_REG 0x40001000 = ESP32-S2's magic.
    t.replies
        .push_back(frame("01 0a 04 00 c6 07 00 00 00 00 00 00"));
    let (result, _, _) = connect(t);
    let err = result.err().expect("not an S3");
    assert!(err.to_string().starts_with("this is an ESP32-S2"), "{err}");
}

#[test]
fn garbage_before_the_first_reply_is_tolerated() {
    let mut t = Scripted::new();
    let mut first =
        b"\x00\xffrst:0x1 (POWERON),boot:0x0 (DOWNLOAD)\r\nwaiting for download\r\n".to_vec();
    first.extend(frame("01 08 04 00 07 07 12 20 00 00 00 00").repeat(8));
    t.replies.push_back(first);
    t.replies.push_back(frame(
        "01 14 18 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 0c 09 00 00 00 00 00 00 00 00 00 00 00",
    ));
    let (result, events, _) = connect(t);
    let loader = result.expect("connects");
    assert!(!loader.is_stub());
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Connected {
            stub_already_running: false,
            ..
        }
    )));
}

#[test]
fn a_port_without_modem_lines_warns_and_still_syncs() {
    let mut t = Scripted::new();
    t.fail_lines = true;
    let (result, events, _) = connect(t);
    assert!(matches!(result, Err(LoaderError::NoSerialData { .. })));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("not reset")))
    );
}

/// The simulator behind a port whose modem lines cannot be set, as on a pty.
struct WithoutLines(crate::transport::sim::SimTransport);

impl Transport for WithoutLines {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        self.0.read(buf, deadline)
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.0.write_all(bytes)
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.0.flush()
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.0.clear_input()
    }
    fn set_dtr(&mut self, _: bool) -> Result<(), TransportError> {
        Err(TransportError::Io {
            port: "pty".into(),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "inappropriate ioctl for device",
            ),
        })
    }
    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.set_dtr(asserted)
    }
    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        self.0.set_baud(baud)
    }
    fn baud(&self) -> u32 {
        self.0.baud()
    }
    fn describe(&self) -> String {
        "pty".into()
    }
    fn time(&self) -> crate::transport::LinkTime {
        self.0.time()
    }
    fn pause(&mut self, duration: Duration) {
        // The simulator's clock moves (its watchdog counts in it); nobody sleeps.
        self.0.pause(duration)
    }
}

#[test]
fn a_hard_reset_without_modem_lines_uses_the_watchdog() {
    let sim = crate::transport::sim::SimTransport::open("sim://").expect("sim");
    let opts = ConnectOptions {
        before: Before::NoReset,
        attempts: 1,
        baud: 460_800,
        stub: None,
        ..ConnectOptions::default()
    };
    let mut loader = Loader::connect(WithoutLines(sim), &opts, &mut |_| {}).expect("connects");
    loader.reset_after(After::HardReset).expect("reset");
    let chip = loader.into_transport().0.into_chip();
    assert_eq!(chip.resets(), 1);
    assert_eq!(
        chip.personality(),
        crate::sim::Personality::RomLoader,
        "IO0 is still held low, so the chip is back in download mode"
    );
}

#[test]
fn attempts_on_a_port_without_lines_only_sync_and_say_so() {
    // A chip booting from its (blank) flash never answers; the port cannot reset it.
    let sim = crate::transport::sim::SimTransport::open("sim://?mode=spi").expect("sim");
    let opts = ConnectOptions {
        attempts: 3,
        ..ConnectOptions::default()
    };
    let mut events = Vec::new();
    let result = Loader::connect(WithoutLines(sim), &opts, &mut |e| events.push(e));
    let err = result.err().expect("nothing answers");
    assert!(err.to_string().contains("no DTR/RTS lines"), "{err}");
    let resets: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Connecting { reset, .. } => Some(reset.clone()),
            _ => None,
        })
        .collect();
    let no_lines = "no reset (the port has no DTR/RTS lines)".to_string();
    assert_eq!(
        resets,
        [
            reset::sequence_for_attempt(
                &reset::connect_sequences(Before::DefaultReset, None, cfg!(unix), None),
                0
            )
            .name
            .into_owned(),
            no_lines.clone(),
            no_lines
        ]
    );
    let warnings = events
        .iter()
        .filter(|e| matches!(e, Event::Warning(_)))
        .count();
    assert_eq!(warnings, 1, "{events:?}");
}

#[test]
fn a_device_that_never_stops_printing_still_times_out() {
    let mut t = Scripted::new();
    t.chatter = Some(b"I (42) app: still running\r\n".to_vec());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (result, _, took) = connect(t);
        let _ = done_tx.send((result.err().map(|e| e.to_string()), took));
    });
    let (err, took) = done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("connect returns although the text never stops");
    let err = err.expect("no SYNC reply");
    assert!(err.contains("no valid reply"), "{err}");
    // One attempt: the banner window, then 5 SYNCs of 0.1 s with 50 ms pauses.
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_vanished_device_is_reported_at_once() {
    let mut t = Scripted::new();
    t.disconnect = true;
    let (result, _, took) = connect(t);
    let err = result.err().expect("gone");
    assert!(
        matches!(
            err,
            LoaderError::Transport(TransportError::Disconnected { .. })
        ),
        "{err}"
    );
    assert!(took < Duration::from_secs(1));
}

#[test]
fn stub_json_is_read() {
    let json = r#"{"entry": 1077384616, "text": "AQID", "text_start": 1077379072,
                   "data": "BAU=", "data_start": 1070279108, "bss_start": 1070202880}"#;
    let stub = StubImage::from_esptool_json(json).expect("valid");
    assert_eq!(stub.entry, 0x4037_95A8);
    assert_eq!(stub.text, [1, 2, 3]);
    assert_eq!(stub.data, [4, 5]);
    assert_eq!(stub.text_start, 0x4037_8000);
    let bad = |json: &str, expected: &str| {
        let err = StubImage::from_esptool_json(json).expect_err("invalid");
        assert!(err.to_string().contains(expected), "{err}");
    };
    bad("{", "not JSON");
    bad(r#"{"entry": 1, "text": "AQID"}"#, "`text_start` is missing");
    bad(
        r#"{"entry": 1, "text": "!!", "text_start": 0}"#,
        "not valid base64",
    );
    bad(
        r#"{"entry": 1, "text_start": 0}"#,
        "`text` is missing or empty",
    );
}
