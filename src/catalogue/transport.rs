//! `ES08xx`: the codes of [`TransportError`] (serial ports, TCP and RFC 2217 bridges, the
//! virtual chip: the byte channel itself). It must not know how ports are opened.

use crate::transport::TransportError;

catalogue! {
    /// The code of a transport error.
    pub(super) fn code(&TransportError);
    /// `ES08xx`: ports.
    pub(super) const ENTRIES;
    wrappers {}
    TransportError::NotFound { .. } => ES0801 {
        example: TransportError::NotFound { port: "/dev/ttyUSB0".into() },
        cause: "The port does not exist: the board is unplugged, it enumerated under another name (ttyACM0 for the chip's own USB, ttyUSB0 for a USB-UART bridge), or the cable carries power only.",
        fix: "Run `cargo esp32s3 list-ports` and use the port it shows; try another cable if none appears.",
    },
    TransportError::Busy { .. } => ES0802 {
        example: TransportError::Busy { port: "/dev/ttyUSB0".into() },
        cause: "Another program holds the port open: a serial monitor (screen, minicom, an IDE's monitor), another flasher, or ModemManager probing it.",
        fix: "Close that program and try again.",
    },
    TransportError::PermissionDenied { .. } => ES0803 {
        example: TransportError::PermissionDenied {
            port: "/dev/ttyUSB0".into(),
            hint: "add yourself to the `dialout` group (`uucp` on Arch): `sudo usermod -aG dialout $USER`, then log out and in again".into(),
        },
        cause: "The user may not open the port: on Linux not in the `dialout` (or `uucp`) group; on macOS a driver not allowed yet.",
        fix: "Do what the message says for your platform (on Linux: join the group, then log out and in again).",
    },
    TransportError::Disconnected { .. } => ES0804 {
        example: TransportError::Disconnected {
            port: "/dev/ttyACM0".into(),
            detail: "No such device".into(),
        },
        cause: "The device went away during the command: a loose cable, a board that browned out, or the chip's USB-Serial/JTAG re-enumerating after a reset.",
        fix: "Check the cable and the power supply (a powered hub helps), then run the command again.",
    },
    TransportError::NoPortWithIdentity { .. } => ES0805 {
        example: TransportError::NoPortWithIdentity {
            identity: "usb:303a:1001".into(),
            ports: vec!["/dev/ttyUSB0 (usb:10c4:ea60)".into()],
        },
        cause: "No port has the USB identity given (`usb:VID:PID`, `usb-serial:SERIAL`): the board is unplugged, or it shows another identity (a USB-UART bridge instead of the chip's own USB).",
        fix: "Connect the board, and check its identity with `cargo esp32s3 list-ports`.",
    },
    TransportError::SeveralPortsWithIdentity { .. } => ES0806 {
        example: TransportError::SeveralPortsWithIdentity {
            identity: "usb:303a:1001".into(),
            ports: vec![
                "/dev/ttyACM0 (serial 7C:DF:A1:00:00:01)".into(),
                "/dev/ttyACM1 (serial 7C:DF:A1:00:00:02)".into(),
            ],
        },
        cause: "Several boards have the USB identity given, so it does not say which one.",
        fix: "Name one by its serial number (`usb-serial:SERIAL`) or by its path.",
    },
    TransportError::InvalidPort { .. } => ES0807 {
        example: TransportError::InvalidPort {
            port: "tcp://192.168.1.20:4000".into(),
            reason: "tcp:// is not a known kind of port; use a serial port name, socket://HOST:PORT, rfc2217://HOST:PORT or sim://".into(),
        },
        cause: "The port name or URL cannot be used: an unknown scheme, a missing host or port number, an unknown `?option`.",
        fix: "Write it as the message says: a serial port name, `socket://HOST:PORT`, `rfc2217://HOST:PORT` or `sim://`.",
    },
    TransportError::Unreachable { .. } => ES0808 {
        example: TransportError::Unreachable {
            port: "rfc2217://192.168.1.20:4000".into(),
            detail: "connection refused".into(),
        },
        cause: "The network bridge cannot be reached: its server is not running, or the host or port is wrong, or a firewall is in the way.",
        fix: "Start the server (esp_rfc2217_server, ser2net) and check the host and port.",
    },
    TransportError::NoControlLines { .. } => ES0809 {
        example: TransportError::NoControlLines { port: "socket://192.168.1.20:4000".into() },
        cause: "A raw TCP bridge carries no DTR/RTS lines, so the chip cannot be reset from here.",
        fix: "Put the chip into download mode by hand (hold BOOT, press RESET), or use rfc2217:// with a bridge that carries the lines.",
    },
    TransportError::Remote { .. } => ES0810 {
        example: TransportError::Remote {
            port: "rfc2217://192.168.1.20:4000".into(),
            detail: "the server refuses RFC 2217 (COM-PORT-OPTION); for a raw TCP bridge use socket:// instead".into(),
        },
        cause: "The far end of an `rfc2217://` port does not speak RFC 2217, or refuses a setting: a raw TCP bridge (ser2net in raw mode), or a server without line control.",
        fix: "Use socket:// for a raw bridge, or configure the server for RFC 2217 (ser2net's `telnet(rfc2217)`).",
    },
    TransportError::Io { .. } => ES0811 {
        example: TransportError::Io {
            port: "/dev/ttyUSB0".into(),
            source: std::io::ErrorKind::TimedOut.into(),
        },
        cause: "Any other failure of the port reported by the operating system; its reason is in the message.",
        fix: "Unplug and replug the board, and run again; if it keeps happening, run with --trace FILE and attach FILE to a bug report.",
    },
}
