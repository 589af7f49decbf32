//! Serve a simulated chip over RFC 2217 on 127.0.0.1, so that any RFC 2217 client (esptool
//! through pyserial, our own `rfc2217://` transport) reaches its pins: DTR/RTS from SET_CONTROL
//! go to [`Esp32s3::set_lines`] (IO0 and EN through the usual auto-reset circuit), the speed from
//! SET_BAUDRATE to [`Esp32s3::set_baud`], and wall-clock time to [`Esp32s3::advance`], so the
//! chip's timers run as they would on a board.
//!
//! A paced chip ([`super::SimConfig::pace`]) charges the line at the speed the client sets with
//! SET_BAUDRATE, and its output goes out when it reaches the host in the chip's time (the loop
//! wakes for it).
//!
//! One client at a time; others wait in the listen queue until it leaves. Every COM-PORT-OPTION
//! request is answered at once with its code + 100 and the value now in effect, which is what
//! pyserial (and so esptool) waits for; BINARY, SGA and COM-PORT-OPTION are agreed to in both
//! directions and every other telnet option refused (ECHO above all). When a client leaves, both
//! lines are released, as closing a serial port drops DTR and RTS. Owns only the socket loop and
//! the server side of the telnet dialogue (the wire format is the pure codec
//! `protocol::telnet`, shared with the `rfc2217://` client); the chip model knows nothing of it.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Esp32s3, SimError};
use crate::protocol::telnet::{
    BINARY, COM_PORT_OPTION, DO, DONT, Decoder, SGA, Telnet, WILL, WONT, code, control, escape,
    negotiation, subnegotiation,
};

/// How long one wait for client input lasts (also the stop-flag and accept period): the chip's
/// clock and its spontaneous output move in steps of about this much.
const POLL: Duration = Duration::from_millis(10);
/// The shortest wait for client input when paced output is due sooner (a zero timeout would
/// mean "block" to the socket).
const MIN_WAIT: Duration = Duration::from_millis(1);
/// How often dirty flash is written to the flash file while serving.
const PERSIST_EVERY: Duration = Duration::from_millis(500);
/// How long a client may leave the chip's output unread before it is dropped.
const WRITE_STALL: Duration = Duration::from_secs(2);
/// What SIGNATURE requests are answered with.
const SIGNATURE: &str = "cargo-esp32s3 virtual ESP32-S3";

/// A chip served over RFC 2217.
#[derive(Debug)]
pub struct Rfc2217Server {
    chip: Esp32s3,
    listener: TcpListener,
    address: SocketAddr,
    stop: StopHandle,
}

/// Stops a running simulator server ([`Rfc2217Server::serve`], and on unix `pty::PtyServer::serve`,
/// which uses this same type) from another thread (or a signal handler's watcher). It lives here
/// because this is the server module every platform has.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Ask the server to return (within one of its poll periods: about 10 ms over RFC 2217,
    /// 50 ms on a pty).
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once [`StopHandle::stop`] was called on this handle or any clone of it.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// True when a read failed only because the client sent nothing within the poll period (or a
/// signal came first): the session goes on.
fn nothing_yet(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

fn socket_error(action: &'static str) -> impl FnOnce(std::io::Error) -> SimError {
    move |source| SimError::Socket { action, source }
}

impl Rfc2217Server {
    /// Listen on 127.0.0.1:`port` (0 picks a free port) for `chip`.
    pub fn bind(mut chip: Esp32s3, port: u16) -> Result<Self, SimError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(socket_error("listen on the port of"))?;
        listener
            .set_nonblocking(true)
            .map_err(socket_error("set up"))?;
        let address = listener.local_addr().map_err(socket_error("set up"))?;
        // What the chip printed before anyone could listen (the power-on banner) is gone.
        chip.take_output();
        Ok(Rfc2217Server {
            chip,
            listener,
            address,
            stop: StopHandle::default(),
        })
    }

    /// The address clients connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The URL clients open: `rfc2217://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("rfc2217://{}", self.address)
    }

    /// A handle that stops [`Rfc2217Server::serve`].
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serve clients one after another until stopped. Returns the chip (flash written back to
    /// its file, if any).
    pub fn serve(mut self) -> Result<Esp32s3, SimError> {
        let mut session: Option<Session> = None;
        let mut clock = Instant::now();
        let mut last_persist = Instant::now();
        while !self.stop.is_stopped() {
            match session.as_mut() {
                None => match self.listener.accept() {
                    Ok((stream, _)) => match Session::start(stream) {
                        Ok(started) => {
                            // Nobody heard what the chip said while no client was there.
                            self.chip.take_output();
                            session = Some(started);
                        }
                        Err(_) => std::thread::sleep(POLL),
                    },
                    Err(_) => {
                        self.chip.take_output();
                        std::thread::sleep(POLL);
                    }
                },
                Some(active) => {
                    // A paced chip's next output may be due before the usual poll period ends.
                    let wait = match self.chip.next_output_in() {
                        Some(due) if self.chip.is_paced() => due.clamp(MIN_WAIT, POLL),
                        _ => POLL,
                    };
                    if active.stream.set_read_timeout(Some(wait)).is_err()
                        || active.exchange(&mut self.chip).is_err()
                    {
                        // The client left (or broke the link): its port closes, as does a
                        // serial port's, which releases DTR and RTS.
                        self.chip.set_lines(false, false);
                        session = None;
                    }
                }
            }
            let now = Instant::now();
            self.chip.advance(now.saturating_duration_since(clock));
            clock = now;
            if self.chip.flash().is_dirty() && last_persist.elapsed() >= PERSIST_EVERY {
                self.chip.persist()?;
                last_persist = Instant::now();
            }
        }
        self.chip.persist()?;
        Ok(self.chip)
    }
}

