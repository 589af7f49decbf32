//! `list-ports`: the serial ports of this machine with their USB identity, likely ESP32-S3 boards
//! first, the chip's own USB-Serial/JTAG marked, and the port remembered for the project in the
//! current directory marked too.

use cargo_esp32s3::transport::serial::list_ports;

use super::connect::describe_port;
use super::context;
use super::port_memory::{self, PortMemory};

/// Arguments of `list-ports`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 list-ports
  cargo esp32s3 list-ports --name-only | head -n1

`(last used here)` marks the port picked at the prompt for the project in this directory; it is
offered first the next time. A port can also be given by what it is rather than its path:
--port usb:303a:1001 (USB vendor:product) or --port usb-serial:SERIAL.")]
pub struct Args {
    /// Print only the port names, one per line
    #[arg(short, long)]
    pub name_only: bool,
}

/// Print the ports.
pub fn run(args: Args) -> super::Result<()> {
    let mut ports = list_ports();
    ports.sort_by(|a, b| b.likely_esp.cmp(&a.likely_esp).then(a.name.cmp(&b.name)));
    if ports.is_empty() && !args.name_only {
        eprintln!(
            "No serial ports found; connect the board with a data cable (some cables only carry power)"
        );
        return Ok(());
    }
    let remembered = std::env::current_dir().ok().and_then(|cwd| {
        let project = port_memory::project_dir(None, &cwd);
        let file = context::cache_dir()?.join(port_memory::FILE);
        PortMemory::load(&file).get(&project).cloned()
    });
    let last_used = remembered
        .as_ref()
        .and_then(|r| r.find_in(&ports))
        .map(|p| p.name.clone());
    let width = ports.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for port in &ports {
        if args.name_only {
            outln!("{}", port.name);
            continue;
        }
        let marker = if port.likely_esp { "*" } else { " " };
        let last = if last_used.as_deref() == Some(port.name.as_str()) {
            "  (last used here)"
        } else {
            ""
        };
        let line = format!(
            "{marker} {:width$}  {}{last}",
            port.name,
            describe_port(port)
        );
        if port.likely_esp {
            outln!("{}", console::style(line).bold());
        } else {
            outln!("{line}");
        }
    }
    if !args.name_only && ports.iter().any(|p| p.likely_esp) {
        outln!("(* likely an ESP32-S3 board)");
    }
    Ok(())
}
