//! Chunk-level skipping, as pure decisions: where a large region is cut into chunks, when
//! comparing chunks stops paying, and which transfers the chunks that differ make.
//!
//! Chunks are cut at 64 KiB flash boundaries (the ROM's and the stubs' erase block), so a merged
//! image falls apart along its parts: the bootloader and the partition table share the first
//! chunk, the app starts on a chunk of its own at 0x10000, and a change at the end of the app
//! touches the last chunk or two. Comparing a chunk costs its hashing on the chip (the ROM hashes
//! about as fast as a 460800-baud line carries) and a share of a round trip (the MD5 requests
//! are pipelined); writing it costs its compressed bytes on the line and an erase and program.
//! Comparing stops when the chunks keep differing (a rebuilt app whose code moved: nothing more
//! will match), since hashing the rest would then cost more than it can save. A finer 4 KiB
//! grain inside a differing chunk is not done (not measured either): a change inside an app
//! rarely stays inside one sector, and 16 more MD5s per chunk would often cost more than the
//! sectors they spare.

/// The chunk size: the 64 KiB erase block.
pub(super) const CHUNK: u64 = 0x1_0000;
/// MD5 requests asked for between two decisions whether to go on comparing.
pub(super) const WINDOW: usize = 8;
/// Regions shorter than this many chunks are compared as a whole (one MD5).
const MIN_CHUNKS: u64 = 3;
/// Comparing stops after this many chunks in a row differed (none of them erased flash).
const STOP_AFTER: usize = 4;

/// What comparing one chunk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChunkState {
    /// Not compared (comparing stopped early): written unseen.
    Unknown,
    /// The flash holds it already.
    Same,
    /// It differs, and the flash there is erased (the ROM need not erase it again).
    DiffersBlank,
    /// It differs.
    Differs,
}

/// One transfer: the flash range `[start, end)` and whether the ROM must erase it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Transfer {
    /// First byte.
    pub start: u64,
    /// End.
    pub end: u64,
    /// Erase before writing (false only for ROM transfers onto erased flash).
    pub erase: bool,
}

/// True when a region of `len` bytes is large enough to compare chunk by chunk.
pub(super) fn worth_comparing(len: usize) -> bool {
    len as u64 >= MIN_CHUNKS * CHUNK
}

/// `[start, end)` cut at every 64 KiB flash boundary.
pub(super) fn bounds(start: u64, end: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let next = ((at / CHUNK) + 1) * CHUNK;
        let stop = next.min(end);
        out.push((at, stop));
        at = stop;
    }
    out
}

/// Whether comparing more chunks is worth it, given what the chunks compared so far showed:
/// not after [`STOP_AFTER`] chunks in a row that differ from flash that is not erased.
pub(super) fn keep_comparing(so_far: &[ChunkState]) -> bool {
    let differing = so_far
        .iter()
        .rev()
        .take_while(|s| **s == ChunkState::Differs)
        .count();
    differing < STOP_AFTER
}

/// The transfers for the chunks that are not [`ChunkState::Same`]: runs of neighbouring chunks,
/// and on the ROM (`blank_aware`) a run split where erased flash begins or ends, so that the
/// erased part is written without an erase.
pub(super) fn transfers(
    bounds: &[(u64, u64)],
    states: &[ChunkState],
    blank_aware: bool,
) -> Vec<Transfer> {
    let mut out: Vec<Transfer> = Vec::new();
    for (&(start, end), &state) in bounds.iter().zip(states) {
        if state == ChunkState::Same {
            continue;
        }
        let erase = !(blank_aware && state == ChunkState::DiffersBlank);
        match out.last_mut() {
            Some(last) if last.end == start && last.erase == erase => last.end = end,
            _ => out.push(Transfer { start, end, erase }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ChunkState::{Differs as D, DiffersBlank as B, Same as S, Unknown as U};
    use super::*;

    #[test]
    fn chunks_are_cut_at_64k_boundaries() {
        assert_eq!(
            bounds(0x8000, 0x2_1000),
            [
                (0x8000, 0x1_0000),
                (0x1_0000, 0x2_0000),
                (0x2_0000, 0x2_1000)
            ]
        );
        assert_eq!(bounds(0, 0x1_0000), [(0, 0x1_0000)]);
        assert!(bounds(5, 5).is_empty());
        assert!(!worth_comparing(0x2_0000));
        assert!(worth_comparing(0x3_0000));
    }

    #[test]
    fn comparing_stops_after_four_differing_chunks_in_a_row() {
        assert!(keep_comparing(&[]));
        assert!(keep_comparing(&[D, D, D]));
        assert!(!keep_comparing(&[S, D, D, D, D]));
        // Erased flash and matches keep it going: the next chunk may match too.
        assert!(keep_comparing(&[D, D, D, S]));
        assert!(keep_comparing(&[B, B, B, B, B]));
    }

    #[test]
    fn transfers_join_neighbours_and_split_at_erased_flash_on_the_rom() {
        let b = bounds(0, 0x6_0000);
        let t = |start, end, erase| Transfer { start, end, erase };
        let states = [S, D, D, S, B, U];
        assert_eq!(
            transfers(&b, &states, true),
            [
                t(0x1_0000, 0x3_0000, true),
                t(0x4_0000, 0x5_0000, false),
                t(0x5_0000, 0x6_0000, true)
            ]
        );
        assert_eq!(
            transfers(&b, &states, false),
            [t(0x1_0000, 0x3_0000, true), t(0x4_0000, 0x6_0000, true)]
        );
        assert!(transfers(&b, &[S; 6], true).is_empty());
    }
}
