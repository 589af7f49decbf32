//! `list-ports`: the serial ports of this machine with their USB identity, likely ESP32-S3 boards
//! first and the chip's own USB-Serial/JTAG marked.

use cargo_esp32s3::transport::serial::list_ports;

use super::connect::describe_port;

/// Arguments of `list-ports`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 list-ports
  cargo esp32s3 list-ports --name-only | head -n1")]
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
    let width = ports.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for port in &ports {
        if args.name_only {
            println!("{}", port.name);
            continue;
        }
        let marker = if port.likely_esp { "*" } else { " " };
        let line = format!("{marker} {:width$}  {}", port.name, describe_port(port));
        if port.likely_esp {
            println!("{}", console::style(line).bold());
        } else {
            println!("{line}");
        }
    }
    if !args.name_only && ports.iter().any(|p| p.likely_esp) {
        println!("(* likely an ESP32-S3 board)");
    }
    Ok(())
}
