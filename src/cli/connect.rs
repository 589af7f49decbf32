//! Reaching the chip from the command line: choose the port (flag/variable/metadata, else the one
//! likely port, else ask on a terminal with the port remembered for this project first, else
//! fail with the list), open it (wrapped in a protocol trace with `--trace FILE`), then hand it
//! to the library's [`Board`], which connects and attaches the flash; progress is rendered on
//! the way. Nothing here builds connect or flash options: the settings go to the board as they
//! are.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cargo_esp32s3::Board;
use cargo_esp32s3::config::Settings;
use cargo_esp32s3::loader::ROM_BAUD;
use cargo_esp32s3::transport::serial::{PortInfo, list_ports};
use cargo_esp32s3::transport::trace::TraceTransport;
use cargo_esp32s3::transport::{self, AnyTransport};
use cargo_esp32s3::units::parse_number;

use super::CliError;
use super::args::ConnectArgs;
use super::context::{self, Context, shown_path};
use super::port_memory::{self, PortMemory, Remembered};
use super::progress::Progress;

/// The protocol trace this run writes, for the error renderer to point at.
static TRACE_FILE: OnceLock<PathBuf> = OnceLock::new();

/// The protocol trace file of this run, once one was opened.
pub fn trace_file() -> Option<&'static Path> {
    TRACE_FILE.get().map(PathBuf::as_path)
}

/// How the command line reaches a port, besides the settings: what the connection flags say.
#[derive(Debug, Clone, Default)]
pub struct PortOptions {
    /// Never ask (`--non-interactive`).
    pub non_interactive: bool,
    /// Ask even when one port is likely (`--confirm-port`).
    pub confirm_port: bool,
    /// Write a protocol trace here (`--trace FILE`).
    pub trace: Option<PathBuf>,
}

impl From<&ConnectArgs> for PortOptions {
    fn from(args: &ConnectArgs) -> Self {
        PortOptions {
            non_interactive: args.non_interactive,
            confirm_port: args.confirm_port,
            trace: args.trace.clone(),
        }
    }
}

/// Open `port` at `baud` as the library does, wrapped in a protocol trace when `trace` names a
/// file (remembered for the error renderer's pointer to it).
pub fn open_port(port: &str, baud: u32, trace: Option<&Path>) -> super::Result<AnyTransport> {
    let transport = transport::open(port, baud)?;
    let Some(path) = trace else {
        return Ok(transport);
    };
    let traced = TraceTransport::to_file(transport, path)?;
    let _ = TRACE_FILE.set(path.to_path_buf());
    Ok(Box::new(traced))
}

/// What to do about the port when none is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortChoice {
    /// Use this port (the only likely one).
    Use(String),
    /// Ask the user (on a terminal).
    Ask,
}

/// The port to use: the configured one, else the only likely one (unless `--confirm-port`),
/// else a choice on the terminal with the port remembered for this project first (and the
/// choice remembered), else, without a terminal, the remembered port when it is there.
pub fn choose_port(ctx: &Context, options: &PortOptions) -> super::Result<String> {
    if let Some(port) = &ctx.settings.port {
        return Ok(port.clone());
    }
    let ports = list_ports();
    let memory_file = context::cache_dir().map(|dir| dir.join(port_memory::FILE));
    let mut memory = memory_file
        .as_deref()
        .map(PortMemory::load)
        .unwrap_or_default();
    let remembered = memory.get(&ctx.project_dir).cloned();
    let prefs = PortPrefs {
        interactive: !options.non_interactive && std::io::stdin().is_terminal(),
        confirm: options.confirm_port,
        remembered: remembered.as_ref(),
    };
    match pick_port_with(&ports, &prefs)? {
        PortChoice::Use(name) => {
            if let Some(port) = ports.iter().find(|p| p.name == name) {
                let how = if remembered.as_ref().and_then(|r| r.find_in(&ports)) == Some(port) {
                    ", remembered for this project"
                } else {
                    ""
                };
                eprintln!("Using {} ({}{how})", port.name, describe_port(port));
            }
            Ok(name)
        }
        PortChoice::Ask => {
            let chosen = ask_port(&ports, remembered.as_ref())?;
            if let (Some(file), Some(port)) =
                (&memory_file, ports.iter().find(|p| p.name == chosen))
            {
                memory.set(&ctx.project_dir, Remembered::of(port));
                // Remembering is a convenience: a cache that cannot be written costs only that.
                if memory.save(file).is_err() {
                    super::context::note(&format!(
                        "could not remember the port in {}",
                        shown_path(file)
                    ));
                }
            }
            Ok(chosen)
        }
    }
}

