//! The serial monitor's library half: watch what a running chip prints, line by line, over any
//! [`Transport`], and deliver it as [`MonitorEvent`]s: the lines themselves, code addresses in
//! panics and backtraces decoded to function and `file:line` ([`crate::symbols`]), and one-time
//! hints for the boot failures users get stuck on. A stop condition (`until` regex, timeout, or
//! the callback) ends the watch.
//!
//! With a defmt decoder ([`WatchOptions::defmt`]), the frames esp-println's `defmt-espflash`
//! feature writes between the text are decoded with the firmware's table ([`defmt`]) and
//! delivered as [`MonitorEvent::Defmt`]; [`levels`] tells log levels and tags in lines (for
//! colours and `--log-level`/`--filter`, which are the caller's to apply); [`reconnect`] finds
//! a USB device again after it re-enumerated.
//!
//! The pieces are public so that the interactive terminal in `cli/monitor/` can reuse them:
//! [`LineAssembler`] (CR, LF, CRLF and partial lines), [`hint_for`], [`code_addresses`] and
//! [`Session`] (all of it applied to a byte stream). This module never prints and knows nothing
//! of terminals, keys, clap or the ROM protocol; it does not reset the chip either (the caller
//! decides how the firmware was started).

pub mod defmt;
pub mod levels;
pub mod reconnect;

use std::time::{Duration, Instant};

use regex::Regex;

use self::defmt::{DefmtDecoder, DefmtLine, FrameSplitter, Piece};
use crate::symbols::{Location, Symbols, is_code_address};
use crate::transport::{Transport, TransportError};

/// How long one read waits before the monitor looks at its stop conditions and the caller's
/// input again. Short enough that typed keys feel immediate, long enough not to spin.
pub const POLL_INTERVAL: Duration = Duration::from_millis(15);

/// The longest line kept before it is delivered anyway: a chip printing without line endings
/// (binary garbage at a wrong baud rate) must not grow memory without bound.
pub const MAX_LINE_LEN: usize = 4096;

/// What to watch for.
#[derive(Debug, Default)]
pub struct WatchOptions {
    /// Stop with [`WatchEnd::Matched`] at the first line this matches (ANSI colour codes are
    /// removed before matching). A partial line (a prompt such as `>>> ` that never gets a line
    /// ending) is matched too once the chip has gone quiet after it.
    pub until: Option<Regex>,
    /// Stop with [`WatchEnd::TimedOut`] when this much time has passed since the watch began.
    pub timeout: Option<Duration>,
    /// Decode code addresses with these tables (from the firmware's ELF).
    pub symbols: Option<Symbols>,
    /// Deliver [`MonitorEvent::Hint`]s for known boot failures (each once per watch).
    pub hints: bool,
    /// Decode defmt frames with this firmware's table ([`MonitorEvent::Defmt`]); without it
    /// the stream is text only.
    pub defmt: Option<DefmtDecoder>,
}

/// What the event callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep watching.
    Continue,
    /// End the watch with [`WatchEnd::Stopped`].
    Stop,
}

