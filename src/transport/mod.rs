//! The byte channel to a chip: the [`Transport`] trait and its implementations.
//!
//! Everything above this module (reset, loader, flasher, monitor) is generic over [`Transport`],
//! so the same code runs on a real serial port, on the in-process simulator (`sim://`), on a raw
//! TCP bridge (`socket://`) and on an RFC 2217 server (`rfc2217://`). [`open`] is the one place
//! that maps a port name or URL to its transport; `url.rs` is the one parser of port URLs and
//! `usb.rs` the one list of Espressif's USB ids. Only `serial.rs` names the `serialport` crate.

pub mod rfc2217;
pub mod serial;
pub mod shared;
pub mod sim;
pub mod tcp;
pub mod trace;
pub(crate) mod url;
pub mod usb;

pub use url::PortIdentity;

use std::time::Instant;

/// The transport every command works on, whatever [`open`] returned: a serial port, a network
/// port or the virtual chip.
pub type AnyTransport = Box<dyn Transport>;

/// What [`open`] accepts, for error messages.
const ACCEPTED_PORTS: &str = "use a serial port name (/dev/ttyUSB0, COM3), sim:// (the virtual chip), socket://HOST:PORT (a raw TCP bridge) or rfc2217://HOST:PORT (an RFC 2217 server)";

/// Open the port `url` names, at `baud`:
///
/// - `sim://[?options]`: the in-process virtual chip ([`sim::SimTransport`]);
/// - `socket://host:port`: a raw TCP bridge ([`tcp::TcpTransport`]; no modem lines, and the
///   bridge keeps its own speed);
/// - `rfc2217://host:port[?options]`: an RFC 2217 server ([`rfc2217::Rfc2217Transport`]);
/// - `usb:VID:PID` or `usb-serial:SERIAL`: the one serial port of this machine with that USB
///   identity ([`PortIdentity`], resolved by [`serial::resolve_identity`]);
/// - anything else without a `scheme://`: a serial port ([`serial::SerialTransport`]).
///
/// An unknown scheme (`tcp://`, say) is an [`TransportError::InvalidPort`] that lists what is
/// accepted; network ports connect within a few seconds or fail with
/// [`TransportError::Unreachable`].
pub fn open(url: &str, baud: u32) -> Result<AnyTransport, TransportError> {
    if let Some(identity) = PortIdentity::parse(url) {
        let name = serial::resolve_identity(&identity?, &serial::list_ports())?;
        return Ok(Box::new(serial::SerialTransport::open(&name, baud)?));
    }
    match url::scheme(url) {
        None => Ok(Box::new(serial::SerialTransport::open(url, baud)?)),
        Some("sim") => {
            let mut chip = sim::SimTransport::open(url)?;
            if chip.baud() != baud {
                chip.set_baud(baud)?;
            }
            Ok(Box::new(chip))
        }
        Some("socket") => Ok(Box::new(tcp::TcpTransport::open(url, baud)?)),
        Some("rfc2217") => Ok(Box::new(rfc2217::Rfc2217Transport::open(url, baud)?)),
        Some(other) => Err(TransportError::InvalidPort {
            port: url.to_string(),
            reason: format!("{other}:// is not a known kind of port; {ACCEPTED_PORTS}"),
        }),
    }
}