/// What decides the port besides the list of ports.
#[derive(Debug, Clone, Default)]
pub struct PortPrefs<'a> {
    /// A terminal can be asked.
    pub interactive: bool,
    /// Ask even when one port is likely (`--confirm-port`).
    pub confirm: bool,
    /// The port remembered for this project.
    pub remembered: Option<&'a Remembered>,
}

/// The decision behind [`choose_port`], on a given list of ports: the only likely ESP32-S3 port
/// is used; otherwise ask when there is a terminal, else fail with the list ([`pick_port_with`]
/// without a remembered port or `--confirm-port`).
#[cfg(test)]
pub fn pick_port(ports: &[PortInfo], interactive: bool) -> super::Result<PortChoice> {
    pick_port_with(
        ports,
        &PortPrefs {
            interactive,
            ..PortPrefs::default()
        },
    )
}

/// [`pick_port`] with the remembered port and `--confirm-port`: with `confirm` a terminal is
/// asked even when one port is likely (and without a terminal that is refused); without a
/// terminal, several likely ports and the remembered one among them, the remembered one is
/// used.
pub fn pick_port_with(ports: &[PortInfo], prefs: &PortPrefs<'_>) -> super::Result<PortChoice> {
    if prefs.confirm && !ports.is_empty() {
        if prefs.interactive {
            return Ok(PortChoice::Ask);
        }
        return Err(CliError::BadArgument(
            "--confirm-port asks on a terminal, but there is none (or --non-interactive was given); choose the port with --port or ESP32S3_PORT instead".into(),
        ));
    }
    let likely: Vec<&PortInfo> = ports.iter().filter(|p| p.likely_esp).collect();
    if let [only] = likely.as_slice() {
        return Ok(PortChoice::Use(only.name.clone()));
    }
    if !ports.is_empty() && prefs.interactive {
        return Ok(PortChoice::Ask);
    }
    if let Some(port) = prefs.remembered.and_then(|r| r.find_in(ports)) {
        return Ok(PortChoice::Use(port.name.clone()));
    }
    if ports.is_empty() {
        return Err(CliError::NoPort(
            "no serial port found; connect the board (check the cable carries data) and choose its port with --port or ESP32S3_PORT (`cargo esp32s3 list-ports` shows them), or use --port sim:// for the simulator".into(),
        ));
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

/// The order the prompt offers `ports` in: the port remembered for this project first, then
/// the likely ESP32-S3 ports, then the rest (the first is what Enter picks).
pub fn ask_order<'a>(ports: &'a [PortInfo], remembered: Option<&Remembered>) -> Vec<&'a PortInfo> {
    let first = remembered.and_then(|r| r.find_in(ports));
    let mut ordered: Vec<&PortInfo> = ports.iter().collect();
    ordered.sort_by_key(|p| (Some(*p) != first, !p.likely_esp));
    ordered
}

