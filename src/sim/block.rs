//! What the ROM loader and the stub do alike with a data block: check its checksum and inflate
//! the next piece of a zlib stream.
//!
//! Written from the protocol facts for the simulator alone (the host has its own checksum in
//! `protocol::command`), so that a mistake on one side cannot be cancelled by the same mistake on
//! the other. Knows nothing of packets, replies or flash.

use flate2::{Decompress, FlushDecompress, Status};

/// The data checksum a `*_DATA` packet carries: 0xEF XOR every byte of the block.
pub(crate) fn checksum(data: &[u8]) -> u32 {
    u32::from(data.iter().fold(0xEFu8, |c, b| c ^ b))
}

/// The zlib stream could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InflateError;

/// Feed one block of a zlib stream to `inflater` and return every byte it produces.
pub(crate) fn inflate(inflater: &mut Decompress, block: &[u8]) -> Result<Vec<u8>, InflateError> {
    let mut input = block;
    let mut produced = Vec::new();
    let mut chunk = vec![0u8; 0x8000];
    loop {
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(input, &mut chunk, FlushDecompress::None)
            .map_err(|_| InflateError)?;
        // Both counts are bounded by the slices just passed in.
        let used = (inflater.total_in() - in_before) as usize;
        let made = (inflater.total_out() - out_before) as usize;
        produced.extend_from_slice(chunk.get(..made).unwrap_or_default());
        input = input.get(used..).unwrap_or_default();
        // Done at the end of the stream, or when nothing moved (all input taken and no output
        // left pending).
        if status == Status::StreamEnd || (used == 0 && made == 0) {
            return Ok(produced);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn checksum_is_ef_xor_the_bytes() {
        assert_eq!(checksum(&[]), 0xEF);
        assert_eq!(checksum(&[0x01, 0x02, 0xFF]), 0x13);
    }

    #[test]
    fn a_stream_split_anywhere_inflates_to_the_original() {
        let original: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&original).expect("to a Vec");
        let packed = encoder.finish().expect("to a Vec");
        for block in [1, 7, 0x400, 0x1800, packed.len()] {
            let mut inflater = Decompress::new(true);
            let mut out = Vec::new();
            for piece in packed.chunks(block) {
                out.extend(inflate(&mut inflater, piece).expect("valid stream"));
            }
            assert_eq!(out.len(), original.len(), "block {block}");
            assert!(out == original, "block {block}");
        }
        let mut inflater = Decompress::new(true);
        assert_eq!(
            inflate(&mut inflater, &[0x78, 0x9c, 0xff, 0xff]),
            Err(InflateError)
        );
    }
}
