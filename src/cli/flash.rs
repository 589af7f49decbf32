//! `flash [FILE | --at OFFSET FILE ...]`: turn the arguments into settings and a [`Plan`], choose
//! the port, and let the library's [`Board`](cargo_esp32s3::Board) write it; render what happens.
//!
//! What goes where is the plan's decision (an ELF given or built, a `.bin` placed by its
//! content, `--at` pairs), checked before any chip is touched; what a chip gets (an app alone in
//! the chip's own app partition, a note when a table moves the app) is decided by the board after
//! connecting. This file only gathers the inputs and prints.
//!
//! One port is handled here; several (`--port` repeated, `--all-ports`) go to
//! [`flash_many`](super::flash_many), which opens one board per thread.
//!
//! Used as cargo's runner (`runner = "cargo esp32s3 flash --monitor"`), `cargo run` calls
//! `flash [--monitor] <ELF> [ARGS...]`: options after the ELF are ours as anywhere else, and the
//! words after `--` that cargo passes on are ignored with a note (firmware has no command line).

use std::path::{Path, PathBuf};

use clap::ArgAction;

use cargo_esp32s3::Board;
use cargo_esp32s3::flasher::WriteSummary;
use cargo_esp32s3::plan::{EraseParts, Plan, RamImage};
use cargo_esp32s3::units::{human_size, parse_number};

use super::CliError;
use super::args::{ConnectArgs, ImageJobArgs};
use super::build::build_firmware;
use super::connect;
use super::context::{self, note, shown_path};
use super::progress::{Progress, reset_line};

/// Arguments of `flash`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 flash --release                   build, then flash bootloader, table and app
  cargo esp32s3 flash firmware.bin                a merged image goes to 0x0, an app to its partition
  cargo esp32s3 flash --at 0x0 bootloader.bin --at 0x8000 partitions.bin --at 0x10000 app.bin
  cargo esp32s3 flash --port /dev/ttyACM0 --baud 921600 --no-skip app.elf
  cargo esp32s3 flash --port sim:// firmware.bin  try it on the simulator
  cargo esp32s3 flash -p /dev/ttyUSB0 -p /dev/ttyUSB1 fw.bin   two boards at once
  cargo esp32s3 flash --all-ports fw.bin          every port that looks like an Espressif board
  cargo esp32s3 flash --erase-parts nvs,otadata   also erase those partitions of the table written
  cargo esp32s3 flash --erase-data-parts nvs      also erase every nvs data partition
  cargo esp32s3 flash --ram blinky-ram.elf --monitor   run from RAM, flash untouched
  cargo esp32s3 flash --trace flash.trace fw.bin  record every packet (attach it to a bug report)

Without a bootloader (no `bootloader` key, no --bootloader, no ESP-IDF build output) an ELF's app
goes alone into the app partition named by the partition table already on the chip; on a chip
with no bootloader the newest one this tool kept (`cargo esp32s3 bootloader list`) is written with
the default partition table. Before a bootloader on the chip is erased or replaced by a different
one, a copy is kept in the user's cache directory.
Several boards: the image is made once, then flashed to all of them in parallel; a summary table
(port, MAC, result, time) follows, and the exit status is 0 only when every board succeeded.
As cargo's runner: `runner = \"cargo esp32s3 flash --monitor\"` in .cargo/config.toml; `cargo run`
passes the ELF, and words after `cargo run --` are ignored (options such as --port are used).")]
pub struct Args {
    /// ELF, merged offset-0 .bin, app .bin or bootloader .bin (omit to build the project)
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Words `cargo run -- ...` passes after the ELF; ignored with a note (firmware has no
    /// command line)
    #[arg(value_name = "RUN_ARGS", requires = "file")]
    pub run_args: Vec<String>,
    /// Write FILE at OFFSET exactly as it is; repeat for several files
    #[arg(
        long = "at",
        num_args = 2,
        value_names = ["OFFSET", "FILE"],
        action = ArgAction::Append,
        conflicts_with = "file"
    )]
    pub at: Vec<String>,
    /// Write every region even when the flash already holds it [env: ESP32S3_SKIP_UNCHANGED=false]
    #[arg(long)]
    pub no_skip: bool,
    /// Do not check the written regions' MD5 [env: ESP32S3_VERIFY=false]
    #[arg(long)]
    pub no_verify: bool,
    /// Flash even when the image's chip revision range excludes this chip
    #[arg(long)]
    pub force: bool,
    /// Erase the whole flash before writing
    #[arg(long)]
    pub erase_all: bool,
    /// Erase these partitions (by name) of the partition table being written (or, for an app
    /// written alone, of the chip's) before writing: --erase-parts nvs,otadata
    #[arg(long, value_name = "NAMES", value_delimiter = ',', action = ArgAction::Append)]
    pub erase_parts: Vec<String>,
    /// Erase every data partition of these types (nvs, ota, phy, coredump, fat, spiffs,
    /// littlefs, …; otadata means ota) before writing: --erase-data-parts nvs,ota
    #[arg(long, value_name = "TYPES", value_delimiter = ',', action = ArgAction::Append)]
    pub erase_data_parts: Vec<String>,
    /// Load the ELF's RAM sections with MEM_BEGIN/MEM_DATA and start it with MEM_END, without
    /// touching the flash or resetting (at 115200; an ELF with sections mapped from flash is
    /// refused); --monitor then watches it
    #[arg(long, conflicts_with_all = ["at", "erase_all", "erase_parts", "erase_data_parts"])]
    pub ram: bool,
    /// Package, build, flash settings, bootloader and partition table.
    #[command(flatten)]
    pub job: ImageJobArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Flash every port that looks like an Espressif board (`list-ports` marks them), at once
    #[arg(long, conflicts_with = "port", help_heading = "Connection")]
    pub all_ports: bool,
    /// `--monitor` and how to monitor (boxed: the command enum stays small).
    #[command(flatten)]
    pub monitor: Box<super::monitor::FlashMonitorArgs>,
}

