//! The serial-port transport: the only file that names the `serialport` crate.
//!
//! Opens a local serial port (Linux `/dev/ttyUSB0`, macOS `/dev/cu.*`, Windows `COM3`), maps the
//! OS's open errors to [`TransportError`] values that say what to do, reads with deadlines, drives
//! DTR/RTS (both at once on Unix, through TIOCMGET/TIOCMSET), and lists ports with their USB
//! identity for `list-ports`. It knows nothing of the ROM protocol.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, SerialPort as _, SerialPortType};

use super::usb::{self, ESPRESSIF_VID};
use super::{PortIdentity, Transport, TransportError};

#[cfg(unix)]
type NativePort = serialport::TTYPort;
#[cfg(windows)]
type NativePort = serialport::COMPort;

/// How long one write may block before the port is considered stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// USB vendor:product pairs of the bridges found on ESP32-S3 boards.
const KNOWN_BRIDGES: &[(u16, u16)] = &[
    (0x10C4, 0xEA60), // Silicon Labs CP210x
    (0x1A86, 0x7523), // WCH CH340
    (0x1A86, 0x55D4), // WCH CH9102
    (0x0403, 0x6001), // FTDI FT232R
    (0x0403, 0x6010), // FTDI FT2232
    (0x0403, 0x6014), // FTDI FT232H
    (0x0403, 0x6015), // FTDI FT231X
];

/// Whether an OS error code on an open port means the device went away under us (unplugged,
/// re-enumerated): EIO, ENXIO, ENODEV.
#[cfg(unix)]
fn device_gone(code: i32) -> bool {
    [libc::EIO, libc::ENXIO, libc::ENODEV].contains(&code)
}

/// Whether a Win32 error code on an open port means the device went away under us:
/// ERROR_ACCESS_DENIED (5) and ERROR_INVALID_HANDLE (6) on a removed device's handle,
/// ERROR_BAD_COMMAND (22), ERROR_GEN_FAILURE (31), ERROR_OPERATION_ABORTED (995) and
/// ERROR_DEVICE_NOT_CONNECTED (1167) from a USB bridge unplugged mid-transfer.
#[cfg(windows)]
fn device_gone(code: i32) -> bool {
    matches!(code, 5 | 6 | 22 | 31 | 995 | 1167)
}

/// A serial port found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// Name to pass to [`SerialTransport::open`].
    pub name: String,
    /// USB vendor id, when the port is a USB device.
    pub vid: Option<u16>,
    /// USB product id.
    pub pid: Option<u16>,
    /// USB serial number.
    pub serial_number: Option<String>,
    /// USB manufacturer string.
    pub manufacturer: Option<String>,
    /// USB product string.
    pub product: Option<String>,
    /// The chip's own USB-Serial/JTAG controller (303a:1001).
    pub is_espressif_usb_jtag: bool,
    /// A USB bridge found on ESP32-S3 boards (CP210x, CH340, CH9102, FTDI) or any Espressif id.
    pub likely_esp: bool,
}

impl PortInfo {
    fn from_parts(name: String, usb: Option<&serialport::UsbPortInfo>) -> Self {
        let ids = usb.map(|u| (u.vid, u.pid));
        PortInfo {
            name,
            vid: usb.map(|u| u.vid),
            pid: usb.map(|u| u.pid),
            serial_number: usb.and_then(|u| u.serial_number.clone()),
            manufacturer: usb.and_then(|u| u.manufacturer.clone()),
            product: usb.and_then(|u| u.product.clone()),
            is_espressif_usb_jtag: usb::is_usb_serial_jtag(ids),
            likely_esp: ids.is_some_and(is_likely_esp),
        }
    }
}

/// True for USB ids of bridges used on ESP boards and for any Espressif device.
pub fn is_likely_esp((vid, pid): (u16, u16)) -> bool {
    vid == ESPRESSIF_VID || KNOWN_BRIDGES.contains(&(vid, pid))
}

