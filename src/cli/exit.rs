//! Exit codes (documented for scripts and CI) and the single error renderer.

use crate::Error;

/// Success.
pub const SUCCESS: u8 = 0;
/// Any failure not listed below.
pub const FAILURE: u8 = 1;
/// The command line was wrong (clap's code).
pub const USAGE: u8 = 2;
/// The configuration was wrong.
pub const CONFIG: u8 = 3;
/// `cargo build` failed.
pub const BUILD: u8 = 4;
/// An image, ELF or partition table was invalid.
pub const IMAGE: u8 = 5;
/// The chip could not be reached or answered wrongly.
pub const CONNECT: u8 = 6;
/// Writing, erasing, reading or verifying flash failed.
pub const FLASH: u8 = 7;
/// The monitor's `--timeout` passed before a line matched `--until`.
pub const MONITOR_TIMEOUT: u8 = 8;

/// The exit code for an error.
pub fn code_for(error: &Error) -> u8 {
    match error {
        Error::Config(_) | Error::Project(_) => CONFIG,
        Error::Board(_) => FAILURE,
        Error::Cargo(_) => BUILD,
        Error::Image(_) | Error::Partition(_) => IMAGE,
        Error::Transport(_) | Error::Loader(_) | Error::Monitor(_) => CONNECT,
        Error::Symbols(_) => IMAGE,
        Error::Flash(_) => FLASH,
        Error::File { .. } => FAILURE,
        Error::Cli(crate::cli::CliError::NoPort(_)) => CONNECT,
        Error::Cli(crate::cli::CliError::BadArgument(_)) => USAGE,
        Error::Cli(crate::cli::CliError::Refused(_)) => FAILURE,
        Error::Cli(crate::cli::CliError::MonitorTimeout(_)) => MONITOR_TIMEOUT,
        Error::Cli(crate::cli::CliError::MonitorEnded(_)) => CONNECT,
        Error::Cli(crate::cli::CliError::BoardsFailed { code, .. }) => *code,
    }
}

/// Print an error as one line on stderr.
pub fn report(error: &Error) {
    let prefix = console::style("error:").red().bold().for_stderr();
    eprintln!("{prefix} {error}");
}
