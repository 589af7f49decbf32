//! Reaching the chip from the command line: choose the port (flag/variable/metadata, else the one
//! likely port, else ask on a terminal, else fail with the list), then hand it to the library's
//! [`Board`], which opens it, connects and attaches the flash; progress is rendered on the way.
//! Nothing here builds connect or flash options: the settings go to the board as they are.

use std::io::IsTerminal;

use cargo_esp32s3::Board;
use cargo_esp32s3::config::Settings;
use cargo_esp32s3::transport::serial::{PortInfo, list_ports};
use cargo_esp32s3::units::parse_number;

use super::CliError;
use super::progress::Progress;

/// What to do about the port when none is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortChoice {
    /// Use this port (the only likely one).
    Use(String),
    /// Ask the user (on a terminal).
    Ask,
}

/// The port to use: the configured one, else the only likely one, else a choice.
pub fn choose_port(settings: &Settings, non_interactive: bool) -> super::Result<String> {
    if let Some(port) = &settings.port {
        return Ok(port.clone());
    }
    let ports = list_ports();
    let interactive = !non_interactive && std::io::stdin().is_terminal();
    match pick_port(&ports, interactive)? {
        PortChoice::Use(name) => {
            if let Some(port) = ports.iter().find(|p| p.name == name) {
                eprintln!("Using {} ({})", port.name, describe_port(port));
            }
            Ok(name)
        }
        PortChoice::Ask => ask_port(&ports),
    }
}

/// The decision behind [`choose_port`], on a given list of ports: the only likely ESP32-S3 port
/// is used; otherwise ask when there is a terminal, else fail with the list.
pub fn pick_port(ports: &[PortInfo], interactive: bool) -> super::Result<PortChoice> {
    let likely: Vec<&PortInfo> = ports.iter().filter(|p| p.likely_esp).collect();
    if let [only] = likely.as_slice() {
        return Ok(PortChoice::Use(only.name.clone()));
    }
    if ports.is_empty() {
        return Err(CliError::NoPort(
            "no serial port found; connect the board (check the cable carries data) and choose its port with --port or ESP32S3_PORT (`cargo esp32s3 list-ports` shows them), or use --port sim:// for the simulator".into(),
        ));
    }
    if interactive {
        return Ok(PortChoice::Ask);
    }
    let names: Vec<String> = ports
        .iter()
        .map(|p| format!("{} ({})", p.name, describe_port(p)))
        .collect();
    let why = if likely.is_empty() {
        "none looks like an ESP32-S3 board"
    } else {
        "more than one looks like an ESP32-S3 board"
    };
    Err(CliError::NoPort(format!(
        "{} serial port{} found and {why}: {}; choose one with --port or ESP32S3_PORT",
        ports.len(),
        if ports.len() == 1 { "" } else { "s" },
        names.join(", ")
    )))
}

/// Ask on the terminal, likely ports first.
fn ask_port(ports: &[PortInfo]) -> super::Result<String> {
    let mut ordered: Vec<&PortInfo> = ports.iter().collect();
    ordered.sort_by_key(|p| !p.likely_esp);
    let term = console::Term::stderr();
    let _ = term.write_line("Which serial port is the ESP32-S3 on?");
    for (index, port) in ordered.iter().enumerate() {
        let line = format!("  {}) {} ({})", index + 1, port.name, describe_port(port));
        let line = if port.likely_esp {
            console::style(line).bold().to_string()
        } else {
            line
        };
        let _ = term.write_line(&line);
    }
    let _ = term.write_str("Number (Enter for 1): ");
    let answer = term
        .read_line()
        .map_err(|e| CliError::Refused(format!("no port chosen ({e})")))?;
    let answer = answer.trim();
    let index = if answer.is_empty() {
        0
    } else {
        answer
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|i| *i < ordered.len())
            .ok_or_else(|| {
                CliError::Refused(format!(
                    "{answer:?} is not one of the numbers 1 to {}; run again and pick one, or pass --port",
                    ordered.len()
                ))
            })?
    };
    ordered
        .get(index)
        .map(|p| p.name.clone())
        .ok_or_else(|| CliError::Refused("no port chosen".into()))
}

