//! `rfc2217://host:port`: a serial port on another machine, reached through an RFC 2217 server
//! (esptool's `esp_rfc2217_server`, ser2net in telnet/rfc2217 mode, `cargo esp32s3 sim
//! --rfc2217`).
//!
//! RFC 2217 is telnet with the COM-PORT-OPTION (44): data flows with every 0xFF (IAC) doubled,
//! and port settings travel as subnegotiations that the server acknowledges with the command
//! code plus 100. This client negotiates BINARY, SGA and COM-PORT-OPTION, sets 8N1 and the speed,
//! and drives DTR/RTS with SET_CONTROL, waiting for each acknowledgement (bounded by the
//! `timeout` option, 3 s by default, as pyserial does) so a reset sequence's line changes reach
//! the pins in order and before its delays start. `clear_input` is a PURGE_DATA of the server's
//! receive buffer: data that arrives before its acknowledgement is stale and dropped. Line-state
//! and modem-state notifications and every other subnegotiation are ignored.
//!
//! The telnet codec ([`Decoder`], [`escape`], [`subnegotiation`], the constants) is public so the
//! simulator's RFC 2217 server speaks the same wire format; it does no I/O. Knows nothing of the
//! ROM protocol.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::tcp::{self, NetUrl};
use super::{Transport, TransportError};

/// Telnet "interpret as command".
pub const IAC: u8 = 0xFF;
/// Telnet DONT.
pub const DONT: u8 = 0xFE;
/// Telnet DO.
pub const DO: u8 = 0xFD;
/// Telnet WONT.
pub const WONT: u8 = 0xFC;
/// Telnet WILL.
pub const WILL: u8 = 0xFB;
/// Telnet subnegotiation begin.
pub const SB: u8 = 0xFA;
/// Telnet subnegotiation end.
pub const SE: u8 = 0xF0;
/// Telnet option BINARY (8-bit data both ways).
pub const BINARY: u8 = 0;
/// Telnet option ECHO.
pub const ECHO: u8 = 1;
/// Telnet option SUPPRESS-GO-AHEAD.
pub const SGA: u8 = 3;
/// Telnet option COM-PORT-OPTION (RFC 2217).
pub const COM_PORT_OPTION: u8 = 44;

/// COM-PORT-OPTION command codes sent by the client; the server answers with code + 100.
pub mod code {
    /// Ask for / announce the peer's signature text.
    pub const SIGNATURE: u8 = 0;
    /// Line speed, 4 bytes big-endian (0 asks for the current one).
    pub const SET_BAUDRATE: u8 = 1;
    /// Data bits (0 asks).
    pub const SET_DATASIZE: u8 = 2;
    /// Parity: 1 none, 2 odd, 3 even, 4 mark, 5 space (0 asks).
    pub const SET_PARITY: u8 = 3;
    /// Stop bits: 1 one, 2 two, 3 one and a half (0 asks).
    pub const SET_STOPSIZE: u8 = 4;
    /// Flow control, break, DTR and RTS (see [`super::control`]).
    pub const SET_CONTROL: u8 = 5;
    /// Line-state notification (server to client).
    pub const NOTIFY_LINESTATE: u8 = 6;
    /// Modem-state notification (server to client).
    pub const NOTIFY_MODEMSTATE: u8 = 7;
    /// Which line-state changes to notify.
    pub const SET_LINESTATE_MASK: u8 = 10;
    /// Which modem-state changes to notify.
    pub const SET_MODEMSTATE_MASK: u8 = 11;
    /// Drop buffered data: 1 the server's receive buffer, 2 its transmit buffer, 3 both.
    pub const PURGE_DATA: u8 = 12;
    /// What the server adds to a command code in its answer.
    pub const SERVER_OFFSET: u8 = 100;
}

/// SET_CONTROL values.
pub mod control {
    /// No flow control.
    pub const NO_FLOW_CONTROL: u8 = 1;
    /// Ask for the DTR state.
    pub const DTR_QUERY: u8 = 7;
    /// Assert DTR.
    pub const DTR_ON: u8 = 8;
    /// Release DTR.
    pub const DTR_OFF: u8 = 9;
    /// Ask for the RTS state.
    pub const RTS_QUERY: u8 = 10;
    /// Assert RTS.
    pub const RTS_ON: u8 = 11;
    /// Release RTS.
    pub const RTS_OFF: u8 = 12;
}

