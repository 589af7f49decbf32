//! `cargo-esp32s3`: build ESP32-S3 firmware, turn it into a correct offset-0 flash image, flash it
//! through our own implementation of the ROM serial protocol, and watch the console.
//!
//! # For xtask and automation authors
//!
//! The command line is a thin layer over this library, and the same steps are yours to script:
//!
//! 1. [`Project::discover`] finds the Cargo package around a path and resolves its settings
//!    (`[package.metadata.esp32s3]`, `[workspace.metadata.esp32s3]`, defaults; flags and
//!    `ESP32S3_*` variables only when you pass them in [`Discover`]).
//! 2. [`Project::build`] runs `cargo build` and returns the firmware ELF.
//! 3. [`Project::image`] lays out the [`FlashImage`]: bootloader, partition table and app when a
//!    bootloader is configured, else the app alone.
//! 4. [`Board::open`] connects to a chip by port name or URL (`/dev/ttyUSB0`, `COM3`,
//!    `rfc2217://host:port`, `socket://host:port`, or `sim://` for the virtual ESP32-S3), and [`Board::flash`], [`Board::erase_all`],
//!    [`Board::erase_region`], [`Board::read_flash`] and [`Board::reset`] do the work, reporting
//!    progress as [`flasher::Event`] values to the callback you give.
//! 5. [`Board::reset_into_monitor`] starts the firmware and [`Board::monitor`] watches its
//!    console: lines, hints and decoded panic addresses to your callback, until a line matches,
//!    a timeout passes or the callback says stop.
//!
//! The library never prints; every failure is an [`Error`] whose message is one line that says
//! what to do.
//!
//! ```
//! # fn main() -> cargo_esp32s3::Result<()> {
//! use cargo_esp32s3::{Board, config::Settings, flasher::Event, reset::After};
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
//! let image = project.image_of(&built)?;
//! let mut board = Board::open("/dev/ttyUSB0", project.settings())?;
//! let summary = board.flash(&image, |event| eprintln!("{event:?}"))?;
//! eprintln!("{} regions written, {} unchanged", summary.written, summary.skipped);
//! board.reset(After::HardReset)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Code map
//!
//! - [`project`], [`board`]: the facade above.
//! - [`image`]: pure. ELF → app image, headers, partition tables, merged offset-0 images, and
//!   the identification of prebuilt `.bin` files. No I/O.
//! - [`layout`]: which bootloader and partition table go with an ELF, and the regions they make
//!   (shared by the command line and the facade).
//! - [`protocol`]: pure. SLIP framing, command encoding, response decoding, ROM/stub error codes.
//! - [`transport`]: the byte channel to a chip ([`transport::Transport`]); `serial.rs` is the only
//!   file that names the `serialport` crate; `sim://` connects to the in-process simulator.
//! - [`reset`]: reset sequences as data, played on any transport.
//! - [`loader`]: one connection to the ROM loader (or a stub): sync, commands, registers, chip info.
//! - [`flasher`]: plan and write: compression, skip-unchanged, verify, erase, read. Progress leaves
//!   as [`flasher::Event`] values.
//! - [`monitor`]: watch a running chip's console over any transport: lines, hints, decoded
//!   addresses, stop conditions. Never prints.
//! - [`symbols`]: code address → function and file:line from the firmware ELF (addr2line).
//! - [`sim`]: the virtual ESP32-S3 (flash, eFuses, ROM loader state machine, stub personality).
//! - [`config`]: `[package.metadata.esp32s3]` + environment + flags → [`config::Settings`].
//! - [`cargo`]: the only place that runs `cargo build`.
//! - [`cli`]: the only place with clap, terminals, colours, progress bars and exit codes.
//! - [`units`]: pure. The one parser for typed offsets and sizes, the one size formatter.
//!
//! See `ARCHITECTURE.md` for the invariants that keep these apart.

pub mod board;
pub mod cargo;
pub mod cli;
pub mod config;
pub mod error;
pub mod event;
pub mod flasher;
pub mod image;
pub mod layout;
pub mod loader;
pub mod monitor;
pub mod project;
pub mod protocol;
pub mod reset;
pub mod sim;
pub mod symbols;
pub mod transport;
pub mod units;

pub use board::Board;
pub use error::{Error, Result};
pub use project::{Discover, FlashImage, Project};
