//! The `cargo-esp32s3` binary: parse the command line, run it, map the outcome to an exit code.
//!
//! Everything lives in the library; this file only hands over to [`cargo_esp32s3::cli::main`].

fn main() -> std::process::ExitCode {
    cargo_esp32s3::cli::main()
}
