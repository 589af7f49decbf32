//! Standard output for the commands. Every line a command prints for a reader (tables, reports,
//! completion scripts) goes through [`outln!`] / [`out!`]: a reader that went away
//! (`cargo esp32s3 partition-table t.csv | head -1`) ends the command quietly with exit 0 —
//! Rust's `println!` would panic — and any other failure to write is one `error:` line and
//! exit 1. The monitor keeps its own stdout handling (it restores the terminal first).

use std::io::Write as _;

/// Write `text` to stdout as it is.
pub fn write(text: &str) {
    write_bytes(text.as_bytes());
}

/// Write bytes to stdout as they are.
pub fn write_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        // The reader has all it wanted: nothing is wrong, and nothing more can be said.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!(
                "{} cannot write to standard output ({e}); check where it is redirected",
                super::exit::error_prefix(cargo_esp32s3::catalogue::command_line::STDOUT)
            );
            std::process::exit(i32::from(super::exit::FAILURE));
        }
    }
}

/// `println!` for a command's output on stdout (see the module documentation).
macro_rules! outln {
    () => {
        $crate::cli::out::write("\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for a command's output on stdout (see the module documentation).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write(&format!($($arg)*))
    };
}
