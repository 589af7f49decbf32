//! Partition tables: CSV ↔ binary, validation. TODO(owner: partition helper).

/// A partition table problem, with the line or entry and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// Placeholder until the partition module is written.
    #[error("{0}")]
    Invalid(String),
}