/// `303a:1001 Espressif USB-Serial/JTAG, serial F4:12:FA:00:00:00` and the like.
pub fn describe_port(port: &PortInfo) -> String {
    let mut parts = Vec::new();
    if let (Some(vid), Some(pid)) = (port.vid, port.pid) {
        parts.push(format!("{vid:04x}:{pid:04x}"));
    }
    if port.is_espressif_usb_jtag {
        parts.push("Espressif USB-Serial/JTAG".to_string());
    } else if let Some(product) = &port.product {
        parts.push(product.clone());
    } else if let Some(manufacturer) = &port.manufacturer {
        parts.push(manufacturer.clone());
    }
    if let Some(serial) = &port.serial_number {
        parts.push(format!("serial {serial}"));
    }
    if parts.is_empty() {
        "not a USB device".to_string()
    } else {
        parts.join(", ")
    }
}

/// Choose the port, then open the board on it (connect and attach the flash).
pub fn open_board(
    settings: &Settings,
    non_interactive: bool,
    progress: &mut Progress,
) -> super::Result<Board> {
    let port = choose_port(settings, non_interactive)?;
    board_on(&port, settings, progress)
}

/// Open the board on this port (one of several boards: no choosing).
pub fn board_on(port: &str, settings: &Settings, progress: &mut Progress) -> super::Result<Board> {
    // Where the baud ladder remembers rates, and the stub an installed esptool has.
    let settings = super::speed::prepare(settings, progress);
    Ok(Board::open_with(port, &settings, progress.callback())?)
}

/// A clap value parser for offsets and sizes.
pub fn number_arg(text: &str) -> Result<u32, String> {
    parse_number(text).ok_or_else(|| {
        format!("{text:?} is not a number; write it in decimal, as 0x hex, or with a K or M suffix (4096, 0x1000, 4K)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, likely: bool, jtag: bool) -> PortInfo {
        PortInfo {
            name: name.into(),
            vid: likely.then_some(if jtag { 0x303a } else { 0x10c4 }),
            pid: likely.then_some(if jtag { 0x1001 } else { 0xea60 }),
            serial_number: None,
            manufacturer: None,
            product: (likely && !jtag).then(|| "CP2102N USB to UART Bridge Controller".into()),
            is_espressif_usb_jtag: jtag,
            likely_esp: likely,
        }
    }

    #[test]
    fn port_choice() {
        let s0 = port("/dev/ttyS0", false, false);
        let usb = port("/dev/ttyUSB0", true, false);
        let jtag = port("/dev/ttyACM0", true, true);
        let use_ = |name: &str| Some(PortChoice::Use(name.into()));
        for (ports, interactive, expected, error) in [
            (
                vec![s0.clone(), usb.clone()],
                false,
                use_("/dev/ttyUSB0"),
                "",
            ),
            (vec![jtag.clone()], true, use_("/dev/ttyACM0"), ""),
            (vec![], true, None, "no serial port found"),
            (vec![s0.clone()], true, Some(PortChoice::Ask), ""),
            (
                vec![usb.clone(), jtag.clone()],
                true,
                Some(PortChoice::Ask),
                "",
            ),
            (
                vec![usb.clone(), jtag.clone()],
                false,
                None,
                "2 serial ports found and more than one looks like an ESP32-S3 board: /dev/ttyUSB0 (10c4:ea60, CP2102N USB to UART Bridge Controller), /dev/ttyACM0 (303a:1001, Espressif USB-Serial/JTAG); choose one with --port or ESP32S3_PORT",
            ),
            (
                vec![s0.clone()],
                false,
                None,
                "1 serial port found and none looks like an ESP32-S3 board: /dev/ttyS0 (not a USB device)",
            ),
        ] {
            match pick_port(&ports, interactive) {
                Ok(choice) => assert_eq!(Some(choice), expected),
                Err(e) => {
                    assert_eq!(expected, None);
                    assert!(e.to_string().contains(error), "{e}");
                }
            }
        }
    }
}