/// Something the monitor saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorEvent<'a> {
    /// Bytes as they arrived (for a terminal that shows typed echo and prompts at once), cut
    /// after each line ending so that a line's other events follow its bytes. Every byte of the
    /// stream is delivered here exactly once.
    Received(&'a [u8]),
    /// A complete line, without its line ending (CR, LF or CRLF), invalid UTF-8 replaced.
    Line(&'a str),
    /// A code address found in the line just delivered, and where it lies in the firmware.
    Address {
        /// The address as printed.
        addr: u32,
        /// Function and source position.
        location: &'a Location,
    },
    /// Advice for a failure the line just delivered shows (given once per watch).
    Hint(&'static str),
    /// A decoded defmt frame (with [`WatchOptions::defmt`]), in its place between the text;
    /// addresses and hints for its text follow as for a line. A text line left unfinished
    /// before a frame is delivered as a line first.
    Defmt(&'a DefmtLine),
}

/// Why a watch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEnd {
    /// A line matched [`WatchOptions::until`]; this is the line.
    Matched {
        /// The matching line (as delivered in [`MonitorEvent::Line`]).
        line: String,
    },
    /// [`WatchOptions::timeout`] passed without a match.
    TimedOut,
    /// The callback (or the caller's input hook) returned [`Control::Stop`].
    Stopped,
    /// The port went away (device unplugged, connection closed).
    Disconnected,
}

/// A failure while watching.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The byte channel failed (other than going away, which ends the watch normally).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The caller's input (keyboard, stdin) failed.
    #[error("cannot read the monitor's input ({0}); check stdin")]
    Input(String),
    /// The firmware's defmt table cannot be used.
    #[error(transparent)]
    Defmt(#[from] defmt::DefmtError),
}

/// Watch the chip until a stop condition holds.
///
/// Reads from `transport` (which must already be open, at the baud rate the firmware prints
/// at), splits what arrives into lines and delivers, per line: [`MonitorEvent::Line`], then a
/// [`MonitorEvent::Hint`] if it shows a known failure (when `options.hints`), then one
/// [`MonitorEvent::Address`] per decodable code address (when `options.symbols` is set).
/// Raw bytes come first as [`MonitorEvent::Received`]. Returns when a line matches
/// `options.until`, when `options.timeout` passes, when `on_event` returns [`Control::Stop`],
/// or when the port disconnects (a partial last line is then delivered as a line).
///
/// # Example
///
/// Wait up to five seconds for a line, printing what the chip says (here the virtual chip with
/// blank flash, whose ROM complains about the missing bootloader):
///
/// ```
/// use std::time::Duration;
/// use cargo_esp32s3::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions, watch};
/// use cargo_esp32s3::transport::sim::SimTransport;
///
/// let mut port = SimTransport::open("sim://?mode=spi")?;
/// let options = WatchOptions {
///     until: Some(regex::Regex::new("^invalid header")?),
///     timeout: Some(Duration::from_secs(5)),
///     hints: true,
///     ..WatchOptions::default()
/// };
/// let end = watch(&mut port, &options, &mut |event| {
///     match event {
///         MonitorEvent::Line(line) => println!("{line}"),
///         MonitorEvent::Hint(hint) => eprintln!("{hint}"),
///         MonitorEvent::Address { addr, location } => println!("  0x{addr:08x}: {location}"),
///         MonitorEvent::Defmt(frame) => println!("{}", frame.text),
///         MonitorEvent::Received(_) => {}
///     }
///     Control::Continue
/// })?;
/// assert!(matches!(end, WatchEnd::Matched { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn watch<T: Transport + ?Sized>(
    transport: &mut T,
    options: &WatchOptions,
    on_event: &mut dyn FnMut(MonitorEvent<'_>) -> Control,
) -> Result<WatchEnd, MonitorError> {
    watch_with_input(transport, options, &mut |_| Ok(Control::Continue), on_event)
}

/// [`watch`], calling `between_reads` with the transport after every poll (at least every
/// [`POLL_INTERVAL`]), so a caller can send typed input to the chip, reset it, or stop
/// ([`Control::Stop`] ends the watch with [`WatchEnd::Stopped`]).
pub fn watch_with_input<T: Transport + ?Sized>(
    transport: &mut T,
    options: &WatchOptions,
    between_reads: &mut dyn FnMut(&mut T) -> Result<Control, MonitorError>,
    on_event: &mut dyn FnMut(MonitorEvent<'_>) -> Control,
) -> Result<WatchEnd, MonitorError> {
    let deadline = options.timeout.map(|t| Instant::now() + t);
    let mut session = Session::new(options);
    let mut buf = [0u8; 1024];
    loop {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(WatchEnd::TimedOut);
        }
        let poll_end = match deadline {
            Some(d) => d.min(now + POLL_INTERVAL),
            None => now + POLL_INTERVAL,
        };
        match transport.read(&mut buf, poll_end) {
            Ok(0) => {
                if let Some(end) = session.idle(on_event) {
                    return Ok(end);
                }
                wait_out(poll_end);
            }
            Ok(n) => {
                if let Some(end) = session.feed(buf.get(..n).unwrap_or_default(), on_event) {
                    return Ok(end);
                }
            }
            Err(TransportError::Disconnected { .. }) => {
                return Ok(session.finish(on_event).unwrap_or(WatchEnd::Disconnected));
            }
            Err(e) => return Err(e.into()),
        }
        if between_reads(transport)? == Control::Stop {
            return Ok(WatchEnd::Stopped);
        }
    }
}

/// Let the rest of a poll interval pass when a read came back early (`sim://` answers at once
/// when nothing is buffered, after moving the virtual chip's clock to the deadline itself), so
/// the loop never spins.
fn wait_out(poll_end: Instant) {
    let rest = poll_end.saturating_duration_since(Instant::now());
    if !rest.is_zero() {
        std::thread::sleep(rest);
    }
}

/// When input typed ahead (a script's stdin) may go to the chip. Not while it boots: what a chip
/// receives before its firmware reads the UART is lost (the ROM and the second-stage bootloader
/// do not read it, and the app's UART driver starts with an empty FIFO), so a `help()` piped in
/// at once would vanish. The gate opens once the console has been quiet for [`Self::QUIET`]
/// after printing, or has printed nothing for [`Self::SILENT`] (a firmware that is already
/// running and silent), or at the latest [`Self::MAX_HOLD`] after its first output (a firmware
/// that never stops logging); then it stays open. Time is passed in, so it is pure.
#[derive(Debug, Clone)]
pub struct InputGate {
    started: Instant,
    first_output: Option<Instant>,
    last_output: Option<Instant>,
    open: bool,
}

impl InputGate {
    /// Quiet this long after output: the boot is over and the firmware waits for input.
    pub const QUIET: Duration = Duration::from_millis(300);
    /// No output at all this long: a firmware that prints nothing is already waiting.
    pub const SILENT: Duration = Duration::from_secs(1);
    /// Output that never pauses: send after this long anyway.
    pub const MAX_HOLD: Duration = Duration::from_secs(5);

    /// A closed gate, for a console watched from `now` (right after the reset).
    pub fn new(now: Instant) -> Self {
        InputGate {
            started: now,
            first_output: None,
            last_output: None,
            open: false,
        }
    }

    /// The chip printed something at `now`.
    pub fn output(&mut self, now: Instant) {
        self.first_output.get_or_insert(now);
        self.last_output = Some(now);
    }

    /// Whether input may go to the chip at `now`.
    pub fn is_open(&mut self, now: Instant) -> bool {
        if !self.open {
            self.open = match (self.first_output, self.last_output) {
                (Some(first), Some(last)) => {
                    now.saturating_duration_since(last) >= Self::QUIET
                        || now.saturating_duration_since(first) >= Self::MAX_HOLD
                }
                _ => now.saturating_duration_since(self.started) >= Self::SILENT,
            };
        }
        self.open
    }
}

/// Splits a byte stream into lines: LF, CR and CRLF each end one line (a CRLF split across two
/// reads still counts once); bytes after the last ending stay pending until more arrive.
#[derive(Debug, Default, Clone)]
pub struct LineAssembler {
    partial: Vec<u8>,
    /// The previous byte was a CR, so an LF right after it ends nothing new.
    after_cr: bool,
}

impl LineAssembler {
    /// An empty assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add received bytes; `on_line` gets each line they complete, without its ending.
    pub fn push(&mut self, bytes: &[u8], on_line: &mut dyn FnMut(&str)) {
        for &byte in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => self.emit(on_line),
                _ => {
                    self.partial.push(byte);
                    if self.partial.len() >= MAX_LINE_LEN {
                        self.emit(on_line);
                    }
                }
            }
        }
    }

    /// The bytes received after the last line ending.
    pub fn partial(&self) -> &[u8] {
        &self.partial
    }

    /// Take the pending partial line (as a line), if there is one.
    pub fn take_partial(&mut self) -> Option<String> {
        if self.partial.is_empty() {
            return None;
        }
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        Some(line)
    }

    fn emit(&mut self, on_line: &mut dyn FnMut(&str)) {
        on_line(&String::from_utf8_lossy(&self.partial));
        self.partial.clear();
    }
}

