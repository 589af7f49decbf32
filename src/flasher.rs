//! Plan and write flash regions. TODO(owner: loader helper).

/// A failure flashing, erasing, reading or verifying.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// Placeholder.
    #[error("{0}")]
    Other(String),
}

/// Progress reported by long operations; the CLI renders these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Placeholder.
    Message(String),
}
