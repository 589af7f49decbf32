//! The layout checks of a partition table, for CSV and binary tables alike: names, alignment,
//! sizes, otadata and NVS sizes, overlaps with each other and with the bootloader and table,
//! sizes against the flash, and that an app partition exists. Values in, a typed error out.

use super::{
    DATA_ALIGN, MAX_NAME_LEN, MAX_PARTITIONS, OTADATA_SIZE, Partition, PartitionError,
    PartitionTable, PartitionType, TABLE_SECTOR_SIZE, align_up,
};

impl PartitionTable {
    /// Check the whole table: names, alignment, overlaps (with each other and with the table),
    /// otadata size, sizes against the flash, and that an app partition exists.
    pub fn validate(
        &self,
        flash_size: Option<u32>,
        table_offset: u32,
    ) -> Result<(), PartitionError> {
        self.check(flash_size, table_offset, true)
            .map_err(|(_, problem)| problem)
    }

    /// The checks; errors carry the index of the partition at fault (for CSV line numbers).
    pub(super) fn check(
        &self,
        flash_size: Option<u32>,
        table_offset: u32,
        need_app: bool,
    ) -> Result<(), (Option<usize>, PartitionError)> {
        if self.partitions.len() > MAX_PARTITIONS {
            return Err((
                None,
                PartitionError::TooManyPartitions {
                    count: self.partitions.len(),
                },
            ));
        }
        for (i, p) in self.partitions.iter().enumerate() {
            let earlier = &self.partitions[..i];
            check_partition(p, earlier, table_offset, flash_size).map_err(|e| (Some(i), e))?;
        }
        let mut order: Vec<usize> = (0..self.partitions.len()).collect();
        order.sort_by_key(|&i| self.partitions[i].offset);
        for pair in order.windows(2) {
            let (a, b) = (&self.partitions[pair[0]], &self.partitions[pair[1]]);
            if u64::from(b.offset) < a.end() {
                let later = pair[0].max(pair[1]);
                return Err((
                    Some(later),
                    PartitionError::Overlap {
                        name: b.name.clone(),
                        range: u64::from(b.offset)..b.end(),
                        other: a.name.clone(),
                        other_range: u64::from(a.offset)..a.end(),
                        suggested: align_up(a.end(), b.partition_type().alignment()),
                    },
                ));
            }
        }
        if need_app && !self.partitions.iter().any(Partition::is_app) {
            return Err((None, PartitionError::NoAppPartition));
        }
        Ok(())
    }
}

/// The checks of one partition: on its own, against the `earlier` entries' names, against the
/// bootloader and table, and against the flash.
fn check_partition(
    p: &Partition,
    earlier: &[Partition],
    table_offset: u32,
    flash_size: Option<u32>,
) -> Result<(), PartitionError> {
    let table_end = u64::from(table_offset) + u64::from(TABLE_SECTOR_SIZE);
    let name = || p.name.clone();
    if p.name.is_empty() {
        return Err(PartitionError::EmptyName);
    }
    if p.name.len() > MAX_NAME_LEN {
        return Err(PartitionError::NameTooLong {
            name: name(),
            len: p.name.len(),
        });
    }
    if let Some(first) = earlier.iter().position(|q| q.name == p.name) {
        return Err(PartitionError::DuplicateName {
            name: name(),
            first: first + 1,
            second: earlier.len() + 1,
        });
    }
    if p.size == 0 {
        return Err(PartitionError::ZeroSize { name: name() });
    }
    let ty = p.partition_type();
    let align = ty.alignment();
    if p.offset % align != 0 {
        return Err(PartitionError::Misaligned {
            name: name(),
            offset: p.offset,
            ty: p.type_name(),
            align,
        });
    }
    if ty == PartitionType::App && p.size % DATA_ALIGN != 0 {
        return Err(PartitionError::AppSizeUnaligned {
            name: name(),
            size: p.size,
        });
    }
    if ty == PartitionType::Data && p.subtype == 0x00 && p.size != OTADATA_SIZE {
        return Err(PartitionError::OtadataSize {
            name: name(),
            size: p.size,
        });
    }
    if ty == PartitionType::Data && p.subtype == 0x02 && p.size < 0x3000 && !p.readonly {
        return Err(PartitionError::NvsTooSmall {
            name: name(),
            size: p.size,
        });
    }
    let in_reserved = matches!(
        ty,
        PartitionType::Bootloader | PartitionType::PartitionTable
    );
    if !in_reserved && u64::from(p.offset) < table_end {
        return Err(PartitionError::OverlapsTable {
            name: name(),
            range: u64::from(p.offset)..p.end(),
            reserved: u64::from(table_offset)..table_end,
            suggested: align_up(table_end, align),
        });
    }
    if let Some(flash) = flash_size {
        if p.end() > u64::from(flash) {
            return Err(PartitionError::BeyondFlash {
                name: name(),
                end: p.end(),
                flash_size: flash,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_checks_flash_size_and_app() {
        let t = PartitionTable::default_for_flash(4 << 20);
        t.validate(Some(4 << 20), 0x8000).unwrap();
        let e = t.validate(Some(2 << 20), 0x8000).unwrap_err().to_string();
        assert!(e.contains("beyond the 2 MiB flash"), "{e}");
        let no_app = PartitionTable::from_csv("nvs,data,nvs,0x9000,0x6000").unwrap();
        assert!(
            no_app
                .validate(None, 0x8000)
                .unwrap_err()
                .to_string()
                .contains("no app partition")
        );
    }
}
