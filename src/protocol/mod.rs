//! Pure wire formats: the ROM serial protocol (SLIP framing, command encoding, response decoding,
//! error codes, timeouts, chip-information decoding, the boot console text) and the telnet codec
//! that RFC 2217 ports speak.
//!
//! No I/O, no clocks: bytes in, values out. The loader (`crate::loader`) drives it over a
//! transport. The simulator shares only the SLIP codec (`slip`) and the telnet codec (`telnet`)
//! and parses command packets with its own code, so a symmetric bug cannot hide.

pub mod chip;
pub mod command;
pub mod console;
pub mod describe;
pub mod errors;
pub mod response;
pub mod slip;
pub mod telnet;
pub mod timeouts;

/// Bytes from space-separated hex pairs (`"01 08 04 00"`), for the tests' packet literals.
#[cfg(test)]
pub(crate) fn test_hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex"))
        .collect()
}
