//! `socket://host:port`: the chip's UART reached through a raw TCP bridge (ser2net in raw mode,
//! `socat TCP-LISTEN:...`, a Wi-Fi serial bridge): bytes go through unchanged.
//!
//! Such a bridge carries no modem lines and no speed: `set_dtr`/`set_rts` fail with
//! [`TransportError::NoControlLines`] (the loader then syncs without a reset and resets
//! afterwards through the watchdog), and the serial speed is whatever the bridge was set up with.
//! `set_baud` therefore only records the number and [`Transport::can_change_baud`] says `false`,
//! so the loader keeps the chip at the bridge's speed instead of switching it to one the bridge
//! does not run. Also owns the connect and socket-error handling that `rfc2217://` shares (the
//! URL is parsed by `url.rs`). Knows nothing of what the bytes mean.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

use super::url::{self, NetUrl};
use super::{Transport, TransportError};

/// How long connecting may take before the port is called unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write may stall (a bridge that stopped reading) before the link counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect to `url`'s host and port, trying each address for at most [`CONNECT_TIMEOUT`].
pub(crate) fn connect(url: &str, target: &NetUrl) -> Result<TcpStream, TransportError> {
    let unreachable = |detail: String| TransportError::Unreachable {
        port: url.to_string(),
        detail,
    };
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve host {:?}: {e}", target.host)))?
        .collect();
    let mut last = format!("host {:?} has no address", target.host);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                // Replies are small packets that the loader waits for: never hold them back.
                stream
                    .set_nodelay(true)
                    .map_err(|e| unreachable(format!("cannot set TCP_NODELAY: {e}")))?;
                stream
                    .set_write_timeout(Some(WRITE_TIMEOUT))
                    .map_err(|e| unreachable(format!("cannot set a write timeout: {e}")))?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!(
                    "no answer from {addr} within {} s",
                    CONNECT_TIMEOUT.as_secs()
                );
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(unreachable(last))
}

/// Map an I/O error on an established connection: the far end going away is `Disconnected`.
pub(crate) fn io_error(url: &str, e: std::io::Error) -> TransportError {
    use std::io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::BrokenPipe
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::UnexpectedEof
    ) {
        return TransportError::Disconnected {
            port: url.to_string(),
            detail: e.to_string(),
        };
    }
    TransportError::Io {
        port: url.to_string(),
        source: e,
    }
}

/// The far end closed the connection.
pub(crate) fn closed(url: &str) -> TransportError {
    TransportError::Disconnected {
        port: url.to_string(),
        detail: "the server closed the connection".into(),
    }
}

/// True when a socket read failed only because nothing arrived within its timeout (or a signal
/// came first): the link is fine, there is just nothing to read yet.
pub(crate) fn nothing_yet(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// One `read` on `stream` that waits until `deadline` at most: `Ok(None)` when the deadline
/// passed with nothing to read, `Ok(Some(0))` never (end of stream is an error).
pub(crate) fn read_until(
    stream: &mut TcpStream,
    url: &str,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<Option<usize>, TransportError> {
    loop {
        // At least 1 ms: a zero timeout is refused, and a deadline in the past should still
        // return what is already buffered.
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        stream
            .set_read_timeout(Some(remaining))
            .map_err(|e| io_error(url, e))?;
        return match stream.read(buf) {
            Ok(0) => Err(closed(url)),
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted && Instant::now() < deadline => {
                continue;
            }
            Err(e) if nothing_yet(&e) => Ok(None),
            Err(e) => Err(io_error(url, e)),
        };
    }
}

/// A raw TCP connection to a serial bridge.
#[derive(Debug)]
pub struct TcpTransport {
    stream: TcpStream,
    url: String,
    baud: u32,
}

impl TcpTransport {
    /// Connect to `socket://host:port`. `baud` is only recorded: the bridge sets the speed.
    pub fn open(url: &str, baud: u32) -> Result<Self, TransportError> {
        let target = NetUrl::parse(url, "socket")?;
        if let Some((key, _)) = target.options.first() {
            return Err(url::invalid(
                url,
                format!("unknown option {key:?}; socket:// takes no options"),
            ));
        }
        let stream = connect(url, &target)?;
        Ok(TcpTransport {
            stream,
            url: url.to_string(),
            baud,
        })
    }
}

impl Transport for TcpTransport {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        if buf.is_empty() {
            return Ok(0);
        }
        Ok(read_until(&mut self.stream, &self.url, buf, deadline)?.unwrap_or(0))
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.stream
            .write_all(bytes)
            .map_err(|e| io_error(&self.url, e))
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        self.stream.flush().map_err(|e| io_error(&self.url, e))
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        // Drop what already arrived; what the bridge still holds cannot be reached.
        let mut scratch = [0u8; 4096];
        self.stream
            .set_nonblocking(true)
            .map_err(|e| io_error(&self.url, e))?;
        let result = loop {
            match self.stream.read(&mut scratch) {
                Ok(0) => break Err(closed(&self.url)),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(io_error(&self.url, e)),
            }
        };
        self.stream
            .set_nonblocking(false)
            .map_err(|e| io_error(&self.url, e))?;
        result
    }

    fn set_dtr(&mut self, _asserted: bool) -> Result<(), TransportError> {
        Err(TransportError::NoControlLines {
            port: self.url.clone(),
        })
    }

    fn set_rts(&mut self, _asserted: bool) -> Result<(), TransportError> {
        Err(TransportError::NoControlLines {
            port: self.url.clone(),
        })
    }

    fn set_dtr_rts(&mut self, _dtr: bool, _rts: bool) -> Result<(), TransportError> {
        Err(TransportError::NoControlLines {
            port: self.url.clone(),
        })
    }

    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        // The bridge's serial side keeps its own speed; see the module docs.
        self.baud = baud;
        Ok(())
    }

    fn baud(&self) -> u32 {
        self.baud
    }

    fn can_change_baud(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
    fn time(&self) -> super::LinkTime {
        super::LinkTime::Wall
    }
}
