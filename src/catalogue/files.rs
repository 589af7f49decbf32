//! The crate's [`Error`]: each layer's variant hands over to that layer's codes, and the one
//! problem of its own, a file that cannot be read or written, has `ES04xx`. It must not know
//! what the layers' codes are.

use super::{board, bootloader_store, cargo, config, flasher, image, loader, monitor};
use super::{partition, plan, project, symbols, transport};
use crate::Error;

catalogue! {
    /// The code of any library error.
    pub(super) fn code(&Error);
    /// `ES04xx`: files.
    pub(super) const ENTRIES;
    wrappers {
        Error::Image(e) => image::code(e),
        Error::Partition(e) => partition::code(e),
        Error::Config(e) => config::code(e),
        Error::Cargo(e) => cargo::code(e),
        Error::Transport(e) => transport::code(e),
        Error::Loader(e) => loader::code(e),
        Error::Flash(e) => flasher::code(e),
        Error::Project(e) => project::code(e),
        Error::Plan(e) => plan::code(e),
        Error::Board(e) => board::code(e),
        Error::Bootloader(e) => bootloader_store::code(e),
        Error::Monitor(e) => monitor::code(e),
        Error::Symbols(e) => symbols::code(e),
    }
    Error::File { .. } => ES0401 {
        example: Error::file("read", "firmware.bin", std::io::ErrorKind::NotFound.into()),
        cause: "A file named on the command line or in the settings is missing, unreadable, a folder, or on a full or read-only disk; the system's reason is in the message.",
        fix: "Check the path (relative paths start at the current directory) and the file's permissions; for a write, choose a writable folder with free space.",
    },
}
