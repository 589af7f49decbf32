//! Shared by the targets that feed a stream decoder: the input's first byte chooses how the rest
//! is cut into reads, so that "fed at once" and "fed in pieces" can be compared.

/// The input after its first byte, cut into reads of 1 to 16 bytes (lengths taken from the
/// first byte, cycling), and the whole of it.
pub fn split(data: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return (Vec::new(), data);
    };
    let mut pieces = Vec::new();
    let mut at = 0;
    let mut turn = 0u32;
    while at < rest.len() {
        let len = 1 + ((u32::from(seed).rotate_left(turn) as usize) % 16);
        let end = (at + len).min(rest.len());
        pieces.push(&rest[at..end]);
        at = end;
        turn += 3;
    }
    (pieces, rest)
}
