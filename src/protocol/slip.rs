//! SLIP framing (RFC 1055 as the ESP ROM uses it): `0xC0` delimits frames, `0xDB 0xDC` stands for
//! `0xC0` and `0xDB 0xDD` for `0xDB` inside a frame.
//!
//! The decoder is incremental and bounded: feed it whatever bytes arrived, take out complete
//! frames and the bytes that were not inside any frame (boot text, noise). It never loops on
//! garbage and never buffers more than [`MAX_FRAME`] bytes of one frame.

/// Frame delimiter.
pub const END: u8 = 0xC0;
/// Escape byte.
pub const ESC: u8 = 0xDB;
/// Escaped `END`.
pub const ESC_END: u8 = 0xDC;
/// Escaped `ESC`.
pub const ESC_ESC: u8 = 0xDD;

/// Largest unescaped frame we accept. The biggest legitimate packet is a 0x4000-byte stub data
/// block plus headers; anything longer is noise and is dropped.
pub const MAX_FRAME: usize = 0x4000 + 64;

/// Encode one packet as a SLIP frame (`C0 … C0`).
pub fn encode(packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packet.len() + packet.len() / 16 + 2);
    encode_into(packet, &mut out);
    out
}

/// Append one SLIP frame to `out`.
pub fn encode_into(packet: &[u8], out: &mut Vec<u8>) {
    out.push(END);
    for &b in packet {
        match b {
            END => out.extend_from_slice(&[ESC, ESC_END]),
            ESC => out.extend_from_slice(&[ESC, ESC_ESC]),
            _ => out.push(b),
        }
    }
    out.push(END);
}

/// Something the decoder found in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A complete frame, unescaped, without delimiters. Never empty.
    Frame(Vec<u8>),
    /// Bytes seen outside any frame (console text or noise), in arrival order.
    Noise(Vec<u8>),
    /// A frame was dropped: it was longer than [`MAX_FRAME`], or held a bad escape.
    Dropped(DropReason),
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The frame grew past [`MAX_FRAME`].
    TooLong,
    /// `0xDB` was followed by this byte instead of `0xDC`/`0xDD`.
    BadEscape(u8),
}

/// Incremental SLIP decoder. Call [`Decoder::push`] with incoming bytes, then drain
/// [`Decoder::next_item`].
#[derive(Debug, Default)]
pub struct Decoder {
    state: State,
    frame: Vec<u8>,
    noise: Vec<u8>,
    items: std::collections::VecDeque<Item>,
    /// When true, a bad escape `DB xx` decodes as `xx` (the ROM's own behaviour) instead of
    /// dropping the frame (the host's strict behaviour).
    lenient_escapes: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames.
    #[default]
    Idle,
    /// Inside a frame.
    InFrame,
    /// Inside a frame, after `0xDB`.
    Escape,
    /// Discarding the rest of a bad frame until the next `0xC0`.
    Skipping,
}

impl Decoder {
    /// A strict decoder (host side): bad escapes drop the frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// A lenient decoder (device side): `DB xx` decodes as `xx`, as the ESP32-S3 ROM does.
    pub fn lenient() -> Self {
        Decoder {
            lenient_escapes: true,
            ..Self::default()
        }
    }