/// The failures a hint exists for, in the order they are checked.
const HINTS: [(&str, &str); 5] = [
    (
        "invalid header: 0x",
        "hint: nothing valid is at flash offset 0x0 (invalid header): an offset-0 (merged) image belongs at 0x0, and the ESP32-S3 bootloader lives at 0x0, not 0x1000 as on the ESP32; flash the merged image or the bootloader at 0x0",
    ),
    (
        "waiting for download",
        "hint: the chip is stuck in download mode (waiting for download): it did not boot the firmware; press RESET (Ctrl+R in the monitor), flash with --after watchdog-reset on USB-Serial/JTAG boards (their reset keeps GPIO0 strapping), and check that nothing holds GPIO0 low",
    ),
    (
        "Bootloader for wrong chip?",
        "hint: the bootloader at 0x0 was built for another chip (Invalid chip id); build the bootloader and the app for the ESP32-S3 target and flash them again",
    ),
    (
        "Brownout detector was triggered",
        "hint: the brownout detector reset the chip: its supply voltage dropped; try a shorter or better USB cable, a powered hub or an external supply",
    ),
    (
        "No bootable app partitions",
        "hint: the bootloader found no app it can boot (No bootable app partitions): the app partition is erased or holds no valid ESP32-S3 app; flash the firmware again (the app goes to the factory or ota_0 partition of the table on the chip), or flash a merged image at 0x0",
    ),
];

