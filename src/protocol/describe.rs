//! Packets in words, for protocol traces (`--trace FILE`): a command the host sends
//! (`FLASH_DEFL_BEGIN size=0x5a3c blocks=23 block_size=0x400 offset=0x10000 encrypted=0`), a reply
//! the chip sends (`FLASH_DEFL_BEGIN value=0x0 status=ok`, or the failure with its meaning), and
//! the frames that are neither (a stub's `OHAI`, READ_FLASH data and acknowledgements).
//!
//! Pure: bytes in, text out. It decodes from the protocol facts (`esp32s3-facts.md` §2) and knows
//! nothing of where the bytes came from or where the text goes (that is `transport::trace`).

use super::command::{CHECKSUM_SEED, Opcode};
use super::errors::DeviceError;
use super::response::{Reply, Responder};

/// Who a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Host to chip (commands, READ_FLASH acknowledgements).
    ToChip,
    /// Chip to host (replies, `OHAI`, READ_FLASH data).
    FromChip,
}

/// The opcode with this byte, if it is one the tool knows.
pub fn opcode(code: u8) -> Option<Opcode> {
    Opcode::ALL.into_iter().find(|o| o.code() == code)
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A host-to-chip frame in words: a command with its fields, or what else it is.
pub fn describe_to_chip(frame: &[u8]) -> String {
    match frame {
        [0x00, op, rest @ ..] if rest.len() >= 6 => describe_command(*op, frame),
        // The host acknowledges each READ_FLASH data packet with the running total.
        [a, b, c, d] => format!(
            "READ_FLASH ack: {} bytes received",
            u32::from_le_bytes([*a, *b, *c, *d])
        ),
        _ => format!("not a command ({} bytes)", frame.len()),
    }
}

fn describe_command(op: u8, packet: &[u8]) -> String {
    let data = packet.get(8..).unwrap_or_default();
    let w = |i: usize| word(data, i * 4);
    let hex = |i: usize| w(i).map_or_else(|| "?".to_string(), |v| format!("0x{v:x}"));
    let dec = |i: usize| w(i).map_or_else(|| "?".to_string(), |v| v.to_string());
    let Some(opcode) = opcode(op) else {
        return format!("unknown command 0x{op:02x} ({} data bytes)", data.len());
    };
    let name = opcode.name();
    let fields = match opcode {
        Opcode::FlashBegin | Opcode::FlashDeflBegin => {
            let mut text = format!(
                "size={} blocks={} block_size={} offset={}",
                hex(0),
                dec(1),
                hex(2),
                hex(3)
            );
            if data.len() >= 20 {
                text.push_str(&format!(" encrypted={}", dec(4)));
            }
            text
        }
        Opcode::FlashData | Opcode::FlashDeflData | Opcode::MemData => {
            let payload = data.get(16..).unwrap_or_default();
            let stated = word(packet, 4).unwrap_or(0);
            let computed = u32::from(payload.iter().fold(CHECKSUM_SEED, |acc, b| acc ^ b));
            let check = if stated == computed { "ok" } else { "WRONG" };
            format!(
                "len={} seq={} checksum=0x{stated:02x} ({check}), {} payload bytes",
                hex(0),
                dec(1),
                payload.len()
            )
        }
        Opcode::FlashEnd | Opcode::FlashDeflEnd => match w(0) {
            Some(0) => "word=0 (reboot)".to_string(),
            Some(1) => "word=1 (stay / run user code)".to_string(),
            _ => format!("word={}", dec(0)),
        },
        Opcode::MemBegin => format!(
            "size={} blocks={} block_size={} addr={}",
            hex(0),
            dec(1),
            hex(2),
            hex(3)
        ),
        Opcode::MemEnd => {
            let jump = if w(0) == Some(0) { "jump" } else { "no jump" };
            format!("flag={} ({jump}) entry={}", dec(0), hex(1))
        }
        Opcode::Sync => format!("{} pattern bytes", data.len()),
        Opcode::WriteReg => {
            let entries: Vec<String> = data
                .chunks_exact(16)
                .map(|e| {
                    let v = |i: usize| word(e, i * 4).unwrap_or(0);
                    format!(
                        "[0x{:08x}]=0x{:x} mask=0x{:x} delay_us={}",
                        v(0),
                        v(1),
                        v(2),
                        v(3)
                    )
                })
                .collect();
            entries.join(", ")
        }
        Opcode::ReadReg => format!("addr=0x{:08x}", w(0).unwrap_or(0)),
        Opcode::SpiSetParams => format!(
            "id={} total_size={} block={} sector={} page={} status_mask={}",
            dec(0),
            hex(1),
            hex(2),
            hex(3),
            hex(4),
            hex(5)
        ),
        Opcode::SpiAttach => format!("arg={} ({} bytes)", hex(0), data.len()),
        Opcode::ReadFlashSlow => format!("addr={} len={}", hex(0), dec(1)),
        Opcode::ChangeBaudrate => format!("new={} old={}", dec(0), dec(1)),
        Opcode::SpiFlashMd5 => format!("addr={} size={}", hex(0), hex(1)),
        Opcode::GetSecurityInfo | Opcode::EraseFlash => String::new(),
        Opcode::EraseRegion => format!("offset={} size={}", hex(0), hex(1)),
        Opcode::ReadFlash => format!(
            "offset={} len={} packet_size={} max_in_flight={}",
            hex(0),
            hex(1),
            hex(2),
            dec(3)
        ),
    };
    if fields.is_empty() {
        name.to_string()
    } else {
        format!("{name} {fields}")
    }
}

/// A chip-to-host frame in words: a reply (opcode, value, payload, status with its meaning) as
/// `responder` formats it, or what else it is (a stub's `OHAI`, READ_FLASH data).
pub fn describe_from_chip(frame: &[u8], responder: Responder) -> String {
    if frame == b"OHAI" {
        return "OHAI (the flasher stub runs)".to_string();
    }
    let Some(reply) = Reply::parse(frame) else {
        return format!("data ({} bytes)", frame.len());
    };
    let name = opcode(reply.opcode).map_or_else(
        || format!("reply to unknown command 0x{:02x}", reply.opcode),
        |o| o.name().to_string(),
    );
    let status_len = responder.status_len();
    if reply.data.len() < status_len {
        return format!(
            "{name} value=0x{:x} ({} data bytes, too short for a status)",
            reply.value,
            reply.data.len()
        );
    }
    let status_at = reply.data.len() - status_len;
    let status = &reply.data[status_at..];
    let failure = match responder {
        Responder::Rom => (status[0] != 0).then_some(DeviceError::Rom(status[1])),
        Responder::Stub => {
            let code = u16::from_be_bytes([status[0], status[1]]);
            (code != 0).then_some(DeviceError::Stub(code))
        }
    };
    let payload = &reply.data[..status_at];
    let mut text = format!("{name} value=0x{:x}", reply.value);
    if !payload.is_empty() {
        text.push_str(&format!(
            " payload={}",
            payload_words(reply.opcode, payload)
        ));
    }
    match failure {
        None => text.push_str(" status=ok"),
        Some(error) => text.push_str(&format!(" status=FAILED ({error})")),
    }
    text
}

/// A reply payload: the MD5 as text, else its length and first bytes.
fn payload_words(op: u8, payload: &[u8]) -> String {
    if op == Opcode::SpiFlashMd5.code() {
        if payload.len() == 32 && payload.iter().all(u8::is_ascii_hexdigit) {
            return format!("md5 {}", String::from_utf8_lossy(payload));
        }
        if payload.len() == 16 {
            return format!("md5 {}", hex_run(payload));
        }
    }
    format!("{} bytes", payload.len())
}

fn hex_run(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// At most `limit` bytes as spaced hex, with how many were left out.
pub fn raw_hex(bytes: &[u8], limit: usize) -> String {
    let shown: Vec<String> = bytes
        .iter()
        .take(limit)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut text = shown.join(" ");
    if bytes.len() > limit {
        text.push_str(&format!(" … (+{} bytes)", bytes.len() - limit));
    }
    text
}

/// Console text as one line: printable ASCII kept, everything else escaped (`\r\n`, `\x1b`).
pub fn printable(bytes: &[u8]) -> String {
    let mut text = String::new();
    for &b in bytes {
        match b {
            b'\r' => text.push_str("\\r"),
            b'\n' => text.push_str("\\n"),
            b'\t' => text.push_str("\\t"),
            b'\\' => text.push_str("\\\\"),
            0x20..=0x7E => text.push(char::from(b)),
            _ => text.push_str(&format!("\\x{b:02x}")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::Command;
    use crate::protocol::test_hex;

    #[test]
    fn commands_are_named_with_their_fields() {
        let cases = [
            (
                Command::flash_defl_begin(0x5a3c, 23, 0x400, 0x10000).encode(),
                "FLASH_DEFL_BEGIN size=0x5a3c blocks=23 block_size=0x400 offset=0x10000 encrypted=0",
            ),
            (
                Command::mem_end(0x4037_8000).encode(),
                "MEM_END flag=0 (jump) entry=0x40378000",
            ),
            (
                Command::read_reg(0x4000_1000).encode(),
                "READ_REG addr=0x40001000",
            ),
            (Command::sync().encode(), "SYNC 36 pattern bytes"),
            (
                Command::mem_data(2, &[1, 2, 3]).encode(),
                "MEM_DATA len=0x3 seq=2 checksum=0xef (ok), 3 payload bytes",
            ),
        ];
        for (packet, expected) in cases {
            assert_eq!(describe_to_chip(&packet), expected);
        }
        assert_eq!(
            describe_to_chip(&[0, 0x55, 0, 0, 0, 0, 0, 0]),
            "unknown command 0x55 (0 data bytes)"
        );
        assert_eq!(
            describe_to_chip(&[0, 0x10, 0, 0]),
            "READ_FLASH ack: 4096 bytes received"
        );
    }

    #[test]
    fn replies_say_their_status() {
        let ok = test_hex("01 08 04 00 07 07 12 20 00 00 00 00");
        assert_eq!(
            describe_from_chip(&ok, Responder::Rom),
            "SYNC value=0x20120707 status=ok"
        );
        let bad = test_hex("01 03 04 00 00 00 00 00 01 07 00 00");
        assert_eq!(
            describe_from_chip(&bad, Responder::Rom),
            "FLASH_DATA value=0x0 status=FAILED (ROM error 0107 (checksum error))"
        );
        let stub = test_hex("01 d1 02 00 00 00 00 00 c1 00");
        assert!(
            describe_from_chip(&stub, Responder::Stub).contains("stub error c100"),
            "{}",
            describe_from_chip(&stub, Responder::Stub)
        );
        assert_eq!(
            describe_from_chip(b"OHAI", Responder::Rom),
            "OHAI (the flasher stub runs)"
        );
        assert_eq!(printable(b"ok\r\n\x1b"), "ok\\r\\n\\x1b");
        assert_eq!(raw_hex(&[1, 2, 3], 2), "01 02 … (+1 bytes)");
    }
}
