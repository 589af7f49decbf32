//! Reply packets (chip → host): header parsing, status bytes and the "unsupported command" reply.
//!
//! A reply is `01 op len16 value32 data`, where data = the command's payload followed by status
//! bytes. The ESP32-S3 ROM sends 4 status bytes `[status, error, stale, stale]`; only byte 0
//! counts, and byte 1 only when byte 0 says failure (the ROM leaves old values in the rest, and
//! in `value`, from earlier replies). A stub sends 2 status bytes: a big-endian 16-bit code,
//! 0 = success. Facts: `esp32s3-facts.md` §1 and §18.

use super::command::Opcode;
use super::errors::{DeviceError, ROM_INVALID_MESSAGE};

/// Who is answering, which decides the status format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responder {
    /// The mask ROM: 4 status bytes.
    Rom,
    /// A flasher stub: 2 status bytes.
    Stub,
}

impl Responder {
    /// Number of status bytes after the payload.
    pub fn status_len(self) -> usize {
        match self {
            Responder::Rom => 4,
            Responder::Stub => 2,
        }
    }
}

/// A reply frame with a valid header, not yet judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The opcode byte the chip put in the header.
    pub opcode: u8,
    /// The header's value word (READ_REG result; SYNC echo).
    pub value: u32,
    /// Payload and status bytes.
    pub data: Vec<u8>,
}

/// Why a reply does not carry a usable result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The chip reported a failure.
    #[error("{0}")]
    Device(DeviceError),
    /// The reply is shorter than the payload plus the status bytes.
    #[error("the reply carries {got} data bytes, expected at least {needed}")]
    Short {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
}

impl Reply {
    /// Parse a SLIP frame as a reply. `None` for frames that cannot be one (shorter than the
    /// 8-byte header, or direction byte not 1): the host skips those as noise.
    pub fn parse(frame: &[u8]) -> Option<Reply> {
        let header = frame.get(..8)?;
        if header[0] != 0x01 {
            return None;
        }
        let value = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        Some(Reply {
            opcode: header[1],
            value,
            data: frame[8..].to_vec(),
        })
    }

    /// True when this is the ROM's answer to a command it does not support: a reply whose opcode
    /// differs from the request (the ROM repeats the previous reply's header) with status
    /// `01 05`.
    pub fn is_unsupported(&self, request: Opcode) -> bool {
        self.opcode != request.code()
            && self.data.first().is_some_and(|&s| s != 0)
            && self.data.get(1) == Some(&ROM_INVALID_MESSAGE)
    }

    /// Check the status that follows `payload_len` payload bytes and return the payload.
    ///
    /// A failure reply may come without the payload (stubs), so when the data is too short for
    /// payload + status the last status bytes are still read to report the chip's own error.
    pub fn payload(&self, responder: Responder, payload_len: usize) -> Result<&[u8], ReplyError> {
        let status_len = responder.status_len();
        let needed = payload_len + status_len;
        let status_at = if self.data.len() >= needed {
            payload_len
        } else if self.data.len() >= status_len {
            self.data.len() - status_len
        } else {
            return Err(ReplyError::Short {
                needed,
                got: self.data.len(),
            });
        };
        let status = &self.data[status_at..status_at + status_len];
        let failure = match responder {
            Responder::Rom => (status[0] != 0).then_some(DeviceError::Rom(status[1])),
            Responder::Stub => {
                let code = u16::from_be_bytes([status[0], status[1]]);
                (code != 0).then_some(DeviceError::Stub(code))
            }
        };
        if let Some(error) = failure {
            return Err(ReplyError::Device(error));
        }
        if status_at < payload_len {
            return Err(ReplyError::Short {
                needed,
                got: self.data.len(),
            });
        }
        Ok(&self.data[..payload_len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::test_hex as hex;

    #[test]
    fn real_rom_sync_reply_decodes() {
        // esp32s3-facts.md §1: the S3 ROM's SYNC reply.
        let reply = Reply::parse(&hex("01 08 04 00 07 07 12 20 00 00 00 00")).expect("a reply");
        assert_eq!(reply.opcode, 0x08);
        assert_eq!(reply.value, 0x2012_0707);
        assert_eq!(reply.payload(Responder::Rom, 0), Ok(&[][..]));
    }

    #[test]
    fn status_is_judged_by_byte_0_and_byte_1_only_on_failure() {
        let check =
            |frame: &str, who: Responder, n: usize, expected: Result<Vec<u8>, ReplyError>| {
                let reply = Reply::parse(&hex(frame)).expect("a reply");
                assert_eq!(
                    reply.payload(who, n).map(<[u8]>::to_vec),
                    expected,
                    "{frame}"
                );
            };
        // Success with a stale error byte and stale trailing bytes (§18) is still success.
        check(
            "01 02 04 00 aa bb cc dd 00 05 ff ff",
            Responder::Rom,
            0,
            Ok(vec![]),
        );
        check(
            "01 03 04 00 00 00 00 00 01 07 00 00",
            Responder::Rom,
            0,
            Err(ReplyError::Device(DeviceError::Rom(0x07))),
        );
        check(
            "01 13 06 00 00 00 00 00 61 62 00 00 33 34",
            Responder::Rom,
            2,
            Ok(b"ab".to_vec()),
        );
        check(
            "01 13 04 00 00 00 00 00 61 62 00 00",
            Responder::Stub,
            2,
            Ok(b"ab".to_vec()),
        );
        check(
            "01 03 02 00 00 00 00 00 c1 00",
            Responder::Stub,
            0,
            Err(ReplyError::Device(DeviceError::Stub(0xC100))),
        );
        // A failure without the payload still reports the chip's error.
        check(
            "01 13 02 00 00 00 00 00 c4 00",
            Responder::Stub,
            16,
            Err(ReplyError::Device(DeviceError::Stub(0xC400))),
        );
        check(
            "01 13 02 00 00 00 00 00 00 00",
            Responder::Stub,
            16,
            Err(ReplyError::Short { needed: 18, got: 2 }),
        );
        check(
            "01 0a 00 00 00 00 00 00",
            Responder::Rom,
            0,
            Err(ReplyError::Short { needed: 4, got: 0 }),
        );
    }

    #[test]
    fn non_replies_are_skipped() {
        assert_eq!(Reply::parse(&hex("01 08 04 00 07 07 12")), None);
        assert_eq!(
            Reply::parse(&hex("00 08 04 00 07 07 12 20 00 00 00 00")),
            None
        );
    }

    #[test]
    fn unsupported_reply_is_recognised() {
        // After a SYNC the ROM answers an unknown opcode with the SYNC header and `01 05`.
        let reply = Reply::parse(&hex("01 08 04 00 07 07 12 20 01 05 00 00")).expect("a reply");
        assert!(reply.is_unsupported(Opcode::EraseFlash));
        assert!(!reply.is_unsupported(Opcode::Sync));
        let ok = Reply::parse(&hex("01 08 04 00 07 07 12 20 00 00 00 00")).expect("a reply");
        assert!(!ok.is_unsupported(Opcode::EraseFlash));
    }
}
