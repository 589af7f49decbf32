//! The telnet wire format that RFC 2217 rides on, as pure bytes: data with every 0xFF (IAC)
//! doubled, WILL/WONT/DO/DONT negotiations, and subnegotiations, among them RFC 2217's
//! COM-PORT-OPTION (44) requests and answers (the server answers a request with its code + 100).
//!
//! [`Decoder`] splits a received stream into [`Telnet`] items (keeping its state between reads,
//! so a command may be cut anywhere); [`escape`], [`negotiation`] and [`subnegotiation`] build
//! what goes on the wire; the option, verb and COM-PORT-OPTION code constants name the bytes.
//! Shared by the `rfc2217://` client (`transport::rfc2217`) and the simulator's RFC 2217 server
//! (`sim::rfc2217`), which is why it lives here and not in either. No I/O, no clocks, no
//! sockets; knows nothing of the ROM protocol or of what the data bytes mean.

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

/// The longest subnegotiation kept; longer ones (from a broken peer) are cut.
const MAX_SUBNEGOTIATION: usize = 256;

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
}
