//! Fuzz target: the SLIP decoder (host's strict and device's lenient) on any byte stream.
//! Properties: no panic; frames are never empty and never longer than `MAX_FRAME`; feeding the
//! stream in pieces gives the same frames as feeding it at once; every byte that is not part of a
//! frame comes out as noise at most once; and a frame we encode decodes back to its packet.

#![no_main]

use cargo_esp32s3::protocol::slip::{self, Decoder, Item, MAX_FRAME};
use libfuzzer_sys::fuzz_target;

#[path = "chunks.rs"]
mod chunks;

fn frames(decoder: &mut Decoder, reads: &[&[u8]]) -> (Vec<Vec<u8>>, usize) {
    let mut frames = Vec::new();
    let mut noise = 0;
    for read in reads {
        decoder.push(read);
        while let Some(item) = decoder.next_item() {
            match item {
                Item::Frame(frame) => {
                    assert!(!frame.is_empty(), "an empty frame was delivered");
                    assert!(frame.len() <= MAX_FRAME, "a frame of {} bytes", frame.len());
                    frames.push(frame);
                }
                Item::Noise(bytes) => {
                    assert!(!bytes.is_empty(), "empty noise was delivered");
                    noise += bytes.len();
                }
                Item::Dropped(_) => {}
            }
        }
    }
    (frames, noise)
}

fuzz_target!(|data: &[u8]| {
    let (pieces, whole) = chunks::split(data);
    for make in [Decoder::new as fn() -> Decoder, Decoder::lenient] {
        let (at_once, noise) = frames(&mut make(), &[whole]);
        let (in_pieces, _) = frames(&mut make(), &pieces);
        assert_eq!(at_once, in_pieces, "cutting the stream changed the frames");
        assert!(noise <= whole.len());
    }
    // Our own encoding of any packet decodes back to it (the packet being the input).
    if !whole.is_empty() && whole.len() <= MAX_FRAME {
        let (decoded, noise) = frames(&mut Decoder::new(), &[&slip::encode(whole)]);
        assert_eq!(decoded, vec![whole.to_vec()]);
        assert_eq!(noise, 0);
    }
});