/// A failure of the byte channel itself (not of the protocol on top of it).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The port does not exist.
    #[error(
        "serial port {port} does not exist; run `cargo esp32s3 list-ports` to see the ports there are"
    )]
    NotFound {
        /// Port name.
        port: String,
    },
    /// The port is open in another program.
    #[error(
        "serial port {port} is busy (another program has it open, e.g. a monitor); close that program and try again"
    )]
    Busy {
        /// Port name.
        port: String,
    },
    /// Permission denied.
    #[error("permission denied opening {port}; {hint}")]
    PermissionDenied {
        /// Port name.
        port: String,
        /// What to do on this platform.
        hint: String,
    },
    /// The device went away (unplugged, reset re-enumerated it).
    #[error(
        "the device on {port} disappeared ({detail}); check the cable and that the board is still connected"
    )]
    Disconnected {
        /// Port name.
        port: String,
        /// What the OS said.
        detail: String,
    },
    /// No port of this machine has the USB identity asked for.
    #[error(
        "no serial port has the USB identity {identity} (ports: {}); connect the board, or check the identity with `cargo esp32s3 list-ports`",
        if ports.is_empty() { "none".to_string() } else { ports.join(", ") }
    )]
    NoPortWithIdentity {
        /// The identity (`usb:303a:1001`).
        identity: String,
        /// The ports there are, described.
        ports: Vec<String>,
    },
    /// Several ports have the USB identity asked for.
    #[error(
        "{} serial ports have the USB identity {identity} ({}); name one by its serial number with usb-serial:SERIAL, or by its path",
        ports.len(),
        ports.join(", ")
    )]
    SeveralPortsWithIdentity {
        /// The identity.
        identity: String,
        /// The ports that have it, described.
        ports: Vec<String>,
    },
    /// A port URL or name we cannot handle.
    #[error("invalid port {port:?}: {reason}")]
    InvalidPort {
        /// What was given.
        port: String,
        /// Why it is refused, and what is accepted.
        reason: String,
    },
    /// A network port (`socket://`, `rfc2217://`) could not be reached.
    #[error(
        "cannot connect to {port} ({detail}); check that the server is running and that host and port are right"
    )]
    Unreachable {
        /// The port URL.
        port: String,
        /// What the OS said, or that the connect timed out.
        detail: String,
    },
    /// The port has no DTR/RTS lines (a raw TCP bridge), so it cannot reset the chip.
    #[error(
        "{port} has no DTR/RTS lines (raw TCP), so it cannot reset the chip; put the chip into download mode by hand, or use rfc2217:// with a bridge that carries the lines"
    )]
    NoControlLines {
        /// The port URL.
        port: String,
    },
    /// The far end of an `rfc2217://` port broke the RFC 2217 protocol or did not answer it.
    #[error("{port}: {detail}")]
    Remote {
        /// The port URL.
        port: String,
        /// What went wrong and what to do.
        detail: String,
    },
    /// Any other I/O failure.
    #[error("I/O error on {port}: {source}")]
    Io {
        /// Port name.
        port: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A bidirectional byte channel with modem control lines.
///
/// Semantics follow pyserial's (which esptool and every ESP reset circuit assume): `set_dtr(true)`
/// and `set_rts(true)` *assert* the line, which drives it low.
pub trait Transport: Send {
    /// Read whatever is available into `buf`, waiting until `deadline` at most.
    ///
    /// `Ok(0)` means "nothing more will arrive before `deadline`", and it may come before the
    /// deadline: a serial port returns it when the deadline has passed, but the in-process
    /// simulator answers synchronously inside `write_all`, so when nothing is buffered nothing
    /// can arrive until the next write, and it returns `Ok(0)` at once. An implementation must
    /// not return `Ok(0)` early while bytes could still arrive in time (a serial read cut short
    /// by a signal, say, is retried until the deadline). Callers therefore take the first
    /// `Ok(0)` as the end of the wait: the loader's reply wait (`next_item` in
    /// `src/loader.rs`) stops on it instead of spinning to its own deadline, and loops only
    /// while bytes keep coming. A caller that must wait out a period regardless (a quiet time)
    /// has to loop until its own deadline itself.
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError>;
    /// Write all bytes.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError>;
    /// Wait until written bytes have left the host.
    fn flush(&mut self) -> Result<(), TransportError>;
    /// Drop any bytes received but not yet read.
    fn clear_input(&mut self) -> Result<(), TransportError>;
    /// Assert (`true`) or release DTR.
    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError>;
    /// Assert (`true`) or release RTS.
    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError>;
    /// Set both lines at once where the platform can (esptool's UnixTight reset); the default sets
    /// DTR then RTS.
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.set_dtr(dtr)?;
        self.set_rts(rts)
    }
    /// Change the line speed.
    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError>;
    /// Current line speed.
    fn baud(&self) -> u32;
    /// Whether [`Transport::set_baud`] changes the speed on the chip's side of the link. A raw
    /// TCP bridge (`socket://`) runs its serial side at a speed set on the bridge, so the loader
    /// must not ask the chip to switch (the chip would then talk at a speed the bridge does
    /// not).
    fn can_change_baud(&self) -> bool {
        true
    }
    /// Human-readable name for messages (`/dev/ttyUSB0`, `sim://`).
    fn describe(&self) -> String;
    /// USB vendor and product id, when the transport is a USB serial device.
    fn usb_ids(&self) -> Option<(u16, u16)> {
        None
    }
    /// Let `duration` pass on the line (a reset sequence's delay). A real port sleeps; the
    /// in-process simulator advances its own clock instead, and a recording transport records
    /// the delay, so tests check timings exactly without waiting for them.
    fn pause(&mut self, duration: std::time::Duration) {
        std::thread::sleep(duration);
    }
    /// Whose time the link runs on: the wall clock, or the in-process simulator's own clock
    /// (so that durations measured over `sim://` are the chip's, paced or not). No default: a
    /// wrapper (a trace, a shared port) must pass on its inner link's, or paced durations would
    /// silently fall back to the wall clock.
    fn time(&self) -> LinkTime;
    /// The serial ports there are now, where this port's device is looked for after it
    /// disappeared (a USB cable pulled, a device that re-enumerated): the machine's port list
    /// for a serial port, the virtual chip's own port for `sim://`. `None` (the default): the
    /// port is no device (a network port ends when it closes).
    fn ports_now(&mut self) -> Option<Vec<serial::PortInfo>> {
        None
    }
    /// Open the port again, in place, at `path` (where its device came back, as
    /// [`Transport::ports_now`] listed it), at [`crate::loader::ROM_BAUD`] with both lines
    /// released. The default cannot: the port is no device.
    fn reopen(&mut self, path: &str) -> Result<(), TransportError> {
        Err(TransportError::NotFound {
            port: path.to_string(),
        })
    }
}

