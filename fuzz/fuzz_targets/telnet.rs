//! Fuzz target: the telnet / RFC 2217 decoder on any byte stream. Properties: no panic; feeding
//! the stream in pieces gives the same data bytes and commands as feeding it at once;
//! subnegotiations stay bounded; and data we escape decodes back to itself.

#![no_main]

use cargo_esp32s3::protocol::telnet::{self, Decoder, Telnet};
use libfuzzer_sys::fuzz_target;

#[path = "chunks.rs"]
mod chunks;

/// Data runs joined (how they are cut depends on the reads), commands as they came.
fn normalized(items: Vec<Telnet>) -> Vec<Telnet> {
    let mut out: Vec<Telnet> = Vec::new();
    for item in items {
        match (out.last_mut(), item) {
            (Some(Telnet::Data(run)), Telnet::Data(more)) => run.extend(more),
            (_, Telnet::Data(more)) if more.is_empty() => panic!("an empty data item"),
            (_, item) => out.push(item),
        }
    }
    out
}

fn decode(reads: &[&[u8]]) -> Vec<Telnet> {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    for read in reads {
        items.extend(decoder.feed(read));
    }
    normalized(items)
}

fuzz_target!(|data: &[u8]| {
    let (pieces, whole) = chunks::split(data);
    let at_once = decode(&[whole]);
    assert_eq!(
        at_once,
        decode(&pieces),
        "cutting the stream changed the items"
    );
    for item in &at_once {
        if let Telnet::Subnegotiation(sub) = item {
            assert!(sub.len() <= 256, "a subnegotiation of {} bytes", sub.len());
        }
    }
    let escaped = telnet::escape(whole);
    let back = decode(&[&escaped]);
    if whole.is_empty() {
        assert!(back.is_empty());
    } else {
        assert_eq!(back, vec![Telnet::Data(whole.to_vec())]);
    }
});