/// How long to wait for the server's answer to a negotiation or setting unless the URL says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest subnegotiation kept; longer ones (from a broken peer) are cut.
const MAX_SUBNEGOTIATION: usize = 256;
const ACCEPTED_OPTIONS: &str = "timeout=SECONDS (how long to wait for the server's acknowledgements, default 3), ign_set_control (do not wait for DTR/RTS acknowledgements)";

/// What a telnet stream carries: data, and commands between it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Telnet {
    /// Data bytes (doubled IACs undone).
    Data(Vec<u8>),
    /// WILL/WONT/DO/DONT and the option.
    Negotiate {
        /// [`WILL`], [`WONT`], [`DO`] or [`DONT`].
        verb: u8,
        /// The option.
        option: u8,
    },
    /// The bytes between `IAC SB` and `IAC SE` (option first), with doubled IACs undone.
    Subnegotiation(Vec<u8>),
    /// Any other two-byte command (NOP, BRK, ...).
    Command(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Data,
    Iac,
    Verb(u8),
    Sub,
    SubIac,
}

/// Splits a telnet stream into data bytes and commands. Keeps its state between calls, so
/// commands may be cut anywhere across reads.
#[derive(Debug, Default)]
pub struct Decoder {
    state: State,
    sub: Vec<u8>,
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode `bytes` into data and commands, in stream order (adjacent data is one item).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Telnet> {
        let mut items = Vec::new();
        let mut data = Vec::new();
        for &byte in bytes {
            if self.state == State::Data && byte != IAC {
                data.push(byte);
            } else {
                self.step(byte, &mut data, &mut items);
            }
        }
        if !data.is_empty() {
            items.push(Telnet::Data(data));
        }
        items
    }

    /// One byte outside plain data. `data` collects data until a command ends the run.
    fn step(&mut self, byte: u8, data: &mut Vec<u8>, items: &mut Vec<Telnet>) {
        let command = |items: &mut Vec<Telnet>, data: &mut Vec<u8>, item: Telnet| {
            if !data.is_empty() {
                items.push(Telnet::Data(std::mem::take(data)));
            }
            items.push(item);
        };
        self.state = match (self.state, byte) {
            (State::Data, _) => State::Iac,
            (State::Iac, IAC) => {
                data.push(IAC);
                State::Data
            }
            (State::Iac, WILL | WONT | DO | DONT) => State::Verb(byte),
            (State::Iac, SB) => {
                self.sub.clear();
                State::Sub
            }
            (State::Iac, other) => {
                command(items, data, Telnet::Command(other));
                State::Data
            }
            (State::Verb(verb), option) => {
                command(items, data, Telnet::Negotiate { verb, option });
                State::Data
            }
            (State::Sub, IAC) => State::SubIac,
            (State::Sub, other) => {
                self.push_sub(other);
                State::Sub
            }
            (State::SubIac, IAC) => {
                self.push_sub(IAC);
                State::Sub
            }
            (State::SubIac, SE) => {
                let sub = std::mem::take(&mut self.sub);
                command(items, data, Telnet::Subnegotiation(sub));
                State::Data
            }
            // A command inside a subnegotiation (a peer that forgot IAC SE): end the
            // subnegotiation there and take the command as it comes.
            (State::SubIac, other) => {
                let sub = std::mem::take(&mut self.sub);
                command(items, data, Telnet::Subnegotiation(sub));
                self.state = State::Iac;
                return self.step(other, data, items);
            }
        };
    }

    fn push_sub(&mut self, byte: u8) {
        if self.sub.len() < MAX_SUBNEGOTIATION {
            self.sub.push(byte);
        }
    }
}

/// Data bytes as they go on the wire: every IAC doubled.
pub fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64);
    for &byte in data {
        out.push(byte);
        if byte == IAC {
            out.push(IAC);
        }
    }
    out
}

