//! The crate's top-level error: one enum that wraps each layer's own error.
//!
//! Every message is a single line that names the value at fault and says what to do. Each variant
//! maps to a documented exit code ([`crate::exit`]); nothing here prints.

use std::path::PathBuf;

/// Any error the library can return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image could not be built, parsed or merged.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// A partition table is invalid.
    #[error(transparent)]
    Partition(#[from] crate::image::partition::PartitionError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// `cargo build` or `cargo metadata` failed.
    #[error(transparent)]
    Cargo(#[from] crate::cargo::CargoError),
    /// The byte channel to the chip failed.
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    /// Talking to the ROM loader (or stub) failed.
    #[error(transparent)]
    Loader(#[from] crate::loader::LoaderError),
    /// Flashing, erasing, reading or verifying failed.
    #[error(transparent)]
    Flash(#[from] crate::flasher::FlashError),
    /// The Cargo project could not be found (library facade).
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    /// A plan could not be made, or cannot be written onto this chip.
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// A board refused an operation before touching the flash.
    #[error(transparent)]
    Board(#[from] crate::board::BoardError),
    /// A kept bootloader could not be kept, found or read.
    #[error(transparent)]
    Bootloader(#[from] crate::bootloader_store::StoreError),
    /// Watching the chip's console failed.
    #[error(transparent)]
    Monitor(#[from] crate::monitor::MonitorError),
    /// The ELF for address decoding could not be loaded.
    #[error(transparent)]
    Symbols(#[from] crate::symbols::SymbolsError),
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}{}", path.display(), file_hint(source))]
    File {
        /// What we tried to do ("read", "write", "create").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wrap an I/O error on a file, keeping the path and the action for the message.
    pub fn file(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::File {
            action,
            path: path.into(),
            source,
        }
    }
}

/// What to do about a failed file operation, for the common causes.
fn file_hint(source: &std::io::Error) -> &'static str {
    use std::io::ErrorKind as K;
    match source.kind() {
        K::NotFound => "; check the path",
        K::PermissionDenied => "; check the file's permissions",
        K::IsADirectory => "; give a file, not a directory",
        K::StorageFull => "; free some disk space",
        K::ReadOnlyFilesystem => "; choose a writable location",
        _ => "",
    }
}

/// A path for messages: relative to the current directory when it is below it (so messages
/// read like what the user typed).
pub fn shown_path(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            path.strip_prefix(cwd)
                .ok()
                .map(std::path::Path::to_path_buf)
        })
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// Read a whole file, with an error that names it.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::file("read", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_errors_name_the_file_and_say_what_to_do() {
        use std::io::ErrorKind as K;
        for (kind, hint) in [
            (K::NotFound, "; check the path"),
            (K::PermissionDenied, "; check the file's permissions"),
            (K::Other, ""),
        ] {
            let e = Error::file("read", "fw.bin", std::io::Error::from(kind));
            let text = e.to_string();
            assert!(text.starts_with("cannot read fw.bin: "), "{text}");
            assert!(text.ends_with(hint), "{text}");
        }
    }
}
