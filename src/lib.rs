//! `cargo-esp32s3`: build ESP32-S3 firmware, turn it into a correct offset-0 flash image, flash it
//! through our own implementation of the ROM serial protocol, and watch the console.
//!
//! # For xtask and automation authors
//!
//! The command line is a renderer over this library: the same calls, plus a terminal. The steps
//! are yours to script:
//!
//! 1. [`Project::discover`] finds the Cargo package around a path and resolves its settings
//!    (`[package.metadata.esp32s3]`, `[workspace.metadata.esp32s3]`, defaults; flags and
//!    `ESP32S3_*` variables only when you pass them in [`Discover`]).
//! 2. [`Project::build`] runs `cargo build` and returns the firmware ELF.
//! 3. A [`Plan`] says what goes where: [`Project::plan_of`] (or [`Plan::from_elf`]) for an ELF —
//!    bootloader, partition table and app when a bootloader is configured, else the app alone
//!    —, [`Plan::from_file`] / [`Plan::from_bin`] for a prebuilt `.bin` placed by its content,
//!    [`Plan::from_at`] for explicit offsets. Every file is read once, here, and checked before
//!    any chip is touched.
//! 4. [`Board::open`] connects to a chip by port name or URL (`/dev/ttyUSB0`, `COM3`,
//!    `rfc2217://host:port`, `socket://host:port`, or `sim://` for the virtual ESP32-S3), and
//!    [`Board::flash`] writes a plan (laid out for the chip's flash size, an app alone placed by
//!    the chip's own partition table), [`Board::erase_all`], [`Board::erase_region`],
//!    [`Board::erase_partition`], [`Board::read_flash`] and [`Board::reset`] do the rest,
//!    reporting progress and notes as [`Event`] values to the callback you give.
//! 5. [`Board::reset_into_monitor`] starts the firmware and [`Board::monitor`] watches its
//!    console: lines, hints and decoded panic addresses to your callback, until a line matches,
//!    a timeout passes or the callback says stop.
//!
//! The library never prints; every failure is an [`Error`] whose message is one line that says
//! what to do, and [`exit::code_for`] gives the exit code the command line ends with.
//!
//! ```
//! # fn main() -> cargo_esp32s3::Result<()> {
//! use cargo_esp32s3::{Board, Event, config::Settings, reset::After};
//!
//! // A virtual chip; with `sim://?flash=chip.bin` its flash is kept in a file.
//! let mut board = Board::open("sim://", &Settings::default())?;
//! let mut erased = 0;
//! board.erase_all(|event| {
//!     if let Event::EraseDone { .. } = event {
//!         erased += 1;
//!     }
//! })?;
//! assert_eq!(erased, 1);
//! board.reset(After::HardReset)?;
//! # Ok(())
//! # }
//! ```
//!
//! In a project (needs a toolchain for the ESP32-S3 target and a board on the port):
//!
//! ```no_run
//! # fn main() -> cargo_esp32s3::Result<()> {
//! use cargo_esp32s3::{Board, Project, cargo::BuildOptions, reset::After};
//!
//! let project = Project::discover(".")?;
//! let built = project.build(&BuildOptions { release: true, ..Default::default() }, |message| {
//!     eprint!("{message}")
//! })?;
//! let plan = project.plan_of(&built)?;
//! let mut board = Board::open("/dev/ttyUSB0", project.settings())?;
//! let summary = board.flash(&plan, |event| eprintln!("{event:?}"))?;
//! eprintln!("{} regions written, {} unchanged", summary.written, summary.skipped);
//! board.reset(After::HardReset)?;
//! # Ok(())
//! # }
//! ```
//!
//! Where each piece lives, and the rules that keep them apart, is in `ARCHITECTURE.md`.

pub mod baud;
pub mod board;
pub mod bootloader_store;
pub mod cargo;
pub mod catalogue;
pub mod config;
pub mod error;
pub mod event;
pub mod exit;
pub mod flasher;
pub mod image;
pub mod loader;
pub mod monitor;
pub mod plan;
pub mod project;
pub mod protocol;
pub mod reset;
pub mod sim;
pub mod stub_finder;
pub mod symbols;
pub mod transport;
pub mod units;

pub use board::Board;
pub use error::{Error, Result};
pub use event::Event;
pub use plan::Plan;
pub use project::{Discover, Project};
