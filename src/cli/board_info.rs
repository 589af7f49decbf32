//! `board-info`: connect and print what the chip says about itself, in the lines users know from
//! esptool: chip and revision, features, crystal, MAC, flash manufacturer/device and size, and the
//! security state.

use cargo_esp32s3::loader::{ChipInfo, FlashId, SecurityInfo};

use super::args::{ConnectArgs, ManifestArgs};
use super::connect;
use super::context;
use super::progress::{Progress, reset_line};
use cargo_esp32s3::units::human_size;

/// Arguments of `board-info`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 board-info
  cargo esp32s3 board-info --port /dev/ttyACM0 --before usb-reset
  cargo esp32s3 board-info --port sim://")]
pub struct Args {
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Connect, ask, print, reset.
pub fn run(args: Args) -> super::Result<()> {
    let flags = context::flag_values(Some(&args.connect), None, None, None);
    let ctx = context::load(&args.manifest, flags)?;
    let mut progress = Progress::new();
    let mut board = connect::open_board(&ctx, &args.connect, &mut progress)?;
    let chip = board.chip_info()?;
    let flash = board.flash_id()?;
    let security = board.security_info()?;
    for line in info_lines(&chip, &flash, &security) {
        outln!("{line}");
    }
    let done = board.reset(ctx.settings.after)?;
    eprintln!("{}", reset_line(done));
    Ok(())
}

fn on_off(on: bool) -> &'static str {
    if on { "enabled" } else { "disabled" }
}

/// The lines `board-info` prints.
pub fn info_lines(chip: &ChipInfo, flash: &FlashId, security: &SecurityInfo) -> Vec<String> {
    let mut lines = vec![
        format!("Chip is {}", chip.description),
        format!("Features: {}", chip.features.join(", ")),
        format!("Crystal is {}MHz", chip.crystal_mhz),
        format!("MAC: {}", chip.mac_string()),
    ];
    if flash.looks_absent() {
        lines.push(format!(
            "Flash: no answer from the flash chip (ID 0x{:06x}); check the flash wiring or the SPI pins",
            flash.raw
        ));
    } else {
        lines.push(format!("Manufacturer: {:02x}", flash.manufacturer));
        lines.push(format!("Device: {:04x}", flash.device));
        lines.push(match flash.size {
            Some(size) => format!("Detected flash size: {}", flash_size_name(size)),
            None => "Detected flash size: unknown (the ID has no known size code)".to_string(),
        });
    }
    lines.push(format!(
        "Flash type set in eFuse: {}",
        if chip.octal_flash {
            "octal"
        } else {
            "quad (4 data lines)"
        }
    ));
    lines.push(format!(
        "Secure boot: {}, flash encryption: {}, secure download mode: {}",
        on_off(security.secure_boot()),
        on_off(security.flash_encryption()),
        on_off(security.secure_download_mode())
    ));
    let flags = security.flag_names();
    if !flags.is_empty() {
        lines.push(format!("Security flags: {}", flags.join(", ")));
    }
    lines
}

/// `4MB` for header sizes, else KiB/MiB.
fn flash_size_name(bytes: u32) -> String {
    match cargo_esp32s3::image::FlashSize::from_bytes(u64::from(bytes)) {
        Some(size) => size.name().to_string(),
        None => human_size(u64::from(bytes)),
    }
}
