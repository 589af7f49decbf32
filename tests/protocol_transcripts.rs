//! The host-side protocol code against byte-exact exchanges with the real ESP32-S3 mask ROM
//! (`testdata/rom-transcripts`): our command encoder must produce the same request bytes for the
//! same parameters, our reply decoder must judge every real reply as the ROM meant it, and the
//! boot-text scanner must read the real banners.
//!
//! Skips (with a message) when the testdata folder is absent.

use cargo_esp32s3::protocol::command::{Command, Opcode, checksum};
use cargo_esp32s3::protocol::console;
use cargo_esp32s3::protocol::errors::DeviceError;
use cargo_esp32s3::protocol::response::{Reply, ReplyError, Responder};

#[path = "support/testdata.rs"]
mod testdata;
use testdata::testdata;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

struct Step {
    scenario: String,
    strap: String,
    request: Vec<u8>,
    replies: Vec<Vec<u8>>,
    console: Vec<u8>,
}

fn steps() -> Option<Vec<Step>> {
    let dir = testdata()?;
    let text = std::fs::read_to_string(dir.join("rom-transcripts/transcripts.jsonl")).ok()?;
    let steps = text
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            Step {
                scenario: s("scenario"),
                strap: s("strap"),
                request: unhex(&s("request_hex")),
                replies: v["reply_frames_hex"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|f| unhex(f.as_str().unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default(),
                console: unhex(&s("non_slip_hex")),
            }
        })
        .collect();
    Some(steps)
}

fn word(data: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(data[4 * i..4 * i + 4].try_into().expect("4 bytes"))
}

/// Our encoding of the same command, when the request is one we would send.
fn our_encoding(request: &[u8]) -> Option<Vec<u8>> {
    let (op, data) = (*request.get(1)?, request.get(8..)?);
    let n = data.len();
    // Experiments with a wrong length field are not requests we would send.
    if request[0] != 0 || usize::from(u16::from_le_bytes([request[2], request[3]])) != n {
        return None;
    }
    let cmd = match (op, n) {
        (0x08, 36) => Command::sync(),
        (0x0A, 4) => Command::read_reg(word(data, 0)),
        (0x09, 16) => {
            Command::write_reg(word(data, 0), word(data, 1), word(data, 2), word(data, 3))
        }
        (0x02, 20) if word(data, 4) == 0 => {
            Command::flash_begin(word(data, 0), word(data, 1), word(data, 2), word(data, 3))
        }
        (0x10, 20) if word(data, 4) == 0 => {
            Command::flash_defl_begin(word(data, 0), word(data, 1), word(data, 2), word(data, 3))
        }
        (0x05, 16) => {
            Command::mem_begin(word(data, 0), word(data, 1), word(data, 2), word(data, 3))
        }
        (0x03 | 0x11 | 0x07, _) if n >= 16 => {
            let block = &data[16..];
            // Only well-formed blocks (the error experiments send wrong sizes or checksums).
            if word(data, 0) as usize != block.len() || word(request, 1) != checksum(block) {
                return None;
            }
            let seq = word(data, 1);
            match op {
                0x03 => Command::flash_data(seq, block),
                0x11 => Command::flash_defl_data(seq, block),
                _ => Command::mem_data(seq, block),
            }
        }
        (0x13, 16) => Command::spi_flash_md5(word(data, 0), word(data, 1)),
        (0x0E, 8) => Command::read_flash_slow(word(data, 0), word(data, 1)),
        (0x0F, 8) => Command::change_baudrate(word(data, 0), word(data, 1)),
        (0x14, 0) => Command::get_security_info(),
        (0x0B, 24) if word(data, 0) == 0 && word(data, 2) == 0x1_0000 => {
            Command::spi_set_params(word(data, 1))
        }
        (0x0D, 8) if word(data, 0) == 0 && word(data, 1) == 0 => Command::spi_attach(),
        (0x04, 4) => Command::flash_end(word(data, 0)),
        (0x12, 4) => Command::flash_defl_end(word(data, 0)),
        _ => return None,
    };
    Some(cmd.encode())
}