/// Ask on the terminal, the remembered port first, then likely ports.
fn ask_port(ports: &[PortInfo], remembered: Option<&Remembered>) -> super::Result<String> {
    let ordered = ask_order(ports, remembered);
    let first = remembered.and_then(|r| r.find_in(ports));
    let term = console::Term::stderr();
    let _ = term.write_line("Which serial port is the ESP32-S3 on?");
    for (index, port) in ordered.iter().enumerate() {
        let last_time = if Some(*port) == first {
            ", used last time here"
        } else {
            ""
        };
        let line = format!(
            "  {}) {} ({}{last_time})",
            index + 1,
            port.name,
            describe_port(port)
        );
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

/// Choose the port, then open the board on it (connect and attach the flash), with a protocol
/// trace when `--trace` asks for one and bootloaders kept in the user's cache directory.
pub fn open_board(
    ctx: &Context,
    connect: &ConnectArgs,
    progress: &mut Progress,
) -> super::Result<Board> {
    let options = PortOptions::from(connect);
    let port = choose_port(ctx, &options)?;
    let transport = open_port(&port, ROM_BAUD, options.trace.as_deref())?;
    // Where the baud ladder remembers rates, and the stub an installed esptool has.
    let settings = super::speed::prepare(&ctx.settings, progress);
    let mut board = Board::open_on(transport, &settings, progress.callback())?;
    board.keep_bootloaders(context::bootloader_store(&ctx.project_dir));
    Ok(board)
}

/// Open the board on this port (one of several boards: no choosing, no trace), keeping
/// bootloaders as [`open_board`] does.
pub fn board_on(port: &str, settings: &Settings, progress: &mut Progress) -> super::Result<Board> {
    // Where the baud ladder remembers rates, and the stub an installed esptool has.
    let settings = super::speed::prepare(settings, progress);
    let mut board = Board::open_with(port, &settings, progress.callback())?;
    if let Ok(cwd) = std::env::current_dir() {
        let project = port_memory::project_dir(None, &cwd);
        board.keep_bootloaders(context::bootloader_store(&project));
    }
    Ok(board)
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
    #[test]
    fn a_remembered_port_is_offered_first() {
        let mut a = port("/dev/ttyUSB0", true, false);
        a.serial_number = Some("A1".into());
        let mut b = port("/dev/ttyUSB1", true, false);
        b.serial_number = Some("B2".into());
        let s0 = port("/dev/ttyS0", false, false);
        let ports = vec![s0.clone(), a.clone(), b.clone()];
        // Without a remembered port, likely ports come first, in their order.
        let names = |order: Vec<&PortInfo>| -> Vec<String> {
            order.iter().map(|p| p.name.clone()).collect()
        };
        assert_eq!(
            names(ask_order(&ports, None)),
            ["/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyS0"]
        );
        // The one picked last time for this project is first (Enter picks it), found by its
        // serial number even under another path.
        let remembered = Remembered::of(&b);
        assert_eq!(
            names(ask_order(&ports, Some(&remembered))),
            ["/dev/ttyUSB1", "/dev/ttyUSB0", "/dev/ttyS0"]
        );
        let mut moved = b.clone();
        moved.name = "/dev/ttyUSB7".into();
        let replugged = vec![a.clone(), moved];
        assert_eq!(
            names(ask_order(&replugged, Some(&remembered))),
            ["/dev/ttyUSB7", "/dev/ttyUSB0"]
        );
        // Without a terminal, two likely boards and the remembered one among them: it is used.
        let prefs = PortPrefs {
            interactive: false,
            confirm: false,
            remembered: Some(&remembered),
        };
        assert_eq!(
            pick_port_with(&replugged, &prefs).unwrap(),
            PortChoice::Use("/dev/ttyUSB7".into())
        );
        // On a terminal the choice is asked, with the remembered one first (above).
        let ask = PortPrefs {
            interactive: true,
            ..prefs.clone()
        };
        assert_eq!(pick_port_with(&replugged, &ask).unwrap(), PortChoice::Ask);
        // --confirm-port asks even when one port is likely, and needs a terminal.
        let one = vec![a.clone(), s0.clone()];
        assert_eq!(
            pick_port(&one, true).unwrap(),
            PortChoice::Use("/dev/ttyUSB0".into())
        );
        let confirm = PortPrefs {
            interactive: true,
            confirm: true,
            remembered: None,
        };
        assert_eq!(pick_port_with(&one, &confirm).unwrap(), PortChoice::Ask);
        let no_terminal = PortPrefs {
            interactive: false,
            ..confirm
        };
        let error = pick_port_with(&one, &no_terminal).unwrap_err().to_string();
        assert!(
            error.contains("--confirm-port asks on a terminal"),
            "{error}"
        );
    }
}
