//! The command line's error: the library's [`cargo_esp32s3::Error`] (which says what went wrong in the
//! work itself) or one of the few problems only a command line has (which port, which argument,
//! what not to overwrite, how a monitor or several boards ended). Each message is one line.

/// A command-line failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// What the library reported.
    #[error(transparent)]
    Lib(#[from] cargo_esp32s3::Error),
    /// No port was given and none (or several) could be chosen.
    #[error("{0}")]
    NoPort(String),
    /// An argument is wrong in a way clap cannot check (exit code 2, like clap's).
    #[error("{0}")]
    BadArgument(String),
    /// The command refuses to go on (an existing file, a cancelled choice).
    #[error("{0}")]
    Refused(String),
    /// The monitor's `--timeout` passed (exit code 8).
    #[error("{0}")]
    MonitorTimeout(String),
    /// The monitor's port closed before `--until` matched.
    #[error("{0}")]
    MonitorEnded(String),
    /// `verify` found a region the chip does not hold (exit code 7, as a failed flash check).
    #[error("{0}")]
    Differs(String),
    /// Some of several boards flashed at once failed; `code` is their exit code when they all
    /// failed the same way, else [`super::exit::FAILURE`].
    #[error("{message}")]
    BoardsFailed {
        /// Which boards failed, in one line.
        message: String,
        /// The exit code to end with.
        code: u8,
    },
}

/// The command line's result type.
pub type Result<T = (), E = CliError> = std::result::Result<T, E>;

/// `?` on any layer's error: it is a library error first.
macro_rules! from_library {
    ($($error:path),* $(,)?) => {
        $(impl From<$error> for CliError {
            fn from(error: $error) -> Self {
                CliError::Lib(error.into())
            }
        })*
    };
}

from_library!(
    cargo_esp32s3::image::ImageError,
    cargo_esp32s3::image::partition::PartitionError,
    cargo_esp32s3::config::ConfigError,
    cargo_esp32s3::cargo::CargoError,
    cargo_esp32s3::transport::TransportError,
    cargo_esp32s3::loader::LoaderError,
    cargo_esp32s3::flasher::FlashError,
    cargo_esp32s3::project::ProjectError,
    cargo_esp32s3::plan::PlanError,
    cargo_esp32s3::board::BoardError,
    cargo_esp32s3::bootloader_store::StoreError,
    cargo_esp32s3::monitor::MonitorError,
    cargo_esp32s3::symbols::SymbolsError,
);