/// Whose time a link runs on ([`Transport::time`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTime {
    /// A real line: durations are wall-clock time.
    Wall,
    /// The in-process simulator's virtual clock.
    Simulated {
        /// The chip's time now.
        now: Instant,
        /// True when the simulator charges real time for the line, the flash and the CPU; false
        /// when it answers at once (then durations say nothing about a real board).
        paced: bool,
    },
}

impl LinkTime {
    /// Now, on this link's clock.
    pub fn now(self) -> Instant {
        match self {
            LinkTime::Wall => Instant::now(),
            LinkTime::Simulated { now, .. } => now,
        }
    }

    /// True when the link is the simulator answering at once.
    pub fn unpaced(self) -> bool {
        matches!(self, LinkTime::Simulated { paced: false, .. })
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        (**self).read(buf, deadline)
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        (**self).write_all(bytes)
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        (**self).flush()
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        (**self).clear_input()
    }
    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        (**self).set_dtr(asserted)
    }
    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        (**self).set_rts(asserted)
    }
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        (**self).set_dtr_rts(dtr, rts)
    }
    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        (**self).set_baud(baud)
    }
    fn baud(&self) -> u32 {
        (**self).baud()
    }
    fn can_change_baud(&self) -> bool {
        (**self).can_change_baud()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn usb_ids(&self) -> Option<(u16, u16)> {
        (**self).usb_ids()
    }
    fn pause(&mut self, duration: std::time::Duration) {
        (**self).pause(duration)
    }
    fn time(&self) -> LinkTime {
        (**self).time()
    }
    fn ports_now(&mut self) -> Option<Vec<serial::PortInfo>> {
        (**self).ports_now()
    }
    fn reopen(&mut self, path: &str) -> Result<(), TransportError> {
        (**self).reopen(path)
    }
}
