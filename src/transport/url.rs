//! Port URLs, parsed in one place: whether a port name is a URL at all ([`scheme`]), its split
//! into `scheme://authority[?key=value&...]` ([`PortUrl`]) with percent-decoded options, and the
//! `HOST:PORT` authority of the network schemes ([`NetUrl`], IPv6 in brackets), and the USB
//! identities that stand for a serial port (`usb:303a:1001`, `usb-serial:SERIAL`,
//! [`PortIdentity`]).
//!
//! Every refusal is a [`TransportError::InvalidPort`] that names the URL and says what is
//! accepted. This file knows the syntax only: which options a scheme takes and what they mean
//! belong to its transport (`sim.rs`, `tcp.rs`, `rfc2217.rs`), and so does opening anything.

use super::TransportError;

/// The refusal of `url` for `reason` (which says what is accepted).
pub(crate) fn invalid(url: &str, reason: impl Into<String>) -> TransportError {
    TransportError::InvalidPort {
        port: url.to_string(),
        reason: reason.into(),
    }
}

/// The scheme of `port` when it is a URL (`sim` for `sim://?size=4MB`), or `None` for a serial
/// port name (`/dev/ttyUSB0`, `COM3`). A scheme is ASCII letters, digits, `+`, `-` and `.`.
pub(crate) fn scheme(port: &str) -> Option<&str> {
    port.split_once("://")
        .map(|(scheme, _)| scheme)
        .filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
}

/// A port named by its USB identity rather than its path, so that it is found whatever path the
/// board gets (`/dev/ttyACM0` today, `/dev/ttyACM1` after a replug): `usb:VID:PID` in hex
/// (`usb:303a:1001`, the chip's own USB-Serial/JTAG) or `usb-serial:SERIAL` (the USB serial
/// number `list-ports` shows). The ports of the machine are matched when it is opened
/// (`serial::resolve_identity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortIdentity {
    /// A USB vendor and product id.
    Usb {
        /// Vendor id.
        vid: u16,
        /// Product id.
        pid: u16,
    },
    /// A USB serial number (compared without regard to case).
    UsbSerial(String),
}

impl PortIdentity {
    /// `None` when `port` is not written as an identity (a path, a URL), else the identity or
    /// why it is malformed.
    pub fn parse(port: &str) -> Option<Result<Self, TransportError>> {
        if let Some(serial) = port.strip_prefix("usb-serial:") {
            return Some(if serial.trim().is_empty() {
                Err(invalid(
                    port,
                    "usb-serial: needs the USB serial number, as `cargo esp32s3 list-ports` shows it (usb-serial:F4:12:FA:00:00:00)",
                ))
            } else {
                Ok(PortIdentity::UsbSerial(serial.trim().to_string()))
            });
        }
        let ids = port.strip_prefix("usb:")?;
        let hex = |text: &str| {
            let text = text.trim();
            let text = text
                .strip_prefix("0x")
                .or_else(|| text.strip_prefix("0X"))
                .unwrap_or(text);
            (!text.is_empty() && text.len() <= 4)
                .then(|| u16::from_str_radix(text, 16).ok())
                .flatten()
        };
        Some(match ids.split_once(':').map(|(v, p)| (hex(v), hex(p))) {
            Some((Some(vid), Some(pid))) => Ok(PortIdentity::Usb { vid, pid }),
            _ => Err(invalid(
                port,
                "usb: takes the vendor and product id in hex, as `cargo esp32s3 list-ports` shows them (usb:303a:1001)",
            )),
        })
    }

    /// True when a port with these USB ids and serial number has this identity.
    pub fn matches(&self, vid: Option<u16>, pid: Option<u16>, serial: Option<&str>) -> bool {
        match self {
            PortIdentity::Usb { vid: v, pid: p } => vid == Some(*v) && pid == Some(*p),
            PortIdentity::UsbSerial(wanted) => {
                serial.is_some_and(|s| s.trim().eq_ignore_ascii_case(wanted))
            }
        }
    }
}

impl std::fmt::Display for PortIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortIdentity::Usb { vid, pid } => write!(f, "usb:{vid:04x}:{pid:04x}"),
            PortIdentity::UsbSerial(serial) => write!(f, "usb-serial:{serial}"),
        }
    }
}

