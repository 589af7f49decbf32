//! Pure ROM serial protocol: SLIP framing, command encoding, response decoding, error codes,
//! timeouts, chip-information decoding and the boot console text.
//!
//! No I/O, no clocks: bytes in, values out. The loader (`crate::loader`) drives it over a
//! transport; the simulator parses packets with its own code so a symmetric bug cannot hide.

pub mod chip;
pub mod command;
pub mod console;
pub mod errors;
pub mod response;
pub mod slip;
pub mod timeouts;
