//! The `cargo-esp32s3` binary: the command line, a renderer over the library's calls. Parse the
//! arguments, run the command, map the outcome to an exit code; `cli/` holds the commands and is
//! part of this binary only, so scripts that use the library do not build clap, terminals or
//! progress bars.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