/// A port URL split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortUrl {
    /// What comes between `://` and `?` (`host:port`, or nothing), without one trailing `/`.
    pub(crate) authority: String,
    /// The `key=value` options after `?`, in order, values percent-decoded (`%20` and `+` are a
    /// space); a bare `key` has an empty value.
    pub(crate) options: Vec<(String, String)>,
}

impl PortUrl {
    /// Split `url`, which must start with `scheme://`; when it does not, the error's reason is
    /// `expected` (which says what a URL of this scheme looks like).
    pub(crate) fn parse(url: &str, scheme: &str, expected: &str) -> Result<Self, TransportError> {
        let rest = url
            .strip_prefix(scheme)
            .and_then(|r| r.strip_prefix("://"))
            .ok_or_else(|| invalid(url, expected))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        let options = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (key.to_string(), percent_decode(value))
            })
            .collect();
        Ok(PortUrl {
            authority: authority.to_string(),
            options,
        })
    }
}

/// A parsed `scheme://HOST:PORT[/][?options]` (`socket://`, `rfc2217://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetUrl {
    /// Host name or address, without IPv6 brackets.
    pub(crate) host: String,
    /// TCP port (never 0).
    pub(crate) port: u16,
    /// The options, as [`PortUrl::options`].
    pub(crate) options: Vec<(String, String)>,
}

impl NetUrl {
    /// Parse `url` as `scheme://HOST:PORT` with options; the errors give an example of the form.
    pub(crate) fn parse(url: &str, scheme: &str) -> Result<Self, TransportError> {
        let example = format!("{scheme}://HOST:PORT, for example {scheme}://192.168.1.20:4000");
        let PortUrl { authority, options } =
            PortUrl::parse(url, scheme, &format!("expected {example}"))?;
        let no_port = || invalid(url, format!("no port number; expected {example}"));
        let (host, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
            // [::1]:4000
            let (host, after) = bracketed.split_once(']').ok_or_else(|| {
                invalid(
                    url,
                    format!("an IPv6 address needs a closing ']'; expected {example}"),
                )
            })?;
            (host, after.strip_prefix(':').ok_or_else(no_port)?)
        } else {
            authority.rsplit_once(':').ok_or_else(no_port)?
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
        Ok(NetUrl {
            host: host.to_string(),
            port,
            options,
        })
    }
}

/// `%XX` escapes decoded and `+` read as a space; a `%` without two hex digits stays as it is,
/// and bytes that are not UTF-8 become U+FFFD.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = (byte == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                i += 3;
            }
            None => {
                out.push(if byte == b'+' { b' ' } else { byte });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        for (port, expected) in [
            ("sim://", Some("sim")),
            ("rfc2217://h:1", Some("rfc2217")),
            ("tcp://x", Some("tcp")),
            ("svn+ssh://x", Some("svn+ssh")),
            ("/dev/ttyUSB0", None),
            ("COM3", None),
            ("://x", None),
            ("a b://x", None),
        ] {
            assert_eq!(scheme(port), expected, "{port}");
        }
    }

    #[test]
    fn options_are_split_and_decoded() {
        let url = PortUrl::parse("sim://?flash=/tmp/a%20b+c.bin&&usb&x=%zz", "sim", "sim://")
            .expect("parses");
        assert_eq!(url.authority, "");
        let want = [("flash", "/tmp/a b c.bin"), ("usb", ""), ("x", "%zz")];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(url.options, want);
        let err = PortUrl::parse("serial://x", "sim", "a sim URL starts with sim://")
            .expect_err("wrong scheme");
        assert_eq!(
            err.to_string(),
            "invalid port \"serial://x\": a sim URL starts with sim://"
        );
        assert_eq!(percent_decode("%e2%82%ac%"), "€%");
    }

    /// Host, port and options of a URL that parses.
    type Parsed<'a> = (&'a str, u16, &'a [(&'a str, &'a str)]);

    fn check(url: &str, expected: Result<Parsed<'_>, &str>) {
        match (NetUrl::parse(url, "socket"), expected) {
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
    fn net_urls() {
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
