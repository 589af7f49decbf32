//! Exit codes and the single error renderer. The codes are the library's documented ones
//! ([`cargo_esp32s3::exit`]); this adds the mapping of the command line's own errors.

pub use cargo_esp32s3::exit::{CONNECT, FAILURE, MONITOR_TIMEOUT, SUCCESS, USAGE};

use super::CliError;

/// The exit code for an error.
pub fn code_for(error: &CliError) -> u8 {
    match error {
        CliError::Lib(e) => cargo_esp32s3::exit::code_for(e),
        CliError::NoPort(_) => CONNECT,
        CliError::BadArgument(_) => USAGE,
        CliError::Refused(_) => FAILURE,
        CliError::MonitorTimeout(_) => MONITOR_TIMEOUT,
        CliError::MonitorEnded(_) => CONNECT,
        CliError::BoardsFailed { code, .. } => *code,
    }
}

/// Print an error as one line on stderr.
pub fn report(error: &CliError) {
    let prefix = console::style("error:").red().bold().for_stderr();
    eprintln!("{prefix} {error}");
}