/// List the serial ports of this machine, likely ESP boards first (empty when the OS cannot
/// enumerate them). On macOS only the `/dev/cu.*` side of each port is listed: opening
/// `/dev/tty.*` waits for a carrier that USB bridges never raise.
pub fn list_ports() -> Vec<PortInfo> {
    let Ok(ports) = serialport::available_ports() else {
        return Vec::new();
    };
    let mut out: Vec<PortInfo> = ports
        .iter()
        .filter(|p| !(cfg!(target_os = "macos") && p.port_name.starts_with("/dev/tty.")))
        .map(|p| {
            let usb = match &p.port_type {
                SerialPortType::UsbPort(info) => Some(info),
                _ => None,
            };
            PortInfo::from_parts(p.port_name.clone(), usb)
        })
        .collect();
    out.sort_by(|a, b| b.likely_esp.cmp(&a.likely_esp).then(a.name.cmp(&b.name)));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// The one port of `ports` with `identity` (`usb:303a:1001`, `usb-serial:SERIAL`): its path. No
/// port, or several, is an error naming the ports there are.
pub fn resolve_identity(
    identity: &PortIdentity,
    ports: &[PortInfo],
) -> Result<String, TransportError> {
    let matching: Vec<&PortInfo> = ports
        .iter()
        .filter(|p| identity.matches(p.vid, p.pid, p.serial_number.as_deref()))
        .collect();
    let describe = |p: &PortInfo| {
        let mut text = p.name.clone();
        if let (Some(vid), Some(pid)) = (p.vid, p.pid) {
            text.push_str(&format!(" {vid:04x}:{pid:04x}"));
        }
        if let Some(serial) = &p.serial_number {
            text.push_str(&format!(" serial {serial}"));
        }
        text
    };
    match matching.as_slice() {
        [one] => Ok(one.name.clone()),
        [] => Err(TransportError::NoPortWithIdentity {
            identity: identity.to_string(),
            ports: ports.iter().map(describe).collect(),
        }),
        several => Err(TransportError::SeveralPortsWithIdentity {
            identity: identity.to_string(),
            ports: several.iter().map(|p| describe(p)).collect(),
        }),
    }
}

/// On macOS, the call-out device for a `/dev/tty.*` name when it exists.
fn preferred_name(name: &str) -> String {
    if cfg!(target_os = "macos") {
        if let Some(rest) = name.strip_prefix("/dev/tty.") {
            let cu = format!("/dev/cu.{rest}");
            if std::path::Path::new(&cu).exists() {
                return cu;
            }
        }
    }
    name.to_string()
}

/// A local serial port.
pub struct SerialTransport {
    port: NativePort,
    name: String,
    baud: u32,
    usb_ids: Option<(u16, u16)>,
    /// The last DTR/RTS levels we set, so single-line changes can be written atomically too.
    dtr: bool,
    rts: bool,
}

impl SerialTransport {
    /// Open `name` at `baud` (8N1, no flow control, exclusive).
    pub fn open(name: &str, baud: u32) -> Result<Self, TransportError> {
        let name = preferred_name(name);
        let port = serialport::new(&name, baud)
            .timeout(Duration::from_millis(100))
            .open_native()
            .map_err(|e| open_error(&name, e))?;
        let usb_ids = list_ports()
            .into_iter()
            .find(|p| p.name == name)
            .and_then(|p| p.vid.zip(p.pid));
        Ok(SerialTransport {
            port,
            name,
            baud,
            usb_ids,
            dtr: false,
            rts: false,
        })
    }

    fn io_error(&self, e: std::io::Error) -> TransportError {
        use std::io::ErrorKind as K;
        if e.raw_os_error().is_some_and(device_gone)
            || matches!(
                e.kind(),
                K::BrokenPipe | K::NotConnected | K::UnexpectedEof | K::ConnectionAborted
            )
        {
            return TransportError::Disconnected {
                port: self.name.clone(),
                detail: e.to_string(),
            };
        }
        TransportError::Io {
            port: self.name.clone(),
            source: e,
        }
    }

    fn port_error(&self, e: serialport::Error) -> TransportError {
        // serialport's errors keep no OS error code (a pty whose other side closed, or a USB
        // bridge pulled, fails a baud change with a bare "I/O error"): a device that is gone
        // says so by its missing node (Unix names ports by path; Windows' codes are kept
        // through io_error).
        if e.kind() == serialport::ErrorKind::NoDevice
            || (cfg!(unix) && !std::path::Path::new(&self.name).exists())
        {
            return TransportError::Disconnected {
                port: self.name.clone(),
                detail: e.to_string(),
            };
        }
        self.io_error(std::io::Error::from(e))
    }

    /// Set both lines with one TIOCMSET so the chip never sees an intermediate state.
    #[cfg(unix)]
    fn write_lines(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        use std::os::fd::AsRawFd as _;
        let fd = self.port.as_raw_fd();
        let mut bits: libc::c_int = 0;
        // SAFETY: `fd` is the open descriptor owned by `self.port`; TIOCMGET/TIOCMSET read and
        // write one c_int through the pointer, which points at a live local.
        let got = unsafe { libc::ioctl(fd, libc::TIOCMGET, &mut bits) };
        if got != 0 {
            return Err(self.io_error(std::io::Error::last_os_error()));
        }
        for (line, on) in [(libc::TIOCM_DTR, dtr), (libc::TIOCM_RTS, rts)] {
            if on {
                bits |= line;
            } else {
                bits &= !line;
            }
        }
        // SAFETY: as above.
        let set = unsafe { libc::ioctl(fd, libc::TIOCMSET, &bits) };
        if set != 0 {
            return Err(self.io_error(std::io::Error::last_os_error()));
        }
        self.dtr = dtr;
        self.rts = rts;
        Ok(())
    }

    #[cfg(not(unix))]
    fn write_lines(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.port
            .write_data_terminal_ready(dtr)
            .map_err(|e| self.port_error(e))?;
        self.port
            .write_request_to_send(rts)
            .map_err(|e| self.port_error(e))?;
        // usbser.sys applies DTR only together with the next RTS write; write DTR again.
        self.port
            .write_data_terminal_ready(dtr)
            .map_err(|e| self.port_error(e))?;
        self.dtr = dtr;
        self.rts = rts;
        Ok(())
    }
}

/// Map an open failure to an error that says what to do.
fn open_error(name: &str, e: serialport::Error) -> TransportError {
    use serialport::ErrorKind as S;
    use std::io::ErrorKind as K;
    let port = name.to_string();
    match e.kind() {
        S::Io(K::NotFound) => TransportError::NotFound { port },
        // EBUSY and a failed exclusive lock both come back as NoDevice.
        S::NoDevice => TransportError::Busy { port },
        // Windows reports a port open in another program as "access denied".
        S::Io(K::PermissionDenied) if cfg!(windows) => TransportError::Busy { port },
        S::Io(K::PermissionDenied) => TransportError::PermissionDenied {
            port,
            hint: permission_hint(),
        },
        S::InvalidInput => TransportError::InvalidPort {
            port,
            reason: e.description,
        },
        _ => TransportError::Io {
            port,
            source: std::io::Error::from(e),
        },
    }
}

fn permission_hint() -> String {
    if cfg!(target_os = "linux") {
        "add yourself to the `dialout` group (`uucp` on Arch): `sudo usermod -aG dialout $USER`, then log out and in again".into()
    } else if cfg!(target_os = "macos") {
        "check that no other program holds the port and that the driver for the USB bridge is allowed in System Settings > Privacy & Security".into()
    } else {
        "check that no other program holds the port and that you may use it".into()
    }
}

impl Transport for SerialTransport {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            // At least 1 ms: a zero timeout means "block" to some drivers (Windows COMMTIMEOUTS
            // with a zero total constant), and a deadline in the past should still return what
            // is already buffered.
            let remaining = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            self.port
                .set_timeout(remaining)
                .map_err(|e| self.port_error(e))?;
            return match self.port.read(buf) {
                Ok(n) => Ok(n),
                // A signal is not the deadline: read again for the time that is left.
                Err(e)
                    if e.kind() == std::io::ErrorKind::Interrupted && Instant::now() < deadline =>
                {
                    continue;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    Ok(0)
                }
                Err(e) => Err(self.io_error(e)),
            };
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.port
            .set_timeout(WRITE_TIMEOUT)
            .map_err(|e| self.port_error(e))?;
        self.port.write_all(bytes).map_err(|e| self.io_error(e))
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        self.port.flush().map_err(|e| self.io_error(e))
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.port
            .clear(ClearBuffer::Input)
            .map_err(|e| self.port_error(e))
    }

    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.write_lines(asserted, self.rts)
    }

    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.write_lines(self.dtr, asserted)
    }

    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.write_lines(dtr, rts)
    }

    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        self.port
            .set_baud_rate(baud)
            .map_err(|e| self.port_error(e))?;
        self.baud = baud;
        Ok(())
    }

    fn baud(&self) -> u32 {
        self.baud
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
    fn time(&self) -> crate::transport::LinkTime {
        crate::transport::LinkTime::Wall
    }

    fn ports_now(&mut self) -> Option<Vec<PortInfo>> {
        Some(list_ports())
    }

    fn reopen(&mut self, path: &str) -> Result<(), TransportError> {
        *self = SerialTransport::open(path, crate::loader::ROM_BAUD)?;
        Ok(())
    }

    fn usb_ids(&self) -> Option<(u16, u16)> {
        self.usb_ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usb_port(name: &str, ids: (u16, u16), serial: &str) -> PortInfo {
        let info = serialport::UsbPortInfo {
            vid: ids.0,
            pid: ids.1,
            serial_number: Some(serial.into()),
            manufacturer: None,
            product: None,
        };
        PortInfo::from_parts(name.into(), Some(&info))
    }

    #[test]
    fn usb_identities_match_through_the_port_list() {
        let ports = [
            usb_port("/dev/ttyACM3", (0x303A, 0x1001), "F4:12:FA:00:00:01"),
            usb_port("/dev/ttyUSB0", (0x10C4, 0xEA60), "0001"),
            PortInfo::from_parts("/dev/ttyS0".into(), None),
        ];
        let resolve = |text: &str, ports: &[PortInfo]| {
            let identity = PortIdentity::parse(text)
                .expect("an identity")
                .expect("well formed");
            resolve_identity(&identity, ports)
        };
        // The board is found by what it is, whatever path it got.
        assert_eq!(resolve("usb:303a:1001", &ports).unwrap(), "/dev/ttyACM3");
        assert_eq!(
            resolve("usb:0x10C4:0xea60", &ports).unwrap(),
            "/dev/ttyUSB0"
        );
        assert_eq!(
            resolve("usb-serial:f4:12:fa:00:00:01", &ports).unwrap(),
            "/dev/ttyACM3"
        );
        // Nothing, or two boards of the same kind: named, with what to do.
        let none = resolve("usb:303a:4001", &ports).unwrap_err().to_string();
        assert!(
            none.starts_with("no serial port has the USB identity usb:303a:4001 (ports: /dev/ttyACM3 303a:1001 serial F4:12:FA:00:00:01, /dev/ttyUSB0 10c4:ea60 serial 0001, /dev/ttyS0)"),
            "{none}"
        );
        let mut two = ports.to_vec();
        two.push(usb_port(
            "/dev/ttyACM4",
            (0x303A, 0x1001),
            "F4:12:FA:00:00:02",
        ));
        let several = resolve("usb:303a:1001", &two).unwrap_err().to_string();
        assert!(
            several.starts_with("2 serial ports have the USB identity usb:303a:1001"),
            "{several}"
        );
        assert!(several.contains("usb-serial:SERIAL"), "{several}");
        assert_eq!(
            resolve("usb-serial:F4:12:FA:00:00:02", &two).unwrap(),
            "/dev/ttyACM4"
        );
        // Paths and URLs are not identities; malformed identities say what is expected.
        assert!(PortIdentity::parse("/dev/ttyUSB0").is_none());
        assert!(PortIdentity::parse("sim://").is_none());
        for bad in ["usb:303a", "usb:xyz:1001", "usb-serial:"] {
            let error = PortIdentity::parse(bad).expect("an identity").unwrap_err();
            assert!(error.to_string().contains("list-ports"), "{bad}: {error}");
        }
    }

    #[test]
    fn known_bridges_and_espressif_ids_are_likely_esp() {
        let check = |ids: (u16, u16), expected: bool| {
            assert_eq!(is_likely_esp(ids), expected, "{ids:04x?}")
        };
        check((0x10C4, 0xEA60), true);
        check((0x1A86, 0x7523), true);
        check((0x1A86, 0x55D4), true);
        check((0x0403, 0x6015), true);
        check((0x303A, 0x1001), true);
        check((0x303A, 0x0002), true);
        check((0x046D, 0xC52B), false);
        let info = serialport::UsbPortInfo {
            vid: 0x303A,
            pid: 0x1001,
            serial_number: Some("F4:12:FA:00:00:01".into()),
            manufacturer: Some("Espressif".into()),
            product: Some("USB JTAG/serial debug unit".into()),
        };
        let port = PortInfo::from_parts("/dev/ttyACM0".into(), Some(&info));
        assert!(port.is_espressif_usb_jtag && port.likely_esp);
        let plain = PortInfo::from_parts("/dev/ttyS0".into(), None);
        assert!(!plain.is_espressif_usb_jtag && !plain.likely_esp && plain.vid.is_none());
    }

    #[test]
    fn open_errors_say_what_to_do() {
        let missing = SerialTransport::open("/dev/does-not-exist-esp32s3", 115_200)
            .err()
            .expect("no such port");
        assert!(
            matches!(missing, TransportError::NotFound { .. }),
            "{missing}"
        );
        assert!(missing.to_string().contains("list-ports"));
        let hint = permission_hint();
        if cfg!(target_os = "linux") {
            assert!(hint.contains("dialout") && hint.contains("uucp"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn reads_honour_the_deadline_on_a_pseudo_terminal() {
        let (ours, mut theirs) = serialport::TTYPort::pair().expect("a pty pair");
        let mut t = SerialTransport {
            port: ours,
            name: "pty".into(),
            baud: 115_200,
            usb_ids: None,
            dtr: false,
            rts: false,
        };
        let mut buf = [0u8; 16];
        let start = Instant::now();
        assert_eq!(
            t.read(&mut buf, start + Duration::from_millis(80))
                .expect("read"),
            0
        );
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(60) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        // A deadline in the past still returns what is already there.
        theirs.write_all(b"OHAI").expect("write");
        std::thread::sleep(Duration::from_millis(20));
        let n = t.read(&mut buf, Instant::now()).expect("read");
        assert_eq!(&buf[..n], b"OHAI");
        t.write_all(b"\xc0\x00\xc0").expect("write");
        t.flush().expect("flush");
        let mut got = [0u8; 3];
        theirs.read_exact(&mut got).expect("read back");
        assert_eq!(got, [0xc0, 0x00, 0xc0]);
    }
}
