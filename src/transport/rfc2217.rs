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
//! The telnet wire format itself (the decoder, IAC escaping, negotiations, the COM-PORT-OPTION
//! codes) is the pure codec `protocol::telnet`, which the simulator's RFC 2217 server shares; the
//! URL is parsed by `url.rs`. This file owns the socket and the client's side of the dialogue.
//! Knows nothing of the ROM protocol.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::tcp;
use super::url::{self, NetUrl};
use super::{Transport, TransportError};
use crate::protocol::telnet::{
    BINARY, COM_PORT_OPTION, DO, DONT, Decoder, SGA, Telnet, WILL, WONT, code, control, escape,
    negotiation, subnegotiation,
};

/// How long to wait for the server's answer to a negotiation or setting unless the URL says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const ACCEPTED_OPTIONS: &str = "timeout=SECONDS (how long to wait for the server's acknowledgements, default 3), ign_set_control (do not wait for DTR/RTS acknowledgements)";

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
        let target = NetUrl::parse(url, "rfc2217")?;
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

/// The URL options: (answer timeout, whether to wait for SET_CONTROL answers).
fn options(url: &str, target: &NetUrl) -> Result<(Duration, bool), TransportError> {
    let invalid = |reason: String| url::invalid(url, reason);
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
    fn time(&self) -> super::LinkTime {
        super::LinkTime::Wall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options() {
        let check = |url: &str, expected: Result<(Duration, bool), &str>| {
            let result = NetUrl::parse(url, "rfc2217").and_then(|t| options(url, &t));
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