/// `IAC verb option`.
pub fn negotiation(verb: u8, option: u8) -> [u8; 3] {
    [IAC, verb, option]
}

/// `IAC SB COM-PORT-OPTION code value IAC SE`, with IACs in `value` doubled.
pub fn subnegotiation(code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![IAC, SB, COM_PORT_OPTION, code];
    out.extend(escape(value));
    out.extend([IAC, SE]);
    out
}

/// The options this client uses (and therefore agrees to) in both directions.
fn wanted(option: u8) -> bool {
    matches!(option, BINARY | SGA | COM_PORT_OPTION)
}

/// A server's answer to a COM-PORT-OPTION request.
#[derive(Debug)]
struct Answer {
    /// The request's code + 100.
    code: u8,
    /// The value the server reports.
    value: Vec<u8>,
    /// How many unread data bytes had arrived before it (stale ones, for a purge).
    data_before: usize,
}

/// A serial port behind an RFC 2217 server.
#[derive(Debug)]
pub struct Rfc2217Transport {
    stream: TcpStream,
    url: String,
    baud: u32,
    dtr: bool,
    rts: bool,
    timeout: Duration,
    wait_for_control_acks: bool,
    decoder: Decoder,
    /// Data received but not read yet.
    data: VecDeque<u8>,
    /// Server answers not yet matched to a request.
    answers: VecDeque<Answer>,
    /// Negotiations already sent, so that an answer to an answer never loops.
    sent: Vec<[u8; 2]>,
    /// The server agreed to COM-PORT-OPTION (`Some(true)`) or refused it (`Some(false)`).
    com_port: Option<bool>,
}

impl Rfc2217Transport {
    /// Connect to `rfc2217://host:port[?options]`, negotiate RFC 2217 and set `baud`, 8N1 and no
    /// flow control. The modem lines are left as the server has them.
    pub fn open(url: &str, baud: u32) -> Result<Self, TransportError> {
        let target = parse_net_url(url)?;
        let (timeout, wait_for_control_acks) = options(url, &target)?;
        let stream = tcp::connect(url, &target)?;
        let mut port = Rfc2217Transport {
            stream,
            url: url.to_string(),
            baud,
            dtr: false,
            rts: false,
            timeout,
            wait_for_control_acks,
            decoder: Decoder::new(),
            data: VecDeque::new(),
            answers: VecDeque::new(),
            sent: Vec::new(),
            com_port: None,
        };
        port.negotiate()?;
        port.set_baud(baud)?;
        port.set_and_confirm(code::SET_DATASIZE, &[8], "data size 8")?;
        port.set_and_confirm(code::SET_PARITY, &[1], "parity none")?;
        port.set_and_confirm(code::SET_STOPSIZE, &[1], "1 stop bit")?;
        port.set_and_confirm(
            code::SET_CONTROL,
            &[control::NO_FLOW_CONTROL],
            "no flow control",
        )?;
        Ok(port)
    }

