//! `socket://host:port`: the chip's UART reached through a raw TCP bridge (ser2net in raw mode,
//! `socat TCP-LISTEN:...`, a Wi-Fi serial bridge): bytes go through unchanged.
//!
//! Such a bridge carries no modem lines and no speed: `set_dtr`/`set_rts` fail with
//! [`TransportError::NoControlLines`] (the loader then syncs without a reset and resets
//! afterwards through the watchdog), and the serial speed is whatever the bridge was set up with.
//! `set_baud` therefore only records the number and [`Transport::can_change_baud`] says `false`,
//! so the loader keeps the chip at the bridge's speed instead of switching it to one the bridge
//! does not run. Also owns the URL and connect handling that `rfc2217://` shares. Knows nothing
//! of what the bytes mean.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

use super::{Transport, TransportError};

/// How long connecting may take before the port is called unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write may stall (a bridge that stopped reading) before the link counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed `scheme://host:port?query` port URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetUrl {
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    /// TCP port (never 0).
    pub port: u16,
    /// `key=value` options after `?`, in order (a bare `key` has an empty value).
    pub options: Vec<(String, String)>,
}

fn invalid(url: &str, reason: impl Into<String>) -> TransportError {
    TransportError::InvalidPort {
        port: url.to_string(),
        reason: reason.into(),
    }
}

/// Split `scheme://host:port[?options]`; `scheme` is `socket` or `rfc2217`.
pub(crate) fn parse_net_url(url: &str, scheme: &str) -> Result<NetUrl, TransportError> {
    let example = format!("{scheme}://HOST:PORT, for example {scheme}://192.168.1.20:4000");
    let rest = url
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or_else(|| invalid(url, format!("expected {example}")))?;
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    let (host, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
        // [::1]:4000
        let (host, after) = bracketed.split_once(']').ok_or_else(|| {
            invalid(
                url,
                format!("an IPv6 address needs a closing ']'; expected {example}"),
            )
        })?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| invalid(url, format!("no port number; expected {example}")))?;
        (host, port)
    } else {
        authority
            .rsplit_once(':')
            .ok_or_else(|| invalid(url, format!("no port number; expected {example}")))?
    };
    if host.is_empty() {
        return Err(invalid(url, format!("no host; expected {example}")));
    }
    let port = port_text
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            invalid(
                url,
                format!("{port_text:?} is not a port number (1 to 65535); expected {example}"),
            )
        })?;
    let options = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key.to_string(), value.to_string())
        })
        .collect();
    Ok(NetUrl {
        host: host.to_string(),
        port,
        options,
    })
}

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
        let target = parse_net_url(url, "socket")?;
        if let Some((key, _)) = target.options.first() {
            return Err(invalid(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host, port and options of a URL that parses.
    type Parsed<'a> = (&'a str, u16, &'a [(&'a str, &'a str)]);

    fn check(url: &str, expected: Result<Parsed<'_>, &str>) {
        match (parse_net_url(url, "socket"), expected) {
            (Ok(got), Ok((host, port, options))) => {
                assert_eq!(got.host, host, "{url}");
                assert_eq!(got.port, port, "{url}");
                let options: Vec<(String, String)> = options
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(got.options, options, "{url}");
            }
            (Err(e), Err(needle)) => {
                let text = e.to_string();
                assert!(text.contains(needle), "{url}: {text}");
                assert!(text.contains("socket://HOST:PORT"), "{url}: {text}");
            }
            (got, expected) => panic!("{url}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn urls() {
        check("socket://127.0.0.1:4000", Ok(("127.0.0.1", 4000, &[])));
        check("socket://board.local:23/", Ok(("board.local", 23, &[])));
        check("socket://[::1]:4000", Ok(("::1", 4000, &[])));
        check(
            "socket://h:1?timeout=2&ign_set_control",
            Ok(("h", 1, &[("timeout", "2"), ("ign_set_control", "")])),
        );
        check("socket://127.0.0.1", Err("no port number"));
        check("socket://127.0.0.1:", Err("\"\" is not a port number"));
        check("socket://127.0.0.1:0", Err("\"0\" is not a port number"));
        check(
            "socket://127.0.0.1:70000",
            Err("\"70000\" is not a port number"),
        );
        check("socket://:4000", Err("no host"));
        check("socket://[::1]4000", Err("no port number"));
        check("socket://[::1:4000", Err("closing ']'"));
        check("rfc2217://h:1", Err("expected socket://"));
    }
}
