//! Espressif's USB ids, in one place: what a port's vendor and product id say about the chip
//! behind it. The serial transport reports them, the reset and loader code choose sequences and
//! block sizes by them, and `sim://?usb=jtag` claims them. Ids only: no ports, no I/O.

/// Espressif's USB vendor id.
pub const ESPRESSIF_VID: u16 = 0x303A;
/// Product id of the chip's own USB-Serial/JTAG controller (`303a:1001`). The chip's USB-OTG
/// port (the ROM's USB CDC) has another product id under the same vendor id.
pub const USB_JTAG_SERIAL_PID: u16 = 0x1001;

/// True for the chip's own USB-Serial/JTAG controller.
pub fn is_usb_serial_jtag(ids: Option<(u16, u16)>) -> bool {
    ids == Some((ESPRESSIF_VID, USB_JTAG_SERIAL_PID))
}