    fn remote(&self, detail: String) -> TransportError {
        TransportError::Remote {
            port: self.url.clone(),
            detail,
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.stream
            .write_all(bytes)
            .map_err(|e| tcp::io_error(&self.url, e))
    }

    fn send_negotiation(&mut self, verb: u8, option: u8) -> Result<(), TransportError> {
        if self.sent.contains(&[verb, option]) {
            return Ok(());
        }
        self.sent.push([verb, option]);
        self.send(&negotiation(verb, option))
    }

    /// Offer and ask for BINARY, SGA and COM-PORT-OPTION, then wait for the server to accept
    /// COM-PORT-OPTION.
    fn negotiate(&mut self) -> Result<(), TransportError> {
        for (verb, option) in [
            (WILL, BINARY),
            (DO, BINARY),
            (WILL, SGA),
            (DO, SGA),
            (WILL, COM_PORT_OPTION),
        ] {
            self.send_negotiation(verb, option)?;
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.com_port {
                Some(true) => return Ok(()),
                Some(false) => {
                    return Err(self.remote(
                        "the server refuses RFC 2217 (COM-PORT-OPTION); for a raw TCP bridge use socket:// instead".into(),
                    ));
                }
                None => {}
            }
            if !self.pump(deadline)? {
                return Err(self.remote(format!(
                    "no RFC 2217 negotiation from the server within {:.1} s; check that it is an RFC 2217 server (for a raw TCP bridge use socket://)",
                    self.timeout.as_secs_f32()
                )));
            }
        }
    }

    /// Read once from the socket (waiting until `deadline` at most) and handle what came:
    /// data is queued, negotiations answered, server answers queued. `false` when the
    /// deadline passed with nothing read.
    fn pump(&mut self, deadline: Instant) -> Result<bool, TransportError> {
        let mut buf = [0u8; 4096];
        let Some(n) = tcp::read_until(&mut self.stream, &self.url, &mut buf, deadline)? else {
            return Ok(false);
        };
        for item in self.decoder.feed(buf.get(..n).unwrap_or_default()) {
            self.handle(item)?;
        }
        Ok(true)
    }

    fn handle(&mut self, item: Telnet) -> Result<(), TransportError> {
        match item {
            Telnet::Data(bytes) => self.data.extend(bytes),
            Telnet::Negotiate { verb, option } => {
                if option == COM_PORT_OPTION {
                    match verb {
                        DO => self.com_port = Some(true),
                        DONT => self.com_port = Some(false),
                        _ => {}
                    }
                }
                match verb {
                    DO if wanted(option) => self.send_negotiation(WILL, option)?,
                    DO => self.send_negotiation(WONT, option)?,
                    WILL if wanted(option) => self.send_negotiation(DO, option)?,
                    // Above all ECHO: the server must not send our own bytes back.
                    WILL => self.send_negotiation(DONT, option)?,
                    _ => {}
                }
            }
            Telnet::Subnegotiation(bytes) => {
                if let [COM_PORT_OPTION, answer, ..] = bytes.as_slice() {
                    if *answer < code::SERVER_OFFSET {
                        // A server only ever sends codes from 100 up; a client code coming back is
                        // our own request returned by something that echoes (a raw TCP server).
                        return Err(self.remote(format!(
                        "the server sent an RFC 2217 client request (code {answer}) back, so it echoes what it gets and is not an RFC 2217 server; for a raw TCP bridge use socket:// instead"
                    )));
                    }
                }
                if let [COM_PORT_OPTION, answer, value @ ..] = bytes.as_slice() {
                    let notification = *answer == code::NOTIFY_LINESTATE + code::SERVER_OFFSET
                        || *answer == code::NOTIFY_MODEMSTATE + code::SERVER_OFFSET;
                    if *answer >= code::SERVER_OFFSET && !notification {
                        self.answers.push_back(Answer {
                            code: *answer,
                            value: value.to_vec(),
                            data_before: self.data.len(),
                        });
                    }
                }
            }
            Telnet::Command(_) => {}
        }
        Ok(())
    }

    /// Send a COM-PORT-OPTION setting and wait for the server's answer, which must repeat the
    /// value.
    fn set_and_confirm(
        &mut self,
        code: u8,
        value: &[u8],
        what: &str,
    ) -> Result<Answer, TransportError> {
        self.send(&subnegotiation(code, value))?;
        let answer = self.wait_answer(code, what)?;
        if answer.value.get(..value.len()) != Some(value) {
            return Err(self.remote(format!(
                "the server answered {what} with {:02x?} instead of {value:02x?}; it does not support this setting",
                answer.value
            )));
        }
        Ok(answer)
    }

    /// Wait for the answer to `code` (bounded by the timeout), keeping data that arrives.
    fn wait_answer(&mut self, code: u8, what: &str) -> Result<Answer, TransportError> {
        let expected = code + code::SERVER_OFFSET;
        let deadline = Instant::now() + self.timeout;
        loop {
            // Answers to earlier requests that timed out are stale: skip them.
            while let Some(answer) = self.answers.pop_front() {
                if answer.code == expected {
                    return Ok(answer);
                }
            }
            if !self.pump(deadline)? {
                return Err(self.remote(format!(
                    "the RFC 2217 server did not acknowledge {what} within {:.1} s; check the server, or raise the wait with ?timeout=SECONDS",
                    self.timeout.as_secs_f32()
                )));
            }
        }
    }

    /// Send SET_CONTROL values and, unless `ign_set_control`, wait for their answers in order.
    /// Sending all first keeps the gap between the line changes at the server minimal.
    fn set_lines(&mut self, values: &[(u8, &str)]) -> Result<(), TransportError> {
        let mut wire = Vec::new();
        for (value, _) in values {
            wire.extend(subnegotiation(code::SET_CONTROL, &[*value]));
        }
        self.send(&wire)?;
        if !self.wait_for_control_acks {
            return Ok(());
        }
        for (value, what) in values {
            let got = self.wait_answer(code::SET_CONTROL, what)?.value;
            if got.first() != Some(value) {
                return Err(self.remote(format!(
                    "the server answered {what} with SET_CONTROL value {got:?} instead of {value}; it cannot drive the line"
                )));
            }
        }
        Ok(())
    }
}

fn dtr_value(asserted: bool) -> (u8, &'static str) {
    if asserted {
        (control::DTR_ON, "DTR on")
    } else {
        (control::DTR_OFF, "DTR off")
    }
}

fn rts_value(asserted: bool) -> (u8, &'static str) {
    if asserted {
        (control::RTS_ON, "RTS on")
    } else {
        (control::RTS_OFF, "RTS off")
    }
}

fn parse_net_url(url: &str) -> Result<NetUrl, TransportError> {
    tcp::parse_net_url(url, "rfc2217")
}

/// The URL options: (answer timeout, whether to wait for SET_CONTROL answers).
fn options(url: &str, target: &NetUrl) -> Result<(Duration, bool), TransportError> {
    let invalid = |reason: String| TransportError::InvalidPort {
        port: url.to_string(),
        reason,
    };
    let mut timeout = DEFAULT_TIMEOUT;
    let mut wait = true;
    for (key, value) in &target.options {
        match key.as_str() {
            "timeout" => {
                timeout = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0 && *s <= 600.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        invalid(format!(
                            "option timeout={value:?} is not a number of seconds between 0 and 600"
                        ))
                    })?;
            }
            "ign_set_control" => wait = false,
            _ => {
                return Err(invalid(format!(
                    "unknown option {key:?}; accepted options: {ACCEPTED_OPTIONS}"
                )));
            }
        }
    }
    Ok((timeout, wait))
}

