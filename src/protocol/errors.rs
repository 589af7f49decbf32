//! The failure codes the ROM loader and the stubs put in their status bytes, with their meanings.
//!
//! The ROM answers `[1, code, ..]` on failure (one-byte code); a stub answers a 16-bit
//! big-endian code (`C1 00` = bad data checksum). Facts: `esp32s3-facts.md` §1.1.

/// A failure reported by the chip in a reply's status bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceError {
    /// The ROM loader failed with this code (status byte 1).
    Rom(u8),
    /// A stub failed with this 16-bit code.
    Stub(u16),
}

/// ROM error code: the command is not supported or the message was malformed.
pub const ROM_INVALID_MESSAGE: u8 = 0x05;

impl DeviceError {
    /// What the code means, in words.
    pub fn meaning(self) -> &'static str {
        match self {
            DeviceError::Rom(code) => rom_meaning(code),
            DeviceError::Stub(code) => stub_meaning(code),
        }
    }

    /// True when the chip reports that the flash itself failed (the ROM's flash write error,
    /// a stub's failed SPI operation), not that the request arrived damaged.
    pub fn is_flash_failure(self) -> bool {
        matches!(self, DeviceError::Rom(0x08) | DeviceError::Stub(0xC400))
    }

    /// The code as esptool prints it (`0107` for the ROM, `c100` for a stub).
    fn code_hex(self) -> String {
        match self {
            DeviceError::Rom(code) => format!("01{code:02x}"),
            DeviceError::Stub(code) => format!("{code:04x}"),
        }
    }
}

impl std::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match self {
            DeviceError::Rom(_) => "ROM",
            DeviceError::Stub(_) => "stub",
        };
        write!(f, "{who} error {} ({})", self.code_hex(), self.meaning())
    }
}

/// The meaning of a ROM error code.
fn rom_meaning(code: u8) -> &'static str {
    match code {
        0x00 => "undefined error",
        0x01 => "the input parameter is invalid",
        0x02 => "failed to allocate memory",
        0x03 => "failed to send a message",
        0x04 => "failed to receive a message",
        0x05 => "the format of the received message is invalid, or the command is not supported",
        0x06 => "the message is valid but the result of running it is wrong",
        0x07 => "checksum error",
        0x08 => "flash write error",
        0x09 => "flash read error",
        0x0A => "flash read length error",
        0x0B => "deflate failed",
        0x0C => "deflate Adler-32 error",
        0x0D => "deflate parameter error",
        0x0E => "invalid RAM binary size",
        0x0F => "invalid RAM binary address",
        0x64 => "invalid parameter",
        0x65 => "invalid format",
        0x66 => "description too long",
        0x67 => "bad encoding description",
        0x69 => "insufficient storage",
        _ => "unknown ROM error code",
    }
}

/// The meaning of a stub error code.
fn stub_meaning(code: u16) -> &'static str {
    match code {
        0xC000 => "bad data length",
        0xC100 => "bad data checksum",
        0xC200 => "bad block size",
        0xC300 => "invalid command",
        0xC400 => "failed SPI operation",
        0xC500 => "failed SPI unlock",
        0xC600 => "not in flash mode",
        0xC700 => "inflate error",
        0xC800 => "not enough data",
        0xC900 => "too much data",
        0xCA00 => "NAND program failed",
        0xCB00 => "NAND erase failed",
        0xFF00 => "command not implemented",
        _ => "unknown stub error code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_render_with_their_meaning() {
        let check = |e: DeviceError, text: &str| assert_eq!(e.to_string(), text);
        check(DeviceError::Rom(0x07), "ROM error 0107 (checksum error)");
        check(DeviceError::Rom(0x64), "ROM error 0164 (invalid parameter)");
        check(
            DeviceError::Rom(0x42),
            "ROM error 0142 (unknown ROM error code)",
        );
        check(
            DeviceError::Stub(0xC100),
            "stub error c100 (bad data checksum)",
        );
        check(
            DeviceError::Stub(0xFF00),
            "stub error ff00 (command not implemented)",
        );
    }
}
