//! One connection to the ESP32-S3 ROM loader or a stub. TODO(owner: loader helper).

/// A failure talking to the loader.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// Placeholder.
    #[error("{0}")]
    Other(String),
}