impl Args {
    /// True when several boards are asked for (`--port` repeated, or `--all-ports`).
    pub fn several_boards(&self) -> bool {
        self.all_ports || self.connect.port.len() > 1
    }
}

/// Flash.
pub fn run(args: Args) -> super::Result {
    let mut flags = context::job_flag_values(&args.job, Some(&args.connect));
    if args.no_skip {
        flags.skip_unchanged = Some(false);
    }
    if args.no_verify {
        flags.verify = Some(false);
    }
    flags.force = args.force;
    flags.erase_all = args.erase_all;
    flags.monitor_baud = args.monitor.monitor_baud.clone();
    if args.ram {
        // RAM images are small; the program's console runs at the ROM's 115200 afterwards.
        flags.baud = Some(cargo_esp32s3::loader::ROM_BAUD.to_string());
    }
    flags.monitor_exit_key = args.monitor.options.exit_key.clone();
    let ctx = context::load(&args.job.manifest, flags)?;
    let settings = &ctx.settings;
    // Two files (`flash bootloader.bin app.bin`) would otherwise pass for run arguments.
    if let Some(file) = args.run_args.iter().find(|a| Path::new(a).is_file()) {
        return Err(CliError::BadArgument(format!(
            "flash takes one FILE but {file} follows it; write several files with --at OFFSET FILE, or flash a merged image"
        )));
    }
    if !args.run_args.is_empty() {
        note(&format!(
            "ignoring {} after the firmware file: firmware has no command line (`cargo run -- ARGS` passes them on); flash options such as --port are read wherever they stand",
            args.run_args.join(" ")
        ));
    }

    if args.ram {
        return run_from_ram(&args, &ctx);
    }
    if args.connect.trace.is_some() && args.several_boards() {
        return Err(CliError::BadArgument(
            "--trace records one board; flash the boards one at a time to trace each".into(),
        ));
    }
    // Several boards: the port list is checked before a possibly long build.
    let ports = if args.several_boards() {
        super::flash_many::ports_to_flash(&args.connect.port, args.all_ports)?
    } else {
        Vec::new()
    };
    let plan = make_plan(&args, &ctx)?.erasing(EraseParts {
        names: args.erase_parts.clone(),
        data_types: args.erase_data_parts.clone(),
    })?;
    plan.check_choices(settings)?;
    // The monitor's options and ELF are checked before the chip is touched too.
    let monitor = if args.monitor.enabled {
        if !ports.is_empty() {
            return Err(CliError::BadArgument(
                "--monitor watches one board; flash several boards without it, then run `cargo esp32s3 monitor --port PORT` for the one to watch".into(),
            ));
        }
        let monitor_plan = super::monitor::Plan::from_args(
            &args.monitor.options,
            args.connect.non_interactive,
            settings,
        )?;
        let elf = args.monitor.options.elf.as_deref().or(plan.elf_path());
        let firmware = super::monitor::load_firmware(elf, &monitor_plan)?;
        // Ctrl+T F: the same build again, or the runner's ELF rebuilt; a prebuilt file is not.
        let rebuild = match (&args.file, args.at.is_empty()) {
            (None, true) => super::monitor::Rebuild::new(&ctx, &args.job.manifest, &args.job.build),
            (Some(file), true) => {
                super::monitor::Rebuild::for_file(&ctx, &args.job.manifest, &args.job.build, file)
            }
            _ => None,
        };
        Some((monitor_plan, firmware, rebuild))
    } else {
        None
    };
    if !ports.is_empty() {
        return super::flash_many::run(&ports, &plan, settings);
    }

    let mut progress = Progress::new();
    let mut board = connect::open_board(&ctx, &args.connect, &mut progress)?;
    flash_board(&mut board, &plan, &mut progress)?;
    let Some((monitor_plan, firmware, rebuild)) = monitor else {
        let done = board.reset(settings.after)?;
        progress.info(reset_line(done));
        return Ok(());
    };
    // Same connection: the host switches to the monitor baud right before the chip restarts.
    let done = match board.reset_into_monitor(settings.after) {
        Ok(done) => done,
        // The chip's own USB port re-enumerates as the chip restarts: the monitor waits for it.
        Err(e) if super::monitor::reset_lost_the_port(&e, settings.after) => {
            super::monitor::reset_that_lost_the_port(settings.after)
        }
        Err(e) => return Err(e.into()),
    };
    progress.info(reset_line(done));
    let transport = board.into_transport();
    super::monitor::start_after_flash(transport, firmware, &monitor_plan, done, rebuild)
}

