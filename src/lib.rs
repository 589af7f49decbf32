//! `cargo-esp32s3`: build ESP32-S3 firmware, turn it into a correct offset-0 flash image, flash it
//! through our own implementation of the ROM serial protocol, and watch the console.
//!
//! # Code map
//!
//! - [`image`]: pure. ELF → app image, headers, partition tables, merged offset-0 images, and
//!   the identification of prebuilt `.bin` files. No I/O.
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

pub mod cargo;
pub mod cli;
pub mod config;
pub mod error;
pub mod flasher;
pub mod image;
pub mod loader;
pub mod monitor;
pub mod protocol;
pub mod reset;
pub mod sim;
pub mod symbols;
pub mod transport;
pub mod units;

pub use error::{Error, Result};
