//! Finding a serial device again after its port went away: a board on the chip's own
//! USB-Serial/JTAG port re-enumerates after every reset and deep sleep (and a cable wiggle does
//! the same to any USB bridge), sometimes under a new name (`/dev/ttyACM0` becomes
//! `/dev/ttyACM1`, `COM5` becomes `COM6`).
//!
//! [`PortIdentity`] remembers who the device was (its path, and its USB ids and serial number
//! when it has them); [`PortIdentity::find_in`] says where it is now in a port list: at the same
//! path, or under another path with the same USB serial number. [`wait_for_device`] polls a
//! [`PortSource`] (the machine's ports, [`SystemPorts`], or a test's) until the device is back
//! and opens it, while the caller's hook keeps the keyboard alive (an exit key still exits).
//! Network ports and `sim://` are no devices: this does not apply to them.

use std::time::{Duration, Instant};

use super::{Control, MonitorError};
use crate::transport::serial::PortInfo;
use crate::transport::{AnyTransport, TransportError};

/// How often the caller's hook runs while waiting (keys stay responsive).
pub const POLL: Duration = Duration::from_millis(50);

/// How often the port list is read while waiting.
pub const SCAN: Duration = Duration::from_millis(200);

/// The USB identity of a serial device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbIdentity {
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
    /// Serial number (the chip's MAC address on the USB-Serial/JTAG port).
    pub serial_number: String,
}

/// Who a serial device is, to find it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortIdentity {
    /// The path it was opened as (`/dev/ttyACM0`, `/dev/serial/by-id/...`, `COM5`).
    pub path: String,
    /// Its USB identity, when the port list knew one with a serial number.
    pub usb: Option<UsbIdentity>,
}

impl PortIdentity {
    /// The device at `path`, as `ports` (the machine's port list) describes it. `also_named`
    /// is another name of the same path (what a symlink such as `/dev/serial/by-id/...`
    /// resolves to), since port lists name devices by their canonical path.
    pub fn of(path: &str, also_named: Option<&str>, ports: &[PortInfo]) -> PortIdentity {
        let usb = ports
            .iter()
            .find(|p| p.name == path || Some(p.name.as_str()) == also_named)
            .and_then(|p| {
                Some(UsbIdentity {
                    vid: p.vid?,
                    pid: p.pid?,
                    serial_number: p.serial_number.clone().filter(|s| !s.is_empty())?,
                })
            });
        PortIdentity {
            path: path.to_string(),
            usb,
        }
    }

    /// The device behind the port `port`, as the port list `ports` gives (the machine's,
    /// [`crate::transport::serial::list_ports`], asked only for a device) describes it; `None`
    /// for a port that is no device (a `sim://`, `socket://` or `rfc2217://` URL): those end
    /// when they close. A symlink (`/dev/serial/by-id/...`) is looked up by what it resolves to.
    pub fn of_port(port: &str, ports: impl FnOnce() -> Vec<PortInfo>) -> Option<PortIdentity> {
        if crate::transport::url::scheme(port).is_some() {
            return None;
        }
        let resolved = std::fs::canonicalize(port)
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        Some(PortIdentity::of(port, resolved.as_deref(), &ports()))
    }

    /// Where the device is now: its own path when that exists again (`path_exists`), else the
    /// port in `ports` with the same USB ids and serial number. `None` while it is away.
    pub fn find_in(&self, ports: &[PortInfo], path_exists: bool) -> Option<String> {
        if path_exists {
            return Some(self.path.clone());
        }
        let usb = self.usb.as_ref()?;
        ports
            .iter()
            .find(|p| {
                p.vid == Some(usb.vid)
                    && p.pid == Some(usb.pid)
                    && p.serial_number.as_deref() == Some(usb.serial_number.as_str())
            })
            .map(|p| p.name.clone())
    }

    /// How the device is described in messages: its path, and its serial number.
    pub fn describe(&self) -> String {
        match &self.usb {
            Some(usb) => format!("{} (serial number {})", self.path, usb.serial_number),
            None => self.path.clone(),
        }
    }
}

/// Whether `error` says the port went away (the device was unplugged, or re-enumerated: the
/// chip's own USB port does when the chip restarts into its firmware, so a reset can end with
/// this). A monitor then waits for the device ([`wait_for_device`]).
pub fn port_went_away(error: &crate::Error) -> bool {
    matches!(
        error,
        crate::Error::Transport(TransportError::Disconnected { .. })
            | crate::Error::Loader(crate::loader::LoaderError::Transport(
                TransportError::Disconnected { .. }
            ))
            | crate::Error::Monitor(super::MonitorError::Transport(
                TransportError::Disconnected { .. }
            ))
    )
}

/// Where ports come from: the machine's ([`SystemPorts`]) or a test's.
pub trait PortSource {
    /// The serial ports there are now.
    fn ports(&mut self) -> Vec<PortInfo>;
    /// Whether `path` names a device now.
    fn exists(&mut self, path: &str) -> bool;
    /// Open `path` for the monitor.
    fn open(&mut self, path: &str) -> Result<AnyTransport, TransportError>;
}

