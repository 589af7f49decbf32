//! `read-mem ADDR [COUNT]` and `write-mem ADDR VALUE [MASK]`: 32-bit words of the chip's memory
//! map (registers, eFuses, SRAM) through the loader's READ_REG and WRITE_REG. Addresses the
//! ESP32-S3 does not map are refused by the library before anything is sent: the ROM crashes on
//! them.

use super::CliError;
use super::args::{ConnectArgs, ManifestArgs};
use super::connect::{self, number_arg};
use super::context;
use super::progress::{Progress, reset_line};

/// Arguments of `read-mem`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 read-mem 0x40001000          the chip-detect word (9 on an ESP32-S3)
  cargo esp32s3 read-mem 0x60007044 2        the two eFuse words that hold the MAC

Prints `ADDRESS: VALUE` per word. The chip is reset afterwards as --after says (default
hard-reset); --after no-reset keeps it in the loader.")]
pub struct ReadArgs {
    /// Address of the first word (a multiple of 4)
    #[arg(value_name = "ADDR", value_parser = number_arg)]
    pub addr: u32,
    /// How many words to read
    #[arg(value_name = "COUNT", default_value = "1", value_parser = number_arg)]
    pub count: u32,
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Arguments of `write-mem`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 write-mem 0x600080B0 0x50D83AA1 --after no-reset      unlock the RTC watchdog
  cargo esp32s3 write-mem 0x6000812C 0 0x1                            clear bit 0 only

Writes VALUE where MASK has ones (`*ADDR = (*ADDR & !MASK) | (VALUE & MASK)`). The chip is reset
afterwards as --after says (default hard-reset, which undoes most register writes); --after
no-reset keeps it in the loader.")]
pub struct WriteArgs {
    /// Address of the word (a multiple of 4)
    #[arg(value_name = "ADDR", value_parser = number_arg)]
    pub addr: u32,
    /// The value to write
    #[arg(value_name = "VALUE", value_parser = number_arg)]
    pub value: u32,
    /// Which bits to write [default: all]
    #[arg(value_name = "MASK", default_value = "0xFFFFFFFF", value_parser = number_arg)]
    pub mask: u32,
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Most words one `read-mem` reads.
const MAX_WORDS: u32 = 4096;

/// Read words and print them.
pub fn run_read(args: ReadArgs) -> super::Result<()> {
    if args.count == 0 || args.count > MAX_WORDS {
        return Err(CliError::BadArgument(format!(
            "COUNT {} is not a number of words from 1 to {MAX_WORDS}",
            args.count
        )));
    }
    for index in 0..args.count {
        if let Some(addr) = args.addr.checked_add(index * 4) {
            cargo_esp32s3::board::check_address(addr)?;
        }
    }
    let flags = context::flag_values(Some(&args.connect), None, None, None);
    let ctx = context::load(&args.manifest, flags)?;
    let mut progress = Progress::new();
    let mut board = connect::open_board(&ctx, &args.connect, &mut progress)?;
    for index in 0..args.count {
        let Some(addr) = args.addr.checked_add(index * 4) else {
            break;
        };
        let value = board.read_memory(addr)?;
        outln!("0x{addr:08x}: 0x{value:08x}");
    }
    let done = board.reset(ctx.settings.after)?;
    eprintln!("{}", reset_line(done));
    Ok(())
}

/// Write a word.
pub fn run_write(args: WriteArgs) -> super::Result<()> {
    cargo_esp32s3::board::check_address(args.addr)?;
    let flags = context::flag_values(Some(&args.connect), None, None, None);
    let ctx = context::load(&args.manifest, flags)?;
    let mut progress = Progress::new();
    let mut board = connect::open_board(&ctx, &args.connect, &mut progress)?;
    board.write_memory(args.addr, args.value, args.mask)?;
    outln!(
        "Wrote 0x{:08x} to 0x{:08x} (mask 0x{:08x})",
        args.value,
        args.addr,
        args.mask
    );
    let done = board.reset(ctx.settings.after)?;
    eprintln!("{}", reset_line(done));
    Ok(())
}
