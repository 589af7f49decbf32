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
        CliError::Differs(_) => cargo_esp32s3::exit::FLASH,
        CliError::BoardsFailed { code, .. } => *code,
    }
}

/// Print an error as one line on stderr. An error that ended a connection points to the
/// protocol trace (`--trace FILE`): the one this run wrote, or how to get one.
pub fn report(error: &CliError) {
    let prefix = console::style("error:").red().bold().for_stderr();
    eprintln!(
        "{prefix} {error}{}",
        trace_hint(error, super::connect::trace_file())
    );
}

/// What an error that ended a connection adds: where this run's trace is, or how to make one.
pub fn trace_hint(error: &CliError, trace: Option<&std::path::Path>) -> String {
    if !ends_connection(error) {
        return String::new();
    }
    match trace {
        Some(path) => format!(
            " (the protocol trace is in {}; attach it to a bug report)",
            super::context::shown_path(path)
        ),
        None => {
            "; if it keeps happening, run again with --trace FILE and attach FILE to a bug report"
                .to_string()
        }
    }
}

/// True for failures of the conversation with the chip (the loader, a transfer, a port that went
/// away), not for refusals of what the user asked (the wrong chip, a bad file, a missing port).
pub fn ends_connection(error: &CliError) -> bool {
    use cargo_esp32s3::Error as E;
    use cargo_esp32s3::flasher::FlashError as F;
    use cargo_esp32s3::loader::LoaderError as L;
    use cargo_esp32s3::transport::TransportError as T;
    let loader = |e: &L| match e {
        L::WrongChip { .. }
        | L::UnknownChip { .. }
        | L::InvalidStub { .. }
        | L::NotSupported(_) => false,
        L::Transport(t) => matches!(t, T::Disconnected { .. } | T::Io { .. } | T::Remote { .. }),
        _ => true,
    };
    match error {
        CliError::Lib(E::Loader(e)) => loader(e),
        CliError::Lib(E::Flash(F::Loader(e))) => loader(e),
        CliError::Lib(E::Flash(F::WriteFailed { .. } | F::ReadCorrupt { .. })) => true,
        CliError::Lib(E::Transport(T::Disconnected { .. } | T::Io { .. } | T::Remote { .. })) => {
            true
        }
        CliError::MonitorEnded(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cargo_esp32s3::loader::LoaderError;
    use cargo_esp32s3::protocol::command::Opcode;

    #[test]
    fn errors_that_end_a_connection_point_to_the_trace() {
        let lost = CliError::Lib(
            LoaderError::Timeout {
                command: Opcode::FlashDeflData,
                port: "/dev/ttyUSB0".into(),
                timeout: std::time::Duration::from_secs(3),
            }
            .into(),
        );
        assert_eq!(
            trace_hint(&lost, None),
            "; if it keeps happening, run again with --trace FILE and attach FILE to a bug report"
        );
        assert_eq!(
            trace_hint(&lost, Some(std::path::Path::new("/tmp/flash.trace"))),
            " (the protocol trace is in /tmp/flash.trace; attach it to a bug report)"
        );
        // A refusal of what was asked is not a broken conversation.
        let wrong_chip = CliError::Lib(
            LoaderError::WrongChip {
                chip: "ESP32-C3".into(),
            }
            .into(),
        );
        assert_eq!(trace_hint(&wrong_chip, None), "");
        assert_eq!(trace_hint(&CliError::NoPort("none".into()), None), "");
    }
}
