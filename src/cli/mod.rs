//! The command line: the only place with clap, terminals, colours, progress bars, environment
//! variables and exit codes. Each command lives in its own file and is a thin call into the
//! library; `args.rs` holds the argument groups several commands share.
//!
//! Works both as `cargo esp32s3 <command>` (cargo passes `esp32s3` as the first argument) and as
//! `cargo-esp32s3 <command>`.

#[macro_use]
pub mod out;
pub mod args;
pub mod board_info;
pub mod bootloader;
pub mod build;
pub mod checksum;
pub mod completions;
pub mod connect;
pub mod context;
pub mod erase;
pub mod error;
pub mod exit;
pub mod flash;
pub mod flash_many;
pub mod image_info;
pub mod init;
pub mod interrupt;
pub mod list_ports;
pub mod memory;
pub mod monitor;
pub mod new;
pub mod partition_table;
pub mod port_memory;
pub mod progress;
pub mod read_flash;
pub mod reset;
pub mod save_image;
pub mod sim;
pub mod speed;
pub mod verify;

use clap::{Parser, Subcommand};

pub use error::{CliError, Result};

/// Build, image, flash and monitor ESP32-S3 firmware.
#[derive(Debug, Parser)]
#[command(
    name = "cargo-esp32s3",
    bin_name = "cargo esp32s3",
    version,
    about,
    long_about = None,
    after_help = "Examples:
  cargo esp32s3 build --release            build, write app.bin and app.merged.bin next to the ELF
  cargo esp32s3 flash --release            build, flash, verify and reset
  cargo esp32s3 flash firmware.bin         flash a prebuilt image (offset chosen from its content)
  cargo esp32s3 erase                      erase the whole flash
  cargo esp32s3 board-info                 print chip, flash and security information
  cargo esp32s3 flash --monitor            flash, reset and watch the boot log (Ctrl+] exits)
  cargo esp32s3 monitor --until ready --timeout 30   wait for a line in CI
  cargo esp32s3 verify firmware.bin        does the chip hold it? (writes nothing)
  cargo esp32s3 bootloader import build/   keep ESP-IDF's bootloader for blank chips
  cargo esp32s3 new blinky                 a no_std esp-hal crate for the ESP32-S3

Settings: flags > ESP32S3_* variables > [package.metadata.esp32s3] > [workspace.metadata.esp32s3].
Exit codes: 0 ok, 1 other failure, 2 usage, 3 configuration, 4 cargo build, 5 image, 6 connection,
7 flash, 8 monitor --timeout passed without a match. Flashing several boards: 0 when all
succeeded, else the code of the failures when they all failed the same way, else 1."
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the firmware and write the app image and the merged offset-0 image next to the ELF
    Build(build::Args),
    /// Turn an ELF into an app image, or a merged offset-0 image with --merge
    SaveImage(save_image::Args),
    /// Identify and check a prebuilt .bin or ELF: header, segments, checksum, digest, partitions
    ImageInfo(image_info::Args),
    /// Convert a partition table between CSV and binary and print it
    PartitionTable(partition_table::Args),
    /// Print shell completions
    Completions(completions::Args),
    /// Build (or take a file), flash it, verify it and reset the chip
    Flash(flash::Args),
    /// Erase the whole flash, a region or a partition
    Erase(erase::Args),
    /// Print chip, flash and security information
    BoardInfo(board_info::Args),
    /// Read flash contents to a file
    ReadFlash(read_flash::Args),
    /// Compare what `flash` would write with the chip, writing nothing (exit 7 on a difference)
    Verify(verify::Args),
    /// Print the MD5 of a flash range, computed by the chip
    ChecksumMd5(checksum::Args),
    /// Restart the chip into its firmware
    Reset(reset::ResetArgs),
    /// Hold the chip in reset until Enter, the end of stdin or --seconds
    HoldInReset(reset::HoldArgs),
    /// Read 32-bit words of the chip's memory map (registers, eFuses, SRAM)
    ReadMem(memory::ReadArgs),
    /// Write a 32-bit word of the chip's memory map (a register), optionally masked
    WriteMem(memory::WriteArgs),
    /// Keep, import, list and show the ESP32-S3 bootloaders this tool uses for blank chips
    Bootloader(bootloader::Args),
    /// List serial ports, marking likely ESP32-S3 boards
    ListPorts(list_ports::Args),
    /// Show what the chip prints and send it keys (Ctrl+R resets, Ctrl+] exits)
    Monitor(monitor::Args),
    /// Run the virtual ESP32-S3 (for example on a pseudo-terminal for other tools)
    Sim(sim::Args),
    /// Set up the crate here for the ESP32-S3: metadata, target, runner, partition table
    Init(init::InitArgs),
    /// Create a no_std esp-hal crate for the ESP32-S3 (or with --std, `cargo new` and init)
    New(init::NewArgs),
}

/// Parse the process arguments (dropping the `esp32s3` that cargo inserts), run, map to an exit code.
pub fn main() -> std::process::ExitCode {
    context::apply_color_choice();
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "esp32s3") {
        argv.remove(1);
    }
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            exit::report_usage(&e);
            return std::process::ExitCode::from(exit::USAGE);
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return std::process::ExitCode::from(exit::SUCCESS);
        }
    };
    match run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            exit::report(&e);
            std::process::ExitCode::from(exit::code_for(&e))
        }
    }
}

/// Run one command.
pub fn run(command: Command) -> Result {
    refuse_several_ports(&command)?;
    match command {
        Command::Build(a) => build::run(a),
        Command::SaveImage(a) => save_image::run(a),
        Command::ImageInfo(a) => image_info::run(a),
        Command::PartitionTable(a) => partition_table::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Flash(a) => flash::run(a),
        Command::Erase(a) => erase::run(a),
        Command::BoardInfo(a) => board_info::run(a),
        Command::ReadFlash(a) => read_flash::run(a),
        Command::Verify(a) => verify::run(a),
        Command::ChecksumMd5(a) => checksum::run(a),
        Command::Reset(a) => reset::run_reset(a),
        Command::HoldInReset(a) => reset::run_hold(a),
        Command::ReadMem(a) => memory::run_read(a),
        Command::WriteMem(a) => memory::run_write(a),
        Command::Bootloader(a) => bootloader::run(a),
        Command::ListPorts(a) => list_ports::run(a),
        Command::Monitor(a) => monitor::run(a),
        Command::Sim(a) => sim::run(a),
        Command::Init(a) => init::run_init(a),
        Command::New(a) => init::run_new(a),
    }
}

/// Only `flash` works on several boards at once; the other chip commands take one `--port`.
fn refuse_several_ports(command: &Command) -> Result {
    let (name, connect) = match command {
        Command::Erase(a) => ("erase", &a.connect),
        Command::BoardInfo(a) => ("board-info", &a.connect),
        Command::ReadFlash(a) => ("read-flash", &a.connect),
        Command::Verify(a) => ("verify", &a.connect),
        Command::ChecksumMd5(a) => ("checksum-md5", &a.connect),
        Command::Reset(a) => ("reset", &a.connect),
        Command::HoldInReset(a) => ("hold-in-reset", &a.connect),
        Command::ReadMem(a) => ("read-mem", &a.connect),
        Command::WriteMem(a) => ("write-mem", &a.connect),
        Command::Bootloader(bootloader::Args {
            action: bootloader::Action::Save(a),
        }) => ("bootloader save", &a.connect),
        _ => return Ok(()),
    };
    connect.single_port(name)?;
    Ok(())
}