/// One connected client.
struct Session {
    stream: TcpStream,
    decoder: Decoder,
    /// Negotiations already sent, so that an answer to an answer never loops.
    sent: Vec<[u8; 2]>,
    dtr: bool,
    rts: bool,
    baud: u32,
    datasize: u8,
    parity: u8,
    stopsize: u8,
}

/// The session is over (the client left or the link broke).
struct Closed;

impl Session {
    fn start(stream: TcpStream) -> std::io::Result<Self> {
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL))?;
        stream.set_write_timeout(Some(WRITE_STALL))?;
        Ok(Session {
            stream,
            decoder: Decoder::new(),
            sent: Vec::new(),
            dtr: false,
            rts: false,
            baud: 115_200,
            datasize: 8,
            parity: 1,
            stopsize: 1,
        })
    }

    /// Wait up to [`POLL`] for the client, act on what it sent, and send it what the chip
    /// said and the answers, in the order they arose.
    fn exchange(&mut self, chip: &mut Esp32s3) -> Result<(), Closed> {
        let mut buf = [0u8; 0x4000];
        let received = match self.stream.read(&mut buf) {
            Ok(0) => return Err(Closed),
            Ok(n) => buf.get(..n).unwrap_or_default(),
            Err(e) if nothing_yet(&e) => &[],
            Err(_) => return Err(Closed),
        };
        let mut wire = escape(&chip.take_output());
        for item in self.decoder.feed(received) {
            match item {
                Telnet::Data(bytes) => {
                    chip.receive(&bytes);
                    wire.extend(escape(&chip.take_output()));
                }
                Telnet::Negotiate { verb, option } => {
                    self.answer_negotiation(verb, option, &mut wire)
                }
                Telnet::Subnegotiation(bytes) => {
                    if let [COM_PORT_OPTION, request, value @ ..] = bytes.as_slice() {
                        self.answer_request(*request, value, chip, &mut wire);
                    }
                }
                Telnet::Command(_) => {}
            }
        }
        if wire.is_empty() {
            return Ok(());
        }
        // A client that stops reading for WRITE_STALL is treated as gone.
        self.stream.write_all(&wire).map_err(|_| Closed)
    }

    fn negotiate(&mut self, verb: u8, option: u8, wire: &mut Vec<u8>) {
        if !self.sent.contains(&[verb, option]) {
            self.sent.push([verb, option]);
            wire.extend(negotiation(verb, option));
        }
    }

    fn answer_negotiation(&mut self, verb: u8, option: u8, wire: &mut Vec<u8>) {
        let agreed = matches!(option, BINARY | SGA | COM_PORT_OPTION);
        match verb {
            WILL if agreed => self.negotiate(DO, option, wire),
            WILL => self.negotiate(DONT, option, wire),
            DO if agreed => self.negotiate(WILL, option, wire),
            DO => self.negotiate(WONT, option, wire),
            _ => {}
        }
    }

    /// Apply one COM-PORT-OPTION request and answer it with the value now in effect.
    fn answer_request(
        &mut self,
        request: u8,
        value: &[u8],
        chip: &mut Esp32s3,
        wire: &mut Vec<u8>,
    ) {
        let first = value.first().copied().unwrap_or(0);
        let answer: Vec<u8> = match request {
            code::SIGNATURE => SIGNATURE.as_bytes().to_vec(),
            code::SET_BAUDRATE => {
                let asked = value
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map_or(0, u32::from_be_bytes);
                // 0 asks for the current speed.
                if asked != 0 {
                    self.baud = asked;
                    chip.set_baud(asked);
                }
                self.baud.to_be_bytes().to_vec()
            }
            code::SET_DATASIZE => vec![Self::setting(&mut self.datasize, first)],
            code::SET_PARITY => vec![Self::setting(&mut self.parity, first)],
            code::SET_STOPSIZE => vec![Self::setting(&mut self.stopsize, first)],
            code::SET_CONTROL => vec![self.control(first, chip)],
            code::PURGE_DATA => {
                // 1 and 3 purge what the device sent that is still in the server. (What is
                // already queued for the client ahead of this answer, the client drops.)
                if first & 1 != 0 {
                    chip.take_output();
                }
                vec![first]
            }
            code::SET_LINESTATE_MASK | code::SET_MODEMSTATE_MASK => vec![first],
            // Notifications, flow-control suspend/resume and unknown codes get no answer.
            _ => return,
        };
        wire.extend(subnegotiation(request + code::SERVER_OFFSET, &answer));
    }

    /// A data-size/parity/stop-size request: 0 asks, anything else sets (the model does not
    /// frame bits, so every framing is taken).
    fn setting(current: &mut u8, asked: u8) -> u8 {
        if asked != 0 {
            *current = asked;
        }
        *current
    }

    /// A SET_CONTROL request: DTR/RTS go to the pins; queries answer the current state; flow
    /// control and break requests are taken as asked.
    fn control(&mut self, value: u8, chip: &mut Esp32s3) -> u8 {
        let on_off = |on: bool, yes: u8, no: u8| if on { yes } else { no };
        match value {
            control::DTR_ON | control::DTR_OFF => {
                self.dtr = value == control::DTR_ON;
                chip.set_lines(self.dtr, self.rts);
                value
            }
            control::RTS_ON | control::RTS_OFF => {
                self.rts = value == control::RTS_ON;
                chip.set_lines(self.dtr, self.rts);
                value
            }
            control::DTR_QUERY => on_off(self.dtr, control::DTR_ON, control::DTR_OFF),
            control::RTS_QUERY => on_off(self.rts, control::RTS_ON, control::RTS_OFF),
            // Flow control query: none.
            0 => control::NO_FLOW_CONTROL,
            // Break state query: off.
            4 => 6,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Personality, SimConfig, StartIn};

    fn chip(start_in: StartIn) -> Esp32s3 {
        Esp32s3::new(SimConfig {
            start_in,
            ..SimConfig::default()
        })
        .expect("chip")
    }

    /// Answers as the server would write them for `requests` (each `[code, value...]`).
    fn answers(chip: &mut Esp32s3, requests: &[&[u8]]) -> Vec<Vec<u8>> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("listener");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server_side, _) = listener.accept().expect("accept");
        let mut session = Session::start(server_side).expect("session");
        let mut wire = Vec::new();
        for request in requests {
            if let [request, value @ ..] = request {
                session.answer_request(*request, value, chip, &mut wire);
            }
        }
        drop(client);
        let mut decoder = Decoder::new();
        decoder
            .feed(&wire)
            .into_iter()
            .filter_map(|item| match item {
                Telnet::Subnegotiation(bytes) => Some(bytes),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn requests_are_answered_with_the_value_in_effect() {
        let mut chip = chip(StartIn::SpiBoot);
        let got = answers(
            &mut chip,
            &[
                &[code::SET_BAUDRATE, 0, 0x07, 0x08, 0x00],
                &[code::SET_BAUDRATE, 0, 0, 0, 0],
                &[code::SET_DATASIZE, 8],
                &[code::SET_PARITY, 0],
                &[code::SET_CONTROL, control::DTR_ON],
                &[code::SET_CONTROL, control::DTR_QUERY],
                &[code::SET_CONTROL, control::RTS_QUERY],
                &[code::PURGE_DATA, 3],
                &[code::NOTIFY_MODEMSTATE, 0],
                &[code::SET_CONTROL, 0xFF],
            ],
        );
        assert_eq!(
            got,
            vec![
                vec![44, 101, 0, 0x07, 0x08, 0x00],
                vec![44, 101, 0, 0x07, 0x08, 0x00],
                vec![44, 102, 8],
                vec![44, 103, 1],
                vec![44, 105, control::DTR_ON],
                vec![44, 105, control::DTR_ON],
                vec![44, 105, control::RTS_OFF],
                vec![44, 112, 3],
                // No answer to the notification; 0xFF survives IAC doubling.
                vec![44, 105, 0xFF],
            ]
        );
    }

    #[test]
    fn set_control_drives_the_pins() {
        let mut chip = chip(StartIn::SpiBoot);
        let resets = chip.resets();
        // The classic reset: EN low, then released while IO0 is held low.
        answers(
            &mut chip,
            &[
                &[code::SET_CONTROL, control::DTR_OFF],
                &[code::SET_CONTROL, control::RTS_ON],
                &[code::SET_CONTROL, control::DTR_ON],
                &[code::SET_CONTROL, control::RTS_OFF],
                &[code::SET_CONTROL, control::DTR_OFF],
            ],
        );
        // Time for the boot after EN rises, on a model where booting takes time.
        chip.advance(Duration::from_millis(100));
        assert_eq!(chip.resets(), resets + 1);
        assert_eq!(chip.personality(), Personality::RomLoader);
    }
}