/// Whether `hint` is the advice for a boot failure (one of the hints [`hint_for`] gives): those
/// are worth saying again when a watch ends, since the boot loop they explain scrolls them away.
pub fn is_boot_hint(hint: &str) -> bool {
    HINTS.iter().any(|(_, text)| *text == hint)
}

/// The advice for a line that shows a known boot failure, with its index in the hint list (so a
/// caller can give each hint once).
pub fn hint_for(line: &str) -> Option<(usize, &'static str)> {
    HINTS
        .iter()
        .enumerate()
        .find(|(_, (pattern, _))| line.contains(pattern))
        .map(|(index, (_, hint))| (index, *hint))
}

/// The code addresses (0x40xx_xxxx ROM/IRAM, 0x42xx_xxxx flash) a line mentions, in order and
/// without repeats. The ROM's own `load:0x…` and `entry 0x…` lines name load addresses, not
/// code that ran, so they yield none.
pub fn code_addresses(line: &str) -> Vec<u32> {
    let text = line.trim_start();
    if text.starts_with("load:0x") || text.starts_with("entry 0x") {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("0x") {
        let digits_start = start + 2;
        let tail = rest.get(digits_start..).unwrap_or_default();
        let digits = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        if digits == 8 {
            if let Some(addr) = tail.get(..8).and_then(|d| u32::from_str_radix(d, 16).ok()) {
                if is_code_address(addr) && !found.contains(&addr) {
                    found.push(addr);
                }
            }
        }
        rest = tail.get(digits..).unwrap_or_default();
    }
    found
}

/// Remove ANSI escape sequences (ESP-IDF's log colours) so patterns match the visible text.
pub fn strip_ansi(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('\u{1b}') {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Everything the monitor does to a byte stream, without the reading: lines, hints (once each),
/// decoded addresses and the `until` match. [`watch`] drives one; an interactive terminal that
/// reads the port itself can feed one too.
#[derive(Debug)]
pub struct Session<'o> {
    options: &'o WatchOptions,
    lines: LineAssembler,
    hints_given: [bool; HINTS.len()],
    frames: FrameSplitter,
    /// The hint for a frame that does not decode was given.
    undecodable_told: bool,
}

/// Text or a frame, owned, as the splitter delivered it.
enum Owned {
    Text(Vec<u8>),
    Frame(Vec<u8>),
}

impl<'o> Session<'o> {
    /// A fresh session (no hints given yet).
    pub fn new(options: &'o WatchOptions) -> Self {
        Session {
            options,
            lines: LineAssembler::new(),
            hints_given: [false; HINTS.len()],
            frames: FrameSplitter::new(),
            undecodable_told: false,
        }
    }

    /// Process received bytes; `Some` when the watch should end.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        on_event: &mut dyn FnMut(MonitorEvent<'_>) -> Control,
    ) -> Option<WatchEnd> {
        if self.options.defmt.is_none() {
            return self.feed_text(bytes, on_event);
        }
        let mut pieces = Vec::new();
        self.frames.push(bytes, &mut |piece| {
            pieces.push(match piece {
                Piece::Text(text) => Owned::Text(text.to_vec()),
                Piece::Frame(frame) => Owned::Frame(frame.to_vec()),
            })
        });
        for piece in pieces {
            let end = match piece {
                Owned::Text(text) => self.feed_text(&text, on_event),
                Owned::Frame(frame) => self.frame(&frame, on_event),
            };
            if end.is_some() {
                return end;
            }
        }
        None
    }

    /// Text: raw pieces (one per line ending) and the lines they complete.
    fn feed_text(
        &mut self,
        bytes: &[u8],
        on_event: &mut dyn FnMut(MonitorEvent<'_>) -> Control,
    ) -> Option<WatchEnd> {
        // One piece per line ending, so that a terminal showing the raw bytes gets a line's
        // hint and decoded addresses right after that line, not after the whole read.
        let mut rest = bytes;
        while !rest.is_empty() {
            let cut = rest
                .iter()
                .position(|b| *b == b'\n' || *b == b'\r')
                .map_or(rest.len(), |i| i + 1);
            let (piece, tail) = rest.split_at(cut);
            rest = tail;
            if on_event(MonitorEvent::Received(piece)) == Control::Stop {
                return Some(WatchEnd::Stopped);
            }
            let mut complete = Vec::new();
            self.lines
                .push(piece, &mut |line| complete.push(line.to_string()));
            if let Some(end) = complete
                .into_iter()
                .find_map(|line| self.line(line, on_event))
            {
                return Some(end);
            }
        }
        None
    }

    /// A defmt frame: the unfinished text line before it ends, then the decoded frame (or, the
    /// first time one does not decode, the hint that the ELF does not match).
    fn frame(
        &mut self,
        frame: &[u8],
        on_event: &mut dyn FnMut(MonitorEvent<'_>) -> Control,
    ) -> Option<WatchEnd> {
        let decoder = self.options.defmt.as_ref()?;
        let decoded = decoder.decode(frame);
        if let Some(partial) = self.lines.take_partial() {
            if let Some(end) = self.line(partial, on_event) {
                return Some(end);
            }
        }
        match decoded {
            Ok(line) => {
                if on_event(MonitorEvent::Defmt(&line)) == Control::Stop {
                    return Some(WatchEnd::Stopped);
                }
                self.after_line(&line.text, on_event)
            }
            Err(_) if !self.undecodable_told => {
                self.undecodable_told = true;
                (on_event(MonitorEvent::Hint(UNDECODABLE_FRAME_HINT)) == Control::Stop)
                    .then_some(WatchEnd::Stopped)
            }
            Err(_) => None,
        }
    }

    /// The chip went quiet: a pending partial line (a prompt) is matched against `until`, and
    /// delivered as a line when it matches. `Some` when the watch should end.
    pub fn idle(
        &mut self,
        on_event: &mut dyn FnMut(MonitorEvent<'_>) -> Control,
    ) -> Option<WatchEnd> {
        let until = self.options.until.as_ref()?;
        let partial = String::from_utf8_lossy(self.lines.partial()).into_owned();
        if partial.is_empty() || !until.is_match(&strip_ansi(&partial)) {
            return None;
        }
        let line = self.lines.take_partial()?;
        self.line(line, on_event)
    }

    /// The stream ended: deliver a pending partial line. `Some` when it ended the watch
    /// (matched, or the callback stopped).
    pub fn finish(
        &mut self,
        on_event: &mut dyn FnMut(MonitorEvent<'_>) -> Control,
    ) -> Option<WatchEnd> {
        let mut held = Vec::new();
        self.frames.finish(&mut |piece| {
            if let Piece::Text(text) = piece {
                held.extend_from_slice(text);
            }
        });
        if let Some(end) = self.feed_text(&held, on_event) {
            return Some(end);
        }
        let line = self.lines.take_partial()?;
        self.line(line, on_event)
    }

    fn line(
        &mut self,
        line: String,
        on_event: &mut dyn FnMut(MonitorEvent<'_>) -> Control,
    ) -> Option<WatchEnd> {
        if on_event(MonitorEvent::Line(&line)) == Control::Stop {
            return Some(WatchEnd::Stopped);
        }
        self.after_line(&line, on_event)
    }

    /// What follows a line or a decoded frame: its hint, its decoded addresses, the `until`
    /// match.
    fn after_line(
        &mut self,
        line: &str,
        on_event: &mut dyn FnMut(MonitorEvent<'_>) -> Control,
    ) -> Option<WatchEnd> {
        let visible = strip_ansi(line);
        if self.options.hints {
            if let Some((index, hint)) = hint_for(&visible) {
                if let Some(given) = self.hints_given.get_mut(index) {
                    if !*given {
                        *given = true;
                        if on_event(MonitorEvent::Hint(hint)) == Control::Stop {
                            return Some(WatchEnd::Stopped);
                        }
                    }
                }
            }
        }
        if let Some(symbols) = &self.options.symbols {
            for addr in code_addresses(&visible) {
                if let Some(location) = symbols.lookup(addr) {
                    let event = MonitorEvent::Address {
                        addr,
                        location: &location,
                    };
                    if on_event(event) == Control::Stop {
                        return Some(WatchEnd::Stopped);
                    }
                }
            }
        }
        let matched = self
            .options
            .until
            .as_ref()
            .is_some_and(|until| until.is_match(&visible));
        matched.then(|| WatchEnd::Matched {
            line: line.to_string(),
        })
    }
}

/// Told once per watch when a defmt frame does not decode with the table: the ELF is not the
/// firmware's.
pub const UNDECODABLE_FRAME_HINT: &str = "hint: a defmt frame from the chip does not decode with the ELF's table, so the ELF is not the firmware the chip runs (frames that do not decode are left out); flash the ELF you monitor, or pass --elf with the ELF that is flashed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_ahead_input_waits_for_the_console_to_settle() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // A booting chip: closed while it prints, open once it has been quiet.
        let mut gate = InputGate::new(t0);
        assert!(!gate.is_open(at(100)));
        for ms in [150, 200, 400, 600] {
            gate.output(at(ms));
            assert!(!gate.is_open(at(ms + 10)), "printing at {ms} ms");
        }
        assert!(!gate.is_open(at(899)));
        assert!(gate.is_open(at(900)));
        // Open stays open, even when the chip prints again.
        gate.output(at(950));
        assert!(gate.is_open(at(951)));
        // A silent firmware: open after SILENT.
        let mut silent = InputGate::new(t0);
        assert!(!silent.is_open(at(999)));
        assert!(silent.is_open(at(1000)));
        // A firmware that never pauses: open MAX_HOLD after it first printed.
        let mut chatty = InputGate::new(t0);
        for ms in (50..5100).step_by(100) {
            chatty.output(at(ms));
            assert_eq!(chatty.is_open(at(ms + 1)), ms + 1 >= 5050, "at {ms} ms");
        }
    }

    fn lines_of(chunks: &[&[u8]]) -> (Vec<String>, Vec<u8>) {
        let mut assembler = LineAssembler::new();
        let mut lines = Vec::new();
        for chunk in chunks {
            assembler.push(chunk, &mut |l| lines.push(l.to_string()));
        }
        (lines, assembler.partial().to_vec())
    }

    #[test]
    fn line_endings() {
        let check = |chunks: &[&[u8]], expected: &[&str], partial: &[u8]| {
            let (lines, rest) = lines_of(chunks);
            assert_eq!(lines, expected, "chunks {chunks:?}");
            assert_eq!(rest, partial, "chunks {chunks:?}");
        };
        check(&[b"a\nb\n"], &["a", "b"], b"");
        check(&[b"a\r\nb\r\n"], &["a", "b"], b"");
        check(&[b"a\rb\r"], &["a", "b"], b"");
        check(&[b"a\r", b"\nb"], &["a"], b"b");
        check(&[b"a\r\r\nb\n"], &["a", "", "b"], b"");
        check(&[b"a\n\nb\n"], &["a", "", "b"], b"");
        check(&[b">>> "], &[], b">>> ");
        check(&[b"par", b"tial\nx"], &["partial"], b"x");
        check(&[b"\xff\xfeok\n"], &["\u{fffd}\u{fffd}ok"], b"");
    }

    #[test]
    fn long_lines_are_cut() {
        let long = vec![b'x'; MAX_LINE_LEN + 10];
        let (lines, rest) = lines_of(&[&long]);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines.first().map(String::len), Some(MAX_LINE_LEN));
        assert_eq!(rest.len(), 10);
    }

    #[test]
    fn addresses_in_lines() {
        let check = |line: &str, expected: &[u32]| {
            assert_eq!(code_addresses(line), expected, "line {line:?}");
        };
        check(
            "Backtrace: 0x4200abcd:0x3fc98e50 0x40379a2b:0x3fc98e70 0x4200abcd:0x3fc98e90",
            &[0x4200_abcd, 0x4037_9a2b],
        );
        check("PC      : 0x42008a5e  PS      : 0x00060630", &[0x4200_8a5e]);
        check("Saved PC:0x40048836", &[0x4004_8836]);
        check("load:0x3fce3818,len:0x508", &[]);
        check("load:0x403c9700,len:0x4", &[]);
        check("entry 0x403c98d4", &[]);
        check("EXCVADDR: 0x00000000", &[]);
        check("value 0x420012345 is too long", &[]);
        check("short 0x4200abc", &[]);
        check("A0      : 0x820081c8", &[]);
    }

    #[test]
    fn hints_match_rom_text() {
        let check = |line: &str, expected: Option<usize>| {
            assert_eq!(hint_for(line).map(|(i, _)| i), expected, "line {line:?}");
        };
        check("invalid header: 0xffffffff", Some(0));
        check("waiting for download", Some(1));
        check(
            "Invalid chip id. Expected 9 read 2. Bootloader for wrong chip?",
            Some(2),
        );
        check("Brownout detector was triggered", Some(3));
        check("rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)", None);
    }

    #[test]
    fn ansi_colours_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[0;32mI (312) main: ready\u{1b}[0m"),
            "I (312) main: ready"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    /// Feed chunks through a session and return what it delivered, rendered as text.
    fn run_session(options: &WatchOptions, chunks: &[&[u8]]) -> (Vec<String>, Option<WatchEnd>) {
        let mut session = Session::new(options);
        let mut seen = Vec::new();
        let mut end = None;
        for chunk in chunks {
            end = session.feed(chunk, &mut |event| {
                match event {
                    MonitorEvent::Received(_) => {}
                    MonitorEvent::Line(l) => seen.push(format!("line {l}")),
                    MonitorEvent::Hint(h) => {
                        seen.push(format!("hint {}", h.get(..19).unwrap_or(h)))
                    }
                    MonitorEvent::Address { addr, location } => {
                        seen.push(format!("addr {addr:#x} {location}"))
                    }
                    MonitorEvent::Defmt(d) => seen.push(format!("defmt {}", d.text)),
                }
                Control::Continue
            });
            if end.is_some() {
                break;
            }
        }
        (seen, end)
    }

    #[test]
    fn hints_are_given_once() {
        let options = WatchOptions {
            hints: true,
            ..WatchOptions::default()
        };
        let (seen, end) = run_session(
            &options,
            &[b"invalid header: 0xffffffff\r\ninvalid header: 0xffffffff\r\n"],
        );
        assert_eq!(end, None);
        assert_eq!(
            seen,
            [
                "line invalid header: 0xffffffff",
                "hint hint: nothing valid",
                "line invalid header: 0xffffffff",
            ]
        );
        let quiet = WatchOptions::default();
        let (seen, _) = run_session(&quiet, &[b"invalid header: 0xffffffff\n"]);
        assert_eq!(seen, ["line invalid header: 0xffffffff"]);
    }

    #[test]
    fn until_matches_complete_lines_and_quiet_prompts() {
        let options = WatchOptions {
            until: Regex::new("ready$").ok(),
            ..WatchOptions::default()
        };
        let (seen, end) = run_session(
            &options,
            &[
                b"boot\r\n\x1b[0;32mI (5) app: rea",
                b"dy\x1b[0m\r\nafter\r\n",
            ],
        );
        assert_eq!(
            end,
            Some(WatchEnd::Matched {
                line: "\u{1b}[0;32mI (5) app: ready\u{1b}[0m".into()
            })
        );
        assert_eq!(seen.len(), 2, "{seen:?}");

        let prompt = WatchOptions {
            until: Regex::new("^>>> $").ok(),
            ..WatchOptions::default()
        };
        let mut session = Session::new(&prompt);
        let mut lines = Vec::new();
        let mut record = |e: MonitorEvent<'_>| {
            if let MonitorEvent::Line(l) = e {
                lines.push(l.to_string());
            }
            Control::Continue
        };
        assert_eq!(session.feed(b"MicroPython\r\n>>> ", &mut record), None);
        assert_eq!(
            session.idle(&mut record),
            Some(WatchEnd::Matched {
                line: ">>> ".into()
            })
        );
        assert_eq!(lines, ["MicroPython", ">>> "]);
    }

    #[test]
    fn raw_bytes_come_line_by_line_before_the_line_events() {
        let options = WatchOptions {
            hints: true,
            ..WatchOptions::default()
        };
        let mut session = Session::new(&options);
        let mut seen = Vec::new();
        let mut all = Vec::new();
        session.feed(
            b"invalid header: 0xffffffff\r\nnext\r\n>>> ",
            &mut |event| {
                match event {
                    MonitorEvent::Received(bytes) => {
                        all.extend_from_slice(bytes);
                        seen.push(format!(
                            "raw {}",
                            String::from_utf8_lossy(bytes).escape_debug()
                        ))
                    }
                    MonitorEvent::Line(l) => seen.push(format!("line {l}")),
                    MonitorEvent::Hint(_) => seen.push("hint".into()),
                    MonitorEvent::Address { .. } => seen.push("addr".into()),
                    MonitorEvent::Defmt(_) => seen.push("defmt".into()),
                }
                Control::Continue
            },
        );
        assert_eq!(all, b"invalid header: 0xffffffff\r\nnext\r\n>>> ");
        assert_eq!(
            seen,
            [
                "raw invalid header: 0xffffffff\\r",
                "line invalid header: 0xffffffff",
                "hint",
                "raw \\n",
                "raw next\\r",
                "line next",
                "raw \\n",
                "raw >>> ",
            ]
        );
    }

    #[test]
    fn callback_stop_ends_the_session() {
        let options = WatchOptions::default();
        let mut session = Session::new(&options);
        let mut count = 0;
        let end = session.feed(b"one\ntwo\nthree\n", &mut |e| {
            if matches!(e, MonitorEvent::Line(_)) {
                count += 1;
                if count == 2 {
                    return Control::Stop;
                }
            }
            Control::Continue
        });
        assert_eq!(end, Some(WatchEnd::Stopped));
        assert_eq!(count, 2);
    }
}
