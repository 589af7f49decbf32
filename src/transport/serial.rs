//! The serial-port transport: the only file that names the `serialport` crate.
//!
//! Opens a local serial port (Linux `/dev/ttyUSB0`, macOS `/dev/cu.*`, Windows `COM3`), maps the
//! OS's open errors to [`TransportError`] values that say what to do, reads with deadlines, drives
//! DTR/RTS (both at once on Unix), and lists ports with their USB identity for `list-ports`.

use std::time::Instant;

use super::{Transport, TransportError};

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

/// List the serial ports of this machine (empty when the OS cannot enumerate them).
pub fn list_ports() -> Vec<PortInfo> {
    todo!()
}

/// A local serial port.
pub struct SerialTransport {
    name: String,
    baud: u32,
}

impl SerialTransport {
    /// Open `name` at `baud` (8N1, no flow control).
    pub fn open(name: &str, baud: u32) -> Result<Self, TransportError> {
        let _ = (name, baud);
        todo!()
    }
}

impl Transport for SerialTransport {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        let _ = (buf, deadline);
        todo!()
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        let _ = bytes;
        todo!()
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        todo!()
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        todo!()
    }
    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        let _ = asserted;
        todo!()
    }
    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        let _ = asserted;
        todo!()
    }
    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        let _ = baud;
        todo!()
    }
    fn baud(&self) -> u32 {
        self.baud
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
}