    /// Feed bytes. Complete items become available from [`Decoder::next_item`].
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push_byte(b);
        }
        self.flush_noise();
    }

    /// Take the next decoded item, if any.
    pub fn next_item(&mut self) -> Option<Item> {
        self.items.pop_front()
    }

    /// Forget any partial frame and pending noise.
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.frame.clear();
        self.noise.clear();
        self.items.clear();
    }

    fn flush_noise(&mut self) {
        if !self.noise.is_empty() {
            self.items
                .push_back(Item::Noise(std::mem::take(&mut self.noise)));
        }
    }

    fn push_byte(&mut self, b: u8) {
        match self.state {
            State::Idle => {
                if b == END {
                    self.flush_noise();
                    self.state = State::InFrame;
                    self.frame.clear();
                } else {
                    self.noise.push(b);
                }
            }
            State::InFrame => match b {
                // An empty frame (`C0 C0`) is a repeated delimiter: stay in the frame.
                END if self.frame.is_empty() => {}
                END => {
                    self.items
                        .push_back(Item::Frame(std::mem::take(&mut self.frame)));
                    self.state = State::Idle;
                }
                ESC => self.state = State::Escape,
                _ => self.store(b),
            },
            State::Escape => {
                let decoded = match b {
                    ESC_END => Some(END),
                    ESC_ESC => Some(ESC),
                    _ if self.lenient_escapes => Some(b),
                    _ => None,
                };
                match decoded {
                    Some(d) => {
                        self.state = State::InFrame;
                        self.store(d);
                    }
                    None => {
                        self.items
                            .push_back(Item::Dropped(DropReason::BadEscape(b)));
                        self.frame.clear();
                        // A bad escape of `C0` also ends the frame.
                        self.state = if b == END {
                            State::Idle
                        } else {
                            State::Skipping
                        };
                    }
                }
            }
            State::Skipping => {
                if b == END {
                    self.state = State::Idle;
                }
            }
        }
    }

    fn store(&mut self, b: u8) {
        if self.frame.len() >= MAX_FRAME {
            self.items.push_back(Item::Dropped(DropReason::TooLong));
            self.frame.clear();
            self.state = State::Skipping;
        } else {
            self.frame.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(d: &mut Decoder, bytes: &[u8]) -> Vec<Item> {
        d.push(bytes);
        std::iter::from_fn(|| d.next_item()).collect()
    }

    #[test]
    fn escapes_both_special_bytes() {
        assert_eq!(
            encode(&[1, 0xC0, 2, 0xDB, 3]),
            vec![0xC0, 1, 0xDB, 0xDC, 2, 0xDB, 0xDD, 3, 0xC0]
        );
    }

    #[test]
    fn round_trips_split_at_every_byte() {
        let packet: Vec<u8> = (0..=255u8).chain([0xC0, 0xDB, 0xC0]).collect();
        let wire = encode(&packet);
        for split in 0..wire.len() {
            let mut d = Decoder::new();
            let mut items = decode_all(&mut d, &wire[..split]);
            items.extend(decode_all(&mut d, &wire[split..]));
            assert_eq!(items, vec![Item::Frame(packet.clone())], "split at {split}");
        }
    }

    #[test]
    fn text_outside_frames_is_noise() {
        let mut d = Decoder::new();
        let mut wire = b"ESP-ROM:esp32s3\r\n".to_vec();
        wire.extend(encode(&[1, 8]));
        let items = decode_all(&mut d, &wire);
        assert_eq!(
            items,
            vec![
                Item::Noise(b"ESP-ROM:esp32s3\r\n".to_vec()),
                Item::Frame(vec![1, 8])
            ]
        );
    }

    #[test]
    fn bad_escape_drops_strictly_and_decodes_leniently() {
        let wire = [0xC0, 1, 0xDB, 0x42, 2, 0xC0, 0xC0, 7, 0xC0];
        let strict = decode_all(&mut Decoder::new(), &wire);
        assert_eq!(
            strict,
            vec![
                Item::Dropped(DropReason::BadEscape(0x42)),
                Item::Frame(vec![7])
            ]
        );
        let lenient = decode_all(&mut Decoder::lenient(), &wire);
        assert_eq!(
            lenient,
            vec![Item::Frame(vec![1, 0x42, 2]), Item::Frame(vec![7])]
        );
    }

    #[test]
    fn endless_garbage_is_bounded() {
        let mut d = Decoder::new();
        let mut wire = vec![0xC0];
        wire.extend(std::iter::repeat_n(0x55, MAX_FRAME * 3));
        wire.push(0xC0);
        wire.extend(encode(&[9]));
        let items = decode_all(&mut d, &wire);
        assert_eq!(
            items,
            vec![Item::Dropped(DropReason::TooLong), Item::Frame(vec![9])]
        );
    }
}
