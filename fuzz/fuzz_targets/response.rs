//! Fuzz target: a reply frame (what the chip sends back, after SLIP decoding) parsed and judged as
//! the loader does, for the ROM's and a stub's status format and every payload length the loader
//! asks for. Properties: no panic; an accepted payload has exactly the length asked for and is
//! the start of the reply's data.

#![no_main]

use cargo_esp32s3::protocol::command::Opcode;
use cargo_esp32s3::protocol::response::{Reply, Responder};
use libfuzzer_sys::fuzz_target;

/// Payload lengths the loader asks for: none, a stub MD5, a security info, a ROM MD5, a ROM read.
const LENGTHS: [usize; 6] = [0, 4, 16, 20, 32, 64];

fuzz_target!(|data: &[u8]| {
    let Some(reply) = Reply::parse(data) else {
        assert!(data.len() < 8 || data[0] != 1, "a valid header was refused");
        return;
    };
    assert_eq!(reply.data.len(), data.len() - 8);
    for responder in [Responder::Rom, Responder::Stub] {
        for len in LENGTHS {
            if let Ok(payload) = reply.payload(responder, len) {
                assert_eq!(payload.len(), len);
                assert_eq!(payload, &reply.data[..len]);
            }
        }
    }
    for opcode in [
        Opcode::Sync,
        Opcode::ReadReg,
        Opcode::SpiFlashMd5,
        Opcode::GetSecurityInfo,
    ] {
        let _ = reply.is_unsupported(opcode);
    }
});