/// `flash --ram`: the ELF (given, or built) loaded into RAM and started; the flash is not
/// touched and no reset follows (it would end the program). `--monitor` watches it on the same
/// connection.
fn run_from_ram(args: &Args, ctx: &context::Context) -> super::Result {
    if args.several_boards() {
        return Err(CliError::BadArgument(
            "--ram runs a program on one board; choose it with --port".into(),
        ));
    }
    let elf = match &args.file {
        Some(path) => path.clone(),
        None => build_firmware(ctx, &args.job.manifest, &args.job.build)?.executable,
    };
    let image = RamImage::from_elf(&elf)?;
    let monitor = if args.monitor.enabled {
        let monitor_plan = super::monitor::Plan::from_args(
            &args.monitor.options,
            args.connect.non_interactive,
            &ctx.settings,
        )?;
        let elf_for_symbols = args.monitor.options.elf.as_deref().unwrap_or(&elf);
        let firmware = super::monitor::load_firmware(Some(elf_for_symbols), &monitor_plan)?;
        Some((monitor_plan, firmware))
    } else {
        None
    };
    let mut progress = Progress::new();
    let mut board = connect::open_board(ctx, &args.connect, &mut progress)?;
    board.run_from_ram(&image, progress.callback())?;
    let Some((monitor_plan, firmware)) = monitor else {
        return Ok(());
    };
    let baud = ctx.settings.monitor_baud;
    let mut transport = board.into_transport();
    if transport.baud() != baud {
        transport.set_baud(baud)?;
    }
    note("monitoring the program started from RAM (no reset: it would end the program)");
    // No rebuild key: a RAM program is gone at the next reset, and Ctrl+T F flashes.
    super::monitor::watch_chip(transport, firmware, &monitor_plan, None)
}

/// The plan from the arguments: `--at` pairs, a file, or the project built like `build`. Where
/// a `.bin`'s parts go is said before connecting.
fn make_plan(args: &Args, ctx: &context::Context) -> super::Result<Plan> {
    let settings = &ctx.settings;
    if !args.at.is_empty() {
        return Ok(Plan::from_at(&at_pairs(&args.at)?, settings)?);
    }
    let plan = match &args.file {
        None => {
            let built = build_firmware(ctx, &args.job.manifest, &args.job.build)?;
            Plan::from_elf(&built.executable, settings, &built.idf())?
        }
        Some(path) => Plan::from_file(path, settings)?,
    };
    for placed in plan.placed() {
        eprintln!(
            "{}: {} ({}) goes to 0x{:x}",
            shown_path(&placed.file),
            placed.what,
            human_size(placed.len as u64),
            placed.offset
        );
    }
    Ok(plan)
}

/// Write the plan onto an open board and say how it went (the steps every board takes, one or
/// several).
pub fn flash_board(
    board: &mut Board,
    plan: &Plan,
    progress: &mut Progress,
) -> super::Result<WriteSummary> {
    // Ctrl+C stops after the current block, and the error says what is verified.
    let interrupt = super::interrupt::while_flashing(board.cancel_handle());
    let summary = board.flash(plan, progress.callback());
    drop(interrupt);
    let summary = summary?;
    let skipped = if summary.skipped > 0 {
        format!(", {} skipped (unchanged)", summary.skipped)
    } else {
        String::new()
    };
    // Regions not read back: the summary must not read like a checked success.
    let unverified = if summary.unverified == 0 {
        ""
    } else if !board.settings().verify {
        " (not verified: verification is off)"
    } else {
        " (not verified: Secure Download Mode has no flash MD5; the ROM checked each block)"
    };
    progress.info(&format!(
        "Flashed {} region{}{skipped} in {:.1} s{unverified}",
        summary.written,
        if summary.written == 1 { "" } else { "s" },
        summary.elapsed.as_secs_f64()
    ));
    Ok(summary)
}

/// `--at OFFSET FILE` pairs, as typed, to offsets and paths.
fn at_pairs(pairs: &[String]) -> super::Result<Vec<(u32, PathBuf)>> {
    let mut parsed = Vec::new();
    for pair in pairs.chunks(2) {
        let [offset_text, file] = pair else {
            return Err(CliError::BadArgument(
                "--at needs an OFFSET and a FILE".into(),
            ));
        };
        let offset = parse_number(offset_text).ok_or_else(|| {
            CliError::BadArgument(format!(
                "--at {offset_text:?} {file}: the offset is not a number; write it as 0x10000 or 65536"
            ))
        })?;
        parsed.push((offset, PathBuf::from(file)));
    }
    Ok(parsed)
}