/// This machine's serial ports, opened at `baud`.
#[derive(Debug, Clone, Copy)]
pub struct SystemPorts {
    /// The speed to open a port at again.
    pub baud: u32,
}

impl PortSource for SystemPorts {
    fn ports(&mut self) -> Vec<PortInfo> {
        crate::transport::serial::list_ports()
    }

    fn exists(&mut self, path: &str) -> bool {
        // Windows' COM ports are no paths in the file system; the port list names them.
        std::path::Path::new(path).exists()
            || crate::transport::serial::list_ports()
                .iter()
                .any(|p| p.name == path)
    }

    fn open(&mut self, path: &str) -> Result<AnyTransport, TransportError> {
        crate::transport::open(path, self.baud)
    }
}

/// How a wait for the device ended.
pub enum Reconnect {
    /// The device is back and open.
    Back {
        /// Where it is now.
        path: String,
        /// The open port.
        transport: AnyTransport,
    },
    /// The hook said stop (the user pressed the exit key).
    Stopped,
    /// The deadline passed first.
    TimedOut,
}

impl std::fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reconnect::Back { path, .. } => f.debug_struct("Back").field("path", path).finish(),
            Reconnect::Stopped => f.write_str("Stopped"),
            Reconnect::TimedOut => f.write_str("TimedOut"),
        }
    }
}

/// Wait until the device `identity` names is back in `source`, and open it. The hook runs
/// every [`POLL`] (a caller reads keys there; [`Control::Stop`] ends the wait); the ports are
/// looked at every [`SCAN`]. A device that is listed but cannot be opened yet (the OS still
/// sets it up, or gives it its permissions) is tried again at the next scan. Ends at
/// `deadline` when one is given.
pub fn wait_for_device(
    identity: &PortIdentity,
    source: &mut dyn PortSource,
    deadline: Option<Instant>,
    hook: &mut dyn FnMut() -> Result<Control, MonitorError>,
) -> Result<Reconnect, MonitorError> {
    let mut next_scan = Instant::now() + POLL;
    loop {
        if hook()? == Control::Stop {
            return Ok(Reconnect::Stopped);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(Reconnect::TimedOut);
        }
        if now >= next_scan {
            next_scan = now + SCAN;
            let exists = source.exists(&identity.path);
            let ports = if exists { Vec::new() } else { source.ports() };
            if let Some(path) = identity.find_in(&ports, exists) {
                if let Ok(transport) = source.open(&path) {
                    return Ok(Reconnect::Back { path, transport });
                }
            }
        }
        let mut pause = POLL;
        if let Some(d) = deadline {
            pause = pause.min(d.saturating_duration_since(Instant::now()));
        }
        std::thread::sleep(pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, serial: Option<&str>) -> PortInfo {
        PortInfo {
            name: name.into(),
            vid: Some(0x303A),
            pid: Some(0x1001),
            serial_number: serial.map(Into::into),
            manufacturer: None,
            product: None,
            is_espressif_usb_jtag: true,
            likely_esp: true,
        }
    }

    #[test]
    fn the_device_is_found_at_its_path_or_by_its_serial_number() {
        let before = [port("/dev/ttyACM0", Some("F4:12:FA:00:00:01"))];
        let id = PortIdentity::of("/dev/ttyACM0", None, &before);
        assert_eq!(
            id.usb.as_ref().map(|u| u.serial_number.as_str()),
            Some("F4:12:FA:00:00:01")
        );
        assert_eq!(
            id.describe(),
            "/dev/ttyACM0 (serial number F4:12:FA:00:00:01)"
        );
        // Away.
        assert_eq!(id.find_in(&[], false), None);
        // Back under the same path.
        assert_eq!(id.find_in(&[], true).as_deref(), Some("/dev/ttyACM0"));
        // Back under another path: found by the serial number, not confused with another board.
        let after = [
            port("/dev/ttyACM1", Some("F4:12:FA:00:00:02")),
            port("/dev/ttyACM2", Some("F4:12:FA:00:00:01")),
        ];
        assert_eq!(id.find_in(&after, false).as_deref(), Some("/dev/ttyACM2"));
        // A symlink's device is found by the name it resolves to.
        let by_id = PortIdentity::of(
            "/dev/serial/by-id/usb-Espressif",
            Some("/dev/ttyACM0"),
            &before,
        );
        assert!(by_id.usb.is_some());
        // URLs are no devices.
        for url in ["sim://", "socket://127.0.0.1:4000", "rfc2217://h:1"] {
            let listed = || -> Vec<PortInfo> { panic!("{url} is no device to list") };
            assert_eq!(PortIdentity::of_port(url, listed), None, "{url}");
        }
        assert!(
            PortIdentity::of_port("/dev/ttyACM0", || before.to_vec())
                .is_some_and(|id| id.usb.is_some())
        );
        // Without a serial number only the path counts.
        let anonymous = PortIdentity::of("/dev/ttyUSB0", None, &[port("/dev/ttyUSB0", None)]);
        assert_eq!(anonymous.usb, None);
        assert_eq!(
            anonymous.find_in(&[port("/dev/ttyUSB1", None)], false),
            None
        );
    }
}
