//! The binary partition table that ESP-IDF's bootloader reads: 32-byte entries, the MD5 entry,
//! 0xFF padding to 0xC00 bytes. Reading checks the entry magic and the MD5; the layout checks are
//! `validate.rs`'s. Bytes in, bytes out.

use md5::{Digest, Md5};

use super::{
    ENTRY_LEN, ENTRY_MAGIC, MAX_TABLE_LEN, MD5_MAGIC, Partition, PartitionError, PartitionTable,
};

const FLAG_ENCRYPTED: u32 = 1 << 0;
const FLAG_READONLY: u32 = 1 << 1;

impl Partition {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut e = [0u8; ENTRY_LEN];
        e[0..2].copy_from_slice(&ENTRY_MAGIC);
        e[2] = self.ty;
        e[3] = self.subtype;
        e[4..8].copy_from_slice(&self.offset.to_le_bytes());
        e[8..12].copy_from_slice(&self.size.to_le_bytes());
        let name = self.name.as_bytes();
        let n = name.len().min(16);
        e[12..12 + n].copy_from_slice(&name[..n]);
        let flags = if self.encrypted { FLAG_ENCRYPTED } else { 0 }
            | if self.readonly { FLAG_READONLY } else { 0 };
        e[28..32].copy_from_slice(&flags.to_le_bytes());
        e
    }
}

impl PartitionTable {
    /// Parse a binary table: entries until a blank (all 0xFF) entry or the end of the data; an MD5
    /// entry is checked against the entries before it. Old tables without an MD5 entry or padding
    /// (like the 96-byte `partitions_singleapp.bin`) are accepted.
    pub fn from_binary(bytes: &[u8]) -> Result<Self, PartitionError> {
        if bytes.is_empty() {
            return Err(PartitionError::EmptyTable);
        }
        let mut partitions = Vec::new();
        let mut md5 = Md5::new();
        let area = &bytes[..bytes.len().min(MAX_TABLE_LEN)];
        let mut chunks = area.chunks(ENTRY_LEN).enumerate();
        for (index, entry) in chunks.by_ref() {
            let offset = index * ENTRY_LEN;
            let err = |problem: PartitionError| PartitionError::Binary {
                index,
                offset,
                source: Box::new(problem),
            };
            if entry.len() < ENTRY_LEN {
                return Err(err(PartitionError::EntryTruncated {
                    len: entry.len(),
                    needed: ENTRY_LEN,
                }));
            }
            if entry.iter().all(|&b| b == 0xFF) {
                return Ok(PartitionTable { partitions });
            }
            if entry[..2] == MD5_MAGIC {
                let computed: [u8; 16] = md5.clone().finalize().into();
                let mut stored = [0u8; 16];
                stored.copy_from_slice(&entry[16..32]);
                if stored != computed {
                    return Err(err(PartitionError::Md5Mismatch { stored, computed }));
                }
                continue;
            }
            if entry[..2] != ENTRY_MAGIC {
                return Err(err(PartitionError::BadEntryMagic {
                    found: [entry[0], entry[1]],
                }));
            }
            let name_field = &entry[12..28];
            let name_len = name_field.iter().position(|&b| b == 0).unwrap_or(16);
            let name = std::str::from_utf8(&name_field[..name_len])
                .map_err(|_| err(PartitionError::NameNotUtf8))?
                .to_string();
            let flags = u32_at(entry, 28);
            md5.update(entry);
            partitions.push(Partition {
                name,
                ty: entry[2],
                subtype: entry[3],
                offset: u32_at(entry, 4),
                size: u32_at(entry, 8),
                encrypted: flags & FLAG_ENCRYPTED != 0,
                readonly: flags & FLAG_READONLY != 0,
            });
        }
        Ok(PartitionTable { partitions })
    }

    /// The binary table: entries, the MD5 entry, and 0xFF up to 0xC00 bytes.
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_TABLE_LEN);
        let mut md5 = Md5::new();
        for p in &self.partitions {
            let entry = p.encode();
            md5.update(entry);
            out.extend_from_slice(&entry);
        }
        out.extend_from_slice(&MD5_MAGIC);
        out.extend_from_slice(&[0xFF; 14]);
        out.extend_from_slice(&md5.finalize());
        if out.len() < MAX_TABLE_LEN {
            out.resize(MAX_TABLE_LEN, 0xFF);
        }
        out
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = bytes.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_errors_do_not_panic() {
        let good = PartitionTable::default_for_flash(4 << 20).to_binary();
        for cut in [1, 5, 31, 33, 70] {
            assert!(
                PartitionTable::from_binary(&good[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut bad_md5 = good.clone();
        bad_md5[0x70] ^= 1;
        let e = PartitionTable::from_binary(&bad_md5).unwrap_err();
        assert!(e.to_string().contains("MD5"), "{e}");
        assert!(matches!(e.problem(), PartitionError::Md5Mismatch { .. }));
        assert!(PartitionTable::from_binary(&[]).is_err());
        assert!(PartitionTable::parse(&[0xC3, 0x28, 0x00]).is_err());
    }
}
