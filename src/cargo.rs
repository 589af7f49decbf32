//! The only place that runs `cargo build`. TODO(owner: cli helper).

/// A cargo failure.
#[derive(Debug, thiserror::Error)]
pub enum CargoError {
    /// Placeholder.
    #[error("{0}")]
    Failed(String),
}
