//! Exit codes, error codes and the single error renderer. The exit codes are the library's
//! documented ones ([`cargo_esp32s3::exit`]) and the error codes its catalogue's
//! ([`cargo_esp32s3::catalogue`], `docs/errors.md`); this adds the mapping of the command line's
//! own errors to both. Every error line starts with [`error_prefix`], `error[ES0504]:`.

pub use cargo_esp32s3::exit::{CONNECT, FAILURE, MONITOR_TIMEOUT, SUCCESS, USAGE};

use cargo_esp32s3::catalogue::{self, Code, command_line};

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

/// The catalogue's code for an error: the library's through every wrapper, the command line's
/// own from [`command_line`]. A new `CliError` variant needs an arm here, and a code there.
pub fn catalogue_code(error: &CliError) -> Code {
    match error {
        CliError::Lib(e) => catalogue::code_of(e),
        CliError::NoPort(_) => command_line::NO_PORT,
        CliError::BadArgument(_) => command_line::BAD_ARGUMENT,
        CliError::Refused(_) => command_line::REFUSED,
        CliError::MonitorTimeout(_) => command_line::MONITOR_TIMEOUT,
        CliError::MonitorEnded(_) => command_line::MONITOR_ENDED,
        CliError::Differs(_) => command_line::DIFFERS,
        CliError::BoardsFailed { .. } => command_line::BOARDS_FAILED,
    }
}

/// How every error line starts: `error[ES0504]:` (red and bold on a terminal), rustc's style,
/// so that the code can be searched for and `grep error` still finds the line.
pub fn error_prefix(code: Code) -> String {
    console::style(format!("error[{code}]:"))
        .red()
        .bold()
        .for_stderr()
        .to_string()
}

/// Print an error as one line on stderr. An error that ended a connection points to the
/// protocol trace (`--trace FILE`): the one this run wrote, or how to get one.
pub fn report(error: &CliError) {
    eprintln!(
        "{} {error}{}",
        error_prefix(catalogue_code(error)),
        trace_hint(error, super::connect::trace_file())
    );
}

/// Print clap's usage error as clap does (the problem, a tip, the usage), with the usage code
/// in its first line: `error[ES0001]: unexpected argument '--frobnicate' found`.
pub fn report_usage(error: &clap::Error) {
    let styled = error.render();
    let text = if console::colors_enabled_stderr() {
        styled.ansi().to_string()
    } else {
        styled.to_string()
    };
    eprint!("{}", with_code(&text, command_line::USAGE));
}

/// `text` with its first `error:` made `error[CODE]:` (clap's colours, if any, stay around it).
fn with_code(text: &str, code: Code) -> String {
    text.replacen("error:", &format!("error[{code}]:"), 1)
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

    #[test]
    fn every_command_line_error_has_a_catalogued_code_and_its_exit_code() {
        let text = || "text".to_string();
        let errors = [
            CliError::NoPort(text()),
            CliError::BadArgument(text()),
            CliError::Refused(text()),
            CliError::MonitorTimeout(text()),
            CliError::MonitorEnded(text()),
            CliError::Differs(text()),
            CliError::BoardsFailed {
                message: text(),
                code: FAILURE,
            },
            CliError::Lib(cargo_esp32s3::image::ImageError::EmptyFile.into()),
        ];
        for error in &errors {
            let code = catalogue_code(error);
            let entry = catalogue::entry(code.as_str())
                .unwrap_or_else(|| panic!("{code} of {error:?} is not in the catalogue"));
            assert_eq!(entry.exit_code(), code_for(error), "{error:?}");
        }
        // Each variant its own code.
        let mut codes: Vec<Code> = errors.iter().map(catalogue_code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }

    #[test]
    fn usage_errors_carry_the_usage_code_inside_clap_colours() {
        assert_eq!(
            with_code(
                "error: unexpected argument '--x' found\n\nUsage: ...\n",
                command_line::USAGE
            ),
            "error[ES0001]: unexpected argument '--x' found\n\nUsage: ...\n"
        );
        assert_eq!(
            with_code(
                "\x1b[1m\x1b[31merror:\x1b[0m unexpected",
                command_line::USAGE
            ),
            "\x1b[1m\x1b[31merror[ES0001]:\x1b[0m unexpected"
        );
    }
}