impl Transport for Rfc2217Transport {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.data.is_empty() {
            if !self.pump(deadline)? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.data.len());
        for (slot, byte) in buf.iter_mut().zip(self.data.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.send(&escape(bytes))
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        self.stream.flush().map_err(|e| tcp::io_error(&self.url, e))
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        // PURGE_DATA 1: the server drops what the device sent that it has not passed on yet.
        // What arrives before the answer was sent before the purge: stale as well.
        let answer = self.set_and_confirm(code::PURGE_DATA, &[1], "the purge of received data")?;
        let stale = answer.data_before.min(self.data.len());
        self.data.drain(..stale);
        Ok(())
    }

    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.set_lines(&[dtr_value(asserted)])?;
        self.dtr = asserted;
        Ok(())
    }

    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.set_lines(&[rts_value(asserted)])?;
        self.rts = asserted;
        Ok(())
    }

    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        // DTR first: when RTS releases EN, IO0 is already where the sequence wants it.
        self.set_lines(&[dtr_value(dtr), rts_value(rts)])?;
        self.dtr = dtr;
        self.rts = rts;
        Ok(())
    }

    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        let what = format!("the baud rate {baud}");
        self.send(&subnegotiation(code::SET_BAUDRATE, &baud.to_be_bytes()))?;
        let got = self.wait_answer(code::SET_BAUDRATE, &what)?.value;
        let actual = got
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes);
        if actual != Some(baud) {
            return Err(self.remote(format!(
                "the server did not set {what} (it answered {got:02x?}); choose a speed its serial port supports"
            )));
        }
        self.baud = baud;
        Ok(())
    }

    fn baud(&self) -> u32 {
        self.baud
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `chunks` one after another; adjacent data items are joined, since where a read
    /// ends is not part of the stream.
    fn decode(chunks: &[&[u8]]) -> Vec<Telnet> {
        let mut decoder = Decoder::new();
        let mut items: Vec<Telnet> = Vec::new();
        for chunk in chunks {
            for item in decoder.feed(chunk) {
                match (items.last_mut(), item) {
                    (Some(Telnet::Data(last)), Telnet::Data(more)) => last.extend(more),
                    (_, item) => items.push(item),
                }
            }
        }
        items
    }

    #[test]
    fn decoder_keeps_data_and_commands_in_order_across_chunks() {
        let data = |bytes: &[u8]| Telnet::Data(bytes.to_vec());
        let sub = |bytes: &[u8]| Telnet::Subnegotiation(bytes.to_vec());
        let neg = |verb, option| Telnet::Negotiate { verb, option };
        for (chunks, expected) in [
            (vec![&b"abc"[..]], vec![data(b"abc")]),
            (vec![&[1, IAC, IAC, 2][..]], vec![data(&[1, IAC, 2])]),
            // A doubled IAC cut between two reads.
            (vec![&[1, IAC][..], &[IAC, 2][..]], vec![data(&[1, IAC, 2])]),
            (
                vec![&[IAC, DO][..], &[COM_PORT_OPTION, b'x'][..]],
                vec![neg(DO, COM_PORT_OPTION), data(b"x")],
            ),
            (
                vec![
                    &[b'a', IAC, SB, 44, 101, 0, 1, 0xC2][..],
                    &[0, IAC, SE, b'b'][..],
                ],
                vec![data(b"a"), sub(&[44, 101, 0, 1, 0xC2, 0]), data(b"b")],
            ),
            // IAC doubled inside a subnegotiation value.
            (
                vec![&[IAC, SB, 44, 101, IAC, IAC, 0, 0, 0, IAC, SE][..]],
                vec![sub(&[44, 101, IAC, 0, 0, 0])],
            ),
            // A subnegotiation without IAC SE ends at the next command.
            (
                vec![&[IAC, SB, 44, 106, 0, IAC, WILL, SGA, b'z'][..]],
                vec![sub(&[44, 106, 0]), neg(WILL, SGA), data(b"z")],
            ),
            (
                vec![&[IAC, 0xF1, b'q'][..]],
                vec![Telnet::Command(0xF1), data(b"q")],
            ),
        ] {
            assert_eq!(decode(&chunks), expected, "{chunks:?}");
        }
    }

    #[test]
    fn escape_and_decode_round_trip_every_byte() {
        let all: Vec<u8> = (0..=255u8).chain([IAC, IAC, 0, IAC]).collect();
        let wire = escape(&all);
        assert_eq!(wire.len(), all.len() + 4);
        // Fed one byte at a time, the worst case for the state machine.
        let chunks: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode(&chunks), vec![Telnet::Data(all)]);
    }

    #[test]
    fn subnegotiation_doubles_iac_in_the_value() {
        assert_eq!(
            subnegotiation(code::SET_BAUDRATE, &[0, 0, 0xFF, 0x01]),
            vec![IAC, SB, 44, 1, 0, 0, IAC, IAC, 1, IAC, SE]
        );
    }

    #[test]
    fn url_options() {
        let check = |url: &str, expected: Result<(Duration, bool), &str>| {
            let result = parse_net_url(url).and_then(|t| options(url, &t));
            match (result, expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{url}"),
                (Err(e), Err(needle)) => {
                    assert!(e.to_string().contains(needle), "{url}: {e}")
                }
                (got, want) => panic!("{url}: {got:?} vs {want:?}"),
            }
        };
        check("rfc2217://h:2217", Ok((DEFAULT_TIMEOUT, true)));
        check(
            "rfc2217://h:2217?timeout=0.5&ign_set_control",
            Ok((Duration::from_millis(500), false)),
        );
        check(
            "rfc2217://h:2217?timeout=never",
            Err("option timeout=\"never\""),
        );
        check(
            "rfc2217://h:2217?logging=debug",
            Err("unknown option \"logging\"; accepted options: timeout="),
        );
        check("rfc2217://h", Err("no port number"));
    }
}