#[test]
fn our_commands_match_the_real_requests_byte_for_byte() {
    let Some(steps) = steps() else { return };
    let mut compared = 0;
    for step in &steps {
        // Skip non-standard SYNC payloads (an experiment sends 36 zero bytes).
        if step.request.get(1) == Some(&0x08)
            && step.request.get(8..12) != Some(&[7, 7, 0x12, 0x20][..])
        {
            continue;
        }
        if let Some(ours) = our_encoding(&step.request) {
            // The checksum field of non-data commands is ignored by the ROM and may hold
            // anything in a request; compare it only for data blocks.
            let mut theirs = step.request.clone();
            if !matches!(theirs[1], 0x03 | 0x11 | 0x07) {
                theirs[4..8].copy_from_slice(&ours[4..8]);
            }
            assert!(
                ours == theirs,
                "{}: ours {:02x?}... theirs {:02x?}...",
                step.scenario,
                &ours[..ours.len().min(32)],
                &theirs[..theirs.len().min(32)]
            );
            compared += 1;
        }
    }
    assert!(compared > 300, "only {compared} requests compared");
}

/// Payload length before the status bytes, per opcode, as the loader asks for it.
fn payload_len(op: u8) -> usize {
    match op {
        0x13 => 32,
        0x0E => 64,
        0x14 => 20,
        _ => 0,
    }
}

#[test]
fn real_replies_are_judged_as_the_rom_meant_them() {
    let Some(steps) = steps() else { return };
    let (mut ok, mut failed, mut unsupported) = (0, 0, 0);
    for step in &steps {
        let Some(&op) = step.request.get(1) else {
            continue;
        };
        for frame in &step.replies {
            let Some(reply) = Reply::parse(frame) else {
                continue;
            };
            if reply.opcode != op {
                // Stale-header replies to unsupported opcodes (and to a bad direction byte).
                if let Some(known) = Opcode::ALL.iter().find(|o| o.code() == op) {
                    assert!(
                        reply.is_unsupported(*known),
                        "{}: {frame:02x?}",
                        step.scenario
                    );
                }
                if reply.data.get(..2) == Some(&[1, 5][..]) {
                    unsupported += 1;
                }
                continue;
            }
            let n = payload_len(op);
            let status_at = reply.data.len() - 4;
            let rom_ok = reply.data[status_at] == 0;
            match reply.payload(Responder::Rom, n) {
                Ok(payload) => {
                    assert!(rom_ok, "{}: {frame:02x?}", step.scenario);
                    assert_eq!(payload.len(), n);
                    ok += 1;
                }
                Err(ReplyError::Device(DeviceError::Rom(code))) => {
                    assert!(!rom_ok, "{}: {frame:02x?}", step.scenario);
                    assert_eq!(code, reply.data[status_at + 1]);
                    failed += 1;
                }
                Err(e) => panic!("{}: {e} for {frame:02x?}", step.scenario),
            }
        }
    }
    assert!(
        ok > 300 && failed > 20 && unsupported > 100,
        "{ok} ok, {failed} failed, {unsupported} unsupported"
    );
}

#[test]
fn real_banners_are_read() {
    let Some(steps) = steps() else { return };
    let (mut download, mut spi, mut crashes) = (0, 0, 0);
    for step in steps.iter().filter(|s| !s.console.is_empty()) {
        if let Some(mode) = console::boot_mode(&step.console) {
            let strap =
                u32::from_str_radix(step.strap.trim_start_matches("0x"), 16).expect("strap");
            assert_eq!(mode.value, strap, "{}", step.scenario);
            // Straps 0x08 and 0x04 boot from SPI flash; the others used here are download modes.
            let expect_download = !matches!(strap, 0x08 | 0x04);
            assert_eq!(
                mode.waiting_for_download, expect_download,
                "{}",
                step.scenario
            );
            if expect_download {
                download += 1;
            } else {
                spi += 1;
            }
        }
        if let Some(line) = console::crash_line(&step.console) {
            assert!(line.starts_with("Guru Meditation Error: Core"), "{line}");
            crashes += 1;
        }
    }
    assert!(
        download >= 2 && crashes >= 1,
        "{download} download, {spi} spi, {crashes} crashes"
    );
}
